"""AWS reads (and the one gated write) of the commitments capability.

* ``get_savings_plans``: ``savingsplans:DescribeSavingsPlans`` in one account (``nextToken``
  pages; the API has no botocore paginator); :func:`get_inventory` runs it across the
  organisation and adds the Reserved Instances of every RI service (EC2, RDS, ElastiCache,
  OpenSearch, Redshift) from the payer's ``ce:GetReservationUtilization`` grouped by
  ``SUBSCRIPTION_ID`` (each group's attributes name the lease, account, instance type, region,
  start and end).
* Cost Explorer's utilisation and coverage (``get_*_utilization``, ``get_*_coverage``) by day,
  and the two purchase recommendations.
* ``apply_savings_plan_purchase``: ``CreateSavingsPlan``, which has no ``DryRun``: its checks
  run first (the offering exists and matches, the amount is valid), and the ``clientToken`` is
  derived from the approved plan so a retry never buys twice.

Botocore's standard retries (``AwsAccess``'s config) retry throttling and 5xx everywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from tasks.aws.session import AwsAccess
from tasks.commitments.models import Commitment, DayFigures, Recommendation, cents

#: IAM actions this adapter calls (collected by tasks.permissions for the Terraform policy).
IAM_PERMISSIONS: tuple[str, ...] = (
    "ce:GetReservationCoverage",
    "ce:GetReservationPurchaseRecommendation",
    "ce:GetReservationUtilization",
    "ce:GetSavingsPlansCoverage",
    "ce:GetSavingsPlansPurchaseRecommendation",
    "ce:GetSavingsPlansUtilization",
    "savingsplans:DescribeSavingsPlans",
    "savingsplans:DescribeSavingsPlansOfferings",
)
#: Only with ``commitments.purchase_enabled``; kept apart so the default policy never holds it.
PURCHASE_PERMISSIONS: tuple[str, ...] = ("savingsplans:CreateSavingsPlan",)
RI_SERVICES: tuple[str, ...] = (
    "Amazon Elastic Compute Cloud - Compute",
    "Amazon Relational Database Service",
    "Amazon ElastiCache",
    "Amazon OpenSearch Service",
    "Amazon Redshift",
)
TERM_SECONDS_PER_YEAR = 365 * 24 * 3600
LIVE_STATES = ["active", "queued", "payment-pending"]


class PurchaseError(RuntimeError):
    """A purchase was refused before or by AWS; the message says why and what to fix."""


def _day(text: str) -> date:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).date()


def _period(first: date, last: date) -> dict[str, str]:
    return {"Start": first.isoformat(), "End": (last + timedelta(days=1)).isoformat()}


def get_savings_plans(client: Any) -> list[dict[str, Any]]:
    """Every live Savings Plan of the client's account (all pages)."""
    plans: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"states": LIVE_STATES, "maxResults": 100}
        if token:
            kwargs["nextToken"] = token
        page = client.describe_savings_plans(**kwargs)
        plans.extend(page.get("savingsPlans", []))
        token = page.get("nextToken")
        if not token:
            return plans


def transform_savings_plan(plan: dict[str, Any], account_id: str) -> Commitment:
    """A DescribeSavingsPlans entry as a :class:`Commitment`."""
    seconds = int(plan.get("termDurationInSeconds") or 0)
    return Commitment(
        commitment_id=plan["savingsPlanArn"],
        short_id=plan["savingsPlanId"],
        kind="Savings Plan",
        account_id=account_id,
        region=plan.get("region") or "",
        service=f"{plan.get('savingsPlanType', '')} Savings Plan".strip(),
        description=plan.get("description", ""),
        term_years=round(seconds / TERM_SECONDS_PER_YEAR) if seconds else None,
        payment_option=plan.get("paymentOption", ""),
        hourly_commitment_usd=Decimal(str(plan["commitment"])) if plan.get("commitment") else None,
        start=_day(plan["start"]) if plan.get("start") else None,
        end=_day(plan["end"]),
        state=plan.get("state", ""),
    )


