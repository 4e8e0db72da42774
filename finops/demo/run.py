"""`finops demo` from start to summary: the stages, in order, and what each one prints."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
            start_worker(state, WORK_POOL, run_env, logs)
            lap("deployments and worker")

            from prefect.deployments import run_deployment

            echo("running finops-daily: ingest -> anomalies -> idle scan -> report -> approval")
            daily_run = run_deployment(
                name="finops-daily/finops-daily", timeout=None, poll_interval=2
            )
            daily = daily_facts(run_result(daily_run))
            lap("finops-daily")

            paused_id = wait_for_paused_run(deployments["remediate-findings"])
            echo("")
            echo("A remediation run is waiting for your approval:")
            echo(f"  Prefect UI:  {state.ui_url}/runs/flow-run/{paused_id}  (click Resume)")
            echo(f"  or the CLI:  finops approve {paused_id} --only <fingerprint> --as <your name>")
            echo("                (list the findings with: finops findings)")
            approved: int | None = None
            if auto_approve:
                approved = admin.auto_approve(paused_id, findings_url)
            else:
                echo("waiting for the approval (Ctrl-C stops the demo) ...")
            remediation = remediation_facts(run_result(wait_for_final(paused_id)))
            lap("approval and remediation")

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
        if keep_running:
            echo(f"\nStill running: Prefect UI {state.ui_url}. Stop with Ctrl-C or make demo-stop.")
            while True:
                time.sleep(3600)
        return 0
    except KeyboardInterrupt:
        echo("\ninterrupted")
        return 130
    finally:
        stopped = stop_demo(data_dir)
        if stopped:
            echo(f"stopped: {', '.join(stopped)}")
