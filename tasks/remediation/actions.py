"""The AWS write adapters of remediation: each re-checks its resource, then acts idempotently.

Every ``apply_*`` adapter follows one shape (after Cloud Custodian's actions):

1. Read the resource now and compare with what was detected.  A resource that is gone counts as
   "already done"; one that changed since detection (a volume attached again, an instance busy
   again, the protected tag added) raises :class:`Skip` with the reason.
2. Narrow to the valid starting states (``ActionSpec.valid_states``); a resource already in the
   end state is "already done", which counts as success.
3. Act.  In dry-run (the default) each write is sent with ``DryRun=True`` where the API has it:
   AWS answers ``DryRunOperation`` when the call *would* succeed, which also proves the role has
   the permission.  S3, Elastic Load Balancing (tags) and RDS (tags, ``StopDBInstance``) have no
   dry run: there the dry run reads the resource (proving it exists and can be read), reports
   ``dry_run`` with what it would write, and writes nothing.  Backup ids (snapshot, image) are
   saved as checkpoints the moment AWS returns them, so a rerun after a crash reuses them rather
   than taking a second backup.

``ACTIONS`` is the registry, and each spec lists the IAM permissions its adapter needs; the
Terraform remediation policy is compared against :func:`required_permissions`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from tasks.findings.model import Finding

#: Tag written on backups so a rerun finds the backup it made before a crash.
BACKUP_TAG = "finops:backup-of"
#: Tag that marks a resource for a later action: value ``<action>@<YYYY-MM-DD>``.
MARK_TAG = "finops:action-due"


class Skip(Exception):
    """The resource changed since detection (or is protected): leave it, say why."""


class AlreadyDone(Exception):
    """The resource is already in the state the action would leave it in."""


@dataclass
class ActionContext:
    """What an adapter needs: clients, the finding, the mode, and a place for checkpoints.

    Attributes:
        finding: the finding as detected.
        client: ``client(service)`` returns a boto3 client for the finding's account and region.
        dry_run: send writes with ``DryRun=True`` (or only read, where the API has no dry run).
        protected_tag: ``(key, value)`` of the tag that forbids remediation.
        checkpoints: intermediate results of an earlier attempt (backup ids).
        save_checkpoint: persists one checkpoint as soon as it exists.
        mark_days: days until a ``tag_for_later`` mark falls due.
        busy_cpu_pct: an instance whose hourly CPU average went above this since detection is
            busy again and is skipped.
        now: the action time (UTC).
    """

    finding: Finding
    client: Callable[[str], Any]
    dry_run: bool = True
    protected_tag: tuple[str, str] = ("finops:protected", "true")
    checkpoints: dict[str, Any] = field(default_factory=dict)
    save_checkpoint: Callable[[str, Any], None] = lambda name, value: None
    mark_days: int = 7
    busy_cpu_pct: float = 10.0
    follow_up: str | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    request_ids: list[str] = field(default_factory=list)
    proven: list[str] = field(default_factory=list)

    def checkpoint(self, name: str, value: Any) -> None:
        self.checkpoints[name] = value
        self.save_checkpoint(name, value)


@dataclass
class ActionOutcome:
    """What an adapter did: ``succeeded`` (or ``dry_run``), with before/after and backups."""

    result: str
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    backup_ids: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    due_at: datetime | None = None


@dataclass(frozen=True)
class ActionSpec:
    """A registered action: what it works on, from which states, and the IAM it needs."""

    name: str
    apply: Callable[[ActionContext], ActionOutcome]
    resource_prefixes: tuple[str, ...]
    valid_states: frozenset[str]
    permissions: tuple[str, ...]
    description: str
    explicit_only: bool = False
    #: Checks whose findings this action applies to whatever their resource id looks like
    #: (load balancers and DB instances are named, not prefixed).
    checks: tuple[str, ...] = ()

    def applies_to(self, finding: Finding) -> bool:
        """Whether this action can be carried out on the finding's resource.

        Example:
            >>> ACTIONS["stop"].applies_to(finding)  # doctest: +SKIP
            True
        """
        return finding.check in self.checks or finding.resource_id.startswith(
            self.resource_prefixes
        )


# -- helpers -----------------------------------------------------------------------------------


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _write(ctx: ActionContext, client: Any, operation: str, **kwargs: Any) -> dict[str, Any] | None:
    """Call an EC2 write, with ``DryRun=True`` in dry-run; ``None`` when the dry run passed."""
    if ctx.dry_run:
        kwargs["DryRun"] = True
    try:
        response: dict[str, Any] = getattr(client, operation)(**kwargs)
    except ClientError as error:
        if error_code(error) == "DryRunOperation":
            ctx.proven.append(operation)
            request_id = error.response.get("ResponseMetadata", {}).get("RequestId")
            if request_id:
                ctx.request_ids.append(str(request_id))
            return None
        raise
    request_id = response.get("ResponseMetadata", {}).get("RequestId")
    if request_id:
        ctx.request_ids.append(str(request_id))
    return response


def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def _check_protected(ctx: ActionContext, tags: dict[str, str]) -> None:
    key, value = ctx.protected_tag
    if tags.get(key) == value:
        when = (
            "already at detection"
            if ctx.finding.tags.get(key) == value
            else "added since detection"
        )
        raise Skip(f"protected tag {key}={value} present ({when})")


def _outcome(
    ctx: ActionContext, before: dict[str, Any], after: dict[str, Any], **kw: Any
) -> ActionOutcome:
    return ActionOutcome("dry_run" if ctx.dry_run else "succeeded", before, after, **kw)


# -- EC2 instances -----------------------------------------------------------------------------


def _instance(ctx: ActionContext) -> dict[str, Any]:
    ec2 = ctx.client("ec2")
    try:
        reservations = ec2.describe_instances(InstanceIds=[ctx.finding.resource_id])["Reservations"]
    except ClientError as error:
        if error_code(error) == "InvalidInstanceID.NotFound":
            raise AlreadyDone("instance no longer exists") from None
        raise
    instances = [i for r in reservations for i in r["Instances"]]
    if not instances:
        raise AlreadyDone("instance no longer exists")
    return instances[0]


def _instance_state(instance: dict[str, Any]) -> dict[str, Any]:
    return {
        "state": instance["State"]["Name"],
        "instance_type": instance.get("InstanceType"),
        "tags": _tags(instance.get("Tags")),
    }


def _check_not_busy(ctx: ActionContext) -> None:
    """Skip an instance whose CPU rose above the busy threshold since it was detected idle."""
    since = max(ctx.finding.detected_at, ctx.now - timedelta(days=1))
    if ctx.now - since < timedelta(hours=1):
        since = ctx.now - timedelta(hours=1)
    datapoints = ctx.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "InstanceId", "Value": ctx.finding.resource_id}],
        StartTime=since,
        # a little past now: CloudWatch's end bound is exclusive and whole seconds
        EndTime=ctx.now + timedelta(minutes=5),
        Period=3600,
        Statistics=["Average"],
    )["Datapoints"]
    peak = max((float(d["Average"]) for d in datapoints), default=0.0)
    if peak > ctx.busy_cpu_pct:
        raise Skip(
            f"instance busy again: hourly CPU {peak:.0f}% > {ctx.busy_cpu_pct:.0f}% since detection"
        )


def _backup_image(ctx: ActionContext, instance_id: str) -> str | None:
    """Create (or find from an earlier attempt) an AMI of the instance; its id, None in dry-run."""
    ec2 = ctx.client("ec2")
    image_id = ctx.checkpoints.get("image_id")
    if not image_id:
        images = ec2.describe_images(
            Owners=["self"], Filters=[{"Name": f"tag:{BACKUP_TAG}", "Values": [instance_id]}]
        )["Images"]
        usable = [i for i in images if i.get("State") in {"pending", "available"}]
        if usable:
            image_id = usable[0]["ImageId"]
    if not image_id:
        stamp = ctx.now.strftime("%Y%m%dT%H%M%SZ")
        response = _write(
            ctx,
            ec2,
            "create_image",
            InstanceId=instance_id,
            Name=f"finops-backup-{instance_id}-{stamp}",
            Description=f"Backup before remediation of {ctx.finding.fingerprint}",
            NoReboot=True,
            TagSpecifications=[
                {"ResourceType": "image", "Tags": [{"Key": BACKUP_TAG, "Value": instance_id}]}
            ],
        )
        if response is None:
            return None
        image_id = response["ImageId"]
    ctx.checkpoint("image_id", image_id)
    ec2.get_waiter("image_available").wait(
        ImageIds=[image_id], WaiterConfig={"Delay": 5, "MaxAttempts": 120}
    )
    return str(image_id)


def _stop(ctx: ActionContext, with_image: bool) -> ActionOutcome:
    instance = _instance(ctx)
    before = _instance_state(instance)
    _check_protected(ctx, before["tags"])
    if before["state"] in {"stopping", "stopped"}:
        raise AlreadyDone(f"instance already {before['state']}")
    if before["state"] != "running":
        raise Skip(f"instance is {before['state']}; stop needs running")
    _check_not_busy(ctx)
    backups: dict[str, str] = {}
    if with_image:
        image_id = _backup_image(ctx, ctx.finding.resource_id)
        if image_id:
            backups["image_id"] = image_id
    _write(ctx, ctx.client("ec2"), "stop_instances", InstanceIds=[ctx.finding.resource_id])
    after = before if ctx.dry_run else _instance_state(_instance(ctx))
    return _outcome(ctx, before, after, backup_ids=backups)


def apply_stop_instance(ctx: ActionContext) -> ActionOutcome:
    """Stop a running, idle instance (its EBS volumes and data stay).

    Example:
        >>> apply_stop_instance(ActionContext(finding, client))  # doctest: +SKIP
    """
    return _stop(ctx, with_image=False)


def apply_stop_with_image(ctx: ActionContext) -> ActionOutcome:
    """Create an AMI of the instance (no reboot), wait for it, then stop the instance."""
    return _stop(ctx, with_image=True)


def apply_terminate_instance(ctx: ActionContext) -> ActionOutcome:
    """Terminate an instance, only after a backup AMI of it is available.

    Registered as explicit-only: the engine runs it only when 'terminate' itself was approved.
    """
    instance = _instance(ctx)
    before = _instance_state(instance)
    _check_protected(ctx, before["tags"])
    if before["state"] in {"shutting-down", "terminated"}:
        raise AlreadyDone(f"instance already {before['state']}")
    if before["state"] not in {"running", "stopped"}:
        raise Skip(f"instance is {before['state']}; terminate needs running or stopped")
    if before["state"] == "running":
        _check_not_busy(ctx)
    image_id = _backup_image(ctx, ctx.finding.resource_id)
    if not ctx.dry_run and not image_id:
        raise RuntimeError("no backup image; refusing to terminate")
    _write(ctx, ctx.client("ec2"), "terminate_instances", InstanceIds=[ctx.finding.resource_id])
    after = before if ctx.dry_run else _instance_state(_instance(ctx))
    return _outcome(ctx, before, after, backup_ids={"image_id": image_id} if image_id else {})


# -- EBS volumes -------------------------------------------------------------------------------


def _volume(ctx: ActionContext) -> dict[str, Any]:
    try:
        volumes = ctx.client("ec2").describe_volumes(VolumeIds=[ctx.finding.resource_id])["Volumes"]
    except ClientError as error:
        if error_code(error) == "InvalidVolume.NotFound":
            raise AlreadyDone("volume no longer exists") from None
        raise
    if not volumes:
        raise AlreadyDone("volume no longer exists")
    return dict(volumes[0])


def _volume_state(volume: dict[str, Any]) -> dict[str, Any]:
    return {
        "state": volume["State"],
        "volume_type": volume.get("VolumeType"),
        "size_gib": volume.get("Size"),
        "iops": volume.get("Iops"),
        "throughput": volume.get("Throughput"),
        "attached_to": [a["InstanceId"] for a in volume.get("Attachments", [])],
        "tags": _tags(volume.get("Tags")),
    }


def _unattached_volume(ctx: ActionContext) -> dict[str, Any]:
    before = _volume_state(_volume(ctx))
    _check_protected(ctx, before["tags"])
    if before["attached_to"] or before["state"] == "in-use":
        raise Skip(
            f"volume attached to {', '.join(before['attached_to']) or 'an instance'}"
            " since detection"
        )
    if before["state"] != "available":
        raise Skip(f"volume is {before['state']}; deleting needs available")
    return before


def apply_delete_volume(ctx: ActionContext) -> ActionOutcome:
    """Delete an unattached volume (no backup: choose snapshot_and_delete to keep one)."""
    before = _unattached_volume(ctx)
    _delete_volume(ctx)
    return _outcome(ctx, before, {} if not ctx.dry_run else before)


def _delete_volume(ctx: ActionContext) -> None:
    try:
        _write(ctx, ctx.client("ec2"), "delete_volume", VolumeId=ctx.finding.resource_id)
    except ClientError as error:
        if error_code(error) != "InvalidVolume.NotFound":
            raise


def apply_snapshot_and_delete_volume(ctx: ActionContext) -> ActionOutcome:
    """Snapshot an unattached volume, wait until the snapshot completes, then delete the volume.

    The snapshot id is a checkpoint, and the snapshot carries ``finops:backup-of=<volume>``, so
    a rerun after a crash between the two steps reuses it.
    """
    volume_id = ctx.finding.resource_id
    if ctx.checkpoints.get("snapshot_id"):
        try:
            before = _unattached_volume(ctx)
        except AlreadyDone:
            return ActionOutcome(
                "succeeded",
                {},
                {},
                {"snapshot_id": ctx.checkpoints["snapshot_id"]},
                reason="volume already deleted after its snapshot",
            )
    else:
        before = _unattached_volume(ctx)
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
        response = _write(
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
    return _outcome(ctx, before, before if ctx.dry_run else {}, backup_ids=backups)


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


def apply_modify_to_gp3(ctx: ActionContext) -> ActionOutcome:
    """Change a gp2 volume to gp3 in place, with IOPS and throughput at least gp2's."""
    before = _volume_state(_volume(ctx))
    _check_protected(ctx, before["tags"])
    iops, throughput = gp3_target(int(before["size_gib"] or 0), before["iops"])
    if before["volume_type"] == "gp3":
        raise AlreadyDone("volume is already gp3")
    if before["volume_type"] != "gp2":
        raise Skip(f"volume is {before['volume_type']} now, not gp2")
    if before["state"] not in {"available", "in-use"}:
        raise Skip(f"volume is {before['state']}")
    _write(
        ctx,
        ctx.client("ec2"),
        "modify_volume",
        VolumeId=ctx.finding.resource_id,
        VolumeType="gp3",
        Iops=iops,
        Throughput=throughput,
    )
    after = before if ctx.dry_run else _volume_state(_volume(ctx))
    outcome = _outcome(ctx, before, after)
    outcome.after = {**after, "target_iops": iops, "target_throughput": throughput}
    return outcome


