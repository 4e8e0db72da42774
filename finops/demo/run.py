"""`finops demo` from start to summary: the stages, in order, and what each one prints.

While ``finops-daily`` runs, its stages (the flow's task and subflow runs) are printed as each
starts and ends (``follow_run``); the approval hint is a command that works as printed in a new
shell (``cli_prefix``: the full path of this environment's ``finops``, the API URL and the data
folder in front).  ``finops demo --stop`` from another shell sends SIGTERM: the demo stops what it
started and waits for it, like Ctrl-C.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from finops.demo import admin
from finops.demo.admin import (
    WORK_POOL,
    prefect_settings,
    register_deployments,
    wait_for_final,
    wait_for_paused_run,
)
from finops.demo.processes import (
    DemoState,
    _wait_http,
    demo_dir,
    reap_children,
    reset_previous,
    start_prefect_server,
    start_sandbox,
    start_worker,
    stop_demo,
)
from finops.demo.seams import daily_facts, remediation_facts, run_result
from finops.demo.summary import summarise, timing_lines
from tasks.settings import load_settings


def _run_env(
    penv: dict[str, str], data_dir: Path, endpoint_url: str, truth: dict[str, Any], ui_url: str
) -> dict[str, str]:
    """The environment of the worker's flow runs: the demo's Prefect and the sandbox's AWS."""
    from finops.commands.sandbox import sandbox_env

    run_env = {
        **os.environ,
        **penv,
        **sandbox_env(endpoint_url),
        "FINOPS_DATA_DIR": str(data_dir),
        "FINOPS_AWS__REGIONS": json.dumps(truth["regions"]),
        "FINOPS_COSTS__SOURCE": "export",
        "FINOPS_COSTS__EXPORT_BUCKET": truth["export"]["bucket"],
        "FINOPS_COSTS__EXPORT_PREFIX": truth["export"]["prefix"],
        "FINOPS_COSTS__EXPORT_NAME": truth["export"]["export_name"],
        "FINOPS_NOTIFY__PREFECT_UI_URL": ui_url,
        # The sandbox organisation is small: one run may act on all of it.
        "FINOPS_REMEDIATION__MAX_RESOURCES": "500",
        # The waiting run notices a Resume within a second, not the default ten.
        "FINOPS_REMEDIATION__APPROVAL_POLL_S": "1",
    }
    run_env.pop("AWS_PROFILE", None)
    return run_env


class StopRequested(KeyboardInterrupt):
    """``finops demo --stop`` (SIGTERM) asked this demo to stop."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise StopRequested


def cli_prefix(api_url: str, data_dir: Path) -> str:
    """``finops`` as a new shell runs it against the demo: full path, API and data folder.

    Example:
        >>> cli_prefix("http://127.0.0.1:4200/api", Path("/d")).startswith("PREFECT_API_URL=")
        True
    """
    finops = Path(sys.executable).parent / "finops"
    found = str(finops) if finops.exists() else shutil.which("finops")
    command = shlex.quote(found) if found else f"{shlex.quote(sys.executable)} -m finops"
    return (
        f"PREFECT_API_URL={shlex.quote(api_url)} "
        f"FINOPS_DATA_DIR={shlex.quote(str(data_dir))} {command}"
    )


def _stage_name(name: str) -> str:
    # Prefect names a task run "<task>-<3 hex>" (a subflow's "<flow>-<n>"): the stage's name.
    return re.sub(r"-([0-9a-f]{3}|[0-9]+)$", "", name)


_FLOW_STATES = {
    "scheduled": " (waiting for the worker to pick it up)",
    "pending": " (the worker is starting its process)",
    "running": "",
}


def follow_run(
    flow_run_id: str, label: str, echo: Callable[[str], None], poll_s: float = 2.0
) -> Any:
    """Wait for a flow run to end, printing each of its task and subflow runs as it starts and
    ends (with how long it took); return the final flow run."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    begun = time.perf_counter()
    started: set[str] = set()
    ended: set[str] = set()
    said = ""
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(UUID(flow_run_id))
            now = str(run.state.name if run.state else "")
            if now != said and not (run.state and run.state.is_final()):
                said = now
                doing = _FLOW_STATES.get(now.lower(), "")
                echo(f"  [{time.perf_counter() - begun:5.1f} s] {label}: {now.lower()}{doing}")
            tasks = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)]))
            )
            for task in sorted(tasks, key=lambda t: str(t.start_time or t.expected_start_time)):
                key, name = str(task.id), _stage_name(task.name)
                at = f"  [{time.perf_counter() - begun:5.1f} s]"
                final = task.state is not None and task.state.is_final()
                if key not in started and (task.start_time is not None or final):
                    started.add(key)
                    echo(f"{at} {name} started")
                if key not in ended and task.state is not None and final:
                    ended.add(key)
                    took = task.total_run_time.total_seconds()
                    echo(f"{at} {name} {str(task.state.name).lower()} after {took:.1f} s")
            if run.state is not None and run.state.is_final():
                took = time.perf_counter() - begun
                name = str(run.state.name).lower()
                echo(f"  [{took:5.1f} s] {label} ({run.name}): {name} after {took:.1f} s")
                return run
            time.sleep(poll_s)


