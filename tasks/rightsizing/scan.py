"""The idle scanner with AWS's optimiser advice in every rule context (for ``ec2-rightsize``).

Rightsizing runs as a check of the idle scan (same describe pass, same findings store, same
lifecycle and reports); the only difference is that its rule also reads what Compute Optimizer
and Cost Optimization Hub said, fetched once, org-wide, before the targets are scanned.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from tasks.aws.session import Target
from tasks.idle.registry import Check
from tasks.idle.scan import IdleScanner
from tasks.rightsizing.model import AdvisedContext, OptimizerAdvice
from tasks.rightsizing.rules import CHECK
from tasks.rightsizing.rules_ebs import CHECK as EBS_CHECK


def wants_advice(checks: list[Check[Any]]) -> bool:
    """Whether any selected check reads the optimisers' advice."""
    return any(c.name in {CHECK, EBS_CHECK} for c in checks)


class AdvisedScanner(IdleScanner):
    """An :class:`IdleScanner` whose rule contexts carry the optimisers' advice.

    Example:
        >>> AdvisedScanner(advice, access, checks, params, prices, idle, now)  # doctest: +SKIP
    """

    def __init__(
        self,
        advice: OptimizerAdvice,
        *args: Any,
        effective_rates: Mapping[tuple[str, str], Decimal] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.advice = advice
        self.effective_rates = dict(effective_rates or {})

    def context(
        self, target: Target, first_seen: dict[str, datetime] | None = None
    ) -> AdvisedContext:
        base = super().context(target, first_seen)
        return AdvisedContext(
            **{**base.__dict__, "advice": self.advice, "effective_rates": self.effective_rates}
        )
