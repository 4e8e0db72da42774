"""Running the ``finops`` CLI as a new process, as a user would, with nothing reachable.

``isolated_env`` gives the command a home, data folder and Prefect home of its own, and points
Prefect and AWS at a loopback port where nothing listens (``CLOSED``): a command that should not
need the network fails fast and plainly if it tries.  Callers add what their case needs.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: A loopback URL with nothing listening (the port was free when the session started).
CLOSED = f"http://127.0.0.1:{_closed_port()}"


def isolated_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI process that sees only ``tmp_path`` and ``extra``."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "FINOPS_DATA_DIR": str(tmp_path / "data"),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": f"{CLOSED}/api",
        "DO_NOT_TRACK": "1",
        "AWS_ENDPOINT_URL": CLOSED,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        **extra,
    }