def _utilization_pages(ce: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    token: str | None = None
    while True:
        page = ce.get_reservation_utilization(
            **kwargs, **({"NextPageToken": token} if token else {})
        )
        yield page
        token = page.get("NextPageToken")
        if not token:
            return


def get_reserved_instances(ce: Any, today: date, days: int = 30) -> list[Commitment]:
    """The organisation's Reserved Instances active in the last ``days`` days (payer's CE).

    The hourly commitment is the amortised fee over the window divided by the hours the
    reservation was active in it (its start and end bound them).
    """
    first, last = today - timedelta(days=days), today - timedelta(days=1)
    pages = _utilization_pages(
        ce,
        TimePeriod=_period(first, last),
        Granularity="MONTHLY",
        GroupBy=[{"Type": "DIMENSION", "Key": "SUBSCRIPTION_ID"}],
    )
    try:
        collected = list(pages)
    except ClientError as error:
        if _no_data(error):
            return []
        raise
    attributes_of: dict[str, dict[str, Any]] = {}
    fees: dict[str, Decimal] = {}
    for page in collected:
        for period in page.get("UtilizationsByTime", []):
            for group in period.get("Groups", []):
                attributes = group.get("Attributes", {})
                lease = attributes.get("leaseId") or group.get("Value")
                if not lease or not attributes.get("endDateTime"):
                    continue
                attributes_of[lease] = attributes
                fee = Decimal(str(group.get("Utilization", {}).get("TotalAmortizedFee", "0")))
                fees[lease] = fees.get(lease, Decimal(0)) + fee
    found = []
    for lease, attributes in attributes_of.items():
        start = _day(attributes["startDateTime"]) if attributes.get("startDateTime") else None
        end = _day(attributes["endDateTime"])
        active_days = (min(end, last + timedelta(days=1)) - max(start or first, first)).days
        count = attributes.get("numberOfInstances")
        years = str(attributes.get("termInYears", ""))
        found.append(
            Commitment(
                commitment_id=attributes.get("reservationArn") or lease,
                short_id=lease,
                kind="Reserved Instance",
                account_id=attributes.get("accountId", ""),
                region=attributes.get("region", ""),
                service=attributes.get("service", ""),
                instance_type=attributes.get("instanceType", ""),
                instance_count=int(count) if count and str(count).isdigit() else None,
                term_years=int(years) if years.isdigit() else None,
                payment_option=attributes.get("subscriptionType", ""),
                hourly_commitment_usd=(fees[lease] / (24 * active_days)).quantize(
                    Decimal("0.000001")
                )
                if active_days > 0
                else None,
                description=" ".join(
                    x for x in (attributes.get("instanceType"), "Reserved Instance") if x
                ),
                start=start,
                end=end,
                state=(attributes.get("subscriptionStatus") or "active").lower(),
            )
        )
    return sorted(found, key=lambda c: (c.account_id, c.short_id))


def get_inventory(
    access: AwsAccess, today: date, accounts: list[str] | None = None
) -> tuple[list[Commitment], list[str]]:
    """RIs and Savings Plans across the organisation, and the accounts that could not be read.

    Returns:
        ``(commitments, errors)``: an account whose Savings Plans cannot be read is named in
        ``errors`` (``"<account>: <code>"``), the others are still listed.
    """
    payer = access.caller_account_id
    region = "us-east-1"
    commitments: list[Commitment] = []
    errors: list[str] = []
    for account_id in accounts or access.list_accounts():
        try:
            client = access.client("savingsplans", account_id, region)
            commitments += [
                transform_savings_plan(p, account_id) for p in get_savings_plans(client)
            ]
        except ClientError as error:
            errors.append(f"{account_id}: {error.response.get('Error', {}).get('Code', error)}")
    commitments += get_reserved_instances(access.client("ce", payer, region), today)
    return commitments, errors


def _no_data(error: ClientError) -> bool:
    # CE answers DataUnavailableException for a period without any commitment.
    return error.response.get("Error", {}).get("Code") == "DataUnavailableException"


def get_savings_plans_utilization(ce: Any, first: date, last: date) -> list[DayFigures]:
    """CE's Savings Plans utilisation per day (used/unused commitment, cents); [] without plans."""
    try:
        answer = ce.get_savings_plans_utilization(
            TimePeriod=_period(first, last), Granularity="DAILY"
        )
    except ClientError as error:
        if _no_data(error):
            return []
        raise
    return [
        DayFigures(
            day=date.fromisoformat(entry["TimePeriod"]["Start"]),
            kind="Savings Plan",
            used_usd=cents(Decimal(entry["Utilization"]["UsedCommitment"])),
            unused_usd=cents(Decimal(entry["Utilization"]["UnusedCommitment"])),
        )
        for entry in answer.get("SavingsPlansUtilizationsByTime", [])
    ]


def get_savings_plans_coverage(
    ce: Any, first: date, last: date
) -> dict[date, tuple[Decimal, Decimal]]:
    """CE's Savings Plans coverage per day: (spend covered, on-demand cost), all pages."""
    out: dict[date, tuple[Decimal, Decimal]] = {}
    token: str | None = None
    while True:
        page = ce.get_savings_plans_coverage(
            TimePeriod=_period(first, last),
            Granularity="DAILY",
            **({"NextToken": token} if token else {}),
        )
        for entry in page.get("SavingsPlansCoverages", []):
            day = date.fromisoformat(entry["TimePeriod"]["Start"])
            covered, on_demand = out.get(day, (Decimal(0), Decimal(0)))
            out[day] = (
                covered + Decimal(entry["Coverage"]["SpendCoveredBySavingsPlans"]),
                on_demand + Decimal(entry["Coverage"]["OnDemandCost"]),
            )
        token = page.get("NextToken")
        if not token:
            return {day: (cents(a), cents(b)) for day, (a, b) in out.items()}


def get_reservation_utilization(ce: Any, first: date, last: date) -> list[DayFigures]:
    """CE's RI utilisation per day: used = amortised fee - cost of unused hours (cents)."""
    out: list[DayFigures] = []
    pages = _utilization_pages(ce, TimePeriod=_period(first, last), Granularity="DAILY")
    try:
        collected = list(pages)
    except ClientError as error:
        if _no_data(error):
            return []
        raise
    for page in collected:
        for entry in page.get("UtilizationsByTime", []):
            total = entry.get("Total", {})
            fee = Decimal(total.get("TotalAmortizedFee", "0"))
            unused = Decimal(total.get("RICostForUnusedHours", "0"))
            out.append(
                DayFigures(
                    day=date.fromisoformat(entry["TimePeriod"]["Start"]),
                    kind="Reserved Instance",
                    used_usd=cents(fee - unused),
                    unused_usd=cents(unused),
                )
            )
    return out


def get_reservation_coverage(ce: Any, first: date, last: date, service: str) -> dict[str, Decimal]:
    """CE's RI coverage of one service over the window (hours, percent), all pages."""
    token: str | None = None
    total: dict[str, Decimal] = {}
    while True:
        page = ce.get_reservation_coverage(
            TimePeriod=_period(first, last),
            Granularity="MONTHLY",
            Filter={"Dimensions": {"Key": "SERVICE", "Values": [service]}},
            **({"NextPageToken": token} if token else {}),
        )
        hours = page.get("Total", {}).get("CoverageHours", {})
        total = {k: Decimal(str(v)) for k, v in hours.items()}
        token = page.get("NextPageToken")
        if not token:
            return total


def get_savings_plans_recommendation(
    ce: Any, term: str, payment_option: str, lookback_days: int
) -> Recommendation | None:
    """AWS's Compute Savings Plan recommendation (payer scope), or None when it has none."""
    lookback = {7: "SEVEN_DAYS", 30: "THIRTY_DAYS", 60: "SIXTY_DAYS"}[lookback_days]
    answer = ce.get_savings_plans_purchase_recommendation(
        SavingsPlansType="COMPUTE_SP",
        TermInYears=term,
        PaymentOption=payment_option,
        LookbackPeriodInDays=lookback,
        AccountScope="PAYER",
    )
    body = answer.get("SavingsPlansPurchaseRecommendation", {})
    summary = body.get("SavingsPlansPurchaseRecommendationSummary") or {}
    details = body.get("SavingsPlansPurchaseRecommendationDetails") or []
    if not summary.get("HourlyCommitmentToPurchase"):
        return None
    detail = details[0] if details else {}
    return Recommendation(
        source="aws",
        hourly_commitment_usd=Decimal(summary["HourlyCommitmentToPurchase"]),
        term=term,
        payment_option=payment_option,
        lookback_days=lookback_days,
        estimated_savings_usd=cents(Decimal(summary.get("EstimatedSavingsAmount", "0"))),
        estimated_monthly_savings_usd=cents(
            Decimal(summary.get("EstimatedMonthlySavingsAmount", "0"))
        ),
        estimated_utilisation_pct=cents(Decimal(detail.get("EstimatedAverageUtilization", "0"))),
        assumptions=[
            "AWS: on-demand usage after existing commitments, payer scope",
            f"AWS: {answer.get('Metadata', {}).get('AdditionalMetadata', '')}".strip(),
        ],
        offering_id=detail.get("SavingsPlansDetails", {}).get("OfferingId", ""),
    )


def get_reservation_recommendations(
    ce: Any, service: str, lookback_days: int
) -> list[dict[str, Any]]:
    """AWS's RI purchase recommendations for one service (botocore paginator, all pages)."""
    lookback = {7: "SEVEN_DAYS", 30: "THIRTY_DAYS", 60: "SIXTY_DAYS"}[lookback_days]
    paginator = ce.get_paginator("get_reservation_purchase_recommendation")
    details: list[dict[str, Any]] = []
    for page in paginator.paginate(Service=service, LookbackPeriodInDays=lookback):
        for recommendation in page.get("Recommendations", []):
            details.extend(recommendation.get("RecommendationDetails", []))
    return details


def purchase_token(finding_fingerprint: str, hourly: Decimal) -> str:
    """The ``clientToken`` of an approved purchase: the same plan always gives the same token.

    Example:
        >>> purchase_token("abc", Decimal("6.727")) == purchase_token("abc", Decimal("6.727"))
        True
    """
    return hashlib.sha256(f"{finding_fingerprint}|{hourly}".encode()).hexdigest()[:32]


def apply_savings_plan_purchase(
    client: Any,
    offering_id: str,
    hourly: Decimal,
    client_token: str,
    term_years: int,
    payment_option: str,
) -> str:
    """Buy one Compute Savings Plan after checking the offering; returns the plan id.

    ``CreateSavingsPlan`` has no dry run, so the checks it would do are done first: the offering
    exists, is a Compute plan of the approved term and payment option, and the commitment is a
    positive amount with at most 3 decimals.  The ``client_token`` makes a retry idempotent.

    Raises:
        PurchaseError: a check failed or AWS refused (nothing was bought).
    """
    if hourly <= 0 or hourly != hourly.quantize(Decimal("0.001")):
        raise PurchaseError(f"commitment ${hourly}/hour must be positive with at most 3 decimals")
    offers = client.describe_savings_plans_offerings(offeringIds=[offering_id]).get(
        "searchResults", []
    )
    matching = [
        o
        for o in offers
        if o.get("planType") == "Compute"
        and int(o.get("durationSeconds", 0)) == term_years * TERM_SECONDS_PER_YEAR
        and o.get("paymentOption") == payment_option
    ]
    if not matching:
        raise PurchaseError(
            f"offering {offering_id} is not a {term_years}-year {payment_option} Compute Savings "
            "Plan; refresh the recommendation and approve it again"
        )
    try:
        answer = client.create_savings_plan(
            savingsPlanOfferingId=offering_id, commitment=str(hourly), clientToken=client_token
        )
    except ClientError as error:
        raise PurchaseError(
            f"CreateSavingsPlan refused: {error.response.get('Error', {}).get('Message', error)}"
        ) from None
    return str(answer["savingsPlanId"])
