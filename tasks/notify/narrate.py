"""Pure checks and prompts for model-written texts: every number must be a computed figure.

A language model may phrase the day's summary or an anomaly's explanation, but it may not invent
figures.  ``unverified_numbers`` parses every number in its text (``$1,234.56``, ``12.5%``,
``1.2k``, ``3``) and compares each with the figures we computed (and the dates we gave),
within a small tolerance for rounding; any leftover means the deterministic template is used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal, InvalidOperation

from tasks.anomalies.models import AnomalySummary
from tasks.notify.models import DigestInput
from tasks.notify.texts import open_anomalies, savings_total

#: ISO dates are compared as dates, before numbers are parsed.
DATE_RE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
#: A number with optional thousands separators, decimals and a k/M suffix.
NUMBER_RE = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s?([kKmM]\b)?")

SUFFIX = {"k": Decimal(1000), "m": Decimal(1_000_000)}

SYSTEM_PROMPT = (
    "You write short, plain-language FinOps notes for engineers. Use ONLY the figures given in "
    "the JSON; do not compute new numbers, totals, differences or percentages, and do not "
    "round to other precisions than whole dollars or cents. Write dates as YYYY-MM-DD. "
    "Amounts are USD. No markdown, no lists, at most 3 sentences."
)


def figures_of_digest(digest: DigestInput) -> dict[str, object]:
    """The computed figures a day summary may mention, as JSON-ready values.

    Example:
        >>> figures_of_digest(DigestInput(day=date(2026, 11, 25), spend_usd=Decimal("5")))["date"]
        '2026-11-25'
    """
    anomalies = open_anomalies(digest)
    known, unknown = savings_total(list(digest.findings))
    figures: dict[str, object] = {
        "date": digest.day.isoformat(),
        "spend_usd": str(digest.spend_usd),
        "open_anomalies": len(anomalies),
        "open_anomalies_impact_usd": str(sum((a.impact_usd for a in anomalies), Decimal(0))),
        "idle_resources": len(digest.findings),
        "monthly_savings_usd": str(known),
        "resources_with_unknown_price": unknown,
    }
    if digest.expected_usd is not None:
        delta = digest.spend_usd - digest.expected_usd
        figures["expected_usd"] = str(digest.expected_usd)
        figures["difference_usd"] = str(delta)
        if digest.expected_usd > 0:
            figures["difference_pct"] = round(float(delta / digest.expected_usd * 100), 1)
    figures["budgets"] = [
        {
            "name": b.name,
            "period": b.period,
            "budget_usd": str(b.budget_usd),
            "actual_usd": str(b.actual_usd),
            "used_pct": b.used_pct,
            "forecast_usd": None if b.forecast_usd is None else str(b.forecast_usd),
            "forecast_pct": b.forecast_pct,
            "status": b.effective_status,
        }
        for b in digest.budgets
    ]
    figures["anomalies"] = [figures_of_anomaly(a) for a in anomalies]
    return figures


def figures_of_anomaly(anomaly: AnomalySummary) -> dict[str, object]:
    """The computed figures an anomaly explanation may mention."""
    return {
        "monitor": anomaly.monitor,
        "start": anomaly.start.isoformat(),
        "end": anomaly.end.isoformat() if anomaly.end else None,
        "peak_date": anomaly.peak_date.isoformat() if anomaly.peak_date else None,
        "actual_usd": str(anomaly.actual_usd),
        "expected_usd": str(anomaly.expected_usd),
        "impact_usd": str(anomaly.impact_usd),
        "impact_pct": round(anomaly.impact_pct, 1),
        "direction": anomaly.direction,
        "top_causes": [
            {
                "dimension": c.dimension,
                "value": c.value,
                "impact_usd": str(c.impact_usd),
                "share_pct": round(c.share * 100, 1),
            }
            for c in anomaly.causes[:3]
        ],
    }


def _walk(value: object) -> Iterable[tuple[str, object]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list):
                yield from _walk(item)
            else:
                yield str(key), item
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def allowed_figures(figures: dict[str, object]) -> tuple[list[Decimal], set[date]]:
    """Every number (as Decimal, sign dropped) and every date in a figures document."""
    numbers: list[Decimal] = []
    dates: set[date] = set()
    for key, value in _walk(figures):
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float | Decimal):
            numbers.append(abs(Decimal(str(value))))
            continue
        text = str(value)
        if DATE_RE.fullmatch(text):
            dates.add(date.fromisoformat(text))
            continue
        if key.endswith(("_usd", "_pct")):
            try:
                numbers.append(abs(Decimal(text)))
            except InvalidOperation:
                continue
        else:
            # Names (monitor, account id, usage type) may contain digits the text repeats.
            numbers.extend(parse_numbers(text))
    return numbers, dates


def parse_numbers(text: str) -> list[Decimal]:
    """Every number in a text, as written (thousands separators and k/M suffixes applied).

    Example:
        >>> parse_numbers("spent $1,234.50 (+12.5%), about 1.2k more than 3 days")
        [Decimal('1234.50'), Decimal('12.5'), Decimal('1200.0'), Decimal('3')]
    """
    found: list[Decimal] = []
    for match in NUMBER_RE.finditer(text):
        whole, fraction, suffix = match.groups()
        value = Decimal(whole.replace(",", "") + (fraction or ""))
        if suffix:
            value *= SUFFIX[suffix.lower()]
        found.append(value)
    return found


def _matches(value: Decimal, figure: Decimal) -> bool:
    # Half a unit of the written precision, or 0.5% for k/M-rounded amounts.
    tolerance = max(Decimal("0.51"), figure * Decimal("0.005"))
    return abs(value - figure) <= tolerance


def unverified_numbers(text: str, figures: dict[str, object]) -> list[str]:
    """The numbers and dates in ``text`` that are not among the computed figures.

    Example:
        >>> unverified_numbers("Spend was $10.00 on 2026-11-25.",
        ...                    {"spend_usd": "10.00", "date": "2026-11-25"})
        []
        >>> unverified_numbers("Spend was $12.00.", {"spend_usd": "10.00"})
        ['12.00']
    """
    numbers, dates = allowed_figures(figures)
    leftovers: list[str] = []

    def check_date(match: re.Match[str]) -> str:
        try:
            given = date.fromisoformat(match.group(0))
        except ValueError:
            leftovers.append(match.group(0))
            return " "
        if given not in dates:
            leftovers.append(match.group(0))
        return " "

    without_dates = DATE_RE.sub(check_date, text)
    for match in NUMBER_RE.finditer(without_dates):
        whole, fraction, suffix = match.groups()
        value = Decimal(whole.replace(",", "") + (fraction or ""))
        if suffix:
            value *= SUFFIX[suffix.lower()]
        if not any(_matches(value, figure) for figure in numbers):
            leftovers.append(match.group(0).strip())
    return leftovers


def day_prompt(digest: DigestInput) -> str:
    """The user prompt for the day's summary."""
    return (
        "Summarise this FinOps day for the team in at most 3 sentences: spend against "
        "expected, budgets, open anomalies, idle-resource savings.\n"
        + json.dumps(figures_of_digest(digest), sort_keys=True)
    )


def anomaly_prompt(anomaly: AnomalySummary) -> str:
    """The user prompt for one anomaly's explanation."""
    return (
        "Explain this cost anomaly in at most 2 sentences: what rose or fell, by how much, "
        "and what moved most.\n" + json.dumps(figures_of_anomaly(anomaly), sort_keys=True)
    )
