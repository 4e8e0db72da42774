"""The sandbox server process: moto behind our dispatcher on 127.0.0.1, seeded in-process.

Usage::

    python -m sandbox.server --port 0 --seed 7 --state-file .finops/sandbox/state.json \\
        --accounts 3 --regions us-east-1,eu-west-1 --instances 12 --volumes 12 --days 14 \\
        --cost-days 400

It listens first (port 0 = a free port), writes the state file with ``ready=false``, seeds the
organisation through its own endpoint and moto's backend objects, writes the ground truth next to
the state file, then rewrites the state file with ``ready=true``.  If seeding fails the state file
says why (``error``) and the process exits with status 1.  SIGTERM/SIGINT stop it cleanly.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from sandbox import cloudwatch_index, moto_patches
from sandbox.context import SandboxSize, SeedContext, hour_floor
from sandbox.dispatcher import SandboxControl, SandboxDispatcher
from sandbox.seed import Seeded, seed_sandbox
from sandbox.state import SandboxState, ground_truth_path_for, write_json_atomic, write_state

log = logging.getLogger("sandbox.server")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The server's command line (the size knobs of ``finops sandbox up``)."""
    defaults = SandboxSize()
    parser = argparse.ArgumentParser(prog="python -m sandbox.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="Bind address (loopback).")
    parser.add_argument("--port", type=int, default=0, help="Port; 0 = a free one.")
    parser.add_argument("--seed", type=int, default=7, help="Seed of the organisation.")
    parser.add_argument("--state-file", type=Path, required=True, help="State file to write.")
    parser.add_argument("--accounts", type=int, default=defaults.accounts)
    parser.add_argument(
        "--regions", default=",".join(defaults.regions), help="Comma-separated region names."
    )
    parser.add_argument("--instances", type=int, default=defaults.instances)
    parser.add_argument("--volumes", type=int, default=defaults.volumes)
    parser.add_argument("--days", type=int, default=defaults.days)
    parser.add_argument("--cost-days", type=int, default=defaults.cost_days)
    return parser.parse_args(argv)


def size_from_args(args: argparse.Namespace) -> SandboxSize:
    """The SandboxSize the arguments describe (raises ValueError with what to fix)."""
    regions = tuple(r.strip() for r in str(args.regions).split(",") if r.strip())
    return SandboxSize(
        accounts=args.accounts,
        regions=regions,
        instances=args.instances,
        volumes=args.volumes,
        days=args.days,
        cost_days=args.cost_days,
    )


class SandboxServer:
    """One sandbox: the WSGI server thread, the control state, and the seeding.

    Example:
        >>> server = SandboxServer(Path("/tmp/s/state.json"), 7, SandboxSize())  # doctest: +SKIP
        >>> server.start(); server.seed()  # doctest: +SKIP
    """

    def __init__(
        self, state_path: Path, seed: int, size: SandboxSize, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.state_path = state_path
        self.seed_value = seed
        self.size = size
        self.control = SandboxControl()
        cloudwatch_index.install()
        moto_patches.install()
        moto_app = DomainDispatcherApplication(create_backend_app)
        self.app = SandboxDispatcher(moto_app, self.control)
        self.httpd: BaseWSGIServer = make_server(host, port, self.app, threaded=True)
        self.port = int(self.httpd.server_port)
        self.endpoint_url = f"http://{host}:{self.port}"
        self.started_at = datetime.now(UTC)
        self._thread: threading.Thread | None = None
        self.state = SandboxState(
            endpoint_url=self.endpoint_url,
            port=self.port,
            pid=os.getpid(),
            seed=seed,
            size=size.as_dict(),
            ground_truth_path=str(ground_truth_path_for(state_path).resolve()),
            started_at=self.started_at.isoformat(),
        )

    def start(self) -> None:
        """Serve in a background thread and announce the port (ready=false)."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="sandbox-wsgi", daemon=True
        )
        self._thread.start()
        write_state(self.state_path, self.state)
        log.info("listening on %s (seeding...)", self.endpoint_url)

    def seed(self) -> None:
        """Seed in this process, write the ground truth, then mark the state ready."""
        started = time.perf_counter()
        ctx = SeedContext(
            self.endpoint_url, self.seed_value, hour_floor(self.started_at), self.size
        )
        seeded = seed_sandbox(ctx, Path(self.state_path).parent)
        ground_truth_path = Path(self.state.ground_truth_path)
        write_json_atomic(ground_truth_path, json.dumps(seeded.ground_truth, indent=1, default=str))
        self.control.ground_truth = seeded.ground_truth
        self.control.cost_explorer = seeded.cost_explorer
        self.control.cost_operations = seeded.cost_operations
        self.control.restate = self._restate_and_persist(seeded)
        self.control.services = seeded.services
        self.control.ready = True
        self.state.ready = True
        self.state.seeded_at = ctx.now.isoformat()
        self.state.seconds_to_seed = round(time.perf_counter() - started, 3)
        self.state.extra = {"timings": seeded.timings}
        write_state(self.state_path, self.state)
        log.info("ready in %.1f s: %s", self.state.seconds_to_seed, self.endpoint_url)

    def _restate_and_persist(self, seeded: Seeded) -> Callable[[date, float], dict[str, Any]]:
        path = Path(self.state.ground_truth_path)

        def restate(day: date, factor: float) -> dict[str, Any]:
            details = seeded.restate(day, factor)
            # the ground truth file follows the restated ledger
            write_json_atomic(path, json.dumps(seeded.ground_truth, indent=1, default=str))
            return details

        return restate

    def fail(self, error: BaseException) -> None:
        """Record why seeding failed, for ``finops sandbox up`` and the fixture to show."""
        message = f"{type(error).__name__}: {error}"
        self.control.error = message
        self.state.error = message
        write_state(self.state_path, self.state)

    def stop(self) -> None:
        """Stop serving and remove the state and ground-truth files if they are still ours."""
        self.httpd.shutdown()
        self.httpd.server_close()
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return
        if data.get("pid") == os.getpid():  # a newer sandbox may have taken the path over
            self.state_path.unlink(missing_ok=True)
            Path(self.state.ground_truth_path).unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sandbox until SIGTERM/SIGINT; exit status 1 if seeding fails."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # one line per request drowns the seeding log; errors still show
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    args = parse_args(argv)
    try:
        size = size_from_args(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    server = SandboxServer(args.state_file, args.seed, size, args.host, args.port)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    try:
        server.seed()
    except Exception as error:  # reported in the state file and the log, then exit 1
        traceback.print_exc()
        server.fail(error)
        server.httpd.shutdown()
        return 1
    while not stop.wait(0.2):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    status = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # the state file is already cleaned up; skip freeing a large heap object by object
    os._exit(status)
