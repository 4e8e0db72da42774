"""Coverage and utilisation computed from the cost store's FOCUS commitment columns (pure).

Independent of Cost Explorer's commitment calls: only the stored cost rows are read.

* **Used** commitment: the effective (amortised) cost of rows whose CommitmentDiscountStatus is
  ``Used``.
* **Unused** commitment: the effective cost of the commitment's other rows.  In a FOCUS export the
  unused share is a ``Usage`` row with status ``Unused`` (the fee rows carry no effective cost); in
  Cost Explorer rows the fee row's amortised cost *is* the unused share.  One rule serves both.
* **Covered** spend: the list (on-demand) cost of ``Used`` rows; **on-demand**: the effective
  cost of eligible usage no commitment touched.  Savings Plans: EC2 instance usage
  (``BoxUsage``); Reserved Instances: instance hours (``InstanceUsage``/``BoxUsage``) of the RI's
  service.

Where a day is stored from both sources, the export (invoice grade, with commitment ids) is read.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import pandas as pd

from tasks.commitments.models import DayFigures, Kind, cents

SP_ELIGIBLE_SERVICE = "Amazon Elastic Compute Cloud - Compute"
INSTANCE_USAGE = "InstanceUsage:|BoxUsage:"
#: The columns these functions read.
COLUMNS = [
    "charge_date",
    "source",
    "sub_account_id",
    "region",
    "service",
    "charge_category",
    "usage_type",
    "effective_cost",
    "list_cost",
    "usage_quantity",
    "commitment_discount_id",
    "commitment_discount_type",
    "commitment_discount_status",
]


def one_source_per_day(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of one source per day: the export where a day has both.

    Example:
        >>> rows = pd.DataFrame({"charge_date": [date(2026, 1, 1)] * 2, "source": ["ce", "export"]})
        >>> one_source_per_day(rows)["source"].tolist()
        ['export']
    """
    if frame.empty:
        return frame
    chosen = frame.groupby("charge_date")["source"].transform("max")
    return frame[frame["source"] == chosen]


def _sp_eligible(frame: pd.DataFrame) -> pd.Series:
    return (
        (frame["service"] == SP_ELIGIBLE_SERVICE)
        & (frame["charge_category"] == "Usage")
        & frame["usage_type"].fillna("").str.contains("BoxUsage:", regex=False)
    )


def daily_figures(frame: pd.DataFrame, first: date, last: date) -> list[DayFigures]:
    """Used, unused, covered and on-demand figures per day and commitment kind.

    Args:
        frame: stored cost rows (:data:`COLUMNS` at least), any sources.
        first, last: the days (inclusive).
    """
    rows = one_source_per_day(
        frame[(frame["charge_date"] >= first) & (frame["charge_date"] <= last)]
    )
    committed = rows[rows["commitment_discount_type"].notna()]
    used = committed["commitment_discount_status"] == "Used"
    out: list[DayFigures] = []
    for kind in ("Savings Plan", "Reserved Instance"):
        mine = committed["commitment_discount_type"] == kind
        used_by_day = committed[mine & used].groupby("charge_date")["effective_cost"].sum()
        unused_by_day = committed[mine & ~used].groupby("charge_date")["effective_cost"].sum()
        covered_by_day = committed[mine & used].groupby("charge_date")["list_cost"].sum()
        if kind == "Savings Plan":
            eligible = rows[_sp_eligible(rows) & rows["commitment_discount_type"].isna()]
            on_demand_by_day = eligible.groupby("charge_date")["effective_cost"].sum()
        else:
            on_demand_by_day = pd.Series(dtype=float)
        days = sorted(set(used_by_day.index) | set(unused_by_day.index))
        for day in days:
            out.append(
                DayFigures(
                    day=day,
                    kind=kind,  # type: ignore[arg-type]
                    used_usd=cents(float(used_by_day.get(day, 0.0))),
                    unused_usd=cents(float(unused_by_day.get(day, 0.0))),
                    covered_usd=cents(float(covered_by_day.get(day, 0.0))),
                    on_demand_usd=cents(float(on_demand_by_day.get(day, 0.0)))
                    if kind == "Savings Plan"
                    else None,
                )
            )
    return out


