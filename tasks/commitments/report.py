"""The commitments review as text tables for a terminal (pure): what `finops commitments` prints."""

from __future__ import annotations

from typing import Any

from tasks.commitments.chart import MonthFigures
from tasks.commitments.models import Commitment, DayFigures, ExpiryAlert, Recommendation


def _usd(value: Any) -> str:
    return "unknown" if value is None else f"${value:,}"


def inventory_table(inventory: list[Commitment], today: Any) -> list[str]:
    """One line per commitment, soonest expiry first (the expiry table)."""
    lines = [
        f"{'KIND':<18}{'ID':<38}{'ACCOUNT':<14}{'TERM':<6}{'PAYMENT':<17}"
        f"{'USD/HOUR':>10}  {'ENDS':<11}{'DAYS LEFT':>9}"
    ]
    for item in sorted(inventory, key=lambda c: (c.end, c.commitment_id)):
        hourly = "-" if item.hourly_commitment_usd is None else f"{item.hourly_commitment_usd:.3f}"
        term = f"{item.term_years}y" if item.term_years else "-"
        lines.append(
            f"{item.kind:<18}{item.short_id[:37]:<38}{item.account_id:<14}{term:<6}"
            f"{item.payment_option[:16]:<17}{hourly:>10}  {item.end.isoformat():<11}"
            f"{item.days_left(today):>9}"
        )
    return lines


def utilisation_table(
    store_totals: dict[str, dict[str, Any]], ce_days: list[DayFigures], days: int
) -> list[str]:
    """Used / unused commitment and utilisation over the window, from the store and from CE."""
    lines = [f"{'KIND':<18}{'SOURCE':<14}{'USED':>14}{'UNUSED':>12}{'UTILISATION':>13}"]
    for kind, figures in store_totals.items():
        ce = [f for f in ce_days if f.kind == kind]
        used = sum((f.used_usd for f in ce), start=0)
        unused = sum((f.unused_usd for f in ce), start=0)
        whole = used + unused
        ce_pct = f"{100 * used / whole:.2f}%" if whole else "-"
        store_pct = figures["utilisation_pct"]
        lines.append(
            f"{kind:<18}{'cost store':<14}{_usd(figures['used_usd']):>14}"
            f"{_usd(figures['unused_usd']):>12}{(f'{store_pct}%' if store_pct else '-'):>13}"
        )
        lines.append(f"{'':<18}{'Cost Explorer':<14}{_usd(used):>14}{_usd(unused):>12}{ce_pct:>13}")
    lines.append(f"(USD over {days} days; amortised commitment)")
    return lines


def recommendation_table(ours: Recommendation, aws: Recommendation | None) -> list[str]:
    """Our Savings Plan recommendation beside AWS's, with their assumptions."""

    def column(rec: Recommendation | None, name: str) -> str:
        if rec is None:
            return "-"
        value = getattr(rec, name)
        return "-" if value is None else str(value)

    rows = [
        ("hourly commitment (USD/hour)", "hourly_commitment_usd"),
        ("term", "term"),
        ("payment", "payment_option"),
        ("look-back (days)", "lookback_days"),
        ("est. savings over look-back (USD)", "estimated_savings_usd"),
        ("est. monthly savings (USD/month)", "estimated_monthly_savings_usd"),
        ("est. utilisation (%)", "estimated_utilisation_pct"),
        ("break-even: usage may fall (%)", "break_even_fall_pct"),
    ]
    lines = [f"{'':<36}{'OURS':>16}{'AWS':>16}"]
    lines += [f"{label:<36}{column(ours, n):>16}{column(aws, n):>16}" for label, n in rows]
    for scenario, savings in ours.scenarios.items():
        lines.append(f"{'net savings if ' + scenario + ' (USD)':<36}{savings!s:>16}{'-':>16}")
    lines.append("assumptions:")
    lines += [f"  ours: {text}" for text in ours.assumptions]
    if aws is not None:
        lines += [f"  {text}" for text in aws.assumptions]
    return lines


def alerts_lines(alerts: list[ExpiryAlert]) -> list[str]:
    """The expiry notices due (each goes out once)."""
    return [
        f"{a.commitment.kind} {a.commitment.short_id}: {a.days_left} days left "
        f"({a.threshold_days}-day notice)"
        for a in alerts
    ] or ["none due"]


def monthly_lines(months: list[MonthFigures]) -> list[str]:
    """The monthly coverage / utilisation table (percent; unused USD per month)."""

    def pct(value: Any) -> str:
        return "-" if value is None else f"{value}%"

    lines = [f"{'MONTH':<9}{'SP COVERAGE':>13}{'SP UTIL.':>10}{'RI UTIL.':>10}{'UNUSED USD':>12}"]
    lines += [
        f"{m.month:<9}{pct(m.sp_coverage_pct):>13}{pct(m.sp_utilisation_pct):>10}"
        f"{pct(m.ri_utilisation_pct):>10}{m.unused_usd:>12}"
        for m in months
    ]
    return lines
