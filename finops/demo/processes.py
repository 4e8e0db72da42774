"""The demo's processes: the Prefect server, the sandbox, the worker, and the state file.

Everything the demo starts is recorded in ``<data_dir>/demo/demo.json`` (``DemoState``), so that
``finops demo --stop`` from another shell, Ctrl-C, or the next demo stops it.  Each process runs
in its own session (process group) and is stopped as a group.
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
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finops.demo.errors import DemoError

ROOT = Path(__file__).resolve().parents[2]


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


def save_state(state: DemoState) -> None:
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


def start_prefect_server(
    state: DemoState, home: Path, logs: Path
) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """Start a Prefect server on a free port (recorded in ``state``); its process and env."""
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    penv = prefect_env(home / "prefect", api_url)
    command = [sys.executable, "-m", "prefect", "server", "start"]
    server = _spawn(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        {**os.environ, **penv},
        logs / "prefect-server.log",
    )
    state.api_url, state.ui_url = api_url, f"http://127.0.0.1:{port}"
    state.pids["prefect"] = server.pid
    save_state(state)
    return server, penv


def start_sandbox(state: DemoState, home: Path) -> tuple[Path, Any]:
    """Start the sandbox AWS organisation (recorded in ``state``); its state file and process."""
    from sandbox.context import SandboxSize
    from sandbox.state import start_server

    sandbox_state = home / "sandbox" / "state.json"
    process = start_server(sandbox_state, seed=7, size=SandboxSize().as_dict())
    state.sandbox_state = str(sandbox_state)
    save_state(state)
    return sandbox_state, process


def start_worker(state: DemoState, pool: str, env: dict[str, str], logs: Path) -> None:
    """Start a process worker for ``pool`` (recorded in ``state``)."""
    command = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool]
    worker = _spawn([*command, "--type", "process", "--limit", "4"], env, logs / "worker.log")
    state.pids["worker"] = worker.pid
    save_state(state)
