"""Tag-for-later on load balancers, NAT gateways and RDS, and stopping idle RDS, in the sandbox.

The module's own seeded sandbox (``remediation_sandbox``: started once for the module, since the
tests change its resources) holds ALB/NLB/Classic load balancers, NAT gateways and RDS
instances in each account; findings are built from its ground truth.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tasks.aws.session import AwsAccess
from tasks.findings.model import Finding, FindingStatus
from tasks.findings.store import FindingsStore
from tasks.idle.checks import CHECKS
from tasks.remediation.actions import (
    ACTIONS,
    MARK_TAG,
    ActionContext,
    ActionOutcome,
    AlreadyDone,
    Skip,
)
from tasks.remediation.approval import ApprovalDecision
from tasks.remediation.audit import AuditLog
from tasks.remediation.engine import Remediator, carry_out
from tasks.remediation.ledger import RemediationLedger
from tasks.remediation.menu import FOLLOW_UP, menu_for
from tasks.settings import load_settings
from tests.plugins.remediation import AwsWorld


def run(action: str, ctx: ActionContext) -> ActionOutcome:
    """Carry out a registered action as the engine does (state checks first)."""
    return carry_out(ACTIONS[action], ctx)


def tags_of(world: AwsWorld, finding: Finding) -> dict[str, str]:
    """The resource's tags as its own service reports them."""
    if finding.check == "elb-idle":
        if ":loadbalancer/app/" in finding.resource_arn or ":loadbalancer/net/" in (
            finding.resource_arn
        ):
            described = world.client("elbv2").describe_tags(ResourceArns=[finding.resource_arn])
        else:
            described = world.client("elb").describe_tags(LoadBalancerNames=[finding.resource_id])
        items = described["TagDescriptions"][0].get("Tags", [])
    elif finding.check == "rds-idle":
        items = world.client("rds").list_tags_for_resource(ResourceName=finding.resource_arn)[
            "TagList"
        ]
    else:
        items = (
            world.client("ec2")
            .describe_nat_gateways(NatGatewayIds=[finding.resource_id])["NatGateways"][0]
            .get("Tags", [])
        )
    return {t["Key"]: t["Value"] for t in items}


def live(finding: Finding, world: AwsWorld) -> ActionContext:
    """An adapter context that acts (contexts are dry-run unless told otherwise)."""
    return ActionContext(finding=finding, client=world.client, dry_run=False)


def db_status(world: AwsWorld, db_id: str) -> str:
    found = world.client("rds").describe_db_instances(DBInstanceIdentifier=db_id)["DBInstances"]
    return str(found[0]["DBInstanceStatus"])


#: Resources taken in the management account (load balancer and DB ids are names, the same in
#: every account, so each account needs its own record of what a test already changed).
_MANAGEMENT_TAKEN: set[str] = set()


def management(member: AwsWorld) -> AwsWorld:
    """The sandbox's management account, for a second resource of each profile."""
    return AwsWorld(
        member.endpoint_url,
        account_id=member.ground_truth["accounts"][0],
        ground_truth=member.ground_truth,
        taken=_MANAGEMENT_TAKEN,
    )


def engine_for(clock: list[datetime], run_id: str, dry_run: bool = False) -> Remediator:
    settings = load_settings()
    return Remediator(
        settings,
        FindingsStore(settings.findings_url),
        RemediationLedger(settings.findings_url),
        AuditLog(settings.audit_log_url),
        AwsAccess(settings.aws).client,
        run_id,
        dry_run=dry_run,
        now=lambda: clock[0],
    )


def test_every_menu_action_can_be_carried_out_on_its_checks_resources() -> None:
    """A menu never offers an action that would end as "does not apply" (the demo's bug)."""
    from tasks.remediation.actions import ACTIONS

    samples = {
        "ec2-idle": "i-0abc",
        "ec2-stopped": "i-0abc",
        "ebs-unattached": "vol-0abc",
        "ebs-gp2": "vol-0abc",
        "ebs-idle": "vol-0abc",
        "snapshot-stale": "snap-0abc",
        "eip-unassociated": "eipalloc-0abc",
        "elb-idle": "shop-frontend",  # load balancers are named, not prefixed
        "nat-idle": "nat-0abc",
        "rds-idle": "orders-db",
        "s3-stale-multipart": "logs-bucket",
        "ec2-rightsize": "i-0abc",
        "ebs-rightsize": "vol-0abc",
    }
    assert set(samples) == set(CHECKS)
    for check, resource_id in samples.items():
        finding = Finding(
            check=check,
            account_id="111111111111",
            region="us-east-1",
            resource_id=resource_id,
            resource_arn=f"arn:aws:x:us-east-1:111111111111:{resource_id}",
            resource_type="x",
        )
        for action in CHECKS[check].actions:
            if action != "skip":
                assert ACTIONS[action].applies_to(finding), (check, action)
        follow_up = FOLLOW_UP.get(check)
        if follow_up:
            assert ACTIONS[follow_up].applies_to(finding), (check, follow_up)
    # One vocabulary: the check's menu is the approval menu; names no action has are not offered.
    rds = CHECKS["rds-idle"].actions
    assert menu_for("rds-idle", rds) == ("tag_for_later", "stop_db_instance", "skip")
    assert menu_for("rds-idle", ["snapshot_and_delete", "stop", "skip"]) == ("skip",)