# -- Elastic IPs and snapshots -----------------------------------------------------------------


def apply_release_address(ctx: ActionContext) -> ActionOutcome:
    """Release an Elastic IP that is associated with nothing."""
    ec2 = ctx.client("ec2")
    resource = ctx.finding.resource_id
    query = (
        {"AllocationIds": [resource]}
        if resource.startswith("eipalloc-")
        else {"PublicIps": [resource]}
    )
    try:
        addresses = ec2.describe_addresses(**query)["Addresses"]
    except ClientError as error:
        if error_code(error) in {"InvalidAllocationID.NotFound", "InvalidAddress.NotFound"}:
            raise AlreadyDone("address already released") from None
        raise
    if not addresses:
        raise AlreadyDone("address already released")
    address = addresses[0]
    before = {
        "public_ip": address.get("PublicIp"),
        "allocation_id": address.get("AllocationId"),
        "association_id": address.get("AssociationId"),
        "tags": _tags(address.get("Tags")),
    }
    _check_protected(ctx, before["tags"])
    if before["association_id"]:
        raise Skip(
            "address associated with "
            f"{address.get('InstanceId') or address.get('NetworkInterfaceId')} since detection"
        )
    _write(ctx, ec2, "release_address", AllocationId=address["AllocationId"])
    return _outcome(ctx, before, before if ctx.dry_run else {})


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


