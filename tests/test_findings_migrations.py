"""The findings database upgrades in place: Alembic migrations on SQLite and PostgreSQL.

``tests/data/findings_db_v0_*.sql`` are databases exactly as main wrote them before migrations
(``create_all``, no ``alembic_version``), with real rows; opening them with today's code must
stamp and upgrade them with every row intact.  The models must match the migrated schema, so a
model change without a migration fails here.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Engine, MetaData, String, create_engine, inspect, text
from sqlalchemy.engine import make_url

from tasks.anomalies.store import AnomalyStatus, AnomalyStore
from tasks.findings import db, migrations
from tasks.findings.model import FindingStatus
from tasks.findings.schema import Base
from tasks.findings.store import FindingsStore
from tasks.notify.outbox import NewMessage, Outbox, OutboxStatus
from tasks.remediation.ledger import RemediationLedger

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"

#: What the v0 fixtures hold (written through the stores of main before migrations).
FINGERPRINT = "164ea4c4e8e48b99de90"
ANOMALY_ID = "a1b2c3d4e5f6a7b8c9d0"
OUTBOX_KEY = "slack|digest|2026-11-21"
OBSERVATION = "unattached|111111111111|us-east-1|vol-0abc"
T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def head() -> str:
    heads = ScriptDirectory.from_config(migrations.alembic_config()).get_heads()
    assert len(heads) == 1, f"the findings migrations have several heads: {heads}"
    return heads[0]


def revisions(engine: Engine) -> tuple[str, ...]:
    with engine.connect() as connection:
        return migrations.current_revisions(connection)


def differences(engine: Engine, metadata: MetaData = Base.metadata) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def load_v0(url: str) -> None:
    """Write the v0 fixture of the URL's backend into its (empty) database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        with sqlite3.connect(str(parsed.database)) as connection:
            connection.executescript((DATA / "findings_db_v0_sqlite.sql").read_text())
        return
    import psycopg

    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        # No parameters: psycopg sends the dump's statements as one simple query.
        connection.execute((DATA / "findings_db_v0_postgresql.sql").read_text())  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def v0_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database exactly as main wrote it before migrations, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'findings.db'}"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    load_v0(url)
    yield url
    engine = db._engines.pop(url, None)
    if engine is not None:
        engine.dispose()


def assert_v0_rows_intact(url: str) -> None:
    store = FindingsStore(url)
    stored = store.get(FINGERPRINT)
    assert stored.status is FindingStatus.NOTIFIED
    assert stored.first_seen == T0 and stored.last_seen == T0
    assert stored.finding.monthly_savings_usd == Decimal("8.00")
    assert stored.finding.evidence == {"size_gib": 100}
    assert stored.finding.owner == "ana"
    assert [(h["from"], h["to"], h["actor"], h["at"]) for h in store.history(FINGERPRINT)] == [
        (None, "open", "scan", T0),
        ("open", "notified", "report", T1),
    ]
    assert store.observe([OBSERVATION], now=T2) == {OBSERVATION: T0}

    anomaly = AnomalyStore(url).get(ANOMALY_ID)
    assert anomaly.status is AnomalyStatus.ACKNOWLEDGED
    assert (anomaly.start_date, anomaly.end_date) == (date(2026, 11, 18), date(2026, 11, 20))
    assert anomaly.total_impact_usd == Decimal("600.00")
    assert anomaly.alerted_at == T0
    assert anomaly.root_causes == [{"dimension": "region", "value": "us-east-1", "impact": 550.0}]
    assert [h["to"] for h in AnomalyStore(url).history(ANOMALY_ID)] == ["acknowledged"]

    message = Outbox(url).get(OUTBOX_KEY)
    assert message is not None
    assert message.status is OutboxStatus.SENT
    assert message.result == {"ts": "1732170000.000100"}
    assert message.sent_at == T1

    [entry] = RemediationLedger(url).all()
    assert (entry.fingerprint, entry.action, entry.status) == (
        FINGERPRINT,
        "snapshot-and-delete",
        "in_progress",
    )
    assert entry.checkpoints == {"snapshot_id": "snap-0123"}
    assert entry.attempts == 1


def test_a_database_written_before_migrations_is_stamped_and_upgraded_in_place(
    v0_url: str,
) -> None:
    probe = create_engine(v0_url)
    try:
        assert revisions(probe) == ()
        assert inspect(probe).has_table("findings")
    finally:
        probe.dispose()

    assert_v0_rows_intact(v0_url)

    engine = db.engine_for(v0_url)
    assert revisions(engine) == (head(),)
    assert differences(engine) == []
    # Writing goes on where main left off (ids, sequences, unique keys).
    store = FindingsStore(v0_url)
    store.transition(FINGERPRINT, "approved", actor="ana", now=T2)
    assert len(store.history(FINGERPRINT)) == 3
    outbox = Outbox(v0_url)
    assert outbox.enqueue(
        [NewMessage(key="sns|summary", channel="sns", kind="t", op="publish", payload={})],
        enabled={"sns"},
    ) == ["sns|summary"]
    assert [m.id for m in outbox.messages()] == [1, 2]


def test_a_fresh_database_is_migrated_to_head_and_matches_the_models(
    findings_db_url: str,
) -> None:
    engine = db.engine_for(findings_db_url)
    assert revisions(engine) == (head(),)
    assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {
        migrations.VERSION_TABLE
    }
    assert differences(engine) == [], (
        "the models in tasks/findings/schema.py differ from the migrated schema: add a "
        'migration (python -m tasks.findings.migrations revision -m "...")'
    )


