"""Delivery: the configured channels, and the loop that empties the outbox through them.

Each pending message is claimed, sent, and marked in the outbox.  A channel that has a transient
failure (outage, rate limit beyond the retries) is not tried again in the same pass: its
remaining messages stay pending for the next run, in order.  A message that needs its parent's
Slack ``ts`` (a thread reply, an update, a chart) waits until the parent is sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from tasks.notify.chart import cost_chart_png
from tasks.notify.issues import IssueSpec
from tasks.notify.jira_client import JiraDeliveryError, JiraOptions, JiraTracker
from tasks.notify.outbox import Outbox, OutboxMessage, OutboxStatus
from tasks.notify.secrets import (
    ChannelSecrets,
    Redactor,
    SecretError,
    jira_secrets,
    slack_secrets,
)
from tasks.notify.slack import SlackDeliveryError, SlackSender
from tasks.notify.sns import SnsDeliveryError, apply_publish, sns_client
from tasks.settings import NotifySettings

log = logging.getLogger("finops.notify.deliver")

DeliveryError = (SlackDeliveryError, JiraDeliveryError, SnsDeliveryError)


class Skip(Exception):
    """The channel cannot do this message (a webhook cannot thread, update or upload)."""


class Wait(Exception):
    """The message's parent is not delivered yet."""


@dataclass
class Channels:
    """The channels this run can reach.

    ``None`` = not configured (messages are only rendered into the outbox and the artifact).
    ``broken`` names configured channels that cannot be used now (a missing Secret block, an
    incomplete setting): their messages are stored pending and sent once they are fixed.
    """

    slack: SlackSender | None = None
    jira: JiraTracker | None = None
    sns: Any | None = None
    sns_topic_arn: str = ""
    redactor: Redactor = field(default_factory=Redactor)
    broken: dict[str, str] = field(default_factory=dict)

    @property
    def enabled(self) -> set[str]:
        """Channels delivery can use now."""
        names = set()
        if self.slack is not None:
            names.add("slack")
        if self.jira is not None:
            names.add("jira")
        if self.sns is not None and self.sns_topic_arn:
            names.add("sns")
        return names

    @property
    def configured(self) -> set[str]:
        """Channels the settings ask for: messages to them are kept pending, never local."""
        return self.enabled | set(self.broken)


def slack_configured(settings: NotifySettings) -> bool:
    return bool(
        settings.slack_webhook_url
        or settings.slack_bot_token
        or settings.slack_webhook_block
        or settings.slack_bot_token_block
    )


def _slack(
    settings: NotifySettings,
    webhook_url: SecretStr | None,
    bot_token: SecretStr | None,
    redactor: Redactor,
) -> SlackSender:
    if webhook_url is None and bot_token is None:
        raise ValueError("the Slack secret (webhook URL or bot token) is empty")
    return SlackSender(
        bot_token=bot_token,
        webhook_url=None if bot_token else webhook_url,
        channel=settings.slack_channel,
        base_url=settings.slack_base_url,
        max_retries=settings.slack_max_retries,
        backoff_s=settings.slack_backoff_s,
        timeout_s=settings.slack_timeout_s,
        redactor=redactor,
    )


def _jira(
    settings: NotifySettings,
    api_token: SecretStr | None,
    pat: SecretStr | None,
    redactor: Redactor,
) -> JiraTracker:
    return JiraTracker(
        settings.jira_url,
        JiraOptions(
            project=settings.jira_project,
            issue_type=settings.jira_issue_type,
            labels=tuple(settings.jira_labels),
            components=tuple(settings.jira_components),
            priorities=tuple(settings.jira_priorities.items()),
            done_transition=settings.jira_done_transition,
        ),
        email=settings.jira_email,
        api_token=api_token,
        pat=pat,
        deployment=settings.jira_deployment,
        max_retries=settings.jira_max_retries,
        timeout_s=settings.jira_timeout_s,
        redactor=redactor,
    )


def connect_channels(settings: NotifySettings, aws_session: Any = None) -> Channels:
    """The configured channels, each secret read only for its own channel.

    A channel that cannot be set up is reported in ``broken`` (one line saying what to fix),
    never fatal for the others.

    Example:
        >>> connect_channels(NotifySettings()).configured
        set()
    """
    channels = Channels()
    redactor = channels.redactor
    if slack_configured(settings):
        try:
            webhook_url, bot_token = slack_secrets(settings)
            redactor.add(webhook_url)
            redactor.add(bot_token)
            channels.slack = _slack(settings, webhook_url, bot_token, redactor)
        except (SecretError, ValueError) as error:
            channels.broken["slack"] = redactor.redact(str(error))
    if settings.jira_url:
        try:
            api_token, pat = jira_secrets(settings)
            redactor.add(api_token)
            redactor.add(pat)
            channels.jira = _jira(settings, api_token, pat, redactor)
        except (SecretError, ValueError) as error:
            channels.broken["jira"] = redactor.redact(str(error))
    if settings.sns_topic_arn:
        try:
            channels.sns = sns_client(settings.sns_topic_arn, aws_session)
            channels.sns_topic_arn = settings.sns_topic_arn
        except ValueError as error:
            channels.broken["sns"] = str(error)
    return channels