def apply_delete_snapshot(ctx: ActionContext) -> ActionOutcome:
    """Delete a stale snapshot that no AMI uses."""
    ec2 = ctx.client("ec2")
    try:
        snapshots = ec2.describe_snapshots(SnapshotIds=[ctx.finding.resource_id])["Snapshots"]
    except ClientError as error:
        if error_code(error) == "InvalidSnapshot.NotFound":
            raise AlreadyDone("snapshot already deleted") from None
        raise
    if not snapshots:
        raise AlreadyDone("snapshot already deleted")
    snapshot = snapshots[0]
    before = {
        "volume_id": snapshot.get("VolumeId"),
        "size_gib": snapshot.get("VolumeSize"),
        "start_time": str(snapshot.get("StartTime")),
        "tags": _tags(snapshot.get("Tags")),
    }
    _check_protected(ctx, before["tags"])
    user = _image_using(ec2, ctx.finding.resource_id)
    if user:
        raise Skip(f"snapshot is used by {user} since detection")
    try:
        _write(ctx, ec2, "delete_snapshot", SnapshotId=ctx.finding.resource_id)
    except ClientError as error:
        if error_code(error) != "InvalidSnapshot.NotFound":
            raise
    return _outcome(ctx, before, before if ctx.dry_run else {})


