"""EBS actions: delete a volume (a snapshot first, or not), gp2 to gp3, delete a snapshot."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tasks.aws import ec2 as ec2_adapter
from tasks.aws.common import error_code, tag_dict
from tasks.remediation.actions.common import outcome, write
from tasks.remediation.actions.registry import (
    BACKUP_TAG,
    ActionContext,
    ActionOutcome,
    AlreadyDone,
    Finished,
    Skip,
    register_action,
)


def volume(ctx: ActionContext) -> dict[str, Any]:
    found = ec2_adapter.describe_volume(ctx.client("ec2"), ctx.finding.resource_id)
    if found is None:
        raise AlreadyDone("volume no longer exists")
    return found


def volume_state(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "state": item["State"],
        "volume_type": item.get("VolumeType"),
        "size_gib": item.get("Size"),
        "iops": item.get("Iops"),
        "throughput": item.get("Throughput"),
        "attached_to": [a["InstanceId"] for a in item.get("Attachments", [])],
        "tags": tag_dict(item.get("Tags")),
    }


def read_volume(ctx: ActionContext) -> dict[str, Any]:
    return volume_state(volume(ctx))


def _attached(before: dict[str, Any]) -> str:
    if before["attached_to"] or before["state"] == "in-use":
        return f"attached to {', '.join(before['attached_to']) or 'an instance'} since detection"
    return str(before["state"])


def _read_unattached(ctx: ActionContext) -> dict[str, Any]:
    before = read_volume(ctx)
    if before["attached_to"]:
        before["state"] = "in-use"
    return before


def _read_for_snapshot(ctx: ActionContext) -> dict[str, Any]:
    """The volume; when an earlier attempt snapshotted it and it is gone, that attempt finished."""
    try:
        return _read_unattached(ctx)
    except AlreadyDone:
        if not ctx.checkpoints.get("snapshot_id"):
            raise
        raise Finished(
            ActionOutcome(
                "succeeded",
                {},
                {},
                {"snapshot_id": ctx.checkpoints["snapshot_id"]},
                reason="volume already deleted after its snapshot",
            )
        ) from None


def _delete_volume(ctx: ActionContext) -> None:
    try:
        write(ctx, ctx.client("ec2"), "delete_volume", VolumeId=ctx.finding.resource_id)
    except ClientError as error:
        if error_code(error) != "InvalidVolume.NotFound":
            raise


_UNATTACHED = {
    "noun": "volume",
    "resource_types": ("ec2:volume",),
    "resource_prefixes": ("vol-",),
    "valid_states": {"available"},
    "explain": _attached,
}


@register_action(
    "delete",
    read=_read_unattached,
    **_UNATTACHED,  # type: ignore[arg-type]
    permissions=("ec2:DescribeVolumes", "ec2:DeleteVolume"),
    description="Delete the volume without a backup.",
)
def apply_delete_volume(ctx: ActionContext, before: dict[str, Any]) -> ActionOutcome:
    """Delete an unattached volume (no backup: choose snapshot_and_delete to keep one)."""
    _delete_volume(ctx)
    return outcome(ctx, before, {} if not ctx.dry_run else before)


@register_action(
    "snapshot_and_delete",
    read=_read_for_snapshot,
    **_UNATTACHED,  # type: ignore[arg-type]
    permissions=(
        "ec2:DescribeVolumes",
        "ec2:DescribeSnapshots",
        "ec2:CreateSnapshot",
        "ec2:CreateTags",
        "ec2:DeleteVolume",
    ),
    description="Snapshot the volume, wait for the snapshot to complete, delete the volume.",
    backup=True,
)
def apply_snapshot_and_delete_volume(ctx: ActionContext, before: dict[str, Any]) -> ActionOutcome:
    """Snapshot an unattached volume, wait until the snapshot completes, then delete the volume.

    The snapshot id is a checkpoint, and the snapshot carries ``finops:backup-of=<volume>``, so
    a rerun after a crash between the two steps reuses it.
    """
    volume_id = ctx.finding.resource_id
    ec2 = ctx.client("ec2")
    snapshot_id = ctx.checkpoints.get("snapshot_id")
    if not snapshot_id:
        existing = ec2.describe_snapshots(
            OwnerIds=["self"], Filters=[{"Name": f"tag:{BACKUP_TAG}", "Values": [volume_id]}]
        )["Snapshots"]
        usable = [s for s in existing if s.get("State") in {"pending", "completed"}]
        if usable:
            snapshot_id = usable[0]["SnapshotId"]
    if not snapshot_id:
        response = write(
            ctx,
            ec2,
            "create_snapshot",
            VolumeId=volume_id,
            Description=f"Backup before deleting {volume_id} ({ctx.finding.fingerprint})",
            TagSpecifications=[
                {"ResourceType": "snapshot", "Tags": [{"Key": BACKUP_TAG, "Value": volume_id}]}
            ],
        )
        snapshot_id = response["SnapshotId"] if response else None
    backups: dict[str, str] = {}
    if snapshot_id:
        ctx.checkpoint("snapshot_id", snapshot_id)
        backups["snapshot_id"] = str(snapshot_id)
        ec2.get_waiter("snapshot_completed").wait(
            SnapshotIds=[snapshot_id], WaiterConfig={"Delay": 5, "MaxAttempts": 240}
        )
    _delete_volume(ctx)
    return outcome(ctx, before, before if ctx.dry_run else {}, backup_ids=backups)


def gp3_target(size_gib: int, gp2_iops: int | None) -> tuple[int, int]:
    """The gp3 IOPS and throughput (MiB/s) that match or beat a gp2 volume of this size.

    gp2 gives 3 IOPS per GiB (min 100, max 16,000) and bursts to 3,000 below 1 TiB; its
    throughput is 128 MiB/s up to 170 GiB and 250 MiB/s above.  gp3's baseline is 3,000 IOPS
    and 125 MiB/s; anything above is provisioned.

    Example:
        >>> gp3_target(2000, 6000)
        (6000, 250)
        >>> gp3_target(100, 300)
        (3000, 128)
    """
    baseline = min(16000, max(100, 3 * size_gib, gp2_iops or 0))
    iops = max(3000, baseline)
    throughput = 128 if size_gib <= 170 else 250
    return iops, throughput


@register_action(
    "modify_to_gp3",
    read=read_volume,
    noun="volume",
    resource_types=("ec2:volume",),
    resource_prefixes=("vol-",),
    valid_states={"available", "in-use"},
    permissions=("ec2:DescribeVolumes", "ec2:ModifyVolume"),
    description="Change gp2 to gp3 in place with matching IOPS and throughput.",
    reversible=True,
)
def apply_modify_to_gp3(ctx: ActionContext, before: dict[str, Any]) -> ActionOutcome:
    """Change a gp2 volume to gp3 in place, with IOPS and throughput at least gp2's."""
    iops, throughput = gp3_target(int(before["size_gib"] or 0), before["iops"])
    if before["volume_type"] == "gp3":
        raise AlreadyDone("volume is already gp3")
    if before["volume_type"] != "gp2":
        raise Skip(f"volume is {before['volume_type']} now, not gp2")
    write(
        ctx,
        ctx.client("ec2"),
        "modify_volume",
        VolumeId=ctx.finding.resource_id,
        VolumeType="gp3",
        Iops=iops,
        Throughput=throughput,
    )
    after = before if ctx.dry_run else read_volume(ctx)
    result = outcome(ctx, before, after)
    result.after = {**after, "target_iops": iops, "target_throughput": throughput}
    return result


