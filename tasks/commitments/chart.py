"""The monthly coverage and utilisation chart (pure): figures per month and their PNG."""

from __future__ import annotations

import io
from collections.abc import Iterable
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from tasks.commitments.models import DayFigures, cents


class MonthFigures(BaseModel):
    """One month's Savings Plan coverage and utilisation per kind (percent, None when empty)."""

    model_config = ConfigDict(frozen=True)

    month: str  # 'YYYY-MM'
    sp_coverage_pct: Decimal | None
    sp_utilisation_pct: Decimal | None
    ri_utilisation_pct: Decimal | None
    unused_usd: Decimal


def monthly(figures: Iterable[DayFigures]) -> list[MonthFigures]:
    """Sum the days into months.

    Example:
        >>> from datetime import date
        >>> day = DayFigures(day=date(2026, 11, 3), kind="Savings Plan", used_usd=Decimal("3"),
        ...     unused_usd=Decimal("1"), covered_usd=Decimal("4"), on_demand_usd=Decimal("4"))
        >>> m = monthly([day])[0]
        >>> m.month, m.sp_coverage_pct, m.sp_utilisation_pct
        ('2026-11', Decimal('50.00'), Decimal('75.00'))
    """
    sums: dict[str, dict[str, Decimal]] = {}
    for f in figures:
        month = f.day.strftime("%Y-%m")
        entry = sums.setdefault(month, {})
        prefix = "sp" if f.kind == "Savings Plan" else "ri"
        for name, value in (
            ("used", f.used_usd),
            ("unused", f.unused_usd),
            ("covered", f.covered_usd or Decimal(0)),
            ("on_demand", f.on_demand_usd or Decimal(0)),
        ):
            entry[f"{prefix}_{name}"] = entry.get(f"{prefix}_{name}", Decimal(0)) + value

    def pct(part: Decimal, whole: Decimal) -> Decimal | None:
        return cents(100 * part / whole) if whole else None

    out = []
    for month, s in sorted(sums.items()):
        get = s.get
        zero = Decimal(0)
        out.append(
            MonthFigures(
                month=month,
                sp_coverage_pct=pct(
                    get("sp_covered", zero), get("sp_covered", zero) + get("sp_on_demand", zero)
                ),
                sp_utilisation_pct=pct(
                    get("sp_used", zero), get("sp_used", zero) + get("sp_unused", zero)
                ),
                ri_utilisation_pct=pct(
                    get("ri_used", zero), get("ri_used", zero) + get("ri_unused", zero)
                ),
                unused_usd=get("sp_unused", zero) + get("ri_unused", zero),
            )
        )
    return out


def chart_png(months: list[MonthFigures], title: str) -> bytes:
    """Bars of Savings Plan coverage beside lines of SP and RI utilisation, per month (PNG)."""
    if not months:
        raise ValueError("the commitments chart needs at least one month of figures")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    labels = [m.month for m in months]
    positions = list(range(len(months)))

    def values(name: str) -> list[float]:
        return [float(getattr(m, name)) if getattr(m, name) is not None else 0.0 for m in months]

    figure = Figure(figsize=(8, 3.2), dpi=100)
    axes = figure.add_subplot()
    axes.bar(positions, values("sp_coverage_pct"), color="#9ecae1", label="SP coverage")
    axes.plot(positions, values("sp_utilisation_pct"), marker="o", label="SP utilisation")
    axes.plot(positions, values("ri_utilisation_pct"), marker="s", label="RI utilisation")
    axes.set_xticks(positions, labels)
    axes.set_ylim(0, 105)
    axes.set_ylabel("percent")
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8, loc="lower left")
    axes.grid(True, axis="y", alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
