"""Acceptance of the remediate-findings flow: approval through the Prefect API, then safe actions.

The flow runs in a background thread against the session's Prefect test server and pauses; the
test answers it the way the UI's Resume form does (``POST /flow_runs/{id}/resume`` with
``run_input``) or with ``finops approve``, then checks AWS, the audit log and the store.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from typer.testing import CliRunner

from finops.cli import app
from tasks.findings.model import Finding, FindingStatus
from tasks.findings.store import FindingsStore
from tasks.remediation import actions as actions_module
from tasks.remediation.audit import AuditLog
from tasks.remediation.models import RemediationResult
from tasks.remediation.tasks import runs_still_alive
from tasks.settings import load_settings
from tests.plugins.remediation import AwsWorld

pytestmark = pytest.mark.usefixtures("prefect_harness")


@dataclass
class BackgroundRun:
    """A flow run in a thread; ``result`` or ``error`` once it ends."""

    thread: threading.Thread
    result: RemediationResult | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def wait(self, timeout: float = 120) -> RemediationResult:
        assert self.done.wait(timeout), "the flow run did not finish"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def start_flow(**parameters: Any) -> BackgroundRun:
    from flows.remediate_findings import remediate_findings

    # The Prefect test server's URL lives in a context variable: hand it to the thread.
    context = contextvars.copy_context()
    holder = BackgroundRun(threading.Thread())

    def target() -> None:
        try:
            holder.result = context.run(remediate_findings, **parameters)
        except BaseException as error:  # handed to the test through wait()
            holder.error = error
        finally:
            holder.done.set()

    holder.thread = threading.Thread(target=target, daemon=True)
    holder.thread.start()
    return holder


def api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value()).rstrip("/")


def wait_until_paused(run: BackgroundRun, known: set[str], timeout: float = 120) -> str:
    """The id of the flow run that paused (a new remediate-findings run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run.done.is_set():
            run.wait()
            raise AssertionError(f"the flow ended without waiting: {run.result}")
        response = httpx.post(
            f"{api_url()}/flow_runs/filter",
            json={"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}},
        )
        for flow_run in response.json():
            if flow_run["id"] not in known:
                known.add(flow_run["id"])
                return str(flow_run["id"])
        time.sleep(0.3)
    raise AssertionError("no flow run paused for approval")


def form_schema(run_id: str) -> dict[str, Any]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(run_id))
        assert run.state is not None
        keyset = run.state.state_details.run_input_keyset
        assert keyset is not None
        import json

        return dict(json.loads(client.read_flow_run_input(UUID(run_id), keyset["schema"])))


def resume_like_the_ui(run_id: str, run_input: dict[str, Any]) -> dict[str, Any]:
    """POST the form's answer as the UI does; 503 (the test server's SQLite busy) is retried."""
    for _ in range(20):
        response = httpx.post(
            f"{api_url()}/flow_runs/{run_id}/resume", json={"run_input": run_input}, timeout=30
        )
        if response.status_code != 503:
            break
        time.sleep(0.5)
    response.raise_for_status()
    answer = dict(response.json())
    assert answer["status"] == "ACCEPT", answer
    return answer


def label_for(schema: dict[str, Any], finding: Finding) -> str:
    labels = schema["properties"]["findings"]["items"]["enum"]
    (label,) = [x for x in labels if x.endswith(finding.fingerprint[:12])]
    return str(label)


@pytest.fixture
def world(remediation_sandbox: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsWorld]:
    """The sandbox's member account, remediation live (not dry-run)."""
    monkeypatch.setenv("FINOPS_REMEDIATION__DRY_RUN", "false")
    yield remediation_sandbox


def store_findings(findings: list[Finding]) -> FindingsStore:
    store = FindingsStore(load_settings().findings_url)
    store.record_scan(findings)
    return store


def action_records(fingerprint: str) -> list[Any]:
    log = AuditLog(load_settings().audit_log_url)
    return [r for r in log.read() if r.kind == "action" and r.fingerprint == fingerprint]


def test_approve_a_subset_through_the_ui_api(world: AwsWorld, paused_runs: set[str]) -> None:
    old_volume = world.pick("unattached-old", "ebs-unattached")
    spare_volume = world.finding("ebs-unattached", world.volume())
    gp2 = world.pick("gp2-500", "ebs-gp2")
    gp2_left = world.pick("gp2-1500", "ebs-gp2")
    address = world.pick("unassociated", "eip-unassociated")
    snapshot = world.pick("old-orphan", "snapshot-stale")
    bucket = world.pick("stale-uploads", "s3-stale-multipart")
    idle = world.pick("idle", "ec2-idle")
    chosen = [old_volume, spare_volume, gp2, address, snapshot, bucket]
    store = store_findings([*chosen, gp2_left, idle])

    run = start_flow(approval_timeout_s=300)
    run_id = wait_until_paused(run, paused_runs)
    schema = form_schema(run_id)
    assert schema["properties"]["decision"]["default"] == "reject"
    assert schema["required"] == ["approver"]
    resume_like_the_ui(
        run_id,
        {
            "decision": "approve",
            "findings": [label_for(schema, f) for f in chosen],
            "actions": [f"{label_for(schema, old_volume)} -> delete"],
            "approver": "Ana Lima",
            "comment": "ticket FIN-42",
        },
    )
    summary = run.wait()

    assert summary.status == "approved" and summary.approver == "Ana Lima"
    assert (summary.attempted, summary.succeeded, summary.failed) == (6, 6, 0)
    assert summary.success_rate == 1.0
    # Exactly the chosen resources changed, each as chosen; the others are untouched.
    ec2, s3 = world.client("ec2"), world.client("s3")
    assert world.volume_state(old_volume.resource_id) is None
    assert world.backup_snapshots(old_volume.resource_id) == []  # 'delete' keeps no backup
    assert world.volume_state(spare_volume.resource_id) is None
    assert len(world.backup_snapshots(spare_volume.resource_id)) == 1
    volumes = ec2.describe_volumes(VolumeIds=[gp2.resource_id, gp2_left.resource_id])["Volumes"]
    assert {v["VolumeId"]: v["VolumeType"] for v in volumes} == {
        gp2.resource_id: "gp3",
        gp2_left.resource_id: "gp2",
    }
    left = ec2.describe_addresses(
        Filters=[{"Name": "allocation-id", "Values": [address.resource_id]}]
    )
    assert left["Addresses"] == []
    gone = ec2.describe_snapshots(
        Filters=[{"Name": "snapshot-id", "Values": [snapshot.resource_id]}]
    )
    assert gone["Snapshots"] == []
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket.resource_id)["Rules"]
    assert any(r.get("AbortIncompleteMultipartUpload") for r in rules)
    assert world.instance_state(idle.resource_id) == "running"
    for finding in chosen:
        (record,) = action_records(finding.fingerprint)
        assert (record.approver, record.result) == ("Ana Lima", "succeeded")
        assert record.comment == "ticket FIN-42" and not record.dry_run and record.request_ids
        assert store.get(finding.fingerprint).status is FindingStatus.REMEDIATED
    assert action_records(old_volume.fingerprint)[0].action == "delete"
    assert action_records(spare_volume.fingerprint)[0].action == "snapshot_and_delete"
    for untouched in (gp2_left, idle):
        assert store.get(untouched.fingerprint).status is FindingStatus.OPEN
        assert action_records(untouched.fingerprint) == []
    approvals = [r for r in AuditLog(load_settings().audit_log_url).read() if r.kind == "approval"]
    assert [(a.approver, a.decision) for a in approvals] == [("Ana Lima", "approved")]
    artifacts = run_artifacts(run_id)
    assert "| resource | check | action (default) |" in artifacts["remediation-preview"]
    assert "Automation success rate: **100.0%** (target 95%)" in artifacts["remediation-report"]


