"""The check registry: each idle/waste check is a registered rule with typed, validated parameters.

A check declares its name, the resource family it reads, a pydantic parameter model whose
defaults come from the field's references (Trusted Advisor, Compute Optimizer, AWS docs), its
action menu, the IAM read permissions it needs, the CloudWatch statistics it wants per resource,
and a pure rule ``(inventory, metrics, params, context) -> CheckResult``.  Overrides come from
``settings.idle.params[<check>]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tasks.aws.records import Inventory, MetricFrame, MetricRequest, Tags
from tasks.findings.model import Finding, Risk
from tasks.pricing.book import Prices

#: CloudWatch keeps 1-hour datapoints for 455 days (15 months); daily statistics cannot look
#: further back (AWS CloudWatch docs, "Metrics retention").
CLOUDWATCH_RETENTION_DAYS = 455

RecordKind = Literal[
    "instances",
    "volumes",
    "snapshots",
    "images",
    "addresses",
    "load_balancers",
    "nat_gateways",
    "db_instances",
    "buckets",
]


class CheckConfigError(ValueError):
    """A check name or parameter override is wrong; the message is one line saying what to fix."""


class CheckParams(BaseModel):
    """Base of every check's parameters: frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def check_rules(self) -> None:
        """Cross-field rules; raise ValueError with a sentence saying what to fix."""

    @model_validator(mode="after")
    def _run_check_rules(self) -> CheckParams:
        self.check_rules()
        return self


class MetricParams(CheckParams):
    """Parameters of checks that read CloudWatch over a window of whole days."""

    days: int = Field(14, ge=1, description="Days of CloudWatch history judged.")

    def check_rules(self) -> None:
        if self.days > CLOUDWATCH_RETENTION_DAYS:
            raise ValueError(
                f"days={self.days} is beyond CloudWatch's {CLOUDWATCH_RETENTION_DAYS}-day "
                "retention of hourly datapoints; use at most 455"
            )


class DatapointParams(MetricParams):
    """Metric checks that skip a resource with too few days of datapoints (no data is no proof)."""

    min_days: int = Field(3, ge=1, description="Days with datapoints needed to judge.")

    def check_rules(self) -> None:
        super().check_rules()
        if self.min_days > self.days:
            raise ValueError(f"min_days={self.min_days} exceeds the window days={self.days}")


@dataclass(frozen=True)
class Skipped:
    """A resource a check could not judge, and why (never silently dropped, never flagged)."""

    check: str
    account_id: str
    region: str
    resource_id: str
    reason: str


@dataclass
class CheckResult:
    """What one check concluded in one account and region."""

    findings: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def parse_tag(key_value: str) -> tuple[str, str]:
    """Split a ``KEY=VALUE`` tag setting.

    Example:
        >>> parse_tag("finops:exclude=true")
        ('finops:exclude', 'true')
    """
    key, _, value = key_value.partition("=")
    return key, value


@dataclass(frozen=True)
class RuleContext:
    """What a rule needs besides records and metrics: the clock, prices, tag policy, memory.

    Args:
        first_seen: observation key -> when the condition was first seen (``ebs-unattached``).
    """

    account_id: str
    region: str
    now: datetime
    prices: Prices
    exclude_tag: tuple[str, str] = ("finops:exclude", "true")
    protected_tag: tuple[str, str] = ("finops:protected", "true")
    owner_tag: str = "owner"
    first_seen: Mapping[str, datetime] = field(default_factory=dict)

    def excluded(self, tags: Tags) -> bool:
        key, value = self.exclude_tag
        return tags.get(key, "").lower() == value.lower()

    def skip(self, check: str, resource_id: str, reason: str) -> Skipped:
        """A resource ``check`` could not judge here, and why."""
        return Skipped(check, self.account_id, self.region, resource_id, reason)

    def protected(self, tags: Tags) -> bool:
        key, value = self.protected_tag
        return tags.get(key, "").lower() == value.lower()

    def finding(
        self,
        check: Check[Any],
        *,
        resource_id: str,
        resource_arn: str,
        resource_type: str,
        tags: Tags,
        monthly_savings_usd: Decimal | None,
        evidence: dict[str, Any],
        title: str,
        risk: Risk = "low",
        actions: Iterable[str] | None = None,
    ) -> Finding:
        """Build a Finding with the shared conventions: owner from the owner tag, savings rounded
        to the cent (None when unknown, with the reason in the evidence), protected resources
        offered only ``skip``."""
        chosen = list(actions) if actions is not None else list(check.actions)
        unknown = [a for a in chosen if a not in check.actions]
        if unknown:
            raise ValueError(f"{check.name}: actions {unknown} are not on its menu {check.actions}")
        evidence = dict(evidence)
        if self.protected(tags):
            evidence["protected"] = True
            chosen = ["skip"]
        if monthly_savings_usd is None:
            evidence.setdefault(
                "savings_note", "price unknown: not in the price book or the Pricing API"
            )
        savings = (
            None
            if monthly_savings_usd is None
            else monthly_savings_usd.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        )
        return Finding(
            check=check.name,
            account_id=self.account_id,
            region=self.region,
            resource_id=resource_id,
            resource_arn=resource_arn,
            resource_type=resource_type,
            title=title,
            monthly_savings_usd=savings,
            risk=risk,
            evidence=evidence,
            recommended_actions=chosen,
            tags=dict(tags),
            owner=tags.get(self.owner_tag),
            detected_at=self.now,
        )


