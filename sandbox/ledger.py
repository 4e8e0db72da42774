"""A deterministic synthetic AWS cost ledger with known anomalies, for the sandbox's CE and export.

The ledger is one row per charge day x account x service x region x charge category x usage
type, in the columns of :data:`tasks.costs.schema.COST_COLUMNS` (``source='export'``,
``estimated=False``).  The same rows feed the Cost Explorer endpoint
(:mod:`sandbox.cost_explorer`) and the FOCUS Parquet export (:mod:`sandbox.export`), so the two
agree to the cent by construction.

The model, chosen so that every figure has a known cause:

* **Days.** ``days`` charge days ending at ``end`` *exclusive*: the first day is
  ``end - days`` and the last is ``end - 1 day`` (the sandbox passes ``end=today``, so the ledger
  runs up to yesterday, which is what a daily bill shows).
* **Usage** (``ChargeCategory='Usage'``, CE record type ``Usage``): per account x region x usage
  type a base daily cost, times exponential growth (6-10 % a year per account), times a weekly
  profile (weekends lower for compute, Lambda and requests; flat for storage), times small
  log-normal noise.  Billed = effective = list cost (on-demand), quantity = cost / unit price.
* **Commitments** (planned by :func:`sandbox.commitments.plan_commitments`: Compute Savings
  Plans and RDS Reserved Instances of 1 and 3 years, one RI expiring in 25 days, one plan 60 %
  used).  On each month's first active day a ``Purchase`` row bills the month's active days
  (``BilledCost`` = daily commitment x those days, ``EffectiveCost`` = 0; CE record types
  ``SavingsPlanRecurringFee`` and ``RIFee``).  Every active day the covered usage is a ``Usage``
  row with ``BilledCost`` = 0 and ``EffectiveCost`` = the used share of the daily commitment (CE
  record types ``SavingsPlanCoveredUsage`` and ``DiscountedUsage``), ``ListCost`` the on-demand
  price; the unused share is a ``Usage`` row of the fee's service with FOCUS status ``Unused``.
  Rows carry the FOCUS commitment columns.  So billed cost spikes on the 1st and effective cost
  stays smooth, as in FOCUS.
* **Support and tax** follow the same billed-on-the-1st / effective-spread model, as one row per
  day: the 1st carries the month's amount as billed cost (0 on other days) and every day carries
  amount / days-in-month as effective cost.  Business support (management account) is AWS's tiered
  10 % / 7 % of the month's usage (at least $100); tax is 5 % of each account's usage.  Months cut
  by the ledger's edges are estimated from the mean daily usage seen in them.
* **Credits** (``Credit``, record type ``Credit``): one member account has a promotional credit of a
  fixed negative amount a day against EC2 for four months.  **Refunds** (``Adjustment``, record
  type ``Refund``): two one-day negative rows.  Both are listed in the ground truth, not as
  anomalies.
* **Anomalies** (added to usage rows, so billed and effective move together): a 2-day spike that
  takes the organisation's daily total over the $1,000 budget, a level shift, a slow drift, a new
  service appearing and a 4-day drop.  Each is recorded with its monitor kind
  (``'service' | 'account' | 'account_service'``), account, service, first and last day and its
  total impact in USD on effective cost.

Money is USD rounded to 1e-6 (the schema's convention; sums are rounded to cents only where shown).
Usage types carry AWS's region prefix (``USE1-BoxUsage:m5.large``); global rows (support, tax,
Savings Plan fees) have region ``''`` and CE reports them as ``NoRegion``.

Example:
    >>> from datetime import date
    >>> ledger = generate_ledger(7, ["123456789012", "210987654321"], ["us-east-1"],
    ...                          date(2026, 1, 1), 120)
    >>> ledger.first_day, ledger.last_day
    (datetime.date(2025, 9, 3), datetime.date(2025, 12, 31))

Over 400 lines on purpose: the whole cost model is one function read top to bottom (days, usage,
commitments, support, tax, credits, injected anomalies), because every figure of the ground truth
must be traceable to one line of it.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from sandbox.commitments import Commitment, plan_commitments
from tasks.costs.schema import COST_COLUMNS

#: Money columns are rounded to this many decimals (1e-6 USD).
MONEY_DECIMALS = 6
#: The daily budget the organisation ran; one injected spike breaches it.
DAILY_BUDGET_USD = 1000.0
#: Fewer days than this cannot hold the injected anomalies with history before them.
MIN_DAYS = 30

#: AWS usage-type region prefixes (CUR ``line_item_usage_type``).
REGION_PREFIX: dict[str, str] = {
    "us-east-1": "USE1",
    "us-east-2": "USE2",
    "us-west-1": "USW1",
    "us-west-2": "USW2",
    "ca-central-1": "CAN1",
    "sa-east-1": "SAE1",
    "eu-west-1": "EU",
    "eu-west-2": "EUW2",
    "eu-west-3": "EUW3",
    "eu-central-1": "EUC1",
    "eu-north-1": "EUN1",
    "ap-south-1": "APS3",
    "ap-southeast-1": "APS1",
    "ap-southeast-2": "APS2",
    "ap-northeast-1": "APN1",
    "ap-northeast-2": "APN2",
}

#: FOCUS RegionName for the regions above.
REGION_NAME: dict[str, str] = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "ca-central-1": "Canada (Central)",
    "sa-east-1": "South America (Sao Paulo)",
    "eu-west-1": "Europe (Ireland)",
    "eu-west-2": "Europe (London)",
    "eu-west-3": "Europe (Paris)",
    "eu-central-1": "Europe (Frankfurt)",
    "eu-north-1": "Europe (Stockholm)",
    "ap-south-1": "Asia Pacific (Mumbai)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-northeast-2": "Asia Pacific (Seoul)",
}

EC2_COMPUTE = "Amazon Elastic Compute Cloud - Compute"
EC2_OTHER = "EC2 - Other"
S3 = "Amazon Simple Storage Service"
RDS = "Amazon Relational Database Service"
LAMBDA = "AWS Lambda"
CLOUDWATCH = "Amazon CloudWatch"
DYNAMODB = "Amazon DynamoDB"
ELB = "Elastic Load Balancing"
VPC = "Amazon Virtual Private Cloud"
KMS = "AWS Key Management Service"
SAGEMAKER = "Amazon SageMaker"
SAVINGS_PLANS = "Savings Plans for AWS Compute usage"
SUPPORT = "AWS Support (Business)"
TAX = "Tax"


@dataclass(frozen=True)
class UsageItem:
    """One usage type of a service: its unit, on-demand price and typical daily cost."""

    service: str
    usage_type: str  # without the region prefix
    unit: str
    unit_price: float  # USD per unit
    base_daily_usd: float  # at account scale 1, primary region
    weekend_factor: float  # Saturday/Sunday cost relative to a weekday
    team: str  # the 'team' cost-allocation tag


#: The usage catalogue every account x region draws from (prices are AWS us-east-1 list prices).
USAGE_CATALOGUE: tuple[UsageItem, ...] = (
    UsageItem(EC2_COMPUTE, "BoxUsage:m5.large", "Hrs", 0.096, 52.0, 0.72, "platform"),
    UsageItem(EC2_COMPUTE, "BoxUsage:t3.medium", "Hrs", 0.0416, 14.0, 0.85, "platform"),
    UsageItem(EC2_OTHER, "EBS:VolumeUsage.gp2", "GB-Mo", 0.10, 17.0, 1.0, "platform"),
    UsageItem(EC2_OTHER, "NatGateway-Hours", "Hrs", 0.045, 3.3, 1.0, "network"),
    UsageItem(EC2_OTHER, "DataTransfer-Regional-Bytes", "GB", 0.01, 4.5, 0.8, "network"),
    UsageItem(EC2_OTHER, "EBS:SnapshotUsage", "GB-Mo", 0.05, 3.8, 1.0, "platform"),
    UsageItem(S3, "TimedStorage-ByteHrs", "GB-Mo", 0.023, 10.5, 1.0, "data"),
    UsageItem(S3, "Requests-Tier1", "Requests", 0.000005, 2.2, 0.7, "data"),
    UsageItem(RDS, "InstanceUsage:db.m5.large", "Hrs", 0.171, 18.0, 1.0, "data"),
    UsageItem(RDS, "RDS:GP2-Storage", "GB-Mo", 0.115, 3.0, 1.0, "data"),
    UsageItem(LAMBDA, "Lambda-GB-Second", "Lambda-GB-Second", 0.0000166667, 4.5, 0.55, "apps"),
    UsageItem(LAMBDA, "Request", "Requests", 0.0000002, 0.9, 0.55, "apps"),
    UsageItem(CLOUDWATCH, "CW:MetricMonitorUsage", "Metrics", 0.01, 3.0, 1.0, "platform"),
    UsageItem(CLOUDWATCH, "CW:Requests", "Requests", 0.00001, 1.1, 0.8, "platform"),
    UsageItem(DYNAMODB, "TimedStorage-ByteHrs", "GB-Mo", 0.25, 1.5, 1.0, "apps"),
    UsageItem(DYNAMODB, "ReadRequestUnits", "ReadRequestUnits", 0.00000025, 3.8, 0.7, "apps"),
    UsageItem(ELB, "LoadBalancerUsage", "Hrs", 0.0225, 3.0, 1.0, "network"),
    UsageItem(ELB, "LCUUsage", "LCU-Hrs", 0.008, 2.2, 0.75, "network"),
    UsageItem(VPC, "PublicIPv4:InUseAddress", "Hrs", 0.005, 1.4, 1.0, "network"),
    UsageItem(KMS, "KMS-Keys", "Keys", 0.0333333, 0.5, 1.0, "security"),
)

#: The service that appears from nothing mid-history (the 'new service' anomaly).
NEW_SERVICE_ITEMS: tuple[UsageItem, ...] = (
    UsageItem(SAGEMAKER, "Notebk:ml.t3.medium", "Hrs", 0.05, 9.0, 0.6, "ml"),
    UsageItem(SAGEMAKER, "Train:ml.m5.xlarge", "Hrs", 0.23, 27.0, 0.6, "ml"),
)

#: FOCUS ServiceCategory of each service.
SERVICE_CATEGORY: dict[str, str] = {
    EC2_COMPUTE: "Compute",
    EC2_OTHER: "Storage",
    S3: "Storage",
    RDS: "Databases",
    LAMBDA: "Compute",
    CLOUDWATCH: "Management and Governance",
    DYNAMODB: "Databases",
    ELB: "Networking",
    VPC: "Networking",
    KMS: "Security",
    SAGEMAKER: "AI and Machine Learning",
    SAVINGS_PLANS: "Compute",
    SUPPORT: "Other",
    TAX: "Other",
}

#: Row kinds (CE RECORD_TYPE values) and the FOCUS charge category each belongs to.
RECORD_TYPE_CATEGORY: dict[str, str] = {
    "Usage": "Usage",
    "SavingsPlanCoveredUsage": "Usage",
    "DiscountedUsage": "Usage",
    "SavingsPlanRecurringFee": "Purchase",
    "RIFee": "Purchase",
    "Support": "Purchase",
    "Tax": "Tax",
    "Credit": "Credit",
    "Refund": "Adjustment",
}

TAX_RATE = 0.05


@dataclass
class _Series:
    """One ledger series before it is spread over days (internal)."""

    account_id: str
    service: str
    region: str
    usage_type: str
    record_type: str
    unit: str | None
    unit_price: float | None
    tags: dict[str, str]
    # (CommitmentDiscountId, Category, Type, Status) of commitment rows
    commitment: tuple[str, str, str, str | None] | None = None
    charge_category: str | None = None  # when it differs from the record type's


@dataclass
class Ledger:
    """The synthetic ledger: cost rows, row attributes, injected anomalies and export versions.

    Attributes:
        frame: one row per key, columns ``COST_COLUMNS`` (see :mod:`tasks.costs.schema`).
        attributes: aligned with ``frame`` (same index): ``day`` (int offset from ``first_day``),
            ``record_type`` (CE RECORD_TYPE), ``unit_price`` (on-demand USD per unit or NaN).
        anomalies: injected anomalies (JSON-ready dicts).
        accounts: account ids, management first; ``account_names`` maps id to name.
        regions: the regions seeded.
        first_day, last_day: the charge days covered (inclusive).
        versions: export version per billing period ``'YYYY-MM'`` (1 at generation, bumped by
            :meth:`restate`).
        credits, refunds: the credit programme and refunds (JSON-ready dicts).
        revision: bumped on each change, so caches over the frame know when to rebuild.
    """

    frame: pd.DataFrame
    attributes: pd.DataFrame
    anomalies: list[dict[str, Any]]
    accounts: list[str]
    account_names: dict[str, str]
    regions: list[str]
    first_day: date
    last_day: date
    seed: int
    versions: dict[str, int]
    credits: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    restatements: list[dict[str, Any]] = field(default_factory=list)
    traps: dict[str, Any] = field(default_factory=dict)
    commitments: list[Commitment] = field(default_factory=list)
    revision: int = 0
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def billing_account_id(self) -> str:
        """The payer (management) account."""
        return self.accounts[0]

    @property
    def billing_periods(self) -> list[str]:
        """The billing periods ``'YYYY-MM'`` the ledger covers, oldest first."""
        return sorted(self.versions)

    def restate(self, day: date, factor: float) -> str:
        """Restate one day: multiply its on-demand usage rows by ``factor`` (AWS re-rates usage).

        Commitment-covered usage, fees, support, tax, credits and refunds are left alone, as a
        usage re-rating would.  The day's billing period gets a new export version.

        Args:
            day: the charge day to restate; must be inside the ledger.
            factor: the multiplier, > 0 (e.g. 1.1 for a 10 % upward correction).

        Returns:
            The billing period ``'YYYY-MM'`` whose version was bumped.

        Raises:
            ValueError: the day is outside the ledger or the factor is not positive.

        Example:
            >>> period = ledger.restate(date(2025, 12, 3), 1.1)   # doctest: +SKIP
        """
        if not self.first_day <= day <= self.last_day:
            raise ValueError(
                f"restate date {day.isoformat()} is outside the ledger "
                f"({self.first_day.isoformat()}..{self.last_day.isoformat()}); pick a day inside it"
            )
        if not np.isfinite(factor) or factor <= 0:
            raise ValueError(f"restate factor must be a positive number, got {factor!r}")
        offset = (day - self.first_day).days
        rows = (self.attributes["day"].to_numpy() == offset) & (
            self.attributes["record_type"].to_numpy() == "Usage"
        )
        for column in ("billed_cost", "effective_cost", "list_cost", "usage_quantity"):
            values = self.frame[column].to_numpy(dtype=float, copy=True)
            values[rows] = np.round(values[rows] * factor, MONEY_DECIMALS)
            self.frame[column] = values
        period = day.strftime("%Y-%m")
        self.versions[period] = self.versions.get(period, 0) + 1
        self.restatements.append(
            {"date": day.isoformat(), "factor": float(factor), "billing_period": period}
        )
        self.revision += 1
        self.cache.clear()
        return period

    def daily_totals(self) -> pd.DataFrame:
        """Billed and effective totals per charge day (all accounts, services, categories).

        Returns:
            Frame indexed by day offset with columns ``date``, ``billed_cost``,
            ``effective_cost`` (floats, full precision).
        """
        days = self.attributes["day"].to_numpy()
        n_days = (self.last_day - self.first_day).days + 1
        billed = np.bincount(days, weights=self.frame["billed_cost"].to_numpy(), minlength=n_days)
        effective = np.bincount(
            days, weights=self.frame["effective_cost"].to_numpy(), minlength=n_days
        )
        dates = [self.first_day + timedelta(days=i) for i in range(n_days)]
        return pd.DataFrame({"date": dates, "billed_cost": billed, "effective_cost": effective})


def account_names_for(accounts: list[str]) -> dict[str, str]:
    """Names the sandbox gives its accounts (CE ``DimensionValueAttributes`` description)."""
    names = {}
    for index, account_id in enumerate(accounts):
        names[account_id] = "management" if index == 0 else f"member-{index}"
    return names


def _weekly_profile(weekend_factor: float) -> np.ndarray:
    """Monday..Sunday multipliers averaging 1 over the week (Friday slightly lower)."""
    profile = np.array([1.0, 1.0, 1.0, 1.0, 0.97, weekend_factor, weekend_factor])
    return profile / profile.mean()


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _days_in_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _business_support(monthly_usage: float) -> float:
    """AWS Business Support: 10 % of the first $10k, 7 % up to $80k, 5 % up to $250k; >= $100."""
    tiers = ((10_000.0, 0.10), (80_000.0, 0.07), (250_000.0, 0.05), (float("inf"), 0.03))
    fee, lower = 0.0, 0.0
    for upper, rate in tiers:
        if monthly_usage > lower:
            fee += (min(monthly_usage, upper) - lower) * rate
        lower = upper
    return max(100.0, fee)


def generate_ledger(
    seed: int,
    accounts: list[str],
    regions: list[str],
    end: date,
    days: int = 400,
    traps: bool = False,
) -> Ledger:
    """Generate the sandbox cost ledger, deterministically for a seed.

    Args:
        seed: the random seed; the same arguments always give the same ledger.
        accounts: account ids, management first (at least one).
        regions: regions to spread usage over (at least one; the first is the primary).
        end: the day after the last charge day (exclusive), normally today.
        days: charge days to generate (at least 30; the sandbox uses 400, over 13 months).
        traps: also add the daily-cost traps of :mod:`sandbox.ledger_traps` (ground truth in
            ``Ledger.traps``).

    Returns:
        The :class:`Ledger`.

    Raises:
        ValueError: an argument is out of range (the message says which and how to fix it).

    Example:
        >>> ledger = generate_ledger(42, ["123456789012", "111111111111", "222222222222"],
        ...                          ["us-east-1", "eu-west-1"], date(2026, 11, 26), 400)
        >>> len(ledger.anomalies)
        5
    """
    if not accounts:
        raise ValueError("generate_ledger needs at least one account id")
    if len(set(accounts)) != len(accounts):
        raise ValueError(f"account ids must be unique, got {accounts}")
    if not regions:
        raise ValueError("generate_ledger needs at least one region")
    if days < MIN_DAYS:
        raise ValueError(f"days must be at least {MIN_DAYS} to hold the anomalies, got {days}")
    unknown = [region for region in regions if region not in REGION_PREFIX]
    if unknown:
        raise ValueError(
            f"no usage-type prefix for region(s) {unknown}; use one of {sorted(REGION_PREFIX)}"
        )
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1ED6E5]))
    first_day = end - timedelta(days=days)
    dates = [first_day + timedelta(days=i) for i in range(days)]
    weekday = np.array([d.weekday() for d in dates])
    years = np.arange(days) / 365.0
    names = account_names_for(accounts)
    envs = ["shared", "prod", "dev", "staging", "test"]

    # Account and region scales: members are bigger than the management account; the default
    # three accounts x two regions land near $700 a day.
    account_scale = np.array(
        [0.45 if i == 0 else float(rng.uniform(0.65, 0.8)) for i in range(len(accounts))]
    )
    region_scale = np.array([1.0 if i == 0 else 0.45 / i for i in range(len(regions))])
    growth = rng.uniform(0.04, 0.08, size=len(accounts))

    series: list[_Series] = []
    usage_rows: list[np.ndarray] = []  # billed cost per day
    items: list[UsageItem] = []
    for a, account_id in enumerate(accounts):
        env = envs[a % len(envs)] if a else "shared"
        for r, region in enumerate(regions):
            prefix = REGION_PREFIX[region]
            for item in USAGE_CATALOGUE:
                # DynamoDB and KMS are not used everywhere: some series simply do not exist.
                if item.service in (DYNAMODB, KMS) and rng.uniform() < 0.3:
                    continue
                base = (
                    item.base_daily_usd
                    * account_scale[a]
                    * region_scale[r]
                    * float(rng.lognormal(0.0, 0.3))
                )
                noise = rng.normal(0.0, 0.045, size=days)
                values = (
                    base
                    * np.exp(growth[a] * years)
                    * _weekly_profile(item.weekend_factor)[weekday]
                    * np.exp(noise - 0.045**2 / 2)
                )
                series.append(
                    _Series(
                        account_id,
                        item.service,
                        region,
                        f"{prefix}-{item.usage_type}",
                        "Usage",
                        item.unit,
                        item.unit_price,
                        {"env": env, "team": item.team},
                    )
                )
                usage_rows.append(values)
                items.append(item)
    usage = np.vstack(usage_rows)
    present = np.ones_like(usage, dtype=bool)

    def find(account_id: str, service: str, region: str, usage_suffix: str) -> int:
        wanted = f"{REGION_PREFIX[region]}-{usage_suffix}"
        for index, s in enumerate(series):
            if (s.account_id, s.service, s.region, s.usage_type) == (
                account_id,
                service,
                region,
                wanted,
            ):
                return index
        raise LookupError(wanted)

    def avoid_first(day_index: int) -> int:
        # Anomalies never start on the 1st, so that they are not confused with monthly fees.
        return day_index + 1 if dates[day_index].day == 1 else day_index

    def jitter(fraction: float) -> int:
        # Kept inside the ledger with room for the longest window (4 days) after it.
        day_index = int(days * fraction) + int(rng.integers(-3, 4))
        return avoid_first(min(max(day_index, 1), days - 5))

    member_a = accounts[1] if len(accounts) > 1 else accounts[0]
    member_b = accounts[2] if len(accounts) > 2 else member_a
    primary = regions[0]
    anomalies: list[dict[str, Any]] = []

    def record(kind: str, monitor: str, account_id: str, service: str, delta: np.ndarray) -> None:
        touched = np.nonzero(np.abs(delta) > 1e-9)[0]
        start, stop = int(touched[0]), int(touched[-1])
        peak = int(np.argmax(np.abs(delta)))
        anomalies.append(
            {
                "kind": kind,
                "monitor": monitor,
                "account_id": account_id,
                "service": service,
                "start": dates[start].isoformat(),
                "end": dates[stop].isoformat(),
                # A change that lasts to the ledger's end (shift, drift, new service) is
                # 'persistent': its end is the last day, not the day it stopped being news.
                "persistent": stop == days - 1 and kind != "spike",
                "impact_usd": round(float(delta.sum()), 2),
                "peak_date": dates[peak].isoformat(),
                "peak_impact_usd": round(float(delta[peak]), 2),
                "metric": "effective_cost",
            }
        )

    # Slow drift: S3 storage of the management account creeps up by $50/day over 40 days, then
    # stays there (a forgotten log bucket).
    s = find(accounts[0], S3, primary, "TimedStorage-ByteHrs")
    start = jitter(0.30)
    ramp = np.clip((np.arange(days) - start + 1) / 40.0, 0.0, 1.0) * 50.0
    usage[s] += ramp
    record("drift", "account_service", accounts[0], S3, ramp)

    # Drop: member B's m5 fleet loses 70 % for 4 days (an outage / scaled to zero by mistake).
    s = find(member_b, EC2_COMPUTE, primary, "BoxUsage:m5.large")
    start = jitter(0.45)
    drop = np.zeros(days)
    drop[start : start + 4] = -0.7 * usage[s, start : start + 4]
    usage[s] += drop
    record("drop", "account_service", member_b, EC2_COMPUTE, drop)

    # Level shift: RDS instance usage of member B goes up by $45/day to the end (a bigger class).
    s = find(member_b, RDS, primary, "InstanceUsage:db.m5.large")
    start = jitter(0.58)
    shift = np.where(np.arange(days) >= start, 45.0, 0.0)
    usage[s] += shift
    record("level_shift", "service", member_b, RDS, shift)

    # New service: SageMaker appears in member A and stays.
    start = jitter(0.72)
    new_rows: list[int] = []
    new_total = np.zeros(days)
    for item in NEW_SERVICE_ITEMS:
        values = np.zeros(days)
        tail = np.arange(days - start)
        values[start:] = (
            item.base_daily_usd
            * _weekly_profile(item.weekend_factor)[weekday[start:]]
            * np.exp(rng.normal(0.0, 0.05, size=days - start) + 0.002 * tail)
        )
        series.append(
            _Series(
                member_a,
                item.service,
                primary,
                f"{REGION_PREFIX[primary]}-{item.usage_type}",
                "Usage",
                item.unit,
                item.unit_price,
                {"env": envs[1] if len(accounts) > 1 else "shared", "team": item.team},
            )
        )
        items.append(item)
        usage = np.vstack([usage, values])
        mask_row = np.zeros(days, dtype=bool)
        mask_row[start:] = True
        present = np.vstack([present, mask_row])
        new_rows.append(len(series) - 1)
        new_total += values
    record("new_service", "service", member_a, SAGEMAKER, new_total)

    # Spike: member A's m5 fleet runs away for 2 days, sized so the organisation's day goes over
    # the $1,000 budget (effective and billed).
    s = find(member_a, EC2_COMPUTE, primary, "BoxUsage:m5.large")
    start = jitter(0.88)
    if dates[start + 1].day == 1:
        start -= 1  # both spike days inside one month, neither on the 1st
    spike = np.zeros(days)
    baseline_day_total = usage[:, start : start + 2].sum(axis=0)
    # Fees, covered usage, support and tax add about $150 a day on top of on-demand usage.
    needed = np.maximum(DAILY_BUDGET_USD * 1.25 - (baseline_day_total + 150.0), 300.0)
    spike[start : start + 2] = np.round(needed, 0)
    usage[s] += spike
    record("spike", "account", member_a, EC2_COMPUTE, spike)

    trap_truth: dict[str, Any] = {}
    if traps:
        from sandbox.ledger_traps import inject_traps

        keys = [(s.account_id, s.service) for s in series]
        trap_truth = inject_traps(usage, keys, dates, accounts, seed)
    usage = np.round(usage, MONEY_DECIMALS)
    n_usage_series = len(series)
    billed = [row for row in usage]
    effective = [row for row in usage]
    listed = [row for row in usage]
    quantity = [np.round(row / items[i].unit_price, MONEY_DECIMALS) for i, row in enumerate(usage)]
    presence = [row for row in present]

    def add(
        s: _Series,
        billed_row: np.ndarray,
        effective_row: np.ndarray,
        list_row: np.ndarray | None,
        quantity_row: np.ndarray | None,
        present_row: np.ndarray,
    ) -> None:
        series.append(s)
        billed.append(np.round(billed_row, MONEY_DECIMALS))
        effective.append(np.round(effective_row, MONEY_DECIMALS))
        listed.append(
            np.full(days, np.nan) if list_row is None else np.round(list_row, MONEY_DECIMALS)
        )
        quantity.append(
            np.full(days, np.nan)
            if quantity_row is None
            else np.round(quantity_row, MONEY_DECIMALS)
        )
        presence.append(present_row)

    day_of_month = np.array([d.day for d in dates])
    dim = np.array([_days_in_month(d) for d in dates], dtype=float)
    is_first = day_of_month == 1
    month_keys = np.array([d.year * 12 + d.month - 1 for d in dates])
    all_days = np.ones(days, dtype=bool)

    # Commitments (sandbox.commitments plans them): fees on each month's first active day,
    # covered usage every active day, and an unused row where the commitment is not fully used.
    prefix = REGION_PREFIX[primary]
    commitments = plan_commitments(seed, accounts, primary, end, account_scale.tolist())
    for plan in commitments:
        a = accounts.index(plan.account_id)
        env = envs[a % len(envs)] if a else "shared"
        active = np.array([plan.active(d) for d in dates])
        in_month = np.array(
            [
                sum(plan.active(d.replace(day=k)) for k in range(1, _days_in_month(d) + 1))
                for d in dates
            ],
            dtype=float,
        )
        first_active = active & (is_first | np.array([d == plan.start for d in dates]))
        fee_region = "" if plan.kind == "Savings Plan" else primary
        fee_usage = plan.fee_usage_type
        if plan.kind != "Savings Plan":
            fee_usage = f"{prefix}-{fee_usage}"
        mark = (plan.commitment_id, plan.category, plan.kind)
        add(
            _Series(
                plan.account_id,
                plan.fee_service,
                fee_region,
                fee_usage,
                plan.fee_record,
                None,
                None,
                {},
                commitment=(*mark, None),
            ),
            np.where(first_active, plan.daily_usd * in_month, 0.0),
            np.zeros(days),
            np.where(first_active, plan.daily_usd * in_month, 0.0),
            None,
            first_active.copy(),
        )
        used = round(plan.daily_usd * plan.used_fraction, 2)
        on_demand = np.full(days, used / plan.rate)
        add(
            _Series(
                plan.account_id,
                plan.covered_service,
                primary,
                f"{prefix}-{plan.covered_usage_type}",
                plan.covered_record,
                "Hrs",
                plan.unit_price,
                {"env": env, "team": "platform" if plan.kind == "Savings Plan" else "data"},
                commitment=(*mark, "Used"),
            ),
            np.zeros(days),
            np.where(active, used, 0.0),
            np.where(active, on_demand, 0.0),
            np.where(active, on_demand / plan.unit_price, 0.0),
            active.copy(),
        )
        if plan.used_fraction < 1.0:
            # FOCUS shows the unused share as a Usage row of the commitment (status Unused); CE
            # counts it in the amortised recurring fee.
            add(
                _Series(
                    plan.account_id,
                    plan.fee_service,
                    fee_region,
                    fee_usage,
                    plan.fee_record,
                    None,
                    None,
                    {},
                    commitment=(*mark, "Unused"),
                    charge_category="Usage",
                ),
                np.zeros(days),
                np.where(active, round(plan.daily_usd - used, 2), 0.0),
                None,
                None,
                active.copy(),
            )

    # Monthly amounts (support, tax) from each month's usage; partial months are scaled up from
    # the mean daily usage the ledger holds for them.
    def monthly_amount(daily_usage: np.ndarray) -> dict[int, float]:
        amounts = {}
        for key in np.unique(month_keys):
            in_month = month_keys == key
            amounts[int(key)] = float(daily_usage[in_month].mean() * dim[in_month][0])
        return amounts

    def spread(amounts: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
        monthly = np.array([amounts[int(k)] for k in month_keys])
        monthly = np.round(monthly, 2)  # AWS bills support and tax in cents
        return np.where(is_first, monthly, 0.0), monthly / dim

    usage_by_account = {
        account_id: sum(
            (usage[i] for i in range(n_usage_series) if series[i].account_id == account_id),
            np.zeros(days),
        )
        for account_id in accounts
    }
    org_usage = sum(usage_by_account.values(), np.zeros(days))
    support_amounts = {
        key: _business_support(value) for key, value in monthly_amount(org_usage).items()
    }
    support_billed, support_effective = spread(support_amounts)
    add(
        _Series(accounts[0], SUPPORT, "", "Business-Support", "Support", None, None, {}),
        support_billed,
        support_effective,
        support_billed,
        None,
        all_days.copy(),
    )
    for account_id in accounts:
        tax = {k: v * TAX_RATE for k, v in monthly_amount(usage_by_account[account_id]).items()}
        tax_billed, tax_effective = spread(tax)
        add(
            _Series(account_id, TAX, "", "Tax", "Tax", None, None, {}),
            tax_billed,
            tax_effective,
            None,
            None,
            all_days.copy(),
        )

    # Credits: a promotional credit of $10/day against member B's EC2 for four months.
    credits: list[dict[str, Any]] = []
    credit_start = next((i for i in range(int(days * 0.15), days) if dates[i].day == 1), None)
    if credit_start is not None:  # a short ledger may hold no 1st to start it on
        # The programme covers four whole months (credits expire at a month's end).
        month_ends = [i for i in range(credit_start, days - 1) if dates[i + 1].day == 1]
        credit_end = month_ends[3] if len(month_ends) > 3 else days - 1
        credit_mask = np.zeros(days, dtype=bool)
        credit_mask[credit_start : credit_end + 1] = True
        credit_row = np.where(credit_mask, -10.0, 0.0)
        add(
            _Series(
                member_b,
                EC2_COMPUTE,
                primary,
                f"{prefix}-BoxUsage:m5.large",
                "Credit",
                None,
                None,
                {},
            ),
            credit_row,
            credit_row,
            None,
            None,
            credit_mask,
        )
        credits.append(
            {
                "account_id": member_b,
                "service": EC2_COMPUTE,
                "start": dates[credit_start].isoformat(),
                "end": dates[credit_end].isoformat(),
                "daily_usd": -10.0,
                "description": "AWS Promotional Credit",
            }
        )

    # Refunds: one-day negative adjustments.
    refunds: list[dict[str, Any]] = []
    for account_id, service, usage_suffix, fraction, amount in (
        (member_a, S3, "TimedStorage-ByteHrs", 0.40, -120.0),
        (accounts[0], EC2_OTHER, "EBS:VolumeUsage.gp2", 0.66, -60.0),
    ):
        day_index = avoid_first(int(days * fraction))
        mask = np.zeros(days, dtype=bool)
        mask[day_index] = True
        row = np.where(mask, amount, 0.0)
        add(
            _Series(
                account_id,
                service,
                primary,
                f"{prefix}-{usage_suffix}",
                "Refund",
                None,
                None,
                {},
            ),
            row,
            row,
            None,
            None,
            mask,
        )
        refunds.append(
            {
                "account_id": account_id,
                "service": service,
                "date": dates[day_index].isoformat(),
                "amount_usd": amount,
            }
        )

    frame, attributes = _assemble(
        series, billed, effective, listed, quantity, presence, dates, accounts[0]
    )
    versions = {period: 1 for period in sorted(set(frame["billing_period"]))}
    return Ledger(
        frame=frame,
        attributes=attributes,
        anomalies=anomalies,
        accounts=list(accounts),
        account_names=names,
        regions=list(regions),
        first_day=first_day,
        last_day=dates[-1],
        seed=seed,
        versions=versions,
        credits=credits,
        refunds=refunds,
        traps=trap_truth,
        commitments=commitments,
    )


def _assemble(
    series: list[_Series],
    billed: list[np.ndarray],
    effective: list[np.ndarray],
    listed: list[np.ndarray],
    quantity: list[np.ndarray],
    presence: list[np.ndarray],
    dates: list[date],
    billing_account_id: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Flatten series x days into the row frame, day-major (rows of one day are contiguous)."""
    present = np.vstack(presence)  # (S, D)
    day_idx, series_idx = np.nonzero(present.T)  # day-major order
    take = (series_idx, day_idx)
    billed_m = np.vstack(billed)[take]
    effective_m = np.vstack(effective)[take]
    list_m = np.vstack(listed)[take]
    quantity_m = np.vstack(quantity)[take]

    def per_series(values: list[Any]) -> np.ndarray:
        return np.asarray(values, dtype=object)[series_idx]

    date_objects = np.asarray(dates, dtype=object)
    periods = np.asarray([d.strftime("%Y-%m") for d in dates], dtype=object)
    record_types = per_series([s.record_type for s in series])
    tags = per_series([json.dumps(s.tags, sort_keys=True) for s in series])
    frame = pd.DataFrame(
        {
            "charge_date": date_objects[day_idx],
            "billing_period": periods[day_idx],
            "billing_account_id": billing_account_id,
            "sub_account_id": per_series([s.account_id for s in series]),
            "service": per_series([s.service for s in series]),
            "region": per_series([s.region for s in series]),
            "charge_category": np.asarray(
                [s.charge_category or RECORD_TYPE_CATEGORY[s.record_type] for s in series],
                dtype=object,
            )[series_idx],
            "usage_type": per_series([s.usage_type for s in series]),
            "billed_cost": billed_m,
            "effective_cost": effective_m,
            "list_cost": list_m,
            "usage_quantity": quantity_m,
            "usage_unit": per_series([s.unit for s in series]),
            "currency": "USD",
            "tags": tags,
            "source": "export",
            "estimated": False,
            **{
                column: per_series([s.commitment[i] if s.commitment else None for s in series])
                for i, column in enumerate(
                    (
                        "commitment_discount_id",
                        "commitment_discount_category",
                        "commitment_discount_type",
                        "commitment_discount_status",
                    )
                )
            },
        }
    )[COST_COLUMNS]
    unit_price = np.asarray(
        [np.nan if s.unit_price is None else s.unit_price for s in series], dtype=float
    )[series_idx]
    attributes = pd.DataFrame(
        {
            "day": day_idx.astype(np.int32),
            "record_type": record_types,
            "unit_price": unit_price,
        }
    )
    return frame, attributes


