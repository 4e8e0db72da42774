"""Alembic environment of the findings database (run by Alembic; importing it does nothing).

:func:`tasks.findings.migrations.upgrade_to_head` hands over an open connection (already in a
transaction that holds the migration lock) in ``config.attributes["connection"]``; the command
helper (``python -m tasks.findings.migrations``) gives a URL instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from tasks.findings.schema import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("no database: give --url (a SQLAlchemy URL of the findings database)")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


# Alembic establishes ``context.config`` before it runs this file; a plain import has none.
if hasattr(context, "config"):
    if context.is_offline_mode():
        run_offline()
    else:
        run_online()
