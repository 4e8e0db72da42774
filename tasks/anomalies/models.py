"""What a ``check-cost-anomalies`` run returns: typed, frozen, JSON-ready (no Prefect).

An anomaly is an :class:`AnomalySummary` (consecutive anomalous days of one monitor, with its
causes: what people are told, by every channel), a budget this capability's
:class:`~tasks.anomalies.budget.BudgetState`.
"""

from __future__ import annotations

import datetime as dt
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tasks.anomalies.budget import BudgetState

Direction = Literal["increase", "drop"]


class AnomalyCause(BaseModel):
    """One thing that moved: an account, service, region or usage type, with its share.

    Example:
        >>> AnomalyCause(dimension="service", value="Amazon EC2", impact_usd=Decimal("80"),
        ...              share=0.8).share
        0.8
    """

    model_config = ConfigDict(frozen=True)

    dimension: str
    value: str
    impact_usd: Decimal
    share: float = Field(ge=-10, le=10, description="Share of the anomaly's impact (0.8 = 80%).")


class AnomalySummary(BaseModel):
    """An anomaly (consecutive anomalous days of one monitor) as reported to people.

    ``alert`` says whether it is above its alert threshold; ``None`` lets the notify layer
    apply ``settings.anomalies`` thresholds.  ``is_new`` marks an anomaly first seen today.

    Example:
        >>> a = AnomalySummary(id="a1", monitor="service: Amazon EC2", start=date(2026, 11, 20),
        ...     actual_usd=Decimal("900"), expected_usd=Decimal("500"), impact_usd=Decimal("400"),
        ...     impact_pct=80.0)
        >>> a.direction
        'increase'
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Stable anomaly id (fingerprint of monitor + start).")
    monitor: str = Field(description="Human name of the monitor, e.g. 'service: Amazon EC2'.")
    monitor_type: str = "service"
    start: date
    end: date | None = None
    peak_date: date | None = None
    actual_usd: Decimal = Field(description="Actual cost over the anomalous days, USD.")
    expected_usd: Decimal = Field(description="Expected cost over the same days, USD.")
    impact_usd: Decimal = Field(description="actual - expected over the anomalous days, USD.")
    impact_pct: float
    direction: Direction = "increase"
    status: str = "open"
    causes: list[AnomalyCause] = Field(default_factory=list)
    alert: bool | None = None
    is_new: bool = True
    kind: str | None = Field(
        None, description="What the detector saw: 'increase', 'decrease' or 'new_spend'."
    )
    aws_anomaly_ids: list[str] = Field(
        default_factory=list,
        description="AWS Cost Anomaly Detection's anomalies that are the same event.",
    )


class AnomalyCheckResult(BaseModel):
    """One day's anomaly and budget check.

    Example:
        >>> AnomalyCheckResult(date=dt.date(2026, 11, 25)).alerted
        []
    """

    model_config = ConfigDict(frozen=True)

    date: dt.date = Field(description="The day judged.")
    anomalies: list[AnomalySummary] = Field(
        default_factory=list,
        description="Recent anomalies that meet their threshold, largest impact first.",
    )
    new_alerts: list[str] = Field(
        default_factory=list, description="Ids of the anomalies to alert now (each alerted once)."
    )
    resolved: list[str] = Field(
        default_factory=list, description="Ids of stored anomalies this check resolved."
    )
    budgets: list[BudgetState] = Field(
        default_factory=list, description="Where spend stands against each budget."
    )
    charts: list[str] = Field(default_factory=list, description="Paths of the PNG charts saved.")

    @property
    def alerted(self) -> list[AnomalySummary]:
        """The anomalies to alert now (those in ``new_alerts``)."""
        new = set(self.new_alerts)
        return [a for a in self.anomalies if a.id in new]
