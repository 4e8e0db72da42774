"""Cost Explorer's commitment calls over the sandbox ledger: coverage, utilisation, advice.

Signing name ``ce``, protocol ``json`` 1.1 (``X-Amz-Target: AWSInsightsIndexService.<Op>``), so a
plain boto3 ``ce`` client parses every answer.  The figures come from the ledger's rows and their
FOCUS commitment columns, the same rows the export and ``GetCostAndUsage`` serve:

* ``GetSavingsPlansUtilization``: per period the plans' amortised commitment (``TotalCommitment``
  = used + unused effective cost), ``UsedCommitment`` (Used rows), ``UnusedCommitment`` (Unused
  rows), ``OnDemandCostEquivalent`` (the covered rows' list cost) and ``NetSavings``.
* ``GetSavingsPlansCoverage``: eligible spend is EC2 instance usage (``BoxUsage``);
  ``SpendCoveredBySavingsPlans`` is the covered rows' on-demand equivalent (list cost),
  ``OnDemandCost`` the uncovered rows' cost.  ``GroupBy`` ``LINKED_ACCOUNT``; ``NextToken``.
* ``GetReservationCoverage``: instance hours of one service (``Filter`` on ``SERVICE``; Amazon
  EC2 when absent, as AWS does): ``ReservedHours`` (RI-covered rows), ``OnDemandHours``.
* ``GetReservationUtilization``: per period, and per reservation with ``GroupBy``
  ``SUBSCRIPTION_ID`` (each group's ``Attributes`` name the lease, account, instance type,
  region, start and end: an organisation-wide RI inventory, as on AWS).
* ``GetSavingsPlansPurchaseRecommendation`` / ``GetReservationPurchaseRecommendation``: in
  :mod:`sandbox.ce_advice`.

``LINKED_ACCOUNT`` ``Dimensions`` filters are honoured; other filters answer a
``ValidationException`` naming what the sandbox supports.  ``TimePeriod.End`` is exclusive.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Any

import pandas as pd

from sandbox.commitments import (
    SP_ELIGIBLE_PREFIX,
    SP_ELIGIBLE_SERVICE,
    commitments_ground_truth,
)
from sandbox.services import SandboxService, ServiceRequest

OPERATIONS = frozenset(
    {
        "GetSavingsPlansCoverage",
        "GetSavingsPlansUtilization",
        "GetReservationCoverage",
        "GetReservationUtilization",
        "GetSavingsPlansPurchaseRecommendation",
        "GetReservationPurchaseRecommendation",
    }
)
LOOKBACK = {"SEVEN_DAYS": 7, "THIRTY_DAYS": 30, "SIXTY_DAYS": 60}
EC2 = "Amazon Elastic Compute Cloud - Compute"
Answer = tuple[int, dict[str, Any]]


class _Invalid(Exception):
    """A request the sandbox answers with a ValidationException."""

    code = "ValidationException"


class _NoData(_Invalid):
    """No commitment data in the period: AWS answers DataUnavailableException."""

    code = "DataUnavailableException"


def _money(value: float) -> str:
    return f"{value:.10f}".rstrip("0").rstrip(".") if value else "0"


def _pct(part: float, whole: float) -> str:
    return _money(round(100.0 * part / whole, 6)) if whole else "0"


def _window(body: Mapping[str, Any]) -> tuple[date, date]:
    period = body.get("TimePeriod")
    if not isinstance(period, dict):
        raise _Invalid("TimePeriod is required: {'Start': 'YYYY-MM-DD', 'End': 'YYYY-MM-DD'}")
    try:
        start, end = date.fromisoformat(period["Start"]), date.fromisoformat(period["End"])
    except (KeyError, TypeError, ValueError):
        raise _Invalid("TimePeriod Start and End must be dates YYYY-MM-DD") from None
    if start >= end:
        raise _Invalid(f"Start date {start} must be before End date {end}")
    return start, end


def _periods(body: Mapping[str, Any], start: date, end: date) -> list[tuple[date, date]]:
    granularity = body.get("Granularity") or "MONTHLY"
    if granularity not in ("DAILY", "MONTHLY"):
        raise _Invalid(f"Granularity {granularity} is not supported; use DAILY or MONTHLY")
    out, day = [], start
    while day < end:
        if granularity == "DAILY":
            nxt = day + timedelta(days=1)
        else:
            nxt = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
        out.append((day, min(nxt, end)))
        day = min(nxt, end)
    return out


def _accounts(body: Mapping[str, Any]) -> set[str] | None:
    expression = body.get("Filter")
    if not expression:
        return None
    dims = expression.get("Dimensions") if isinstance(expression, dict) else None
    if not isinstance(dims, dict) or dims.get("Key") not in ("LINKED_ACCOUNT", "SERVICE"):
        raise _Invalid("the sandbox filters on Dimensions LINKED_ACCOUNT or SERVICE only")
    if dims["Key"] == "SERVICE":
        return None
    return {str(v) for v in dims.get("Values") or []}


def _service_filter(body: Mapping[str, Any]) -> str:
    dims = (body.get("Filter") or {}).get("Dimensions") or {}
    if dims.get("Key") == "SERVICE":
        values = dims.get("Values") or []
        if len(values) != 1:
            raise _Invalid("filter on exactly one SERVICE for reservation coverage")
        return str(values[0])
    return EC2


def _token(body: Mapping[str, Any], name: str) -> int:
    token = body.get(name)
    if not token:
        return 0
    try:
        return int(json.loads(base64.b64decode(token))["offset"])
    except (ValueError, KeyError, TypeError):
        raise _Invalid(
            f"{name} {token!r} is not valid; pass the token of the previous page"
        ) from None


def _page(
    items: list[dict[str, Any]], body: Mapping[str, Any], token_name: str, size_name: str
) -> tuple[list[dict[str, Any]], str | None]:
    offset = _token(body, token_name)
    size = int(body.get(size_name) or 20)
    if size < 1:
        raise _Invalid(f"{size_name} must be at least 1")
    chunk = items[offset : offset + size]
    more = offset + size < len(items)
    token = base64.b64encode(json.dumps({"offset": offset + size}).encode()).decode()
    return chunk, token if more else None


def rows_between(ledger: Any, body: Mapping[str, Any], start: date, end: date) -> pd.DataFrame:
    """The ledger rows charged ``start`` (inclusive) to ``end`` (exclusive), account-filtered."""
    frame = ledger.frame
    chosen = frame[(frame["charge_date"] >= start) & (frame["charge_date"] < end)]
    accounts = _accounts(body)
    if accounts is not None:
        chosen = chosen[chosen["sub_account_id"].isin(accounts)]
    return chosen


def build(seeded: Any) -> SandboxService:
    """The commitment calls over ``seeded.ledger``; adds the ground truth ``commitments``."""
    from sandbox.ce_advice import ri_recommendation, sp_recommendation

    ledger = seeded.ledger
    today = seeded.ctx.now.date()
    seeded.ground_truth["commitments"] = commitments_ground_truth(ledger, today)
    names = ledger.account_names

    def rows(body: Mapping[str, Any], start: date, end: date) -> pd.DataFrame:
        return rows_between(ledger, body, start, end)

    def in_period(frame: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
        return frame[(frame["charge_date"] >= start) & (frame["charge_date"] < end)]

    def sp_utilization(body: Mapping[str, Any]) -> Answer:
        start, end = _window(body)
        frame = rows(body, start, end)
        plans = frame[frame["commitment_discount_type"] == "Savings Plan"]

        def figures(part: pd.DataFrame) -> dict[str, Any]:
            used = part[part["commitment_discount_status"] == "Used"]
            used_usd = round(float(used["effective_cost"].sum()), 6)
            unused_usd = round(
                float(part[part["commitment_discount_status"] == "Unused"]["effective_cost"].sum()),
                6,
            )
            total = used_usd + unused_usd
            equivalent = float(used["list_cost"].sum())
            return {
                "Utilization": {
                    "TotalCommitment": _money(total),
                    "UsedCommitment": _money(used_usd),
                    "UnusedCommitment": _money(unused_usd),
                    "UtilizationPercentage": _pct(used_usd, total),
                },
                "Savings": {
                    "NetSavings": _money(round(equivalent - total, 6)),
                    "OnDemandCostEquivalent": _money(round(equivalent, 6)),
                },
                "AmortizedCommitment": {
                    "AmortizedRecurringCommitment": _money(total),
                    "AmortizedUpfrontCommitment": "0",
                    "TotalAmortizedCommitment": _money(total),
                },
            }

        by_time = [
            {"TimePeriod": {"Start": a.isoformat(), "End": b.isoformat()}, **figures(part)}
            for a, b in _periods(body, start, end)
            if not (part := in_period(plans, a, b)).empty
        ]
        if not by_time:
            raise _NoData("no Savings Plans utilization data in this time period")
        return 200, {"SavingsPlansUtilizationsByTime": by_time, "Total": figures(plans)}

    def sp_coverage(body: Mapping[str, Any]) -> Answer:
        start, end = _window(body)
        group_by = [g.get("Key") for g in body.get("GroupBy") or []]
        if any(key != "LINKED_ACCOUNT" for key in group_by):
            raise _Invalid("the sandbox groups Savings Plans coverage by LINKED_ACCOUNT only")
        frame = rows(body, start, end)
        eligible = frame[
            (frame["service"] == SP_ELIGIBLE_SERVICE)
            & (frame["charge_category"] == "Usage")
            & frame["usage_type"].str.contains(SP_ELIGIBLE_PREFIX, regex=False)
        ]
        items: list[dict[str, Any]] = []
        for a, b in _periods(body, start, end):
            part = in_period(eligible, a, b)
            groups = (
                [(acct, part[part["sub_account_id"] == acct]) for acct in ledger.accounts]
                if group_by
                else [(None, part)]
            )
            for account, group in groups:
                covered = group["commitment_discount_type"] == "Savings Plan"
                spend = round(float(group[covered]["list_cost"].sum()), 6)
                on_demand = round(float(group[~covered]["effective_cost"].sum()), 6)
                if not spend and not on_demand:
                    continue
                items.append(
                    {
                        "Attributes": {} if account is None else {"LINKED_ACCOUNT": account},
                        "Coverage": {
                            "SpendCoveredBySavingsPlans": _money(spend),
                            "OnDemandCost": _money(on_demand),
                            "TotalCost": _money(round(spend + on_demand, 6)),
                            "CoveragePercentage": _pct(spend, spend + on_demand),
                        },
                        "TimePeriod": {"Start": a.isoformat(), "End": b.isoformat()},
                    }
                )
        chunk, token = _page(items, body, "NextToken", "MaxResults")
        answer: dict[str, Any] = {"SavingsPlansCoverages": chunk}
        if token:
            answer["NextToken"] = token
        return 200, answer

    def ri_coverage(body: Mapping[str, Any]) -> Answer:
        start, end = _window(body)
        service = _service_filter(body)
        frame = rows(body, start, end)
        eligible = frame[
            (frame["service"] == service)
            & (frame["charge_category"] == "Usage")
            & (frame["usage_unit"] == "Hrs")
            & frame["usage_type"].str.contains("InstanceUsage:|BoxUsage:", regex=True)
            & (frame["commitment_discount_type"].fillna("") != "Savings Plan")
        ]

        def coverage(part: pd.DataFrame) -> dict[str, Any]:
            reserved = part["commitment_discount_type"] == "Reserved Instance"
            reserved_hours = round(float(part[reserved]["usage_quantity"].sum()), 6)
            on_demand_hours = round(float(part[~reserved]["usage_quantity"].sum()), 6)
            total = reserved_hours + on_demand_hours
            return {
                "CoverageHours": {
                    "OnDemandHours": _money(on_demand_hours),
                    "ReservedHours": _money(reserved_hours),
                    "TotalRunningHours": _money(round(total, 6)),
                    "CoverageHoursPercentage": _pct(reserved_hours, total),
                },
                "CoverageCost": {
                    "OnDemandCost": _money(round(float(part[~reserved]["effective_cost"].sum()), 6))
                },
            }

        items = [
            {
                "TimePeriod": {"Start": a.isoformat(), "End": b.isoformat()},
                "Groups": [],
                "Total": coverage(in_period(eligible, a, b)),
            }
            for a, b in _periods(body, start, end)
        ]
        chunk, token = _page(items, body, "NextPageToken", "MaxResults")
        answer: dict[str, Any] = {"CoveragesByTime": chunk, "Total": coverage(eligible)}
        if token:
            answer["NextPageToken"] = token
        return 200, answer

    def ri_utilization(body: Mapping[str, Any]) -> Answer:
        start, end = _window(body)
        group_by = [g.get("Key") for g in body.get("GroupBy") or []]
        if any(key != "SUBSCRIPTION_ID" for key in group_by):
            raise _Invalid("the sandbox groups reservation utilization by SUBSCRIPTION_ID only")
        frame = rows(body, start, end)
        reserved = frame[frame["commitment_discount_type"] == "Reserved Instance"]
        plans = {p.commitment_id: p for p in ledger.commitments if p.kind == "Reserved Instance"}

        def aggregates(part: pd.DataFrame) -> dict[str, Any]:
            used = part[part["commitment_discount_status"] == "Used"]
            unused = part[part["commitment_discount_status"] == "Unused"]
            used_fee = float(used["effective_cost"].sum())
            unused_fee = float(unused["effective_cost"].sum())
            fee = round(used_fee + unused_fee, 6)
            actual = float(used["usage_quantity"].sum())
            purchased = 0.0
            for cid, group in part.groupby("commitment_discount_id"):
                plan = plans[str(cid)]
                hours_per_day = plan.daily_usd / plan.rate / plan.unit_price
                purchased += hours_per_day * group["charge_date"].nunique()
            on_demand = float(used["list_cost"].sum())
            return {
                "UtilizationPercentage": _pct(used_fee, fee),
                "PurchasedHours": _money(round(purchased, 6)),
                "TotalActualHours": _money(round(actual, 6)),
                "UnusedHours": _money(round(max(purchased - actual, 0.0), 6)),
                "OnDemandCostOfRIHoursUsed": _money(round(on_demand, 6)),
                "NetRISavings": _money(round(on_demand - fee, 6)),
                "TotalPotentialRISavings": _money(round(on_demand + unused_fee - fee, 6)),
                "AmortizedUpfrontFee": "0",
                "AmortizedRecurringFee": _money(fee),
                "TotalAmortizedFee": _money(fee),
                "RICostForUnusedHours": _money(round(unused_fee, 6)),
                "RealizedSavings": _money(round(on_demand - fee, 6)),
                "UnrealizedSavings": _money(round(unused_fee, 6)),
            }

        def groups(part: pd.DataFrame) -> list[dict[str, Any]]:
            out = []
            for cid, group in sorted(part.groupby("commitment_discount_id")):
                plan = plans[str(cid)]
                out.append(
                    {
                        "Key": "SubscriptionId",
                        "Value": plan.short_id,
                        "Attributes": {
                            "accountId": plan.account_id,
                            "accountName": names.get(plan.account_id, plan.account_id),
                            "leaseId": plan.short_id,
                            "subscriptionId": plan.short_id,
                            "reservationArn": plan.commitment_id,
                            "instanceType": plan.instance_type or "",
                            "numberOfInstances": str(
                                max(round(plan.daily_usd / plan.rate / plan.unit_price / 24), 1)
                            ),
                            "region": plan.region,
                            "service": plan.covered_service,
                            "startDateTime": f"{plan.start.isoformat()}T00:00:00.000Z",
                            "endDateTime": f"{plan.end.isoformat()}T00:00:00.000Z",
                            "subscriptionType": plan.payment_option,
                            "subscriptionStatus": "Active" if plan.active(today) else "Retired",
                            "termInYears": str(plan.term_years),
                        },
                        "Utilization": aggregates(group),
                    }
                )
            return out

        items = []
        for a, b in _periods(body, start, end):
            part = in_period(reserved, a, b)
            if part.empty:
                continue
            entry: dict[str, Any] = {
                "TimePeriod": {"Start": a.isoformat(), "End": b.isoformat()},
                "Total": aggregates(part),
            }
            entry["Groups"] = groups(part) if group_by else []
            items.append(entry)
        chunk, token = _page(items, body, "NextPageToken", "MaxResults")
        answer: dict[str, Any] = {"UtilizationsByTime": chunk, "Total": aggregates(reserved)}
        if token:
            answer["NextPageToken"] = token
        return 200, answer

    handlers: dict[str, Callable[[Mapping[str, Any]], Answer]] = {
        "GetSavingsPlansUtilization": sp_utilization,
        "GetSavingsPlansCoverage": sp_coverage,
        "GetReservationCoverage": ri_coverage,
        "GetReservationUtilization": ri_utilization,
        "GetSavingsPlansPurchaseRecommendation": lambda body: sp_recommendation(ledger, body),
        "GetReservationPurchaseRecommendation": lambda body: ri_recommendation(ledger, body),
    }

    def handle(request: ServiceRequest) -> Answer:
        try:
            return handlers[request.operation](request.body)
        except _Invalid as error:
            return 400, {"__type": error.code, "message": str(error)}

    return SandboxService(
        name="ce-commitments",
        signing_name="ce",
        operations=OPERATIONS,
        handle=handle,
        protocol="json",
        json_version="1.1",
    )
