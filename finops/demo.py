"""`finops demo`: the whole journey on one machine, from an empty folder to an approved clean-up.

Starts a local Prefect server (SQLite) and the sandbox AWS organisation, registers the
deployments on a local process work pool and starts a worker for it, runs ``finops-daily`` end to
end, and leaves the remediation run waiting for a person's approval in the Prefect UI (or
approves the safe actions itself with ``DEMO_AUTO_APPROVE=1``).  Everything it starts is recorded
in ``<data_dir>/demo/demo.json`` so ``finops demo --stop`` (``make demo-stop``) or Ctrl-C stops it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK_POOL = "finops-local"
#: Actions the demo approves on its own: reversible, or done with a backup first.
SAFE_ACTIONS = frozenset(
    {"snapshot_and_delete", "modify_to_gp3", "add_abort_multipart_rule", "stop", "tag_for_later"}
)
AUTO_APPROVER = "demo-auto-approver"


class DemoError(RuntimeError):
    """A demo step failed; the message says which and where its log is."""


@dataclass
class DemoState:
    """What the demo started, so that it can be stopped from another shell."""

    data_dir: str
    api_url: str = ""
    ui_url: str = ""
    pids: dict[str, int] = field(default_factory=dict)
    sandbox_state: str = ""
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


def demo_dir(data_dir: Path) -> Path:
    return data_dir / "demo"


def state_file(data_dir: Path) -> Path:
    return demo_dir(data_dir) / "demo.json"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _save(state: DemoState) -> None:
    path = state_file(Path(state.data_dir))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(state), indent=2))


def _kill_group(pid: int, timeout_s: float = 15.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def stop_demo(data_dir: Path) -> list[str]:
    """Stop everything a demo started (worker, Prefect server, sandbox); return what was stopped."""
    from sandbox.state import stop_server

    path = state_file(data_dir)
    if not path.exists():
        return []
    state = DemoState(**json.loads(path.read_text()))
    stopped = []
    for name in ("worker", "prefect"):
        pid = state.pids.get(name)
        if pid:
            _kill_group(pid)
            stopped.append(name)
    if state.sandbox_state and stop_server(Path(state.sandbox_state)):
        stopped.append("sandbox")
    path.unlink(missing_ok=True)
    return stopped


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
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


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(f"{url} exited with {process.returncode} before it answered; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise DemoError(f"{url} did not answer within {timeout_s:.0f} s; see {log}")


def prefect_env(home: Path, api_url: str) -> dict[str, str]:
    """Environment of the demo's Prefect processes: their own home, database and API."""
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_LOCAL_STORAGE_PATH": str(home / "storage"),
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PREFECT_WORKER_PREFETCH_SECONDS": "5",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }


@contextmanager
def prefect_settings(env: dict[str, str]) -> Iterator[None]:
    """Point this process's Prefect client at the demo server for the duration of a block."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_LOCAL_STORAGE_PATH,
        temporary_settings,
    )

    with temporary_settings(
        updates={
            PREFECT_API_URL: env["PREFECT_API_URL"],
            PREFECT_LOCAL_STORAGE_PATH: env["PREFECT_LOCAL_STORAGE_PATH"],
        }
    ):
        yield


def register_deployments(pool: str = WORK_POOL) -> dict[str, str]:
    """Create the local process work pool and register every flow on it; return ids by name."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    from flows.check_cost_anomalies import check_cost_anomalies
    from flows.finops_daily import finops_daily
    from flows.ingest_costs import ingest_costs
    from flows.remediate_findings import remediate_findings
    from flows.report import report
    from flows.scan_idle_resources import scan_idle_resources

    with get_client(sync_client=True) as client, suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    registered: dict[str, str] = {}
    for flow_obj, parameters in (
        (ingest_costs, {}),
        (check_cost_anomalies, {}),
        (scan_idle_resources, {}),
        (report, {}),
        # The sandbox acts for real once a person approved; the run pauses in its process.
        (remediate_findings, {"dry_run": False, "wait_mode": "pause"}),
        (finops_daily, {}),
    ):
        module = flow_obj.fn.__module__.replace(".", "/")  # type: ignore[attr-defined]
        # from_source over the project folder gives the deployment a set_working_directory
        # pull step, so the process worker runs the flow in this checkout.
        sourced: Any = flow_obj.from_source(  # type: ignore[attr-defined]
            source=str(ROOT),
            entrypoint=f"{module}.py:{flow_obj.fn.__name__}",  # type: ignore[attr-defined]
        )
        deployment: Any = sourced.to_deployment(
            name=flow_obj.name,  # type: ignore[attr-defined]
            parameters=parameters,
            work_pool_name=pool,
            tags=["finops", "demo"],
        )
        registered[flow_obj.name] = str(deployment.apply())
    return registered


