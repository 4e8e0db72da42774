"""The demo's processes: the Prefect server, the sandbox, the worker, and the state file.

Everything the demo starts is recorded in ``<data_dir>/demo/demo.json`` (``DemoState``), so that
``finops demo --stop`` from another shell, Ctrl-C, or the next demo stops it.  Each process runs
in its own session (process group) and is stopped as a group: the worker (with its flow-run
processes) first, so that no flow run is left talking to a server that is gone, then the Prefect
server and the sandbox.  The demo process itself is recorded too (``DemoState.pid``), and so is
where its state file is, in a per-user folder (``~/.finops/demos/<pid>.json``): ``finops demo
--stop`` finds a demo whatever data folder it was started with, asks the demo process to stop
(it stops and reaps its own children), and stops what is left only if it does not.

A demo run in a data folder that a previous demo used moves that demo's data aside first
(``reset_previous``), so the second and the tenth run start as clean as the first.
"""

from __future__ import annotations

import json
import os
import shutil
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
    #: The ``finops demo`` process itself.
    pid: int = field(default_factory=os.getpid)


#: What a demo leaves in its data folder, by what the console calls it (paths relative to it).
DEMO_DATA: dict[str, tuple[str, ...]] = {
    "Prefect database": ("demo/prefect",),
    "sandbox state": ("demo/sandbox",),
    "findings": ("findings.db", "findings.db-wal", "findings.db-shm"),
    "cost store": ("costs",),
    "audit log": ("audit.jsonl",),
    "anomaly charts": ("anomalies",),
    "logs": ("demo/logs",),
}

#: Every process this one started (server, worker, sandbox), to be waited for once stopped.
_CHILDREN: list[subprocess.Popen[bytes]] = []


def demo_dir(data_dir: Path) -> Path:
    return data_dir / "demo"


def state_file(data_dir: Path) -> Path:
    return demo_dir(data_dir) / "demo.json"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def registry_dir() -> Path:
    """The per-user folder that says where each running demo's state file is."""
    return Path.home() / ".finops" / "demos"


def save_state(state: DemoState) -> None:
    path = state_file(Path(state.data_dir))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(state), indent=2))
    # Best effort: a home that cannot be written only means --stop must be given the data folder.
    with suppress(OSError, RuntimeError):
        registry_dir().mkdir(parents=True, exist_ok=True)
        entry = {"state_file": str(path), "pid": state.pid}
        (registry_dir() / f"{state.pid}.json").write_text(json.dumps(entry))


def _unregister(pid: int) -> None:
    with suppress(OSError, RuntimeError):
        (registry_dir() / f"{pid}.json").unlink(missing_ok=True)


def running_state_files(data_dir: Path | None = None) -> list[Path]:
    """The state files of the demos that may be running: ``data_dir``'s and every registered one.

    A registry entry whose state file is gone is removed on the way.
    """
    found = [state_file(data_dir)] if data_dir is not None else []
    with suppress(OSError, RuntimeError):
        for entry in sorted(registry_dir().glob("*.json")):
            try:
                path = Path(json.loads(entry.read_text())["state_file"])
            except (OSError, ValueError, KeyError, TypeError):
                entry.unlink(missing_ok=True)
                continue
            if not path.exists():
                entry.unlink(missing_ok=True)
            elif path not in found:
                found.append(path)
    return [path for path in found if path.exists()]


def reset_previous(data_dir: Path) -> list[str]:
    """Move a previous demo's data in ``data_dir`` aside, to ``<data_dir>/demo/previous/``.

    Only a folder a demo used before (it has ``demo/``) is touched, and only what a demo leaves
    there (``DEMO_DATA``); the run before the previous one is deleted.  Returns what was moved.
    """
    home = demo_dir(data_dir)
    if not home.is_dir():
        return []
    previous = home / "previous"
    shutil.rmtree(previous, ignore_errors=True)
    moved = []
    for label, names in DEMO_DATA.items():
        for name in names:
            source = data_dir / name
            if source.exists():
                target = previous / name
                target.parent.mkdir(parents=True, exist_ok=True)
                source.rename(target)
                if label not in moved:
                    moved.append(label)
    return moved


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


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux ``/proc``; elsewhere none: the group covers them)."""
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


def _is_demo_process(pid: int) -> bool:
    """Whether ``pid`` runs (not a zombie) and, where ``/proc`` tells, is still ``finops``."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, IndexError):
        return True  # no /proc here: the signal probe is all there is
    return status != "Z" and b"finops" in cmdline


def _stop_processes(state: DemoState) -> list[str]:
    """Stop the worker (and its flow runs), then the Prefect server and the sandbox."""
    from sandbox.state import stop_server

    stopped = []
    worker = state.pids.get("worker")
    if worker:
        # Flow-run processes first and alongside the worker: a flow run that outlives the
        # server logs connection tracebacks for a minute.
        flow_runs = _descendants(worker)
        if _signal_group(worker, signal.SIGTERM):
            stopped.append("worker")
        for pid in flow_runs:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        _wait_groups([worker], timeout_s=10.0)
        for pid in flow_runs:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    server = state.pids.get("prefect")
    signalled = []
    if server and _signal_group(server, signal.SIGTERM):
        signalled.append(server)
        stopped.append("prefect")
    if state.sandbox_state and stop_server(Path(state.sandbox_state)):
        stopped.append("sandbox")
    _wait_groups(signalled, timeout_s=15.0)
    return stopped


def reap_children(timeout_s: float = 5.0) -> None:
    """Wait for every process this one started, so that none is left a zombie."""
    while _CHILDREN:
        child = _CHILDREN.pop()
        try:
            child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _signal_group(child.pid, signal.SIGKILL)
            with suppress(subprocess.TimeoutExpired):
                child.wait(timeout=timeout_s)


def stop_demo(data_dir: Path, path: Path | None = None, timeout_s: float = 60.0) -> list[str]:
    """Stop the demo of ``data_dir`` (or of the state file ``path``); return what was stopped.

    A demo process other than this one is asked to stop (SIGTERM): it stops its own children
    and waits for them.  What it leaves after ``timeout_s`` (or what a demo that died left) is
    stopped here.
    """
    path = path or state_file(data_dir)
    try:
        state = DemoState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return []
    stopped = []
    if state.pid != os.getpid() and _is_demo_process(state.pid):
        os.kill(state.pid, signal.SIGTERM)
        stopped.append(f"demo process {state.pid}")
        deadline = time.monotonic() + timeout_s
        while path.exists() and _is_demo_process(state.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not path.exists():
            _unregister(state.pid)
            return [*stopped, *state.pids]
    stopped.extend(_stop_processes(state))
    reap_children()
    path.unlink(missing_ok=True)
    _unregister(state.pid)
    return stopped


def stop_all_demos(data_dir: Path) -> list[str]:
    """Stop the demo of ``data_dir`` and every other demo of this user; what was stopped."""
    stopped = []
    for path in running_state_files(data_dir):
        stopped.extend(stop_demo(path.parent.parent, path))
    return stopped


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as handle:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN.append(process)
    return process


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
    _CHILDREN.append(process)
    state.sandbox_state = str(sandbox_state)
    state.pids["sandbox"] = process.pid
    save_state(state)
    return sandbox_state, process


def start_worker(state: DemoState, pool: str, env: dict[str, str], logs: Path) -> None:
    """Start a process worker for ``pool`` (recorded in ``state``)."""
    command = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool]
    worker = _spawn([*command, "--type", "process", "--limit", "4"], env, logs / "worker.log")
    state.pids["worker"] = worker.pid
    save_state(state)
