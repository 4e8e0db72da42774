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

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import pandas as pd

from sandbox.ce_requests import (
    Answer,
    Invalid,
    NoData,
    amount_text,
    paged,
    percent_text,
    rows_between,
    service_filter,
    time_periods,
    time_window,
)
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
        start, end = time_window(body)
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
                    "TotalCommitment": amount_text(total),
                    "UsedCommitment": amount_text(used_usd),
                    "UnusedCommitment": amount_text(unused_usd),
                    "UtilizationPercentage": percent_text(used_usd, total),
                },
                "Savings": {
                    "NetSavings": amount_text(round(equivalent - total, 6)),
                    "OnDemandCostEquivalent": amount_text(round(equivalent, 6)),
                },
                "AmortizedCommitment": {
                    "AmortizedRecurringCommitment": amount_text(total),
                    "AmortizedUpfrontCommitment": "0",
                    "TotalAmortizedCommitment": amount_text(total),
                },
            }

        by_time = [
            {"TimePeriod": {"Start": a.isoformat(), "End": b.isoformat()}, **figures(part)}
            for a, b in time_periods(body, start, end)
            if not (part := in_period(plans, a, b)).empty
        ]
        if not by_time:
            raise NoData("no Savings Plans utilization data in this time period")
        return 200, {"SavingsPlansUtilizationsByTime": by_time, "Total": figures(plans)}

    def sp_coverage(body: Mapping[str, Any]) -> Answer:
        start, end = time_window(body)
        group_by = [g.get("Key") for g in body.get("GroupBy") or []]
        if any(key != "LINKED_ACCOUNT" for key in group_by):
            raise Invalid("the sandbox groups Savings Plans coverage by LINKED_ACCOUNT only")
        frame = rows(body, start, end)
        eligible = frame[
            (frame["service"] == SP_ELIGIBLE_SERVICE)
            & (frame["charge_category"] == "Usage")
            & frame["usage_type"].str.contains(SP_ELIGIBLE_PREFIX, regex=False)
        ]
        items: list[dict[str, Any]] = []
        for a, b in time_periods(body, start, end):
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
                            "SpendCoveredBySavingsPlans": amount_text(spend),
                            "OnDemandCost": amount_text(on_demand),
                            "TotalCost": amount_text(round(spend + on_demand, 6)),
                            "CoveragePercentage": percent_text(spend, spend + on_demand),
                        },
                        "TimePeriod": {"Start": a.isoformat(), "End": b.isoformat()},
                    }
                )
        chunk, token = paged(items, body, "NextToken", "MaxResults")
        answer: dict[str, Any] = {"SavingsPlansCoverages": chunk}
        if token:
            answer["NextToken"] = token
        return 200, answer

    def ri_coverage(body: Mapping[str, Any]) -> Answer:
        start, end = time_window(body)
        service = service_filter(body)
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
                    "OnDemandHours": amount_text(on_demand_hours),
                    "ReservedHours": amount_text(reserved_hours),
                    "TotalRunningHours": amount_text(round(total, 6)),
                    "CoverageHoursPercentage": percent_text(reserved_hours, total),
                },
                "CoverageCost": {
                    "OnDemandCost": amount_text(
                        round(float(part[~reserved]["effective_cost"].sum()), 6)
                    )
                },
            }

        items = [
            {
                "TimePeriod": {"Start": a.isoformat(), "End": b.isoformat()},
                "Groups": [],
                "Total": coverage(in_period(eligible, a, b)),
            }
            for a, b in time_periods(body, start, end)
        ]
        chunk, token = paged(items, body, "NextPageToken", "MaxResults")
        answer: dict[str, Any] = {"CoveragesByTime": chunk, "Total": coverage(eligible)}
        if token:
            answer["NextPageToken"] = token
        return 200, answer

    def ri_utilization(body: Mapping[str, Any]) -> Answer:
        start, end = time_window(body)
        group_by = [g.get("Key") for g in body.get("GroupBy") or []]
        if any(key != "SUBSCRIPTION_ID" for key in group_by):
            raise Invalid("the sandbox groups reservation utilization by SUBSCRIPTION_ID only")
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
                "UtilizationPercentage": percent_text(used_fee, fee),
                "PurchasedHours": amount_text(round(purchased, 6)),
                "TotalActualHours": amount_text(round(actual, 6)),
                "UnusedHours": amount_text(round(max(purchased - actual, 0.0), 6)),
                "OnDemandCostOfRIHoursUsed": amount_text(round(on_demand, 6)),
                "NetRISavings": amount_text(round(on_demand - fee, 6)),
                "TotalPotentialRISavings": amount_text(round(on_demand + unused_fee - fee, 6)),
                "AmortizedUpfrontFee": "0",
                "AmortizedRecurringFee": amount_text(fee),
                "TotalAmortizedFee": amount_text(fee),
                "RICostForUnusedHours": amount_text(round(unused_fee, 6)),
                "RealizedSavings": amount_text(round(on_demand - fee, 6)),
                "UnrealizedSavings": amount_text(round(unused_fee, 6)),
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
        for a, b in time_periods(body, start, end):
            part = in_period(reserved, a, b)
            if part.empty:
                continue
            entry: dict[str, Any] = {
                "TimePeriod": {"Start": a.isoformat(), "End": b.isoformat()},
                "Total": aggregates(part),
            }
            entry["Groups"] = groups(part) if group_by else []
            items.append(entry)
        chunk, token = paged(items, body, "NextPageToken", "MaxResults")
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
        except Invalid as error:
            return 400, {"__type": error.code, "message": str(error)}

    return SandboxService(
        name="ce-commitments",
        signing_name="ce",
        operations=OPERATIONS,
        handle=handle,
        protocol="json",
        json_version="1.1",
    )
