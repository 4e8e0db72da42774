"""The typed inputs of reporting: what the day's flows computed, as the notify layer needs it.

These small models keep the notify layer independent of the anomaly and idle engines' internals;
the caller maps their results onto them (see ``docs`` in ``tasks/notify/__init__.py``).  An
anomaly arrives as the anomaly check reports it (:class:`tasks.anomalies.models.AnomalySummary`),
a finding as the findings store keeps it (:class:`tasks.findings.model.Finding`).  Money is
``Decimal`` in USD; every figure shown to people says its currency and period.
"""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from tasks.anomalies.models import AnomalySummary
from tasks.findings.model import Finding

BudgetStatus = Literal["ok", "warning", "exceeded"]
BudgetPeriod = Literal["daily", "monthly", "quarterly", "annually"]


class BudgetState(BaseModel):
    """A budget and where spend stands against it.

    Accepts the anomaly engine's budget records as they are (``limit_usd``, ``period`` of
    ``daily``/``monthly``/``quarterly``/``annually``, ``alerts``).

    Example:
        >>> BudgetState(name="daily", period="daily", budget_usd=Decimal("1000"),
        ...             actual_usd=Decimal("1200")).used_pct
        120.0
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    name: str
    period: BudgetPeriod
    budget_usd: Decimal = Field(validation_alias=AliasChoices("budget_usd", "limit_usd"))
    actual_usd: Decimal
    forecast_usd: Decimal | None = None
    status: BudgetStatus | None = None
    alerts: list[str] | None = Field(
        None, description="Alerts the budget raised (e.g. 'forecast >= 80% of budget')."
    )

    @field_validator("period", mode="before")
    @classmethod
    def _period_names(cls, value: object) -> object:
        return {"day": "daily", "month": "monthly"}.get(str(value), value)

    @property
    def used_pct(self) -> float:
        if self.budget_usd <= 0:
            return 0.0
        return round(float(self.actual_usd / self.budget_usd * 100), 1)

    @property
    def forecast_pct(self) -> float | None:
        if self.forecast_usd is None or self.budget_usd <= 0:
            return None
        return round(float(self.forecast_usd / self.budget_usd * 100), 1)

    @property
    def effective_status(self) -> BudgetStatus:
        """The given status; else from the raised alerts; else at 80% / 100% of actual/forecast."""
        if self.status is not None:
            return self.status
        if self.used_pct >= 100:
            return "exceeded"
        if self.alerts is not None:
            return "warning" if self.alerts else "ok"
        return "warning" if max(self.used_pct, self.forecast_pct or 0.0) >= 80 else "ok"


class DailyCost(BaseModel):
    """One day of total spend, for the 30-day chart."""

    model_config = ConfigDict(frozen=True)

    day: date
    cost_usd: Decimal


class DigestLinks(BaseModel):
    """Where the buttons of a message point."""

    model_config = ConfigDict(frozen=True)

    run_url: str | None = None
    approval_url: str | None = None


class DigestInput(BaseModel):
    """Everything the daily digest says: the day's figures, computed elsewhere.

    Example:
        >>> DigestInput(day=date(2026, 11, 25), spend_usd=Decimal("1234.5")).currency
        'USD'
    """

    model_config = ConfigDict(frozen=True)

    day: date = Field(description="The day reported on (yesterday when the pipeline runs).")
    spend_usd: Decimal
    expected_usd: Decimal | None = None
    currency: Literal["USD"] = "USD"
    budgets: list[BudgetState] = Field(default_factory=list)
    anomalies: list[AnomalySummary] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    resolved_findings: list[Finding] = Field(default_factory=list)
    daily_costs: list[DailyCost] = Field(default_factory=list)
    links: DigestLinks = Field(default_factory=DigestLinks)
    own_bill: list[str] = Field(
        default_factory=list,
        description="What the day's runs cost in AWS requests, one line per stage "
        "(tasks.aws.usage).",
    )


class FindingGroup(BaseModel):
    """Findings of one check in one account: one Jira issue each."""

    model_config = ConfigDict(frozen=True)

    account_id: str
    check: str
    findings: list[Finding]

    @property
    def fingerprint(self) -> str:
        return group_fingerprint(self.account_id, self.check)

    @property
    def monthly_savings_usd(self) -> Decimal:
        return sum((f.monthly_savings_usd or Decimal(0) for f in self.findings), Decimal(0))


def group_fingerprint(account_id: str, check: str) -> str:
    """Stable identity of an account x check finding group.

    Example:
        >>> len(group_fingerprint("111111111111", "ebs-unattached"))
        16
    """
    return hashlib.sha256(f"group|{account_id}|{check}".encode()).hexdigest()[:16]


def group_findings(findings: list[Finding]) -> list[FindingGroup]:
    """Group findings by account x check, largest savings first.

    Example:
        >>> group_findings([])
        []
    """
    groups: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        groups.setdefault((finding.account_id, finding.check), []).append(finding)
    built = [
        FindingGroup(
            account_id=account,
            check=check,
            findings=sorted(
                items, key=lambda f: (-(f.monthly_savings_usd or Decimal(0)), f.resource_id)
            ),
        )
        for (account, check), items in groups.items()
    ]
    return sorted(built, key=lambda g: (-g.monthly_savings_usd, g.account_id, g.check))


class ReportResult(BaseModel):
    """What a ``report`` or ``alert-anomalies`` run did with its messages (outbox keys).

    Example:
        >>> ReportResult(sent=["slack|digest|2026-11-25"]).summary_source
        'template'
    """

    model_config = ConfigDict(frozen=True)

    planned: list[str] = Field(default_factory=list, description="Keys of this run's messages.")
    new: list[str] = Field(default_factory=list, description="Keys stored in the outbox now.")
    sent: list[str] = Field(default_factory=list, description="Keys delivered by this run.")
    pending: list[str] = Field(
        default_factory=list, description="Keys waiting for a channel (retried next run)."
    )
    failed: list[str] = Field(default_factory=list, description="Keys that gave up.")
    skipped: list[str] = Field(default_factory=list, description="Keys delivered before.")
    local: list[str] = Field(
        default_factory=list, description="Keys of channels not configured (rendered only)."
    )
    errors: dict[str, str] = Field(
        default_factory=dict, description="Key or channel -> the (redacted) delivery error."
    )
    summary_source: str = Field(
        "template", description="Who wrote the summary: 'template' or 'bedrock'."
    )
    notified_findings: list[str] = Field(
        default_factory=list, description="Fingerprints moved to notified by the digest."
    )