P = TypeVar("P", bound=CheckParams)

Rule = Callable[[Inventory, MetricFrame, Any, RuleContext], CheckResult]
MetricPlan = Callable[[Inventory, Any, RuleContext], list[MetricRequest]]


@dataclass(frozen=True)
class Check(Generic[P]):
    """One registered check.

    Attributes:
        name: the check's name, e.g. ``ebs-unattached``.
        family: resource family; checks of a family share one describe pass and one metric pass.
        resource_type: what a finding names, e.g. ``ec2:volume``.
        params_model: the typed parameters with documented defaults.
        needs: the record kinds the rule reads (what the adapters describe).
        actions: the action menu, safest first, ending with ``skip``: registered remediation
            actions valid for ``resource_type`` (checked when ``tasks.idle.checks`` loads); a
            finding's ``recommended_actions`` are this menu (or a part of it), in this order.
        permissions: the IAM read actions this check needs (the Terraform scan policy is built
            from the union, see ``tasks.idle.checks.IAM_READ_PERMISSIONS``).
        rule: the pure rule.
        metrics: which CloudWatch statistics it wants per resource (None = no metrics).
        follow_up: the action a ``tag_for_later`` mark carries out when it falls due (on the
            menu); None: the mark only warns the owner and the decision goes back to a person.
    """

    name: str
    family: str
    resource_type: str
    params_model: type[P]
    needs: frozenset[RecordKind]
    actions: tuple[str, ...]
    permissions: tuple[str, ...]
    rule: Rule
    metrics: MetricPlan | None = None
    follow_up: str | None = None

    @property
    def doc(self) -> str:
        return (self.rule.__doc__ or "").strip()

    def validate(self, overrides: Mapping[str, Any] | None = None) -> P:
        """Build and validate this check's parameters from overrides (settings.idle.params).

        Raises:
            CheckConfigError: one line naming the check, the parameter and what is allowed.

        Example:
            >>> from tasks.idle.checks import CHECKS
            >>> CHECKS["ebs-unattached"].validate({"days": 10}).days
            10
        """
        try:
            return self.params_model(**dict(overrides or {}))
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "params"
            message = first["msg"].removeprefix("Value error, ")
            raise CheckConfigError(
                f"idle check {self.name!r} parameter {where}: {message}"
                f" (set it in FINOPS_IDLE__PARAMS or finops.toml [idle.params.{self.name}])"
            ) from None

    def window_days(self, params: P) -> int | None:
        """Days of CloudWatch history this check reads (None when it reads none)."""
        if self.metrics is None:
            return None
        return int(getattr(params, "days", 14))


REGISTRY: dict[str, Check[Any]] = {}

_NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def register(
    name: str,
    *,
    family: str,
    resource_type: str,
    params: type[P],
    needs: Iterable[RecordKind],
    actions: Iterable[str],
    permissions: Iterable[str],
    metrics: MetricPlan | None = None,
    follow_up: str | None = None,
) -> Callable[[Rule], Rule]:
    """Register a rule function as a check (decorator).

    Example:
        >>> @register("demo-check", family="ec2", resource_type="ec2:instance",
        ...           params=CheckParams, needs=["instances"], actions=["skip"],
        ...           permissions=["ec2:DescribeInstances"])  # doctest: +SKIP
        ... def demo(inventory, metrics, params, ctx): ...
    """
    if not _NAME_RE.match(name):
        raise ValueError(f"check name {name!r} must be lower-case words joined by '-'")
    menu = tuple(actions)
    if not menu or menu[-1] != "skip":
        raise ValueError(f"check {name!r}: its action menu must end with 'skip'")

    def decorate(rule: Rule) -> Rule:
        if name in REGISTRY:
            raise ValueError(f"check {name!r} is registered twice")
        if not (rule.__doc__ or "").strip():
            raise ValueError(f"check {name!r}: document the rule (docstring with an example)")
        REGISTRY[name] = Check(
            name=name,
            family=family,
            resource_type=resource_type,
            params_model=params,
            needs=frozenset(needs),
            actions=menu,
            permissions=tuple(sorted(set(permissions))),
            rule=rule,
            metrics=metrics,
            follow_up=follow_up,
        )
        return rule

    return decorate


def resolve_params(
    checks: Iterable[Check[Any]], overrides: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, CheckParams]:
    """Each check's validated parameters: its defaults with the settings' overrides on top.

    Raises:
        CheckConfigError: an override names an unknown check or a wrong parameter.
    """
    overrides = overrides or {}
    unknown = [n for n in overrides if n not in REGISTRY]
    if unknown:
        raise CheckConfigError(
            f"settings idle.params names unknown check(s) {', '.join(unknown)}; "
            f"choose from {', '.join(REGISTRY)}"
        )
    return {c.name: c.validate(overrides.get(c.name)) for c in checks}


def run_check(
    check: Check[Any],
    inventory: Inventory,
    metrics: MetricFrame,
    params: CheckParams,
    ctx: RuleContext,
) -> CheckResult:
    """Run one rule and enforce the exclusion tag whatever the rule did.

    Example:
        >>> # see tests/test_idle_rules.py
    """
    result = check.rule(inventory, metrics, params, ctx)
    kept = [f for f in result.findings if not ctx.excluded(f.tags)]
    return CheckResult(findings=kept, skipped=result.skipped)
