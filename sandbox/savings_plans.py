"""The Savings Plans API (``savingsplans``, rest-json) over the sandbox's planned commitments.

``DescribeSavingsPlans`` lists the caller account's plans (those of :mod:`sandbox.commitments`
plus any bought here), with ``savingsPlanIds``, ``savingsPlanArns``, ``states`` and ``filters``
(``term``, ``savings-plan-type``, ``upfront``, ``region``) and ``nextToken``/``maxResults``
pagination.  ``DescribeSavingsPlansOfferings`` lists the Compute Savings Plan offerings (1 and 3
years, each payment option), so a buyer can check an offering before paying for it.

``CreateSavingsPlan`` buys: the API has no ``DryRun`` flag, so it really records a purchase, in
``ground_truth["savings_plan_purchases"]`` (served at ``/_sandbox/ground-truth``), exactly one per
``clientToken`` (AWS's idempotency token: a retried call returns the same plan and buys nothing
more).  The product gates it (see :mod:`tasks.commitments.purchase`): never by default, and only
after the offering check.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sandbox.commitments import NAMESPACE, PAYMENT_OPTIONS, offering_id
from sandbox.services import SandboxService, ServiceRequest, caller_account

OPERATIONS = frozenset(
    {"DescribeSavingsPlans", "DescribeSavingsPlansOfferings", "CreateSavingsPlan"}
)
YEAR_SECONDS = 365 * 24 * 3600
_AMOUNT = re.compile(r"^\d+(\.\d{1,3})?$")
Answer = tuple[int, dict[str, Any]]


def _error(code: str, message: str, status: int = 400) -> Answer:
    return status, {"__type": code, "message": message}


def _offerings() -> list[dict[str, Any]]:
    return [
        {
            "offeringId": offering_id(years, payment),
            "productTypes": ["EC2", "Fargate", "Lambda"],
            "planType": "Compute",
            "description": f"{years} year {payment} Compute Savings Plan",
            "paymentOption": payment,
            "durationSeconds": years * YEAR_SECONDS,
            "currency": "USD",
            "serviceCode": "ComputeSavingsPlans",
            "usageType": f"ComputeSP:{years}yr{payment.replace(' ', '')}",
            "operation": "",
            "properties": [],
        }
        for years in (1, 3)
        for payment in PAYMENT_OPTIONS.values()
    ]


def _page(items: list[dict[str, Any]], body: Mapping[str, Any]) -> tuple[list[Any], str | None]:
    token = body.get("nextToken")
    try:
        offset = int(json.loads(base64.b64decode(token))["offset"]) if token else 0
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"nextToken {token!r} is not valid") from None
    size = int(body.get("maxResults") or 100)
    more = offset + size < len(items)
    next_token = base64.b64encode(json.dumps({"offset": offset + size}).encode()).decode()
    return items[offset : offset + size], next_token if more else None


def build(seeded: Any) -> SandboxService:
    """The Savings Plans service over ``seeded.ledger.commitments``; records purchases."""
    purchases: list[dict[str, Any]] = seeded.ground_truth.setdefault("savings_plan_purchases", [])
    today = seeded.ctx.now.date()
    plans: list[dict[str, Any]] = []
    for plan in seeded.ledger.commitments:
        if plan.kind != "Savings Plan":
            continue
        plans.append(
            {
                "offeringId": offering_id(plan.term_years, plan.payment_option),
                "savingsPlanId": plan.short_id,
                "savingsPlanArn": plan.commitment_id,
                "description": plan.name,
                "start": f"{plan.start.isoformat()}T00:00:00.000Z",
                "end": f"{plan.end.isoformat()}T00:00:00.000Z",
                "state": "active" if plan.active(today) else "retired",
                "region": "",
                "ec2InstanceFamily": "",
                "savingsPlanType": "Compute",
                "paymentOption": plan.payment_option,
                "productTypes": ["EC2", "Fargate", "Lambda"],
                "currency": "USD",
                "commitment": f"{plan.hourly_usd:.3f}",
                "upfrontPaymentAmount": "0",
                "recurringPaymentAmount": f"{plan.hourly_usd:.3f}",
                "termDurationInSeconds": plan.term_years * YEAR_SECONDS,
                "tags": {},
                "_account": plan.account_id,
            }
        )

    def describe(request: ServiceRequest) -> Answer:
        body = request.body
        account = caller_account(request)
        chosen = [p for p in plans if p["_account"] == account]
        if body.get("savingsPlanIds"):
            chosen = [p for p in chosen if p["savingsPlanId"] in body["savingsPlanIds"]]
        if body.get("savingsPlanArns"):
            chosen = [p for p in chosen if p["savingsPlanArn"] in body["savingsPlanArns"]]
        if body.get("states"):
            chosen = [p for p in chosen if p["state"] in body["states"]]
        for rule in body.get("filters") or []:
            name, values = rule.get("name"), [str(v) for v in rule.get("values") or []]
            field = {
                "savings-plan-type": "savingsPlanType",
                "upfront": "paymentOption",
                "region": "region",
            }.get(str(name))
            if name == "term":
                chosen = [
                    p
                    for p in chosen
                    if str(p["termDurationInSeconds"] // YEAR_SECONDS) in values
                    or str(p["termDurationInSeconds"]) in values
                ]
            elif field:
                chosen = [p for p in chosen if str(p[field]) in values]
            else:
                return _error("ValidationException", f"filter name {name!r} is not supported")
        try:
            page, token = _page(chosen, body)
        except ValueError as error:
            return _error("ValidationException", str(error))
        answer: dict[str, Any] = {
            "savingsPlans": [{k: v for k, v in p.items() if not k.startswith("_")} for p in page]
        }
        if token:
            answer["nextToken"] = token
        return 200, answer

    def offerings(request: ServiceRequest) -> Answer:
        body = request.body
        found = _offerings()
        if body.get("offeringIds"):
            found = [o for o in found if o["offeringId"] in body["offeringIds"]]
        if body.get("planTypes"):
            found = [o for o in found if o["planType"] in body["planTypes"]]
        if body.get("paymentOptions"):
            found = [o for o in found if o["paymentOption"] in body["paymentOptions"]]
        if body.get("durations"):
            found = [o for o in found if o["durationSeconds"] in body["durations"]]
        try:
            page, token = _page(found, body)
        except ValueError as error:
            return _error("ValidationException", str(error))
        answer: dict[str, Any] = {"searchResults": page}
        if token:
            answer["nextToken"] = token
        return 200, answer

    def create(request: ServiceRequest) -> Answer:
        body = request.body
        commitment = str(body.get("commitment") or "")
        if not _AMOUNT.match(commitment) or float(commitment) <= 0:
            return _error(
                "ValidationException",
                f"commitment {commitment!r} must be a positive amount with at most 3 decimals",
            )
        offering = next(
            (o for o in _offerings() if o["offeringId"] == body.get("savingsPlanOfferingId")), None
        )
        if offering is None:
            return _error(
                "ResourceNotFoundException",
                f"savingsPlanOfferingId {body.get('savingsPlanOfferingId')!r} was not found",
                404,
            )
        account = caller_account(request)
        token = str(body.get("clientToken") or uuid.uuid4())
        for purchase in purchases:
            if purchase["account_id"] == account and purchase["client_token"] == token:
                return 200, {"savingsPlanId": purchase["savingsPlanId"]}
        plan_id = str(uuid.uuid5(NAMESPACE, f"purchase/{account}/{token}"))
        now = datetime.now(UTC)
        years = offering["durationSeconds"] // YEAR_SECONDS
        record = {
            "savingsPlanId": plan_id,
            "account_id": account,
            "client_token": token,
            "offeringId": offering["offeringId"],
            "commitment": commitment,
            "purchased_at": now.isoformat(),
            "tags": dict(body.get("tags") or {}),
        }
        purchases.append(record)
        plans.append(
            {
                "offeringId": offering["offeringId"],
                "savingsPlanId": plan_id,
                "savingsPlanArn": f"arn:aws:savingsplans::{account}:savingsplan/{plan_id}",
                "description": offering["description"],
                "start": now.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "end": now.replace(year=now.year + years).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "state": "payment-pending",
                "region": "",
                "ec2InstanceFamily": "",
                "savingsPlanType": "Compute",
                "paymentOption": offering["paymentOption"],
                "productTypes": offering["productTypes"],
                "currency": "USD",
                "commitment": commitment,
                "upfrontPaymentAmount": str(body.get("upfrontPaymentAmount") or "0"),
                "recurringPaymentAmount": commitment,
                "termDurationInSeconds": offering["durationSeconds"],
                "tags": record["tags"],
                "_account": account,
            }
        )
        return 200, {"savingsPlanId": plan_id}

    handlers = {
        "DescribeSavingsPlans": describe,
        "DescribeSavingsPlansOfferings": offerings,
        "CreateSavingsPlan": create,
    }

    def handle(request: ServiceRequest) -> Answer:
        return handlers[request.operation](request)

    return SandboxService(
        name="savingsplans",
        signing_name="savingsplans",
        operations=OPERATIONS,
        handle=handle,
        protocol="rest-json",
    )
