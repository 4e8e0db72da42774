"""Network actions: release an Elastic IP that is associated with nothing."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tasks.aws.common import error_code, tag_dict
from tasks.remediation.actions.common import outcome, write
from tasks.remediation.actions.registry import (
    ActionContext,
    ActionOutcome,
    AlreadyDone,
    register_action,
)


def read_address(ctx: ActionContext) -> dict[str, Any]:
    resource = ctx.finding.resource_id
    query = (
        {"AllocationIds": [resource]}
        if resource.startswith("eipalloc-")
        else {"PublicIps": [resource]}
    )
    try:
        addresses = ctx.client("ec2").describe_addresses(**query)["Addresses"]
    except ClientError as error:
        if error_code(error) in {"InvalidAllocationID.NotFound", "InvalidAddress.NotFound"}:
            raise AlreadyDone("address already released") from None
        raise
    if not addresses:
        raise AlreadyDone("address already released")
    address = addresses[0]
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
    write(ctx, ctx.client("ec2"), "release_address", AllocationId=before["allocation_id"])
    return outcome(ctx, before, before if ctx.dry_run else {})
