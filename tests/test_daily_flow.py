"""finops-daily against the sandbox: every stage runs and the day's report matches ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.findings.store import FindingsStore
from tasks.notify.outbox import Outbox
from tests.plugins.fake_services import sample_finding
from tests.plugins.sandbox import SandboxHandle


@pytest.fixture
def daily_env(
    sandbox_env: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> SandboxHandle:
    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FINOPS_AWS__REGIONS", json.dumps(list(sandbox_env.regions)))
    return sandbox_env


def test_daily_pipeline_runs_every_stage_and_reports(
    daily_env: SandboxHandle, prefect_harness: None, tmp_path: Path
) -> None:
    from flows.finops_daily import finops_daily

    summary = finops_daily(request_approval_run=False)

    assert summary.failures == {}
    assert {"ingest", "anomalies", "scan", "report"} <= set(summary.timings_s)
    assert summary.ingest is not None and summary.ingest.rows > 0

    truth = daily_env.ground_truth
    flagged = {
        (r["account_id"], r["region"], r["resource_id"])
        for r in truth["resources"]
        if any(r["expected"].values())
    }
    assert summary.scan is not None
    found = {(f.account_id, f.region, f.resource_id) for f in summary.scan.findings}
    assert found == flagged

    store = FindingsStore(f"sqlite:///{tmp_path / 'state' / 'findings.db'}")
    assert summary.awaiting_approval == len(store.list(statuses=["open", "notified", "failed"]))

    # No channel is configured: the digest is rendered into the outbox, exactly once.
    outbox = Outbox(f"sqlite:///{tmp_path / 'state' / 'findings.db'}")
    kinds = [m.kind for m in outbox.messages()]
    assert kinds.count("digest") == 1


def test_the_daily_artifact_says_what_is_at_stake_and_links_to_the_waiting_run() -> None:
    from datetime import date

    from flows.finops_daily import at_stake, summary_markdown
    from flows.models import DailyResult

    waiting = [
        sample_finding(1, savings="100.25"),
        sample_finding(2, savings="49.75"),
        sample_finding(3, savings=None),
        sample_finding(4, savings="300.00").model_copy(
            update={"tags": {"finops:protected": "true"}}
        ),
    ]
    summary = DailyResult(
        day=date(2026, 12, 3),
        approval_flow_run_id="0b5c3a52-run",
        awaiting_approval=len(waiting),
        timings_s={"scan": 1.5},
    )
    text = summary_markdown(summary, at_stake(waiting), "http://127.0.0.1:4200/")

    assert "Findings waiting for approval: 4" in text
    # The protected finding's $300 is not at stake: it is listed apart, with why.
    assert "$150.00 USD per month at stake" in text and "3 findings" in text
    assert "1 with no known price" in text
    assert "(http://127.0.0.1:4200/runs/flow-run/0b5c3a52-run)" in text
    protected = text[text.index("On protected resources") :]
    assert "vol-00000004" in protected and "$300.00" in protected
    assert "finops:protected=true" in protected
    assert "vol-00000001" not in protected
