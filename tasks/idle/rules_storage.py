"""EBS and snapshot checks: unattached volumes, gp2 volumes gp3 serves cheaper, idle attached
volumes, and stale snapshots nothing uses.

Over 400 lines because its four checks share the volume pricing and the unattached-age
bookkeeping; each check is its parameters, one rule and one metric plan.
"""

from __future__ import annotations

import re
from decimal import Decimal

from pydantic import Field

from tasks.aws.records import Inventory, MetricFrame, MetricRequest, MetricSeries, Volume
from tasks.idle.registry import (
    REGISTRY,
    CheckParams,
    CheckResult,
    DatapointParams,
    RuleContext,
    register,
)
from tasks.pricing.book import Prices, ebs_volume_month


def unattached_key(account_id: str, region: str, volume_id: str) -> str:
    """Observation key under which the first sight of an unattached volume is remembered.

    Example:
        >>> unattached_key("111111111111", "us-east-1", "vol-1")
        'ebs-unattached|111111111111|us-east-1|vol-1'
    """
    return f"ebs-unattached|{account_id}|{region}|{volume_id}"


class EbsUnattachedParams(CheckParams):
    """Parameters of ``ebs-unattached``.

    Default 7 days: Trusted Advisor's "Underutilized Amazon EBS Volumes" flags volumes that are
    unattached (or nearly unused) over the past 7 days.

    Example (finops.toml):
        [idle.params.ebs-unattached]
        days = 14
    """

    days: int = Field(7, ge=0, le=3650, description="Unattached for at least this many days.")


def _volume_cost(prices: Prices, region: str, volume: Volume) -> Decimal | None:
    return ebs_volume_month(
        prices, region, volume.volume_type, volume.size_gib, volume.iops, volume.throughput_mibps
    )


@register(
    "ebs-unattached",
    family="ebs",
    resource_type="ec2:volume",
    params=EbsUnattachedParams,
    needs=["volumes"],
    actions=["snapshot_and_delete", "delete", "tag_for_later", "skip"],
    follow_up="snapshot_and_delete",
    permissions=["ec2:DescribeVolumes"],
)
def ebs_unattached(
    inventory: Inventory, metrics: MetricFrame, params: EbsUnattachedParams, ctx: RuleContext
) -> CheckResult:
    """EBS volumes in state ``available`` (attached to nothing) for at least ``days`` (7).

    AWS does not report when a volume was detached, so the scan remembers when it first saw each
    volume unattached (``FindingsStore.observe``; forgotten when it is attached again).
    Decision: on first sight the volume's CreateTime is taken as the start — the earliest the
    volume can have been unattached, an upper bound on its unattached age.  A first scan of an
    organisation therefore reports volumes that are old and unattached at once instead of
    waiting ``days`` days; a long-lived volume detached only yesterday may be reported early,
    and the evidence says which basis was used (``age_basis``).

    Example (finops.toml):
        [idle.params.ebs-unattached]
        days = 7
    """
    check = REGISTRY["ebs-unattached"]
    result = CheckResult()
    for volume in inventory.volumes:
        if volume.state != "available" or volume.attached or ctx.excluded(volume.tags):
            continue
        key = unattached_key(ctx.account_id, ctx.region, volume.volume_id)
        since = ctx.first_seen.get(key) or volume.create_time
        if since is None:
            result.skipped.append(
                ctx.skip(
                    check.name,
                    volume.volume_id,
                    "unattached age unknown: no CreateTime and never seen before",
                )
            )
            continue
        basis = (
            "create_time (first sight: upper bound)"
            if volume.create_time is not None and since <= volume.create_time
            else "first_seen_unattached"
        )
        age_days = (ctx.now - since).total_seconds() / 86400
        if age_days < params.days:
            continue
        actions = list(check.actions)
        if volume.size_gib == 0:  # nothing to keep
            actions.remove("snapshot_and_delete")
        result.findings.append(
            ctx.finding(
                check,
                resource_id=volume.volume_id,
                resource_arn=volume.arn,
                resource_type=check.resource_type,
                tags=volume.tags,
                monthly_savings_usd=_volume_cost(ctx.prices, ctx.region, volume),
                evidence={
                    "unattached_since": since.isoformat(),
                    "unattached_days": round(age_days, 1),
                    "age_basis": basis,
                    "thresholds": {"unattached_days_at_least": params.days},
                    "volume_type": volume.volume_type,
                    "size_gib": volume.size_gib,
                    "savings_basis": "monthly price of the volume (storage + provisioned IOPS)",
                },
                title=f"EBS {volume.volume_type} {volume.size_gib} GiB {volume.volume_id} "
                f"unattached {age_days:.0f} days",
                risk="medium",
                actions=actions,
            )
        )
    return result


