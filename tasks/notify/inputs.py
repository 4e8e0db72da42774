"""From the day's flow results to the report's input: the mapping onto ``DigestInput``.

- ``check-cost-anomalies`` returns an ``AnomalyCheckResult``: its anomalies are
  ``AnomalySummary`` already, and its budget states (``limit_usd``, ``period``, ``alerts``) map
  onto ``BudgetState`` as they are.
- ``scan-idle-resources`` returns ``Finding`` objects; findings resolved since a time come from
  the findings store's history.
- Spend and expected spend come from the cost store's daily totals: expected is the median of
  the same weekday over the previous four weeks, judged only on days before the reported day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from tasks.findings.model import Finding, FindingStatus
from tasks.notify.models import BudgetState, DailyCost, DigestInput, DigestLinks

if TYPE_CHECKING:
    from tasks.anomalies.models import AnomalyCheckResult

CENT = Decimal("0.01")


def _usd(value: float) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def spend_figures(
    totals: Mapping[date, float], day: date, chart_days: int = 30
) -> tuple[Decimal, Decimal | None, list[DailyCost]]:
    """The day's spend, its expected value (same weekday, 4 weeks before) and the chart series.

    Args:
        totals: the organisation's spend per day (USD), e.g. ``daily_totals(cost_frame)``.
        day: the reported day.
        chart_days: days of spend for the chart, ending on ``day``.

    Example:
        >>> history = {date(2026, 11, 1) + timedelta(d): 100.0 for d in range(24)}
        >>> history[date(2026, 11, 25)] = 130.0
        >>> spend, expected, series = spend_figures(history, date(2026, 11, 25))
        >>> (str(spend), str(expected), len(series))
        ('130.00', '100.00', 25)
    """
    spend = _usd(float(totals.get(day, 0.0)))
    same_weekday = [
        float(totals[day - timedelta(days=7 * k)])
        for k in range(1, 5)
        if day - timedelta(days=7 * k) in totals
    ]
    expected = None
    if same_weekday:
        ordered = sorted(same_weekday)
        middle = len(ordered) // 2
        median = (
            ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        )
        expected = _usd(median)
    first = day - timedelta(days=chart_days - 1)
    series = [
        DailyCost(day=d, cost_usd=_usd(float(v)))
        for d, v in sorted(totals.items())
        if first <= d <= day
    ]
    return spend, expected, series


def resolved_since(store: Any, since: datetime) -> list[Finding]:
    """Findings the findings store resolved at or after ``since`` (for closing Jira issues).

    Args:
        store: a ``tasks.findings.store.FindingsStore``.
        since: timezone-aware UTC time, e.g. the start of today's scan.
    """
    resolved: list[Finding] = []
    for stored in store.list(statuses=[FindingStatus.RESOLVED]):
        history = store.history(stored.fingerprint)
        last = history[-1] if history else None
        if last and last["to"] == FindingStatus.RESOLVED.value and last["at"] >= since:
            resolved.append(stored.finding)
    return resolved


def digest_from_results(
    day: date,
    totals: Mapping[date, float],
    anomaly_result: AnomalyCheckResult | None = None,
    findings: Iterable[Finding] = (),
    resolved_findings: Iterable[Finding] = (),
    links: DigestLinks | None = None,
) -> DigestInput:
    """The report's input from the anomaly flow's result, the scan's findings and the spend.

    Example:
        >>> digest_from_results(date(2026, 11, 25), {date(2026, 11, 25): 12.5}).spend_usd
        Decimal('12.50')
    """
    spend, expected, series = spend_figures(totals, day)
    return DigestInput(
        day=day,
        spend_usd=spend,
        expected_usd=expected,
        budgets=[BudgetState.model_validate(asdict(b)) for b in anomaly_result.budgets]
        if anomaly_result is not None
        else [],
        anomalies=list(anomaly_result.anomalies) if anomaly_result is not None else [],
        findings=list(findings),
        resolved_findings=list(resolved_findings),
        daily_costs=series,
        links=links or DigestLinks(),
    )
