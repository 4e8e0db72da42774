"""``tag_for_later``: one mark, four tagging APIs (and :func:`remove_mark`, which undoes it).

EC2 resources (instances, volumes, snapshots, addresses, NAT gateways) take
``CreateTags``/``DeleteTags`` with ``DryRun``.  Load balancers (ALB/NLB through elbv2 on the ARN,
Classic through elb by name) and RDS instances (on the ARN) have tagging APIs without a dry run:
in dry-run the resource and its tags are read (which proves it exists and that the role may read
it) and the mark that would be written is reported, not written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from tasks.aws import ec2 as ec2_adapter
from tasks.aws import elb as elb_adapter
from tasks.aws import rds as rds_adapter
from tasks.aws.common import error_code, tag_dict
from tasks.findings.model import Finding
from tasks.remediation.actions.common import outcome, record
from tasks.remediation.actions.ebs import read_volume
from tasks.remediation.actions.ec2 import read_instance
from tasks.remediation.actions.rds import read_db
from tasks.remediation.actions.registry import (
    MARK_TAG,
    ActionContext,
    ActionOutcome,
    AlreadyDone,
    Skip,
    register_action,
)


@dataclass(frozen=True)
class _Tagger:
    """How to read and write the tags of one kind of resource."""

    kind: str
    read: Callable[[ActionContext], dict[str, Any]]  # {"tags": ..., ...}; AlreadyDone if gone
    add: Callable[[ActionContext, dict[str, Any], str, str], None]
    remove: Callable[[ActionContext, dict[str, Any], str], None]
    dry_run_api: bool  # the write API takes DryRun=True


def _ec2_read(ctx: ActionContext) -> dict[str, Any]:
    resource = ctx.finding.resource_id
    if resource.startswith("i-"):
        return {"tags": read_instance(ctx)["tags"]}
    if resource.startswith("vol-"):
        return {"tags": read_volume(ctx)["tags"]}
    if resource.startswith("nat-"):
        return _nat_read(ctx)
    try:
        return {"tags": ec2_adapter.resource_tags(ctx.client("ec2"), resource)}
    except ClientError as error:
        raise Skip(f"cannot read tags of {resource}: {error_code(error)}") from None


def _nat_read(ctx: ActionContext) -> dict[str, Any]:
    gateway = ec2_adapter.describe_nat_gateway(ctx.client("ec2"), ctx.finding.resource_id)
    if gateway is None:
        raise AlreadyDone("NAT gateway no longer exists")
    return {"state": gateway.get("State"), "tags": tag_dict(gateway.get("Tags"))}


def _ec2_add(ctx: ActionContext, state: dict[str, Any], key: str, value: str) -> None:
    ec2 = ctx.client("ec2")
    record(ctx, ec2_adapter.apply_tag(ec2, ctx.finding.resource_id, key, value, ctx.dry_run))


def _ec2_remove(ctx: ActionContext, state: dict[str, Any], key: str) -> None:
    ec2 = ctx.client("ec2")
    record(ctx, ec2_adapter.apply_untag(ec2, ctx.finding.resource_id, key, ctx.dry_run))


def _is_classic(finding: Finding) -> bool:
    kind = str(finding.evidence.get("kind", ""))
    if kind:
        return kind == "classic"
    # elbv2 ARNs name the type: loadbalancer/app/<name>/<id> or loadbalancer/net/<name>/<id>
    return not any(t in finding.resource_arn for t in (":loadbalancer/app/", ":loadbalancer/net/"))


def _elb_read(ctx: ActionContext) -> dict[str, Any]:
    classic = _is_classic(ctx.finding)
    client = ctx.client("elb" if classic else "elbv2")
    found = elb_adapter.describe_load_balancer(client, ctx.finding.resource_id, classic)
    if found is None:
        raise AlreadyDone("load balancer no longer exists")
    return found


def _elb_target(ctx: ActionContext, state: dict[str, Any]) -> tuple[Any, bool, str]:
    """The client, whether it is Classic, and the name (Classic) or ARN (ALB/NLB) to tag."""
    if state["type"] == "classic":
        return ctx.client("elb"), True, ctx.finding.resource_id
    return ctx.client("elbv2"), False, state["arn"]


def _elb_add(ctx: ActionContext, state: dict[str, Any], key: str, value: str) -> None:
    record(ctx, elb_adapter.apply_tag(*_elb_target(ctx, state), key, value))


def _elb_remove(ctx: ActionContext, state: dict[str, Any], key: str) -> None:
    record(ctx, elb_adapter.apply_untag(*_elb_target(ctx, state), key))


def _rds_add(ctx: ActionContext, state: dict[str, Any], key: str, value: str) -> None:
    record(ctx, rds_adapter.apply_tag(ctx.client("rds"), state["arn"], key, value))


def _rds_remove(ctx: ActionContext, state: dict[str, Any], key: str) -> None:
    record(ctx, rds_adapter.apply_untag(ctx.client("rds"), state["arn"], key))


_EC2_TAGGER = _Tagger("EC2 resource", _ec2_read, _ec2_add, _ec2_remove, dry_run_api=True)
_ELB_TAGGER = _Tagger("load balancer", _elb_read, _elb_add, _elb_remove, dry_run_api=False)
_RDS_TAGGER = _Tagger("DB instance", read_db, _rds_add, _rds_remove, dry_run_api=False)

#: Resource ids that ``tag_for_later`` tags through EC2's tagging API.
EC2_TAGGABLE = ("i-", "vol-", "snap-", "eipalloc-", "nat-", "ami-")
#: Checks whose resources are tagged through their own service (ids are names, not prefixes).
TAGGABLE_CHECKS = ("elb-idle", "nat-idle", "rds-idle")
#: The resource types (as checks name them) ``tag_for_later`` can mark.
TAGGABLE_TYPES = (
    "ec2:instance",
    "ec2:volume",
    "ec2:snapshot",
    "ec2:elastic-ip",
    "ec2:natgateway",
    "elasticloadbalancing:loadbalancer",
    "rds:db",
)


def _tagger(finding: Finding) -> _Tagger | None:
    """The tagging API for the finding's resource; None when it cannot be tagged."""
    if finding.check == "elb-idle":
        return _ELB_TAGGER
    if finding.check == "rds-idle":
        return _RDS_TAGGER
    if finding.resource_id.startswith(EC2_TAGGABLE):
        return _EC2_TAGGER
    return None


