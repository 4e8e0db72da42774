"""The findings database: one engine per URL, its schema brought to the newest migration.

SQLite file by default, PostgreSQL by URL.  Every table (findings, anomalies, the outbox, the
remediation ledger) is declared on one ``Base`` in :mod:`tasks.findings.schema`; the schema is
built and upgraded in place by the Alembic migrations in :mod:`tasks.findings.migrations`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from tasks.findings.migrations import upgrade_to_head
from tasks.findings.schema import Base, UtcDateTime

__all__ = ["Base", "UtcDateTime", "engine_for", "history_records", "open_engine"]


def history_records(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """Lifecycle history rows (findings, anomalies) as plain records, in the given order."""
    return [
        {"from": r.from_status, "to": r.to_status, "actor": r.actor, "reason": r.reason, "at": r.at}
        for r in rows
    ]


#: How long a SQLite opener waits for another one's write lock (a migration, a write).
SQLITE_BUSY_TIMEOUT_MS = 10_000


def _use_wal(cursor: Any) -> None:
    """Put the SQLite file in WAL mode (once per file; it stays so).

    Switching needs the file to itself and SQLite does not wait for that (no busy handler), so a
    new file opened by several processes at once retries while another holds it.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def open_engine(url: str) -> Engine:
    """A new engine for the URL, its schema brought to the newest migration (not cached).

    Other openers, threads or processes, are kept apart by the migration lock in the database
    (:func:`tasks.findings.migrations.upgrade_to_head`).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            try:
                cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                _use_wal(cursor)
            finally:
                cursor.close()

    try:
        upgrade_to_head(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def engine_for(url: str) -> Engine:
    """The engine for the URL with the schema at the newest migration, cached per URL.

    Example:
        >>> engine_for("sqlite://").dialect.name
        'sqlite'
    """
    with _engines_lock:
        cached = _engines.get(url)
        if cached is None:
            cached = _engines[url] = open_engine(url)
        return cached
