"""Cost Optimization Hub as the sandbox serves it: enrolment, preferences and recommendations.

JSON 1.0 (``CostOptimizationHubService.<Op>``), one endpoint for the whole organisation: the
management account lists every enrolled member's recommendations.  They are Compute
Optimizer's saving recommendations (:mod:`sandbox.compute_optimizer`) as the Hub states them:
``Stop`` for idle instances, ``MigrateToGraviton`` when the option changes architecture,
``Rightsize`` otherwise, each with savings after discounts (the sandbox has no commitments, so
they equal list-price savings).  Accounts that have not opted in have no recommendations and
are ``Inactive`` in ``ListEnrollmentStatuses``; a call from such an account answers
``AccessDeniedException`` saying it is not enrolled.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sandbox.compute_optimizer import Answer, Refused, instance_answers, page
from sandbox.fleet_rightsizing import not_opted_in
from sandbox.services import SandboxService, ServiceRequest, caller_account, dispatch
from tasks.pricing.book import BundledPrices

if TYPE_CHECKING:
    from sandbox.seed import Seeded

BAD = "ValidationException"
HOURS_PER_MONTH = Decimal(730)

#: ListRecommendations filter key -> the item field it matches.
_FILTERS = {
    "accountIds": "accountId",
    "regions": "region",
    "resourceTypes": "currentResourceType",
    "actionTypes": "actionType",
    "resourceIds": "resourceId",
    "resourceArns": "resourceArn",
    "recommendationIds": "recommendationId",
}


def hub_items(seeded: Seeded) -> list[dict[str, Any]]:
    """The Hub's recommendations (full detail) for every enrolled account's saving."""
    off = set(not_opted_in(list(seeded.accounts)))
    prices = BundledPrices()
    items = []
    for answer in instance_answers(seeded):
        target, savings, differences = answer["options"][0]
        if answer["account_id"] in off or savings <= 0 or answer["finding"] == "Underprovisioned":
            continue
        action = "Stop" if answer["idle"] else "MigrateToGraviton" if differences else "Rightsize"
        hour = prices.ec2_instance_hour(answer["region"], answer["current_type"]) or Decimal(0)
        cost = hour * HOURS_PER_MONTH
        items.append(
            {
                "recommendationId": f"rec-{answer['instance_id']}",
                "accountId": answer["account_id"],
                "region": answer["region"],
                "resourceId": answer["instance_id"],
                "resourceArn": answer["arn"],
                "currentResourceType": "Ec2Instance",
                "recommendedResourceType": "Ec2Instance",
                "estimatedMonthlySavings": float(savings.quantize(Decimal("0.01"))),
                "estimatedSavingsPercentage": float((savings / cost * 100).quantize(Decimal("0.1")))
                if cost
                else 0.0,
                "estimatedMonthlyCost": float(cost.quantize(Decimal("0.01"))),
                "currencyCode": "USD",
                "implementationEffort": "Medium" if differences else "VeryLow",
                "restartNeeded": True,
                "actionType": action,
                "rollbackPossible": True,
                "currentResourceSummary": answer["current_type"],
                "recommendedResourceSummary": "Stop" if answer["idle"] else target,
                "lastRefreshTimestamp": seeded.ctx.now.timestamp(),
                "recommendationLookbackPeriodInDays": int(seeded.ctx.size.days),
                "source": "ComputeOptimizer",
                "tags": [{"key": k, "value": v} for k, v in answer["tags"].items()],
                "_target": target,
                "_savings_before": float(savings.quantize(Decimal("0.01"))),
            }
        )
    return items


def _summary(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if not k.startswith("_")}


def _detail(item: dict[str, Any]) -> dict[str, Any]:
    pricing = {
        "estimatedCostBeforeDiscounts": item["estimatedMonthlyCost"],
        "estimatedDiscounts": {"savingsPlansDiscount": 0.0, "reservedInstancesDiscount": 0.0},
        "estimatedCostAfterDiscounts": item["estimatedMonthlyCost"],
    }
    current = {"configuration": {"instance": {"type": item["currentResourceSummary"]}}}
    recommended = {"configuration": {"instance": {"type": item["_target"]}}}
    detail = {k: v for k, v in _summary(item).items() if k not in {"tags"}}
    detail.update(
        {
            "costCalculationLookbackPeriodInDays": item["recommendationLookbackPeriodInDays"],
            "estimatedSavingsOverCostCalculationLookbackPeriod": item["estimatedMonthlySavings"],
            "currentResourceDetails": {
                "ec2Instance": {**current, "costCalculation": {"pricing": pricing}}
            },
            "recommendedResourceDetails": {"ec2Instance": recommended},
            "tags": item["tags"],
        }
    )
    return detail


def build(seeded: Seeded) -> SandboxService:
    """The Cost Optimization Hub service over the seeded world."""
    accounts = list(seeded.accounts)
    management = seeded.ctx.management_account_id
    off = set(not_opted_in(accounts))
    items = hub_items(seeded)
    by_id = {item["recommendationId"]: item for item in items}
    created = seeded.ctx.now.timestamp()

    def caller(request: ServiceRequest) -> str:
        account = caller_account(request)
        if account in off:
            raise Refused(
                400,
                "AccessDeniedException",
                f"Account {account} is not enrolled in Cost Optimization Hub.",
            )
        return account

    def visible(request: ServiceRequest) -> list[dict[str, Any]]:
        account = caller(request)
        return [i for i in items if account == management or i["accountId"] == account]

    def list_recommendations(request: ServiceRequest) -> Answer:
        chosen = visible(request)
        wanted = request.body.get("filter") or {}
        for key, field in _FILTERS.items():
            values = wanted.get(key)
            if values:
                chosen = [i for i in chosen if i[field] in set(values)]
        chunk, following = page([_summary(i) for i in chosen], request.body, 100, BAD)
        answer: dict[str, Any] = {"items": chunk}
        if following:
            answer["nextToken"] = following
        return 200, answer

    def get_recommendation(request: ServiceRequest) -> Answer:
        visible_ids = {i["recommendationId"] for i in visible(request)}
        found = str(request.body.get("recommendationId", ""))
        if found not in visible_ids:
            raise Refused(400, "ResourceNotFoundException", f"No recommendation {found}.")
        return 200, _detail(by_id[found])

    def enrollment_statuses(request: ServiceRequest) -> Answer:
        account = caller_account(request)
        wanted = request.body.get("accountId")
        everyone = bool(request.body.get("includeOrganizationInfo")) and account == management
        listed = accounts if everyone else [account]
        rows = [
            {
                "accountId": a,
                "status": "Inactive" if a in off else "Active",
                "lastUpdatedTimestamp": created,
                "createdTimestamp": created,
            }
            for a in listed
            if not wanted or a == wanted
        ]
        chunk, following = page(rows, request.body, 100, BAD)
        answer: dict[str, Any] = {"items": chunk, "includeMemberAccounts": account == management}
        if following:
            answer["nextToken"] = following
        return 200, answer

    def preferences(request: ServiceRequest) -> Answer:
        caller(request)
        return 200, {
            "savingsEstimationMode": "AfterDiscounts",
            "memberAccountDiscountVisibility": "All",
        }

    handlers: dict[str, Callable[[ServiceRequest], Answer]] = {
        "GetPreferences": preferences,
        "ListEnrollmentStatuses": enrollment_statuses,
        "ListRecommendations": list_recommendations,
        "GetRecommendation": get_recommendation,
    }

    return SandboxService(
        name="cost-optimization-hub",
        signing_name="cost-optimization-hub",
        operations=frozenset(handlers),
        handle=dispatch(handlers),
    )
