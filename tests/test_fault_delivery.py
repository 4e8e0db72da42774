"""Fault matrix for delivery: Slack and Jira refusing connections, Jira rate-limiting (429).

Whatever the fault, nothing is lost and nothing is sent twice: the messages stay pending in the
outbox with the reason, and the next run delivers each exactly once.  The servers are the local
fakes that speak Slack's and Jira's HTTP APIs (``tests/plugins/fake_services.py``); "refusing
connections" is a loopback port with nothing listening.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tasks.notify.deliver import Channels, build_channels
from tasks.notify.outbox import Outbox, OutboxStatus
from tasks.notify.plan import PlanOptions, plan_report
from tasks.notify.secrets import resolve_secrets
from tasks.notify.texts import template_summary
from tasks.settings import NotifySettings
from tests.plugins.fake_services import (
    JIRA_API_TOKEN,
    JIRA_EMAIL,
    SLACK_TOKEN,
    FakeJira,
    FakeSlack,
    sample_digest,
)
from tests.test_notify_outbox import _run


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(f"sqlite:///{tmp_path / 'findings.db'}", max_attempts=5)


def _closed_port_url() -> str:
    """A loopback URL where nothing listens: every connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _channels(slack_url: str | None = None, jira_url: str | None = None, **extra: Any) -> Channels:
    values: dict[str, Any] = {"slack_max_retries": 1, "slack_backoff_s": 0.01, **extra}
    if slack_url is not None:
        values |= {
            "slack_bot_token": SecretStr(SLACK_TOKEN),
            "slack_channel": "#finops",
            "slack_base_url": slack_url,
        }
    if jira_url is not None:
        values |= {
            "jira_url": jira_url,
            "jira_email": JIRA_EMAIL,
            "jira_api_token": SecretStr(JIRA_API_TOKEN),
        }
    settings = NotifySettings(**values)
    return build_channels(settings, resolve_secrets(settings))


def _messages(channel: str) -> list[Any]:
    digest = sample_digest(findings=3, anomalies=1)
    planned = plan_report(digest, template_summary(digest), {}, PlanOptions())
    return [m for m in planned if m.channel == channel]


def test_slack_refusing_connections_keeps_everything_pending_then_delivers_once(
    outbox: Outbox, fake_slack: FakeSlack
) -> None:
    messages = _messages("slack")
    refused = _run(outbox, _channels(slack_url=f"{_closed_port_url()}/api/"), messages)
    assert refused.sent == [] and set(refused.pending) == {m.key for m in messages}
    [tried] = [m for m in outbox.messages() if m.attempts]
    assert tried.status == OutboxStatus.PENDING and tried.last_error

    delivered = _run(outbox, _channels(slack_url=fake_slack.api_url), messages)
    assert delivered.pending == [] and delivered.failed == []
    assert {m.status for m in outbox.messages()} <= {OutboxStatus.SENT, OutboxStatus.SKIPPED}
    posted = len(fake_slack.messages)
    # every sent key is one Slack message, except the chart, which is an uploaded file
    assert posted == len([k for k in delivered.sent if not k.endswith("|chart")])
    assert len(fake_slack.files) == 1
    again = _run(outbox, _channels(slack_url=fake_slack.api_url), messages)
    assert again.sent == [] and len(fake_slack.messages) == posted, "nothing is sent twice"
    assert len(fake_slack.files) == 1


def test_jira_refusing_connections_keeps_issues_pending_then_creates_each_once(
    outbox: Outbox, fake_jira: FakeJira
) -> None:
    messages = _messages("jira")
    assert messages
    refused = _run(outbox, _channels(jira_url=_closed_port_url(), jira_max_retries=0), messages)
    assert refused.sent == [] and len(refused.pending) == len(messages)
    assert fake_jira.issues == {}

    created = _run(outbox, _channels(jira_url=fake_jira.url, jira_max_retries=0), messages)
    assert created.pending == [] and created.failed == []
    assert len(fake_jira.issues) == len(messages)
    again = _run(outbox, _channels(jira_url=fake_jira.url, jira_max_retries=0), messages)
    assert again.sent == [] and len(fake_jira.issues) == len(messages)


def test_jira_429_is_retried_after_retry_after_and_each_issue_created_once(
    outbox: Outbox, fake_jira: FakeJira
) -> None:
    messages = _messages("jira")
    fake_jira.fail_next(429, times=1, retry_after=0)
    report = _run(outbox, _channels(jira_url=fake_jira.url, jira_max_retries=2), messages)
    assert report.pending == [] and report.failed == []
    assert len(fake_jira.issues) == len(messages)
    assert all(m.attempts == 1 and not m.last_error for m in outbox.messages()), (
        "retried inside one attempt"
    )


def test_jira_429_beyond_its_retries_waits_for_the_next_run(
    outbox: Outbox, fake_jira: FakeJira
) -> None:
    messages = _messages("jira")
    fake_jira.fail_next(429, times=50, retry_after=0)
    limited = _run(outbox, _channels(jira_url=fake_jira.url, jira_max_retries=0), messages)
    assert limited.sent == [] and len(limited.pending) == len(messages)
    assert fake_jira.issues == {}

    fake_jira.failures.clear()
    created = _run(outbox, _channels(jira_url=fake_jira.url, jira_max_retries=0), messages)
    assert created.pending == [] and len(fake_jira.issues) == len(messages)
