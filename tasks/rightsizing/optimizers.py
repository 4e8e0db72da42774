"""Adapters for AWS's own optimisers, read org-wide from the management account.

Compute Optimizer is regional: its enrolment is read first (``GetEnrollmentStatus`` and, for
an organisation, ``GetEnrollmentStatusesForOrganization``), then
``GetEC2InstanceRecommendations`` and ``GetEBSVolumeRecommendations`` per region for the
enrolled accounts only, page by page (``nextToken``; botocore has no paginator for them).
Cost Optimization Hub is one endpoint (us-east-1) for the organisation:
``ListEnrollmentStatuses`` then the ``ListRecommendations`` paginator, EC2 instances only.  An
account or organisation that is not opted in gets one line in ``OptimizerAdvice.notes``
saying how to opt in; a service that cannot be read at all (access denied, not available)
gets one line saying why, and the scan goes on with our own rule.

``get_*`` read, ``transform_*`` are pure, :func:`fetch_advice` composes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tasks.aws.common import error_code, error_message
from tasks.aws.session import AwsAccess
from tasks.rightsizing.catalog import spec
from tasks.rightsizing.model import (
    CO,
    COH,
    OPT_IN,
    AwsRecommendation,
    OptimizerAdvice,
    VolumeRecommendation,
)

#: Cost Optimization Hub's only endpoint.
HUB_REGION = "us-east-1"
PAGE_SIZE = 1000


def get_co_enrollment(co: Any) -> dict[str, Any]:
    return dict(co.get_enrollment_status())


def get_co_member_statuses(co: Any) -> list[dict[str, Any]]:
    paginator = co.get_paginator("get_enrollment_statuses_for_organization")
    return [s for page in paginator.paginate() for s in page.get("accountEnrollmentStatuses", [])]


def get_ec2_recommendations(co: Any, account_ids: list[str]) -> list[dict[str, Any]]:
    """Every EC2 recommendation of these accounts in the client's region (nextToken pages)."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"accountIds": account_ids, "maxResults": PAGE_SIZE}
        if token:
            kwargs["nextToken"] = token
        page = co.get_ec2_instance_recommendations(**kwargs)
        items.extend(page.get("instanceRecommendations", []))
        token = page.get("nextToken")
        if not token:
            return items


