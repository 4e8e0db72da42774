"""The report flows on a Prefect test server, delivering to local Slack and Jira servers.

Also the secrets rule: a run with known tokens (one from a Prefect Secret block), outages and
errors, after which every captured log record, every Prefect log and artifact, the flow's result
and the outbox are searched for the tokens.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from flows.report import alert_anomalies, report
from tasks.notify.outbox import Outbox, OutboxStatus
from tests.plugins.fake_services import (
    JIRA_API_TOKEN,
    JIRA_EMAIL,
    SLACK_TOKEN,
    FakeJira,
    FakeSlack,
    sample_anomaly,
    sample_digest,
)

pytestmark = pytest.mark.usefixtures("prefect_harness")

UI = "http://prefect.example:4200"


@pytest.fixture
def finops_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("FINOPS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FINOPS_NOTIFY__PREFECT_UI_URL", UI)
    monkeypatch.setenv("FINOPS_NOTIFY__SLACK_BACKOFF_S", "0.01")
    monkeypatch.setenv("FINOPS_NOTIFY__SLACK_MAX_RETRIES", "1")
    monkeypatch.setenv("FINOPS_NOTIFY__JIRA_MAX_RETRIES", "0")
    return tmp_path


def _slack_bot(monkeypatch: pytest.MonkeyPatch, slack: FakeSlack) -> None:
    monkeypatch.setenv("FINOPS_NOTIFY__SLACK_BOT_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("FINOPS_NOTIFY__SLACK_CHANNEL", "#finops")
    monkeypatch.setenv("FINOPS_NOTIFY__SLACK_BASE_URL", slack.api_url)


def _jira(monkeypatch: pytest.MonkeyPatch, jira: FakeJira) -> None:
    monkeypatch.setenv("FINOPS_NOTIFY__JIRA_URL", jira.url)
    monkeypatch.setenv("FINOPS_NOTIFY__JIRA_EMAIL", JIRA_EMAIL)
    monkeypatch.setenv("FINOPS_NOTIFY__JIRA_API_TOKEN", JIRA_API_TOKEN)


def _run_id(state: Any) -> uuid.UUID:
    return state.state_details.flow_run_id  # type: ignore[no-any-return]


def _artifacts(flow_run_id: uuid.UUID) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )


def _prefect_logs(flow_run_id: uuid.UUID) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return [log.message for log in logs]


def test_report_delivers_digest_alert_and_issues_once(
    finops_env: Path, monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    _slack_bot(monkeypatch, fake_slack)
    _jira(monkeypatch, fake_jira)
    digest = sample_digest(findings=12, anomalies=1)
    approval_id = str(uuid.uuid4())

    state = report(digest, approval_flow_run_id=approval_id, return_state=True)
    result = state.result()

    assert result.pending == [] and result.failed == []
    top = fake_slack.top_level()
    assert [m.text.split(":")[0] for m in top] == ["Cost anomaly", "FinOps digest 2026-11-25"]
    buttons = next(b for b in top[1].blocks if b["type"] == "actions")["elements"]
    assert [b["url"] for b in buttons] == [
        f"{UI}/runs/flow-run/{_run_id(state)}",
        f"{UI}/runs/flow-run/{approval_id}",
    ]
    assert fake_slack.replies(top[1].ts) and fake_slack.files
    assert len(fake_jira.issues) == 2  # the anomaly and one account x check group
    [artifact] = _artifacts(_run_id(state))
    assert artifact.key == "report-2026-11-25" and "slack|digest|2026-11-25" in artifact.data

    slack_count = len(fake_slack.messages)
    rerun = report(digest, approval_flow_run_id=approval_id)
    assert rerun.new == [] and rerun.sent == []
    assert len(fake_slack.messages) == slack_count and len(fake_slack.files) == 1
    assert len(fake_jira.issues) == 2
    assert all(issue["comments"] == [] for issue in fake_jira.issues.values())


def test_alerting_a_new_anomaly_first_means_the_report_does_not_alert_again(
    finops_env: Path, monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlack
) -> None:
    _slack_bot(monkeypatch, fake_slack)
    anomaly = sample_anomaly("anom-now", impact="650")
    alerted = alert_anomalies([anomaly])
    assert alerted.sent == ["slack|alert|anom-now"]
    assert len(fake_slack.messages) == 1

    report(sample_digest(findings=0, anomalies=0).model_copy(update={"anomalies": [anomaly]}))
    texts = [m.text for m in fake_slack.top_level()]
    assert sum(t.startswith("Cost anomaly") for t in texts) == 1
    assert any(t.startswith("FinOps digest") for t in texts)


def test_without_channels_the_artifact_shows_exactly_what_would_be_sent(
    finops_env: Path,
) -> None:
    digest = sample_digest(findings=2, anomalies=1)
    state = report(digest, return_state=True)
    result = state.result()
    assert result.sent == [] and result.pending == []
    assert "slack|digest|2026-11-25" in result.local and "sns|summary|2026-11-25" in result.local

    outbox = Outbox(f"sqlite:///{finops_env / 'findings.db'}")
    stored = outbox.get("slack|digest|2026-11-25")
    assert stored is not None and stored.status is OutboxStatus.LOCAL
    [artifact] = _artifacts(_run_id(state))
    assert "not sent: the channel is not configured" in artifact.data
    assert "### FinOps daily digest: 2026-11-25" in artifact.data
    # The exact payload is in the artifact: every block's text as Slack would receive it.
    for block in stored.payload["blocks"]:
        if "text" in block:
            assert block["text"]["text"].replace("\n", "\\n") in artifact.data


def test_secrets_never_reach_logs_artifacts_results_or_the_outbox(
    finops_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_slack: FakeSlack,
    fake_jira: FakeJira,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from prefect.blocks.system import Secret

    block_name = f"slack-bot-{uuid.uuid4().hex[:8]}"
    Secret(value=SLACK_TOKEN).save(block_name)
    monkeypatch.setenv("FINOPS_NOTIFY__SLACK_BOT_TOKEN_BLOCK", block_name)
    monkeypatch.setenv("FINOPS_NOTIFY__SLACK_CHANNEL", "#finops")
    monkeypatch.setenv("FINOPS_NOTIFY__SLACK_BASE_URL", fake_slack.api_url)
    _jira(monkeypatch, fake_jira)
    fake_slack.fail_next(429, times=1, retry_after=0)
    fake_jira.down = True  # errors are logged and stored: they must not carry the token

    caplog.set_level(logging.DEBUG)
    first = report(sample_digest(findings=3, anomalies=1), return_state=True)
    assert fake_slack.messages, "the Slack token from the Secret block was used"
    assert first.result().pending  # Jira's issues wait for the next run

    # Then a webhook (the URL is the credential), failing once with a 500.
    monkeypatch.delenv("FINOPS_NOTIFY__SLACK_BOT_TOKEN_BLOCK")
    monkeypatch.setenv("FINOPS_NOTIFY__SLACK_WEBHOOK_URL", fake_slack.webhook_url)
    fake_slack.fail_next(500, times=5)
    second = report(
        sample_digest(findings=1, anomalies=0).model_copy(
            update={"day": sample_digest().day.replace(day=26)}
        ),
        return_state=True,
    )
    assert second.result().pending

    secrets = [SLACK_TOKEN, JIRA_API_TOKEN, fake_slack.webhook_url.split("/services")[1]]
    texts: list[str] = []
    for record in caplog.records:
        texts.append(record.getMessage())
        texts.append(record.exc_text or "")
    for state in (first, second):
        texts.extend(_prefect_logs(_run_id(state)))
        texts.extend(str(a.data) for a in _artifacts(_run_id(state)))
        texts.append(state.result().model_dump_json())
    outbox = Outbox(f"sqlite:///{finops_env / 'findings.db'}")
    texts.extend(m.model_dump_json() for m in outbox.messages())
    assert any("Jira answered 503" in t for t in texts)  # the errors were captured ...
    for secret in secrets:
        leaks = [t for t in texts if secret in t]
        assert leaks == [], f"secret leaked into {leaks[:1]}"  # ... without the secrets


def test_secrets_come_from_prefect_secret_blocks_by_name() -> None:
    from prefect.blocks.system import Secret
    from pydantic import SecretStr

    from tasks.notify.secrets import SecretError, resolve_secrets
    from tasks.settings import NotifySettings

    suffix = uuid.uuid4().hex[:8]
    Secret(value="xoxb-from-block-1234").save(f"slack-{suffix}")
    Secret(value="pat-from-block-5678").save(f"jira-{suffix}")
    settings = NotifySettings(  # type: ignore[call-arg]
        slack_bot_token=SecretStr("xoxb-from-env-0000"),
        slack_bot_token_block=f"slack-{suffix}",
        jira_token_block=f"jira-{suffix}",
        jira_url="https://jira.example.com",
    )
    secrets = resolve_secrets(settings)
    assert secrets.slack_bot_token is not None
    assert secrets.slack_bot_token.get_secret_value() == "xoxb-from-block-1234"
    # No Jira email: the block holds a Server/DC personal access token.
    assert secrets.jira_pat is not None and secrets.jira_token is None
    assert secrets.jira_pat.get_secret_value() == "pat-from-block-5678"
    cloud = resolve_secrets(settings.model_copy(update={"jira_email": "bot@example.com"}))
    assert cloud.jira_token is not None and cloud.jira_pat is None

    with pytest.raises(SecretError, match=f"Prefect Secret block 'missing-{suffix}' not found"):
        resolve_secrets(settings.model_copy(update={"slack_webhook_block": f"missing-{suffix}"}))


def test_report_reads_spend_and_findings_from_the_stores_and_closes_resolved_groups(
    finops_env: Path, monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    from datetime import UTC, date, datetime, timedelta

    from tasks.costs.store import CostStore
    from tasks.findings.model import FindingStatus
    from tasks.findings.store import FindingsStore
    from tests.plugins.costs import make_cost_frame
    from tests.plugins.fake_services import sample_finding

    _slack_bot(monkeypatch, fake_slack)
    _jira(monkeypatch, fake_jira)
    day = date(2026, 11, 24)
    start = day - timedelta(days=40)
    # Two accounts x two services at $10.00 a day each: $40.00 a day, every day.
    CostStore(str(finops_env / "costs")).replace_window(
        make_cost_frame(start, 42), start, day + timedelta(days=1), "ce"
    )
    store = FindingsStore(f"sqlite:///{finops_env / 'findings.db'}")
    volume = sample_finding(1)
    address = sample_finding(2, check="eip-unassociated", savings="3.60")
    scope = [(f.check, f.account_id, f.region) for f in (volume, address)]
    store.record_scan([volume, address], scope=scope, now=datetime(2026, 11, 24, 5, tzinfo=UTC))

    first = report(day=day)
    top = fake_slack.top_level()[-1]
    text = str(top.blocks)
    assert "*Spend on 2026-11-24:* $40.00 USD vs expected $40.00 USD ($0.00, 0.0%)" in text
    assert "*Savings available:* $11.60 USD per month across 2 resources" in text
    assert sorted(first.notified_findings) == sorted([volume.fingerprint, address.fingerprint])
    assert store.get(volume.fingerprint).status is FindingStatus.NOTIFIED
    assert len(fake_jira.issues) == 2

    scanned_at = datetime(2026, 11, 25, 5, tzinfo=UTC)
    store.record_scan([volume], scope=scope, now=scanned_at)  # the address was released
    second = report(day=day + timedelta(days=1), resolved_after=scanned_at)
    assert second.failed == [] and second.pending == []
    statuses = {
        next(lab for lab in i["fields"]["labels"] if lab.startswith("finops-")): i["status"]
        for i in fake_jira.issues.values()
    }
    assert sorted(statuses.values()) == ["Done", "To Do"]
    done = next(i for i in fake_jira.issues.values() if i["status"] == "Done")
    assert "eip-unassociated" in done["fields"]["summary"]
