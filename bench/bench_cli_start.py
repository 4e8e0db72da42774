"""Time from typing a `finops` command to its first AWS request, with and without a Prefect API.

The command is the user's own: ``finops ingest --source ce`` for one day, as a new process.  Its
AWS endpoint is a loopback HTTP server here that notes when the first request arrives (and then
answers 400, so the run ends quickly).  Two ways of running, alternated round by round:

- ``temporary``: no Prefect API configured, so Prefect starts its own temporary server first;
- ``configured``: ``PREFECT_API_URL`` names a Prefect server already running (what a user with a
  server, or with ``finops demo`` running, gets).

Usage::

    .venv/bin/python bench/bench_cli_start.py              # 3 rounds, appends to RESULTS.md
    .venv/bin/python bench/bench_cli_start.py --rounds 5 --no-write
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import load_average, machine, record

ROOT = Path(__file__).resolve().parents[1]
FINOPS = ROOT / ".venv" / "bin" / "finops"
COMMAND = ["ingest", "--source", "ce", "--start", "2026-11-01", "--end", "2026-11-01"]


class FirstRequest(BaseHTTPRequestHandler):
    """Notes the arrival of the first request, answers every request 400."""

    arrived: threading.Event
    at: list[float]

    def _answer(self) -> None:
        if not self.arrived.is_set():
            self.at.append(time.monotonic())
            self.arrived.set()
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b'{"__type":"ValidationException","message":"bench endpoint"}'
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET = _answer

    def log_message(self, *args: object) -> None:
        return


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def time_to_first_request(env: dict[str, str], work: Path, timeout_s: float = 120) -> float:
    handler = type("Handler", (FirstRequest,), {"arrived": threading.Event(), "at": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    run_env = env | {"AWS_ENDPOINT_URL": endpoint, "FINOPS_COSTS__CE_MAX_ATTEMPTS": "1"}
    start = time.monotonic()
    process = subprocess.Popen(
        [str(FINOPS), *COMMAND],
        cwd=work,
        env=run_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if not handler.arrived.wait(timeout_s):
            raise SystemExit(f"no AWS request within {timeout_s:.0f} s")
        return handler.at[0] - start
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        server.shutdown()
        server.server_close()


def start_prefect_server(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = os.environ | {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
    }
    prefect = ROOT / ".venv" / "bin" / "prefect"
    process = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2):
                return process, api_url
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("the Prefect server did not start within 120 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="Runs per way of running.")
    parser.add_argument("--no-write", action="store_true", help="Do not append RESULTS.md.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-cli-start-"))
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("FINOPS_", "AWS_", "PREFECT_"))
    }
    base |= {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    base |= {"AWS_DEFAULT_REGION": "us-east-1", "PREFECT_HOME": str(work / "prefect-home")}
    base |= {"FINOPS_DATA_DIR": str(work / "data")}
    server, api_url = start_prefect_server(work / "server-home")
    figures: dict[str, list[float]] = {"temporary": [], "configured": []}
    load_before = load_average()
    try:
        for _ in range(args.rounds):
            for name in figures:
                env = base | ({"PREFECT_API_URL": api_url} if name == "configured" else {})
                seconds = time_to_first_request(env, work)
                figures[name].append(seconds)
                print(f"{name}: first AWS request after {seconds:.2f} s")
    finally:
        server.terminate()
        server.wait(timeout=30)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = "\n".join(
        f"| {name} | {min(s):.2f} s | {statistics.median(s):.2f} s | {max(s):.2f} s |"
        for name, s in figures.items()
    )
    ratio = statistics.median(figures["temporary"]) / statistics.median(figures["configured"])
    text = (
        f"\n## bench_cli_start: `finops {' '.join(COMMAND)}` to its first AWS request ({stamp})\n\n"
        f"Machine: {machine()}; load before {load_before}, after {load_average()}.  "
        f"{args.rounds} rounds, the two ways alternated; a new `finops` process each time.\n\n"
        "| Prefect API | min | median | max |\n|---|---|---|---|\n"
        f"{rows}\n\nA configured API makes the first request {ratio:.1f}x sooner (median).\n"
    )
    print(text)
    if not args.no_write:
        record(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
