"""What every remediation action shares: the audit of adapter writes, outcomes, windows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tasks.aws.common import Written
from tasks.remediation.actions.registry import ActionContext, ActionOutcome


def record(ctx: ActionContext, written: Written | None) -> dict[str, Any] | None:
    """Keep an adapter write's request id, and its operation when only its dry run was sent.

    Returns the write's response (``None`` after a dry run, or when the resource was gone).
    """
    if written is None:
        return None
    if written.request_id:
        ctx.request_ids.append(written.request_id)
    if written.dry_run:
        ctx.proven.append(written.operation)
    return written.response


def outcome(
    ctx: ActionContext, before: dict[str, Any], after: dict[str, Any], **kw: Any
) -> ActionOutcome:
    return ActionOutcome("dry_run" if ctx.dry_run else "succeeded", before, after, **kw)


def public(state: dict[str, Any]) -> dict[str, Any]:
    """A read without its internal keys (the ARN used for the writes)."""
    return {k: v for k, v in state.items() if k != "arn"}


def since_detection(ctx: ActionContext) -> tuple[datetime, datetime]:
    """The window a busy re-check reads: since detection (at most a day, at least two hours).

    At least two hours: the re-checks read hourly statistics, and where those sit on whole hours
    the newest one can have started almost two hours ago; a shorter window just after a scan
    could hold no datapoint, and no datapoint means the action is skipped (no evidence).
    The end is a little past now: CloudWatch's end bound is exclusive and in whole seconds.
    """
    since = max(ctx.finding.detected_at, ctx.now - timedelta(days=1))
    if ctx.now - since < timedelta(hours=2):
        since = ctx.now - timedelta(hours=2)
    return since, ctx.now + timedelta(minutes=5)
