"""Pure rendering of the 30-day cost chart PNG attached to the Slack digest."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Any


def cost_chart_png(series: list[tuple[date, Decimal]], title: str) -> bytes:
    """A PNG line chart of daily spend (USD per day), the last point highlighted.

    Example:
        >>> png = cost_chart_png([(date(2026, 11, 24), Decimal("5")),
        ...                       (date(2026, 11, 25), Decimal("7"))], "spend")
        >>> png[:4]
        b'\\x89PNG'
    """
    if not series:
        raise ValueError("the cost chart needs at least one day of spend")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    days: list[Any] = [d for d, _ in series]
    values = [float(v) for _, v in series]
    # A Figure without pyplot holds no global state, so charts are safe from worker threads.
    figure = Figure(figsize=(8, 3), dpi=100)
    axes = figure.add_subplot()
    axes.plot(days, values, color="#1f77b4", linewidth=1.8)
    axes.scatter([days[-1]], [values[-1]], color="#d62728", zorder=3)
    axes.set_title(title, fontsize=10)
    axes.set_ylabel("USD per day")
    axes.grid(True, alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
