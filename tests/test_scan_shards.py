"""The idle scan sharded over a work pool: a local Prefect server, a process pool, two workers.

A sandbox organisation of 50 member accounts (and the management account) x 2 regions is scanned
once in this process (no deployment: unsharded) and once as a ``scan-idle-resources`` run from
its deployment, which shards its 102 targets into child runs of ``scan-idle-shard`` on the pool.
While the shards run, one worker is killed with its flow-run processes: the lost shard is
cancelled after the shard timeout and run again on the other worker, and the stored findings are
exactly the unsharded scan's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import pytest

from finops.demo.processes import ROOT, free_port, prefect_env
from sandbox.context import SandboxSize
from tasks.findings.store import FindingsStore
from tests.plugins.sandbox import SandboxHandle, start_sandbox, stop_sandbox
from tests.test_findings_store import volume_finding

pytestmark = pytest.mark.slow

REGIONS = ["us-east-1", "eu-west-1"]
CHECKS = ["ec2-idle", "ebs-unattached", "eip-unassociated"]
SIZE = SandboxSize(
    accounts=51, regions=tuple(REGIONS), instances=3, volumes=2, days=14, cost_days=30
)
POOL = "finops-local"
FINOPS = [sys.executable, "-m", "finops"]
JSON = ["--format", "json"]


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as handle:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_tree(process: subprocess.Popen[bytes]) -> None:
    for pid in [*_descendants(process.pid), process.pid]:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=30)


class World:
    def __init__(self, tmp: Path, box: SandboxHandle) -> None:
        self.tmp = tmp
        self.box = box
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.penv = prefect_env(tmp / "prefect", self.api_url)
        # the shard flow persists its own result; nothing else is asked to
        self.penv.pop("PREFECT_RESULTS_PERSIST_BY_DEFAULT")
        self.processes: list[subprocess.Popen[bytes]] = []
        base = {
            k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PREFECT_", "FINOPS_"))
        }
        self.env = base | self.penv | box.env

    def finops_env(self, data_dir: Path) -> dict[str, str]:
        return self.env | {
            "FINOPS_DATA_DIR": str(data_dir),
            "FINOPS_SCAN_SHARDS__TARGETS": "20",
            "FINOPS_SCAN_SHARDS__ACCOUNTS": "10",
            "FINOPS_SCAN_SHARDS__TIMEOUT_S": "75",
            "FINOPS_SCAN_SHARDS__POLL_S": "1",
            "FINOPS_SCAN_SHARDS__RETRIES": "2",
        }

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        process = _spawn(command, env, self.tmp / f"{name}.log")
        self.processes.append(process)
        return process

    def worker(self, name: str, data_dir: Path, limit: int) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL]
        return self.start(
            name, [*command, "--type", "process", "--limit", str(limit)], self.finops_env(data_dir)
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("shards")
    box = start_sandbox(tmp / "sandbox", size=SIZE)
    here = World(tmp, box)
    try:
        server = here.start(
            "prefect-server",
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(here.port),
            ],
            here.env,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp / "prefect-server.log").read_text()[-2000:]
            with (
                suppress(OSError),
                urllib.request.urlopen(f"{here.api_url}/health", timeout=2) as answer,
            ):
                if answer.status == 200:
                    break
            time.sleep(0.5)
        yield here
    finally:
        for process in reversed(here.processes):
            if process.poll() is None:
                _kill_tree(process)
        stop_sandbox(box)


def _settings(world: World, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith(("AWS_", "FINOPS_", "PREFECT_"))]:
        monkeypatch.delenv(name)
    for name, value in world.finops_env(data_dir).items():
        monkeypatch.setenv(name, value)


def _stored(data_dir: Path) -> dict[str, str]:
    store = FindingsStore(f"sqlite:///{data_dir / 'findings.db'}")
    return {s.fingerprint: s.status.value for s in store.list()}


@pytest.mark.xfail(
    strict=False,
    reason="known defect (issue 20, open): in one fresh-clone run of three the sharded scan "
    "stored 3 findings fewer than the unsharded one after its killed shard was rerun",
)
def test_sharded_scan_equals_unsharded_and_survives_a_killed_worker(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )
    from prefect.client.schemas.objects import FlowRun, State
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, PREFECT_LOCAL_STORAGE_PATH, temporary_settings

    from finops.demo.admin import register_deployments

    unsharded_dir, sharded_dir = world.tmp / "unsharded", world.tmp / "sharded"
    # unsharded: the user's command in its own process (no deployment, so no shards)
    scan = subprocess.run(
        [*FINOPS, "scan", "--checks", ",".join(CHECKS), "--regions", ",".join(REGIONS), *JSON],
        cwd=ROOT,
        env=world.finops_env(unsharded_dir),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert scan.returncode == 0, scan.stderr[-3000:]
    expected = _stored(unsharded_dir)
    assert len(expected) == len(json.loads(scan.stdout)) > 0

    _settings(world, sharded_dir, monkeypatch)
    with temporary_settings(
        updates={
            PREFECT_API_URL: world.api_url,
            PREFECT_LOCAL_STORAGE_PATH: world.penv["PREFECT_LOCAL_STORAGE_PATH"],
        }
    ):
        register_deployments(POOL, ROOT)
        # worker-a runs the parent and two shards at a time, so worker-b gets the rest
        first = world.worker("worker-a", sharded_dir, limit=3)
        parent = cast(
            FlowRun,
            run_deployment(
                "scan-idle-resources/scan-idle-resources",
                parameters={"checks": CHECKS, "regions": REGIONS},
                timeout=0,
            ),
        )
        with get_client(sync_client=True) as client:

            def state_of(run_id: UUID) -> State[Any]:
                state = client.read_flow_run(run_id).state
                assert state is not None
                return state

            deadline = time.monotonic() + 180
            while not state_of(parent.id).is_running():
                assert time.monotonic() < deadline, "worker-a never started the parent run"
                time.sleep(1)
            second = world.worker("worker-b", sharded_dir, limit=8)
            # kill worker-b and its flow runs as soon as it runs a shard
            deadline = time.monotonic() + 240
            while not _descendants(second.pid):
                assert time.monotonic() < deadline, "worker-b never picked up a shard"
                time.sleep(0.2)
            time.sleep(1.0)
            _kill_tree(second)

            deadline = time.monotonic() + 480
            while not state_of(parent.id).is_final():
                assert time.monotonic() < deadline, "the sharded scan did not finish"
                time.sleep(2)
            assert state_of(parent.id).is_completed(), state_of(parent.id)
            children = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent.id])
                ),
                deployment_filter=DeploymentFilter(
                    name=DeploymentFilterName(any_=["scan-idle-shard"])
                ),
            )
        assert first.poll() is None
    runs = [(c.parameters["shard"], c.state.type.value if c.state else "") for c in children]
    # 51 accounts in shards of 10: 6 shards, each completed; the lost run was cancelled, rerun
    assert {shard for shard, state in runs if state == "COMPLETED"} == set(range(6)), runs
    assert "CANCELLED" in {state for _, state in runs}, runs
    assert _stored(sharded_dir) == expected


def test_a_shard_that_never_runs_is_reported_and_resolves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> None:
    """No worker serves the shard deployment: each shard is cancelled at its timeout, retried
    once, then reported per target; the scope stays empty, so the store resolves nothing."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    from tasks.aws.session import Target
    from tasks.idle.checks import select_checks
    from tasks.idle.registry import resolve_params
    from tasks.idle.shards import ShardAttempts
    from tasks.idle.tasks import ScanPlan, ScanTotals, scan_in_shards
    from tasks.settings import ScanShardSettings

    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="no-workers", type="process"))
    source: Any = flow.from_source(
        source=str(ROOT), entrypoint="flows/scan_idle_resources.py:scan_idle_shard"
    )
    source.to_deployment(name="unserved", work_pool_name="no-workers").apply()
    selected = select_checks(["ebs-unattached"])
    plan = ScanPlan(
        checks=["ebs-unattached"],
        selected=selected,
        params=resolve_params(selected, {}),
        targets=[Target(a, "us-east-1") for a in ("111111111111", "222222222222")],
        steps_per_target=1,
    )
    settings = ScanShardSettings(
        accounts=1, deployment="scan-idle-resources/unserved", retries=1, timeout_s=10, poll_s=1
    )

    @flow(name="shard-parent")
    def parent() -> tuple[ScanTotals, list[ShardAttempts]]:
        return scan_in_shards(plan, settings, ["us-east-1"])

    totals, records = cast(tuple[ScanTotals, list[ShardAttempts]], parent())
    assert totals.scanned == set() and totals.findings == []
    assert sorted((e.account_id, e.code) for e in totals.errors) == [
        ("111111111111", "ShardFailed"),
        ("222222222222", "ShardFailed"),
    ]
    assert [r.attempts for r in records] == [2, 2]
    assert all("no end after 10 s" in r.error for r in records)

    # what the flow does next: a store holding an open finding of those targets keeps it
    store = FindingsStore(f"sqlite:///{tmp_path}/findings.db")
    kept = volume_finding("vol-kept")
    store.record_scan([kept], scope=[("ebs-unattached", kept.account_id, "us-east-1")])
    store.record_scan(totals.findings, scope=totals.scanned)
    assert store.get(kept.fingerprint).status.value == "open"
