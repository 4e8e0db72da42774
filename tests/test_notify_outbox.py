"""Nothing lost, nothing twice: the outbox and delivery through outages of Slack and Jira."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tasks.notify.deliver import Channels, build_channels, deliver_pending
from tasks.notify.outbox import NewMessage, Outbox, OutboxStatus
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


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(f"sqlite:///{tmp_path / 'findings.db'}", max_attempts=5)


def _channels(
    slack: FakeSlack | None = None, jira: FakeJira | None = None, webhook: bool = False
) -> Channels:
    values: dict[str, Any] = {"slack_max_retries": 1, "slack_backoff_s": 0.01}
    if slack is not None and webhook:
        values["slack_webhook_url"] = SecretStr(slack.webhook_url)
    elif slack is not None:
        values |= {
            "slack_bot_token": SecretStr(SLACK_TOKEN),
            "slack_channel": "#finops",
            "slack_base_url": slack.api_url,
        }
    if jira is not None:
        values |= {
            "jira_url": jira.url,
            "jira_email": JIRA_EMAIL,
            "jira_api_token": SecretStr(JIRA_API_TOKEN),
            "jira_max_retries": 0,
        }
    settings = NotifySettings(**values)
    return build_channels(settings, resolve_secrets(settings))


def _plan(findings: int = 4, anomalies: int = 1) -> list[NewMessage]:
    digest = sample_digest(findings=findings, anomalies=anomalies)
    return plan_report(digest, template_summary(digest), {}, PlanOptions())


def _run(outbox: Outbox, channels: Channels, messages: list[NewMessage]) -> Any:
    """One report run: enqueue (only new keys are stored), then deliver what is pending."""
    outbox.enqueue(messages, channels.enabled)
    return deliver_pending(outbox, channels)


def test_slack_429_then_200_delivers_once(outbox: Outbox, fake_slack: FakeSlack) -> None:
    fake_slack.fail_next(429, times=1, retry_after=0)
    channels = _channels(slack=fake_slack)
    messages = [m for m in _plan() if m.key == "slack|digest|2026-11-25"]
    report = _run(outbox, channels, messages)

    assert report.sent == ["slack|digest|2026-11-25"]
    assert len(fake_slack.messages) == 1
    # The same run again: nothing new to store, nothing pending, nothing sent twice.
    again = _run(outbox, channels, messages)
    assert again.sent == [] and len(fake_slack.messages) == 1
    stored = outbox.get("slack|digest|2026-11-25")
    assert stored is not None and stored.status is OutboxStatus.SENT
    assert stored.result["ts"] == fake_slack.messages[0].ts


def test_slack_down_for_a_run_delivers_everything_on_the_next(
    outbox: Outbox, fake_slack: FakeSlack
) -> None:
    channels = _channels(slack=fake_slack)
    messages = [m for m in _plan(findings=30, anomalies=2) if m.channel == "slack"]
    fake_slack.down = True
    first = _run(outbox, channels, messages)

    assert first.sent == [] and fake_slack.messages == []
    assert set(first.pending) == {m.key for m in messages}
    # Only the first message was tried (with its bounded retries): the rest wait their turn.
    assert len(fake_slack.requests) == 2
    [tried] = [m for m in outbox.messages() if m.attempts]
    assert "503" in tried.last_error

    fake_slack.down = False
    second = _run(outbox, channels, messages)
    assert second.pending == [] and second.failed == []
    top = fake_slack.top_level()
    assert [m.text.split(":")[0] for m in top] == [
        "Cost anomaly",
        "Cost anomaly",
        "FinOps digest 2026-11-25",
    ]
    digest_message = top[-1]
    assert len(fake_slack.replies(digest_message.ts)) == 2  # anomalies, idle resources
    [chart] = fake_slack.files
    assert chart["thread_ts"] == digest_message.ts and chart["data"][:4] == b"\x89PNG"
    # The unchanged alert updates are skipped, not sent.
    assert all(not m.updates for m in fake_slack.messages)

    third = _run(outbox, channels, messages)
    assert third.sent == [] and len(fake_slack.messages) == 5


def test_jira_down_leaves_issues_pending_then_creates_each_once(
    outbox: Outbox, fake_jira: FakeJira
) -> None:
    channels = _channels(jira=fake_jira)
    digest = sample_digest(findings=3, anomalies=2).model_copy(
        update={
            "findings": [
                *sample_digest(findings=3).findings,
                *[f.model_copy(update={"check": "ebs-idle"}) for f in sample_digest().findings],
            ]
        }
    )
    messages = [
        m
        for m in plan_report(digest, template_summary(digest), {}, PlanOptions())
        if m.channel == "jira"
    ]
    assert len(messages) == 4  # two anomalies, two account x check groups
    fake_jira.down = True
    down = _run(outbox, channels, messages)
    assert down.sent == [] and len(down.pending) == 4 and fake_jira.issues == {}

    fake_jira.down = False
    up = _run(outbox, channels, messages)
    assert len(up.sent) == 4 and len(fake_jira.issues) == 4
    labels = sorted(
        next(lab for lab in i["fields"]["labels"] if lab.startswith("finops-"))
        for i in fake_jira.issues.values()
    )
    assert len(set(labels)) == 4

    rerun = _run(outbox, channels, messages)
    assert rerun.sent == [] and len(fake_jira.issues) == 4
    assert all(issue["comments"] == [] for issue in fake_jira.issues.values())


def test_a_lost_outbox_row_still_does_not_duplicate_a_jira_issue(
    tmp_path: Path, fake_jira: FakeJira
) -> None:
    channels = _channels(jira=fake_jira)
    messages = [m for m in _plan(findings=2, anomalies=0) if m.channel == "jira"]
    _run(Outbox(f"sqlite:///{tmp_path / 'a.db'}"), channels, messages)
    # A fresh database (say, a new deployment) plans the same issue: Jira's label search wins.
    _run(Outbox(f"sqlite:///{tmp_path / 'b.db'}"), channels, messages)
    [issue] = fake_jira.issues.values()
    assert len(issue["comments"]) == 1


def test_unconfigured_channels_render_locally_and_are_never_sent(outbox: Outbox) -> None:
    channels = _channels()
    messages = _plan()
    report = _run(outbox, channels, messages)
    assert report.sent == [] and report.pending == []
    stored = outbox.messages()
    assert {m.key for m in stored} == {m.key for m in messages}
    assert {m.status for m in stored} == {OutboxStatus.LOCAL}


def test_webhook_posts_thread_details_as_follow_ups_and_skips_what_it_cannot_do(
    outbox: Outbox, fake_slack: FakeSlack
) -> None:
    channels = _channels(slack=fake_slack, webhook=True)
    messages = [m for m in _plan(findings=5, anomalies=1) if m.channel == "slack"]
    report = _run(outbox, channels, messages)
    assert len(fake_slack.webhook_posts) == 4  # alert, digest, anomalies, idle resources
    skipped = {outbox.get(k).op for k in report.skipped}  # type: ignore[union-attr]
    assert skipped == {"chart", "update"}


def test_a_rejected_message_fails_alone_and_can_be_retried(
    outbox: Outbox, fake_slack: FakeSlack
) -> None:
    channels = _channels(slack=fake_slack)
    broken = NewMessage(
        key="slack|test|broken",
        channel="slack",
        kind="test",
        op="post",
        payload={"text": "x", "blocks": [{"type": "divider"}] * 51},
    )
    fine = NewMessage(
        key="slack|test|fine", channel="slack", kind="test", op="post", payload={"text": "ok"}
    )
    report = _run(outbox, channels, [broken, fine])
    assert report.failed == ["slack|test|broken"] and report.sent == ["slack|test|fine"]
    assert "invalid_blocks" in report.errors["slack|test|broken"]
    assert outbox.retry_failed() == 1
    assert outbox.get("slack|test|broken").status is OutboxStatus.PENDING  # type: ignore[union-attr]


def test_a_claimed_message_is_not_sent_by_a_second_worker(outbox: Outbox) -> None:
    message = NewMessage(key="k", channel="slack", kind="t", op="post", payload={"text": "x"})
    outbox.enqueue([message], enabled={"slack"})
    assert outbox.claim("k") is True
    assert outbox.claim("k") is False


def test_too_many_transient_failures_end_as_failed(outbox: Outbox, fake_slack: FakeSlack) -> None:
    fake_slack.down = True
    channels = _channels(slack=fake_slack)
    message = NewMessage(key="k", channel="slack", kind="t", op="post", payload={"text": "x"})
    outbox.enqueue([message], channels.enabled)
    for _ in range(5):
        deliver_pending(outbox, channels)
    stored = outbox.get("k")
    assert stored is not None and stored.status is OutboxStatus.FAILED and stored.attempts == 5


def test_a_claim_left_by_a_killed_run_is_released_after_a_while(outbox: Outbox) -> None:
    from datetime import UTC, datetime, timedelta

    message = NewMessage(key="k", channel="slack", kind="t", op="post", payload={"text": "x"})
    then = datetime(2026, 11, 25, 6, tzinfo=UTC)
    outbox.enqueue([message], enabled={"slack"}, now=then)
    assert outbox.claim("k", now=then)
    assert outbox.deliverable({"slack"}, now=then + timedelta(minutes=5)) == []
    [released] = outbox.deliverable({"slack"}, now=then + timedelta(minutes=20))
    assert released.key == "k" and released.status is OutboxStatus.PENDING


def test_thread_replies_of_a_failed_digest_wait_for_its_retry(
    outbox: Outbox, fake_slack: FakeSlack
) -> None:
    channels = _channels(slack=fake_slack)
    parent = NewMessage(
        key="p",
        channel="slack",
        kind="digest",
        op="post",
        payload={"text": "x", "blocks": [{"type": "divider"}] * 51},
    )
    reply = NewMessage(
        key="p|thread|0",
        channel="slack",
        kind="t",
        op="post",
        payload={"text": "r"},
        parent_key="p",
    )
    report = _run(outbox, channels, [parent, reply])
    assert report.failed == ["p"] and report.pending == ["p|thread|0"]
    assert fake_slack.messages == []

    # The digest is fixed in the outbox (as an operator would after a rendering bug) and retried.
    from sqlalchemy import update

    from tasks.notify.outbox import OutboxRow

    with outbox.session() as session, session.begin():
        session.execute(
            update(OutboxRow).where(OutboxRow.key == "p").values(payload={"text": "fixed"})
        )
    outbox.retry_failed()
    again = deliver_pending(outbox, channels)
    assert again.sent == ["p", "p|thread|0"]
    [top] = fake_slack.top_level()
    assert [m.text for m in fake_slack.replies(top.ts)] == ["r"]


def test_a_broken_channel_keeps_its_messages_pending_until_it_is_fixed(
    outbox: Outbox, fake_jira: FakeJira, fake_slack: FakeSlack
) -> None:
    from tasks.notify.deliver import connect_channels

    half = NotifySettings(  # type: ignore[call-arg]
        jira_url=fake_jira.url,
        jira_max_retries=0,
        slack_bot_token=SecretStr(SLACK_TOKEN),
        slack_channel="#finops",
        slack_base_url=fake_slack.api_url,
    )
    broken = connect_channels(half)
    assert "JIRA_PAT" in broken.broken["jira"] and broken.configured == {"jira", "slack"}
    messages = _plan(findings=2, anomalies=0)
    outbox.enqueue(messages, broken.configured)
    report = deliver_pending(outbox, broken)
    jira_keys = {m.key for m in messages if m.channel == "jira"}
    assert jira_keys and not jira_keys & set(report.sent) and fake_jira.issues == {}
    assert {m.key for m in outbox.messages(statuses=[OutboxStatus.PENDING])} == jira_keys

    fixed = connect_channels(
        half.model_copy(
            update={"jira_email": JIRA_EMAIL, "jira_api_token": SecretStr(JIRA_API_TOKEN)}
        )
    )
    assert set(deliver_pending(outbox, fixed).sent) == jira_keys and len(fake_jira.issues) == 1


@pytest.mark.postgres
def test_on_postgresql_concurrent_runs_store_and_claim_each_message_once(
    postgres_url: str,
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    messages = _plan(findings=3, anomalies=2)
    boxes = [Outbox(postgres_url) for _ in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        stored = list(pool.map(lambda box: box.enqueue(messages, {"slack", "jira", "sns"}), boxes))
    assert sorted(key for keys in stored for key in keys) == sorted(m.key for m in messages)

    with ThreadPoolExecutor(max_workers=4) as pool:
        claims = list(pool.map(lambda box: [box.claim(m.key) for m in messages], boxes))
    assert [sum(won) for won in zip(*claims, strict=True)] == [1] * len(messages)


def test_an_alerted_anomaly_that_resolves_edits_its_alert_and_closes_its_issue(
    outbox: Outbox, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    from tasks.notify.plan import plan_alerts
    from tests.plugins.fake_services import sample_anomaly

    channels = _channels(slack=fake_slack, jira=fake_jira)
    opened = sample_anomaly("anom-r", impact="500")
    _run(outbox, channels, plan_alerts([opened], {}, None, PlanOptions()))
    [alert] = fake_slack.messages
    [issue] = fake_jira.issues.values()
    assert issue["status"] == "To Do"

    grown = sample_anomaly("anom-r", impact="700")
    _run(outbox, channels, plan_alerts([grown], {}, None, PlanOptions()))
    assert "+$700.00 USD" in alert.blocks[1]["text"]["text"] and len(alert.updates) == 1
    assert len(issue["comments"]) == 1 and "+$700.00 USD" in issue["comments"][0]["body"]

    closed = sample_anomaly("anom-r", impact="700", status="resolved")
    quiet = sample_anomaly("anom-q", impact="5", status="resolved")  # never alerted
    report = _run(outbox, channels, plan_alerts([closed, quiet], {}, None, PlanOptions()))
    assert len(fake_slack.messages) == 1 and len(alert.updates) == 2
    assert alert.blocks[0]["text"]["text"].startswith(":white_check_mark: Cost anomaly resolved")
    assert issue["status"] == "Done"
    assert "Spend returned to the expected band." in issue["comments"][-1]["body"]
    assert all("anom-q" not in key for key in report.sent + report.skipped)