def wait_for_paused_run(deployment_id: str, timeout_s: float = 240.0) -> str:
    """The id of the remediation run once it waits for approval."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(
                    id=DeploymentFilterId(any_=[UUID(deployment_id)])
                )
            )
            for run in runs:
                if run.state is not None and run.state.is_paused():
                    return str(run.id)
                if run.state is not None and run.state.is_final():
                    raise DemoError(
                        f"the remediation run ended as {run.state.name} before asking for approval"
                    )
            time.sleep(1)
    raise DemoError(f"no remediation run waited for approval within {timeout_s:.0f} s")


def wait_for_final(run_id: str, on_wait: Callable[[], None] | None = None) -> Any:
    """Wait until a flow run is final and return it."""
    from uuid import UUID

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(UUID(run_id))
            if run.state is not None and run.state.is_final():
                return run
            if on_wait is not None:
                on_wait()
            time.sleep(1)


def run_result(run: Any) -> Any:
    """The persisted return value of a finished flow run."""
    if run.state is None or not run.state.is_completed():
        name = run.state.name if run.state else "no state"
        message = run.state.message if run.state else ""
        raise DemoError(f"flow run {run.id} ended as {name}: {message}")
    return run.state.result()


def safe_fingerprints(findings_url: str) -> list[str]:
    """Findings whose proposed action is reversible or backed up, and not protected."""
    from tasks.findings.store import ACTIONABLE, FindingsStore
    from tasks.remediation.menu import default_action

    chosen = []
    for stored in FindingsStore(findings_url).list(statuses=sorted(ACTIONABLE)):
        finding = stored.finding
        if default_action(finding.check, finding.recommended_actions) in SAFE_ACTIONS:
            chosen.append(stored.fingerprint)
    return chosen


def anomaly_backtest(cost_store_url: str, truth: dict[str, Any]) -> dict[str, Any]:
    """Injected anomalies found by the daily detector judged causally over the whole history."""
    from tasks.anomalies.backtest import backtest_store

    return backtest_store(cost_store_url, truth.get("anomalies", [])).as_dict()


def summarise(
    *,
    daily: dict[str, Any],
    remediation: dict[str, Any],
    findings_url: str,
    cost_store_url: str,
    truth: dict[str, Any],
    stage_seconds: dict[str, float],
) -> list[str]:
    """The demo's closing summary, in lines a person reads."""
    from tasks.costs.store import CostStore
    from tasks.findings.store import FindingsStore

    lines = ["", "=== finops-flows demo summary ==="]
    ingest = daily.get("ingest") or {}
    store = CostStore(cost_store_url)
    spend = store.query(
        "select count(*) as n_rows, count(distinct charge_date) as n_days, "
        "sum(effective_cost) as total from costs"
    ).iloc[0]
    last_day = date.fromisoformat(daily["day"])
    month = store.read(last_day - timedelta(days=29), last_day, ["effective_cost"])
    monthly_spend = Decimal(str(round(float(month["effective_cost"].sum()), 2)))
    lines.append(
        f"Spend ingested: {int(spend['n_rows']):,} cost rows over {int(spend['n_days'])} days, "
        f"${Decimal(str(round(float(spend['total']), 2))):,} USD effective "
        f"(this run: {ingest.get('rows', 0):,} rows)"
    )
    lines.append(f"Spend in the last 30 days: ${monthly_spend:,} USD")

    backtest = anomaly_backtest(cost_store_url, truth)
    lines.append(
        f"Anomalies: {backtest['found']} of {backtest['injected']} injected anomalies found "
        f"(history judged causally day by day), {backtest['false_alerts']} other alerts; "
        f"today's check: {len((daily.get('anomalies') or {}).get('anomalies', []))} "
        "open or recent"
    )

    by_check: dict[str, list[Decimal]] = defaultdict(list)
    for stored in FindingsStore(findings_url).list():
        by_check[stored.finding.check].append(stored.finding.monthly_savings_usd or Decimal(0))
    total_savings = sum((sum(v, Decimal(0)) for v in by_check.values()), Decimal(0))
    lines.append("Findings and monthly savings by check (USD per month):")
    for check, amounts in sorted(by_check.items(), key=lambda kv: -sum(kv[1], Decimal(0))):
        lines.append(f"  {check:<20} {len(amounts):>4}  ${sum(amounts, Decimal(0)):>10,.2f}")
    share = (total_savings / monthly_spend * 100) if monthly_spend else Decimal(0)
    lines.append(
        f"  {'total':<20} {sum(len(v) for v in by_check.values()):>4}  ${total_savings:>10,.2f}"
        f"  = {share:.1f}% of monthly spend (target 15-30%)"
    )
    attempted = remediation.get("attempted", 0)
    rate = remediation.get("success_rate")
    rate_text = "n/a" if rate is None else f"{float(rate) * 100:.1f}%"
    reasons = remediation.get("skip_reasons") or {}
    lines.append(
        f"Remediation ({remediation.get('status')}, approver {remediation.get('approver') or '-'},"
        f" dry run {remediation.get('dry_run')}): {attempted} attempted, "
        f"{remediation.get('succeeded', 0)} succeeded, {remediation.get('skipped', 0)} skipped, "
        f"{remediation.get('failed', 0)} failed; automation success rate {rate_text} "
        "(target >= 95%)"
    )
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
        lines.append(f"  skipped {count:>3}: {reason}")
    lines.append("Time per stage (s):")
    for stage, seconds in {**stage_seconds, **daily.get("timings_s", {})}.items():
        lines.append(f"  {stage:<22} {seconds:>7.1f}")
    return lines


