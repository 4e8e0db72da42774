"""Cost Explorer's two purchase recommendations over the sandbox ledger (part of ce-commitments).

The commitment that maximises net savings over the look-back window of usage no commitment
covers (:func:`sandbox.commitments.best_hourly_commitment`); every term and payment option is
priced at the one rate the ledger bills (Savings Plans 0.72, RIs 0.66 of on-demand).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandbox.ce_requests import (
    LOOKBACK,
    Answer,
    Invalid,
    amount_text,
    paged,
    percent_text,
    rows_between,
)
from sandbox.commitments import (
    PAYMENT_OPTIONS,
    RI_RATE,
    SP_ELIGIBLE_PREFIX,
    SP_ELIGIBLE_SERVICE,
    SP_RATE,
    TERMS,
    best_hourly_commitment,
    offering_id,
)
from sandbox.ledger import Ledger


def _lookback(ledger: Ledger, body: Mapping[str, Any]) -> tuple[int, date, date]:
    days = LOOKBACK.get(str(body.get("LookbackPeriodInDays")))
    if days is None:
        raise Invalid(f"LookbackPeriodInDays must be one of {sorted(LOOKBACK)}")
    last = ledger.last_day
    return days, last - timedelta(days=days - 1), last


def _required(body: Mapping[str, Any], *names_: str) -> None:
    missing = [name for name in names_ if not body.get(name)]
    if missing:
        raise Invalid(f"missing required parameter(s) {missing}")


def _metadata(ledger: Ledger, days: int) -> dict[str, Any]:
    return {
        "RecommendationId": str(uuid.uuid4()),
        "GenerationTimestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "AdditionalMetadata": f"sandbox: {days}-day look-back ending {ledger.last_day}",
    }


def sp_recommendation(ledger: Ledger, body: Mapping[str, Any]) -> Answer:
    """GetSavingsPlansPurchaseRecommendation over the look-back window of the ledger."""
    _required(body, "SavingsPlansType", "TermInYears", "PaymentOption", "LookbackPeriodInDays")
    if body["SavingsPlansType"] != "COMPUTE_SP":
        raise Invalid("the sandbox recommends COMPUTE_SP Savings Plans only")
    days, first, last = _lookback(ledger, body)
    frame = rows_between(ledger, body, first, last + timedelta(days=1))
    eligible = frame[
        (frame["service"] == SP_ELIGIBLE_SERVICE)
        & (frame["charge_category"] == "Usage")
        & frame["usage_type"].str.contains(SP_ELIGIBLE_PREFIX, regex=False)
        & frame["commitment_discount_id"].isna()
    ]
    per_day = eligible.groupby("charge_date")["effective_cost"].sum()
    usage = [float(per_day.get(first + timedelta(days=i), 0.0)) for i in range(days)]
    hourly = round(best_hourly_commitment(usage, SP_RATE), 3)
    capacity = 24 * hourly / SP_RATE
    covered = sum(min(u, capacity) for u in usage)
    sp_cost = 24 * hourly * days
    savings = covered - sp_cost
    scope = str(body.get("AccountScope") or "PAYER")
    detail = {
        "SavingsPlansDetails": {
            "Region": "Any",
            "InstanceFamily": "Any",
            "OfferingId": offering_id(
                TERMS.get(str(body["TermInYears"]), 1),
                PAYMENT_OPTIONS.get(str(body["PaymentOption"]), "No Upfront"),
            ),
        },
        "AccountId": ledger.billing_account_id,
        "UpfrontCost": "0",
        "EstimatedROI": percent_text(savings, sp_cost),
        "CurrencyCode": "USD",
        "EstimatedSPCost": amount_text(round(sp_cost, 6)),
        "EstimatedOnDemandCost": amount_text(round(covered, 6)),
        "EstimatedOnDemandCostWithCurrentCommitment": amount_text(round(sum(usage), 6)),
        "EstimatedSavingsAmount": amount_text(round(savings, 6)),
        "EstimatedSavingsPercentage": percent_text(savings, sum(usage)),
        "HourlyCommitmentToPurchase": amount_text(hourly),
        "EstimatedAverageUtilization": percent_text(covered, capacity * days),
        "EstimatedMonthlySavingsAmount": amount_text(round(savings / days * 30, 6)),
        "CurrentMinimumHourlyOnDemandSpend": amount_text(round(min(usage) / 24, 6)),
        "CurrentMaximumHourlyOnDemandSpend": amount_text(round(max(usage) / 24, 6)),
        "CurrentAverageHourlyOnDemandSpend": amount_text(round(sum(usage) / days / 24, 6)),
        "RecommendationDetailId": str(uuid.uuid4()),
    }
    return 200, {
        "Metadata": _metadata(ledger, days),
        "SavingsPlansPurchaseRecommendation": {
            "AccountScope": scope,
            "SavingsPlansType": "COMPUTE_SP",
            "TermInYears": body["TermInYears"],
            "PaymentOption": body["PaymentOption"],
            "LookbackPeriodInDays": body["LookbackPeriodInDays"],
            "SavingsPlansPurchaseRecommendationDetails": [detail] if hourly > 0 else [],
            "SavingsPlansPurchaseRecommendationSummary": {
                "EstimatedROI": detail["EstimatedROI"],
                "CurrencyCode": "USD",
                "EstimatedTotalCost": detail["EstimatedSPCost"],
                "CurrentOnDemandSpend": amount_text(round(sum(usage), 6)),
                "EstimatedSavingsAmount": detail["EstimatedSavingsAmount"],
                "TotalRecommendationCount": "1" if hourly > 0 else "0",
                "DailyCommitmentToPurchase": amount_text(round(24 * hourly, 6)),
                "HourlyCommitmentToPurchase": amount_text(hourly),
                "EstimatedSavingsPercentage": detail["EstimatedSavingsPercentage"],
                "EstimatedMonthlySavingsAmount": detail["EstimatedMonthlySavingsAmount"],
                "EstimatedOnDemandCostWithCurrentCommitment": detail[
                    "EstimatedOnDemandCostWithCurrentCommitment"
                ],
            },
        },
    }


def ri_recommendation(ledger: Ledger, body: Mapping[str, Any]) -> Answer:
    """GetReservationPurchaseRecommendation: whole instances, per account, region, type."""
    _required(body, "Service")
    service = str(body["Service"])
    days, first, last = _lookback(ledger, {"LookbackPeriodInDays": "SEVEN_DAYS", **body})
    frame = rows_between(ledger, body, first, last + timedelta(days=1))
    eligible = frame[
        (frame["service"] == service)
        & (frame["charge_category"] == "Usage")
        & (frame["usage_unit"] == "Hrs")
        & frame["usage_type"].str.contains("InstanceUsage:|BoxUsage:", regex=True)
        & frame["commitment_discount_id"].isna()
    ]
    recommendations = []
    for (account, region, usage_type), group in sorted(
        eligible.groupby(["sub_account_id", "region", "usage_type"])
    ):
        per_day = group.groupby("charge_date")["usage_quantity"].sum()
        hours = [float(per_day.get(first + timedelta(days=i), 0.0)) for i in range(days)]
        instances_per_day = [h / 24.0 for h in hours]
        # the optimum in instances: the hourly optimum over instance-hours, at price 1
        count = math.floor(best_hourly_commitment(hours, RI_RATE) / RI_RATE + 1e-9)
        if count < 1:
            continue
        price = float((group["effective_cost"].sum()) / max(group["usage_quantity"].sum(), 1e-9))
        instance_type = str(usage_type).split(":", 1)[-1]
        monthly_on_demand = count * price * 730
        monthly_ri = monthly_on_demand * RI_RATE
        details = {
            "InstanceType": instance_type,
            "Region": region,
            "CurrentGeneration": True,
            "SizeFlexEligible": True,
            "Family": instance_type.rsplit(".", 1)[0],
        }
        kind = "RDSInstanceDetails" if "db." in instance_type else "EC2InstanceDetails"
        recommendations.append(
            {
                "AccountId": account,
                "InstanceDetails": {kind: details},
                "RecommendedNumberOfInstancesToPurchase": str(count),
                "MinimumNumberOfInstancesUsedPerHour": amount_text(
                    round(min(instances_per_day), 6)
                ),
                "MaximumNumberOfInstancesUsedPerHour": amount_text(
                    round(max(instances_per_day), 6)
                ),
                "AverageNumberOfInstancesUsedPerHour": amount_text(
                    round(sum(instances_per_day) / days, 6)
                ),
                "AverageUtilization": percent_text(
                    sum(min(n, count) for n in instances_per_day), count * days
                ),
                "EstimatedBreakEvenInMonths": "0",
                "CurrencyCode": "USD",
                "EstimatedMonthlySavingsAmount": amount_text(
                    round(monthly_on_demand - monthly_ri, 6)
                ),
                "EstimatedMonthlySavingsPercentage": percent_text(
                    monthly_on_demand - monthly_ri, monthly_on_demand
                ),
                "EstimatedMonthlyOnDemandCost": amount_text(round(monthly_on_demand, 6)),
                "EstimatedReservationCostForLookbackPeriod": amount_text(
                    round(count * price * RI_RATE * 24 * days, 6)
                ),
                "UpfrontCost": "0",
                "RecurringStandardMonthlyCost": amount_text(round(monthly_ri, 6)),
            }
        )
    chunk, token = paged(recommendations, body, "NextPageToken", "PageSize")
    answer: dict[str, Any] = {
        "Metadata": _metadata(ledger, days),
        "Recommendations": [
            {
                "AccountScope": str(body.get("AccountScope") or "PAYER"),
                "LookbackPeriodInDays": str(body.get("LookbackPeriodInDays") or "SEVEN_DAYS"),
                "TermInYears": str(body.get("TermInYears") or "ONE_YEAR"),
                "PaymentOption": str(body.get("PaymentOption") or "NO_UPFRONT"),
                "RecommendationDetails": chunk,
                "RecommendationSummary": {
                    "TotalEstimatedMonthlySavingsAmount": amount_text(
                        round(sum(float(r["EstimatedMonthlySavingsAmount"]) for r in chunk), 6)
                    ),
                    "TotalEstimatedMonthlySavingsPercentage": percent_text(
                        sum(float(r["EstimatedMonthlySavingsAmount"]) for r in chunk),
                        sum(float(r["EstimatedMonthlyOnDemandCost"]) for r in chunk),
                    ),
                    "CurrencyCode": "USD",
                },
            }
        ]
        if chunk
        else [],
    }
    if token:
        answer["NextPageToken"] = token
    return 200, answer