def run_demo(
    data_dir: Path,
    auto_approve: bool,
    keep_running: bool,
    echo: Callable[[str], None] = print,
) -> int:
    """Run the demo; return the process exit code."""
    from sandbox.state import wait_ready

    data_dir = data_dir.resolve()
    stopped = stop_demo(data_dir)
    if stopped:
        echo(f"stopped a previous demo ({', '.join(stopped)})")
    home = demo_dir(data_dir)
    moved = reset_previous(data_dir)
    if moved:
        echo(
            f"previous demo data in {data_dir} moved aside to {home / 'previous'}, "
            f"this run starts clean: {', '.join(moved)}"
        )
    in_main = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    finished = False
    logs = home / "logs"
    findings_url = f"sqlite:///{data_dir / 'findings.db'}"
    state = DemoState(data_dir=str(data_dir))
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        timings[name] = round(time.perf_counter() - clock, 1)
        clock = time.perf_counter()

    try:
        server, penv = start_prefect_server(state, home, logs)
        sandbox_state, sandbox_process = start_sandbox(state, home)
        echo("starting the Prefect server and the sandbox AWS organisation ...")
        # Both start at once; the stage lasts until the later of the two is ready.
        _wait_http(f"{state.api_url}/health", server, logs / "prefect-server.log", 120)
        server_ready_s = time.perf_counter() - clock
        box = wait_ready(sandbox_state, sandbox_process, timeout_s=300)
        truth = json.loads(Path(box.ground_truth_path).read_text())
        lap("prefect server+sandbox")
        echo(
            f"Prefect server answered after {server_ready_s:.1f} s, sandbox seeded after "
            f"{timings['prefect server+sandbox']:.1f} s"
        )
        echo(f"Prefect UI: {state.ui_url}    sandbox AWS: {box.endpoint_url}")

        run_env = _run_env(penv, data_dir, box.endpoint_url, truth, state.ui_url)
        os.environ.update({k: v for k, v in run_env.items() if k.startswith(("AWS_", "FINOPS_"))})
        with prefect_settings(penv):
            deployments = register_deployments()
            echo(admin.describe_deployments())
            start_worker(state, WORK_POOL, run_env, logs)
            lap("deployments and worker")

            from prefect.deployments import run_deployment

            echo("running finops-daily: ingest -> anomalies -> idle scan -> report -> approval")
            daily_run = run_deployment(name="finops-daily/finops-daily", timeout=0)
            daily_id = str(cast(Any, daily_run).id)
            echo(f"  {state.ui_url}/runs/flow-run/{daily_id}")
            daily = daily_facts(run_result(follow_run(daily_id, "finops-daily", echo)))
            lap("finops-daily")

            echo("waiting for the remediation run to ask for approval ...")
            # Only the run this demo's finops-daily started (a kept database has others).
            paused_id = wait_for_paused_run(
                deployments["remediate-findings"], created_after=cast(Any, daily_run).created
            )
            cli = cli_prefix(state.api_url, data_dir)
            # The form offers each finding by the first 12 characters of its fingerprint.
            example = next(iter(admin.safe_fingerprints(findings_url)), "FINGERPRINT")[:12]
            echo("")
            echo("A remediation run is waiting for your approval:")
            echo(f"  Prefect UI:  {state.ui_url}/runs/flow-run/{paused_id}  (click Resume)")
            echo("  or the CLI, in any shell (repeat --only for each finding to approve):")
            echo(f"    {cli} approve {paused_id} --only {example} --as 'Your Name'")
            echo(f"  the findings:  {cli} findings")
            approved: int | None = None
            if auto_approve:
                approved = admin.auto_approve(paused_id, findings_url)
            else:
                echo("waiting for the approval (Ctrl-C or make demo-stop stops the demo) ...")
            remediation = remediation_facts(run_result(wait_for_final(paused_id)))
            lap("approval and remediation")
            echo(f"remediation run ended after {timings['approval and remediation']:.1f} s")

        lines = summarise(
            daily=daily,
            remediation=remediation,
            findings_url=findings_url,
            cost_store_url=str(data_dir / "costs"),
            truth=truth,
            anomaly_settings=load_settings().anomalies,
            approved=approved,
        )
        lap("summary")
        for line in [*lines, *timing_lines(timings, daily.timings_s)]:
            echo(line)
        finished = True
        if keep_running:
            echo(f"\nStill running: Prefect UI {state.ui_url}. Stop with Ctrl-C or make demo-stop.")
            while True:
                time.sleep(3600)
        return 0
    except StopRequested:
        echo("\nstopped by finops demo --stop")
        return 0 if finished else 143
    except KeyboardInterrupt:
        echo("\ninterrupted")
        return 130
    finally:
        # A second SIGTERM while stopping must not cut the stop short.
        if in_main:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stopped = stop_demo(data_dir)
        reap_children()
        if stopped:
            echo(f"stopped: {', '.join(stopped)}")
        if in_main:
            signal.signal(signal.SIGTERM, previous_handler)
