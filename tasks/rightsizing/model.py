"""What AWS's optimisers said, as the rightsizing rule reads it (pure, frozen records).

:class:`OptimizerAdvice` holds, for one scan, every Compute Optimizer and Cost Optimization Hub
recommendation by instance, which accounts are enrolled in each, and one line per account or
organisation that is not (saying how to opt in).  :class:`AdvisedContext` is the rule context
that carries it to the ``ec2-rightsize`` rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tasks.idle.registry import RuleContext

CO = "compute-optimizer"
COH = "cost-optimization-hub"

#: How to opt in, per service (from the management account, for the whole organisation).
OPT_IN = {
    CO: (
        "aws compute-optimizer update-enrollment-status --status Active "
        "--include-member-accounts (from the management account)"
    ),
    COH: (
        "aws cost-optimization-hub update-enrollment-status --status Active "
        "--include-member-accounts (from the management account)"
    ),
}


@dataclass(frozen=True)
class AwsRecommendation:
    """One optimiser's recommendation for one EC2 instance.

    Attributes:
        source: ``compute-optimizer`` or ``cost-optimization-hub``.
        account_id, region, instance_id: the instance.
        current_type: its type as the optimiser saw it.
        recommended_type: the rank-1 type (the current type when nothing changes).
        finding: Compute Optimizer's ``finding`` or the Hub's ``actionType``.
        idle: the optimiser calls the instance idle (the idle checks own those).
        monthly_savings_usd: estimated monthly savings (after discounts where stated).
        savings_basis: what the figure is (``after discounts`` or ``list price``).
        architecture_change: the recommended type runs another CPU architecture.
        recommendation_id: the Hub's id (``GetRecommendation``), else "".
    """

    source: str
    account_id: str
    region: str
    instance_id: str
    current_type: str
    recommended_type: str
    finding: str
    idle: bool
    monthly_savings_usd: Decimal
    savings_basis: str
    architecture_change: bool = False
    recommendation_id: str = ""

    @property
    def saves(self) -> bool:
        """A cheaper type is recommended (not idle, not an upsize, savings above zero)."""
        return (
            not self.idle
            and self.finding not in {"Underprovisioned", "Stop"}
            and self.recommended_type != self.current_type
            and self.monthly_savings_usd > 0
        )


@dataclass(frozen=True)
class VolumeRecommendation:
    """Compute Optimizer's recommendation for one EBS volume (rank-1 configuration).

    Attributes:
        current, recommended: ``{"volume_type", "size_gib", "iops", "throughput"}`` (None when
            the optimiser does not state a figure).
    """

    account_id: str
    region: str
    volume_id: str
    finding: str
    current: dict[str, Any]
    recommended: dict[str, Any]
    monthly_savings_usd: Decimal
    savings_basis: str

    @property
    def saves(self) -> bool:
        return (
            self.finding == "NotOptimized"
            and self.recommended != self.current
            and self.monthly_savings_usd > 0
        )


@dataclass
class OptimizerAdvice:
    """Everything the optimisers said in one scan.

    Attributes:
        recommendations: (account, region, instance id) -> recommendations, one per source.
        enrolled: source -> accounts that are opted in (absent source: not consulted).
        notes: one line per account or organisation not opted in (how to opt in), or per
            optimiser that could not be read (why).
    """

    recommendations: dict[tuple[str, str, str], list[AwsRecommendation]] = field(
        default_factory=dict
    )
    enrolled: dict[str, set[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: (account, region, volume id) -> Compute Optimizer's EBS recommendation
    volumes: dict[tuple[str, str, str], VolumeRecommendation] = field(default_factory=dict)

    def add(self, recommendation: AwsRecommendation) -> None:
        key = (recommendation.account_id, recommendation.region, recommendation.instance_id)
        self.recommendations.setdefault(key, []).append(recommendation)

    def for_instance(
        self, account_id: str, region: str, instance_id: str
    ) -> list[AwsRecommendation]:
        return list(self.recommendations.get((account_id, region, instance_id), []))

    def consulted(self, account_id: str) -> list[str]:
        """The optimisers this account is enrolled in (the ones whose silence means something).

        Example:
            >>> advice = OptimizerAdvice(enrolled={CO: {"1"}, COH: {"1", "2"}})
            >>> advice.consulted("1"), advice.consulted("2"), advice.consulted("3")
            (['compute-optimizer', 'cost-optimization-hub'], ['cost-optimization-hub'], [])
        """
        return [source for source in (CO, COH) if account_id in self.enrolled.get(source, set())]


@dataclass(frozen=True)
class AdvisedContext(RuleContext):
    """A rule context that also carries what AWS's optimisers said (``ec2-rightsize`` reads it)."""

    advice: OptimizerAdvice = field(default_factory=OptimizerAdvice)
    #: (account, region) -> EC2 compute effective / list cost (RI/SP coverage, cost store)
    effective_rates: Mapping[tuple[str, str], Decimal] = field(default_factory=dict)