class EbsGp2Params(CheckParams):
    """Parameters of ``ebs-gp2``.

    gp2 performance follows AWS's EBS volume-types page: baseline 3 IOPS/GiB (min 100, max
    16,000), bursts to 3,000 IOPS below 1,000 GiB; throughput 128 MiB/s up to 170 GiB, 250 MiB/s
    above.  gp3 includes 3,000 IOPS and 125 MiB/s; anything above is priced per IOPS-month and
    per MiB/s-month.  A volume is reported only when gp3 at equal or better IOPS and throughput
    is cheaper by more than ``min_monthly_savings_usd``.

    Example (finops.toml):
        [idle.params.ebs-gp2]
        min_monthly_savings_usd = 1.0
    """

    min_monthly_savings_usd: float = Field(0.0, ge=0, description="Report above this saving.")


def gp2_performance(size_gib: int) -> tuple[int, int]:
    """(IOPS, MiB/s) a gp2 volume of that size delivers (burst IOPS below 1 TiB).

    Example:
        >>> gp2_performance(100), gp2_performance(2000)
        ((3000, 128), (6000, 250))
    """
    baseline = min(16000, max(100, 3 * size_gib))
    iops = max(baseline, 3000) if size_gib < 1000 else baseline
    throughput = 128 if size_gib <= 170 else 250
    return iops, throughput


def gp3_equivalent(size_gib: int) -> tuple[int, int]:
    """(IOPS, MiB/s) to provision on gp3 to equal or beat a gp2 volume of that size."""
    iops, throughput = gp2_performance(size_gib)
    return max(3000, iops), max(125, throughput)


@register(
    "ebs-gp2",
    family="ebs",
    resource_type="ec2:volume",
    params=EbsGp2Params,
    needs=["volumes"],
    actions=["modify_to_gp3", "skip"],
    permissions=["ec2:DescribeVolumes"],
)
def ebs_gp2(
    inventory: Inventory, metrics: MetricFrame, params: EbsGp2Params, ctx: RuleContext
) -> CheckResult:
    """gp2 volumes that gp3 serves cheaper at equal or better IOPS and throughput.

    Large gp2 volumes need provisioned IOPS above gp3's free 3,000 (3 IOPS/GiB) and throughput
    above 125 MiB/s: both are priced in, so a volume where gp3 would not be cheaper is not
    reported.  Unknown prices: the volume is skipped with the reason.

    Example (finops.toml):
        [idle.params.ebs-gp2]
        min_monthly_savings_usd = 0
    """
    check = REGISTRY["ebs-gp2"]
    result = CheckResult()
    for volume in inventory.volumes:
        if volume.volume_type != "gp2" or ctx.excluded(volume.tags):
            continue
        gp2_cost = ebs_volume_month(ctx.prices, ctx.region, "gp2", volume.size_gib)
        iops, throughput = gp3_equivalent(volume.size_gib)
        gp3_cost = ebs_volume_month(
            ctx.prices, ctx.region, "gp3", volume.size_gib, iops, throughput
        )
        if gp2_cost is None or gp3_cost is None:
            result.skipped.append(
                ctx.skip(
                    check.name,
                    volume.volume_id,
                    f"gp2 or gp3 price unknown in {ctx.region}",
                )
            )
            continue
        saving = gp2_cost - gp3_cost
        if saving <= Decimal(str(params.min_monthly_savings_usd)):
            continue
        gp2_iops, gp2_tp = gp2_performance(volume.size_gib)
        result.findings.append(
            ctx.finding(
                check,
                resource_id=volume.volume_id,
                resource_arn=volume.arn,
                resource_type=check.resource_type,
                tags=volume.tags,
                monthly_savings_usd=saving,
                evidence={
                    "size_gib": volume.size_gib,
                    "gp2": {
                        "iops": gp2_iops,
                        "throughput_mibps": gp2_tp,
                        "monthly_usd": str(gp2_cost.quantize(Decimal("0.01"))),
                    },
                    "gp3": {
                        "iops": iops,
                        "throughput_mibps": throughput,
                        "monthly_usd": str(gp3_cost.quantize(Decimal("0.01"))),
                    },
                    "thresholds": {"min_monthly_savings_usd": params.min_monthly_savings_usd},
                    "savings_basis": "gp2 price minus gp3 price at equal or better performance",
                },
                title=f"EBS gp2 {volume.size_gib} GiB {volume.volume_id}: gp3 cheaper",
                risk="low",
            )
        )
    return result


