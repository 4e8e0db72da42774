"""The sandbox's commitments: the plan the ledger bills, the inventory and the ground truth.

One list of :class:`Commitment` drives everything the sandbox says about Reserved Instances and
Savings Plans: :func:`sandbox.ledger.generate_ledger` bills and amortises each one over its active
days (fee rows on the first active day of each month, covered usage every day, an *unused* row
when the commitment is not fully used), :mod:`sandbox.savings_plans` describes the plans,
:mod:`sandbox.ce_commitments` answers Cost Explorer's coverage, utilisation and recommendation
calls from the ledger's rows, and :func:`commitments_ground_truth` says what is known to be right.

The plan, for ``end`` = the sandbox's today (terms are 365 x years days):

* every account: a Compute Savings Plan, 3 years No Upfront, started 500 days ago, fully used;
* every account: an RDS Reserved Instance (``db.r5.large``), 3 years, fully used: started 700
  days ago in the members and 1,070 days ago in the management account, so that one **expires in
  25 days**.  Every RI starts before the ledger's 400 days: a start inside them would add the
  covered usage to the bill from one day to the next, a level shift no injected anomaly explains;
* the last member: a 1-year Compute Savings Plan started 90 days ago of $6.00 a day of which only
  60 % is used, so $2.40 a day is **unused**.

Example:
    >>> from datetime import date
    >>> plans = plan_commitments(7, ["123456789012", "210987654321"], "us-east-1",
    ...                          date(2026, 12, 4), [0.45, 0.7])
    >>> [(p.kind, p.term_years, p.days_left(date(2026, 12, 4))) for p in plans][:2]
    [('Savings Plan', 3, 595), ('Reserved Instance', 3, 25)]
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sandbox.ledger import Ledger

NAMESPACE = uuid.UUID("6d1f7c2e-41a5-4f59-9d0b-5c0b8e3f19a7")
#: Savings Plan and RI prices relative to on-demand (the ledger's list costs follow them).
SP_RATE = 0.72
RI_RATE = 0.66
#: The on-demand usage a Compute Savings Plan covers in the sandbox (EC2 instance hours).
SP_ELIGIBLE_SERVICE = "Amazon Elastic Compute Cloud - Compute"
SP_ELIGIBLE_PREFIX = "BoxUsage:"
#: Look-back days of the recommendation ground truth (CE ``THIRTY_DAYS``).
LOOKBACK_DAYS = 30


@dataclass(frozen=True)
class Commitment:
    """One Reserved Instance or Savings Plan of the sandbox.

    Attributes:
        commitment_id: the FOCUS CommitmentDiscountId (the plan's or reservation's ARN).
        short_id: the Savings Plan id or the reservation (lease) id.
        kind: ``Savings Plan`` or ``Reserved Instance`` (FOCUS CommitmentDiscountType).
        account_id: the owner account.
        region: the RI's region; the Savings Plan's usage region (its fee row has none).
        fee_service, fee_usage_type, fee_record: the fee rows' service, usage type, CE record type.
        covered_service, covered_usage_type, covered_record: the covered usage rows (usage type
            without the region prefix).
        unit_price: on-demand USD per hour of the covered usage.
        rate: commitment price relative to on-demand.
        instance_type: the RI's instance type (``None`` for a Savings Plan).
        term_years: 1 or 3.
        payment_option: ``No Upfront`` (every sandbox commitment; no upfront fees to amortise).
        daily_usd: the commitment per day (hourly x 24).
        used_fraction: the share of the commitment the covered usage consumes.
        start: first active day; end: the day it expires (first day no longer active).
    """

    commitment_id: str
    short_id: str
    kind: str
    account_id: str
    region: str
    fee_service: str
    fee_usage_type: str
    fee_record: str
    covered_service: str
    covered_usage_type: str
    covered_record: str
    unit_price: float
    rate: float
    instance_type: str | None
    term_years: int
    payment_option: str
    daily_usd: float
    used_fraction: float
    start: date
    end: date

    @property
    def category(self) -> str:
        """FOCUS CommitmentDiscountCategory: Savings Plans commit spend, RIs usage."""
        return "Spend" if self.kind == "Savings Plan" else "Usage"

    @property
    def hourly_usd(self) -> float:
        """The hourly commitment in USD."""
        return self.daily_usd / 24.0

    @property
    def name(self) -> str:
        """FOCUS CommitmentDiscountName."""
        what = (
            "Compute Savings Plan" if self.kind == "Savings Plan" else f"RDS {self.instance_type}"
        )
        return f"{what} {self.term_years}yr {self.payment_option}"

    def days_left(self, today: date) -> int:
        """Days from ``today`` until it expires."""
        return (self.end - today).days

    def active(self, day: date) -> bool:
        """Whether the commitment is in force on ``day``."""
        return self.start <= day < self.end


def _uuid(seed: int, account_id: str, label: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{seed}/{account_id}/{label}")


def plan_commitments(
    seed: int,
    accounts: Sequence[str],
    primary: str,
    end: date,
    account_scale: Sequence[float],
) -> list[Commitment]:
    """The sandbox's commitments (see the module docstring); ``end`` is the ledger's end (today).

    Args:
        seed: the sandbox seed (ids derive from it).
        accounts: account ids, management first.
        primary: the primary region (where the covered usage runs).
        end: today; terms are placed relative to it.
        account_scale: the ledger's size factor per account (commitments scale with it).
    """
    from sandbox.ledger import EC2_COMPUTE, RDS, SAVINGS_PLANS

    plans: list[Commitment] = []

    def savings_plan(
        account_id: str, label: str, term: int, started: int, daily: float, used: float, usage: str
    ) -> Commitment:
        plan = _uuid(seed, account_id, label)
        price = {"BoxUsage:m5.xlarge": 0.192, "BoxUsage:c5.large": 0.085}[usage]
        return Commitment(
            commitment_id=f"arn:aws:savingsplans::{account_id}:savingsplan/{plan}",
            short_id=str(plan),
            kind="Savings Plan",
            account_id=account_id,
            region=primary,
            fee_service=SAVINGS_PLANS,
            fee_usage_type=f"ComputeSP:{term}yrNoUpfront",
            fee_record="SavingsPlanRecurringFee",
            covered_service=EC2_COMPUTE,
            covered_usage_type=usage,
            covered_record="SavingsPlanCoveredUsage",
            unit_price=price,
            rate=SP_RATE,
            instance_type=None,
            term_years=term,
            payment_option="No Upfront",
            daily_usd=daily,
            used_fraction=used,
            start=end - timedelta(days=started),
            end=end - timedelta(days=started) + timedelta(days=365 * term),
        )

    for index, account_id in enumerate(accounts):
        scale = float(account_scale[index])
        plans.append(
            savings_plan(
                account_id, "compute-sp", 3, 500, round(28.0 * scale, 2), 1.0, "BoxUsage:m5.xlarge"
            )
        )
        term, started = 3, (365 * 3 - 25 if index == 0 else 700)
        lease = _uuid(seed, account_id, "rds-ri").hex[:12]
        plans.append(
            Commitment(
                commitment_id=f"arn:aws:rds:{primary}:{account_id}:ri:ri-{lease}",
                short_id=f"ri-{lease}",
                kind="Reserved Instance",
                account_id=account_id,
                region=primary,
                fee_service=RDS,
                fee_usage_type="HeavyUsage:db.r5.large",
                fee_record="RIFee",
                covered_service=RDS,
                covered_usage_type="InstanceUsage:db.r5.large",
                covered_record="DiscountedUsage",
                unit_price=0.25,
                rate=RI_RATE,
                instance_type="db.r5.large",
                term_years=term,
                payment_option="No Upfront",
                daily_usd=round(9.0 * scale, 2),
                used_fraction=1.0,
                start=end - timedelta(days=started),
                end=end - timedelta(days=started) + timedelta(days=365 * term),
            )
        )
    if len(accounts) > 1:
        plans.append(savings_plan(accounts[-1], "idle-sp", 1, 90, 6.0, 0.6, "BoxUsage:c5.large"))
    return plans


def eligible_daily_on_demand(ledger: Ledger, first: date, last: date) -> list[float]:
    """The organisation's on-demand EC2 instance spend per day (USD), ``first``..``last``."""
    frame = ledger.frame
    mask = (
        (frame["service"] == SP_ELIGIBLE_SERVICE)
        & (frame["charge_category"] == "Usage")
        & frame["usage_type"].str.contains(SP_ELIGIBLE_PREFIX, regex=False)
        & frame["commitment_discount_id"].isna()
        & (frame["charge_date"] >= first)
        & (frame["charge_date"] <= last)
    )
    per_day = frame[mask].groupby("charge_date")["effective_cost"].sum()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [float(per_day.get(day, 0.0)) for day in days]


