"""Network checks: unassociated Elastic IPs, idle load balancers, idle NAT gateways."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from tasks.aws.records import Inventory, MetricFrame, MetricRequest, MetricSeries
from tasks.idle.registry import (
    REGISTRY,
    CheckParams,
    CheckResult,
    DatapointParams,
    MetricParams,
    RuleContext,
    register,
)
from tasks.pricing.book import monthly


class EipParams(CheckParams):
    """``eip-unassociated`` has no parameters: since 2024-02-01 AWS bills every public IPv4
    address $0.005 an hour, and an Elastic IP associated with nothing serves nobody.

    Example (finops.toml):
        [idle.params.eip-unassociated]
    """


@register(
    "eip-unassociated",
    family="eip",
    resource_type="ec2:elastic-ip",
    params=EipParams,
    needs=["addresses"],
    actions=["release", "skip"],
    permissions=["ec2:DescribeAddresses"],
)
def eip_unassociated(
    inventory: Inventory, metrics: MetricFrame, params: EipParams, ctx: RuleContext
) -> CheckResult:
    """Elastic IPs associated with no instance and no network interface.

    Example (finops.toml):
        [idle.params.eip-unassociated]
    """
    check = REGISTRY["eip-unassociated"]
    result = CheckResult()
    price = monthly(ctx.prices.eip_hour(ctx.region))
    for address in inventory.addresses:
        if address.association_id or address.instance_id or address.network_interface_id:
            continue
        if ctx.excluded(address.tags):
            continue
        result.findings.append(
            ctx.finding(
                check,
                resource_id=address.allocation_id,
                resource_arn=address.arn,
                resource_type=check.resource_type,
                tags=address.tags,
                monthly_savings_usd=price,
                evidence={
                    "public_ip": address.public_ip,
                    "associated": False,
                    "savings_basis": "public IPv4 hourly price x 730 h",
                },
                title=f"Elastic IP {address.public_ip} associated with nothing",
                risk="low",
            )
        )
    return result


def _young(created: datetime | None, now: datetime, days: int) -> bool:
    return created is not None and (now - created).total_seconds() < days * 86400


class ElbIdleParams(MetricParams):
    """Parameters of ``elb-idle``.

    Defaults: Trusted Advisor's "Idle Load Balancers" flags a load balancer with no healthy
    back-end targets or fewer than 100 requests a day; here over 14 days (the window of the
    other idle checks).  NLBs have no request count: their daily ProcessedBytes must stay below
    ``max_processed_bytes_per_day`` (default 1 MB).  ALB/NLB/Classic metrics are published only
    when there is traffic, so no datapoints means no traffic (a documented decision); load
    balancers younger than the window are skipped.

    Example (finops.toml):
        [idle.params.elb-idle]
        days = 14
        max_requests_per_day = 100
    """

    max_requests_per_day: float = Field(100.0, ge=0, description="ALB/Classic requests a day.")
    max_processed_bytes_per_day: float = Field(1_000_000.0, ge=0, description="NLB bytes a day.")


_ELB_METRIC = {
    "application": ("AWS/ApplicationELB", "RequestCount"),
    "classic": ("AWS/ELB", "RequestCount"),
    "network": ("AWS/NetworkELB", "ProcessedBytes"),
}


def _elb_idle_metrics(
    inventory: Inventory, params: ElbIdleParams, ctx: RuleContext
) -> list[MetricRequest]:
    requests = []
    for lb in inventory.load_balancers:
        if lb.kind not in _ELB_METRIC or ctx.excluded(lb.tags):
            continue
        namespace, metric = _ELB_METRIC[lb.kind]
        requests.append(
            MetricRequest(lb.arn, "traffic", namespace, metric, (lb.metric_dimension,), "Sum")
        )
    return requests


@register(
    "elb-idle",
    family="elb",
    resource_type="elasticloadbalancing:loadbalancer",
    params=ElbIdleParams,
    needs=["load_balancers"],
    actions=["tag_for_later", "skip"],
    permissions=[
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
        "elasticloadbalancing:DescribeInstanceHealth",
        "elasticloadbalancing:DescribeTags",
        "cloudwatch:GetMetricData",
    ],
    metrics=_elb_idle_metrics,
)
def elb_idle(
    inventory: Inventory, metrics: MetricFrame, params: ElbIdleParams, ctx: RuleContext
) -> CheckResult:
    """ALB, NLB and Classic load balancers with no healthy targets, or traffic below threshold.

    Traffic: the Sum of RequestCount (ALB, Classic) or ProcessedBytes (NLB) over ``days``,
    divided by ``days``, below ``max_requests_per_day`` / ``max_processed_bytes_per_day``.
    Target health counts only when it is known: a load balancer with nothing registered to ask
    about (``healthy_targets`` None: a Classic one with no instances, an ALB/NLB with no target
    group) is judged by its traffic alone, so one still serving requests is not idle.
    Savings: the load balancer's hourly price x 730 (capacity units are extra and not counted).

    Example (finops.toml):
        [idle.params.elb-idle]
        max_processed_bytes_per_day = 1000000
    """
    check = REGISTRY["elb-idle"]
    result = CheckResult()
    for lb in inventory.load_balancers:
        if lb.kind not in _ELB_METRIC or ctx.excluded(lb.tags):
            continue
        no_healthy = lb.healthy_targets == 0
        if not no_healthy and _young(lb.created, ctx.now, params.days):
            result.skipped.append(
                ctx.skip(
                    check.name,
                    lb.name,
                    f"created less than {params.days} days ago: traffic not yet judgeable",
                )
            )
            continue
        series = metrics.get((lb.arn, "traffic"), MetricSeries())
        per_day = series.total() / params.days
        _namespace, metric = _ELB_METRIC[lb.kind]
        limit = (
            params.max_processed_bytes_per_day
            if lb.kind == "network"
            else params.max_requests_per_day
        )
        low_traffic = per_day < limit
        if not (no_healthy or low_traffic):
            continue
        reasons = []
        if no_healthy:
            reasons.append("no healthy targets")
        if low_traffic:
            reasons.append(f"{metric} {per_day:.1f}/day")
        result.findings.append(
            ctx.finding(
                check,
                resource_id=lb.name,
                resource_arn=lb.arn,
                resource_type=check.resource_type,
                tags=lb.tags,
                monthly_savings_usd=monthly(ctx.prices.lb_hour(ctx.region, lb.kind)),
                evidence={
                    "kind": lb.kind,
                    "window_days": params.days,
                    "period_seconds": 86400,
                    "statistics": {metric: "Sum"},
                    "datapoints_used": len(series),
                    "total": series.total(),
                    "per_day": round(per_day, 3),
                    "healthy_targets": lb.healthy_targets,
                    "registered_targets": lb.registered_targets,
                    "thresholds": {f"{metric}_per_day_below": limit, "healthy_targets": 0},
                    "reasons": reasons,
                    "savings_basis": "load balancer hourly price x 730 h (LCUs not counted)",
                },
                title=f"{lb.kind} load balancer {lb.name} idle: {', '.join(reasons)}",
                risk="medium",
            )
        )
    return result


class NatIdleParams(DatapointParams):
    """Parameters of ``nat-idle``.

    Default: BytesOutToDestination below 1 MB a day on average over 14 days; Trusted Advisor's
    "Inactive NAT Gateways" check treats a gateway that moves no traffic as unused.  NAT gateway
    metrics are published every minute, so missing datapoints mean the gateway cannot be
    judged: it is skipped with the reason.

    Example (finops.toml):
        [idle.params.nat-idle]
        max_bytes_per_day = 1000000
    """

    max_bytes_per_day: float = Field(1_000_000.0, ge=0, description="Bytes out a day below.")


def _nat_idle_metrics(
    inventory: Inventory, params: NatIdleParams, ctx: RuleContext
) -> list[MetricRequest]:
    return [
        MetricRequest(
            nat.nat_gateway_id,
            "bytes_out",
            "AWS/NATGateway",
            "BytesOutToDestination",
            (("NatGatewayId", nat.nat_gateway_id),),
            "Sum",
        )
        for nat in inventory.nat_gateways
        if nat.state == "available" and not ctx.excluded(nat.tags)
    ]


@register(
    "nat-idle",
    family="nat",
    resource_type="ec2:natgateway",
    params=NatIdleParams,
    needs=["nat_gateways"],
    actions=["tag_for_later", "skip"],
    permissions=["ec2:DescribeNatGateways", "cloudwatch:GetMetricData"],
    metrics=_nat_idle_metrics,
)
def nat_idle(
    inventory: Inventory, metrics: MetricFrame, params: NatIdleParams, ctx: RuleContext
) -> CheckResult:
    """Available NAT gateways whose BytesOutToDestination stays below the daily threshold.

    Savings: the gateway's hourly price x 730 (data processing charges are extra).

    Example (finops.toml):
        [idle.params.nat-idle]
        days = 14
    """
    check = REGISTRY["nat-idle"]
    result = CheckResult()
    for nat in inventory.nat_gateways:
        if nat.state != "available" or ctx.excluded(nat.tags):
            continue
        series = metrics.get((nat.nat_gateway_id, "bytes_out"), MetricSeries())
        if len(series) < params.min_days:
            result.skipped.append(
                ctx.skip(
                    check.name,
                    nat.nat_gateway_id,
                    f"too few datapoints: {len(series)} day(s) of BytesOutToDestination, "
                    f"{params.min_days} needed",
                )
            )
            continue
        per_day = series.total() / len(series)
        if per_day >= params.max_bytes_per_day:
            continue
        result.findings.append(
            ctx.finding(
                check,
                resource_id=nat.nat_gateway_id,
                resource_arn=nat.arn,
                resource_type=check.resource_type,
                tags=nat.tags,
                monthly_savings_usd=monthly(ctx.prices.nat_gateway_hour(ctx.region)),
                evidence={
                    "window_days": params.days,
                    "period_seconds": 86400,
                    "statistics": {"BytesOutToDestination": "Sum"},
                    "datapoints_used": len(series),
                    "total_bytes": series.total(),
                    "bytes_per_day": round(per_day, 1),
                    "thresholds": {"bytes_per_day_below": params.max_bytes_per_day},
                    "savings_basis": "NAT gateway hourly price x 730 h",
                },
                title=f"NAT gateway {nat.nat_gateway_id} idle ({per_day:.0f} bytes/day out)",
                risk="medium",
            )
        )
    return result
