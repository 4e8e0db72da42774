"""`finops demo` as a user meets it twice: stopped from another shell, then run again in the same
folder.

One journey (two demo runs, about two minutes): a demo waits for approval; the approval command it
prints is run as printed in a new shell with a minimal environment; ``finops demo --stop`` from a
process with another data folder stops it (the demo process too); then a second demo in the same
folder says it moved the first one's data aside and succeeds.  After each, no process the demo
started is left, not even a zombie.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

APPROVE = re.compile(
    r"^    (PREFECT_API_URL=\S+ .* approve (\S+) --only (\S+) --as 'Your Name')$", re.M
)


def _env(home: Path, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FINOPS_", "PREFECT_"))}
    env.update(HOME=str(home), FINOPS_DATA_DIR=str(data_dir), **extra)
    return env


def _wait_for(log: Path, pattern: str, process: subprocess.Popen[bytes], timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if re.search(pattern, text, flags=re.M):
            return text
        assert process.poll() is None, f"the demo ended early:\n{text[-4000:]}"
        time.sleep(1)
    raise AssertionError(f"{pattern!r} not printed within {timeout_s:.0f} s:\n{text[-4000:]}")


def _left_over(data_dir: Path, pids: list[int]) -> list[str]:
    """Processes the demo of ``data_dir`` started that still exist (zombies included)."""
    left = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        left.append(f"pid {pid}")
    # Every process the demo starts (flow runs too) has its data folder in its environment.
    marker = f"FINOPS_DATA_DIR={data_dir}".encode()
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                left.append(
                    f"pid {environ.parent.name}: {(environ.parent / 'cmdline').read_bytes()!r}"
                )
        except OSError:
            continue
    return left


def _recorded_pids(data_dir: Path) -> list[int]:
    state = json.loads((data_dir / "demo" / "demo.json").read_text())
    return [state["pid"], *state["pids"].values()]


def test_a_demo_stopped_from_elsewhere_then_run_again_in_the_same_folder(tmp_path: Path) -> None:
    home, data_dir = tmp_path / "home", tmp_path / "a" / ".finops"
    home.mkdir()
    log = tmp_path / "first.log"
    with open(log, "wb") as out:
        first = subprocess.Popen(
            [sys.executable, "-m", "finops", "demo"],
            cwd=tmp_path,
            env=_env(home, data_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        text = _wait_for(log, APPROVE.pattern, first, timeout_s=420)
        # Stages are printed while finops-daily runs, each with how long it took.
        assert re.search(r"ingest-costs completed after \d+\.\d s", text), text
        assert re.search(r"scan-idle-resources started", text), text
        command, run_id, fingerprint = APPROVE.findall(text)[0]
        assert os.access(shlex.split(command)[2], os.X_OK), command

        # The printed command, as printed, in a new shell that has neither finops nor Prefect set.
        fresh = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
        if "PYTHONPATH" in os.environ:  # where this checkout's code is, when it is not installed
            fresh["PYTHONPATH"] = os.environ["PYTHONPATH"]
        answer = subprocess.run(
            ["bash", "-c", command], env=fresh, capture_output=True, text=True, timeout=120
        )
        assert answer.returncode == 0, answer.stdout + answer.stderr
        assert run_id in answer.stdout, answer.stdout

        text = _wait_for(log, r"^Still running: ", first, timeout_s=300)
        audit = (data_dir / "audit.jsonl").read_text()
        assert fingerprint in audit and "Your Name" in audit, audit[-2000:]
        pids = _recorded_pids(data_dir)
        assert pids[0] == first.pid

        # Stopped from a process whose data folder is another one.
        elsewhere = tmp_path / "b" / ".finops"
        stop = subprocess.run(
            [sys.executable, "-m", "finops", "demo", "--stop"],
            cwd=tmp_path,
            env=_env(home, elsewhere),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert stop.returncode == 0, stop.stdout + stop.stderr
        assert f"demo process {first.pid}" in stop.stdout, stop.stdout
        assert first.wait(timeout=60) == 0, log.read_text()[-4000:]
    finally:
        if first.poll() is None:  # stopped as Ctrl-C would, so that it stops what it started
            first.terminate()
            try:
                first.wait(timeout=90)
            except subprocess.TimeoutExpired:
                first.kill()
                first.wait()
    assert "stopped by finops demo --stop" in log.read_text()
    assert not (data_dir / "demo" / "demo.json").exists()
    assert _left_over(data_dir, pids) == []
    assert list((home / ".finops" / "demos").glob("*.json")) == []

    # The second run, in the same folder: the first one's data moved aside, and it succeeds.
    second = subprocess.run(
        [sys.executable, "-m", "finops", "demo"],
        cwd=tmp_path,
        env=_env(home, data_dir, DEMO_AUTO_APPROVE="1"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = second.stdout + second.stderr
    assert second.returncode == 0, output[-4000:]
    moved = re.search(r"^previous demo data in .* moved aside to .*: (.*)$", output, flags=re.M)
    assert moved is not None, output
    assert {"Prefect database", "sandbox state", "findings", "cost store"} <= set(
        moved[1].split(", ")
    )
    assert (data_dir / "demo" / "previous" / "findings.db").exists()
    assert re.search(r"Approved [1-9]\d* of \d+ findings waiting", output), output
    assert "stopped: worker, prefect, sandbox" in output
    assert _left_over(data_dir, []) == []