def best_hourly_commitment(daily_on_demand: Sequence[float], rate: float) -> float:
    """The hourly Savings Plan commitment that maximises net savings over the days given.

    Closed form (the simulation in :mod:`tasks.commitments.simulate` searches instead): a
    commitment of ``c`` USD/hour covers ``24 c / rate`` USD of on-demand a day; net savings grow
    with ``c`` while more than ``rate`` of the days use the whole coverage, so the optimum puts the
    coverage at the ``ceil(n (1 - rate))``-th smallest day.

    Example:
        >>> round(best_hourly_commitment([240.0] * 10, 0.72), 4)
        7.2
    """
    ordered = sorted(daily_on_demand)
    index = max(math.ceil(len(ordered) * (1.0 - rate)) - 1, 0)
    return ordered[index] * rate / 24.0


def commitments_ground_truth(ledger: Ledger, today: date) -> dict[str, Any]:
    """What the sandbox knows about its commitments, for tests, the demo and benchmarks.

    Returns:
        ``inventory`` (one entry per commitment), ``expiring_within_30_days`` and
        ``under_utilised`` (commitment ids), ``daily`` utilisation per commitment type
        (``date``, ``kind``, ``used_usd``, ``unused_usd``, cents), and ``recommendation``: the
        best hourly Compute Savings Plan commitment over the last ``LOOKBACK_DAYS`` days of
        on-demand EC2 usage, its rate and window.
    """
    plans: list[Commitment] = ledger.commitments
    last = ledger.last_day
    first = last - timedelta(days=LOOKBACK_DAYS - 1)
    usage = eligible_daily_on_demand(ledger, first, last)
    frame = ledger.frame[ledger.frame["commitment_discount_status"].notna()]
    daily = (
        frame.groupby(["charge_date", "commitment_discount_type", "commitment_discount_status"])[
            "effective_cost"
        ]
        .sum()
        .round(2)
    )
    days: dict[tuple[str, str], dict[str, float]] = {}
    for key, amount in daily.items():
        parts: tuple[Any, ...] = tuple(key)  # type: ignore[arg-type]
        entry = days.setdefault(
            (parts[0].isoformat(), str(parts[1])), {"used_usd": 0.0, "unused_usd": 0.0}
        )
        entry["used_usd" if parts[2] == "Used" else "unused_usd"] = float(amount)
    return {
        "inventory": [
            {
                "commitment_id": plan.commitment_id,
                "id": plan.short_id,
                "kind": plan.kind,
                "account_id": plan.account_id,
                "region": plan.region,
                "term_years": plan.term_years,
                "payment_option": plan.payment_option,
                "hourly_commitment_usd": round(plan.hourly_usd, 6),
                "start": plan.start.isoformat(),
                "end": plan.end.isoformat(),
                "days_left": plan.days_left(today),
                "used_fraction": plan.used_fraction,
                "unused_daily_usd": round(plan.daily_usd * (1 - plan.used_fraction), 2),
            }
            for plan in plans
        ],
        "expiring_within_30_days": [p.commitment_id for p in plans if p.days_left(today) <= 30],
        "under_utilised": [p.commitment_id for p in plans if p.used_fraction < 1.0],
        "daily": [{"date": d, "kind": k, **v} for (d, k), v in sorted(days.items())],
        "recommendation": {
            "best_hourly_commitment_usd": round(best_hourly_commitment(usage, SP_RATE), 6),
            "rate": SP_RATE,
            "lookback_days": LOOKBACK_DAYS,
            "first_day": first.isoformat(),
            "last_day": last.isoformat(),
            "mean_daily_on_demand_usd": round(float(np.mean(usage)), 2),
            "plan": "Compute Savings Plan, 1 year, No Upfront",
        },
    }


#: Savings Plans payment options as the savingsplans API spells them, by CE's enum names.
PAYMENT_OPTIONS: dict[str, str] = {
    "NO_UPFRONT": "No Upfront",
    "PARTIAL_UPFRONT": "Partial Upfront",
    "ALL_UPFRONT": "All Upfront",
}
TERMS: dict[str, int] = {"ONE_YEAR": 1, "THREE_YEARS": 3}


def offering_id(term_years: int, payment_option: str) -> str:
    """The Compute Savings Plan offering id of a term and payment option (``No Upfront`` ...).

    Example:
        >>> offering_id(1, "No Upfront") == offering_id(1, "No Upfront")
        True
    """
    return str(uuid.uuid5(NAMESPACE, f"offering/compute/{term_years}/{payment_option}"))
