"""The sandbox state file and the server process: start it, wait until seeded, stop it.

Written by the server process (``ready=false`` as soon as it listens, ``ready=true`` after
seeding, an ``error`` if seeding failed) and read by ``finops sandbox ...`` and the test fixture.
Default place: ``<data_dir>/sandbox/state.json``; the ground truth is written next to it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tasks.settings import Settings

STATE_FILE_NAME = "state.json"
GROUND_TRUTH_FILE_NAME = "ground_truth.json"
LOG_FILE_NAME = "server.log"


def default_state_path(settings: Settings) -> Path:
    """``<data_dir>/sandbox/state.json`` for these settings.

    Example:
        >>> from tasks.settings import load_settings
        >>> default_state_path(load_settings(data_dir="/tmp/x")).as_posix()
        '/tmp/x/sandbox/state.json'
    """
    return Path(settings.data_dir) / "sandbox" / STATE_FILE_NAME


def ground_truth_path_for(state_path: Path) -> Path:
    """The ground-truth JSON that belongs to a state file (same folder)."""
    return state_path.with_name(GROUND_TRUTH_FILE_NAME)


def log_path_for(state_path: Path) -> Path:
    """The server log that belongs to a state file (same folder)."""
    return state_path.with_name(LOG_FILE_NAME)


@dataclass
class SandboxState:
    """What the state file holds (see docs/sandbox-contract.md)."""

    endpoint_url: str
    port: int
    pid: int
    seed: int
    size: dict[str, Any]
    ground_truth_path: str
    started_at: str  # ISO 8601 UTC
    ready: bool = False
    error: str | None = None
    seeded_at: str | None = None  # ISO 8601 UTC, the seeding clock (hour-truncated)
    seconds_to_seed: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SandboxState:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def write_json_atomic(path: Path, text: str) -> None:
    """Write a file so readers never see half of it (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_state(path: Path, state: SandboxState) -> None:
    """Write the state file atomically."""
    write_json_atomic(path, state.to_json())


def read_state(path: Path) -> SandboxState | None:
    """The state in ``path``, or None when there is no state file.

    The server writes the file atomically, so a file that is not a JSON object was damaged
    from outside: that raises ``ValueError`` naming the file rather than reading as "not running".

    Example:
        >>> read_state(Path("/nonexistent/state.json")) is None
        True
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds no sandbox state")
    return SandboxState.from_dict(data)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (signal 0 probes without touching it)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------------------------
# The server process: start it detached, wait until it is seeded, stop it.
# --------------------------------------------------------------------------------------------


class SandboxError(RuntimeError):
    """The sandbox could not be started or reached; the message says what to do."""


def server_command(state_path: Path, seed: int, size: dict[str, Any], port: int = 0) -> list[str]:
    """The command line that runs one sandbox server with the current interpreter.

    Example:
        >>> server_command(Path("s.json"), 7, {"accounts": 3})[1:3]
        ['-m', 'sandbox.server']
    """
    command = [
        sys.executable,
        "-m",
        "sandbox.server",
        "--port",
        str(port),
        "--seed",
        str(seed),
        "--state-file",
        str(state_path),
    ]
    for name, value in size.items():
        flag = "--" + name.replace("_", "-")
        rendered = ",".join(value) if isinstance(value, list | tuple) else str(value)
        command += [flag, rendered]
    return command


def start_server(
    state_path: Path,
    seed: int,
    size: dict[str, Any],
    port: int = 0,
    log_path: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a sandbox server in its own session (it outlives the caller), logging to a file.

    Args:
        state_path: the state file the server writes (any old one is removed first).
        seed: the organisation's seed.
        size: SandboxSize fields (``SandboxSize.as_dict()``).
        port: 0 = a free port.
        log_path: server output; default ``server.log`` next to the state file.
        env: environment of the server; default this process's.
    """
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.unlink(missing_ok=True)
    log_file = log_path or log_path_for(state_path)
    # the server must find this project's packages whatever the caller's working directory
    project_root = str(Path(__file__).resolve().parent.parent)
    child_env = dict(env if env is not None else os.environ)
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (project_root, child_env.get("PYTHONPATH", "")) if p
    )
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            server_command(state_path, seed, size, port),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env,
            start_new_session=True,
        )


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_ready(
    state_path: Path,
    process: subprocess.Popen[bytes] | None = None,
    timeout_s: float = 600.0,
    poll_s: float = 0.1,
) -> SandboxState:
    """Wait until the server in ``state_path`` is seeded and ready.

    Raises:
        SandboxError: the server exited, reported a seeding error, or did not become ready in
            time (the message carries the end of its log).
    """
    deadline = time.monotonic() + timeout_s
    log_file = log_path_for(state_path)
    while True:
        state = read_state(state_path)
        pid_matches = state is not None and (process is None or state.pid == process.pid)
        if state is not None and pid_matches:
            if state.error:
                raise SandboxError(
                    f"sandbox seeding failed: {state.error}\n--- {log_file} ---\n"
                    f"{_log_tail(log_file)}"
                )
            if state.ready:
                return state
        if process is not None and process.poll() is not None:
            raise SandboxError(
                f"sandbox server exited with status {process.returncode} before it was ready"
                f"\n--- {log_file} ---\n{_log_tail(log_file)}"
            )
        if time.monotonic() > deadline:
            raise SandboxError(
                f"sandbox not ready after {timeout_s:.0f} s (raise --timeout for big sizes)"
                f"\n--- {log_file} ---\n{_log_tail(log_file)}"
            )
        time.sleep(poll_s)


def stop_server(state_path: Path, timeout_s: float = 20.0) -> bool:
    """Stop the server of a state file (SIGTERM, then SIGKILL) and remove its files.

    Returns:
        Whether a running server was stopped.
    """
    try:
        state = read_state(state_path)
    except ValueError:
        state = None  # a damaged state file: nothing to signal, but its files still go
    stopped = False
    if state is not None and pid_alive(state.pid):
        os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while pid_alive(state.pid) and time.monotonic() < deadline:
            _reap(state.pid)
            time.sleep(0.05)
        if pid_alive(state.pid):
            os.kill(state.pid, signal.SIGKILL)
            _reap(state.pid)
        stopped = True
    for path in (state_path, ground_truth_path_for(state_path)):
        path.unlink(missing_ok=True)
    return stopped


def _reap(pid: int) -> None:
    """Collect our own exited child so it does not linger as a zombie (no-op otherwise)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
