"""Rightsizing actions: ``resize`` (an EC2 instance to its finding's type) and ``modify_volume``
(an EBS volume to Compute Optimizer's configuration, below).

After Cloud Custodian's ``Resize`` action, with the steps a person would take and a way back:

1. Re-check: the instance is still the type the finding judged, the recommended type runs the
   same CPU architecture (a Graviton move needs a new image, not a resize), and the hourly
   peak CPU since detection, projected onto the new type's vCPUs, stays at most 95 %.
2. Stop (a running instance) and wait until stopped; change the type
   (``ModifyInstanceAttribute``); start and wait for ``running`` and both status checks.
3. If the start fails or the status checks do not pass: stop, change back to the old type,
   start again, and report ``failed`` with the reason and the rollback.

Every step goes into the audit record (``after.steps``: the step, its outcome, its request id).
In dry-run each write is sent with ``DryRun=True`` (AWS's proof that it would be allowed) and
nothing changes.  A stopped instance is resized and left stopped.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError, WaiterError

from tasks.aws import ec2 as ec2_adapter
from tasks.aws.cloudwatch import hourly_peak
from tasks.aws.common import Written, error_code
from tasks.remediation.actions.common import outcome, record, since_detection
from tasks.remediation.actions.ebs import read_volume
from tasks.remediation.actions.ec2 import INSTANCE, read_instance
from tasks.remediation.actions.registry import (
    ActionContext,
    ActionOutcome,
    AlreadyDone,
    Skip,
    register_action,
)
from tasks.rightsizing.catalog import spec

#: The projected hourly peak CPU on the new type above which the resize is called off.
PEAK_CPU_LIMIT_PCT = 95.0


def _step(ctx: ActionContext, steps: list[dict[str, Any]], name: str, written: Written) -> None:
    record(ctx, written)
    steps.append(
        {
            "step": name,
            "result": "dry_run" if written.dry_run else "done",
            "request_id": written.request_id,
        }
    )


def _recheck(ctx: ActionContext, before: dict[str, Any]) -> str:
    """The recommended type, after the re-checks (raises Skip / AlreadyDone)."""
    evidence = ctx.finding.evidence
    target = str(evidence.get("recommended_type") or "")
    current = str(before.get("instance_type") or "")
    if not target:
        raise Skip("the finding names no recommended type")
    if current == target:
        raise AlreadyDone(f"instance is already {target}")
    judged = evidence.get("instance_type")
    if judged and judged != current:
        raise Skip(f"instance type changed since detection ({judged} -> {current})")
    old, new = spec(current), spec(target)
    if old is None or new is None:
        raise Skip(f"{current} or {target} is not in the instance catalogue")
    if old.architecture != new.architecture:
        raise Skip(f"{target} is {new.architecture}, the instance {old.architecture}: new image")
    if before["state"] == "running":
        since, until = since_detection(ctx)
        peak = hourly_peak(
            ctx.client("cloudwatch"),
            "AWS/EC2",
            "CPUUtilization",
            ("InstanceId", ctx.finding.resource_id),
            "Maximum",
            since,
            until,
        )
        if peak is None:
            raise Skip("no CPU datapoints since detection: cannot confirm the new size fits")
        projected = peak * old.vcpus / new.vcpus
        if projected > PEAK_CPU_LIMIT_PCT:
            raise Skip(
                f"busier since detection: hourly peak CPU {peak:.0f}% would be "
                f"{projected:.0f}% on {target} (limit {PEAK_CPU_LIMIT_PCT:.0f}%)"
            )
    return target


def _start(ctx: ActionContext, steps: list[dict[str, Any]], instance_id: str, label: str) -> None:
    ec2 = ctx.client("ec2")
    _step(ctx, steps, f"start ({label})", ec2_adapter.apply_start_instance(ec2, instance_id, False))
    ec2_adapter.wait_for_instance(ec2, instance_id, "instance_running")
    ec2_adapter.wait_for_instance(ec2, instance_id, "instance_status_ok")
    steps.append({"step": f"status checks ({label})", "result": "ok", "request_id": ""})


def _stop(ctx: ActionContext, steps: list[dict[str, Any]], instance_id: str, label: str) -> None:
    ec2 = ctx.client("ec2")
    _step(ctx, steps, f"stop ({label})", ec2_adapter.apply_stop_instance(ec2, instance_id, False))
    ec2_adapter.wait_for_instance(ec2, instance_id, "instance_stopped")


@register_action(
    "resize",
    read=read_instance,
    noun="instance",
    resource_types=INSTANCE,
    checks=("ec2-rightsize",),
    valid_states={"running", "stopped"},
    permissions=(
        "ec2:DescribeInstances",
        "ec2:DescribeInstanceStatus",
        "cloudwatch:GetMetricStatistics",
        "ec2:StopInstances",
        "ec2:ModifyInstanceAttribute",
        "ec2:StartInstances",
    ),
    description="Stop, change to the recommended type, start and wait for the status checks;"
    " back to the old type if that fails.",
    # A second resize undoes it, but it restarts the instance: never among the "safe" actions
    # the demo approves on its own.
    reversible=False,
    note="restarts the instance (a few minutes of downtime)",
)
def apply_resize(ctx: ActionContext, before: dict[str, Any]) -> ActionOutcome:
    """Resize an instance to its finding's recommended type, rolling back on a failed start."""
    instance_id = ctx.finding.resource_id
    target = str(ctx.finding.evidence.get("recommended_type") or "")
    if (
        ctx.checkpoints.get("resize_from")
        and before["state"] == "stopped"
        and before.get("instance_type") == target
        and not ctx.dry_run
    ):
        # an earlier attempt stopped and resized the (running) instance, then stopped short of
        # starting it: finish the job rather than call it done and leave it stopped
        steps: list[dict[str, Any]] = [{"step": "resume", "result": "resized", "request_id": ""}]
        _start(ctx, steps, instance_id, target)
        return outcome(ctx, before, {**read_instance(ctx), "steps": steps})
    target = _recheck(ctx, before)
    old_type = str(before["instance_type"])
    was_running = before["state"] == "running"
    ec2 = ctx.client("ec2")
    steps = []
    if ctx.dry_run:
        if was_running:
            _step(ctx, steps, "stop", ec2_adapter.apply_stop_instance(ec2, instance_id, True))
        _step(
            ctx,
            steps,
            f"modify {old_type} -> {target}",
            ec2_adapter.apply_instance_type(ec2, instance_id, target, True),
        )
        if was_running:
            _step(ctx, steps, "start", ec2_adapter.apply_start_instance(ec2, instance_id, True))
        return outcome(ctx, before, {**before, "would_be_type": target, "steps": steps})
    if was_running:
        # remembered before the first write: a rerun after a crash knows it must start it again
        ctx.checkpoint("resize_from", old_type)
        _stop(ctx, steps, instance_id, old_type)
    _step(
        ctx,
        steps,
        f"modify {old_type} -> {target}",
        ec2_adapter.apply_instance_type(ec2, instance_id, target, False),
    )
    if not was_running:
        return outcome(ctx, before, {**read_instance(ctx), "steps": steps})
    try:
        _start(ctx, steps, instance_id, target)
    except (ClientError, WaiterError) as error:
        why = f"{error_code(error) or type(error).__name__}: {error}"
        steps.append({"step": f"start ({target})", "result": f"failed: {why}", "request_id": ""})
        state = read_instance(ctx)["state"]
        if state not in {"stopped", "stopping"}:
            _stop(ctx, steps, instance_id, "rollback")
        else:
            ec2_adapter.wait_for_instance(ec2, instance_id, "instance_stopped")
        _step(
            ctx,
            steps,
            f"rollback modify {target} -> {old_type}",
            ec2_adapter.apply_instance_type(ec2, instance_id, old_type, False),
        )
        _start(ctx, steps, instance_id, f"rollback {old_type}")
        return ActionOutcome(
            "failed",
            before,
            {**read_instance(ctx), "steps": steps},
            reason=f"start on {target} failed ({why}); rolled back to {old_type}",
        )
    return outcome(ctx, before, {**read_instance(ctx), "steps": steps})