# -- S3 --------------------------------------------------------------------------------------

ABORT_RULE_ID = "finops-abort-incomplete-multipart"


def apply_abort_multipart_rule(ctx: ActionContext) -> ActionOutcome:
    """Add a lifecycle rule aborting incomplete multipart uploads, keeping the bucket's rules.

    S3 has no dry run: in dry-run the current configuration is read and the merged one shown.
    """
    s3 = ctx.client("s3")
    bucket = ctx.finding.resource_id
    try:
        tags = _tags(s3.get_bucket_tagging(Bucket=bucket).get("TagSet"))
    except ClientError as error:
        if error_code(error) == "NoSuchBucket":
            raise AlreadyDone("bucket no longer exists") from None
        if error_code(error) != "NoSuchTagSet":
            raise
        tags = {}
    _check_protected(ctx, tags)
    try:
        rules = list(s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", []))
    except ClientError as error:
        if error_code(error) != "NoSuchLifecycleConfiguration":
            raise
        rules = []
    before = {"rules": rules}
    for rule in rules:
        whole_bucket = not (rule.get("Filter") or {}).get("Prefix") and not rule.get("Prefix")
        if (
            rule.get("Status") == "Enabled"
            and rule.get("AbortIncompleteMultipartUpload")
            and whole_bucket
        ):
            raise AlreadyDone(f"rule {rule.get('ID')!r} already aborts incomplete uploads")
    days = int(ctx.finding.evidence.get("abort_after_days", 7))
    new_rule = {
        "ID": ABORT_RULE_ID,
        "Filter": {"Prefix": ""},
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days},
    }
    merged = [r for r in rules if r.get("ID") != ABORT_RULE_ID] + [new_rule]
    if ctx.dry_run:
        return ActionOutcome(
            "dry_run", before, {"rules": merged}, reason="S3 has no dry run; not written"
        )
    response = s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": merged}
    )
    ctx.request_ids.append(str(response.get("ResponseMetadata", {}).get("RequestId", "")))
    after = s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    return ActionOutcome("succeeded", before, {"rules": after})


