"""The Slack adapter against a local server speaking Slack's Web API and webhooks."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from tasks.notify.render import render_digest
from tasks.notify.slack import SlackDeliveryError, SlackSender
from tasks.notify.texts import template_summary
from tests.plugins.fake_services import SLACK_TOKEN, FakeSlack, sample_digest


def _bot(slack: FakeSlack, token: str = SLACK_TOKEN, retries: int = 2) -> SlackSender:
    return SlackSender(
        bot_token=SecretStr(token),
        channel="#finops",
        base_url=slack.api_url,
        max_retries=retries,
        backoff_s=0.01,
    )


def test_bot_posts_the_digest_and_its_thread(fake_slack: FakeSlack) -> None:
    digest = sample_digest(findings=60, anomalies=15)
    message = render_digest(digest, template_summary(digest))
    sender = _bot(fake_slack)
    parent = sender.post(message.payload())
    for reply in message.thread:
        sender.post(reply.payload(), thread_ts=parent.ts)

    [top] = fake_slack.top_level()
    assert top.blocks == message.blocks and top.text.startswith("FinOps digest 2026-11-25")
    assert len(fake_slack.replies(top.ts)) == len(message.thread) >= 2


def test_update_replaces_the_posted_message(fake_slack: FakeSlack) -> None:
    sender = _bot(fake_slack)
    posted = sender.post({"text": "anomaly: +$400.00 USD", "blocks": []})
    sender.update(posted.channel, posted.ts or "", {"text": "anomaly: +$900.00 USD", "blocks": []})
    [message] = fake_slack.messages
    assert message.text == "anomaly: +$900.00 USD" and len(message.updates) == 1


def test_chart_upload_lands_in_the_thread_or_is_skipped_without_scope(
    fake_slack: FakeSlack,
) -> None:
    sender = _bot(fake_slack)
    parent = sender.post({"text": "digest", "blocks": []})
    file_id = sender.upload_png(b"\x89PNG-chart", "spend.png", "Spend", parent.channel, parent.ts)
    [uploaded] = fake_slack.files
    assert uploaded["id"] == file_id and uploaded["thread_ts"] == parent.ts
    assert uploaded["data"] == b"\x89PNG-chart"

    fake_slack.deny_scopes.add("files:write")
    assert sender.upload_png(b"\x89PNG", "spend.png", "Spend", parent.channel, parent.ts) is None


def test_429_is_retried_after_retry_after_and_delivered_once(fake_slack: FakeSlack) -> None:
    fake_slack.fail_next(429, times=1, retry_after=0)
    _bot(fake_slack).post({"text": "hello", "blocks": []})
    assert [m.text for m in fake_slack.messages] == ["hello"]
    assert [p for _, p in fake_slack.requests].count("/api/chat.postMessage") == 2


def test_5xx_beyond_the_retries_is_a_transient_error(fake_slack: FakeSlack) -> None:
    fake_slack.fail_next(503, times=10)
    with pytest.raises(SlackDeliveryError) as raised:
        _bot(fake_slack, retries=2).post({"text": "hello", "blocks": []})
    assert not raised.value.permanent and "503" in str(raised.value)
    assert len(fake_slack.requests) == 3 and fake_slack.messages == []


def test_slack_rejections_are_permanent_and_name_the_error(fake_slack: FakeSlack) -> None:
    too_many = {"text": "x", "blocks": [{"type": "divider"}] * 51}
    with pytest.raises(SlackDeliveryError) as raised:
        _bot(fake_slack).post(too_many)
    assert raised.value.permanent and raised.value.code == "invalid_blocks"

    with pytest.raises(SlackDeliveryError) as bad_token:
        _bot(fake_slack, token="xoxb-wrong-token-000").post({"text": "x", "blocks": []})
    assert bad_token.value.code == "invalid_auth" and "xoxb-wrong" not in str(bad_token.value)


def test_webhook_posts_and_rejects_empty_payloads(fake_slack: FakeSlack) -> None:
    hook = SlackSender(webhook_url=SecretStr(fake_slack.webhook_url), backoff_s=0.01)
    posted = hook.post({"text": "digest", "blocks": [{"type": "divider"}]})
    assert posted.ts is None and fake_slack.webhook_posts == [
        {"text": "digest", "blocks": [{"type": "divider"}]}
    ]
    with pytest.raises(SlackDeliveryError) as raised:
        hook.post({"text": "", "blocks": []})
    assert raised.value.permanent and "no_text" in str(raised.value)

    wrong = SlackSender(webhook_url=SecretStr(fake_slack.url + "/services/T0/B0/nope-12345"))
    with pytest.raises(SlackDeliveryError) as missing:
        wrong.post({"text": "x"})
    assert "404" in str(missing.value) and "nope-12345" not in str(missing.value)


def test_a_bot_token_needs_a_channel() -> None:
    with pytest.raises(ValueError, match="FINOPS_NOTIFY__SLACK_CHANNEL"):
        SlackSender(bot_token=SecretStr("xoxb-1234"))
