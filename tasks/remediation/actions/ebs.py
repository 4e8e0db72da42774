"""EBS actions: delete a volume (a snapshot first, or not), gp2 to gp3, delete a snapshot."""

from __future__ import annotations

from typing import Any

from tasks.aws import ec2 as ec2_adapter
from tasks.aws.common import tag_dict
from tasks.remediation.actions.common import outcome, record
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
    ec2 = ctx.client("ec2")
    record(ctx, ec2_adapter.apply_delete_volume(ec2, ctx.finding.resource_id, ctx.dry_run))


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
        existing = ec2_adapter.get_backups(ec2, "snapshot", BACKUP_TAG, volume_id)
        usable = [s for s in existing if s.get("State") in {"pending", "completed"}]
        if usable:
            snapshot_id = usable[0]["SnapshotId"]
    if not snapshot_id:
        response = record(
            ctx,
            ec2_adapter.apply_create_snapshot(
                ec2,
                volume_id,
                description=f"Backup before deleting {volume_id} ({ctx.finding.fingerprint})",
                tags={BACKUP_TAG: volume_id},
                dry_run=ctx.dry_run,
            ),
        )
        snapshot_id = response["SnapshotId"] if response else None
    backups: dict[str, str] = {}
    if snapshot_id:
        ctx.checkpoint("snapshot_id", snapshot_id)
        backups["snapshot_id"] = str(snapshot_id)
        ec2_adapter.wait_until_backed_up(ec2, "snapshot", snapshot_id)
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
    record(
        ctx,
        ec2_adapter.apply_modify_volume(
            ctx.client("ec2"), ctx.finding.resource_id, "gp3", iops, throughput, ctx.dry_run
        ),
    )
    after = before if ctx.dry_run else read_volume(ctx)
    result = outcome(ctx, before, after)
    result.after = {**after, "target_iops": iops, "target_throughput": throughput}
    return result


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
    user = ec2_adapter.image_using(ec2, ctx.finding.resource_id)
    if user:
        raise Skip(f"snapshot is used by {user} since detection")
    record(ctx, ec2_adapter.apply_delete_snapshot(ec2, ctx.finding.resource_id, ctx.dry_run))
    return outcome(ctx, before, before if ctx.dry_run else {})