# -- tag for later -----------------------------------------------------------------------------
#
# One mark, four tagging APIs.  EC2 resources (instances, volumes, snapshots, addresses, NAT
# gateways) take ``CreateTags``/``DeleteTags`` with ``DryRun``.  Load balancers (ALB/NLB through
# elbv2 on the ARN, Classic through elb by name) and RDS instances (on the ARN) have tagging APIs
# without a dry run: in dry-run the resource and its tags are read (which proves it exists and
# that the role may read it) and the mark that would be written is reported, not written.


@dataclass(frozen=True)
class _Tagger:
    """How to read and write the tags of one kind of resource."""

    kind: str
    read: Callable[[ActionContext], dict[str, Any]]  # {"tags": ..., ...}; AlreadyDone if gone
    add: Callable[[ActionContext, dict[str, Any], str, str], None]
    remove: Callable[[ActionContext, dict[str, Any], str], None]
    dry_run_api: bool  # the write API takes DryRun=True


def _record_request(ctx: ActionContext, response: dict[str, Any]) -> None:
    request_id = response.get("ResponseMetadata", {}).get("RequestId")
    if request_id:
        ctx.request_ids.append(str(request_id))


def _ec2_read(ctx: ActionContext) -> dict[str, Any]:
    resource = ctx.finding.resource_id
    if resource.startswith("i-"):
        return {"tags": _instance_state(_instance(ctx))["tags"]}
    if resource.startswith("vol-"):
        return {"tags": _volume_state(_volume(ctx))["tags"]}
    if resource.startswith("nat-"):
        return _nat_read(ctx)
    ec2 = ctx.client("ec2")
    try:
        tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource]}])["Tags"]
    except ClientError as error:
        raise Skip(f"cannot read tags of {resource}: {error_code(error)}") from None
    return {"tags": {t["Key"]: t["Value"] for t in tags}}


def _nat_read(ctx: ActionContext) -> dict[str, Any]:
    try:
        gateways = ctx.client("ec2").describe_nat_gateways(NatGatewayIds=[ctx.finding.resource_id])[
            "NatGateways"
        ]
    except ClientError as error:
        if error_code(error) in {"NatGatewayNotFound", "InvalidNatGatewayID.NotFound"}:
            raise AlreadyDone("NAT gateway no longer exists") from None
        raise
    if not gateways or gateways[0].get("State") in {"deleting", "deleted"}:
        raise AlreadyDone("NAT gateway no longer exists")
    return {"state": gateways[0].get("State"), "tags": _tags(gateways[0].get("Tags"))}


def _ec2_add(ctx: ActionContext, state: dict[str, Any], key: str, value: str) -> None:
    _write(
        ctx,
        ctx.client("ec2"),
        "create_tags",
        Resources=[ctx.finding.resource_id],
        Tags=[{"Key": key, "Value": value}],
    )


def _ec2_remove(ctx: ActionContext, state: dict[str, Any], key: str) -> None:
    _write(
        ctx,
        ctx.client("ec2"),
        "delete_tags",
        Resources=[ctx.finding.resource_id],
        Tags=[{"Key": key}],
    )