def run_demo(
    data_dir: Path,
    auto_approve: bool,
    keep_running: bool,
    echo: Callable[[str], None] = print,
) -> int:
    """Run the demo; return the process exit code."""
    from finops.commands.sandbox import sandbox_env
    from sandbox.context import SandboxSize
    from sandbox.state import start_server, wait_ready

    data_dir = data_dir.resolve()
    stopped = stop_demo(data_dir)
    if stopped:
        echo(f"stopped a previous demo ({', '.join(stopped)})")
    home = demo_dir(data_dir)
    logs = home / "logs"
    state = DemoState(data_dir=str(data_dir))
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        timings[name] = round(time.perf_counter() - clock, 1)
        clock = time.perf_counter()

    try:
        port = free_port()
        api_url = f"http://127.0.0.1:{port}/api"
        penv = prefect_env(home / "prefect", api_url)
        server = _spawn(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            {**os.environ, **penv},
            logs / "prefect-server.log",
        )
        state.api_url, state.ui_url = api_url, f"http://127.0.0.1:{port}"
        state.pids["prefect"] = server.pid
        _save(state)

        sandbox_state = home / "sandbox" / "state.json"
        sandbox_process = start_server(sandbox_state, seed=7, size=SandboxSize().as_dict())
        state.sandbox_state = str(sandbox_state)
        _save(state)
        echo("starting the Prefect server and the sandbox AWS organisation ...")
        _wait_http(f"{api_url}/health", server, logs / "prefect-server.log", 120)
        lap("prefect server")
        box = wait_ready(sandbox_state, sandbox_process, timeout_s=300)
        truth = json.loads(Path(box.ground_truth_path).read_text())
        lap("sandbox")
        echo(f"Prefect UI: {state.ui_url}    sandbox AWS: {box.endpoint_url}")

        run_env = {
            **os.environ,
            **penv,
            **sandbox_env(box.endpoint_url),
            "FINOPS_DATA_DIR": str(data_dir),
            "FINOPS_AWS__REGIONS": json.dumps(truth["regions"]),
            "FINOPS_COSTS__SOURCE": "export",
            "FINOPS_COSTS__EXPORT_BUCKET": truth["export"]["bucket"],
            "FINOPS_COSTS__EXPORT_PREFIX": truth["export"]["prefix"],
            "FINOPS_COSTS__EXPORT_NAME": truth["export"]["export_name"],
            "FINOPS_NOTIFY__PREFECT_UI_URL": state.ui_url,
            # The sandbox organisation is small: one run may act on all of it.
            "FINOPS_REMEDIATION__MAX_RESOURCES": "500",
        }
        run_env.pop("AWS_PROFILE", None)
        os.environ.update({k: v for k, v in run_env.items() if k.startswith(("AWS_", "FINOPS_"))})
        with prefect_settings(penv):
            deployments = register_deployments()
            worker = _spawn(
                [
                    sys.executable,
                    "-m",
                    "prefect",
                    "worker",
                    "start",
                    "--pool",
                    WORK_POOL,
                    "--type",
                    "process",
                    "--limit",
                    "4",
                ],
                run_env,
                logs / "worker.log",
            )
            state.pids["worker"] = worker.pid
            _save(state)
            lap("deployments and worker")

            from prefect.deployments import run_deployment

            echo("running finops-daily: ingest -> anomalies -> idle scan -> report -> approval")
            daily_run = run_deployment(
                name="finops-daily/finops-daily", timeout=None, poll_interval=2
            )
            daily = run_result(daily_run)  # type: ignore[arg-type]
            lap("finops-daily")

            paused_id = wait_for_paused_run(deployments["remediate-findings"])
            echo("")
            echo("A remediation run is waiting for your approval:")
            echo(f"  Prefect UI:  {state.ui_url}/runs/flow-run/{paused_id}  (click Resume)")
            echo(f"  or the CLI:  finops approve {paused_id} --only <fingerprint> --as <your name>")
            echo("                (list the findings with: finops findings)")
            if auto_approve:
                chosen = safe_fingerprints(f"sqlite:///{data_dir / 'findings.db'}")
                from finops.commands.findings import approve

                approve(
                    paused_id,
                    approver=AUTO_APPROVER,
                    reject=False,
                    only=chosen,
                    action=[],
                    comment="DEMO_AUTO_APPROVE=1: safe actions only",
                )
            else:
                echo("waiting for the approval (Ctrl-C stops the demo) ...")
            remediation_run = wait_for_final(paused_id)
            remediation = run_result(remediation_run)
            lap("approval and remediation")

        for line in summarise(
            daily=daily,
            remediation=remediation,
            findings_url=f"sqlite:///{data_dir / 'findings.db'}",
            cost_store_url=str(data_dir / "costs"),
            truth=truth,
            stage_seconds=timings,
        ):
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
