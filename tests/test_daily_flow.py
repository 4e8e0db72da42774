"""finops-daily against the sandbox: every stage runs and the day's report matches ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.findings.store import FindingsStore
from tasks.notify.outbox import Outbox
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
