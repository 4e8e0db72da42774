"""Elastic Load Balancing adapter (ALB/NLB through elbv2, Classic through elb): paginated reads
with tags and target health, the pure transform, and one load balancer's tags for remediation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from tasks.aws.common import Written, apply, chunks, error_code, paginate, tag_dict, utc
from tasks.aws.records import (
    LoadBalancer,
)


def get_load_balancers(elbv2: Any, elb: Any) -> list[dict[str, Any]]:
    """ALB/NLB (elbv2) and Classic (elb) load balancers with their tags and target health.

    Tags come 20 load balancers a request; target health one request per target group (ALB/NLB)
    or per Classic load balancer, as AWS has no batch form.  Each entry gets ``_Kind``,
    ``_Tags``, ``_Healthy`` and ``_Registered``.

    ``_Healthy`` is None, not 0, when there is nothing to ask about: an ALB/NLB with no target
    group, or a Classic load balancer with no registered instances (DescribeInstanceHealth
    answers an empty list).  "No healthy targets" then says nothing about use, and the
    ``elb-idle`` rule lets traffic alone decide; 0 is kept for targets that are registered and
    all unhealthy, or a target group left empty.
    """
    v2 = list(
        paginate(
            elbv2, "describe_load_balancers", "LoadBalancers", PaginationConfig={"PageSize": 400}
        )
    )
    arns = [lb["LoadBalancerArn"] for lb in v2]
    tags: dict[str, list[dict[str, Any]]] = {}
    for chunk in chunks(arns, 20):
        for desc in elbv2.describe_tags(ResourceArns=list(chunk)).get("TagDescriptions", []):
            tags[desc["ResourceArn"]] = desc.get("Tags", [])
    healthy: dict[str, int | None] = dict.fromkeys(arns, None)  # None until a group is seen
    registered: dict[str, int] = dict.fromkeys(arns, 0)
    if arns:
        groups = list(
            paginate(
                elbv2, "describe_target_groups", "TargetGroups", PaginationConfig={"PageSize": 400}
            )
        )
        for group in groups:
            owners = [a for a in group.get("LoadBalancerArns", []) if a in healthy]
            if not owners:
                continue
            health = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
            descriptions = health.get("TargetHealthDescriptions", [])
            n_healthy = sum(
                1 for d in descriptions if d.get("TargetHealth", {}).get("State") == "healthy"
            )
            for arn in owners:
                healthy[arn] = (healthy[arn] or 0) + n_healthy
                registered[arn] += len(descriptions)
    out: list[dict[str, Any]] = []
    for lb in v2:
        arn = lb["LoadBalancerArn"]
        out.append(
            {
                **lb,
                "_Kind": lb.get("Type", "application"),
                "_Tags": tags.get(arn, []),
                "_Healthy": healthy[arn],
                "_Registered": registered[arn],
            }
        )
    classic = list(
        paginate(
            elb,
            "describe_load_balancers",
            "LoadBalancerDescriptions",
            PaginationConfig={"PageSize": 400},
        )
    )
    names = [lb["LoadBalancerName"] for lb in classic]
    classic_tags: dict[str, list[dict[str, Any]]] = {}
    for chunk in chunks(names, 20):
        for desc in elb.describe_tags(LoadBalancerNames=list(chunk)).get("TagDescriptions", []):
            classic_tags[desc["LoadBalancerName"]] = desc.get("Tags", [])
    for lb in classic:
        name = lb["LoadBalancerName"]
        states = elb.describe_instance_health(LoadBalancerName=name).get("InstanceStates", [])
        out.append(
            {
                **lb,
                "_Kind": "classic",
                "_Tags": classic_tags.get(name, []),
                "_Healthy": (
                    sum(1 for s in states if s.get("State") == "InService") if states else None
                ),
                "_Registered": len(states),
            }
        )
    return out


def transform_load_balancers(
    account_id: str, region: str, raw: Iterable[dict[str, Any]]
) -> list[LoadBalancer]:
    """Load balancers (as ``get_load_balancers`` returns them) as records."""
    records: list[LoadBalancer] = []
    for item in raw:
        kind = item["_Kind"]
        name = item["LoadBalancerName"]
        arn = item.get("LoadBalancerArn") or (
            f"arn:aws:elasticloadbalancing:{region}:{account_id}:loadbalancer/{name}"
        )
        records.append(
            LoadBalancer(
                account_id=account_id,
                region=region,
                name=name,
                arn=arn,
                kind=kind,
                created=utc(item.get("CreatedTime")),
                healthy_targets=item.get("_Healthy"),
                registered_targets=item.get("_Registered"),
                tags=tag_dict(item.get("_Tags")),
            )
        )
    return records


def describe_load_balancer(client: Any, name: str, classic: bool) -> dict[str, Any] | None:
    """One load balancer by name with its tags: ``{"type", "arn", "state", "tags"}`` (Classic:
    ``type`` is ``classic`` and there is no ARN); None when it no longer exists.

    Args:
        client: an ``elb`` client for Classic load balancers, else an ``elbv2`` client.
    """
    try:
        if classic:
            found = client.describe_load_balancers(LoadBalancerNames=[name])
            descriptions = found["LoadBalancerDescriptions"]
        else:
            descriptions = client.describe_load_balancers(Names=[name])["LoadBalancers"]
    except ClientError as error:
        if error_code(error) in {"LoadBalancerNotFound", "AccessPointNotFound"}:
            return None
        raise
    if not descriptions:
        return None
    if classic:
        tagged = client.describe_tags(LoadBalancerNames=[name])["TagDescriptions"]
        return {"type": "classic", "tags": tag_dict(tagged[0].get("Tags") if tagged else [])}
    arn = descriptions[0]["LoadBalancerArn"]
    tagged = client.describe_tags(ResourceArns=[arn])["TagDescriptions"]
    return {
        "type": descriptions[0].get("Type"),
        "arn": arn,
        "state": descriptions[0].get("State", {}).get("Code"),
        "tags": tag_dict(tagged[0].get("Tags") if tagged else []),
    }


def apply_tag(client: Any, classic: bool, name_or_arn: str, key: str, value: str) -> Written:
    """Tag a load balancer: Classic by name (elb), ALB/NLB by ARN (elbv2); no dry run."""
    tags = [{"Key": key, "Value": value}]
    if classic:
        return apply(client, "add_tags", LoadBalancerNames=[name_or_arn], Tags=tags)
    return apply(client, "add_tags", ResourceArns=[name_or_arn], Tags=tags)


def apply_untag(client: Any, classic: bool, name_or_arn: str, key: str) -> Written:
    """Remove a load balancer's tag (Classic by name, ALB/NLB by ARN); no dry run."""
    if classic:
        return apply(client, "remove_tags", LoadBalancerNames=[name_or_arn], Tags=[{"Key": key}])
    return apply(client, "remove_tags", ResourceArns=[name_or_arn], TagKeys=[key])