def _image_using(ec2: Any, snapshot_id: str) -> str | None:
    """The account's AMI whose block devices use the snapshot, if any.

    Scans the account's images rather than filtering on ``block-device-mapping.snapshot-id``,
    which the sandbox (moto) does not implement; an account has few enough AMIs for this.
    """
    for image in ec2.describe_images(Owners=["self"])["Images"]:
        for mapping in image.get("BlockDeviceMappings", []):
            if mapping.get("Ebs", {}).get("SnapshotId") == snapshot_id:
                return str(image["ImageId"])
    return None


def read_snapshot(ctx: ActionContext) -> dict[str, Any]:
    snapshot = ec2_adapter.describe_snapshot(ctx.client("ec2"), ctx.finding.resource_id)
    if snapshot is None:
        raise AlreadyDone("snapshot already deleted")
    return {
        "state": snapshot.get("State"),
        "volume_id": snapshot.get("VolumeId"),
        "size_gib": snapshot.get("VolumeSize"),
        "start_time": str(snapshot.get("StartTime")),
        "tags": tag_dict(snapshot.get("Tags")),
    }


@register_action(
    "delete_snapshot",
    read=read_snapshot,
    noun="snapshot",
    resource_types=("ec2:snapshot",),
    resource_prefixes=("snap-",),
    valid_states={"completed"},
    permissions=("ec2:DescribeSnapshots", "ec2:DescribeImages", "ec2:DeleteSnapshot"),
    description="Delete the stale snapshot.",
)
def apply_delete_snapshot(ctx: ActionContext, before: dict[str, Any]) -> ActionOutcome:
    """Delete a stale snapshot that no AMI uses."""
    ec2 = ctx.client("ec2")
    user = _image_using(ec2, ctx.finding.resource_id)
    if user:
        raise Skip(f"snapshot is used by {user} since detection")
    try:
        write(ctx, ec2, "delete_snapshot", SnapshotId=ctx.finding.resource_id)
    except ClientError as error:
        if error_code(error) != "InvalidSnapshot.NotFound":
            raise
    return outcome(ctx, before, before if ctx.dry_run else {})