def run_artifacts(run_id: str) -> dict[str, str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(run_id)]))
        )
    return {str(a.key): str(a.data) for a in artifacts}


def test_reject_changes_nothing(world: AwsWorld, paused_runs: set[str]) -> None:
    volume = world.volume()
    finding = world.finding("ebs-unattached", volume)
    store = store_findings([finding])
    run = start_flow(approval_timeout_s=300)
    run_id = wait_until_paused(run, paused_runs)
    # A waiting run still owns its work: another run would not touch its ledger entries.
    assert runs_still_alive({run_id}, "another-run") == {run_id}
    schema = form_schema(run_id)
    resume_like_the_ui(
        run_id,
        {"decision": "reject", "findings": [label_for(schema, finding)], "approver": "Bo"},
    )
    summary = run.wait()
    assert summary.status == "rejected" and summary.attempted == 0
    assert world.volume_state(volume) == "available"
    assert action_records(finding.fingerprint) == []
    assert store.get(finding.fingerprint).status is FindingStatus.OPEN


def test_timeout_expires_with_nothing_done(world: AwsWorld) -> None:
    volume = world.volume()
    finding = world.finding("ebs-unattached", volume)
    store_findings([finding])
    from flows.remediate_findings import remediate_findings

    summary = remediate_findings(approval_timeout_s=2)
    assert summary.status == "expired" and summary.attempted == 0
    assert world.volume_state(volume) == "available"
    approvals = [r for r in AuditLog(load_settings().audit_log_url).read() if r.kind == "approval"]
    assert [a.decision for a in approvals] == ["expired"]


