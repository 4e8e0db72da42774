"""`finops costs` and `finops ingest` as a user runs them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from finops.cli import app
from tasks.costs.store import CostStore
from tests.plugins.costs import make_cost_frame, write_export

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CostStore:
    monkeypatch.setenv("FINOPS_COSTS__STORE_URL", str(tmp_path / "costs"))
    return CostStore(str(tmp_path / "costs"))


def test_costs_shows_the_last_days_by_service(store: CostStore) -> None:
    today = datetime.now(UTC).date()
    start = today - timedelta(days=40)
    store.replace_window(make_cost_frame(start, 40), start, today - timedelta(days=1), "ce")
    result = runner.invoke(app, ["costs"])
    assert result.exit_code == 0, result.output
    assert "last 30 days" in result.output and "USD" in result.output
    # 30 days x 2 accounts x 10.00 a day per service.
    assert "Amazon S3" in result.output and "600.00" in result.output
    assert "1,200.00" in result.output  # the total
    week = runner.invoke(app, ["costs", "--days", "7"])
    assert "140.00" in week.output


def test_costs_sql_runs_duckdb_over_the_store(store: CostStore) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC).date()
    store.replace_window(make_cost_frame(start, 3), start, start + timedelta(days=2), "ce")
    result = runner.invoke(
        app, ["costs", "--sql", "select count(*) as n, sum(billed_cost) as usd from costs"]
    )
    assert result.exit_code == 0, result.output
    assert "12" in result.output and "120.0" in result.output
    bad = runner.invoke(app, ["costs", "--sql", "select nope from costs"])
    assert bad.exit_code == 2
    assert bad.output.startswith("error: --sql: query failed") and bad.output.count("\n") == 1


def test_costs_on_an_empty_store_says_what_to_do(store: CostStore) -> None:
    result = runner.invoke(app, ["costs"])
    assert result.exit_code == 0 and "run `finops ingest` first" in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--start", "2026-13-01", "--end", "2026-12-31"], "use YYYY-MM-DD"),
        (["--start", "2026-01-01"], "give both --start and --end"),
        (["--start", "2026-02-01", "--end", "2026-01-01"], "is before --start"),
        (["--source", "cur"], "use ce, export or athena"),
    ],
)
def test_ingest_rejects_bad_input_in_one_line(args: list[str], words: str) -> None:
    result = runner.invoke(app, ["ingest", *args])
    assert result.exit_code == 2
    assert words in result.output and result.output.count("\n") == 1


def test_ingest_runs_the_flow(
    tmp_path: Path,
    store: CostStore,
    monkeypatch: pytest.MonkeyPatch,
    prefect_harness: None,
    focus_sample: pd.DataFrame,
) -> None:
    write_export(
        tmp_path / "export",
        "cli-focus",
        "2024-09",
        [pa.Table.from_pandas(focus_sample, preserve_index=False)],
        "exec-1",
    )
    monkeypatch.setenv("FINOPS_COSTS__EXPORT_URL", str(tmp_path / "export"))
    monkeypatch.setenv("FINOPS_COSTS__EXPORT_NAME", "cli-focus")
    monkeypatch.setenv("FINOPS_COSTS__DAILY_TOTAL_BAND", "0")
    result = runner.invoke(app, ["ingest", "--source", "export"])
    assert result.exit_code == 0, result.output
    assert "export: 727 rows over 30 days" in result.output
    assert "2024-09-01..2024-09-30" in result.output
    assert store.stored_days("export")
    missing = runner.invoke(
        app, ["ingest", "--source", "export"], env={"FINOPS_COSTS__EXPORT_NAME": "no-such-export"}
    )
    assert missing.exit_code == 1 and "no export manifest" in missing.output
