"""Root cause of a cost anomaly: which accounts, services, regions and usage types moved, how much.

For each dimension, every member's cost over the anomaly's days is compared with its baseline:
the median, over the four previous same-length windows shifted by whole seasons (so weekdays
line up with weekdays), of that member's cost.  A member's *change* is actual - baseline; its
*share* is its change over the sum of the changes that moved in the anomaly's direction, so the
members that explain an increase add up to 100 %.  Dimensions the monitor already fixes (an
account monitor's account) and dimensions with a single member say nothing and are left out.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from tasks.anomalies.monitors import Monitor, select_rows

#: Dimensions ranked, as cost frame columns, with the name shown to people.
DIMENSIONS: dict[str, str] = {
    "sub_account_id": "account",
    "service": "service",
    "region": "region",
    "usage_type": "usage_type",
}


def _window_costs(
    rows: pd.DataFrame, days: np.ndarray, column: str, first: date, last: date
) -> pd.Series:
    in_window = (days >= np.datetime64(first)) & (days <= np.datetime64(last))
    return rows.loc[in_window].groupby(column, observed=True)["cost"].sum()


def rank_causes(
    rows: pd.DataFrame,
    monitor: Monitor,
    start: date,
    end: date,
    direction: str = "increase",
    period: int = 7,
    windows: int = 4,
    top: int = 3,
    min_share: float = 0.02,
) -> list[dict[str, Any]]:
    """Rank what moved in one anomaly, per dimension.

    Args:
        rows: prepared cost rows (``monitors.prepare_frame``: has ``charge_date`` as dates and
            ``cost``).
        monitor: the anomaly's monitor (its rows are selected here).
        start: first day of the anomaly.
        end: last day of the anomaly.
        direction: ``increase`` or ``decrease``: which way counts as contributing.
        period: days per season (7: weekly).
        windows: baseline windows before the anomaly.
        top: members kept per dimension.
        min_share: members explaining less than this fraction of the move are left out.

    Returns:
        Causes, largest share first: ``{"dimension", "value", "actual_usd", "baseline_usd",
        "change_usd", "share_pct"}``.

    Example:
        >>> rows = pd.DataFrame({"charge_date": [date(2026, 1, d) for d in (1, 8, 8)],
        ...     "sub_account_id": ["1", "1", "1"], "service": ["EC2", "EC2", "S3"],
        ...     "region": ["us-east-1"] * 3, "usage_type": ["Box", "Box", "Storage"],
        ...     "cost": [10.0, 10.0, 50.0]})
        >>> [c["value"] for c in rank_causes(rows, Monitor("organization", "all"),
        ...     date(2026, 1, 8), date(2026, 1, 8), windows=1)]
        ['S3', 'Storage']
    """
    scoped = select_rows(rows, monitor)
    if scoped.empty:
        return []
    length = (end - start).days + 1
    shift = period * math.ceil(length / period)
    days = pd.to_datetime(scoped["charge_date"]).to_numpy().astype("datetime64[D]")
    needed = days >= np.datetime64(start - timedelta(days=shift * windows))
    scoped, days = scoped.loc[needed], days[needed]
    sign = 1.0 if direction == "increase" else -1.0
    fixed = set(monitor.filters)
    causes: list[dict[str, Any]] = []
    for column, name in DIMENSIONS.items():
        if column in fixed or column not in scoped.columns:
            continue
        actual = _window_costs(scoped, days, column, start, end)
        history = [
            _window_costs(
                scoped,
                days,
                column,
                start - timedelta(days=shift * k),
                end - timedelta(days=shift * k),
            )
            for k in range(1, windows + 1)
        ]
        members = pd.Index(sorted({*actual.index, *(m for h in history for m in h.index)}))
        if len(members) < 2:
            continue
        actual = actual.reindex(members, fill_value=0.0)
        baseline_matrix = np.vstack(
            [h.reindex(members, fill_value=0.0).to_numpy() for h in history]
        )
        baseline = pd.Series(np.median(baseline_matrix, axis=0), index=members)
        change = actual - baseline
        moving = (sign * change).clip(lower=0.0)
        total = float(moving.sum())
        if total <= 0:
            continue
        for member in moving.sort_values(ascending=False).index[:top]:
            if moving[member] < min_share * total:
                break
            causes.append(
                {
                    "dimension": name,
                    "value": str(member) or "(none)",
                    "actual_usd": round(float(actual[member]), 2),
                    "baseline_usd": round(float(baseline[member]), 2),
                    "change_usd": round(float(change[member]), 2),
                    "share_pct": round(100.0 * float(moving[member]) / total, 1),
                }
            )
    causes.sort(key=lambda c: (-c["share_pct"], -abs(c["change_usd"])))
    return causes


def summarize_causes(causes: list[dict[str, Any]], limit: int = 3) -> str:
    """The top causes as one short line for tables and messages.

    Example:
        >>> summarize_causes([{"dimension": "service", "value": "S3", "share_pct": 92.0}])
        'service S3 (92%)'
    """
    return ", ".join(
        f"{c['dimension']} {c['value']} ({c['share_pct']:.0f}%)" for c in causes[:limit]
    )