def test_every_revision_upgrades_and_downgrades_one_step_at_a_time(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'steps.db'}")
    script = ScriptDirectory.from_config(migrations.alembic_config())
    steps = len(list(script.walk_revisions()))
    try:
        with engine.begin() as connection:
            config = migrations.alembic_config(connection=connection)
            for _ in range(steps):
                command.upgrade(config, "+1")
            assert migrations.current_revisions(connection) == (head(),)
            command.downgrade(config, "base")
            assert set(inspect(connection).get_table_names()) == {migrations.VERSION_TABLE}
            command.upgrade(config, "head")
        assert differences(engine) == []
    finally:
        engine.dispose()


def test_a_model_change_without_a_migration_is_a_difference(tmp_path: Path) -> None:
    engine = db.open_engine(f"sqlite:///{tmp_path / 'findings.db'}")
    try:
        changed = MetaData()
        for table in Base.metadata.tables.values():
            table.to_metadata(changed)
        changed.tables["findings"].append_column(Column("owner", String(128), nullable=True))
        assert [d[0] for d in differences(engine, changed) if isinstance(d, tuple)] == [
            "add_column"
        ]
    finally:
        engine.dispose()


def test_the_head_read_from_the_files_is_alembics_and_the_baseline_is_known() -> None:
    assert migrations.declared_head() == head()
    script = ScriptDirectory.from_config(migrations.alembic_config())
    assert script.get_base() == migrations.BASELINE
    baseline_sql = (DATA / "findings_db_v0_sqlite.sql").read_text()
    assert {t for t in migrations.BASELINE_TABLES if f"CREATE TABLE {t} " in baseline_sql} == set(
        migrations.BASELINE_TABLES
    )


def test_a_database_from_a_newer_version_is_refused_with_one_message(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'findings.db'}"
    engine = db.open_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(migrations.SchemaVersionError, match=r"revision '9999'.*upgrade finops"):
        db.open_engine(url)


def test_a_database_missing_tables_of_the_baseline_gets_them(tmp_path: Path) -> None:
    """An older main made only some tables (create_all would add the rest): so do we."""
    path = tmp_path / "findings.db"
    with sqlite3.connect(path) as connection:
        connection.executescript((DATA / "findings_db_v0_sqlite.sql").read_text())
        connection.execute("DROP TABLE remediation_actions")
    url = f"sqlite:///{path}"
    try:
        assert FindingsStore(url).get(FINGERPRINT).status is FindingStatus.NOTIFIED
        assert RemediationLedger(url).all() == []
        assert revisions(db.engine_for(url)) == (head(),)
        assert differences(db.engine_for(url)) == []
    finally:
        db._engines.pop(url).dispose()


@pytest.mark.parametrize("start", ["empty", "v0"])
def test_concurrent_openers_in_threads_each_with_its_own_engine(
    findings_db_url: str, start: str
) -> None:
    if start == "v0":
        load_v0(findings_db_url)
    engines: list[Engine] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_it() -> None:
        try:
            barrier.wait()
            engines.append(db.open_engine(findings_db_url))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert errors == []
        assert len(engines) == 4
        assert {revisions(e) for e in engines} == {(head(),)}
        if start == "v0":
            assert_v0_rows_intact(findings_db_url)
    finally:
        for engine in engines:
            engine.dispose()
        cached = db._engines.pop(findings_db_url, None)
        if cached is not None:
            cached.dispose()


OPEN_AND_WRITE = """
import sys
from tasks.notify.outbox import NewMessage, Outbox
from tasks.findings.store import FindingsStore
url, n = sys.argv[1], sys.argv[2]
FindingsStore(url).list()
Outbox(url).enqueue([NewMessage(key=f"k{n}", channel="sns", kind="t", op="publish", payload={})],
                    enabled={"sns"})
print("ok")
"""


def test_concurrent_openers_in_processes_on_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'findings.db'}"
    load_v0(url)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AND_WRITE, url, str(n)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    outputs = [worker.communicate(timeout=180) for worker in workers]
    assert [(w.returncode, out.strip()) for w, (out, _) in zip(workers, outputs, strict=True)] == [
        (0, "ok")
    ] * 3, [err[-2000:] for _, err in outputs]
    try:
        assert_v0_rows_intact(url)
        assert {m.key for m in Outbox(url).messages()} == {OUTBOX_KEY, "k0", "k1", "k2"}
        assert revisions(db.engine_for(url)) == (head(),)
    finally:
        db._engines.pop(url).dispose()


CHECK_FAST_OPEN = """
import sys
from tasks.findings.store import FindingsStore
FindingsStore(sys.argv[1]).list()
print("alembic imported" if "alembic" in sys.modules else "fast")
"""


def test_opening_a_database_at_head_does_not_run_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'findings.db'}"
    db.open_engine(url).dispose()
    opened = subprocess.run(
        [sys.executable, "-c", CHECK_FAST_OPEN, url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert opened.stdout.strip() == "fast"


WAIT_AND_OPEN = """
import sys
from pathlib import Path
from tasks.findings.store import FindingsStore
Path(sys.argv[2]).write_text("importing done")
FindingsStore(sys.argv[1]).list()
print("ok")
"""


def test_an_opener_waits_while_another_holds_the_migration_lock(
    findings_db_url: str, tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    holder = create_engine(findings_db_url)
    try:
        with holder.connect() as connection:
            migrations._lock(connection)
            worker = subprocess.Popen(
                [sys.executable, "-c", WAIT_AND_OPEN, findings_db_url, str(ready)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            deadline = time.monotonic() + 120
            while not ready.exists() and worker.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1.5)
            assert worker.poll() is None, worker.communicate()
            connection.rollback()
        out, err = worker.communicate(timeout=120)
        assert (worker.returncode, out.strip()) == (0, "ok"), err[-2000:]
        assert revisions(holder) == (head(),)
    finally:
        holder.dispose()
