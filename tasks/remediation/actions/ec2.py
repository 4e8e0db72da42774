"""EC2 instance actions: stop, stop with an image first, terminate (backup AMI first)."""

from __future__ import annotations

from typing import Any

from tasks.aws import ec2 as ec2_adapter
from tasks.aws.cloudwatch import hourly_peak
from tasks.aws.common import tag_dict
from tasks.remediation.actions.common import outcome, record, since_detection
from tasks.remediation.actions.registry import (
    BACKUP_TAG,
    ActionContext,
    ActionOutcome,
    AlreadyDone,
    Skip,
    register_action,
)

INSTANCE = ("ec2:instance",)


def instance(ctx: ActionContext) -> dict[str, Any]:
    found = ec2_adapter.describe_instance(ctx.client("ec2"), ctx.finding.resource_id)
    if found is None:
        raise AlreadyDone("instance no longer exists")
    return found


def instance_state(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "state": item["State"]["Name"],
        "instance_type": item.get("InstanceType"),
        "tags": tag_dict(item.get("Tags")),
    }


def read_instance(ctx: ActionContext) -> dict[str, Any]:
    return instance_state(instance(ctx))


def check_not_busy(ctx: ActionContext) -> None:
    """Skip an instance whose CPU rose above the busy threshold since it was detected idle.

    No CPU datapoints since detection is a skip too: missing data never proves idleness at the
    moment of acting.
    """
    since, until = since_detection(ctx)
    peak = hourly_peak(
        ctx.client("cloudwatch"),
        "AWS/EC2",
        "CPUUtilization",
        ("InstanceId", ctx.finding.resource_id),
        "Average",
        since,
        until,
    )
    if peak is None:
        raise Skip("no CPU datapoints since detection: cannot confirm idle")
    if peak > ctx.busy_cpu_pct:
        raise Skip(
            f"instance busy again: hourly CPU {peak:.0f}% > {ctx.busy_cpu_pct:.0f}% since detection"
        )


def backup_image(ctx: ActionContext, instance_id: str) -> str | None:
    """Create (or find from an earlier attempt) an AMI of the instance; its id, None in dry-run."""
    ec2 = ctx.client("ec2")
    image_id = ctx.checkpoints.get("image_id")
    if not image_id:
        images = ec2_adapter.get_backups(ec2, "image", BACKUP_TAG, instance_id)
        usable = [i for i in images if i.get("State") in {"pending", "available"}]
        if usable:
            image_id = usable[0]["ImageId"]
    if not image_id:
        stamp = ctx.now.strftime("%Y%m%dT%H%M%SZ")
        response = record(
            ctx,
            ec2_adapter.apply_create_image(
                ec2,
                instance_id,
                name=f"finops-backup-{instance_id}-{stamp}",
                description=f"Backup before remediation of {ctx.finding.fingerprint}",
                tags={BACKUP_TAG: instance_id},
                dry_run=ctx.dry_run,
            ),
        )
        if response is None:
            return None
        image_id = response["ImageId"]
    ctx.checkpoint("image_id", image_id)
    ec2_adapter.wait_until_backed_up(ec2, "image", image_id)
    return str(image_id)


def _stop(ctx: ActionContext, before: dict[str, Any], with_image: bool) -> ActionOutcome:
    check_not_busy(ctx)
    backups: dict[str, str] = {}
    if with_image:
        image_id = backup_image(ctx, ctx.finding.resource_id)
        if image_id:
            backups["image_id"] = image_id
    record(
        ctx,
        ec2_adapter.apply_stop_instance(ctx.client("ec2"), ctx.finding.resource_id, ctx.dry_run),
    )
    after = before if ctx.dry_run else read_instance(ctx)
    return outcome(ctx, before, after, backup_ids=backups)


_STOP = {
    "read": read_instance,
    "noun": "instance",
    "resource_types": INSTANCE,
    "resource_prefixes": ("i-",),
    "valid_states": {"running"},
    "done_states": {"stopping", "stopped"},
}

#: What reading an instance and taking its backup AMI need, before the action's own write.
_IMAGE_BACKUP = (
    "ec2:DescribeInstances",
    "cloudwatch:GetMetricStatistics",
    "ec2:DescribeImages",
    "ec2:CreateImage",
    "ec2:CreateTags",
)


@register_action(
    "stop",
    **_STOP,  # type: ignore[arg-type]
    permissions=("ec2:DescribeInstances", "cloudwatch:GetMetricStatistics", "ec2:StopInstances"),
    description="Stop the instance.",
    reversible=True,
)
def apply_stop_instance(ctx: ActionContext, before: dict[str, Any]) -> ActionOutcome:
    """Stop a running, idle instance (its EBS volumes and data stay)."""
    return _stop(ctx, before, with_image=False)


@register_action(
    "stop_with_image",
    **_STOP,  # type: ignore[arg-type]
    permissions=(*_IMAGE_BACKUP, "ec2:StopInstances"),
    description="Create an AMI (no reboot), then stop the instance.",
    reversible=True,
    backup=True,
)
def apply_stop_with_image(ctx: ActionContext, before: dict[str, Any]) -> ActionOutcome:
    """Create an AMI of the instance (no reboot), wait for it, then stop the instance."""
    return _stop(ctx, before, with_image=True)


@register_action(
    "terminate",
    read=read_instance,
    noun="instance",
    resource_types=INSTANCE,
    resource_prefixes=("i-",),
    valid_states={"running", "stopped"},
    done_states={"shutting-down", "terminated"},
    permissions=(*_IMAGE_BACKUP, "ec2:TerminateInstances"),
    description="Create a backup AMI, wait for it, then terminate the instance.",
    backup=True,
    explicit_only=True,
)
def apply_terminate_instance(ctx: ActionContext, before: dict[str, Any]) -> ActionOutcome:
    """Terminate an instance, only after a backup AMI of it is available.

    Explicit-only: the engine runs it only when 'terminate' itself was approved.
    """
    if before["state"] == "running":
        check_not_busy(ctx)
    image_id = backup_image(ctx, ctx.finding.resource_id)
    if not ctx.dry_run and not image_id:
        raise RuntimeError("no backup image; refusing to terminate")
    record(
        ctx,
        ec2_adapter.apply_terminate_instance(
            ctx.client("ec2"), ctx.finding.resource_id, ctx.dry_run
        ),
    )
    after = before if ctx.dry_run else read_instance(ctx)
    return outcome(ctx, before, after, backup_ids={"image_id": image_id} if image_id else {})
