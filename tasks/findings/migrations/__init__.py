"""Alembic migrations of the findings database, run in place whenever an engine is opened.

:func:`upgrade_to_head` brings a database to the newest revision:

- already at head (the usual case): one look at ``alembic_version`` against the head read from
  the revision files, without importing Alembic at all, so opening stays fast;
- empty: every revision runs;
- written before migrations (the tables ``create_all`` made, no ``alembic_version``): stamped at
  the baseline revision with its rows untouched, then upgraded;
- at a revision this code does not know (written by a newer version): refused with
  :class:`SchemaVersionError`.

Concurrent openers are safe: the check and the migration run under a lock held in the database
itself (``BEGIN IMMEDIATE`` on SQLite, a transaction-level advisory lock on PostgreSQL), and
whoever waited re-reads the version before doing anything.  Within a process, migrations also
take turns on a thread lock, since Alembic's ``context`` and ``op`` are process-wide.

The environment lives in this package (``env.py``, ``versions/``) and is configured in code, so
it works from an installed package: no ``alembic.ini``.  ``python -m tasks.findings.migrations``
writes a new revision (see docs/architecture.md).
"""

from __future__ import annotations

import functools
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config

#: This folder: Alembic's script_location.
MIGRATIONS_DIR = Path(__file__).resolve().parent
VERSIONS_DIR = MIGRATIONS_DIR / "versions"
VERSION_TABLE = "alembic_version"

#: The first revision: the schema as ``create_all`` built it before migrations.
BASELINE = "0001"
#: The tables of the baseline revision.
BASELINE_TABLES: frozenset[str] = frozenset(
    {
        "findings",
        "finding_history",
        "observations",
        "cost_anomalies",
        "cost_anomaly_history",
        "notify_outbox",
        "remediation_actions",
    }
)

#: The PostgreSQL advisory lock key migrations take ("finops" in ASCII).
PG_LOCK_KEY = 0x66696E6F7073

#: Alembic's ``context`` and ``op`` are process-wide proxies: one migration at a time per process.
_alembic_lock = threading.Lock()


class SchemaVersionError(SQLAlchemyError):
    """The database is at a revision this code does not know (written by a newer version)."""


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """The Alembic configuration of the findings database, built in code (no alembic.ini).

    Args:
        url: the database, for commands run from the helper (``sqlalchemy.url``).
        connection: an open connection the environment uses instead of a URL.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Revision files are "<number>_<slug>.py" (the helper numbers them); '%%' is configparser's.
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


_REVISION = re.compile(r"^revision\s*(?::[^=\n]*)?=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(
    r"^down_revision\s*(?::[^=\n]*)?=\s*(None|['\"]([^'\"]+)['\"])\s*$", re.MULTILINE
)


@functools.cache
def declared_head() -> str | None:
    """The head revision read from the revision files' text, without importing Alembic.

    None when it cannot be told that simply (no files, a merge, several heads): the caller then
    asks Alembic.
    """
    revisions: dict[str, str | None] = {}
    for path in VERSIONS_DIR.glob("*.py"):
        if path.name == "__init__.py":
            continue
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None:
            return None
        revisions[revision.group(1)] = down.group(2)
    heads = set(revisions) - {down for down in revisions.values() if down is not None}
    return heads.pop() if len(heads) == 1 else None


def current_revisions(connection: Connection) -> tuple[str, ...]:
    """The revisions recorded in the database (empty before the first migration)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return ()
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()
    return tuple(sorted(str(r) for r in rows))


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database to the newest revision (see the module's docstring).

    Raises:
        SchemaVersionError: the database is at a revision this code does not know.

    Example:
        >>> from sqlalchemy import create_engine
        >>> upgrade_to_head(create_engine("sqlite://"))
    """
    head = declared_head()
    if head is not None:
        with engine.connect() as connection:
            if current_revisions(connection) == (head,):
                return
    _migrate(engine)


def _lock(connection: Connection) -> None:
    """Take the migration lock for the connection's transaction (released at its end)."""
    if connection.dialect.name == "sqlite":
        # The write lock now, not at the first write: a second opener waits (busy_timeout) here.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})


def _migrate(engine: Engine) -> None:
    with _alembic_lock:
        _migrate_locked(engine)


def _migrate_locked(engine: Engine) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    heads = tuple(sorted(script.get_heads()))
    with engine.connect() as connection:
        _lock(connection)
        current = current_revisions(connection)
        if current == heads:
            connection.commit()
            return
        for revision in current:
            try:
                script.get_revision(revision)
            except CommandError as error:
                raise SchemaVersionError(
                    f"the findings database is at revision {revision!r}, which this version of "
                    f"finops-flows does not know (its newest is {', '.join(heads)}); "
                    "upgrade finops-flows"
                ) from error
        config.attributes["connection"] = connection
        if not current:
            tables = set(inspect(connection).get_table_names())
            if BASELINE_TABLES.issubset(tables):
                # Written before migrations: the baseline is already there, rows and all.
                command.stamp(config, BASELINE)
        command.upgrade(config, "heads")
        connection.commit()
