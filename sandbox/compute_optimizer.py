"""Compute Optimizer as the sandbox serves it: enrolment and EC2 / EBS recommendations.

Answers over JSON 1.0 (``ComputeOptimizerService.<Op>``, what boto3 sends) from the seeded
fleet: every running EC2 instance with at least 30 hours of metrics (Compute Optimizer's minimum)
and every attached EBS volume of the ground truth.  The rightsizing profiles
(:mod:`sandbox.fleet_rightsizing`) get their documented answers; idle instances are
``Overprovisioned`` with ``idle = "True"`` (what AWS reports and what the idle checks own);
every other instance and volume is ``Optimized`` with its own configuration as the only option
(but the over-provisioned io1 volume: ``NotOptimized``, gp3 proposed).
Savings are list prices of the bundled price book, 730 hours a month.

The organisation's management account is enrolled with its members, except those of
:func:`sandbox.fleet_rightsizing.not_opted_in`: a call from such an account, or naming it in
``accountIds``, answers ``OptInRequiredException`` as AWS does.  ``nextToken`` pages at
``maxResults`` (default 100, at most 1,000).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sandbox.fleet_rightsizing import BY_NAME, EBS_PROFILE, KEY, ground_truth, not_opted_in
from sandbox.services import (
    SandboxService,
    ServiceError,
    ServiceRequest,
    caller_account,
    dispatch,
)
from tasks.pricing.book import BundledPrices, ebs_volume_month

if TYPE_CHECKING:
    from sandbox.seed import Seeded

HOURS_PER_MONTH = Decimal(730)
#: CPU architecture the Graviton types run (Compute Optimizer flags the platform difference).
ARM64_FAMILIES = ("m6g", "m7g", "c6g", "c7g", "r6g", "t4g")
IDLE_PROFILES = ("idle", "protected-idle", "excluded-idle")
IDLE_TARGET_TYPE = "t3.small"

Answer = tuple[int, dict[str, Any]]
BAD = "InvalidParameterValueException"


def error(status: int, code: str, message: str) -> Answer:
    """An AWS-shaped error answer."""
    return status, {"__type": code, "message": message}


def money(value: Decimal) -> dict[str, Any]:
    """Compute Optimizer's ``EstimatedMonthlySavings``."""
    return {"currency": "USD", "value": float(value.quantize(Decimal("0.01")))}


#: A request answered with an AWS-shaped error instead of a page.
Refused = ServiceError


