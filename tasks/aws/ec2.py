"""EC2 adapter: paginated ``get_*`` reads of instances, volumes, snapshots, images, Elastic
IPs and NAT gateways, pure ``transform_*`` into the idle records, ``describe_*`` of one
resource (``None`` when it is gone) for the remediation re-checks, and the ``apply_*`` writes the
remediation actions make (each takes ``dry_run``: EC2 checks a dry run and changes nothing).

A little over 400 lines on purpose: one service's reads, records and writes stay side by side,
so a change to how EC2 answers is made in one file."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from tasks.aws.common import Written, apply, error_code, paginate, tag_dict, utc
from tasks.aws.records import (
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


def get_backups(ec2: Any, kind: str, tag_key: str, source_id: str) -> list[dict[str, Any]]:
    """The account's own images (``kind="image"``) or snapshots tagged ``tag_key=source_id``."""
    tagged = [{"Name": f"tag:{tag_key}", "Values": [source_id]}]
    if kind == "image":
        return list(ec2.describe_images(Owners=["self"], Filters=tagged)["Images"])
    return list(ec2.describe_snapshots(OwnerIds=["self"], Filters=tagged)["Snapshots"])


def image_using(ec2: Any, snapshot_id: str) -> str | None:
    """The account's AMI whose block devices use the snapshot, if any.

    Scans the account's images rather than filtering on ``block-device-mapping.snapshot-id``,
    which the sandbox (moto) does not implement; an account has few enough AMIs for this.
    """
    for image in ec2.describe_images(Owners=["self"])["Images"]:
        for mapping in image.get("BlockDeviceMappings", []):
            if mapping.get("Ebs", {}).get("SnapshotId") == snapshot_id:
                return str(image["ImageId"])
    return None


def wait_until_backed_up(ec2: Any, kind: str, backup_id: str) -> None:
    """Wait until an image is available (up to 10 min) or a snapshot completed (up to 20 min)."""
    if kind == "image":
        ec2.get_waiter("image_available").wait(
            ImageIds=[backup_id], WaiterConfig={"Delay": 5, "MaxAttempts": 120}
        )
    else:
        ec2.get_waiter("snapshot_completed").wait(
            SnapshotIds=[backup_id], WaiterConfig={"Delay": 5, "MaxAttempts": 240}
        )


def _tag_spec(kind: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


def apply_create_image(
    ec2: Any, instance_id: str, name: str, description: str, tags: dict[str, str], dry_run: bool
) -> Written:
    """An AMI of the instance, without rebooting it, tagged at creation."""
    return apply(
        ec2,
        "create_image",
        dry_run=dry_run,
        InstanceId=instance_id,
        Name=name,
        Description=description,
        NoReboot=True,
        TagSpecifications=_tag_spec("image", tags),
    )


def apply_create_snapshot(
    ec2: Any, volume_id: str, description: str, tags: dict[str, str], dry_run: bool
) -> Written:
    """A snapshot of the volume, tagged at creation."""
    return apply(
        ec2,
        "create_snapshot",
        dry_run=dry_run,
        VolumeId=volume_id,
        Description=description,
        TagSpecifications=_tag_spec("snapshot", tags),
    )


def apply_stop_instance(ec2: Any, instance_id: str, dry_run: bool) -> Written:
    return apply(ec2, "stop_instances", dry_run=dry_run, InstanceIds=[instance_id])


def apply_terminate_instance(ec2: Any, instance_id: str, dry_run: bool) -> Written:
    return apply(ec2, "terminate_instances", dry_run=dry_run, InstanceIds=[instance_id])


def apply_delete_volume(ec2: Any, volume_id: str, dry_run: bool) -> Written | None:
    """Delete the volume; ``None`` when it is already gone."""
    try:
        return apply(ec2, "delete_volume", dry_run=dry_run, VolumeId=volume_id)
    except ClientError as error:
        if error_code(error) != "InvalidVolume.NotFound":
            raise
        return None


def apply_delete_snapshot(ec2: Any, snapshot_id: str, dry_run: bool) -> Written | None:
    """Delete the snapshot; ``None`` when it is already gone."""
    try:
        return apply(ec2, "delete_snapshot", dry_run=dry_run, SnapshotId=snapshot_id)
    except ClientError as error:
        if error_code(error) != "InvalidSnapshot.NotFound":
            raise
        return None


def apply_modify_volume(
    ec2: Any, volume_id: str, volume_type: str, iops: int, throughput: int, dry_run: bool
) -> Written:
    return apply(
        ec2,
        "modify_volume",
        dry_run=dry_run,
        VolumeId=volume_id,
        VolumeType=volume_type,
        Iops=iops,
        Throughput=throughput,
    )


def apply_release_address(ec2: Any, allocation_id: str, dry_run: bool) -> Written:
    return apply(ec2, "release_address", dry_run=dry_run, AllocationId=allocation_id)


def apply_tag(ec2: Any, resource_id: str, key: str, value: str, dry_run: bool) -> Written:
    return apply(
        ec2,
        "create_tags",
        dry_run=dry_run,
        Resources=[resource_id],
        Tags=[{"Key": key, "Value": value}],
    )


def apply_untag(ec2: Any, resource_id: str, key: str, dry_run: bool) -> Written:
    return apply(ec2, "delete_tags", dry_run=dry_run, Resources=[resource_id], Tags=[{"Key": key}])


def apply_start_instance(ec2: Any, instance_id: str, dry_run: bool) -> Written:
    return apply(ec2, "start_instances", dry_run=dry_run, InstanceIds=[instance_id])


def apply_instance_type(ec2: Any, instance_id: str, instance_type: str, dry_run: bool) -> Written:
    """Change a stopped instance's type (``ModifyInstanceAttribute``)."""
    return apply(
        ec2,
        "modify_instance_attribute",
        dry_run=dry_run,
        InstanceId=instance_id,
        InstanceType={"Value": instance_type},
    )


def wait_for_instance(ec2: Any, instance_id: str, waiter: str, max_attempts: int = 40) -> None:
    """Wait (5 s between looks) for ``instance_stopped``, ``instance_running`` or
    ``instance_status_ok`` (both status checks passed)."""
    ec2.get_waiter(waiter).wait(
        InstanceIds=[instance_id], WaiterConfig={"Delay": 5, "MaxAttempts": max_attempts}
    )