def test_marks_on_load_balancers_nat_and_rds_then_unmark_or_act_when_due(
    remediation_sandbox: AwsWorld,
) -> None:
    world = remediation_sandbox
    alb = world.pick("alb-idle", "elb-idle")
    nlb = world.pick("nlb-idle", "elb-idle")
    clb = world.pick("clb-idle", "elb-idle")
    nat = world.pick("nat-idle", "nat-idle")
    db = world.pick("db-idle", "rds-idle")
    findings = [alb, nlb, clb, nat, db]
    store = FindingsStore(load_settings().findings_url)
    store.record_scan(findings)
    clock = [datetime.now(UTC)]
    engine = engine_for(clock, "run-marks")
    decision = ApprovalDecision(
        "approved", "Ana", "mark first", {f.fingerprint: "tag_for_later" for f in findings}
    )
    results = engine.execute(engine.record_approval(decision))
    assert [(r.resource_id, r.result) for r in results] == [
        (f.resource_id, "marked") for f in findings
    ]
    due = (clock[0] + timedelta(days=7)).date().isoformat()
    for finding in (alb, nlb, clb, nat):
        assert tags_of(world, finding)[MARK_TAG] == f"review@{due}", finding.resource_id
    assert tags_of(world, db)[MARK_TAG] == f"stop_db_instance@{due}"
    records = [r for r in AuditLog(load_settings().audit_log_url).read() if r.kind == "action"]
    assert {r.resource_id: r.result for r in records} == {f.resource_id: "marked" for f in findings}
    assert all(r.request_ids and r.after["tags"][MARK_TAG].endswith(due) for r in records)

    # A rerun a day later does not push the date: the mark is already there.
    again = run(
        "tag_for_later",
        ActionContext(
            finding=alb,
            client=world.client,
            dry_run=False,
            now=clock[0] + timedelta(days=1),
        ),
    )
    assert again.result == "already_done" and tags_of(world, alb)[MARK_TAG] == f"review@{due}"
    assert engine.process_marks() == []  # nothing is due, nothing resolved

    # The next scan no longer sees the ALB and the NAT gateway (used again) ...
    store.record_scan(
        [nlb, clb, db],
        scope=[(c, world.account_id, world.region) for c in ("elb-idle", "nat-idle", "rds-idle")],
    )
    unmarked = {r.resource_id: r for r in engine.process_marks()}
    assert {k: (r.action, r.result) for k, r in unmarked.items()} == {
        alb.resource_id: ("remove_mark", "succeeded"),
        nat.resource_id: ("remove_mark", "succeeded"),
    }
    assert MARK_TAG not in tags_of(world, alb) and MARK_TAG not in tags_of(world, nat)
    assert tags_of(world, nlb)[MARK_TAG] == f"review@{due}"

    # ... and a week later the others fall due: the DB is stopped, the review marks come off
    # and their findings are offered for a new decision.  The DB stayed without connections
    # that week (the re-check needs datapoints since detection; none would mean skip).
    clock[0] += timedelta(days=8)
    world.client("cloudwatch").put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": "DatabaseConnections",
                "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": db.resource_id}],
                "Timestamp": clock[0] - timedelta(minutes=10),
                "Value": 0.0,
                "Unit": "Count",
            }
        ],
    )
    acted = {r.resource_id: r for r in engine.process_marks()}
    assert (acted[db.resource_id].action, acted[db.resource_id].result) == (
        "stop_db_instance",
        "succeeded",
    )
    assert "after 7 days" in acted[db.resource_id].reason
    assert db_status(world, db.resource_id) in {"stopping", "stopped"}
    assert store.get(db.fingerprint).status is FindingStatus.REMEDIATED
    for finding in (nlb, clb):
        assert acted[finding.resource_id].action == "remove_mark"
        assert MARK_TAG not in tags_of(world, finding)
        assert store.get(finding.fingerprint).status is FindingStatus.OPEN
    assert engine.process_marks() == [] and engine.ledger.marked() == []


