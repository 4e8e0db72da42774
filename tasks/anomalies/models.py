"""What a ``check-cost-anomalies`` run returns: typed, frozen, JSON-ready (no Prefect).

The anomalies are the notify layer's :class:`~tasks.notify.models.AnomalySummary` (what people
are told), the budgets this capability's :class:`~tasks.anomalies.budget.BudgetState`.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from tasks.anomalies.budget import BudgetState
from tasks.notify.models import AnomalySummary


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
