"""Data-store checks: RDS instances nobody connects to, S3 buckets holding stale multipart parts."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from tasks.aws.records import Inventory, MetricFrame, MetricRequest, MetricSeries
from tasks.idle.registry import (
    REGISTRY,
    CheckParams,
    CheckResult,
    DatapointParams,
    RuleContext,
    register,
)
from tasks.pricing.book import monthly

GB = 1_000_000_000  # S3 bills per GB (decimal) per month


class RdsIdleParams(DatapointParams):
    """Parameters of ``rds-idle``.

    Default: Trusted Advisor's "Amazon RDS Idle DB Instances" flags a DB instance with no
    connection over the past days; here the daily Maximum of DatabaseConnections must stay at or
    below ``max_connections`` (0) every day of 14.  RDS publishes DatabaseConnections every
    minute, so an instance with fewer than ``min_days`` days of datapoints is skipped.

    Example (finops.toml):
        [idle.params.rds-idle]
        days = 14
        max_connections = 0
    """

    max_connections: float = Field(0.0, ge=0, description="Daily max connections at most.")


def _rds_idle_metrics(
    inventory: Inventory, params: RdsIdleParams, ctx: RuleContext
) -> list[MetricRequest]:
    return [
        MetricRequest(
            db.db_instance_id,
            "connections",
            "AWS/RDS",
            "DatabaseConnections",
            (("DBInstanceIdentifier", db.db_instance_id),),
            "Maximum",
        )
        for db in inventory.db_instances
        if db.status == "available" and not ctx.excluded(db.tags)
    ]


@register(
    "rds-idle",
    family="rds",
    resource_type="rds:db",
    params=RdsIdleParams,
    needs=["db_instances"],
    actions=["tag_for_later", "stop_db_instance", "skip"],
    follow_up="stop_db_instance",
    permissions=["rds:DescribeDBInstances", "rds:ListTagsForResource", "cloudwatch:GetMetricData"],
    metrics=_rds_idle_metrics,
)
def rds_idle(
    inventory: Inventory, metrics: MetricFrame, params: RdsIdleParams, ctx: RuleContext
) -> CheckResult:
    """Available RDS DB instances with no database connections over the window.

    Savings: the instance's hourly price x 730 (x2 for Multi-AZ) plus its storage; unknown when
    the instance class is not priced.

    Example (finops.toml):
        [idle.params.rds-idle]
        days = 14
    """
    check = REGISTRY["rds-idle"]
    result = CheckResult()
    for db in inventory.db_instances:
        if db.status != "available" or ctx.excluded(db.tags):
            continue
        series = metrics.get((db.db_instance_id, "connections"), MetricSeries())
        if len(series) < params.min_days:
            result.skipped.append(
                ctx.skip(
                    check.name,
                    db.db_instance_id,
                    f"too few datapoints: {len(series)} day(s) of DatabaseConnections, "
                    f"{params.min_days} needed",
                )
            )
            continue
        peak = max(series.values)
        if peak > params.max_connections:
            continue
        compute = monthly(
            ctx.prices.rds_instance_hour(ctx.region, db.db_class, db.engine, db.multi_az)
        )
        storage_price = ctx.prices.rds_storage_gb_month(ctx.region, db.storage_type)
        savings = None
        if compute is not None:
            savings = compute
            if storage_price is not None:
                storage = storage_price * db.allocated_storage_gib
                savings += storage * 2 if db.multi_az else storage
        result.findings.append(
            ctx.finding(
                check,
                resource_id=db.db_instance_id,
                resource_arn=db.arn,
                resource_type=check.resource_type,
                tags=db.tags,
                monthly_savings_usd=savings,
                evidence={
                    "window_days": params.days,
                    "period_seconds": 86400,
                    "statistics": {"DatabaseConnections": "Maximum"},
                    "datapoints_used": len(series),
                    "max_connections": peak,
                    "thresholds": {"max_connections_at_most": params.max_connections},
                    "db_class": db.db_class,
                    "engine": db.engine,
                    "multi_az": db.multi_az,
                    "savings_basis": "instance hourly price x 730 h + allocated storage",
                },
                title=f"RDS {db.db_class} {db.db_instance_id}: "
                f"no connections in {params.days} days",
                risk="high",
            )
        )
    return result


class S3MultipartParams(CheckParams):
    """Parameters of ``s3-stale-multipart``.

    Default 7 days: AWS's S3 guide ("Configuring a bucket lifecycle configuration to delete
    incomplete multipart uploads") uses ``DaysAfterInitiation: 7`` as its example; parts of an
    upload never completed are billed as storage until aborted.

    Example (finops.toml):
        [idle.params.s3-stale-multipart]
        days = 7
    """

    days: int = Field(7, ge=1, le=3650, description="Uploads initiated more than N days ago.")


@register(
    "s3-stale-multipart",
    family="s3",
    resource_type="s3:bucket",
    params=S3MultipartParams,
    needs=["buckets"],
    actions=["add_abort_multipart_rule", "skip"],
    permissions=[
        "s3:ListAllMyBuckets",
        "s3:GetBucketLocation",
        "s3:GetLifecycleConfiguration",
        "s3:ListBucketMultipartUploads",
        "s3:ListMultipartUploadParts",
        "s3:GetBucketTagging",
    ],
)
def s3_stale_multipart(
    inventory: Inventory, metrics: MetricFrame, params: S3MultipartParams, ctx: RuleContext
) -> CheckResult:
    """Buckets with incomplete multipart uploads older than ``days`` and no lifecycle rule that
    aborts incomplete uploads (with such a rule, S3 cleans them up itself).

    Savings: the bytes held by the stale uploads' parts x the S3 Standard price.

    Example (finops.toml):
        [idle.params.s3-stale-multipart]
        days = 14
    """
    check = REGISTRY["s3-stale-multipart"]
    result = CheckResult()
    price = ctx.prices.s3_standard_gb_month(ctx.region)
    for bucket in inventory.buckets:
        if bucket.aborts_incomplete_uploads or ctx.excluded(bucket.tags):
            continue
        stale = [
            u
            for u in bucket.uploads
            if (ctx.now - u.initiated).total_seconds() > params.days * 86400
        ]
        if not stale:
            continue
        sizes = [u.parts_bytes for u in stale]
        total_bytes = None if any(s is None for s in sizes) else sum(s or 0 for s in sizes)
        savings = (
            None
            if price is None or total_bytes is None
            else price * Decimal(total_bytes) / Decimal(GB)
        )
        oldest = min(u.initiated for u in stale)
        if total_bytes is None:
            result.skipped.append(
                ctx.skip(
                    check.name,
                    bucket.name,
                    "part sizes unknown for some uploads; savings not estimated",
                )
            )
        result.findings.append(
            ctx.finding(
                check,
                resource_id=bucket.name,
                resource_arn=bucket.arn,
                resource_type=check.resource_type,
                tags=bucket.tags,
                monthly_savings_usd=savings,
                evidence={
                    "stale_uploads": len(stale),
                    "oldest_initiated": oldest.isoformat(),
                    "parts_bytes": total_bytes,
                    "lifecycle_aborts_incomplete_uploads": False,
                    "uploads": [
                        {"key": u.key, "initiated": u.initiated.isoformat()} for u in stale[:20]
                    ],
                    "thresholds": {"initiated_days_more_than": params.days},
                    "savings_basis": "bytes in stale parts x S3 Standard GB-month price",
                },
                title=f"S3 bucket {bucket.name}: {len(stale)} stale multipart upload(s)",
                risk="low",
            )
        )
    return result