def page(
    items: list[dict[str, Any]], body: Mapping[str, Any], default: int, bad: str
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of ``items`` after ``nextToken`` and the next token (None on the last page).

    Raises:
        Refused: ``maxResults`` outside 0..1000 or a token this service did not issue (``bad``
            names the service's validation error code).

    Example:
        >>> items = [{"n": n} for n in range(3)]
        >>> chunk, token = page(items, {"maxResults": 2}, 100, "X")
        >>> len(chunk), page(items, {"nextToken": token}, 100, "X")
        (2, ([{'n': 2}], None))
    """
    size = body.get("maxResults", default)
    if not isinstance(size, int) or not 0 <= size <= 1000:
        raise Refused(400, bad, "maxResults must be between 0 and 1000")
    size = size or default
    start = 0
    token = body.get("nextToken")
    if token:
        try:
            start = int(base64.urlsafe_b64decode(str(token).encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise Refused(400, bad, "The nextToken is not valid.") from None
    end = start + size
    following = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], following


def instance_answers(seeded: Seeded) -> list[dict[str, Any]]:
    """What Compute Optimizer concludes for each instance it covers (sandbox ground truth).

    Each entry: ``account_id, region, instance_id, arn, tags, current_type, finding, idle,
    options`` (``[(type, monthly_savings, platform_differences)]``, rank order).
    """
    prices = BundledPrices()
    answers = []
    for record in seeded.ground_truth["resources"]:
        facts = record["facts"]
        if record["resource_type"] != "ec2-instance" or facts.get("state") != "running":
            continue
        if int(facts.get("metric_hours", 0)) < 30:
            continue
        current = str(facts["instance_type"])
        profile = BY_NAME.get(record["profile"])
        idle = record["profile"] in IDLE_PROFILES
        if profile is not None:
            finding, target = profile.aws_finding, profile.aws_type
        elif idle:
            finding, target = "Overprovisioned", IDLE_TARGET_TYPE
        else:
            finding, target = "Optimized", current
        region = record["region"]
        now_hour = prices.ec2_instance_hour(region, current) or Decimal(0)
        new_hour = prices.ec2_instance_hour(region, target) or Decimal(0)
        differences = ["Architecture"] if target.split(".")[0] in ARM64_FAMILIES else []
        answers.append(
            {
                "account_id": record["account_id"],
                "region": region,
                "instance_id": record["resource_id"],
                "arn": record["arn"],
                "tags": record["tags"],
                "current_type": current,
                "finding": finding,
                "idle": idle,
                "options": [(target, (now_hour - new_hour) * HOURS_PER_MONTH, differences)],
            }
        )
    return answers


def volume_answers(seeded: Seeded) -> list[dict[str, Any]]:
    """Attached EBS volumes with metrics: the over-provisioned io1 profile ``NotOptimized`` (gp3
    at 3,000 IOPS and 125 MiB/s), every other volume ``Optimized`` (its own configuration)."""
    prices = BundledPrices()
    answers = []
    for r in seeded.ground_truth["resources"]:
        facts = r["facts"]
        if r["resource_type"] != "ebs-volume" or not facts.get("attached_to"):
            continue
        if int(facts.get("metric_hours", 0)) < 30:
            continue
        size = int(facts["size_gib"])
        current = {"volumeType": facts["volume_type"], "volumeSize": size}
        if facts.get("iops"):
            current["volumeBaselineIOPS"] = int(facts["iops"])
        answer = {
            "account_id": r["account_id"],
            "region": r["region"],
            "volume_id": r["resource_id"],
            "arn": r["arn"],
            "tags": r["tags"],
            "current": current,
            "finding": "Optimized",
            "target": current,
            "savings": Decimal(0),
        }
        if r["profile"] == EBS_PROFILE:
            target = {
                "volumeType": "gp3",
                "volumeSize": size,
                "volumeBaselineIOPS": 3000,
                "volumeBaselineThroughput": 125,
            }
            now = ebs_volume_month(prices, r["region"], "io1", size, int(facts["iops"]))
            new = ebs_volume_month(prices, r["region"], "gp3", size, 3000, 125)
            answer.update(finding="NotOptimized", target=target, savings=(now or 0) - (new or 0))
        answers.append(answer)
    return answers


def _ec2_item(answer: dict[str, Any], look_back: int) -> dict[str, Any]:
    options = []
    for rank, (instance_type, savings, differences) in enumerate(answer["options"], start=1):
        saving = max(Decimal(0), savings)
        options.append(
            {
                "instanceType": instance_type,
                "platformDifferences": differences,
                "performanceRisk": 1.0 if answer["finding"] == "Overprovisioned" else 0.0,
                "rank": rank,
                "savingsOpportunity": {
                    "savingsOpportunityPercentage": 0.0,
                    "estimatedMonthlySavings": money(saving),
                },
                "savingsOpportunityAfterDiscounts": {
                    "savingsOpportunityPercentage": 0.0,
                    "estimatedMonthlySavings": money(saving),
                },
                "migrationEffort": "Medium" if differences else "VeryLow",
            }
        )
    return {
        "instanceArn": answer["arn"],
        "accountId": answer["account_id"],
        "instanceName": answer["tags"].get("Name", ""),
        "currentInstanceType": answer["current_type"],
        "finding": answer["finding"],
        "findingReasonCodes": [],
        "utilizationMetrics": [],
        "lookBackPeriodInDays": float(look_back),
        "recommendationOptions": options,
        "recommendationSources": [
            {"recommendationSourceArn": answer["arn"], "recommendationSourceType": "Ec2Instance"}
        ],
        "currentPerformanceRisk": "VeryLow",
        "instanceState": "running",
        "idle": "True" if answer["idle"] else "False",
        "tags": [{"key": k, "value": v} for k, v in answer["tags"].items()],
    }


def _ebs_item(answer: dict[str, Any], look_back: int) -> dict[str, Any]:
    saving = {
        "savingsOpportunityPercentage": 0.0,
        "estimatedMonthlySavings": money(answer["savings"]),
    }
    return {
        "volumeArn": answer["arn"],
        "accountId": answer["account_id"],
        "currentConfiguration": answer["current"],
        "finding": answer["finding"],
        "utilizationMetrics": [],
        "lookBackPeriodInDays": float(look_back),
        "volumeRecommendationOptions": [
            {
                "configuration": answer["target"],
                "performanceRisk": 0.0,
                "rank": 1,
                "savingsOpportunity": saving,
                "savingsOpportunityAfterDiscounts": saving,
            }
        ],
        "tags": [{"key": k, "value": v} for k, v in answer["tags"].items()],
    }


def build(seeded: Seeded) -> SandboxService:
    """The Compute Optimizer service over the seeded world; adds the rightsizing ground truth."""
    accounts = list(seeded.accounts)
    management = seeded.ctx.management_account_id
    off = set(not_opted_in(accounts))
    look_back = int(seeded.ctx.size.days)
    instances = instance_answers(seeded)
    volumes = volume_answers(seeded)
    seeded.ground_truth[KEY] = ground_truth(seeded.ground_truth["resources"], accounts)
    updated = seeded.ctx.now.timestamp()

    def scope(request: ServiceRequest) -> list[str]:
        caller = caller_account(request)
        if caller in off:
            raise Refused(
                400,
                "OptInRequiredException",
                f"The account {caller} is not opted in to AWS Compute Optimizer.",
            )
        wanted = [str(a) for a in request.body.get("accountIds") or [caller]]
        if caller != management and wanted != [caller]:
            raise Refused(
                403,
                "AccessDeniedException",
                "Only the management account can ask for other accounts' recommendations.",
            )
        refused = [a for a in wanted if a in off]
        if refused:
            raise Refused(
                400,
                "OptInRequiredException",
                f"The account(s) {', '.join(refused)} are not opted in to AWS Compute Optimizer.",
            )
        return wanted

    def findings_filter(body: Mapping[str, Any]) -> Callable[[str], bool]:
        wanted: set[str] | None = None
        for item in body.get("filters") or []:
            if item.get("name") == "Finding":
                wanted = {str(v) for v in item.get("values") or []}
        return lambda finding: wanted is None or finding in wanted

    def ec2_recommendations(request: ServiceRequest) -> Answer:
        accounts_in = scope(request)
        keep = findings_filter(request.body)
        arns = set(request.body.get("instanceArns") or [])
        items = [
            _ec2_item(a, look_back)
            for a in instances
            if a["account_id"] in accounts_in
            and a["region"] == request.region
            and keep(a["finding"])
            and (not arns or a["arn"] in arns)
        ]
        chunk, following = page(items, request.body, 100, BAD)
        answer: dict[str, Any] = {"instanceRecommendations": chunk, "errors": []}
        if following:
            answer["nextToken"] = following
        return 200, answer

    def ebs_recommendations(request: ServiceRequest) -> Answer:
        accounts_in = scope(request)
        items = [
            _ebs_item(v, look_back)
            for v in volumes
            if v["account_id"] in accounts_in and v["region"] == request.region
        ]
        chunk, following = page(items, request.body, 100, BAD)
        answer: dict[str, Any] = {"volumeRecommendations": chunk, "errors": []}
        if following:
            answer["nextToken"] = following
        return 200, answer

    def enrollment_status(request: ServiceRequest) -> Answer:
        caller = caller_account(request)
        if caller in off:
            return 200, {"status": "Inactive", "memberAccountsEnrolled": False}
        answer: dict[str, Any] = {
            "status": "Active",
            "memberAccountsEnrolled": caller == management,
            "lastUpdatedTimestamp": updated,
        }
        if caller == management:
            answer["numberOfMemberAccountsOptedIn"] = len(accounts) - 1 - len(off)
        return 200, answer

    def organization_statuses(request: ServiceRequest) -> Answer:
        if caller_account(request) != management:
            raise Refused(403, "AccessDeniedException", "Only the management account may ask.")
        items = [
            {
                "accountId": account,
                "status": "Inactive" if account in off else "Active",
                "statusReason": "" if account not in off else "The account has not opted in.",
                "lastUpdatedTimestamp": updated,
            }
            for account in accounts[1:]
        ]
        chunk, following = page(items, request.body, 100, BAD)
        answer: dict[str, Any] = {"accountEnrollmentStatuses": chunk}
        if following:
            answer["nextToken"] = following
        return 200, answer

    handlers: dict[str, Callable[[ServiceRequest], Answer]] = {
        "GetEnrollmentStatus": enrollment_status,
        "GetEnrollmentStatusesForOrganization": organization_statuses,
        "GetEC2InstanceRecommendations": ec2_recommendations,
        "GetEBSVolumeRecommendations": ebs_recommendations,
    }

    return SandboxService(
        name="compute-optimizer",
        signing_name="compute-optimizer",
        operations=frozenset(handlers),
        handle=dispatch(handlers),
        extra={"instances": instances},
    )