class EbsIdleParams(DatapointParams):
    """Parameters of ``ebs-idle``.

    Defaults: Trusted Advisor's "Underutilized Amazon EBS Volumes" calls a volume underused with
    less than 1 IOPS a day over the past 7 days: here, fewer than ``max_ops_per_day`` read+write
    operations a day on average over ``days`` (7).  Volumes with fewer than ``min_days`` days of
    datapoints are skipped with a reason (no data is not proof of idleness).

    Example (finops.toml):
        [idle.params.ebs-idle]
        days = 14
        max_ops_per_day = 1
    """

    days: int = Field(7, ge=1, description="Days of CloudWatch history judged.")
    max_ops_per_day: float = Field(1.0, ge=0, description="Average read+write ops a day below.")


def _ebs_idle_metrics(
    inventory: Inventory, params: EbsIdleParams, ctx: RuleContext
) -> list[MetricRequest]:
    requests: list[MetricRequest] = []
    for volume in inventory.volumes:
        if not volume.attached or ctx.excluded(volume.tags):
            continue
        dims = (("VolumeId", volume.volume_id),)
        requests.append(
            MetricRequest(volume.volume_id, "read_ops", "AWS/EBS", "VolumeReadOps", dims, "Sum")
        )
        requests.append(
            MetricRequest(volume.volume_id, "write_ops", "AWS/EBS", "VolumeWriteOps", dims, "Sum")
        )
    return requests


@register(
    "ebs-idle",
    family="ebs",
    resource_type="ec2:volume",
    params=EbsIdleParams,
    needs=["volumes"],
    actions=["tag_for_later", "skip"],
    permissions=["ec2:DescribeVolumes", "cloudwatch:GetMetricData"],
    metrics=_ebs_idle_metrics,
)
def ebs_idle(
    inventory: Inventory, metrics: MetricFrame, params: EbsIdleParams, ctx: RuleContext
) -> CheckResult:
    """Attached EBS volumes with (near) zero reads and writes over the window.

    Judged on the daily Sum of VolumeReadOps + VolumeWriteOps: idle when their average over the
    days with data is below ``max_ops_per_day``.  Savings: the volume's monthly price.

    Example (finops.toml):
        [idle.params.ebs-idle]
        days = 7
    """
    check = REGISTRY["ebs-idle"]
    result = CheckResult()
    for volume in inventory.volumes:
        if not volume.attached or ctx.excluded(volume.tags):
            continue
        reads = metrics.get((volume.volume_id, "read_ops"), MetricSeries())
        writes = metrics.get((volume.volume_id, "write_ops"), MetricSeries())
        days_with_data = len(set(reads.timestamps) | set(writes.timestamps))
        if days_with_data < params.min_days:
            result.skipped.append(
                ctx.skip(
                    check.name,
                    volume.volume_id,
                    f"too few datapoints: {days_with_data} day(s) of VolumeReadOps/"
                    f"VolumeWriteOps in the last {params.days} days, {params.min_days} needed",
                )
            )
            continue
        total_ops = reads.total() + writes.total()
        per_day = total_ops / days_with_data
        if per_day >= params.max_ops_per_day:
            continue
        result.findings.append(
            ctx.finding(
                check,
                resource_id=volume.volume_id,
                resource_arn=volume.arn,
                resource_type=check.resource_type,
                tags=volume.tags,
                monthly_savings_usd=_volume_cost(ctx.prices, ctx.region, volume),
                evidence={
                    "window_days": params.days,
                    "period_seconds": 86400,
                    "statistics": {"VolumeReadOps": "Sum", "VolumeWriteOps": "Sum"},
                    "datapoints_used": days_with_data,
                    "total_ops": total_ops,
                    "ops_per_day": round(per_day, 3),
                    "thresholds": {"ops_per_day_below": params.max_ops_per_day},
                    "attached_to": list(volume.attached_instance_ids),
                    "savings_basis": "monthly price of the volume",
                },
                title=f"EBS {volume.volume_id} attached but idle ({per_day:.1f} ops/day)",
                risk="high",
            )
        )
    return result


