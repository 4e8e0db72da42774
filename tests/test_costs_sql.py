"""`finops costs --sql` is one read-only SELECT over the table ``costs`` and nothing else.

Every escape reproduced in issue 15 (writing files, reading any file or the process environment,
attaching databases, installing or loading extensions, a second statement, changing settings)
is refused with one line that says what is allowed, and leaves nothing behind: the tests run in
a folder of their own with HOME pointed there too, so any file DuckDB made would show up.  A
legitimate query still gives the store's totals, through the store and through the real CLI.
"""

from __future__ import annotations

import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest

from tasks.costs.store import CostStore, CostStoreError, last_days_by_service
from tests.plugins.cli import CLOSED, isolated_env
from tests.plugins.costs import make_cost_frame

ROOT = Path(__file__).resolve().parents[1]
FINOPS = ROOT / ".venv" / "bin" / "finops"
START = date(2026, 1, 1)
SECRET_NAME = "FINOPS_NOTIFY__SLACK_BOT_TOKEN"
SECRET = "xoxb-test-secret"
ALLOWED = "allowed: one read-only SELECT"
EC2 = "Amazon Elastic Compute Cloud - Compute"


#: name -> (SQL, files relative to the working folder that must not exist afterwards).
ESCAPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "copy-to-file": ("COPY (select 1) TO 'x.csv'", ("x.csv",)),
    "copy-store-out": (
        "COPY (select * from costs) TO 'out.parquet' (FORMAT parquet)",
        ("out.parquet",),
    ),
    "read-any-file": ("select * from read_csv('/etc/passwd')", ()),
    "read-file-by-name": ("select * from '/etc/passwd'", ()),
    "read-environ": ("select * from read_text('/proc/self/environ')", ()),
    "read-blob-environ": ("select content::varchar from read_blob('/proc/self/environ')", ()),
    "attach": ("ATTACH 'x.db'", ("x.db",)),
    "attach-as": ("ATTACH 'y.db' AS y (TYPE duckdb)", ("y.db",)),
    "force-install": (f"FORCE INSTALL httpfs FROM '{CLOSED}'", ()),
    "install": (f"INSTALL json FROM '{CLOSED}'", ()),
    "load": ("LOAD httpfs", ()),
    "load-path": ("LOAD 'evil.duckdb_extension'", ()),
    "autoload-remote": (f"select * from read_parquet('{CLOSED}/x.parquet')", ()),
    "autoload-s3": ("select * from 's3://bucket/x.parquet'", ()),
    "second-statement": ("select 1; COPY (select 1) TO 'z.csv'", ("z.csv",)),
    "two-selects": ("select 1; select 2", ()),
    "set": ("SET threads = 1", ()),
    "set-external-access": ("SET enable_external_access = true", ()),
    "unlock": ("SET lock_configuration = false", ()),
    "pragma": ("PRAGMA threads = 1", ()),
    "reset": ("RESET threads", ()),
    "create-table": ("CREATE TABLE t AS SELECT 1", ()),
    "export-database": ("EXPORT DATABASE 'dump'", ("dump",)),
    "logging-to-file": (
        "select * from enable_logging(storage = 'file', storage_path = 'logs')",
        ("logs",),
    ),
    "nested-copy": ("select * from query('COPY (select 1) TO ''q.csv''')", ("q.csv",)),
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder that is also HOME (where DuckDB keeps extensions)."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.setenv(SECRET_NAME, SECRET)
    return folder


@pytest.fixture
def store(tmp_path: Path) -> CostStore:
    """Three days x two accounts x two services at 10.00 a day each (12 rows, 120.00)."""
    cost_store = CostStore(str(tmp_path / "costs"))
    cost_store.replace_window(make_cost_frame(START, 3), START, START + timedelta(days=2), "ce")
    return cost_store