def test_stop_db_dry_run_then_live_and_a_busy_db_is_left_running(
    remediation_sandbox: AwsWorld,
) -> None:
    world = management(remediation_sandbox)
    idle = world.pick("db-idle", "rds-idle")
    dry = ActionContext(finding=idle, client=world.client, dry_run=True)
    preview = run("stop_db_instance", dry)
    assert preview.result == "dry_run" and "no dry run" in preview.reason
    assert "after 7 days" in preview.reason and preview.after["auto_start_after"]
    assert db_status(world, idle.resource_id) == "available"

    outcome = run("stop_db_instance", live(idle, world))
    assert (outcome.result, outcome.before["status"]) == ("succeeded", "available")
    assert outcome.after["status"] in {"stopping", "stopped"} and "after 7 days" in outcome.reason
    assert db_status(world, idle.resource_id) in {"stopping", "stopped"}
    with pytest.raises(AlreadyDone, match="already stop"):
        run("stop_db_instance", live(idle, world))

    # The busy DB has connections in the last day (the sandbox keeps its history current).
    busy = world.pick("db-busy", "rds-idle")
    with pytest.raises(Skip, match="database busy again"):
        run("stop_db_instance", live(busy, world))
    assert db_status(world, busy.resource_id) == "available"


def test_protected_after_detection_is_skipped_and_dry_run_marks_nothing(
    remediation_sandbox: AwsWorld,
) -> None:
    world = management(remediation_sandbox)
    alb = world.pick("alb-idle", "elb-idle")
    nat = world.pick("nat-idle", "nat-idle")
    clb = world.pick("clb-idle", "elb-idle")
    nlb = world.pick("nlb-idle", "elb-idle")
    db = remediation_sandbox.pick("db-busy", "rds-idle")  # the member account's
    store = FindingsStore(load_settings().findings_url)
    store.record_scan([alb, nat, clb, nlb, db])
    # While the approval waited, the owners protected two of them.
    protect = [{"Key": "finops:protected", "Value": "true"}]
    world.client("elbv2").add_tags(ResourceArns=[alb.resource_arn], Tags=protect)
    member_rds = remediation_sandbox.client("rds")
    member_rds.add_tags_to_resource(ResourceName=db.resource_arn, Tags=protect)
    clock = [datetime.now(UTC)]
    live = engine_for(clock, "run-protected")
    decision = ApprovalDecision(
        "approved",
        "Bo",
        "",
        {alb.fingerprint: "tag_for_later", db.fingerprint: "stop_db_instance"},
    )
    skipped = {r.resource_id: r for r in live.execute(live.record_approval(decision))}
    for finding in (alb, db):
        result = skipped[finding.resource_id]
        assert result.result == "skipped"
        assert "protected tag finops:protected=true" in result.reason
        assert store.get(finding.fingerprint).status is FindingStatus.OPEN
    assert MARK_TAG not in tags_of(world, alb)
    assert db_status(remediation_sandbox, db.resource_id) == "available"

    # Dry run (the default): every resource is read, nothing is written.
    before = {f.resource_id: tags_of(world, f) for f in (nat, clb, nlb)}
    dry = engine_for(clock, "run-dry", dry_run=True)
    decision = ApprovalDecision(
        "approved", "Cy", "", {f.fingerprint: "tag_for_later" for f in (nat, clb, nlb)}
    )
    results = {r.resource_id: r for r in dry.execute(dry.record_approval(decision))}
    assert {k: r.result for k, r in results.items()} == dict.fromkeys(before, "dry_run")
    assert "no dry run" in results[clb.resource_id].reason
    assert {f.resource_id: tags_of(world, f) for f in (nat, clb, nlb)} == before
    nat_record = [
        r
        for r in AuditLog(load_settings().audit_log_url).read()
        if r.kind == "action" and r.resource_id == nat.resource_id and r.dry_run
    ]
    # EC2 tagging has DryRun: the permission was proven by AWS, not only the read.
    assert nat_record[0].model_dump()["permissions_proven"] == ["create_tags"]
    assert store.get(nat.fingerprint).status is FindingStatus.OPEN


def test_marking_a_resource_that_is_gone_is_already_done_not_a_mark(
    remediation_sandbox: AwsWorld,
) -> None:
    world = management(remediation_sandbox)
    nat = world.pick("nat-busy", "nat-idle")
    FindingsStore(load_settings().findings_url).record_scan([nat])
    world.client("ec2").delete_nat_gateway(NatGatewayId=nat.resource_id)
    engine = engine_for([datetime.now(UTC)], "run-gone")
    decision = ApprovalDecision("approved", "Di", "", {nat.fingerprint: "tag_for_later"})
    (result,) = engine.execute(engine.record_approval(decision))
    assert (result.result, result.reason) == ("already_done", "NAT gateway no longer exists")
    assert engine.ledger.marked() == []
    store = FindingsStore(load_settings().findings_url)
    assert store.get(nat.fingerprint).status is FindingStatus.REMEDIATED
