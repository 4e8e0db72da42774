"""The remediation process killed with SIGKILL mid-action, then rerun: every action done once.

The flow runs in its own process against the session's Prefect server and an in-process moto
server, so the test can hold a backup snapshot ``pending`` (as AWS does for minutes on a large
volume): the action then waits in ``snapshot_completed`` between its snapshot and its delete,
and the test kills the process there, with a signal no code can catch.  While Prefect still
sees the killed run as running, a new run must leave its work alone; once the run is marked
crashed (what Prefect's missed heartbeats or a person in the UI do), a new run finishes it:
each volume deleted, one backup each, one "succeeded" line in the audit each.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from tests.plugins.remediation import AwsWorld
from tests.test_remediation_flow import (
    action_records,
    api_url,
    form_schema,
    label_for,
    resume_like_the_ui,
    store_findings,
)

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
FLOW = (
    "from flows.remediate_findings import remediate_findings\n"
    "print(remediate_findings(approval_timeout_s=300).model_dump_json())\n"
)


@dataclass
class Held:
    """Volumes whose new snapshots stay ``pending``, and those snapshots."""

    volumes: set[str] = field(default_factory=set)
    snapshots: list[Any] = field(default_factory=list)


@pytest.fixture
def pending_snapshots(monkeypatch: pytest.MonkeyPatch) -> Iterator[Held]:
    """Snapshots of the held volumes stay ``pending`` until the test completes them (moto)."""
    from moto.ec2.models.elastic_block_store import EBSBackend

    held = Held()
    real = EBSBackend.create_snapshot

    def create_pending(self: Any, volume_id: str, *args: Any, **kwargs: Any) -> Any:
        snapshot = real(self, volume_id, *args, **kwargs)
        if volume_id in held.volumes:
            snapshot.status = "pending"
            held.snapshots.append(snapshot)
        return snapshot

    monkeypatch.setattr(EBSBackend, "create_snapshot", create_pending)
    yield held
    for snapshot in held.snapshots:
        snapshot.status = "completed"


def _paused_run(known: set[str], process: subprocess.Popen[str], timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the flow process ended: {process.communicate()}"
        response = httpx.post(
            f"{api_url()}/flow_runs/filter",
            json={"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}},
        )
        fresh = [r["id"] for r in response.json() if r["id"] not in known]
        if fresh:
            return str(fresh[0])
        time.sleep(0.3)
    raise AssertionError("no flow run paused for approval")


def _mark_crashed(run_id: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(
            UUID(run_id), Crashed(message="killed (SIGKILL) mid-remediation"), force=True
        )


def test_sigkill_mid_action_then_rerun_does_each_approved_action_exactly_once(
    remediation_aws: AwsWorld,
    pending_snapshots: Held,
    paused_runs: set[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = remediation_aws
    monkeypatch.setenv("FINOPS_REMEDIATION__DRY_RUN", "false")
    volumes = [world.volume() for _ in range(3)]
    pending_snapshots.volumes.update(volumes)
    findings = [world.finding("ebs-unattached", v) for v in volumes]
    store_findings(findings)

    env = {**os.environ, "PREFECT_API_URL": api_url()}
    process = subprocess.Popen(
        [sys.executable, "-c", FLOW],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        run_id = _paused_run(paused_runs, process)
        schema = form_schema(run_id)
        resume_like_the_ui(
            run_id,
            {
                "decision": "approve",
                "findings": [label_for(schema, f) for f in findings],
                "approver": "Ana",
            },
        )
        deadline = time.monotonic() + 120
        while not pending_snapshots.snapshots and time.monotonic() < deadline:
            assert process.poll() is None, f"the flow process ended: {process.communicate()}"
            time.sleep(0.05)
        assert pending_snapshots.snapshots, "no backup snapshot was started"
        time.sleep(0.5)  # it is waiting for the snapshot now (the waiter polls every 5 s)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        output = process.communicate(timeout=60)[0]
    assert process.returncode == -signal.SIGKILL

    assert len(pending_snapshots.snapshots) == 1, output[-3000:]
    (first,) = pending_snapshots.snapshots
    backed_up = [v for v in volumes if world.backup_snapshots(v)]
    assert len(backed_up) == 1 and world.backup_snapshots(backed_up[0]) == [first.id]
    assert all(world.volume_state(v) == "available" for v in volumes), "killed before any delete"

    from flows.remediate_findings import remediate_findings

    # Prefect still sees the killed run as running: its approved work is left to it.
    early = remediate_findings(fingerprints=[], approval_timeout_s=300)
    assert (early.attempted, early.succeeded) == (0, 0), early
    assert all(world.volume_state(v) == "available" for v in volumes)
    assert [world.backup_snapshots(v) for v in backed_up] == [[first.id]]

    _mark_crashed(run_id)
    first.status = "completed"  # AWS finishes the snapshot the killed run started
    pending_snapshots.volumes.clear()  # and the next snapshots complete at once
    rerun = remediate_findings(fingerprints=[], approval_timeout_s=300)
    assert (rerun.attempted, rerun.succeeded, rerun.failed) == (3, 3, 0), rerun
    for volume, finding in zip(volumes, findings, strict=True):
        assert world.volume_state(volume) is None
        assert len(world.backup_snapshots(volume)) == 1, "one backup per volume, never two"
        done = [r for r in action_records(finding.fingerprint) if r.result == "succeeded"]
        assert len(done) == 1 and done[0].approver == "Ana"
    assert world.backup_snapshots(backed_up[0]) == [first.id], "the killed run's snapshot reused"