def costs_ground_truth(ledger: Ledger) -> dict[str, Any]:
    """What the sandbox's cost data is known to contain, for tests and benchmarks.

    Args:
        ledger: the ledger (after any restatement: totals are computed from its current rows).

    Returns:
        A JSON-ready dict: ``anomalies`` (the injected anomalies), ``daily_totals`` (one entry per
        day: ``date``, ``billed_cost``, ``effective_cost`` rounded to cents), ``budget``
        (``daily_usd`` and the days whose effective total breaches it), ``credits``,
        ``refunds``, ``restatements``, ``first_day``, ``last_day``, ``metric_note``.

    Example:
        >>> truth = costs_ground_truth(ledger)   # doctest: +SKIP
        >>> truth["anomalies"][0]["kind"]        # doctest: +SKIP
        'drift'
    """
    totals = ledger.daily_totals()
    daily = [
        {
            "date": day.isoformat(),
            "billed_cost": round(float(billed), 2),
            "effective_cost": round(float(effective), 2),
        }
        for day, billed, effective in zip(
            totals["date"].tolist(),
            totals["billed_cost"].tolist(),
            totals["effective_cost"].tolist(),
            strict=True,
        )
    ]
    breaches = [str(e["date"]) for e in daily if float(e["effective_cost"]) > DAILY_BUDGET_USD]
    return {
        "anomalies": [dict(anomaly) for anomaly in ledger.anomalies],
        "daily_totals": daily,
        "budget": {"daily_usd": DAILY_BUDGET_USD, "effective_breach_dates": breaches},
        "credits": [dict(credit) for credit in ledger.credits],
        "refunds": [dict(refund) for refund in ledger.refunds],
        "restatements": [dict(item) for item in ledger.restatements],
        **({"ledger_traps": ledger.traps} if ledger.traps else {}),
        "first_day": ledger.first_day.isoformat(),
        "last_day": ledger.last_day.isoformat(),
        "metric_note": (
            "impact_usd is the anomaly's total added effective (amortized) cost; monthly fees, "
            "support and tax are billed on the 1st and spread evenly over the month as effective "
            "cost"
        ),
    }