def _is_classic(finding: Finding) -> bool:
    kind = str(finding.evidence.get("kind", ""))
    if kind:
        return kind == "classic"
    # elbv2 ARNs name the type: loadbalancer/app/<name>/<id> or loadbalancer/net/<name>/<id>
    return not any(t in finding.resource_arn for t in (":loadbalancer/app/", ":loadbalancer/net/"))


def _elb_read(ctx: ActionContext) -> dict[str, Any]:
    name = ctx.finding.resource_id
    classic = _is_classic(ctx.finding)
    client = ctx.client("elb" if classic else "elbv2")
    try:
        if classic:
            found = client.describe_load_balancers(LoadBalancerNames=[name])
            descriptions = found["LoadBalancerDescriptions"]
        else:
            descriptions = client.describe_load_balancers(Names=[name])["LoadBalancers"]
    except ClientError as error:
        if error_code(error) in {"LoadBalancerNotFound", "AccessPointNotFound"}:
            raise AlreadyDone("load balancer no longer exists") from None
        raise
    if not descriptions:
        raise AlreadyDone("load balancer no longer exists")
    if classic:
        tagged = client.describe_tags(LoadBalancerNames=[name])["TagDescriptions"]
        return {"type": "classic", "tags": _tags(tagged[0].get("Tags") if tagged else [])}
    arn = descriptions[0]["LoadBalancerArn"]
    tagged = client.describe_tags(ResourceArns=[arn])["TagDescriptions"]
    return {
        "type": descriptions[0].get("Type"),
        "arn": arn,
        "state": descriptions[0].get("State", {}).get("Code"),
        "tags": _tags(tagged[0].get("Tags") if tagged else []),
    }


def _elb_add(ctx: ActionContext, state: dict[str, Any], key: str, value: str) -> None:
    if state["type"] == "classic":
        response = ctx.client("elb").add_tags(
            LoadBalancerNames=[ctx.finding.resource_id], Tags=[{"Key": key, "Value": value}]
        )
    else:
        response = ctx.client("elbv2").add_tags(
            ResourceArns=[state["arn"]], Tags=[{"Key": key, "Value": value}]
        )
    _record_request(ctx, response)


def _elb_remove(ctx: ActionContext, state: dict[str, Any], key: str) -> None:
    if state["type"] == "classic":
        response = ctx.client("elb").remove_tags(
            LoadBalancerNames=[ctx.finding.resource_id], Tags=[{"Key": key}]
        )
    else:
        response = ctx.client("elbv2").remove_tags(ResourceArns=[state["arn"]], TagKeys=[key])
    _record_request(ctx, response)


def _db_instance(ctx: ActionContext) -> dict[str, Any]:
    try:
        found = ctx.client("rds").describe_db_instances(
            DBInstanceIdentifier=ctx.finding.resource_id
        )["DBInstances"]
    except ClientError as error:
        if error_code(error) in {"DBInstanceNotFound", "DBInstanceNotFoundFault"}:
            raise AlreadyDone("DB instance no longer exists") from None
        raise
    if not found or found[0].get("DBInstanceStatus") in {"deleting", "deleted"}:
        raise AlreadyDone("DB instance no longer exists")
    return dict(found[0])


def _rds_read(ctx: ActionContext) -> dict[str, Any]:
    db = _db_instance(ctx)
    arn = db["DBInstanceArn"]
    tags = ctx.client("rds").list_tags_for_resource(ResourceName=arn)["TagList"]
    return {
        "arn": arn,
        "status": db.get("DBInstanceStatus"),
        "db_class": db.get("DBInstanceClass"),
        "engine": db.get("Engine"),
        "tags": _tags(tags),
    }


def _rds_add(ctx: ActionContext, state: dict[str, Any], key: str, value: str) -> None:
    response = ctx.client("rds").add_tags_to_resource(
        ResourceName=state["arn"], Tags=[{"Key": key, "Value": value}]
    )
    _record_request(ctx, response)


def _rds_remove(ctx: ActionContext, state: dict[str, Any], key: str) -> None:
    response = ctx.client("rds").remove_tags_from_resource(ResourceName=state["arn"], TagKeys=[key])
    _record_request(ctx, response)


_EC2_TAGGER = _Tagger("EC2 resource", _ec2_read, _ec2_add, _ec2_remove, dry_run_api=True)
_ELB_TAGGER = _Tagger("load balancer", _elb_read, _elb_add, _elb_remove, dry_run_api=False)
_RDS_TAGGER = _Tagger("DB instance", _rds_read, _rds_add, _rds_remove, dry_run_api=False)

