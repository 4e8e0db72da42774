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


def _signal_group(pid: int, signum: int) -> bool:
    """Send a signal to a process group; whether the group still existed."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        return False
    return True


def _reap(pid: int) -> None:
    # A child of this process that exited stays a zombie, and a zombie still "exists" for
    # killpg(pid, 0), until it is waited for: without this every stop waited the full timeout.
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _wait_groups(pids: list[int], timeout_s: float) -> None:
    """Wait for process groups to end; SIGKILL what is left after the timeout."""
    deadline = time.monotonic() + timeout_s
    alive = [pid for pid in pids if _signal_group(pid, 0)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        for pid in alive:
            _reap(pid)
        alive = [pid for pid in alive if _signal_group(pid, 0)]
    for pid in alive:
        _signal_group(pid, signal.SIGKILL)
        _reap(pid)


def _kill_group(pid: int, timeout_s: float = 15.0) -> None:
    if _signal_group(pid, signal.SIGTERM):
        _wait_groups([pid], timeout_s)


def stop_demo(data_dir: Path) -> list[str]:
    """Stop everything a demo started (worker, Prefect server, sandbox); return what was stopped."""
    from sandbox.state import stop_server

    path = state_file(data_dir)
    if not path.exists():
        return []
    state = DemoState(**json.loads(path.read_text()))
    stopped = []
    # Everything is asked to stop at once and shuts down side by side.
    signalled = []
    for name in ("worker", "prefect"):
        pid = state.pids.get(name)
        if pid:
            if _signal_group(pid, signal.SIGTERM):
                signalled.append(pid)
            stopped.append(name)
    if state.sandbox_state and stop_server(Path(state.sandbox_state)):
        stopped.append("sandbox")
    _wait_groups(signalled, timeout_s=15.0)
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
    """Findings whose proposed action is reversible or backed up, can be carried out on the
    resource, and whose resource is not protected (so every approval is one the run acts on)."""
    from tasks.findings.store import ACTIONABLE, FindingsStore
    from tasks.remediation.actions import ACTIONS
    from tasks.remediation.menu import default_action

    chosen = []
    for stored in FindingsStore(findings_url).list(statuses=sorted(ACTIONABLE)):
        finding = stored.finding
        action = default_action(finding.check, finding.recommended_actions)
        spec = ACTIONS.get(action)
        if (
            action in SAFE_ACTIONS
            and spec is not None
            and spec.applies_to(finding)
            and not finding.evidence.get("protected")
        ):
            chosen.append(stored.fingerprint)
    return chosen


def findings_vs_truth(
    findings: list[tuple[str, str, str, str]], truth: dict[str, Any]
) -> dict[str, dict[str, int]]:
    """Per check: resources the sandbox's ground truth flags, how many of them were found, and
    findings the ground truth does not flag.

    Args:
        findings: (check, account id, region, resource id) of each finding.
        truth: the sandbox ground truth (its ``resources`` carry ``expected`` per check).

    Example:
        >>> truth = {"resources": [{"account_id": "1", "region": "r", "resource_id": "i-1",
        ...     "arn": "", "expected": {"ec2-idle": True, "ec2-stopped": False}}]}
        >>> findings_vs_truth([("ec2-idle", "1", "r", "i-1")], truth)["ec2-idle"]
        {'expected': 1, 'found': 1, 'unexpected': 0}
    """
    flagged: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    aliases: dict[tuple[str, str, str], tuple[str, str, str]] = {}
    for record in truth.get("resources", []):
        key = (str(record["account_id"]), str(record["region"]), str(record["resource_id"]))
        if record.get("arn"):
            aliases[(key[0], key[1], str(record["arn"]))] = key
        for check, expected in (record.get("expected") or {}).items():
            if expected:
                flagged[check].add(key)
    reported: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    for check, account, region, resource in findings:
        key = (account, region, resource)
        reported[check].add(aliases.get(key, key))
    return {
        check: {
            "expected": len(flagged[check]),
            "found": len(flagged[check] & reported[check]),
            "unexpected": len(reported[check] - flagged[check]),
        }
        for check in sorted(set(flagged) | set(reported))
    }


def timing_lines(stage_seconds: dict[str, float], daily_seconds: dict[str, float]) -> list[str]:
    """The time each demo stage took, finops-daily's own stages indented under it.

    Example:
        >>> for line in timing_lines({"finops-daily": 9.0}, {"ingest": 5.0}):
        ...     print(line)
        Time per stage (s):
          finops-daily                  9.0
            ingest                      5.0
          total                         9.0
    """
    lines = ["Time per stage (s):"]
    for stage, seconds in stage_seconds.items():
        lines.append(f"  {stage:<26} {seconds:>6.1f}")
        if stage == "finops-daily":
            # The scan runs alongside ingest and anomalies, so these overlap.
            lines.extend(
                f"    {inner:<24} {inner_s:>6.1f}" for inner, inner_s in daily_seconds.items()
            )
    lines.append(f"  {'total':<26} {sum(stage_seconds.values()):>6.1f}")
    return lines


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
    approved: int | None = None,
) -> list[str]:
    """The demo's closing summary, in lines a person reads (the stage times go after it)."""
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
    keys: list[tuple[str, str, str, str]] = []
    for stored in FindingsStore(findings_url).list():
        finding = stored.finding
        by_check[finding.check].append(finding.monthly_savings_usd or Decimal(0))
        keys.append((finding.check, finding.account_id, finding.region, finding.resource_id))
    # Judged on the checks the scan ran (the ground truth also holds variants of some checks).
    ran = {str(item[0]) for item in (daily.get("scan") or {}).get("scanned") or []}
    judged = {c: j for c, j in findings_vs_truth(keys, truth).items() if c in ran}
    total_savings = sum((sum(v, Decimal(0)) for v in by_check.values()), Decimal(0))
    lines.append(
        "Findings and monthly savings by check (USD per month), "
        "against the sandbox's flagged resources:"
    )
    for check, amounts in sorted(by_check.items(), key=lambda kv: -sum(kv[1], Decimal(0))):
        score = judged.get(check, {"expected": 0, "found": 0, "unexpected": len(amounts)})
        lines.append(
            f"  {check:<20} {len(amounts):>4}  ${sum(amounts, Decimal(0)):>10,.2f}"
            f"   {score['found']} of {score['expected']} flagged found"
            + (f", {score['unexpected']} not flagged" if score["unexpected"] else "")
        )
    for check, score in judged.items():
        if check not in by_check and score["expected"]:
            lines.append(f"  {check:<20} {0:>4}  ${0:>10,.2f}   0 of {score['expected']} found")
    share = (total_savings / monthly_spend * 100) if monthly_spend else Decimal(0)
    lines.append(
        f"  {'total':<20} {sum(len(v) for v in by_check.values()):>4}  ${total_savings:>10,.2f}"
        f"  = {share:.1f}% of monthly spend (target 15-30%); "
        f"{sum(j['found'] for j in judged.values())} of "
        f"{sum(j['expected'] for j in judged.values())} flagged resources found"
    )
    attempted = remediation.get("attempted", 0)
    rate = remediation.get("success_rate")
    rate_text = "n/a" if rate is None else f"{float(rate) * 100:.1f}%"
    reasons = remediation.get("skip_reasons") or {}
    if approved is not None:
        lines.append(
            f"Approved {approved} of {daily.get('awaiting_approval', 0)} findings waiting "
            "(safe actions that apply to the resource, protected resources left alone)"
        )
    lines.append(
        f"Remediation ({remediation.get('status')}, approver {remediation.get('approver') or '-'},"
        f" dry run {remediation.get('dry_run')}): {attempted} attempted, "
        f"{remediation.get('succeeded', 0)} succeeded, {remediation.get('skipped', 0)} skipped, "
        f"{remediation.get('failed', 0)} failed; automation success rate {rate_text} "
        "(target >= 95%)"
    )
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
        lines.append(f"  skipped {count:>3}: {reason}")
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
        # Both start at once; the stage lasts until the later of the two is ready.
        _wait_http(f"{api_url}/health", server, logs / "prefect-server.log", 120)
        server_ready_s = time.perf_counter() - clock
        box = wait_ready(sandbox_state, sandbox_process, timeout_s=300)
        truth = json.loads(Path(box.ground_truth_path).read_text())
        lap("prefect server+sandbox")
        echo(
            f"Prefect server answered after {server_ready_s:.1f} s, sandbox seeded after "
            f"{timings['prefect server+sandbox']:.1f} s"
        )
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
            # The waiting run notices a Resume within a second, not the default ten.
            "FINOPS_REMEDIATION__APPROVAL_POLL_S": "1",
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
            daily = run_result(daily_run).model_dump(mode="json")  # type: ignore[arg-type]
            lap("finops-daily")

            paused_id = wait_for_paused_run(deployments["remediate-findings"])
            echo("")
            echo("A remediation run is waiting for your approval:")
            echo(f"  Prefect UI:  {state.ui_url}/runs/flow-run/{paused_id}  (click Resume)")
            echo(f"  or the CLI:  finops approve {paused_id} --only <fingerprint> --as <your name>")
            echo("                (list the findings with: finops findings)")
            approved: int | None = None
            if auto_approve:
                chosen = safe_fingerprints(f"sqlite:///{data_dir / 'findings.db'}")
                approved = len(chosen)
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
            remediation = run_result(remediation_run).model_dump(mode="json")
            lap("approval and remediation")

        lines = summarise(
            daily=daily,
            remediation=remediation,
            findings_url=f"sqlite:///{data_dir / 'findings.db'}",
            cost_store_url=str(data_dir / "costs"),
            truth=truth,
            approved=approved,
        )
        lap("summary")
        for line in [*lines, *timing_lines(timings, daily.get("timings_s", {}))]:
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