def unused_by_commitment(
    frame: pd.DataFrame, first: date, last: date
) -> dict[str, dict[str, object]]:
    """Per commitment id: owner account, kind, unused USD over the days, days seen, used USD.

    Only export rows name their commitment, so only they count here.
    """
    rows = frame[
        (frame["charge_date"] >= first)
        & (frame["charge_date"] <= last)
        & frame["commitment_discount_id"].notna()
    ]
    out: dict[str, dict[str, object]] = {}
    for commitment_id, group in rows.groupby("commitment_discount_id"):
        used = group["commitment_discount_status"] == "Used"
        out[str(commitment_id)] = {
            "account_id": str(group["sub_account_id"].iloc[0]),
            "kind": str(group["commitment_discount_type"].iloc[0]),
            "unused_usd": cents(float(group[~used]["effective_cost"].sum())),
            "used_usd": cents(float(group[used]["effective_cost"].sum())),
            "days": int(group["charge_date"].nunique()),
        }
    return out


def eligible_on_demand(frame: pd.DataFrame, first: date, last: date) -> list[float]:
    """Uncovered EC2 instance spend (USD) per day, ``first``..``last`` (0 for a day without any)."""
    rows = one_source_per_day(
        frame[(frame["charge_date"] >= first) & (frame["charge_date"] <= last)]
    )
    eligible = rows[_sp_eligible(rows) & rows["commitment_discount_type"].isna()]
    per_day = eligible.groupby("charge_date")["effective_cost"].sum()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [float(per_day.get(day, 0.0)) for day in days]


def learned_rate(frame: pd.DataFrame) -> float | None:
    """The Savings Plan price relative to on-demand that the stored covered usage shows.

    Example:
        >>> rows = pd.DataFrame({"commitment_discount_type": ["Savings Plan"],
        ...     "commitment_discount_status": ["Used"], "effective_cost": [7.2],
        ...     "list_cost": [10.0]})
        >>> learned_rate(rows)
        0.72
    """
    covered = frame[
        (frame["commitment_discount_type"] == "Savings Plan")
        & (frame["commitment_discount_status"] == "Used")
        & frame["list_cost"].notna()
    ]
    listed = float(covered["list_cost"].sum())
    if listed <= 0:
        return None
    return round(float(covered["effective_cost"].sum()) / listed, 4)


def totals(figures: Iterable[DayFigures], kind: Kind) -> dict[str, object]:
    """Used, unused and utilisation over a window for one kind (cents, percent)."""
    mine = [f for f in figures if f.kind == kind]
    used = sum((f.used_usd for f in mine), start=cents(0))
    unused = sum((f.unused_usd for f in mine), start=cents(0))
    covered = sum((f.covered_usd or cents(0) for f in mine), start=cents(0))
    on_demand = sum((f.on_demand_usd or cents(0) for f in mine), start=cents(0))
    whole = used + unused
    return {
        "used_usd": used,
        "unused_usd": unused,
        "utilisation_pct": None if not whole else cents(100 * used / whole),
        "coverage_pct": None
        if kind != "Savings Plan" or not (covered + on_demand)
        else cents(100 * covered / (covered + on_demand)),
        "days": len(mine),
    }


def reservation_hours(
    frame: pd.DataFrame, first: date, last: date, service: str
) -> dict[str, float]:
    """Reserved and on-demand instance hours of one service over the days (RI coverage).

    Example:
        >>> rows = pd.DataFrame({"charge_date": [date(2026, 1, 1)] * 2, "source": ["export"] * 2,
        ...     "service": ["RDS"] * 2, "charge_category": ["Usage"] * 2,
        ...     "usage_type": ["InstanceUsage:db.r5.large"] * 2, "usage_quantity": [24.0, 12.0],
        ...     "commitment_discount_type": ["Reserved Instance", None]})
        >>> reservation_hours(rows, date(2026, 1, 1), date(2026, 1, 1), "RDS")
        {'reserved_hours': 24.0, 'on_demand_hours': 12.0}
    """
    rows = one_source_per_day(
        frame[(frame["charge_date"] >= first) & (frame["charge_date"] <= last)]
    )
    eligible = rows[
        (rows["service"] == service)
        & (rows["charge_category"] == "Usage")
        & rows["usage_type"].fillna("").str.contains(INSTANCE_USAGE, regex=True)
        & (rows["commitment_discount_type"].fillna("") != "Savings Plan")
    ]
    reserved = eligible["commitment_discount_type"] == "Reserved Instance"
    return {
        "reserved_hours": round(float(eligible[reserved]["usage_quantity"].sum()), 2),
        "on_demand_hours": round(float(eligible[~reserved]["usage_quantity"].sum()), 2),
    }