def test_changed_resources_are_skipped_with_their_reason(
    world: AwsWorld, paused_runs: set[str]
) -> None:
    attached, tagged = world.volume(), world.volume()
    protected = world.pick("protected-unattached-old", "ebs-unattached")
    findings = [
        world.finding("ebs-unattached", attached),
        world.finding("ebs-unattached", tagged),
        protected,
    ]
    store = store_findings(findings)
    run = start_flow(approval_timeout_s=300)
    run_id = wait_until_paused(run, paused_runs)
    # After detection, while the approval waits: one volume is attached, one gets protected.
    ec2 = world.client("ec2")
    ec2.attach_volume(VolumeId=attached, InstanceId=world.instance(), Device="/dev/sdf")
    ec2.create_tags(Resources=[tagged], Tags=[{"Key": "finops:protected", "Value": "true"}])
    schema = form_schema(run_id)
    # A finding whose resource carried the protected tag at detection is not offered at all,
    # whatever it recommends; the ones that changed since are offered and re-checked.
    labels = schema["properties"]["findings"]["items"]["enum"]
    assert not [x for x in labels if x.endswith(protected.fingerprint[:12])]
    offered = findings[:2]
    resume_like_the_ui(
        run_id,
        {
            "decision": "approve",
            "findings": [label_for(schema, f) for f in offered],
            "approver": "Ana",
        },
    )
    summary = run.wait()
    assert (summary.skipped, summary.succeeded, summary.failed) == (2, 0, 0)
    reasons = {a.resource_id: a.reason for a in summary.actions}
    assert "attached to i-" in reasons[attached]
    assert "protected tag finops:protected=true" in reasons[tagged]
    assert "added since detection" in reasons[tagged]
    assert protected.resource_id not in reasons
    assert world.volume_state(attached) == "in-use"
    for volume in (attached, tagged, protected.resource_id):
        assert world.backup_snapshots(volume) == []
    assert world.volume_state(tagged) == world.volume_state(protected.resource_id) == "available"
    for finding in findings:
        assert store.get(finding.fingerprint).status is FindingStatus.OPEN
    for finding in offered:
        assert store.history(finding.fingerprint)[-1]["reason"].startswith("skipped: ")


class Killed(BaseException):
    """Stands for the process dying mid-action (not an error the engine may catch)."""