def get_ebs_recommendations(co: Any, account_ids: list[str]) -> list[dict[str, Any]]:
    """Every EBS volume recommendation of these accounts in the client's region (nextToken)."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"accountIds": account_ids, "maxResults": PAGE_SIZE}
        if token:
            kwargs["nextToken"] = token
        page = co.get_ebs_volume_recommendations(**kwargs)
        items.extend(page.get("volumeRecommendations", []))
        token = page.get("nextToken")
        if not token:
            return items


def _volume_config(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "volume_type": raw.get("volumeType"),
        "size_gib": raw.get("volumeSize"),
        "iops": raw.get("volumeBaselineIOPS"),
        "throughput": raw.get("volumeBaselineThroughput"),
    }


def transform_ebs_recommendations(
    region: str, raw: Iterable[dict[str, Any]]
) -> list[VolumeRecommendation]:
    """Compute Optimizer's EBS items (rank-1 option; savings after discounts where stated).

    Example:
        >>> item = {"volumeArn": "arn:aws:ec2:us-east-1:1:volume/vol-1", "accountId": "1",
        ...         "finding": "NotOptimized", "currentConfiguration": {"volumeType": "io1",
        ...         "volumeSize": 100, "volumeBaselineIOPS": 6000},
        ...         "volumeRecommendationOptions": [{"rank": 1, "configuration": {
        ...             "volumeType": "gp3", "volumeSize": 100, "volumeBaselineIOPS": 3000,
        ...             "volumeBaselineThroughput": 125}, "savingsOpportunity": {
        ...             "estimatedMonthlySavings": {"currency": "USD", "value": 394.5}}}]}
        >>> rec = transform_ebs_recommendations("us-east-1", [item])[0]
        >>> rec.volume_id, rec.recommended["volume_type"], rec.saves, rec.savings_basis
        ('vol-1', 'gp3', True, 'list price')
    """
    out = []
    for item in raw:
        options = sorted(
            item.get("volumeRecommendationOptions", []), key=lambda o: o.get("rank", 99)
        )
        best = options[0] if options else {}
        after = best.get("savingsOpportunityAfterDiscounts")
        figure = (after or best.get("savingsOpportunity") or {}).get("estimatedMonthlySavings", {})
        current = _volume_config(item.get("currentConfiguration", {}))
        out.append(
            VolumeRecommendation(
                account_id=str(item.get("accountId", "")),
                region=region,
                volume_id=str(item.get("volumeArn", "")).rsplit("/", 1)[-1],
                finding=str(item.get("finding", "")),
                current=current,
                recommended=_volume_config(best.get("configuration", {})) if best else current,
                monthly_savings_usd=Decimal(str(figure.get("value", 0))),
                savings_basis="after discounts" if after else "list price",
            )
        )
    return out


def get_hub_enrollment(hub: Any) -> list[dict[str, Any]]:
    paginator = hub.get_paginator("list_enrollment_statuses")
    return [i for page in paginator.paginate(includeOrganizationInfo=True) for i in page["items"]]


def get_hub_recommendations(
    hub: Any, account_ids: list[str], regions: list[str]
) -> list[dict[str, Any]]:
    paginator = hub.get_paginator("list_recommendations")
    flt = {"accountIds": account_ids, "regions": regions, "resourceTypes": ["Ec2Instance"]}
    return [
        i
        for page in paginator.paginate(filter=flt, PaginationConfig={"PageSize": PAGE_SIZE})
        for i in page["items"]
    ]


def _arch_change(current: str, recommended: str, differences: Iterable[str]) -> bool:
    if "Architecture" in differences:
        return True
    old, new = spec(current), spec(recommended)
    return bool(old and new and old.architecture != new.architecture)


def transform_ec2_recommendations(
    region: str, raw: Iterable[dict[str, Any]]
) -> list[AwsRecommendation]:
    """Compute Optimizer's items as recommendations (rank-1 option; savings after discounts).

    Example:
        >>> item = {"instanceArn": "arn:aws:ec2:us-east-1:1:instance/i-1", "accountId": "1",
        ...         "currentInstanceType": "m5.2xlarge", "finding": "Overprovisioned",
        ...         "recommendationOptions": [{"rank": 1, "instanceType": "m5.large",
        ...             "savingsOpportunityAfterDiscounts": {"estimatedMonthlySavings":
        ...                 {"currency": "USD", "value": 210.24}}}]}
        >>> rec = transform_ec2_recommendations("us-east-1", [item])[0]
        >>> rec.instance_id, rec.recommended_type, rec.monthly_savings_usd, rec.saves
        ('i-1', 'm5.large', Decimal('210.24'), True)
    """
    out = []
    for item in raw:
        options = sorted(item.get("recommendationOptions", []), key=lambda o: o.get("rank", 99))
        current = str(item.get("currentInstanceType", ""))
        best = options[0] if options else {}
        after = best.get("savingsOpportunityAfterDiscounts")
        figure = (after or best.get("savingsOpportunity") or {}).get("estimatedMonthlySavings", {})
        recommended = str(best.get("instanceType", current))
        out.append(
            AwsRecommendation(
                source=CO,
                account_id=str(item.get("accountId", "")),
                region=region,
                instance_id=str(item.get("instanceArn", "")).rsplit("/", 1)[-1],
                current_type=current,
                recommended_type=recommended,
                finding=str(item.get("finding", "")),
                idle=str(item.get("idle", "False")) == "True",
                monthly_savings_usd=Decimal(str(figure.get("value", 0))),
                savings_basis="after discounts" if after else "list price",
                architecture_change=_arch_change(
                    current, recommended, best.get("platformDifferences", [])
                ),
            )
        )
    return out


def transform_hub_recommendations(raw: Iterable[dict[str, Any]]) -> list[AwsRecommendation]:
    """The Hub's EC2 items as recommendations (its savings are after discounts).

    Example:
        >>> item = {"recommendationId": "r1", "accountId": "1", "region": "us-east-1",
        ...         "resourceId": "i-1", "actionType": "Stop", "currentResourceSummary":
        ...         "m5.large", "recommendedResourceSummary": "Stop",
        ...         "estimatedMonthlySavings": 70.08}
        >>> rec = transform_hub_recommendations([item])[0]
        >>> rec.idle, rec.saves
        (True, False)
    """
    out = []
    for item in raw:
        action = str(item.get("actionType", ""))
        current = str(item.get("currentResourceSummary", ""))
        recommended = str(item.get("recommendedResourceSummary", current))
        out.append(
            AwsRecommendation(
                source=COH,
                account_id=str(item.get("accountId", "")),
                region=str(item.get("region", "")),
                instance_id=str(item.get("resourceId", "")),
                current_type=current,
                recommended_type=current if action == "Stop" else recommended,
                finding=action,
                idle=action == "Stop",
                monthly_savings_usd=Decimal(str(item.get("estimatedMonthlySavings", 0))),
                savings_basis="after discounts",
                architecture_change=action == "MigrateToGraviton"
                or _arch_change(current, recommended, ()),
                recommendation_id=str(item.get("recommendationId", "")),
            )
        )
    return out


def _unreadable(service: str, error: BaseException) -> str:
    code = error_code(error) or type(error).__name__
    return f"{service}: not read ({code}: {error_message(error) or error}); own rule only"


def fetch_advice(access: AwsAccess, accounts: list[str], regions: list[str]) -> OptimizerAdvice:
    """Both optimisers' EC2 recommendations for these accounts and regions, enrolment first.

    Args:
        access: sessions; the caller should be the management (or delegated admin) account.
        accounts: the accounts scanned.
        regions: the regions scanned.

    Returns:
        The advice; ``notes`` has one line per account or organisation not opted in (how to opt
        in) and per optimiser that could not be read.

    Example:
        >>> advice = fetch_advice(AwsAccess(), ["123456789012"], ["us-east-1"])  # doctest: +SKIP
    """
    advice = OptimizerAdvice()
    caller = access.caller_account_id
    home = regions[0] if regions else access.default_region
    # Compute Optimizer: enrolment, then each region's recommendations
    try:
        co = access.client("compute-optimizer", caller, home)
        own = get_co_enrollment(co)
        if own.get("status") != "Active":
            advice.notes.append(
                f"{CO}: account {caller} is not opted in ({own.get('status')}); opt in with "
                f"{OPT_IN[CO]}"
            )
        else:
            enrolled = {caller}
            if own.get("memberAccountsEnrolled"):
                for status in get_co_member_statuses(co):
                    account = str(status.get("accountId"))
                    if status.get("status") == "Active":
                        enrolled.add(account)
                    elif account in accounts:
                        advice.notes.append(
                            f"{CO}: account {account} is not opted in ({status.get('status')});"
                            f" opt in with {OPT_IN[CO]}"
                        )
            wanted = [a for a in accounts if a in enrolled]
            advice.enrolled[CO] = set(wanted)
            for region in regions if wanted else []:
                client = access.client("compute-optimizer", caller, region)
                for rec in transform_ec2_recommendations(
                    region, get_ec2_recommendations(client, wanted)
                ):
                    advice.add(rec)
                for volume in transform_ebs_recommendations(
                    region, get_ebs_recommendations(client, wanted)
                ):
                    advice.volumes[(volume.account_id, volume.region, volume.volume_id)] = volume
    except (ClientError, BotoCoreError) as error:
        advice.enrolled.pop(CO, None)
        if error_code(error) == "OptInRequiredException":
            advice.notes.append(f"{CO}: {error_message(error)} Opt in with {OPT_IN[CO]}")
        else:
            advice.notes.append(_unreadable(CO, error))
    # Cost Optimization Hub: one endpoint for the organisation
    try:
        hub = access.client("cost-optimization-hub", caller, HUB_REGION)
        statuses = {str(i["accountId"]): str(i["status"]) for i in get_hub_enrollment(hub)}
        enrolled_hub = [a for a in accounts if statuses.get(a) == "Active"]
        for account in accounts:
            if account not in enrolled_hub:
                advice.notes.append(
                    f"{COH}: account {account} is not opted in "
                    f"({statuses.get(account, 'not listed')}); opt in with {OPT_IN[COH]}"
                )
        advice.enrolled[COH] = set(enrolled_hub)
        if enrolled_hub:
            for rec in transform_hub_recommendations(
                get_hub_recommendations(hub, enrolled_hub, regions)
            ):
                advice.add(rec)
    except (ClientError, BotoCoreError) as error:
        advice.enrolled.pop(COH, None)
        advice.notes.append(_unreadable(COH, error))
    return advice
