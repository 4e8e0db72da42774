"""The findings database: one SQLAlchemy metadata shared by findings, anomalies and the outbox.

SQLite file by default, PostgreSQL by URL.  Each capability declares its tables on ``Base`` in its
own module; ``engine_for`` imports them all so ``create_all`` builds the whole schema.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

#: Modules that declare tables on Base; imported before create_all.
TABLE_MODULES: tuple[str, ...] = (
    "tasks.findings.store",
    "tasks.anomalies.store",
    "tasks.notify.outbox",
    "tasks.remediation.ledger",
)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the findings store; use UTC-aware times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table in the findings database."""


def history_records(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """Lifecycle history rows (findings, anomalies) as plain records, in the given order."""
    return [
        {"from": r.from_status, "to": r.to_status, "actor": r.actor, "reason": r.reason, "at": r.at}
        for r in rows
    ]


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def engine_for(url: str) -> Engine:
    """An engine for the URL with the whole schema created (cached per URL).

    Example:
        >>> engine_for("sqlite://").dialect.name
        'sqlite'
    """
    with _engines_lock:
        cached = _engines.get(url)
        if cached is not None:
            return cached
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, future=True, pool_pre_ping=True)
        if engine.dialect.name == "sqlite":

            @event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
                cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA busy_timeout=10000")
                cursor.close()

        for module in TABLE_MODULES:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as error:
                if error.name != module:
                    raise
        Base.metadata.create_all(engine)
        _engines[url] = engine
        return engine
