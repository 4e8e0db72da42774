"""EC2 checks: idle instances (Trusted Advisor's low-utilisation rule, or a stricter peak rule)
and instances stopped for long while their volumes are still billed."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field

from tasks.aws.records import Instance, Inventory, MetricFrame, MetricRequest, MetricSeries
from tasks.idle.registry import (
    REGISTRY,
    CheckParams,
    CheckResult,
    DatapointParams,
    RuleContext,
    register,
)
from tasks.pricing.book import ebs_volume_month, monthly

MB = 1_000_000  # CloudWatch and Trusted Advisor count network "MB" in decimal megabytes


class Ec2IdleParams(DatapointParams):
    """Parameters of ``ec2-idle``.

    Defaults: AWS Trusted Advisor "Low Utilization Amazon EC2 Instances" flags an instance whose
    daily average CPU was 10% or less and daily network I/O 5 MB or less on 4 or more of the
    last 14 days.  ``mode: peak`` is stricter, in the spirit of Compute Optimizer's idle
    findings (judged on the Maximum statistic): every day of the window must have its maximum CPU
    below ``peak_cpu_percent`` and its network below ``peak_network_mb_per_day``, so an
    instance with short bursts is never called idle.  Instances with fewer than ``min_days``
    days of datapoints are skipped with a reason (Compute Optimizer likewise refuses to judge
    with less than 30 hours of data in 14 days).

    Example (finops.toml):
        [idle.params.ec2-idle]
        mode = "peak"
        peak_cpu_percent = 5.0
    """

    mode: Literal["average", "peak"] = Field("average", description="average (TA) or peak.")
    max_cpu_percent: float = Field(10.0, ge=0, le=100, description="TA daily average CPU, %.")
    max_network_mb_per_day: float = Field(5.0, ge=0, description="TA daily network in+out, MB.")
    min_low_days: int = Field(4, ge=1, description="TA: low days needed within the window.")
    peak_cpu_percent: float = Field(5.0, ge=0, le=100, description="peak: daily max CPU below.")
    peak_network_mb_per_day: float = Field(5.0, ge=0, description="peak: daily in+out below, MB.")
    min_days: int = Field(7, ge=1, description="Days with datapoints needed to judge at all.")

    def check_rules(self) -> None:
        super().check_rules()
        if self.min_low_days > self.days:
            raise ValueError(
                f"min_low_days={self.min_low_days} exceeds the window days={self.days}"
            )


def _ec2_idle_metrics(
    inventory: Inventory, params: Ec2IdleParams, ctx: RuleContext
) -> list[MetricRequest]:
    requests: list[MetricRequest] = []
    for instance in inventory.instances:
        if instance.state != "running" or ctx.excluded(instance.tags):
            continue
        dims = (("InstanceId", instance.instance_id),)
        cpu_stat = "Maximum" if params.mode == "peak" else "Average"
        for key, metric, stat in (
            ("cpu", "CPUUtilization", cpu_stat),
            ("net_in", "NetworkIn", "Sum"),
            ("net_out", "NetworkOut", "Sum"),
        ):
            requests.append(MetricRequest(instance.instance_id, key, "AWS/EC2", metric, dims, stat))
    return requests


def daily_network(metrics: MetricFrame, resource_id: str) -> dict[datetime, float]:
    """Daily NetworkIn + NetworkOut bytes by day start (a day missing one side counts the other)."""
    total: dict[datetime, float] = {}
    for key in ("net_in", "net_out"):
        series = metrics.get((resource_id, key), MetricSeries())
        for ts, value in zip(series.timestamps, series.values, strict=True):
            total[ts] = total.get(ts, 0.0) + value
    return total


@register(
    "ec2-idle",
    family="ec2",
    resource_type="ec2:instance",
    params=Ec2IdleParams,
    needs=["instances"],
    actions=["stop", "stop_with_image", "tag_for_later", "terminate", "skip"],
    follow_up="stop",
    permissions=["ec2:DescribeInstances", "cloudwatch:GetMetricData"],
    metrics=_ec2_idle_metrics,
)
def ec2_idle(
    inventory: Inventory, metrics: MetricFrame, params: Ec2IdleParams, ctx: RuleContext
) -> CheckResult:
    """Running EC2 instances doing (almost) nothing: their whole compute price is the saving.

    ``average`` mode (default, Trusted Advisor): flagged when at least 4 of the last 14 days had
    daily average CPU <= 10% and daily network in+out <= 5 MB.  ``peak`` mode: flagged only when
    every day with data had maximum CPU < ``peak_cpu_percent`` and network <
    ``peak_network_mb_per_day``.  Too few days with datapoints: skipped, with the reason.

    Example (finops.toml):
        [idle.params.ec2-idle]
        days = 14
        max_cpu_percent = 10.0
    """
    check = REGISTRY["ec2-idle"]
    result = CheckResult()
    for instance in inventory.instances:
        if instance.state != "running" or ctx.excluded(instance.tags):
            continue
        cpu = metrics.get((instance.instance_id, "cpu"), MetricSeries())
        network = daily_network(metrics, instance.instance_id)
        days_with_data = len(cpu)
        if days_with_data < params.min_days:
            result.skipped.append(
                ctx.skip(
                    check.name,
                    instance.instance_id,
                    f"too few datapoints: {days_with_data} day(s) of CPUUtilization in the last "
                    f"{params.days} days, {params.min_days} needed",
                )
            )
            continue
        daily = [
            (ts, cpu_value, network.get(ts, 0.0))
            for ts, cpu_value in zip(cpu.timestamps, cpu.values, strict=True)
        ]
        if params.mode == "peak":
            cpu_limit, net_limit = params.peak_cpu_percent, params.peak_network_mb_per_day * MB
            quiet_days = [d for d in daily if d[1] < cpu_limit and d[2] < net_limit]
            idle = len(quiet_days) == len(daily)
            thresholds = {
                "mode": "peak",
                "max_cpu_percent_below": cpu_limit,
                "network_bytes_per_day_below": net_limit,
                "every_day": True,
            }
            cpu_stat = "Maximum"
        else:
            cpu_limit, net_limit = params.max_cpu_percent, params.max_network_mb_per_day * MB
            quiet_days = [d for d in daily if d[1] <= cpu_limit and d[2] <= net_limit]
            idle = len(quiet_days) >= params.min_low_days
            thresholds = {
                "mode": "average",
                "daily_avg_cpu_percent_at_most": cpu_limit,
                "network_bytes_per_day_at_most": net_limit,
                "low_days_needed": params.min_low_days,
            }
            cpu_stat = "Average"
        if not idle:
            continue
        price = monthly(ctx.prices.ec2_instance_hour(ctx.region, instance.instance_type))
        evidence = {
            "window_days": params.days,
            "period_seconds": 86400,
            "statistics": {"CPUUtilization": cpu_stat, "NetworkIn+NetworkOut": "Sum"},
            "datapoints_used": days_with_data,
            "low_days": len(quiet_days),
            "thresholds": thresholds,
            "max_daily_cpu_percent": round(max(d[1] for d in daily), 3),
            "max_daily_network_bytes": round(max(d[2] for d in daily), 1),
            "instance_type": instance.instance_type,
            "savings_basis": "on-demand compute price of the instance (730 h)",
        }
        result.findings.append(
            ctx.finding(
                check,
                resource_id=instance.instance_id,
                resource_arn=instance.arn,
                resource_type=check.resource_type,
                tags=instance.tags,
                monthly_savings_usd=price,
                evidence=evidence,
                title=f"EC2 {instance.instance_type} {instance.instance_id} idle "
                f"{len(quiet_days)}/{days_with_data} days",
                risk="medium",
            )
        )
    return result


class Ec2StoppedParams(CheckParams):
    """Parameters of ``ec2-stopped``.

    Default 30 days: a stopped instance costs nothing for compute but its EBS volumes (and any
    Elastic IP) are still billed; AWS's cost-optimisation guidance (Trusted Advisor's "Amazon
    EC2 instances stopped" check) flags instances stopped for more than 30 days.

    Example (finops.toml):
        [idle.params.ec2-stopped]
        days = 60
    """

    days: int = Field(30, ge=1, le=3650, description="Stopped for more than this many days.")


#: "User initiated (2016-06-24 20:22:50 GMT)" — the only place EC2 reports when it stopped.
_TRANSITION_TIME = re.compile(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) GMT\)")


def stopped_since(instance: Instance) -> datetime | None:
    """When an instance stopped, from its StateTransitionReason, or None when not stated.

    Example:
        >>> i = Instance("1", "r", "i-1", "t3.micro", "stopped", None,
        ...              "User initiated (2016-06-24 20:22:50 GMT)")
        >>> stopped_since(i).isoformat()
        '2016-06-24T20:22:50+00:00'
    """
    match = _TRANSITION_TIME.search(instance.state_transition_reason or "")
    if not match:
        return None
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


@register(
    "ec2-stopped",
    family="ec2",
    resource_type="ec2:instance",
    params=Ec2StoppedParams,
    needs=["instances", "volumes"],
    actions=["tag_for_later", "terminate", "skip"],
    permissions=["ec2:DescribeInstances", "ec2:DescribeVolumes"],
)
def ec2_stopped(
    inventory: Inventory, metrics: MetricFrame, params: Ec2StoppedParams, ctx: RuleContext
) -> CheckResult:
    """Instances stopped for more than ``days`` (default 30) that still pay for EBS volumes.

    The stop time comes from StateTransitionReason ("User initiated (YYYY-MM-DD hh:mm:ss GMT)");
    an instance whose reason carries no date is skipped with that reason.  Savings: the monthly
    price of its attached volumes (what terminating after a snapshot stops paying).

    Example (finops.toml):
        [idle.params.ec2-stopped]
        days = 30
    """
    check = REGISTRY["ec2-stopped"]
    result = CheckResult()
    volumes = {v.volume_id: v for v in inventory.volumes}
    for instance in inventory.instances:
        if instance.state != "stopped" or ctx.excluded(instance.tags):
            continue
        since = stopped_since(instance)
        if since is None:
            result.skipped.append(
                ctx.skip(
                    check.name,
                    instance.instance_id,
                    "stop time unknown: StateTransitionReason carries no date",
                )
            )
            continue
        stopped_days = (ctx.now - since).total_seconds() / 86400
        attached = [volumes[v] for v in instance.volume_ids if v in volumes]
        if stopped_days <= params.days or not attached:
            continue
        costs = [
            ebs_volume_month(
                ctx.prices, ctx.region, v.volume_type, v.size_gib, v.iops, v.throughput_mibps
            )
            for v in attached
        ]
        known = [c for c in costs if c is not None]
        savings = sum(known, Decimal(0)) if len(known) == len(costs) else None
        result.findings.append(
            ctx.finding(
                check,
                resource_id=instance.instance_id,
                resource_arn=instance.arn,
                resource_type=check.resource_type,
                tags=instance.tags,
                monthly_savings_usd=savings,
                evidence={
                    "stopped_since": since.isoformat(),
                    "stopped_days": round(stopped_days, 1),
                    "thresholds": {"stopped_days_more_than": params.days},
                    "volumes": [
                        {"volume_id": v.volume_id, "type": v.volume_type, "size_gib": v.size_gib}
                        for v in attached
                    ],
                    "savings_basis": "monthly price of the attached EBS volumes",
                },
                title=f"EC2 {instance.instance_id} stopped {stopped_days:.0f} days, "
                f"{len(attached)} volume(s) billed",
                risk="medium",
            )
        )
    return result
