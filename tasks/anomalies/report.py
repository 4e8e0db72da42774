"""How anomalies are shown to people: one table (text or Markdown) and a PNG chart per anomaly.

The same rows feed the Prefect table artifact, ``finops anomalies`` and the Markdown report,
so every surface shows the same figures: USD with cents, the anomaly's dates, its status.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from tasks.anomalies.grouping import Anomaly
from tasks.anomalies.root_cause import summarize_causes
from tasks.money import to_cents

if TYPE_CHECKING:
    from tasks.anomalies.store import StoredAnomaly

#: Table columns, in order.
COLUMNS: tuple[str, ...] = (
    "monitor",
    "dates",
    "status",
    "actual_usd",
    "expected_usd",
    "impact_usd",
    "impact_pct",
    "top_causes",
    "also_aws",
)


def _usd(value: float) -> str:
    return f"{to_cents(value):,.2f}"


def anomaly_rows(
    anomalies: Sequence[Anomaly], statuses: dict[str, str] | None = None
) -> list[dict[str, str]]:
    """One row per anomaly, money as USD strings with cents over the anomaly's dates.

    Args:
        anomalies: anomalies to show.
        statuses: stored status per anomaly id (default: open if ongoing, else resolved).

    Example:
        >>> anomaly_rows([])
        []
    """
    rows: list[dict[str, str]] = []
    statuses = statuses or {}
    for a in anomalies:
        pct = "new" if a.impact_pct is None else f"{a.impact_pct:+.0f}%"
        dates = a.start.isoformat() if a.start == a.end else f"{a.start} to {a.end}"
        default_status = "open" if a.ongoing else "resolved"
        rows.append(
            {
                "monitor": a.monitor_id,
                "dates": dates + (" (ongoing)" if a.ongoing else ""),
                "status": statuses.get(a.anomaly_id, default_status),
                "actual_usd": _usd(a.total_actual),
                "expected_usd": _usd(a.total_expected),
                "impact_usd": ("+" if a.total_impact >= 0 else "") + _usd(a.total_impact),
                "impact_pct": pct,
                "top_causes": summarize_causes(list(a.root_causes)) or "-",
                "also_aws": "-",
                "anomaly_id": a.anomaly_id,
                "alert": "yes" if a.alert else "no",
            }
        )
    return rows


def stored_rows(stored: Sequence[StoredAnomaly], as_of: date) -> list[dict[str, str]]:
    """The same rows for anomalies as the anomaly store holds them (the day's view).

    Example:
        >>> stored_rows([], date(2026, 11, 25))
        []
    """
    rows: list[dict[str, str]] = []
    for s in stored:
        ongoing = s.status in {"open", "acknowledged"}
        pct = "new" if s.impact_pct is None else f"{s.impact_pct:+.0f}%"
        dates = s.start_date.isoformat()
        if s.end_date != s.start_date:
            dates = f"{s.start_date} to {s.end_date}"
        rows.append(
            {
                "monitor": s.monitor_id,
                "dates": dates + (" (ongoing)" if ongoing else ""),
                "status": s.status.value,
                "actual_usd": _usd(float(s.total_actual_usd)),
                "expected_usd": _usd(float(s.total_expected_usd)),
                "impact_usd": ("+" if s.total_impact_usd >= 0 else "")
                + _usd(float(s.total_impact_usd)),
                "impact_pct": pct,
                "top_causes": summarize_causes(list(s.root_causes)) or "-",
                "also_aws": ", ".join(a[:8] for a in s.aws_anomaly_ids) or "-",
                "anomaly_id": s.anomaly_id,
                "alert": "yes" if s.alert else "no",
            }
        )
    return rows


def render_text(rows: Sequence[dict[str, str]], as_of: date) -> str:
    """A fixed-width table for the terminal (USD over each anomaly's dates).

    Example:
        >>> render_text([], date(2026, 11, 25))
        'No cost anomalies through 2026-11-25.'
    """
    if not rows:
        return f"No cost anomalies through {as_of.isoformat()}."
    headers = ["id", *COLUMNS]
    table = [[r["anomaly_id"][:8], *(r[c] for c in COLUMNS)] for r in rows]
    widths = [min(60, max(len(h), *(len(row[i]) for row in table))) for i, h in enumerate(headers)]
    lines = [
        f"Cost anomalies through {as_of.isoformat()} (USD, totals over each anomaly's dates):",
        "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
    ]
    for row in table:
        lines.append(
            "  ".join(cell[:w].ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        )
    return "\n".join(lines)


def render_markdown(rows: Sequence[dict[str, str]], as_of: date) -> str:
    """The same table as Markdown (Prefect artifact, Slack-free reports)."""
    title = f"### Cost anomalies through {as_of.isoformat()} (USD over each anomaly's dates)\n\n"
    if not rows:
        return title + "No cost anomalies.\n"
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = [r[c].replace("|", "/") for c in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return title + "\n".join(lines) + "\n"


def chart_png(
    days: Sequence[date],
    actual: np.ndarray,
    expected: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    anomaly: Anomaly | ChartSpan,
    context_days: int = 60,
) -> bytes:
    """A PNG of one monitor's daily cost: the series, the expected band, the anomaly marked.

    Args:
        days: the series' days.
        actual, expected, lower, upper: the monitor's arrays from the detector.
        anomaly: the anomaly to mark.
        context_days: days shown before the anomaly's start.

    Returns:
        PNG bytes (matplotlib, Agg backend: no display needed).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start_index = days.index(anomaly.start) if anomaly.start in days else 0
    first = max(0, start_index - context_days)
    shown = slice(first, len(days))
    x = np.array(days[shown], dtype="datetime64[D]")
    figure, axes = plt.subplots(figsize=(7.5, 2.8), dpi=90)
    try:
        axes.fill_between(
            x, lower[shown], upper[shown], color="#9ecae1", alpha=0.5, label="expected band"
        )
        axes.plot(x, expected[shown], color="#3182bd", linewidth=1, label="expected")
        axes.plot(x, actual[shown], color="#222222", linewidth=1.3, label="actual")
        in_anomaly = (x >= np.datetime64(anomaly.start)) & (x <= np.datetime64(anomaly.end))
        axes.scatter(
            x[in_anomaly],
            actual[shown][in_anomaly],
            color="#e6550d",
            zorder=3,
            s=18,
            label="anomaly",
        )
        axes.axvspan(
            np.datetime64(anomaly.start),  # type: ignore[arg-type]
            np.datetime64(anomaly.end) + 1,  # type: ignore[arg-type]
            color="#fdd0a2",
            alpha=0.4,
        )
        axes.set_title(
            f"{anomaly.monitor_id}: impact USD {anomaly.total_impact:,.2f} "
            f"({anomaly.start} to {anomaly.end})",
            fontsize=9,
        )
        axes.set_ylabel("USD per day", fontsize=8)
        axes.tick_params(labelsize=7)
        axes.legend(fontsize=7, loc="upper left")
        figure.autofmt_xdate()
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    return buffer.getvalue()


@dataclass(frozen=True)
class ChartSpan:
    """What a chart marks: the monitor, the anomaly's dates and its total impact (USD)."""

    monitor_id: str
    start: date
    end: date
    total_impact: float

    @classmethod
    def of_stored(cls, stored: StoredAnomaly) -> ChartSpan:
        return cls(
            stored.monitor_id, stored.start_date, stored.end_date, float(stored.total_impact_usd)
        )


def chart_for(run: Any, anomaly: Anomaly | ChartSpan) -> bytes:
    """The chart of an anomaly from an :class:`tasks.anomalies.pipeline.AnomalyRun`.

    Raises:
        KeyError: the run has no series for the anomaly's monitor.
    """
    row = run.series.index_of(anomaly.monitor_id)
    d = run.detection
    return chart_png(
        run.series.days, d.actual[row], d.expected[row], d.lower[row], d.upper[row], anomaly
    )


def anomaly_record(
    anomaly: Anomaly, status: str | None = None, is_new: bool = False
) -> dict[str, Any]:
    """An anomaly as plain data, with the field names of ``tasks.notify.models.AnomalySummary``.

    Money is ``Decimal`` USD (cents) over the anomaly's dates; new spend (nothing expected) has
    an ``impact_pct`` of 100.

    Example:
        >>> anomaly_record.__name__
        'anomaly_record'
    """
    return {
        "id": anomaly.anomaly_id,
        "monitor": f"{anomaly.monitor.type}: {anomaly.monitor.value}",
        "monitor_type": anomaly.monitor.type,
        "start": anomaly.start,
        "end": anomaly.end,
        "peak_date": anomaly.peak,
        "actual_usd": to_cents(anomaly.total_actual),
        "expected_usd": to_cents(anomaly.total_expected),
        "impact_usd": to_cents(anomaly.total_impact),
        "impact_pct": 100.0 if anomaly.impact_pct is None else round(anomaly.impact_pct, 1),
        "direction": "increase" if anomaly.direction == "increase" else "drop",
        "status": status or ("open" if anomaly.ongoing else "resolved"),
        "causes": cause_records(anomaly.root_causes),
        "alert": anomaly.alert,
        "is_new": is_new,
        "kind": anomaly.kind,
    }


def cause_records(root_causes: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Root causes (the detector's ``change_usd``/``share_pct``) in ``AnomalyCause``'s fields.

    Example:
        >>> cause_records([{"dimension": "service", "value": "S3", "change_usd": 80.0,
        ...                 "share_pct": 80.0}])
        [{'dimension': 'service', 'value': 'S3', 'impact_usd': Decimal('80.00'), 'share': 0.8}]
    """
    return [
        {
            "dimension": c["dimension"],
            "value": c["value"],
            "impact_usd": to_cents(c["change_usd"]),
            "share": round(c["share_pct"] / 100.0, 4),
        }
        for c in root_causes
    ]


def stored_record(stored: StoredAnomaly, is_new: bool = False) -> dict[str, Any]:
    """A stored anomaly as plain data, with the field names of ``AnomalySummary``."""
    return {
        "id": stored.anomaly_id,
        "monitor": f"{stored.monitor_type}: {stored.monitor_value}",
        "monitor_type": stored.monitor_type,
        "start": stored.start_date,
        "end": stored.end_date,
        "peak_date": stored.peak_date,
        "actual_usd": stored.total_actual_usd,
        "expected_usd": stored.total_expected_usd,
        "impact_usd": stored.total_impact_usd,
        "impact_pct": 100.0 if stored.impact_pct is None else round(stored.impact_pct, 1),
        "direction": "increase" if stored.direction == "increase" else "drop",
        "status": stored.status.value,
        "causes": cause_records(stored.root_causes),
        "alert": stored.alert,
        "is_new": is_new,
        "kind": stored.kind,
        "aws_anomaly_ids": list(stored.aws_anomaly_ids),
    }
