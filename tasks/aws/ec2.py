"""EC2 adapter: paginated ``get_*`` reads of instances, volumes, snapshots, images, Elastic
IPs and NAT gateways, pure ``transform_*`` into the idle records, and ``describe_*`` of one
resource (``None`` when it is gone) for the remediation re-checks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from tasks.aws.common import error_code, paginate, tag_dict, utc
from tasks.idle.records import (
    Address,
    Image,
    Instance,
    NatGateway,
    Snapshot,
    Volume,
)


def get_instances(ec2: Any) -> list[dict[str, Any]]:
    """Every instance that is not terminated (DescribeInstances, 1,000 a page)."""
    return [
        instance
        for reservation in paginate(
            ec2,
            "describe_instances",
            "Reservations",
            Filters=[
                {
                    "Name": "instance-state-name",
                    "Values": ["pending", "running", "stopping", "stopped"],
                }
            ],
            PaginationConfig={"PageSize": 1000},
        )
        for instance in reservation.get("Instances", [])
    ]


def transform_instances(
    account_id: str, region: str, raw: Iterable[dict[str, Any]]
) -> list[Instance]:
    """DescribeInstances ``Instances`` entries as records."""
    return [
        Instance(
            account_id=account_id,
            region=region,
            instance_id=item["InstanceId"],
            instance_type=item.get("InstanceType", ""),
            state=item.get("State", {}).get("Name", ""),
            launch_time=utc(item.get("LaunchTime")),
            state_transition_reason=item.get("StateTransitionReason", "") or "",
            tags=tag_dict(item.get("Tags")),
            volume_ids=tuple(
                m["Ebs"]["VolumeId"]
                for m in item.get("BlockDeviceMappings", [])
                if "Ebs" in m and "VolumeId" in m["Ebs"]
            ),
        )
        for item in raw
    ]


def get_volumes(ec2: Any) -> list[dict[str, Any]]:
    """Every EBS volume (DescribeVolumes, 500 a page)."""
    return list(paginate(ec2, "describe_volumes", "Volumes", PaginationConfig={"PageSize": 500}))


def transform_volumes(account_id: str, region: str, raw: Iterable[dict[str, Any]]) -> list[Volume]:
    """DescribeVolumes entries as records."""
    return [
        Volume(
            account_id=account_id,
            region=region,
            volume_id=item["VolumeId"],
            volume_type=item.get("VolumeType", "standard"),
            size_gib=int(item.get("Size", 0)),
            state=item.get("State", ""),
            create_time=utc(item.get("CreateTime")),
            iops=item.get("Iops"),
            throughput_mibps=item.get("Throughput"),
            attached_instance_ids=tuple(
                a["InstanceId"]
                for a in item.get("Attachments", [])
                if a.get("State", "attached") in {"attached", "attaching"} and a.get("InstanceId")
            ),
            snapshot_id=item.get("SnapshotId", "") or "",
            tags=tag_dict(item.get("Tags")),
        )
        for item in raw
    ]


def get_snapshots(ec2: Any, account_id: str) -> list[dict[str, Any]]:
    """Snapshots the account owns (DescribeSnapshots, owner-id filter, 1,000 a page).

    The ``owner-id`` filter means the same as ``OwnerIds=["self"]`` on AWS; it is used because
    moto answers ``OwnerIds=self`` with every snapshot behind its built-in AMIs (seconds per call
    in the sandbox).
    """
    return list(
        paginate(
            ec2,
            "describe_snapshots",
            "Snapshots",
            Filters=[{"Name": "owner-id", "Values": [account_id]}],
            PaginationConfig={"PageSize": 1000},
        )
    )


def transform_snapshots(
    account_id: str, region: str, raw: Iterable[dict[str, Any]]
) -> list[Snapshot]:
    """DescribeSnapshots entries as records."""
    return [
        Snapshot(
            account_id=account_id,
            region=region,
            snapshot_id=item["SnapshotId"],
            volume_id=item.get("VolumeId", "") or "",
            volume_size_gib=int(item.get("VolumeSize", 0)),
            start_time=utc(item.get("StartTime")),
            state=item.get("State", ""),
            description=item.get("Description", "") or "",
            tags=tag_dict(item.get("Tags")),
        )
        for item in raw
    ]


def get_images(ec2: Any) -> list[dict[str, Any]]:
    """AMIs the account owns (DescribeImages Owners=self, 1,000 a page)."""
    return list(
        paginate(
            ec2, "describe_images", "Images", Owners=["self"], PaginationConfig={"PageSize": 1000}
        )
    )


def transform_images(account_id: str, region: str, raw: Iterable[dict[str, Any]]) -> list[Image]:
    """DescribeImages entries as records, with the snapshots behind their block devices."""
    return [
        Image(
            account_id=account_id,
            region=region,
            image_id=item["ImageId"],
            state=item.get("State", ""),
            snapshot_ids=tuple(
                m["Ebs"]["SnapshotId"]
                for m in item.get("BlockDeviceMappings", [])
                if "Ebs" in m and m["Ebs"].get("SnapshotId")
            ),
            creation_date=utc(item.get("CreationDate")),
            tags=tag_dict(item.get("Tags")),
        )
        for item in raw
    ]


def get_addresses(ec2: Any) -> list[dict[str, Any]]:
    """Elastic IPs (DescribeAddresses has no pagination: one call answers all)."""
    return list(ec2.describe_addresses().get("Addresses", []))


def transform_addresses(
    account_id: str, region: str, raw: Iterable[dict[str, Any]]
) -> list[Address]:
    """DescribeAddresses entries as records."""
    return [
        Address(
            account_id=account_id,
            region=region,
            allocation_id=item.get("AllocationId") or item.get("PublicIp", ""),
            public_ip=item.get("PublicIp", ""),
            association_id=item.get("AssociationId", "") or "",
            instance_id=item.get("InstanceId", "") or "",
            network_interface_id=item.get("NetworkInterfaceId", "") or "",
            tags=tag_dict(item.get("Tags")),
        )
        for item in raw
    ]


def get_nat_gateways(ec2: Any) -> list[dict[str, Any]]:
    """NAT gateways (DescribeNatGateways, 1,000 a page)."""
    return list(
        paginate(ec2, "describe_nat_gateways", "NatGateways", PaginationConfig={"PageSize": 1000})
    )


def transform_nat_gateways(
    account_id: str, region: str, raw: Iterable[dict[str, Any]]
) -> list[NatGateway]:
    """DescribeNatGateways entries as records."""
    return [
        NatGateway(
            account_id=account_id,
            region=region,
            nat_gateway_id=item["NatGatewayId"],
            state=item.get("State", ""),
            create_time=utc(item.get("CreateTime")),
            vpc_id=item.get("VpcId", "") or "",
            tags=tag_dict(item.get("Tags")),
        )
        for item in raw
    ]


# -- one resource, for the remediation re-checks (None: it is gone) ------------------------------


def _one(call: Any, key: str, not_found: set[str], **kwargs: Any) -> dict[str, Any] | None:
    try:
        found = call(**kwargs)[key]
    except ClientError as error:
        if error_code(error) in not_found:
            return None
        raise
    return dict(found[0]) if found else None


def describe_instance(ec2: Any, instance_id: str) -> dict[str, Any] | None:
    """One instance as DescribeInstances returns it; None when it no longer exists."""
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ClientError as error:
        if error_code(error) == "InvalidInstanceID.NotFound":
            return None
        raise
    instances = [i for r in reservations for i in r["Instances"]]
    return dict(instances[0]) if instances else None


def describe_volume(ec2: Any, volume_id: str) -> dict[str, Any] | None:
    """One volume; None when it no longer exists."""
    return _one(ec2.describe_volumes, "Volumes", {"InvalidVolume.NotFound"}, VolumeIds=[volume_id])


def describe_snapshot(ec2: Any, snapshot_id: str) -> dict[str, Any] | None:
    """One snapshot; None when it no longer exists."""
    return _one(
        ec2.describe_snapshots,
        "Snapshots",
        {"InvalidSnapshot.NotFound"},
        SnapshotIds=[snapshot_id],
    )


def describe_address(ec2: Any, resource_id: str) -> dict[str, Any] | None:
    """One Elastic IP by allocation id (``eipalloc-``) or public IP; None when released."""
    query = (
        {"AllocationIds": [resource_id]}
        if resource_id.startswith("eipalloc-")
        else {"PublicIps": [resource_id]}
    )
    return _one(
        ec2.describe_addresses,
        "Addresses",
        {"InvalidAllocationID.NotFound", "InvalidAddress.NotFound"},
        **query,
    )


def describe_nat_gateway(ec2: Any, nat_gateway_id: str) -> dict[str, Any] | None:
    """One NAT gateway; None when it no longer exists (or is being deleted)."""
    found = _one(
        ec2.describe_nat_gateways,
        "NatGateways",
        {"NatGatewayNotFound", "InvalidNatGatewayID.NotFound"},
        NatGatewayIds=[nat_gateway_id],
    )
    if found is None or found.get("State") in {"deleting", "deleted"}:
        return None
    return found


def resource_tags(ec2: Any, resource_id: str) -> dict[str, str]:
    """The tags of any EC2 resource, by id (DescribeTags)."""
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])["Tags"]
    return tag_dict(tags)
