"""Network actions: release an Elastic IP that is associated with nothing."""

from __future__ import annotations

from typing import Any

from tasks.aws import ec2 as ec2_adapter
from tasks.aws.common import tag_dict
from tasks.remediation.actions.common import outcome, record
from tasks.remediation.actions.registry import (
    ActionContext,
    ActionOutcome,
    AlreadyDone,
    register_action,
)


def read_address(ctx: ActionContext) -> dict[str, Any]:
    address = ec2_adapter.describe_address(ctx.client("ec2"), ctx.finding.resource_id)
    if address is None:
        raise AlreadyDone("address already released")
    return {
        "state": "associated" if address.get("AssociationId") else "unassociated",
        "public_ip": address.get("PublicIp"),
        "allocation_id": address.get("AllocationId"),
        "association_id": address.get("AssociationId"),
        "associated_with": address.get("InstanceId") or address.get("NetworkInterfaceId"),
        "tags": tag_dict(address.get("Tags")),
    }


@register_action(
    "release",
    read=read_address,
    noun="address",
    resource_types=("ec2:elastic-ip",),
    resource_prefixes=("eipalloc-", ""),
    valid_states={"unassociated"},
    explain=lambda before: f"associated with {before['associated_with']} since detection",
    permissions=("ec2:DescribeAddresses", "ec2:ReleaseAddress"),
    description="Release the Elastic IP.",
)
def apply_release_address(ctx: ActionContext, before: dict[str, Any]) -> ActionOutcome:
    """Release an Elastic IP that is associated with nothing."""
    ec2 = ctx.client("ec2")
    record(ctx, ec2_adapter.apply_release_address(ec2, before["allocation_id"], ctx.dry_run))
    return outcome(ctx, before, before if ctx.dry_run else {})
