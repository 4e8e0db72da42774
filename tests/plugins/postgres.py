"""A real PostgreSQL server for the test session, started from Debian's binaries on loopback.

``postgres_server`` (session) runs ``initdb`` into a temporary folder and ``pg_ctl start`` on a
free 127.0.0.1 port; as root it runs them as the ``postgres`` user (postgres refuses root).
``postgres_url`` (function) creates a fresh database per test and yields its SQLAlchemy URL
(psycopg 3 driver).  When the binaries are missing the tests fail with the install command:
CI's ``.ci/run`` installs the ``postgresql`` package.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class PostgresServer:
    """A running test server: where it listens and who may connect (trust auth)."""

    host: str
    port: int
    user: str

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def admin_dsn(self) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname=postgres"


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    # postgres will not run as root; Debian's package creates the 'postgres' system user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Start a throwaway PostgreSQL server on loopback for the session; stop it at the end."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.fail(
            "PostgreSQL binaries not found; install them: apt-get update && "
            "apt-get install -y postgresql"
        )
    root = Path(tempfile.mkdtemp(prefix="finops-pg-"))
    data_dir, socket_dir, log_file = root / "data", root / "sock", root / "server.log"
    socket_dir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(socket_dir, "postgres")
    user = "finops"
    subprocess.run(
        _as_server_user(
            [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", user, "--auth=trust", "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    options = f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = subprocess.run(
        _as_server_user(
            [
                *(str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-o", options),
                *("-l", str(log_file), "-w", "-t", "60", "start"),
            ]
        ),
        capture_output=True,
        text=True,
    )
    if start.returncode != 0:
        log = log_file.read_text() if log_file.exists() else ""
        pytest.fail(f"PostgreSQL did not start: {start.stderr.strip()} {log[-2000:]}")
    try:
        yield PostgresServer("127.0.0.1", port, user)
    finally:
        subprocess.run(
            _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server; dropped after the test."""
    import psycopg
    from sqlalchemy.engine import make_url

    from tasks.findings import db

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = postgres_server.url(name)
    try:
        yield url
    finally:
        engine = db._engines.pop(url, None)
        if engine is not None:
            engine.dispose()
        assert make_url(url).database == name
        with psycopg.connect(postgres_server.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def findings_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A findings-store URL on each backend: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'findings.db'}"
    return str(request.getfixturevalue("postgres_url"))