@register_action(
    "modify_volume",
    read=read_volume,
    noun="volume",
    resource_types=("ec2:volume",),
    checks=("ebs-rightsize",),
    valid_states={"available", "in-use"},
    permissions=("ec2:DescribeVolumes", "ec2:ModifyVolume"),
    description="Change the volume's type, IOPS and throughput in place (ModifyVolume) to the"
    " recommended configuration.",
    note="EBS allows one modification per volume every 6 hours",
)
def apply_modify_volume(ctx: ActionContext, before: dict[str, Any]) -> ActionOutcome:
    """Apply an ``ebs-rightsize`` finding's recommended configuration with ``ModifyVolume``.

    Re-check: the volume is still the type and IOPS the finding judged (else skipped), and not
    already in the recommended configuration (already done).
    """
    evidence = ctx.finding.evidence
    target = dict(evidence.get("recommended") or {})
    volume_type, iops, throughput = (
        target.get("volume_type"),
        target.get("iops"),
        target.get("throughput"),
    )
    if not volume_type or not iops:
        raise Skip("the finding names no recommended volume type and IOPS")
    if (before["volume_type"], before["iops"]) == (volume_type, iops):
        raise AlreadyDone(f"volume is already {volume_type} at {iops} IOPS")
    judged = (evidence.get("volume_type"), evidence.get("iops"))
    if judged != (before["volume_type"], before["iops"]):
        raise Skip(
            f"volume changed since detection ({judged[0]} {judged[1]} IOPS -> "
            f"{before['volume_type']} {before['iops']} IOPS)"
        )
    record(
        ctx,
        ec2_adapter.apply_modify_volume(
            ctx.client("ec2"),
            ctx.finding.resource_id,
            str(volume_type),
            int(iops),
            int(throughput or 125),
            ctx.dry_run,
        ),
    )
    after = before if ctx.dry_run else read_volume(ctx)
    result = outcome(ctx, before, after)
    result.after = {**after, "target": target}
    return result
