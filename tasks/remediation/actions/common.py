"""What every remediation action shares: dry-run-aware EC2 writes, request ids, outcomes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from tasks.aws.common import error_code, request_id
from tasks.remediation.actions.registry import ActionContext, ActionOutcome


def write(ctx: ActionContext, client: Any, operation: str, **kwargs: Any) -> dict[str, Any] | None:
    """Call an EC2 write, with ``DryRun=True`` in dry-run; ``None`` when the dry run passed."""
    if ctx.dry_run:
        kwargs["DryRun"] = True
    try:
        response: dict[str, Any] = getattr(client, operation)(**kwargs)
    except ClientError as error:
        if error_code(error) == "DryRunOperation":
            ctx.proven.append(operation)
            record_request(ctx, error.response)
            return None
        raise
    record_request(ctx, response)
    return response


def record_request(ctx: ActionContext, response: dict[str, Any]) -> None:
    found = request_id(response)
    if found:
        ctx.request_ids.append(found)


def outcome(
    ctx: ActionContext, before: dict[str, Any], after: dict[str, Any], **kw: Any
) -> ActionOutcome:
    return ActionOutcome("dry_run" if ctx.dry_run else "succeeded", before, after, **kw)


def public(state: dict[str, Any]) -> dict[str, Any]:
    """A read without its internal keys (the ARN used for the writes)."""
    return {k: v for k, v in state.items() if k != "arn"}


def since_detection(ctx: ActionContext) -> tuple[datetime, datetime]:
    """The window a busy re-check reads: since detection (at most a day, at least an hour).

    The end is a little past now: CloudWatch's end bound is exclusive and in whole seconds.
    """
    since = max(ctx.finding.detected_at, ctx.now - timedelta(days=1))
    if ctx.now - since < timedelta(hours=1):
        since = ctx.now - timedelta(hours=1)
    return since, ctx.now + timedelta(minutes=5)