def build_channels(
    settings: NotifySettings, secrets: ChannelSecrets, aws_session: Any = None
) -> Channels:
    """The channels the settings configure, with secrets already resolved by the caller.

    Example:
        >>> build_channels(NotifySettings(), ChannelSecrets(None, None, None, None)).enabled
        set()
    """
    redactor = secrets.redactor()
    channels = Channels(redactor=redactor)
    if secrets.slack_bot_token is not None or secrets.slack_webhook_url is not None:
        try:
            channels.slack = _slack(
                settings, secrets.slack_webhook_url, secrets.slack_bot_token, redactor
            )
        except ValueError as error:
            channels.broken["slack"] = str(error)
    if settings.jira_url:
        try:
            channels.jira = _jira(settings, secrets.jira_token, secrets.jira_pat, redactor)
        except ValueError as error:
            channels.broken["jira"] = str(error)
    if settings.sns_topic_arn:
        channels.sns = sns_client(settings.sns_topic_arn, aws_session)
        channels.sns_topic_arn = settings.sns_topic_arn
    return channels


@dataclass
class DeliveryReport:
    """What one delivery pass did, by outbox key."""

    sent: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "pending": self.pending,
            "failed": self.failed,
            "skipped": self.skipped,
            "errors": self.errors,
        }


def deliver_pending(outbox: Outbox, channels: Channels) -> DeliveryReport:
    """Send every pending message of the configured channels, oldest first.

    Example:
        >>> import tempfile
        >>> deliver_pending(Outbox(f"sqlite:///{tempfile.mkdtemp()}/f.db"), Channels()).sent
        []
    """
    report = DeliveryReport()
    down: dict[str, str] = {}
    for message in outbox.deliverable(channels.enabled):
        if message.channel in down:
            report.pending.append(message.key)
            continue
        if not outbox.claim(message.key):
            continue  # another run is delivering it
        try:
            result = _send(outbox, channels, message)
        except Wait as reason:
            outbox.release(message.key)
            report.pending.append(message.key)
            report.errors[message.key] = str(reason)
            continue
        except Skip as reason:
            outbox.mark_skipped(message.key, str(reason))
            report.skipped.append(message.key)
            continue
        except DeliveryError as error:
            text = channels.redactor.redact(str(error))
            status = outbox.mark_error(message.key, text, permanent=error.permanent)
            report.errors[message.key] = text
            if status is OutboxStatus.FAILED:
                report.failed.append(message.key)
            else:
                report.pending.append(message.key)
                down[message.channel] = text
            log.warning("%s not delivered (%s): %s", message.key, status.value, text)
            continue
        except Exception as error:
            # An unexpected error must not lose the message: recorded, retried next run.
            text = channels.redactor.redact(f"{type(error).__name__}: {error}")
            status = outbox.mark_error(message.key, text, permanent=False)
            report.errors[message.key] = text
            (report.failed if status is OutboxStatus.FAILED else report.pending).append(message.key)
            log.warning("%s not delivered (%s): %s", message.key, status.value, text)
            continue
        outbox.mark_sent(message.key, result)
        report.sent.append(message.key)
    return report


def _parent(outbox: Outbox, message: OutboxMessage) -> OutboxMessage | None:
    if message.parent_key is None:
        return None
    parent = outbox.get(message.parent_key)
    if parent is None:
        raise Skip(f"parent {message.parent_key} is not in the outbox")
    if parent.status in {OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.FAILED}:
        # A failed parent may be retried (`finops notify flush --retry-failed`): keep waiting.
        raise Wait(f"waits for {parent.key} ({parent.status.value})")
    if parent.status is not OutboxStatus.SENT:
        raise Skip(f"parent {parent.key} is {parent.status.value}")
    return parent


def _send(outbox: Outbox, channels: Channels, message: OutboxMessage) -> dict[str, Any]:
    if message.channel == "slack":
        return _send_slack(outbox, channels, message)
    if message.channel == "jira":
        assert channels.jira is not None
        if message.op == "upsert":
            outcome = channels.jira.upsert(IssueSpec.model_validate(message.payload))
        elif message.op == "resolve":
            outcome = channels.jira.resolve(message.payload["label"], message.payload["comment"])
        else:
            raise Skip(f"unknown Jira operation {message.op!r}")
        return {"action": outcome.action, "issue": outcome.key}
    if message.channel == "sns":
        subject = f"FinOps {message.kind} {message.payload.get('date', '')}".strip()
        message_id = apply_publish(channels.sns, channels.sns_topic_arn, message.payload, subject)
        return {"message_id": message_id}
    raise Skip(f"unknown channel {message.channel!r}")


def _send_slack(outbox: Outbox, channels: Channels, message: OutboxMessage) -> dict[str, Any]:
    sender = channels.slack
    assert sender is not None
    parent = _parent(outbox, message)
    parent_ts = parent.result.get("ts") if parent is not None else None
    parent_channel = parent.result.get("channel") if parent is not None else None
    if message.op == "post":
        posted = sender.post(message.payload, thread_ts=parent_ts)
        return {"channel": posted.channel, "ts": posted.ts, "mode": sender.mode}
    if message.op == "update":
        if not sender.can_thread or not parent_ts or not parent_channel:
            raise Skip("a Slack webhook cannot update a message")
        assert parent is not None
        if parent.payload == message.payload:
            raise Skip("unchanged since it was posted")
        posted = sender.update(parent_channel, parent_ts, message.payload)
        return {"channel": posted.channel, "ts": posted.ts, "mode": sender.mode}
    if message.op == "chart":
        if not sender.can_thread or not parent_ts or not parent_channel:
            raise Skip("a Slack webhook cannot upload files")
        series = [(date.fromisoformat(d), Decimal(v)) for d, v in message.payload["series"]]
        png = cost_chart_png(series, message.payload["title"])
        file_id = sender.upload_png(
            png, message.payload["filename"], message.payload["title"], parent_channel, parent_ts
        )
        if file_id is None:
            raise Skip("the Slack token may not upload files (files:write scope)")
        return {"file_id": file_id, "channel": parent_channel, "thread_ts": parent_ts}
    raise Skip(f"unknown Slack operation {message.op!r}")
