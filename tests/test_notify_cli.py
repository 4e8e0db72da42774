"""`finops notify test|flush|outbox` against the local Slack and Jira servers."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from finops.cli import app
from tasks.notify.outbox import NewMessage, Outbox
from tests.plugins.fake_services import (
    JIRA_API_TOKEN,
    JIRA_EMAIL,
    SLACK_TOKEN,
    FakeJira,
    FakeSlack,
)

runner = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    import os

    for name in list(os.environ):
        if name.startswith("FINOPS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FINOPS_NOTIFY__SLACK_BACKOFF_S", "0.01")
    monkeypatch.setenv("FINOPS_NOTIFY__SLACK_MAX_RETRIES", "1")
    monkeypatch.setenv("FINOPS_NOTIFY__JIRA_MAX_RETRIES", "0")
    return tmp_path


def _slack(monkeypatch: pytest.MonkeyPatch, slack: FakeSlack, token: str = SLACK_TOKEN) -> None:
    monkeypatch.setenv("FINOPS_NOTIFY__SLACK_BOT_TOKEN", token)
    monkeypatch.setenv("FINOPS_NOTIFY__SLACK_CHANNEL", "#finops")
    monkeypatch.setenv("FINOPS_NOTIFY__SLACK_BASE_URL", slack.api_url)


def test_notify_test_says_what_happened_per_channel(
    env: Path, monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    _slack(monkeypatch, fake_slack)
    monkeypatch.setenv("FINOPS_NOTIFY__JIRA_URL", fake_jira.url)
    monkeypatch.setenv("FINOPS_NOTIFY__JIRA_EMAIL", JIRA_EMAIL)
    monkeypatch.setenv("FINOPS_NOTIFY__JIRA_API_TOKEN", JIRA_API_TOKEN)

    outcome = runner.invoke(app, ["notify", "test"])

    assert outcome.exit_code == 0, outcome.output
    lines = outcome.output.strip().splitlines()
    assert lines[0].startswith("slack: ok, sent as finops-bot in Acme to channel C0FINOPS")
    assert lines[1] == (
        "jira: ok, authenticated as FinOps Bot on Cloud (project FINOPS; no issue created)"
    )
    assert lines[2].startswith("sns: not configured")
    [message] = fake_slack.messages
    assert message.text.startswith("finops-flows test message (slack)")


def test_notify_test_reports_a_bad_token_without_printing_it(
    env: Path, monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlack
) -> None:
    _slack(monkeypatch, fake_slack, token="xoxb-revoked-0000-token")
    outcome = runner.invoke(app, ["notify", "test"])
    assert outcome.exit_code == 1
    assert "slack: FAILED: Slack API error 200: invalid_auth" in outcome.output
    assert "xoxb-revoked" not in outcome.output


def test_flush_delivers_what_an_outage_left_pending(
    env: Path, monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlack
) -> None:
    _slack(monkeypatch, fake_slack)
    outbox = Outbox(f"sqlite:///{env / 'findings.db'}")
    outbox.enqueue(
        [
            NewMessage(
                key="slack|digest|2026-11-25",
                channel="slack",
                kind="digest",
                op="post",
                payload={"text": "digest", "blocks": []},
            )
        ],
        enabled={"slack"},
    )
    fake_slack.down = True
    down = runner.invoke(app, ["notify", "flush"])
    assert down.exit_code == 1 and "still pending 1" in down.output

    fake_slack.down = False
    up = runner.invoke(app, ["notify", "flush"])
    assert up.exit_code == 0 and "sent 1, still pending 0" in up.output
    listed = runner.invoke(app, ["notify", "outbox", "--status", "sent"])
    assert "slack|digest|2026-11-25" in listed.output
    assert runner.invoke(app, ["notify", "outbox", "--status", "lost"]).exit_code == 2
    assert len(fake_slack.messages) == 1


def test_notify_test_through_a_webhook(
    env: Path, monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlack
) -> None:
    monkeypatch.setenv("FINOPS_NOTIFY__SLACK_WEBHOOK_URL", fake_slack.webhook_url)
    outcome = runner.invoke(app, ["notify", "test"])
    assert outcome.exit_code == 0, outcome.output
    assert outcome.output.splitlines()[0] == (
        "slack: ok, the incoming webhook accepted the test message"
    )
    assert fake_slack.webhook_posts[0]["text"].startswith("finops-flows test message")
    assert "hooksecret" not in outcome.output


def test_notify_test_names_what_to_fix_in_a_half_configured_channel(
    env: Path, monkeypatch: pytest.MonkeyPatch, fake_jira: FakeJira
) -> None:
    monkeypatch.setenv("FINOPS_NOTIFY__JIRA_URL", fake_jira.url)
    outcome = runner.invoke(app, ["notify", "test"])
    assert outcome.exit_code == 1
    assert outcome.output.splitlines() == [
        "slack: not configured (set FINOPS_NOTIFY__SLACK_BOT_TOKEN (+ _SLACK_CHANNEL) or "
        "_SLACK_WEBHOOK_URL)",
        "jira: FAILED: Jira Server/DC needs FINOPS_NOTIFY__JIRA_PAT (a personal token)",
        "sns: not configured (set FINOPS_NOTIFY__SNS_TOPIC_ARN)",
        "error: jira: Jira Server/DC needs FINOPS_NOTIFY__JIRA_PAT (a personal token)",
    ]
