"""`finops notify test|flush|outbox`: check the channels and deliver what the outbox holds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer

from finops.commands.errors import fail
from tasks.settings import Settings, load_settings

if TYPE_CHECKING:
    from tasks.notify.deliver import Channels


def _channels() -> tuple[Settings, Channels]:
    from tasks.notify.deliver import connect_channels

    settings = load_settings()
    return settings, connect_channels(settings.notify)


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the CLI."""
    notify = typer.Typer(
        help="Slack, Jira and SNS notifications and the outbox.", no_args_is_help=True
    )

    @notify.command("test")
    def test_channels() -> None:
        """Send a test message to each configured channel; one line per channel."""
        from tasks.notify.deliver import DeliveryError
        from tasks.notify.render import render_test_message
        from tasks.notify.sns import apply_publish

        _, built = _channels()
        at = datetime.now(UTC).isoformat(timespec="seconds")
        hints = {
            "slack": "set FINOPS_NOTIFY__SLACK_BOT_TOKEN (+ _SLACK_CHANNEL) or _SLACK_WEBHOOK_URL",
            "jira": "set FINOPS_NOTIFY__JIRA_URL and credentials",
            "sns": "set FINOPS_NOTIFY__SNS_TOPIC_ARN",
        }
        failures: dict[str, str] = {}
        for name in ("slack", "jira", "sns"):
            if name in built.broken:
                failures[name] = str(built.broken[name])
                typer.echo(f"{name}: FAILED: {built.broken[name]}")
                continue
            try:
                if name == "slack" and built.slack is not None:
                    who = built.slack.auth_check()
                    posted = built.slack.post(render_test_message("slack", at).payload())
                    if posted.ts:
                        line = f"ok, sent as {who} to channel {posted.channel} (ts {posted.ts})"
                    else:
                        line = "ok, the incoming webhook accepted the test message"
                elif name == "jira" and built.jira is not None:
                    who = built.jira.whoami()
                    kind = "Cloud" if built.jira.cloud else "Server/DC"
                    line = (
                        f"ok, authenticated as {who} on {kind} "
                        f"(project {built.jira.options.project}; no issue created)"
                    )
                elif name == "sns" and built.sns is not None:
                    message_id = apply_publish(
                        built.sns,
                        built.sns_topic_arn,
                        {"type": "finops.test", "sent_at": at},
                        "finops-flows test",
                    )
                    line = f"ok, message {message_id} published to {built.sns_topic_arn}"
                else:
                    line = f"not configured ({hints[name]})"
            except DeliveryError as error:
                failures[name] = built.redactor.redact(str(error))
                line = f"FAILED: {failures[name]}"
            typer.echo(f"{name}: {line}")
        if len(failures) == 1:
            [(name, reason)] = failures.items()
            raise fail(f"{name}: {reason}", 1)
        if failures:
            raise fail(f"{', '.join(failures)} failed (see above); fix their settings", 1)

    @notify.command("flush")
    def flush(
        retry_failed: bool = typer.Option(
            False, "--retry-failed", help="Put failed messages back to pending first."
        ),
    ) -> None:
        """Deliver every pending outbox message now (left by an outage, say)."""
        from tasks.notify.deliver import deliver_pending
        from tasks.notify.outbox import Outbox

        settings, built = _channels()
        for name, reason in sorted(built.broken.items()):
            typer.echo(f"{name}: cannot be used now: {reason}")
        outbox = Outbox(settings.findings_url, max_attempts=settings.notify.outbox_max_attempts)
        if retry_failed:
            typer.echo(f"{outbox.retry_failed()} failed messages put back to pending")
        report = deliver_pending(outbox, built)
        typer.echo(
            f"sent {len(report.sent)}, still pending {len(report.pending)}, "
            f"failed {len(report.failed)}, skipped {len(report.skipped)}"
        )
        for key, error in report.errors.items():
            typer.echo(f"  {key}: {error}")
        if report.failed or report.pending:
            raise fail(
                f"{len(report.pending)} messages still pending, {len(report.failed)} failed "
                "(see above); `finops notify outbox` lists them, `finops notify test` checks "
                "the channels",
                1,
            )

    @notify.command("outbox")
    def show_outbox(
        status: str = typer.Option("", help="Only this status (pending, sent, failed, ...)."),
    ) -> None:
        """List outbox messages: key, status, attempts, last error."""
        from tasks.notify.outbox import Outbox, OutboxStatus

        settings = load_settings()
        try:
            statuses = [OutboxStatus(status)] if status else None
        except ValueError:
            allowed = ", ".join(s.value for s in OutboxStatus)
            raise fail(f"--status {status!r} is not a status; use one of {allowed}") from None
        for message in Outbox(settings.findings_url).messages(statuses=statuses):
            error = f"  {message.last_error}" if message.last_error else ""
            typer.echo(f"{message.status.value:<8} {message.attempts:>3}  {message.key}{error}")

    app.add_typer(notify, name="notify")