def _created(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("name", list(ESCAPES))
def test_an_escape_is_refused_in_one_line(name: str, store: CostStore, workdir: Path) -> None:
    sql, must_not_exist = ESCAPES[name]
    with pytest.raises(CostStoreError) as refused:
        store.query(sql)
    message = str(refused.value)
    assert ALLOWED in message and "costs" in message, message
    assert "\n" not in message, message
    assert SECRET not in message
    for relative in must_not_exist:
        assert not (workdir / relative).exists(), relative
    assert _created(workdir) == [], "DuckDB left files behind"


def test_the_store_is_queried_with_duckdbs_own_locks(store: CostStore, workdir: Path) -> None:
    settings = store.query(
        "select current_setting('enable_external_access') as external,"
        " current_setting('autoinstall_known_extensions') as autoinstall,"
        " current_setting('autoload_known_extensions') as autoload,"
        " current_setting('allow_community_extensions') as community,"
        " current_setting('lock_configuration') as locked"
    ).iloc[0]
    assert settings.to_dict() == {
        "external": False,
        "autoinstall": False,
        "autoload": False,
        "community": False,
        "locked": True,
    }


def test_a_group_by_gives_the_stores_totals(store: CostStore, workdir: Path) -> None:
    frame = store.query(
        "select service, sum(effective_cost) as usd, count(*) as n from costs group by 1 order by 1"
    )
    assert frame.to_dict("records") == [
        {"service": EC2, "usd": 60.0, "n": 6},
        {"service": "Amazon S3", "usd": 60.0, "n": 6},
    ]
    with_select = store.query(
        "with daily as (select charge_date, sum(billed_cost) as usd from costs group by 1)"
        " select count(*) as days, sum(usd) as usd from daily"
    )
    assert with_select.to_dict("records") == [{"days": 3, "usd": 120.0}]
    table = last_days_by_service(store, 30, START + timedelta(days=3))
    assert table["effective_cost"].sum() == pytest.approx(120.0)
    assert _created(workdir) == []


def test_a_query_error_is_still_duckdbs_one_line(store: CostStore, workdir: Path) -> None:
    with pytest.raises(CostStoreError, match=r"query failed: .*nope") as failed:
        store.query("select nope from costs")
    assert "\n" not in str(failed.value)
    with pytest.raises(CostStoreError, match=ALLOWED):
        store.query("")


def _cli(tmp_path: Path, store: CostStore, sql: str) -> subprocess.CompletedProcess[str]:
    """`finops costs --sql` as a user runs it, the store named by FINOPS_COSTS__STORE_URL."""
    folder = tmp_path / "cli"
    folder.mkdir(exist_ok=True)
    env = isolated_env(tmp_path, FINOPS_COSTS__STORE_URL=store.url, **{SECRET_NAME: SECRET})
    env["HOME"] = str(folder)
    return subprocess.run(
        [str(FINOPS), "costs", "--sql", sql],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("name", ["read-environ", "copy-to-file", "second-statement", "attach"])
def test_the_cli_refuses_an_escape_in_one_line(tmp_path: Path, store: CostStore, name: str) -> None:
    sql, must_not_exist = ESCAPES[name]
    result = _cli(tmp_path, store, sql)
    shown = f"exit {result.returncode}\nstderr:\n{result.stderr}\nstdout:\n{result.stdout}"
    assert result.returncode == 2, shown
    assert "Traceback" not in result.stderr, shown
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --sql: "), shown
    assert ALLOWED in lines[0], shown
    assert SECRET not in result.stdout + result.stderr
    folder = tmp_path / "cli"
    assert not any((folder / relative).exists() for relative in must_not_exist), shown
    assert _created(folder) == [], shown


def test_the_cli_runs_a_legitimate_query(tmp_path: Path, store: CostStore) -> None:
    result = _cli(
        tmp_path, store, "select service, sum(effective_cost) as usd from costs group by 1"
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert EC2 in result.stdout and "Amazon S3" in result.stdout
    assert result.stdout.count("60.0") == 2, result.stdout
