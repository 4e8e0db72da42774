"""The remediation adapters against a real moto server: re-check, act once, dry-run, backups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tasks.remediation.actions import (
    ACTIONS,
    MARK_TAG,
    ActionContext,
    ActionOutcome,
    AlreadyDone,
    Skip,
    gp3_target,
    remove_mark,
    required_permissions,
)
from tasks.remediation.engine import carry_out
from tests.plugins.remediation import AwsWorld


def run(action: str, ctx: ActionContext) -> ActionOutcome:
    """Carry out a registered action as the engine does (state checks first)."""
    return carry_out(ACTIONS[action], ctx)


def context(world: AwsWorld, finding: Any, dry_run: bool = False, **kw: Any) -> ActionContext:
    return ActionContext(finding=finding, client=world.client, dry_run=dry_run, **kw)


def cpu(world: AwsWorld, instance: str, percent: float, at: datetime | None = None) -> None:
    """One hourly CPU datapoint, as CloudWatch has for every running instance (the re-check
    before a stop needs evidence since detection: no datapoints means skip)."""
    world.client("cloudwatch").put_metric_data(
        Namespace="AWS/EC2",
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "InstanceId", "Value": instance}],
                "Timestamp": (at or datetime.now(UTC)) - timedelta(minutes=10),
                "Value": percent,
                "Unit": "Percent",
            }
        ],
    )


def test_snapshot_then_delete_keeps_one_backup_even_when_retried(remediation_aws: AwsWorld) -> None:
    world = remediation_aws
    volume = world.volume()
    saved: dict[str, Any] = {}
    ctx = context(world, world.finding("ebs-unattached", volume), save_checkpoint=saved.__setitem__)
    outcome = run("snapshot_and_delete", ctx)
    assert outcome.result == "succeeded"
    assert world.volume_state(volume) is None
    snapshots = world.backup_snapshots(volume)
    assert snapshots == [outcome.backup_ids["snapshot_id"]] == [saved["snapshot_id"]]
    assert ctx.request_ids, "the AWS request ids go to the audit trail"
    # A rerun after a crash (checkpoint saved, volume gone) is "already done", no new snapshot.
    again = run(
        "snapshot_and_delete",
        context(world, world.finding("ebs-unattached", volume), checkpoints=dict(saved)),
    )
    assert again.result == "succeeded" and "already deleted" in again.reason
    assert world.backup_snapshots(volume) == snapshots


def test_crash_between_snapshot_and_delete_reuses_the_snapshot(remediation_aws: AwsWorld) -> None:
    world = remediation_aws
    volume = world.volume()
    ec2 = world.client("ec2")
    # The first attempt took its snapshot, then died before deleting the volume.
    first = ec2.create_snapshot(
        VolumeId=volume,
        TagSpecifications=[
            {"ResourceType": "snapshot", "Tags": [{"Key": "finops:backup-of", "Value": volume}]}
        ],
    )["SnapshotId"]
    outcome = run("snapshot_and_delete", context(world, world.finding("ebs-unattached", volume)))
    assert outcome.backup_ids == {"snapshot_id": first}
    assert world.backup_snapshots(volume) == [first]
    assert world.volume_state(volume) is None


def test_attached_or_protected_volume_is_skipped_with_reason(remediation_aws: AwsWorld) -> None:
    world = remediation_aws
    attached = world.volume()
    instance = world.instance()
    world.client("ec2").attach_volume(VolumeId=attached, InstanceId=instance, Device="/dev/sdf")
    with pytest.raises(Skip, match=f"attached to {instance}"):
        run("delete", context(world, world.finding("ebs-unattached", attached)))
    protected = world.volume(tags={"finops:protected": "true"})
    with pytest.raises(Skip, match="protected tag finops:protected=true"):
        run("snapshot_and_delete", context(world, world.finding("ebs-unattached", protected)))
    assert world.volume_state(attached) == "in-use" and world.volume_state(protected) == "available"
    assert world.backup_snapshots(protected) == []


def test_dry_run_proves_permission_and_changes_nothing(remediation_aws: AwsWorld) -> None:
    world = remediation_aws
    instance = world.instance()
    cpu(world, instance, 1.0)
    volume = world.volume()
    stop = context(world, world.finding("ec2-idle", instance), dry_run=True)
    assert run("stop", stop).result == "dry_run"
    assert stop.proven == ["stop_instances"]
    snap = context(world, world.finding("ebs-unattached", volume), dry_run=True)
    assert run("snapshot_and_delete", snap).result == "dry_run"
    assert snap.proven == ["create_snapshot", "delete_volume"]
    assert world.instance_state(instance) == "running"
    assert world.volume_state(volume) == "available" and world.backup_snapshots(volume) == []


def test_stop_is_idempotent_and_skips_a_busy_instance(remediation_aws: AwsWorld) -> None:
    world = remediation_aws
    instance = world.instance()
    cpu(world, instance, 1.0)
    outcome = run("stop", context(world, world.finding("ec2-idle", instance)))
    assert outcome.before["state"] == "running" and outcome.after["state"] == "stopped"
    with pytest.raises(AlreadyDone, match="already stopped"):
        run("stop", context(world, world.finding("ec2-idle", instance)))

    busy = world.instance()
    cpu(world, busy, 87.0)
    with pytest.raises(Skip, match="busy again: hourly CPU 87%"):
        run("stop", context(world, world.finding("ec2-idle", busy)))
    assert world.instance_state(busy) == "running"


def test_terminate_takes_a_backup_image_first(remediation_aws: AwsWorld) -> None:
    world = remediation_aws
    instance = world.instance()
    cpu(world, instance, 1.0)
    outcome = run("terminate", context(world, world.finding("ec2-stopped", instance)))
    image_id = outcome.backup_ids["image_id"]
    image = world.client("ec2").describe_images(ImageIds=[image_id])["Images"][0]
    assert {"Key": "finops:backup-of", "Value": instance} in image["Tags"]
    assert world.instance_state(instance) in {"shutting-down", "terminated"}
    assert ACTIONS["terminate"].explicit_only


def test_gp2_to_gp3_matches_iops_and_throughput(remediation_aws: AwsWorld) -> None:
    world = remediation_aws
    volume = world.volume(size=2000)
    outcome = run("modify_to_gp3", context(world, world.finding("ebs-gp2", volume)))
    after = world.client("ec2").describe_volumes(VolumeIds=[volume])["Volumes"][0]
    assert (after["VolumeType"], after["Iops"], after["Throughput"]) == ("gp3", 6000, 250)
    assert outcome.before["volume_type"] == "gp2"
    with pytest.raises(AlreadyDone):
        run("modify_to_gp3", context(world, world.finding("ebs-gp2", volume)))
    assert gp3_target(50, 150) == (3000, 128)
    assert gp3_target(6000, 16000) == (16000, 250)


def test_release_address_unless_associated(remediation_aws: AwsWorld) -> None:
    world = remediation_aws
    ec2 = world.client("ec2")
    free = ec2.allocate_address(Domain="vpc")["AllocationId"]
    used = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=used, InstanceId=world.instance())
    run("release", context(world, world.finding("eip-unassociated", free)))
    with pytest.raises(AlreadyDone):
        run("release", context(world, world.finding("eip-unassociated", free)))
    with pytest.raises(Skip, match="associated"):
        run("release", context(world, world.finding("eip-unassociated", used)))
    left = ec2.describe_addresses(AllocationIds=[used])["Addresses"]
    assert [a["AllocationId"] for a in left] == [used]


def test_delete_snapshot_unless_an_image_uses_it(remediation_aws: AwsWorld) -> None:
    world = remediation_aws
    ec2 = world.client("ec2")
    volume = world.volume(size=8)
    stale = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    image = ec2.create_image(InstanceId=world.instance(), Name="golden")["ImageId"]
    mappings = ec2.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"]
    in_use = mappings[0]["Ebs"]["SnapshotId"]
    run("delete_snapshot", context(world, world.finding("snapshot-stale", stale)))
    with pytest.raises(AlreadyDone):
        run("delete_snapshot", context(world, world.finding("snapshot-stale", stale)))
    with pytest.raises(Skip, match="used by ami-"):
        run("delete_snapshot", context(world, world.finding("snapshot-stale", in_use)))


def test_abort_multipart_rule_is_merged_with_existing_rules(remediation_aws: AwsWorld) -> None:
    world = remediation_aws
    s3 = world.client("s3")
    s3.create_bucket(Bucket="logs-bucket")
    existing = {
        "ID": "expire-logs",
        "Filter": {"Prefix": "logs/"},
        "Status": "Enabled",
        "Expiration": {"Days": 30},
    }
    s3.put_bucket_lifecycle_configuration(
        Bucket="logs-bucket", LifecycleConfiguration={"Rules": [existing]}
    )
    finding = world.finding("s3-stale-multipart", "logs-bucket")
    dry = run("add_abort_multipart_rule", context(world, finding, dry_run=True))
    assert dry.result == "dry_run"
    assert len(s3.get_bucket_lifecycle_configuration(Bucket="logs-bucket")["Rules"]) == 1
    outcome = run("add_abort_multipart_rule", context(world, finding))
    rules = {
        r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket="logs-bucket")["Rules"]
    }
    assert set(rules) == {"expire-logs", "finops-abort-incomplete-multipart"}
    assert rules["finops-abort-incomplete-multipart"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 7
    }
    assert outcome.before["rules"][0]["ID"] == "expire-logs"
    with pytest.raises(AlreadyDone):
        run("add_abort_multipart_rule", context(world, finding))


def test_tag_for_later_marks_with_a_date_and_unmarks(remediation_aws: AwsWorld) -> None:
    world = remediation_aws
    instance = world.instance()
    now = datetime(2026, 11, 20, 9, tzinfo=UTC)
    ctx = context(
        world, world.finding("ec2-idle", instance), follow_up="stop", mark_days=7, now=now
    )
    outcome = run("tag_for_later", ctx)
    assert outcome.due_at == datetime(2026, 11, 27, tzinfo=UTC)
    tags = world.client("ec2").describe_tags(
        Filters=[{"Name": "resource-id", "Values": [instance]}]
    )["Tags"]
    assert {t["Key"]: t["Value"] for t in tags}[MARK_TAG] == "stop@2026-11-27"
    remove_mark(context(world, world.finding("ec2-idle", instance)))
    tags = world.client("ec2").describe_tags(
        Filters=[{"Name": "resource-id", "Values": [instance]}]
    )["Tags"]
    assert MARK_TAG not in {t["Key"] for t in tags}


def test_every_action_declares_the_permissions_it_calls() -> None:
    permissions = required_permissions()
    for needed in [
        "ec2:StopInstances",
        "ec2:CreateImage",
        "ec2:TerminateInstances",
        "ec2:CreateSnapshot",
        "ec2:DeleteVolume",
        "ec2:ModifyVolume",
        "ec2:ReleaseAddress",
        "ec2:DeleteSnapshot",
        "s3:PutLifecycleConfiguration",
        "ec2:CreateTags",
        "ec2:DeleteTags",
        "elasticloadbalancing:AddTags",
        "elasticloadbalancing:RemoveTags",
        "rds:AddTagsToResource",
        "rds:RemoveTagsFromResource",
        "rds:StopDBInstance",
    ]:
        assert needed in permissions
    assert all(spec.permissions for spec in ACTIONS.values())


def test_marks_act_when_due_and_unmark_when_used_again(remediation_aws: AwsWorld) -> None:
    from tasks.aws.session import AwsAccess
    from tasks.findings.model import FindingStatus
    from tasks.findings.store import FindingsStore
    from tasks.remediation.approval import ApprovalDecision
    from tasks.remediation.audit import AuditLog
    from tasks.remediation.engine import Remediator
    from tasks.remediation.ledger import RemediationLedger
    from tasks.settings import load_settings

    world = remediation_aws
    settings = load_settings()
    store = FindingsStore(settings.findings_url)
    ledger = RemediationLedger(settings.findings_url)
    still_idle, used_again = world.instance(), world.instance()
    idle_finding = world.finding("ec2-idle", still_idle)
    used_finding = world.finding("ec2-idle", used_again)
    store.record_scan([idle_finding, used_finding])
    clock = [datetime.now(UTC)]
    engine = Remediator(
        settings,
        store,
        ledger,
        AuditLog(settings.audit_log_url),
        AwsAccess(settings.aws).client,
        "run-1",
        dry_run=False,
        now=lambda: clock[0],
    )
    decision = ApprovalDecision(
        "approved",
        "Ana",
        "mark first",
        {idle_finding.fingerprint: "tag_for_later", used_finding.fingerprint: "tag_for_later"},
    )
    marked = engine.execute(engine.record_approval(decision))
    assert [r.result for r in marked] == ["marked", "marked"]

    def mark_of(instance: str) -> str | None:
        tags = world.client("ec2").describe_tags(
            Filters=[{"Name": "resource-id", "Values": [instance]}]
        )["Tags"]
        return {t["Key"]: t["Value"] for t in tags}.get(MARK_TAG)

    assert mark_of(still_idle) == f"stop@{(clock[0] + timedelta(days=7)).date().isoformat()}"
    assert engine.process_marks() == []  # not due yet, nothing changed
    assert world.instance_state(still_idle) == "running"

    # The next scan no longer sees the second instance (it is used again) ...
    store.record_scan([idle_finding], scope=[("ec2-idle", world.account_id, world.region)])
    # ... and a week later the first one's mark is due (and it stayed idle that week).
    clock[0] += timedelta(days=8)
    cpu(world, still_idle, 1.0, at=clock[0])
    results = {r.resource_id: r for r in engine.process_marks()}
    assert (results[still_idle].action, results[still_idle].result) == ("stop", "succeeded")
    assert (results[used_again].action, results[used_again].result) == ("remove_mark", "succeeded")
    assert world.instance_state(still_idle) == "stopped"
    assert world.instance_state(used_again) == "running" and mark_of(used_again) is None
    assert store.get(idle_finding.fingerprint).status is FindingStatus.REMEDIATED
    assert store.get(used_finding.fingerprint).status is FindingStatus.RESOLVED
    assert ledger.marked() == [] and engine.process_marks() == []


def test_no_cpu_datapoints_since_detection_is_no_proof_of_idle(remediation_aws: AwsWorld) -> None:
    """An instance CloudWatch says nothing about is left running, live or dry-run."""
    world = remediation_aws
    silent = world.instance()
    for action in ("stop", "stop_with_image", "terminate"):
        for dry_run in (True, False):
            ctx = context(world, world.finding("ec2-idle", silent), dry_run=dry_run)
            with pytest.raises(Skip) as skipped:
                run(action, ctx)
            assert str(skipped.value) == "no CPU datapoints since detection: cannot confirm idle"
            assert ctx.request_ids == []  # nothing was sent
    assert world.instance_state(silent) == "running"
    images = world.client("ec2").describe_images(
        Owners=["self"], Filters=[{"Name": "tag:finops:backup-of", "Values": [silent]}]
    )["Images"]
    assert images == []


def test_no_connection_datapoints_leave_a_db_running(remediation_aws: AwsWorld) -> None:
    world = remediation_aws
    rds = world.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="orders-db",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="admin",
        MasterUserPassword="not-a-secret-1",
        AllocatedStorage=20,
    )
    finding = world.finding("rds-idle", "orders-db", resource_type="rds")
    with pytest.raises(Skip, match="no DatabaseConnections datapoints since detection"):
        run("stop_db_instance", context(world, finding))
    status = rds.describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"][0]
    assert status["DBInstanceStatus"] == "available"
