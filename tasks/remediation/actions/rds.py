"""RDS actions: stop an idle DB instance (RDS starts it again by itself after 7 days)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from tasks.aws import rds as rds_adapter
from tasks.aws.cloudwatch import hourly_peak
from tasks.aws.common import error_code
from tasks.remediation.actions.common import public, record, since_detection
from tasks.remediation.actions.registry import (
    ActionContext,
    ActionOutcome,
    AlreadyDone,
    Skip,
    register_action,
)

#: Days after which RDS starts a stopped DB instance again by itself (AWS RDS User Guide,
#: "Stopping an Amazon RDS DB instance temporarily").
RDS_AUTO_START_DAYS = 7


def db_instance(ctx: ActionContext) -> dict[str, Any]:
    found = rds_adapter.describe_db_instance(ctx.client("rds"), ctx.finding.resource_id)
    if found is None:
        raise AlreadyDone("DB instance no longer exists")
    return found


def read_db(ctx: ActionContext) -> dict[str, Any]:
    db = db_instance(ctx)
    arn = db["DBInstanceArn"]
    return {
        "arn": arn,
        "status": db.get("DBInstanceStatus"),
        "state": db.get("DBInstanceStatus"),
        "db_class": db.get("DBInstanceClass"),
        "engine": db.get("Engine"),
        "tags": rds_adapter.db_tags(ctx.client("rds"), arn),
    }


def _check_db_not_busy(ctx: ActionContext) -> None:
    """Skip a DB instance that had connections since it was detected idle (one metric call).

    No datapoints since detection is a skip too: missing data never proves idleness.
    """
    since, until = since_detection(ctx)
    thresholds = ctx.finding.evidence.get("thresholds", {})
    allowed = float(thresholds.get("max_connections_at_most", 0) or 0)
    peak = hourly_peak(
        ctx.client("cloudwatch"),
        "AWS/RDS",
        "DatabaseConnections",
        ("DBInstanceIdentifier", ctx.finding.resource_id),
        "Maximum",
        since,
        until,
    )
    if peak is None:
        raise Skip("no DatabaseConnections datapoints since detection: cannot confirm idle")
    if peak > allowed:
        raise Skip(
            f"database busy again: {peak:.0f} connections since detection (idle means <= "
            f"{allowed:.0f})"
        )


@register_action(
    "stop_db_instance",
    read=read_db,
    noun="DB instance",
    resource_types=("rds:db",),
    checks=("rds-idle",),
    valid_states={"available"},
    done_states={"stopped", "stopping"},
    permissions=(
        "rds:DescribeDBInstances",
        "rds:ListTagsForResource",
        "cloudwatch:GetMetricStatistics",
        "rds:StopDBInstance",
    ),
    description="Stop the DB instance (RDS starts it again by itself after 7 days).",
    reversible=True,
    note="RDS starts a stopped DB instance again by itself after 7 days; the saving lasts a "
    "week unless it is stopped again or removed.",
)
def apply_stop_db_instance(ctx: ActionContext, state: dict[str, Any]) -> ActionOutcome:
    """Stop an idle RDS DB instance (storage, snapshots and endpoint stay; reversible by a start).

    RDS starts a stopped instance again by itself after 7 days; the outcome says when, so the
    owner knows the saving is temporary unless the instance is stopped again or removed.  RDS
    has no dry run: in dry-run the instance is read and the stop is reported, not sent.
    """
    before = {k: v for k, v in public(state).items() if k != "state"}
    _check_db_not_busy(ctx)
    restart = (ctx.now + timedelta(days=RDS_AUTO_START_DAYS)).date().isoformat()
    note = (
        f"RDS starts a stopped DB instance again by itself after {RDS_AUTO_START_DAYS} days "
        f"(about {restart})"
    )
    if ctx.dry_run:
        return ActionOutcome(
            "dry_run",
            before,
            {**before, "auto_start_after": restart},
            reason=f"RDS StopDBInstance has no dry run; instance read, not stopped. {note}",
        )
    try:
        response = record(
            ctx, rds_adapter.apply_stop_db_instance(ctx.client("rds"), ctx.finding.resource_id)
        )
    except ClientError as error:
        # stopped by someone between the read and the call: the end state is reached
        if error_code(error) == "InvalidDBInstanceState" and db_instance(ctx).get(
            "DBInstanceStatus"
        ) in {"stopped", "stopping"}:
            raise AlreadyDone("DB instance already stopped") from None
        raise
    assert response is not None  # RDS has no dry run: a write returns its response
    status = response.get("DBInstance", {}).get("DBInstanceStatus", "stopping")
    after = {**before, "status": status, "auto_start_after": restart}
    return ActionOutcome("succeeded", before, after, reason=note)