class SnapshotStaleParams(CheckParams):
    """Parameters of ``snapshot-stale``.

    Default 90 days, the usual retention horizon in AWS's snapshot cost guidance (and Cloud
    Custodian's ``ebs-snapshot`` age examples): older snapshots whose volume is gone and that no
    AMI uses are rarely restored.

    Example (finops.toml):
        [idle.params.snapshot-stale]
        days = 180
    """

    days: int = Field(90, ge=1, le=3650, description="Older than this many days.")


#: AWS Backup and Data Lifecycle Manager own these snapshots; their retention rules decide.
MANAGED_SNAPSHOT_TAGS = ("aws:backup:source-resource", "aws:dlm:lifecycle-policy-id")
_AMI_IN_DESCRIPTION = re.compile(r"\bami-[0-9a-f]+\b")


@register(
    "snapshot-stale",
    family="snapshot",
    resource_type="ec2:snapshot",
    params=SnapshotStaleParams,
    needs=["snapshots", "volumes", "images"],
    actions=["delete_snapshot", "tag_for_later", "skip"],
    follow_up="delete_snapshot",
    permissions=["ec2:DescribeSnapshots", "ec2:DescribeVolumes", "ec2:DescribeImages"],
)
def snapshot_stale(
    inventory: Inventory, metrics: MetricFrame, params: SnapshotStaleParams, ctx: RuleContext
) -> CheckResult:
    """Snapshots older than ``days`` (90) whose source volume is gone and that no AMI uses.

    "Used by an AMI": the snapshot backs a block device of an AMI of the account, or its
    description names an existing AMI ("Created by CreateImage(...) for ami-...").  Snapshots
    managed by AWS Backup or DLM are skipped (their policy decides).  Savings: the snapshot's
    full size at the snapshot price — an upper bound, as snapshots are incremental.

    Example (finops.toml):
        [idle.params.snapshot-stale]
        days = 90
    """
    check = REGISTRY["snapshot-stale"]
    result = CheckResult()
    live_volumes = {v.volume_id for v in inventory.volumes}
    images = {i.image_id for i in inventory.images}
    used_by_ami = {s for image in inventory.images for s in image.snapshot_ids}
    price = ctx.prices.snapshot_gb_month(ctx.region)
    for snapshot in inventory.snapshots:
        if ctx.excluded(snapshot.tags) or snapshot.start_time is None:
            continue
        age_days = (ctx.now - snapshot.start_time).total_seconds() / 86400
        if age_days <= params.days or snapshot.volume_id in live_volumes:
            continue
        named = set(_AMI_IN_DESCRIPTION.findall(snapshot.description))
        if snapshot.snapshot_id in used_by_ami or named & images:
            continue
        if any(tag in snapshot.tags for tag in MANAGED_SNAPSHOT_TAGS):
            result.skipped.append(
                ctx.skip(
                    check.name,
                    snapshot.snapshot_id,
                    "managed by AWS Backup or DLM: its retention policy decides",
                )
            )
            continue
        result.findings.append(
            ctx.finding(
                check,
                resource_id=snapshot.snapshot_id,
                resource_arn=snapshot.arn,
                resource_type=check.resource_type,
                tags=snapshot.tags,
                monthly_savings_usd=None if price is None else price * snapshot.volume_size_gib,
                evidence={
                    "age_days": round(age_days, 1),
                    "started": snapshot.start_time.isoformat(),
                    "source_volume": snapshot.volume_id,
                    "source_volume_exists": False,
                    "used_by_ami": False,
                    "size_gib": snapshot.volume_size_gib,
                    "thresholds": {"age_days_more_than": params.days},
                    "savings_basis": "full snapshot size x snapshot price (upper bound)",
                },
                title=f"Snapshot {snapshot.snapshot_id} ({snapshot.volume_size_gib} GiB) "
                f"{age_days:.0f} days old, volume gone, no AMI",
                risk="medium",
            )
        )
    return result
