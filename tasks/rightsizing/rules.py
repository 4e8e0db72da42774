"""The ``ec2-rightsize`` check: our own EC2 rule, merged with AWS's optimisers into one finding.

Our rule reads 14 days of CloudWatch (daily p95 and maximum CPU, daily network, and the
CloudWatch agent's ``mem_used_percent`` when it is published) and proposes the cheapest type of
the catalogue (:mod:`tasks.rightsizing.catalog`) with the same architecture and platform
features whose capacity keeps the peak under the headroom; AWS's Compute Optimizer and Cost
Optimization Hub recommendations (read org-wide before the scan, carried by
:class:`~tasks.rightsizing.model.AdvisedContext`) are the other sources.  One instance gives at
most one finding, naming every source and whether they agree; an instance the idle rule
(``ec2-idle`` at its defaults) calls idle gives none (idle is cleanup's finding, not ours).

Pure: no boto3, no Prefect.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field

from tasks.aws.records import Instance, Inventory, MetricFrame, MetricRequest, MetricSeries
from tasks.idle.registry import REGISTRY, CheckResult, DatapointParams, RuleContext, register
from tasks.idle.rules_compute import Ec2IdleParams, daily_network, ec2_idle
from tasks.pricing.book import monthly
from tasks.rightsizing.catalog import CATALOG, InstanceSpec, spec
from tasks.rightsizing.model import AdvisedContext, AwsRecommendation, OptimizerAdvice

CHECK = "ec2-rightsize"


class Ec2RightsizeParams(DatapointParams):
    """Parameters of ``ec2-rightsize``.

    Defaults follow Compute Optimizer's own: a 14-day look-back, the p95 of CPU judged against
    the candidate's capacity with headroom, and memory only when the CloudWatch agent publishes
    it.  The p95 read is the highest daily p95 of the window, which is never below the window's
    own p95 (a day's p95 cannot all sit under the whole window's).

    * ``cpu_p95_percent``: the p95 CPU, projected onto the candidate's vCPUs, stays at most this.
    * ``cpu_max_percent``: the highest daily maximum, projected likewise, stays at most this.
    * ``memory_percent``: the highest daily maximum of ``mem_used_percent``, projected onto the
      candidate's memory, stays at most this.  Without memory data the candidate keeps at least
      the current memory (CPU alone never shrinks memory).
    * ``network_percent``: the busiest day's average network throughput stays at most this
      share of the candidate's baseline bandwidth.
    * A burstable type is proposed only to replace a burstable one (a steady workload on credits
      costs more than its list price says).

    Example (finops.toml):
        [idle.params.ec2-rightsize]
        cpu_p95_percent = 70.0
        memory_percent = 75.0
    """

    cpu_p95_percent: float = Field(80.0, gt=0, le=100, description="Projected p95 CPU at most.")
    cpu_max_percent: float = Field(95.0, gt=0, le=100, description="Projected max CPU at most.")
    memory_percent: float = Field(80.0, gt=0, le=100, description="Projected peak memory at most.")
    network_percent: float = Field(80.0, gt=0, le=100, description="Busiest day's network share.")
    min_days: int = Field(7, ge=1, description="Days with CPU datapoints needed to judge.")


#: Baseline network bandwidth, Gbit/s, by size (EC2 instance-type specifications, rounded down).
_BASELINE_GBPS = {"nano": 0.03, "micro": 0.06, "small": 0.12, "medium": 0.25, "large": 0.75}
_BASELINE_GBPS |= {"xlarge": 1.25, "2xlarge": 2.5, "4xlarge": 5.0}


def baseline_gbps(instance_type: str) -> float:
    """Baseline bandwidth of a type (10 Gbit/s above 4xlarge).

    Example:
        >>> baseline_gbps("m5.large"), baseline_gbps("m5.24xlarge")
        (0.75, 10.0)
    """
    return _BASELINE_GBPS.get(instance_type.split(".", 1)[-1], 10.0)


def _metrics(
    inventory: Inventory, params: Ec2RightsizeParams, ctx: RuleContext
) -> list[MetricRequest]:
    requests: list[MetricRequest] = []
    for instance in inventory.instances:
        if instance.state != "running" or ctx.excluded(instance.tags):
            continue
        dims = (("InstanceId", instance.instance_id),)
        for key, namespace, metric, stat in (
            ("cpu", "AWS/EC2", "CPUUtilization", "Average"),  # the idle rule's own reads
            ("net_in", "AWS/EC2", "NetworkIn", "Sum"),
            ("net_out", "AWS/EC2", "NetworkOut", "Sum"),
            ("cpu_p95", "AWS/EC2", "CPUUtilization", "p95"),
            ("cpu_max", "AWS/EC2", "CPUUtilization", "Maximum"),
            ("mem_max", "CWAgent", "mem_used_percent", "Maximum"),
        ):
            requests.append(MetricRequest(instance.instance_id, key, namespace, metric, dims, stat))
    return requests


def _peak(metrics: MetricFrame, instance_id: str, key: str) -> float | None:
    series = metrics.get((instance_id, key), MetricSeries())
    return max(series.values) if series.values else None


def choose_type(
    current: InstanceSpec,
    cpu_p95: float,
    cpu_max: float,
    memory_max: float | None,
    network_bytes_per_day: float,
    params: Ec2RightsizeParams,
    price: Any,
) -> tuple[InstanceSpec | None, dict[str, Any]]:
    """The cheapest type that keeps the peaks under the headroom, or None (keep the type).

    Args:
        current: the instance's type.
        cpu_p95: p95 CPU % on the current type; ``cpu_max`` its maximum.
        memory_max: peak ``mem_used_percent``, or None without the CloudWatch agent.
        network_bytes_per_day: the busiest day's NetworkIn + NetworkOut bytes.
        params: the headroom.
        price: ``type -> hourly USD or None`` (unknown prices are never chosen).

    Returns:
        (the type or None, what was required: vCPUs, memory, bandwidth, and the basis).

    Example:
        >>> prices = {"m5.2xlarge": 0.384, "m5.large": 0.096, "r5.large": 0.126}
        >>> chosen, need = choose_type(spec("m5.2xlarge"), 13.5, 14.0, 15.0, 1e9,
        ...                            Ec2RightsizeParams(), prices.get)
        >>> chosen.name, need["vcpus"], need["memory_gib"]
        ('m5.large', 1.35, 6.0)
        >>> choose_type(spec("r5.xlarge"), 8.0, 9.0, None, 1e9, Ec2RightsizeParams(),
        ...             {"r5.xlarge": 0.252, "r5.large": 0.126}.get)[0] is None
        True
    """
    vcpus = max(
        current.vcpus * cpu_p95 / params.cpu_p95_percent,
        current.vcpus * cpu_max / params.cpu_max_percent,
    )
    if memory_max is None:
        memory = current.memory_gib
        memory_basis = "no mem_used_percent: at least the current memory"
    else:
        memory = current.memory_gib * memory_max / params.memory_percent
        memory_basis = f"peak mem_used_percent {memory_max:.1f}% with {params.memory_percent}% cap"
    gbps = network_bytes_per_day * 8 / 86400 / 1e9 / (params.network_percent / 100)
    required = {
        "vcpus": round(vcpus, 2),
        "memory_gib": round(memory, 2),
        "network_gbps": round(gbps, 4),
        "memory_basis": memory_basis,
    }
    current_price = price(current.name)
    if current_price is None:
        return None, {**required, "note": f"no price for {current.name}"}
    fits = []
    for candidate in CATALOG.values():
        candidate_price = price(candidate.name)
        if (
            candidate_price is None
            or candidate.features() != current.features()
            or (candidate.burstable and not current.burstable)
            or candidate.vcpus < vcpus
            or candidate.memory_gib < memory
            or baseline_gbps(candidate.name) < gbps
            or Decimal(str(candidate_price)) >= Decimal(str(current_price))
        ):
            continue
        same_family = candidate.family == current.family
        fits.append(
            (Decimal(str(candidate_price)), not same_family, candidate.vcpus, candidate.name)
        )
    if not fits:
        return None, required
    return CATALOG[min(fits)[3]], required


def _own_verdict(
    instance: Instance, metrics: MetricFrame, params: Ec2RightsizeParams, ctx: RuleContext
) -> tuple[str | None, dict[str, Any], str | None]:
    """(recommended type or None, evidence, skip reason or None) of our own rule."""
    current = spec(instance.instance_type)
    if current is None:
        return None, {}, f"instance type {instance.instance_type} is not in the catalogue"
    days = len(metrics.get((instance.instance_id, "cpu_p95"), MetricSeries()))
    if days < params.min_days:
        return (
            None,
            {},
            (
                f"too few datapoints: {days} day(s) of CPUUtilization p95 in the last "
                f"{params.days} days, {params.min_days} needed"
            ),
        )
    cpu_p95 = _peak(metrics, instance.instance_id, "cpu_p95") or 0.0
    cpu_max = _peak(metrics, instance.instance_id, "cpu_max") or cpu_p95
    memory_max = _peak(metrics, instance.instance_id, "mem_max")
    network = max(daily_network(metrics, instance.instance_id).values(), default=0.0)

    def price(name: str) -> Decimal | None:
        return ctx.prices.ec2_instance_hour(ctx.region, name)

    chosen, required = choose_type(current, cpu_p95, cpu_max, memory_max, network, params, price)
    evidence = {
        "window_days": params.days,
        "period_seconds": 86400,
        "datapoints_used": days,
        "statistics": {
            "CPUUtilization": "p95 and Maximum (highest daily)",
            "CWAgent mem_used_percent": "Maximum (highest daily)"
            if memory_max is not None
            else "not published",
            "NetworkIn+NetworkOut": "Sum (busiest day)",
        },
        "cpu_p95_percent": round(cpu_p95, 2),
        "cpu_max_percent": round(cpu_max, 2),
        "memory_max_percent": None if memory_max is None else round(memory_max, 2),
        "busiest_day_network_bytes": round(network, 1),
        "headroom": {
            "cpu_p95_percent": params.cpu_p95_percent,
            "cpu_max_percent": params.cpu_max_percent,
            "memory_percent": params.memory_percent,
            "network_percent": params.network_percent,
        },
        "required": required,
        "current": {"type": current.name, "vcpus": current.vcpus, "memory_gib": current.memory_gib},
    }
    if chosen is not None:
        evidence["proposed"] = {
            "type": chosen.name,
            "vcpus": chosen.vcpus,
            "memory_gib": chosen.memory_gib,
        }
    return (chosen.name if chosen else None), evidence, None


def _aws_side(
    advice: OptimizerAdvice, instance: Instance
) -> tuple[list[AwsRecommendation], list[str]]:
    recommendations = advice.for_instance(
        instance.account_id, instance.region, instance.instance_id
    )
    return [r for r in recommendations if r.saves], advice.consulted(instance.account_id)


@register(
    CHECK,
    family="ec2-rightsize",
    resource_type="ec2:instance",
    params=Ec2RightsizeParams,
    needs=["instances"],
    actions=["resize", "skip"],
    permissions=[
        "ec2:DescribeInstances",
        "cloudwatch:GetMetricData",
        "compute-optimizer:GetEnrollmentStatus",
        "compute-optimizer:GetEnrollmentStatusesForOrganization",
        "compute-optimizer:GetEC2InstanceRecommendations",
        "cost-optimization-hub:ListEnrollmentStatuses",
        "cost-optimization-hub:ListRecommendations",
    ],
    metrics=_metrics,
)
def ec2_rightsize(
    inventory: Inventory, metrics: MetricFrame, params: Ec2RightsizeParams, ctx: RuleContext
) -> CheckResult:
    """Running EC2 instances larger than their work: one finding per instance, every source.

    Sources: our rule (see :class:`Ec2RightsizeParams`), Compute Optimizer and Cost
    Optimization Hub (when the account is enrolled).  The finding proposes our type when our
    rule finds one (its savings are list-price differences), else AWS's (savings after
    discounts when the Hub states them); ``evidence.sources`` names who recommends what and
    ``evidence.agree`` whether they agree (None when only one side could speak).  Idle instances
    (``ec2-idle`` at its defaults) are skipped: cleanup reports them.  An architecture change
    (Graviton) is reported but offers only ``skip``: it needs a new image, not a resize.

    Example (finops.toml):
        [idle.params.ec2-rightsize]
        days = 14
        cpu_p95_percent = 80.0
    """
    check = REGISTRY[CHECK]
    advice = ctx.advice if isinstance(ctx, AdvisedContext) else OptimizerAdvice()
    result = CheckResult()
    idle_ids = {f.resource_id for f in ec2_idle(inventory, metrics, Ec2IdleParams(), ctx).findings}
    for instance in inventory.instances:
        if instance.state != "running" or ctx.excluded(instance.tags):
            continue
        if instance.instance_id in idle_ids:
            result.skipped.append(
                ctx.skip(CHECK, instance.instance_id, "idle: ec2-idle reports it, not rightsized")
            )
            continue
        ours, evidence, why_not = _own_verdict(instance, metrics, params, ctx)
        aws, consulted = _aws_side(advice, instance)
        if ours is None and not aws:
            if why_not:
                result.skipped.append(ctx.skip(CHECK, instance.instance_id, why_not))
            continue
        sources: dict[str, Any] = {}
        if ours is not None or why_not is None:
            sources["own"] = {"recommended_type": ours or instance.instance_type}
        for rec in aws:
            sources[rec.source] = {
                "recommended_type": rec.recommended_type,
                "finding": rec.finding,
                "monthly_savings_usd": str(rec.monthly_savings_usd),
                "savings_basis": rec.savings_basis,
                **({"recommendation_id": rec.recommendation_id} if rec.recommendation_id else {}),
            }
        proposed_types = {s["recommended_type"] for s in sources.values()}
        # no AWS optimiser enrolled for the account: nobody to agree with
        agree = None if not consulted else len(sources) > 1 and len(proposed_types) == 1
        target = ours or aws[0].recommended_type
        hub = [
            r for r in aws if r.recommended_type == target and r.savings_basis == "after discounts"
        ]
        if ours is not None and not hub:
            now_price = monthly(ctx.prices.ec2_instance_hour(ctx.region, instance.instance_type))
            new_price = monthly(ctx.prices.ec2_instance_hour(ctx.region, ours))
            savings = None if now_price is None or new_price is None else now_price - new_price
            basis = "on-demand list price difference (730 h), before any RI/SP discount"
            rates = ctx.effective_rates if isinstance(ctx, AdvisedContext) else {}
            rate = rates.get((instance.account_id, instance.region))
            if savings is not None and rate is not None:
                savings *= rate
                basis = (
                    f"list price difference (730 h) x effective rate {rate} (EC2 compute "
                    "effective / list cost in the cost store, last 30 days: RI/SP coverage)"
                )
        elif hub:
            savings, basis = hub[0].monthly_savings_usd, "Cost Optimization Hub, after discounts"
        else:
            savings, basis = aws[0].monthly_savings_usd, f"{aws[0].source}, {aws[0].savings_basis}"
        target_spec, current_spec = spec(target), spec(instance.instance_type)
        architecture_change = bool(
            target_spec is None
            or current_spec is None
            or target_spec.architecture != current_spec.architecture
        )
        evidence.update(
            {
                "instance_type": instance.instance_type,
                "recommended_type": target,
                "sources": sources,
                "agree": agree,
                "aws_optimisers_consulted": consulted,
                "architecture_change": architecture_change,
                "savings_basis": basis,
            }
        )
        result.findings.append(
            ctx.finding(
                check,
                resource_id=instance.instance_id,
                resource_arn=instance.arn,
                resource_type=check.resource_type,
                tags=instance.tags,
                monthly_savings_usd=savings,
                evidence=evidence,
                title=f"EC2 {instance.instance_type} {instance.instance_id}: resize to {target}",
                risk="medium" if architecture_change else "low",
                actions=["skip"] if architecture_change else None,
            )
        )
    return result
