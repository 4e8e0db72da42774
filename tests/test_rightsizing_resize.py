"""The ``resize`` action through the real remediate-findings flow, on findings a real scan stored:
approval through the Prefect API changes exactly that instance's type in the sandbox; a start
that fails on the new type rolls back to the old one, and the audit log shows every step."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tasks.findings.model import Finding, FindingStatus
from tasks.findings.store import FindingsStore
from tasks.settings import load_settings
from tests.plugins.remediation import AwsWorld
from tests.test_remediation_flow import (
    action_records,
    form_schema,
    label_for,
    resume_like_the_ui,
    start_flow,
    wait_until_paused,
)

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def world(remediation_sandbox: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsWorld]:
    monkeypatch.setenv("FINOPS_REMEDIATION__DRY_RUN", "false")
    yield remediation_sandbox


def scan_rightsizing() -> list[Finding]:
    """What ``finops scan --checks ec2-rightsize`` stores (the flow, into the findings store)."""
    from flows.scan_idle_resources import scan_idle_resources

    result = scan_idle_resources(checks=["ec2-rightsize"])
    assert result.errors == [], result.errors
    return result.findings


def over_provisioned(world: AwsWorld, findings: list[Finding], account_id: str) -> Finding:
    ids = {
        r["resource_id"]
        for r in world.ground_truth["resources"]
        if r["profile"] == "rs-over-provisioned" and r["account_id"] == account_id
    }
    (finding,) = [f for f in findings if f.resource_id in ids]
    return finding


def instance_types(world: AwsWorld, account_id: str) -> dict[str, str]:
    ec2 = world.client("ec2", account_id)
    return {
        i["InstanceId"]: i["InstanceType"]
        for page in ec2.get_paginator("describe_instances").paginate()
        for r in page["Reservations"]
        for i in r["Instances"]
    }


def approve(finding: Finding, paused_runs: set[str]) -> Any:
    run = start_flow(fingerprints=[finding.fingerprint], approval_timeout_s=300)
    run_id = wait_until_paused(run, paused_runs)
    schema = form_schema(run_id)
    label = label_for(schema, finding)
    resume_like_the_ui(
        run_id,
        {
            "decision": "approve",
            "findings": [label],
            "actions": [f"{label} -> resize"],
            "approver": "Ana Lima",
            "comment": "FIN-18",
        },
    )
    return run.wait()


def test_an_approved_resize_changes_exactly_that_instance(
    world: AwsWorld, paused_runs: set[str]
) -> None:
    findings = scan_rightsizing()
    finding = over_provisioned(world, findings, world.account_id)
    assert finding.evidence["recommended_type"] == "m5.large"
    accounts = sorted({f.account_id for f in findings})
    before = {a: instance_types(world, a) for a in accounts}

    summary = approve(finding, paused_runs)

    assert (summary.attempted, summary.succeeded, summary.failed) == (1, 1, 0)
    after = {a: instance_types(world, a) for a in accounts}
    expected = {a: dict(types) for a, types in before.items()}
    expected[world.account_id][finding.resource_id] = "m5.large"
    assert after == expected
    assert world.instance_state(finding.resource_id) == "running"
    (record,) = action_records(finding.fingerprint)
    assert (record.action, record.result, record.approver) == ("resize", "succeeded", "Ana Lima")
    steps = [s["step"] for s in record.after["steps"]]
    assert steps == [
        "stop (m5.2xlarge)",
        "modify m5.2xlarge -> m5.large",
        "start (m5.large)",
        "status checks (m5.large)",
    ]
    assert all(s["request_id"] for s in record.after["steps"] if s["step"] != steps[-1])
    assert record.before["instance_type"] == "m5.2xlarge"
    assert record.after["instance_type"] == "m5.large"
    store = FindingsStore(load_settings().findings_url)
    assert store.get(finding.fingerprint).status is FindingStatus.REMEDIATED


def test_a_failed_start_rolls_back_to_the_old_type_and_is_audited(
    world: AwsWorld, paused_runs: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    findings = scan_rightsizing()
    management = world.ground_truth["accounts"][0]
    finding = over_provisioned(world, findings, management)
    failures: list[str] = []
    real_call = BaseClient._make_api_call

    def start_fails_once_on_the_new_type(self: Any, operation: str, params: Any) -> Any:
        # AWS's answer when the new type has no capacity in the zone, once; the rollback's start
        # on the old type goes through to the sandbox.
        ours = operation == "StartInstances" and finding.resource_id in params.get(
            "InstanceIds", []
        )
        if ours and not failures and not params.get("DryRun"):
            failures.append(operation)
            raise ClientError(
                {
                    "Error": {
                        "Code": "InsufficientInstanceCapacity",
                        "Message": "We currently do not have sufficient m5.large capacity.",
                    }
                },
                operation,
            )
        return real_call(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", start_fails_once_on_the_new_type)
    summary = approve(finding, paused_runs)

    assert failures == ["StartInstances"]
    assert (summary.attempted, summary.succeeded, summary.failed) == (1, 0, 1)
    assert instance_types(world, management)[finding.resource_id] == "m5.2xlarge"
    ec2 = world.client("ec2", management)
    (reservation,) = ec2.describe_instances(InstanceIds=[finding.resource_id])["Reservations"]
    assert reservation["Instances"][0]["State"]["Name"] == "running"
    (record,) = action_records(finding.fingerprint)
    assert (record.action, record.result) == ("resize", "failed")
    assert "InsufficientInstanceCapacity" in record.reason
    assert "rolled back to m5.2xlarge" in record.reason
    steps = [(s["step"], s["result"]) for s in record.after["steps"]]
    assert steps[:2] == [("stop (m5.2xlarge)", "done"), ("modify m5.2xlarge -> m5.large", "done")]
    assert steps[2][0] == "start (m5.large)" and steps[2][1].startswith("failed: ")
    assert [s for s, _ in steps[3:]] == [
        "rollback modify m5.large -> m5.2xlarge",
        "start (rollback m5.2xlarge)",
        "status checks (rollback m5.2xlarge)",
    ]
    store = FindingsStore(load_settings().findings_url)
    assert store.get(finding.fingerprint).status is FindingStatus.FAILED


def test_dry_run_by_default_proves_each_write_and_changes_nothing(
    remediation_sandbox: AwsWorld, paused_runs: set[str]
) -> None:
    world = remediation_sandbox  # FINOPS_REMEDIATION__DRY_RUN unset: the default, dry run
    findings = scan_rightsizing()
    finding = over_provisioned(world, findings, world.account_id)
    before = instance_types(world, world.account_id)

    summary = approve(finding, paused_runs)

    assert summary.failed == 0
    assert instance_types(world, world.account_id) == before
    (record,) = action_records(finding.fingerprint)
    assert (record.action, record.result, record.dry_run) == ("resize", "dry_run", True)
    assert record.after["would_be_type"] == finding.evidence["recommended_type"]
    assert record.permissions_proven == [  # type: ignore[attr-defined]
        "stop_instances",
        "modify_instance_attribute",
        "start_instances",
    ]


def test_a_rerun_after_a_crash_before_the_start_starts_the_resized_instance(
    remediation_aws: AwsWorld,
) -> None:
    from tasks.remediation.actions import ACTIONS, ActionContext
    from tasks.remediation.engine import carry_out

    world = remediation_aws
    instance_id = world.instance()  # m5.large
    ec2 = world.client("ec2")
    # what the first attempt did before the process died: stopped it, changed its type
    ec2.stop_instances(InstanceIds=[instance_id])
    ec2.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": "c5.large"})
    finding = world.finding("ec2-rightsize", instance_id, resource_type="ec2:instance")
    finding = finding.model_copy(
        update={"evidence": {"instance_type": "m5.large", "recommended_type": "c5.large"}}
    )
    ctx = ActionContext(
        finding, world.client, dry_run=False, checkpoints={"resize_from": "m5.large"}
    )

    outcome = carry_out(ACTIONS["resize"], ctx)

    assert outcome.result == "succeeded"
    assert world.instance_state(instance_id) == "running"
    assert outcome.after["instance_type"] == "c5.large"
    assert [s["step"] for s in outcome.after["steps"]][:2] == ["resume", "start (c5.large)"]