#: Resource ids that ``tag_for_later`` tags through EC2's tagging API.
EC2_TAGGABLE = ("i-", "vol-", "snap-", "eipalloc-", "nat-", "ami-")
#: Checks whose resources are tagged through their own service (ids are names, not prefixes).
TAGGABLE_CHECKS = ("elb-idle", "nat-idle", "rds-idle")


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


def apply_tag_for_later(ctx: ActionContext) -> ActionOutcome:
    """Mark the resource with ``finops:action-due=<action>@<date>``; the action runs when due.

    The mark tells the owner what will happen and when (``review`` when the check has no
    automatic follow-up).  A later run acts when the date has passed and the finding still
    holds, and removes the mark (:func:`remove_mark`) when the resource was used again (its
    finding resolved).  A resource already marked for the same action keeps its date: a rerun
    does not push the deadline.  Works for EC2 resources and NAT gateways (EC2 tags, with
    DryRun), load balancers (elbv2 on the ARN, Classic by name) and RDS instances (on the ARN);
    the last two have no dry run, so in dry-run the resource is read and the mark reported.

    Example:
        >>> apply_tag_for_later(ActionContext(finding, client, follow_up="stop"))  # doctest: +SKIP
    """
    tagger = _tagger(ctx.finding)
    if tagger is None:
        raise Skip(f"tagging {ctx.finding.resource_type} resources is not supported")
    state = tagger.read(ctx)
    tags = state["tags"]
    _check_protected(ctx, tags)
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
    return _outcome(ctx, before, after, due_at=due_at)


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
    return _outcome(ctx, before, after)


# -- RDS ---------------------------------------------------------------------------------------

#: Days after which RDS starts a stopped DB instance again by itself (AWS RDS User Guide,
#: "Stopping an Amazon RDS DB instance temporarily").
RDS_AUTO_START_DAYS = 7


def _check_db_not_busy(ctx: ActionContext) -> None:
    """Skip a DB instance that had connections since it was detected idle (one metric call)."""
    since = max(ctx.finding.detected_at, ctx.now - timedelta(days=1))
    if ctx.now - since < timedelta(hours=1):
        since = ctx.now - timedelta(hours=1)
    thresholds = ctx.finding.evidence.get("thresholds", {})
    allowed = float(thresholds.get("max_connections_at_most", 0) or 0)
    datapoints = ctx.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/RDS",
        MetricName="DatabaseConnections",
        Dimensions=[{"Name": "DBInstanceIdentifier", "Value": ctx.finding.resource_id}],
        StartTime=since,
        EndTime=ctx.now + timedelta(minutes=5),
        Period=3600,
        Statistics=["Maximum"],
    )["Datapoints"]
    peak = max((float(d["Maximum"]) for d in datapoints), default=0.0)
    if peak > allowed:
        raise Skip(
            f"database busy again: {peak:.0f} connections since detection (idle means <= "
            f"{allowed:.0f})"
        )


def apply_stop_db_instance(ctx: ActionContext) -> ActionOutcome:
    """Stop an idle RDS DB instance (storage, snapshots and endpoint stay; reversible by a start).

    RDS starts a stopped instance again by itself after 7 days; the outcome says when, so the
    owner knows the saving is temporary unless the instance is stopped again or removed.  RDS
    has no dry run: in dry-run the instance is read and the stop is reported, not sent.

    Example:
        >>> apply_stop_db_instance(ActionContext(finding, client))  # doctest: +SKIP
    """
    state = _rds_read(ctx)
    before = {k: v for k, v in state.items() if k != "arn"}
    _check_protected(ctx, state["tags"])
    if state["status"] in {"stopped", "stopping"}:
        raise AlreadyDone(f"DB instance already {state['status']}")
    if state["status"] != "available":
        raise Skip(f"DB instance is {state['status']}; stop needs available")
    _check_db_not_busy(ctx)
    restart = (ctx.now + timedelta(days=RDS_AUTO_START_DAYS)).date().isoformat()
    note = (
        f"RDS starts a stopped DB instance again by itself after {RDS_AUTO_START_DAYS} days "
        f"(about {restart})"
    )
    if ctx.dry_run:
        return ActionOutcome(
            "dry_run",
            before,
            {**before, "auto_start_after": restart},
            reason=f"RDS StopDBInstance has no dry run; instance read, not stopped. {note}",
        )
    try:
        response = ctx.client("rds").stop_db_instance(DBInstanceIdentifier=ctx.finding.resource_id)
    except ClientError as error:
        # stopped by someone between the read and the call: the end state is reached
        if error_code(error) == "InvalidDBInstanceState" and _db_instance(ctx).get(
            "DBInstanceStatus"
        ) in {"stopped", "stopping"}:
            raise AlreadyDone("DB instance already stopped") from None
        raise
    _record_request(ctx, response)
    status = response.get("DBInstance", {}).get("DBInstanceStatus", "stopping")
    after = {**before, "status": status, "auto_start_after": restart}
    return ActionOutcome("succeeded", before, after, reason=note)