def _parse_due(value: str) -> datetime | None:
    _, _, day = value.partition("@")
    try:
        parsed = datetime.strptime(day, "%Y-%m-%d")
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC)


def _no_dry_run(ctx: ActionContext, tagger: _Tagger) -> bool:
    """In dry-run, a tagging API without DryRun is not called (the read above proved access)."""
    return ctx.dry_run and not tagger.dry_run_api


def read_tagged(ctx: ActionContext) -> dict[str, Any]:
    """The resource's tags (and state) through its own tagging API."""
    tagger = _tagger(ctx.finding)
    if tagger is None:
        raise Skip(f"tagging {ctx.finding.resource_type} resources is not supported")
    return tagger.read(ctx)


@register_action(
    "tag_for_later",
    read=read_tagged,
    noun="resource",
    resource_types=TAGGABLE_TYPES,
    resource_prefixes=EC2_TAGGABLE,
    checks=TAGGABLE_CHECKS,
    permissions=(
        "ec2:DescribeInstances",
        "ec2:DescribeVolumes",
        "ec2:DescribeTags",
        "ec2:DescribeNatGateways",
        "ec2:CreateTags",
        "ec2:DeleteTags",
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTags",
        "elasticloadbalancing:AddTags",
        "elasticloadbalancing:RemoveTags",
        "rds:DescribeDBInstances",
        "rds:ListTagsForResource",
        "rds:AddTagsToResource",
        "rds:RemoveTagsFromResource",
    ),
    description="Tag the resource with the action and its due date; act when due, unmark if used.",
    reversible=True,
    note="tags the resource `finops:action-due=<action>@<date>`; when due, a later run carries "
    "out the action (or, with `review`, offers the finding again), and removes the tag if the "
    "resource is used again first.",
)
def apply_tag_for_later(ctx: ActionContext, state: dict[str, Any]) -> ActionOutcome:
    """Mark the resource with ``finops:action-due=<action>@<date>``; the action runs when due.

    The mark tells the owner what will happen and when (``review`` when the check has no
    automatic follow-up).  A later run acts when the date has passed and the finding still
    holds, and removes the mark (:func:`remove_mark`) when the resource was used again (its
    finding resolved).  A resource already marked for the same action keeps its date: a rerun
    does not push the deadline.  Works for EC2 resources and NAT gateways (EC2 tags, with
    DryRun), load balancers (elbv2 on the ARN, Classic by name) and RDS instances (on the ARN);
    the last two have no dry run, so in dry-run the resource is read and the mark reported.
    """
    tagger = _tagger(ctx.finding)
    assert tagger is not None  # read_tagged refused the rest
    tags = state["tags"]
    action = ctx.follow_up or "review"
    due = (ctx.now + timedelta(days=ctx.mark_days)).date()
    value = f"{action}@{due.isoformat()}"
    before = {k: v for k, v in state.items() if k != "arn"}
    existing = tags.get(MARK_TAG, "")
    if existing.startswith(f"{action}@") and _parse_due(existing):
        return ActionOutcome(
            "already_done",
            before,
            before,
            reason=f"already marked {existing}",
            due_at=_parse_due(existing),
        )
    after = {**before, "tags": {**tags, MARK_TAG: value}}
    due_at = datetime(due.year, due.month, due.day, tzinfo=UTC)
    if _no_dry_run(ctx, tagger):
        return ActionOutcome(
            "dry_run",
            before,
            after,
            reason=f"{tagger.kind} tagging has no dry run; {tagger.kind} read, mark not written",
            due_at=due_at,
        )
    tagger.add(ctx, state, MARK_TAG, value)
    return outcome(ctx, before, after, due_at=due_at)


def remove_mark(ctx: ActionContext) -> ActionOutcome:
    """Remove the ``finops:action-due`` mark (the resource is used again, or a review is due)."""
    tagger = _tagger(ctx.finding)
    if tagger is None:
        raise AlreadyDone(f"{ctx.finding.resource_id} cannot carry a mark")
    try:
        state = tagger.read(ctx)
    except AlreadyDone:
        return ActionOutcome("succeeded", {}, {}, reason="resource no longer exists")
    tags = state["tags"]
    if MARK_TAG not in tags:
        raise AlreadyDone("not marked")
    before = {k: v for k, v in state.items() if k != "arn"}
    after = {**before, "tags": {k: v for k, v in tags.items() if k != MARK_TAG}}
    if _no_dry_run(ctx, tagger):
        return ActionOutcome(
            "dry_run", before, after, reason=f"{tagger.kind} tagging has no dry run; not removed"
        )
    tagger.remove(ctx, state, MARK_TAG)
    return outcome(ctx, before, after)
