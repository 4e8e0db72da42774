"""Pure texts every channel shares: percentages, periods, totals and the deterministic templates.

Slack (``render.py``), Jira (``issues.py``), the SNS summary and Bedrock's fallback read the same
figures through these functions.  Money is ``tasks.money``'s.  No network, no Prefect.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tasks.anomalies.models import AnomalySummary
from tasks.findings.model import Finding
from tasks.money import cents, usd
from tasks.notify.models import DigestInput


def pct(value: float, signed: bool = False) -> str:
    """Format a percentage with one decimal.

    Example:
        >>> pct(12.345, signed=True)
        '+12.3%'
    """
    rounded = Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    sign = "+" if signed and rounded > 0 else ""
    return f"{sign}{rounded}%"


def anomaly_period(anomaly: AnomalySummary) -> str:
    if anomaly.end is None or anomaly.end == anomaly.start:
        return f"since {anomaly.start.isoformat()}"
    return f"{anomaly.start.isoformat()} to {anomaly.end.isoformat()}"


def savings_total(findings: list[Finding]) -> tuple[Decimal, int]:
    """Known monthly savings (USD) and how many findings have no known price."""
    known = sum((f.monthly_savings_usd or Decimal(0) for f in findings), Decimal(0))
    unknown = sum(1 for f in findings if f.monthly_savings_usd is None)
    return known, unknown


#: Checks whose findings are rightsizing (a smaller type), not cleanup (idle or waste).
RIGHTSIZING_CHECKS = frozenset({"ec2-rightsize"})


def month_spend(digest: DigestInput) -> Decimal | None:
    """Spend of the last 30 days of the digest's daily costs (None with fewer than 28 days)."""
    days = sorted(digest.daily_costs, key=lambda d: d.day)[-30:]
    if len(days) < 28:
        return None
    return sum((d.cost_usd for d in days), Decimal(0))


def savings_split_line(digest: DigestInput) -> str | None:
    """Cleanup beside rightsizing, each with its savings as a share of the last 30 days' spend;
    None when no finding is rightsizing (the digest then reads as before).

    Example:
        >>> from datetime import date
        >>> from tasks.notify.models import DailyCost
        >>> f = Finding(check="ec2-rightsize", account_id="1", region="r", resource_id="i-1",
        ...             resource_arn="a", resource_type="ec2:instance",
        ...             monthly_savings_usd=Decimal("30"))
        >>> costs = [DailyCost(day=date(2026, 11, d), cost_usd=Decimal("100")) for d in
        ...          range(1, 31)]
        >>> line = savings_split_line(DigestInput(day=date(2026, 11, 30), spend_usd=Decimal(100),
        ...                                       findings=[f], daily_costs=costs))
        >>> for part in line.split("; "):
        ...     print(part)
        Rightsizing: 1 instance could save $30.00 USD per month (1.0% of the last 30 days' spend)
        cleanup: none.
    """
    resized = [f for f in digest.findings if f.check in RIGHTSIZING_CHECKS]
    if not resized:
        return None
    cleanup = [f for f in digest.findings if f.check not in RIGHTSIZING_CHECKS]
    spend = month_spend(digest)

    def share(amount: Decimal) -> str:
        if not spend:
            return ""
        return f" ({pct(float(amount / spend * 100))} of the last 30 days' spend)"

    saved, _ = savings_total(resized)
    noun = "instance" if len(resized) == 1 else "instances"
    text = f"Rightsizing: {len(resized)} {noun} could save {usd(saved)} USD per month"
    text += share(saved) + "; cleanup: "
    if cleanup:
        cleaned, _ = savings_total(cleanup)
        noun = "resource" if len(cleanup) == 1 else "resources"
        text += f"{len(cleanup)} {noun}, {usd(cleaned)} USD per month{share(cleaned)}."
    else:
        text += "none."
    return text


def open_anomalies(digest: DigestInput) -> list[AnomalySummary]:
    items = [a for a in digest.anomalies if a.status in {"open", "acknowledged"}]
    return sorted(items, key=lambda a: (-abs(a.impact_usd), a.id))