# -- registry ----------------------------------------------------------------------------------

_READ_EC2 = ("ec2:DescribeInstances", "ec2:DescribeVolumes", "ec2:DescribeTags")

ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec(
            "stop",
            apply_stop_instance,
            ("i-",),
            frozenset({"running"}),
            ("ec2:DescribeInstances", "cloudwatch:GetMetricStatistics", "ec2:StopInstances"),
            "Stop the instance.",
        ),
        ActionSpec(
            "stop_with_image",
            apply_stop_with_image,
            ("i-",),
            frozenset({"running"}),
            (
                "ec2:DescribeInstances",
                "cloudwatch:GetMetricStatistics",
                "ec2:DescribeImages",
                "ec2:CreateImage",
                "ec2:CreateTags",
                "ec2:StopInstances",
            ),
            "Create an AMI (no reboot), then stop the instance.",
        ),
        ActionSpec(
            "terminate",
            apply_terminate_instance,
            ("i-",),
            frozenset({"running", "stopped"}),
            (
                "ec2:DescribeInstances",
                "cloudwatch:GetMetricStatistics",
                "ec2:DescribeImages",
                "ec2:CreateImage",
                "ec2:CreateTags",
                "ec2:TerminateInstances",
            ),
            "Create a backup AMI, wait for it, then terminate the instance.",
            explicit_only=True,
        ),
        ActionSpec(
            "snapshot_and_delete",
            apply_snapshot_and_delete_volume,
            ("vol-",),
            frozenset({"available"}),
            (
                "ec2:DescribeVolumes",
                "ec2:DescribeSnapshots",
                "ec2:CreateSnapshot",
                "ec2:CreateTags",
                "ec2:DeleteVolume",
            ),
            "Snapshot the volume, wait for the snapshot to complete, delete the volume.",
        ),
        ActionSpec(
            "delete",
            apply_delete_volume,
            ("vol-",),
            frozenset({"available"}),
            ("ec2:DescribeVolumes", "ec2:DeleteVolume"),
            "Delete the volume without a backup.",
        ),
        ActionSpec(
            "modify_to_gp3",
            apply_modify_to_gp3,
            ("vol-",),
            frozenset({"available", "in-use"}),
            ("ec2:DescribeVolumes", "ec2:ModifyVolume"),
            "Change gp2 to gp3 in place with matching IOPS and throughput.",
        ),
        ActionSpec(
            "release",
            apply_release_address,
            ("eipalloc-", ""),
            frozenset({"unassociated"}),
            ("ec2:DescribeAddresses", "ec2:ReleaseAddress"),
            "Release the Elastic IP.",
        ),
        ActionSpec(
            "delete_snapshot",
            apply_delete_snapshot,
            ("snap-",),
            frozenset({"completed"}),
            ("ec2:DescribeSnapshots", "ec2:DescribeImages", "ec2:DeleteSnapshot"),
            "Delete the stale snapshot.",
        ),
        ActionSpec(
            "add_abort_multipart_rule",
            apply_abort_multipart_rule,
            ("",),
            frozenset({"any"}),
            ("s3:GetBucketTagging", "s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration"),
            "Add an abort-incomplete-multipart-upload lifecycle rule (merged with existing rules).",
        ),
        ActionSpec(
            "tag_for_later",
            apply_tag_for_later,
            EC2_TAGGABLE,
            frozenset({"any"}),
            (
                *_READ_EC2,
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
            "Tag the resource with the action and its due date; act when due, unmark if used.",
            checks=TAGGABLE_CHECKS,
        ),
        ActionSpec(
            "stop_db_instance",
            apply_stop_db_instance,
            (),
            frozenset({"available"}),
            (
                "rds:DescribeDBInstances",
                "rds:ListTagsForResource",
                "cloudwatch:GetMetricStatistics",
                "rds:StopDBInstance",
            ),
            "Stop the DB instance (RDS starts it again by itself after 7 days).",
            checks=("rds-idle",),
        ),
    )
}


def required_permissions() -> list[str]:
    """Every IAM action the remediation adapters call, sorted (the Terraform policy's list).

    Example:
        >>> "ec2:DeleteVolume" in required_permissions()
        True
    """
    return sorted({p for spec in ACTIONS.values() for p in spec.permissions})