def test_killed_mid_remediation_then_rerun_does_each_action_once(
    world: AwsWorld, paused_runs: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    volumes = [world.volume() for _ in range(3)]
    findings = [world.finding("ebs-unattached", v) for v in volumes]
    store_findings(findings)
    real = actions_module.ACTIONS["snapshot_and_delete"]
    calls: list[str] = []

    def dies_after_the_second_snapshot(ctx: actions_module.ActionContext, before: Any) -> Any:
        calls.append(ctx.finding.resource_id)
        if len(calls) == 2:
            # The snapshot is taken and checkpointed, then the process dies before the delete.
            real_waiter = ctx.client("ec2").get_waiter

            def crash_on_wait(name: str) -> Any:
                raise Killed(f"killed while waiting for {name}")

            monkeypatch.setattr(ctx.client("ec2"), "get_waiter", crash_on_wait)
            try:
                return real.apply(ctx, before)
            finally:
                monkeypatch.setattr(ctx.client("ec2"), "get_waiter", real_waiter)
        return real.apply(ctx, before)

    monkeypatch.setitem(
        actions_module.ACTIONS,
        "snapshot_and_delete",
        replace(real, apply=dies_after_the_second_snapshot),
    )
    run = start_flow(approval_timeout_s=300)
    run_id = wait_until_paused(run, paused_runs)
    schema = form_schema(run_id)
    resume_like_the_ui(
        run_id,
        {
            "decision": "approve",
            "findings": [label_for(schema, f) for f in findings],
            "approver": "Ana",
        },
    )
    with pytest.raises(Killed):
        run.wait()
    # The killed run is over in Prefect's eyes, so a new run may finish its work.
    assert runs_still_alive({run_id}, "another-run") == frozenset()
    assert world.volume_state(volumes[0]) is None
    assert world.volume_state(volumes[1]) == "available"  # snapshot taken, delete never ran
    assert len(world.backup_snapshots(volumes[1])) == 1
    assert world.volume_state(volumes[2]) == "available"

    monkeypatch.setitem(actions_module.ACTIONS, "snapshot_and_delete", real)
    from flows.remediate_findings import remediate_findings

    rerun = remediate_findings(fingerprints=[], approval_timeout_s=300)
    assert rerun.status == "nothing to approve"
    assert (rerun.attempted, rerun.succeeded) == (2, 2)
    for volume, finding in zip(volumes, findings, strict=True):
        assert world.volume_state(volume) is None
        assert len(world.backup_snapshots(volume)) == 1, "one backup per volume, never two"
        done = [r for r in action_records(finding.fingerprint) if r.result == "succeeded"]
        assert len(done) == 1 and done[0].approver == "Ana"


def test_finops_approve_resumes_the_run(world: AwsWorld, paused_runs: set[str]) -> None:
    volumes = [world.volume(), world.volume()]
    findings = [world.finding("ebs-unattached", v) for v in volumes]
    store_findings(findings)
    run = start_flow(approval_timeout_s=300)
    run_id = wait_until_paused(run, paused_runs)
    runner = CliRunner()
    unknown = runner.invoke(app, ["approve", "00000000-0000-0000-0000-000000000000", "--as", "Cy"])
    assert unknown.exit_code == 2 and "no flow run" in unknown.output
    wrong = runner.invoke(
        app,
        ["approve", run_id, "--as", "Cy", "--action", f"{findings[0].fingerprint[:8]}=terminate"],
    )
    assert wrong.exit_code == 2 and "not on this finding's menu" in wrong.output
    result = runner.invoke(
        app,
        [
            "approve",
            run_id,
            "--as",
            "Cy",
            "--action",
            f"{findings[0].fingerprint[:8]}=delete",
            "--comment",
            "cli",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = run.wait()
    assert summary.approver == "Cy" and summary.succeeded == 1
    assert world.volume_state(volumes[0]) is None and world.volume_state(volumes[1]) == "available"
    (record,) = action_records(findings[0].fingerprint)
    assert (record.approver, record.action, record.comment) == ("Cy", "delete", "cli")
    audit = runner.invoke(app, ["audit"])
    assert "delete " + volumes[0] in audit.output and "by Cy" in audit.output


def test_dry_run_default_changes_nothing_and_proves_permissions(
    remediation_sandbox: AwsWorld, paused_runs: set[str]
) -> None:
    world = remediation_sandbox
    volume = world.volume()
    finding = world.finding("ebs-unattached", volume)
    store = store_findings([finding])
    run = start_flow(approval_timeout_s=300)
    run_id = wait_until_paused(run, paused_runs)
    schema = form_schema(run_id)
    resume_like_the_ui(
        run_id, {"decision": "approve", "findings": [label_for(schema, finding)], "approver": "Ana"}
    )
    summary = run.wait()
    assert summary.dry_run is True and summary.succeeded == 1
    assert world.volume_state(volume) == "available" and world.backup_snapshots(volume) == []
    (record,) = action_records(finding.fingerprint)
    assert record.result == "dry_run" and record.dry_run
    assert store.get(finding.fingerprint).status is FindingStatus.OPEN


@pytest.mark.slow
def test_deployment_suspends_without_holding_a_process_and_resumes(
    world: AwsWorld, paused_runs: set[str], tmp_path: Any
) -> None:
    """On a deployment the run suspends: its process exits while it waits; resume reruns it."""
    import os
    import subprocess
    import sys

    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    volume = world.volume()
    finding = world.finding("ebs-unattached", volume)
    store_findings([finding])
    env = {
        **os.environ,
        "PREFECT_API_URL": api_url(),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "",
        "PREFECT_LOCAL_STORAGE_PATH": str(tmp_path / "results"),
    }
    env.pop("PREFECT_FLOWS_HEARTBEAT_FREQUENCY")
    name = f"suspend-{finding.fingerprint[:8]}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from flows.remediate_findings import remediate_findings as f; "
            f"f.serve(name={name!r}, limit=2)",
        ],
        env=env,
        cwd=str(Path(__file__).resolve().parents[1]),
        stdout=(tmp_path / "serve.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            with get_client(sync_client=True) as client:
                try:
                    client.read_deployment_by_name(f"remediate-findings/{name}")
                    break
                except Exception:
                    if time.monotonic() > deadline or server.poll() is not None:
                        print((tmp_path / "serve.log").read_text()[-3000:])  # why it died
                        raise
            time.sleep(0.5)
        flow_run = run_deployment(
            f"remediate-findings/{name}",
            parameters={"approval_timeout_s": 600},
            timeout=0,
        )
        run_id = str(flow_run.id)
        deadline = time.monotonic() + 120
        while True:
            with get_client(sync_client=True) as client:
                state = client.read_flow_run(flow_run.id).state
            if state is not None and state.is_paused():
                break
            assert time.monotonic() < deadline, f"never suspended: {state}"
            time.sleep(0.5)
        # Suspended = the run's process has exited; on resume it is rescheduled, not awoken.
        assert state.name == "Suspended" and state.state_details.pause_reschedule
        assert world.volume_state(volume) == "available"
        schema = form_schema(run_id)
        resume_like_the_ui(
            run_id,
            {"decision": "approve", "findings": [label_for(schema, finding)], "approver": "Dee"},
        )
        deadline = time.monotonic() + 180
        while True:
            with get_client(sync_client=True) as client:
                state = client.read_flow_run(flow_run.id).state
            if state is not None and state.is_final():
                break
            assert time.monotonic() < deadline, f"never finished: {state}"
            time.sleep(0.5)
        assert state.is_completed(), state
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert world.volume_state(volume) is None
    (record,) = action_records(finding.fingerprint)
    assert (record.approver, record.result) == ("Dee", "succeeded")


def test_a_suspended_approval_that_timed_out_is_recorded_expired_by_the_next_run(
    world: AwsWorld,
) -> None:
    """Prefect fails a suspended run whose timeout passed (no flow code runs then); the next
    run of remediate-findings writes the ``expired`` approval record, once."""
    from prefect.client.orchestration import get_client
    from prefect.states import Failed, Suspended

    from flows.remediate_findings import remediate_findings
    from tasks.remediation.tasks import PAUSE_EXPIRED_MESSAGE

    volume = world.volume()
    store_findings([world.finding("ebs-unattached", volume)])
    with get_client(sync_client=True) as client:
        waiting = client.create_flow_run(
            remediate_findings,
            parameters={"dry_run": False, "approval_timeout_s": 1},
            state=Suspended(timeout_seconds=1, key="approval"),
        )
        # What prefect.server.services.pause_expirations does when the timeout has passed.
        client.set_flow_run_state(waiting.id, Failed(message=PAUSE_EXPIRED_MESSAGE), force=True)
    try:
        first = remediate_findings(fingerprints=[], approval_timeout_s=300)
        again = remediate_findings(fingerprints=[], approval_timeout_s=300)
    finally:
        with get_client(sync_client=True) as client:
            client.delete_flow_run(waiting.id)  # the server is shared with later tests
    assert first.status == again.status == "nothing to approve"
    approvals = [r for r in AuditLog(load_settings().audit_log_url).read() if r.kind == "approval"]
    assert [(a.run_id, a.decision, a.dry_run) for a in approvals] == [
        (str(waiting.id), "expired", False)
    ]
    assert "nothing was done" in approvals[0].reason
    assert world.volume_state(volume) == "available"
