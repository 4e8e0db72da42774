"""Write and run migrations of the findings database: ``python -m tasks.findings.migrations``.

python -m tasks.findings.migrations revision -m "add owner to findings"
    a new revision in tasks/findings/migrations/versions/, numbered after the newest, its
    upgrade and downgrade written by Alembic from the difference between the models
    (tasks/findings/schema.py) and a scratch SQLite database at head (--empty: no autogenerate);
python -m tasks.findings.migrations upgrade --url URL
    a database to head now (opening it through any store does the same);
python -m tasks.findings.migrations current --url URL
    the revision a database is at;
python -m tasks.findings.migrations heads
    the newest revision this code knows.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from sqlalchemy import create_engine

from tasks.findings.migrations import alembic_config, current_revisions, upgrade_to_head


def _next_revision_id() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    numbers = [int(r.revision) for r in script.walk_revisions() if r.revision.isdigit()]
    return f"{max(numbers, default=0) + 1:04d}"


def revision(message: str, autogenerate: bool) -> None:
    from alembic import command

    rev_id = _next_revision_id()
    if not autogenerate:
        command.revision(alembic_config(), message=message, rev_id=rev_id)
        return
    with tempfile.TemporaryDirectory(prefix="finops-migrations-") as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch) / 'head.db'}")
        try:
            upgrade_to_head(engine)
            with engine.begin() as connection:
                config = alembic_config(connection=connection)
                command.revision(config, message=message, autogenerate=True, rev_id=rev_id)
        finally:
            engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tasks.findings.migrations", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("revision", help="write a new revision")
    new.add_argument("-m", "--message", required=True, help="what the revision changes")
    new.add_argument("--empty", action="store_true", help="no autogenerate: empty functions")
    for name in ("upgrade", "current"):
        sub = commands.add_parser(name, help=f"{name} a database")
        sub.add_argument("--url", required=True, help="SQLAlchemy URL of the findings database")
    commands.add_parser("heads", help="the newest revision")
    args = parser.parse_args(argv)

    if args.command == "revision":
        revision(args.message, autogenerate=not args.empty)
    elif args.command == "heads":
        from alembic.script import ScriptDirectory

        print(", ".join(ScriptDirectory.from_config(alembic_config()).get_heads()))
    else:
        engine = create_engine(args.url)
        try:
            if args.command == "upgrade":
                upgrade_to_head(engine)
            with engine.connect() as connection:
                print(", ".join(current_revisions(connection)) or "(no revision)")
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
