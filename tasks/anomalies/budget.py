"""The budget guardrail: a daily threshold and monthly budgets with a forecast, or AWS Budgets.

Configured budgets are judged on the organisation's total spend from the cost store (all charge
categories, effective cost by default so a month's commitment fees do not trip the daily
threshold on the 1st):

* **daily**: the day's total against ``settings.budget.daily_usd`` (the $1,000 a day the replaced
  system watched);
* **monthly**: month-to-date actual, plus a forecast to month end: each remaining day is
  forecast as the median of the same weekday over the last four weeks (seasonality-aware, and
  robust to one odd day), so a month that starts on a weekend is not under-forecast.

Alerts fire at each threshold (default 80 % and 100 %) of actual and of forecast.  Instead of
configured budgets, the AWS Budgets of the account can be read (``DescribeBudgets``, paginated)
and judged on the actual and forecasted spend AWS calculated for them.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import numpy as np
import pandas as pd

from tasks.anomalies.monitors import SOURCE_PREFERENCE
from tasks.money import to_cents

#: Money shown to people is rounded to cents.

#: IAM action behind DescribeBudgets (collected by tasks.permissions).
IAM_PERMISSIONS: tuple[str, ...] = ("budgets:ViewBudget",)

Period = Literal["daily", "monthly", "quarterly", "annually"]


@dataclass(frozen=True)
class BudgetState:
    """Where one budget stands, in USD for its period, with the alerts it raises.

    Example:
        >>> state = evaluate_budget("daily", "daily", "2026-11-25", Decimal("1000"),
        ...     Decimal("850"), None, [80, 100])
        >>> state.alerts
        ('actual >= 80% of budget',)
    """

    name: str
    period: Period
    period_label: str
    limit_usd: Decimal
    actual_usd: Decimal
    forecast_usd: Decimal | None
    actual_pct: float
    forecast_pct: float | None
    alerts: tuple[str, ...]
    source: Literal["configured", "aws"] = "configured"
    currency: str = "USD"

    @property
    def breached(self) -> bool:
        return self.actual_usd >= self.limit_usd


@dataclass(frozen=True)
class AwsBudget:
    """An AWS Budgets budget as DescribeBudgets returns it (cost budgets only are judged)."""

    name: str
    budget_type: str
    time_unit: str
    limit: Decimal
    unit: str
    actual: Decimal | None
    forecast: Decimal | None
    cost_filters: dict[str, list[str]]


def _pct(part: Decimal, whole: Decimal) -> float:
    return round(100.0 * float(part) / float(whole), 1) if whole > 0 else float("inf")


def evaluate_budget(
    name: str,
    period: Period,
    period_label: str,
    limit: Decimal,
    actual: Decimal,
    forecast: Decimal | None,
    thresholds_pct: Sequence[float],
    source: Literal["configured", "aws"] = "configured",
) -> BudgetState:
    """Judge actual (and forecast) spend against a limit at each threshold.

    Only the highest threshold crossed is reported for actual and for forecast, so a budget at
    120 % says ``actual >= 100%`` once rather than twice.
    """
    actual_pct = _pct(actual, limit)
    forecast_pct = None if forecast is None else _pct(forecast, limit)
    alerts: list[str] = []
    for label, pct in (("actual", actual_pct), ("forecast", forecast_pct)):
        if pct is None:
            continue
        crossed = [t for t in sorted(thresholds_pct) if pct >= t]
        if crossed:
            alerts.append(f"{label} >= {crossed[-1]:g}% of budget")
    return BudgetState(
        name=name,
        period=period,
        period_label=period_label,
        limit_usd=limit,
        actual_usd=actual,
        forecast_usd=forecast,
        actual_pct=actual_pct,
        forecast_pct=forecast_pct,
        alerts=tuple(alerts),
        source=source,
    )


def daily_totals(frame: pd.DataFrame, cost_metric: str = "effective_cost") -> pd.Series:
    """The organisation's total spend per day (all charge categories), indexed by date.

    When a day is stored from both sources, the export wins (as for the monitors).

    Example:
        >>> frame = pd.DataFrame({"charge_date": [date(2026, 1, 1)] * 2,
        ...     "effective_cost": [1.5, 2.0], "source": ["export", "export"]})
        >>> float(daily_totals(frame)[date(2026, 1, 1)])
        3.5
    """
    if frame.empty:
        return pd.Series(dtype=float)
    rows = frame
    if "source" in rows.columns and rows["source"].nunique() > 1:
        rank = rows["source"].map({s: i for i, s in enumerate(SOURCE_PREFERENCE)}).fillna(9)
        rows = rows[rank == rank.groupby(rows["charge_date"]).transform("min")]
    days = pd.to_datetime(rows["charge_date"]).dt.date
    totals = rows[cost_metric].astype(float).groupby(days).sum()
    totals.index.name = "charge_date"
    return totals.sort_index()


def forecast_days(totals: pd.Series, days: Sequence[date], weeks: int = 4) -> np.ndarray:
    """Forecast each day as the median of the same weekday over the last ``weeks`` weeks.

    Days of a weekday with no history use the median of the last 28 days.

    Example:
        >>> days = [date(2026, 1, 1) + timedelta(d) for d in range(28)]
        >>> history = pd.Series([10.0] * 28, index=days)
        >>> forecast_days(history, [date(2026, 1, 30)]).tolist()
        [10.0]
    """
    if totals.empty:
        return np.zeros(len(days))
    last = max(totals.index)
    recent = totals[[d for d in totals.index if (last - d).days < 7 * weeks]]
    fallback = float(np.median(recent.to_numpy())) if len(recent) else 0.0
    by_weekday: dict[int, float] = {}
    weekdays = [d.weekday() for d in recent.index]
    for weekday in range(7):
        values = [v for w, v in zip(weekdays, recent.to_numpy(), strict=True) if w == weekday]
        by_weekday[weekday] = float(np.median(values)) if values else fallback
    return np.array([by_weekday[d.weekday()] for d in days])


def check_configured_budgets(
    totals: pd.Series,
    day: date,
    daily_usd: float | None,
    monthly_usd: float | None,
    thresholds_pct: Sequence[float] = (80.0, 100.0),
) -> list[BudgetState]:
    """Judge the daily threshold on ``day`` and the monthly budget of ``day``'s month.

    Args:
        totals: total spend per day (``daily_totals``), through ``day``.
        day: the day judged (the month is judged month-to-date through it).
        daily_usd: the daily budget; None = off.
        monthly_usd: the monthly budget; None = off.
        thresholds_pct: alert thresholds in percent.

    Example:
        >>> totals = pd.Series([900.0], index=[date(2026, 11, 25)])
        >>> [s.alerts for s in check_configured_budgets(totals, date(2026, 11, 25), 1000, None)]
        [('actual >= 80% of budget',)]
    """
    states: list[BudgetState] = []
    known = totals[[d for d in totals.index if d <= day]]
    if daily_usd is not None:
        actual = to_cents(float(known.get(day, 0.0)))
        states.append(
            evaluate_budget(
                "daily total",
                "daily",
                day.isoformat(),
                to_cents(daily_usd),
                actual,
                None,
                thresholds_pct,
            )
        )
    if monthly_usd is not None:
        first = day.replace(day=1)
        month_to_date = float(known[[d for d in known.index if d >= first]].sum())
        last_of_month = day.replace(day=calendar.monthrange(day.year, day.month)[1])
        remaining = [day + timedelta(days=i) for i in range(1, (last_of_month - day).days + 1)]
        forecast = month_to_date + float(forecast_days(known, remaining).sum())
        states.append(
            evaluate_budget(
                "monthly total",
                "monthly",
                day.strftime("%Y-%m"),
                to_cents(monthly_usd),
                to_cents(month_to_date),
                to_cents(forecast),
                thresholds_pct,
            )
        )
    return states


# -- AWS Budgets ---------------------------------------------------------------------------------
def _amount(spend: dict[str, Any] | None) -> Decimal | None:
    if not spend or "Amount" not in spend:
        return None
    return Decimal(str(spend["Amount"]))


def transform_budgets(pages: Sequence[dict[str, Any]]) -> list[AwsBudget]:
    """Turn DescribeBudgets response pages into :class:`AwsBudget` values."""
    budgets: list[AwsBudget] = []
    for page in pages:
        for raw in page.get("Budgets", []):
            limit = raw.get("BudgetLimit") or {}
            calculated = raw.get("CalculatedSpend") or {}
            budgets.append(
                AwsBudget(
                    name=raw["BudgetName"],
                    budget_type=raw.get("BudgetType", "COST"),
                    time_unit=raw.get("TimeUnit", "MONTHLY"),
                    limit=Decimal(str(limit.get("Amount", "0"))),
                    unit=limit.get("Unit", "USD"),
                    actual=_amount(calculated.get("ActualSpend")),
                    forecast=_amount(calculated.get("ForecastedSpend")),
                    cost_filters={k: list(v) for k, v in (raw.get("CostFilters") or {}).items()},
                )
            )
    return budgets


def get_budgets(budgets_client: Any, account_id: str) -> list[AwsBudget]:
    """Read every AWS Budgets budget of an account (DescribeBudgets, all pages).

    Args:
        budgets_client: a boto3 ``budgets`` client (from ``AwsAccess.client``).
        account_id: the account that owns the budgets (the payer, for organisation budgets).

    Example:
        >>> get_budgets(access.client("budgets", "123456789012", "us-east-1"),
        ...     "123456789012")  # doctest: +SKIP
    """
    paginator = budgets_client.get_paginator("describe_budgets")
    pages = list(paginator.paginate(AccountId=account_id))
    return transform_budgets(pages)


_PERIODS: dict[str, Period] = {
    "DAILY": "daily",
    "MONTHLY": "monthly",
    "QUARTERLY": "quarterly",
    "ANNUALLY": "annually",
}


def check_aws_budgets(
    budgets: Sequence[AwsBudget], day: date, thresholds_pct: Sequence[float] = (80.0, 100.0)
) -> list[BudgetState]:
    """Judge AWS cost budgets on the actual and forecasted spend AWS calculated for them.

    Budgets in another currency than USD or of another type than COST (usage, RI/SP
    utilisation) are skipped: their figures are not dollars of spend.
    """
    states: list[BudgetState] = []
    for budget in budgets:
        if budget.budget_type != "COST" or budget.unit != "USD" or budget.actual is None:
            continue
        period = _PERIODS.get(budget.time_unit, "monthly")
        label = day.isoformat() if period == "daily" else day.strftime("%Y-%m")
        states.append(
            evaluate_budget(
                budget.name,
                period,
                label,
                to_cents(budget.limit),
                to_cents(budget.actual),
                None if budget.forecast is None else to_cents(budget.forecast),
                thresholds_pct,
                source="aws",
            )
        )
    return states


def describe_state(state: BudgetState) -> str:
    """One line for people: name, period, actual (and forecast) against the limit, in USD.

    Example:
        >>> describe_state(evaluate_budget("daily total", "daily", "2026-11-25",
        ...     Decimal("1000.00"), Decimal("1250.00"), None, [100]))[-47:]
        'USD 1000.00 (125.0%) - actual >= 100% of budget'
    """
    text = (
        f"{state.name} {state.period_label}: actual {state.currency} {state.actual_usd:.2f} "
        f"of {state.currency} {state.limit_usd:.2f} ({state.actual_pct:.1f}%)"
    )
    if state.forecast_usd is not None:
        text += f", forecast {state.currency} {state.forecast_usd:.2f} ({state.forecast_pct:.1f}%)"
    if state.alerts:
        text += " - " + "; ".join(state.alerts)
    return text


def as_of(now: datetime) -> date:
    """The last complete UTC day before ``now`` (what a daily run judges)."""
    return (now - timedelta(days=1)).date()