# -- templates (the deterministic texts Bedrock may replace) ------------------------------------
def template_summary(digest: DigestInput) -> str:
    """A short plain-language summary of the day with exactly the computed figures.

    Example:
        >>> from datetime import date
        >>> template_summary(DigestInput(day=date(2026, 11, 25), spend_usd=Decimal("10")))[:45]
        'On 2026-11-25 the organisation spent $10.00 U'
    """
    parts = [f"On {digest.day.isoformat()} the organisation spent {usd(digest.spend_usd)} USD"]
    if digest.expected_usd is not None:
        delta = digest.spend_usd - digest.expected_usd
        word = "above" if delta >= 0 else "below"
        parts[0] += f", {usd(abs(delta))} USD {word} the expected {usd(digest.expected_usd)} USD"
    parts[0] += "."
    for budget in digest.budgets:
        status = budget.effective_status
        if status == "ok":
            continue
        text = f"The {budget.name} budget of {usd(budget.budget_usd)} USD "
        forecast_over = (budget.forecast_pct or 0.0) >= 100 and budget.forecast_usd is not None
        if status == "exceeded":
            text += f"is exceeded ({pct(budget.used_pct)} used)."
        elif forecast_over and budget.forecast_usd is not None:
            text += (
                f"is forecast to be exceeded: {usd(budget.forecast_usd)} USD "
                f"({pct(budget.forecast_pct or 0.0)}), {pct(budget.used_pct)} used so far."
            )
        else:
            text += f"is nearly used ({pct(budget.used_pct)} used)."
        parts.append(text)
    anomalies = open_anomalies(digest)
    if anomalies:
        impact = sum((a.impact_usd for a in anomalies), Decimal(0))
        noun = "anomaly is" if len(anomalies) == 1 else "anomalies are"
        parts.append(
            f"{len(anomalies)} cost {noun} open with a total impact of "
            f"{usd(impact, signed=True)} USD."
        )
    else:
        parts.append("No cost anomaly is open.")
    split = savings_split_line(digest)
    if split is not None:
        parts.append(split)
    elif digest.findings:
        known, _ = savings_total(digest.findings)
        noun = "resource" if len(digest.findings) == 1 else "resources"
        parts.append(f"{len(digest.findings)} idle {noun} could save {usd(known)} USD per month.")
    else:
        parts.append("No idle resource was found.")
    return " ".join(parts)


def template_explanation(anomaly: AnomalySummary) -> str:
    """A plain-language explanation of one anomaly from its computed figures only."""
    direction = "more" if anomaly.impact_usd >= 0 else "less"
    text = (
        f"{anomaly.monitor} cost {usd(anomaly.actual_usd)} USD {anomaly_period(anomaly)}, "
        f"{usd(abs(anomaly.impact_usd))} USD {direction} than the expected "
        f"{usd(anomaly.expected_usd)} USD ({pct(anomaly.impact_pct, signed=True)})."
    )
    if anomaly.causes:
        top = max(anomaly.causes, key=lambda c: abs(c.share))
        text += (
            f" The largest contributor is {top.dimension} {top.value} with "
            f"{pct(top.share * 100)} of the change."
        )
    return text


# -- machine-readable ---------------------------------------------------------------------------
def summary_json(digest: DigestInput, summary: str) -> dict[str, Any]:
    """The JSON summary published to SNS for other subscribers (amounts as decimal strings).

    Example:
        >>> from datetime import date
        >>> summary_json(DigestInput(day=date(2026, 11, 25), spend_usd=Decimal("5")), "s")["type"]
        'finops.daily_summary'
    """
    known, unknown = savings_total(list(digest.findings))
    anomalies = open_anomalies(digest)
    return {
        "type": "finops.daily_summary",
        "version": 1,
        "date": digest.day.isoformat(),
        "currency": "USD",
        "spend_usd": cents(digest.spend_usd),
        "expected_usd": None if digest.expected_usd is None else cents(digest.expected_usd),
        "summary": summary,
        "budgets": [
            {
                "name": b.name,
                "period": b.period,
                "budget_usd": cents(b.budget_usd),
                "actual_usd": cents(b.actual_usd),
                "forecast_usd": None if b.forecast_usd is None else cents(b.forecast_usd),
                "status": b.effective_status,
            }
            for b in digest.budgets
        ],
        "anomalies": [
            {
                "id": a.id,
                "monitor": a.monitor,
                "start": a.start.isoformat(),
                "end": a.end.isoformat() if a.end else None,
                "impact_usd": cents(a.impact_usd),
                "impact_pct": a.impact_pct,
                "status": a.status,
                "top_causes": [
                    {"dimension": c.dimension, "value": c.value, "share": c.share}
                    for c in a.causes[:3]
                ],
            }
            for a in anomalies
        ],
        "findings": {
            "count": len(digest.findings),
            "monthly_savings_usd": cents(known),
            "unknown_price": unknown,
        },
        "links": digest.links.model_dump(),
    }


def dumps(payload: Any) -> str:
    """Stable JSON text (sorted keys) for previews and digests of content."""
    return json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
