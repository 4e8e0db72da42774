"""The Parquet cost store: exact window replacement, atomic partitions, reads and DuckDB queries."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tasks.costs.store import CostStore, CostStoreError, last_days_by_service
from tests.plugins.costs import make_cost_frame

START = date(2026, 1, 1)


def test_replace_window_replaces_exactly_that_window(tmp_path: Path) -> None:
    store = CostStore(str(tmp_path / "costs"))
    store.replace_window(make_cost_frame(START, 10), START, START + timedelta(days=9), "ce")
    store.replace_window(
        make_cost_frame(START, 10, source="export", daily_cost=7.0),
        START,
        START + timedelta(days=9),
        "export",
    )
    # Re-ingest days 3..5 of 'ce' with a new cost, and day 5 has no rows any more.
    new = make_cost_frame(START + timedelta(days=3), 2, daily_cost=20.0)
    store.replace_window(new, START + timedelta(days=3), START + timedelta(days=5), "ce")
    ce = store.read(source="ce")
    per_day = ce.groupby("charge_date")["billed_cost"].sum()
    assert per_day[START + timedelta(days=2)] == 40.0
    assert per_day[START + timedelta(days=3)] == 80.0 and per_day[START + timedelta(days=4)] == 80.0
    assert START + timedelta(days=5) not in per_day.index
    assert per_day[START + timedelta(days=6)] == 40.0
    # The other source is untouched.
    assert store.read(source="export")["billed_cost"].sum() == 7.0 * 4 * 10
    assert store.stored_days("ce") == {START + timedelta(days=i) for i in range(10)} - {
        START + timedelta(days=5)
    }


def test_rewriting_the_same_data_gives_the_same_bytes(tmp_path: Path) -> None:
    store = CostStore(str(tmp_path / "costs"))
    frame = make_cost_frame(START, 3)
    store.replace_window(frame, START, START + timedelta(days=2), "ce")
    path = Path(store.partition_path(START, "ce"))
    first = path.read_bytes()
    store.replace_window(
        frame.sample(frac=1, random_state=1), START, START + timedelta(days=2), "ce"
    )
    assert path.read_bytes() == first
    assert not store.read().duplicated(["charge_date", "sub_account_id", "service"]).any()


def test_rows_outside_the_window_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    store = CostStore(str(tmp_path / "costs"))
    frame = make_cost_frame(START, 5)
    with pytest.raises(CostStoreError, match="outside the window"):
        store.replace_window(frame, START, START + timedelta(days=2), "ce")
    with pytest.raises(CostStoreError, match="rows of source"):
        store.replace_window(frame, START, START + timedelta(days=4), "export")
    assert store.stored_days() == set()


def test_a_failure_mid_window_leaves_every_partition_old_or_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = CostStore(str(tmp_path / "costs"))
    end = START + timedelta(days=4)
    store.replace_window(make_cost_frame(START, 5, daily_cost=1.0), START, end, "ce")
    real_write = pq.write_table
    calls = {"n": 0}

    def failing_write(table: object, where: str, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            # Die halfway through the third partition's file.
            Path(where).write_bytes(b"PAR1 half a file")
            raise OSError("disk full")
        real_write(table, where, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pq, "write_table", failing_write)
    with pytest.raises(OSError, match="disk full"):
        store.replace_window(make_cost_frame(START, 5, daily_cost=2.0), START, end, "ce")
    monkeypatch.setattr(pq, "write_table", real_write)
    per_day = store.read().groupby("charge_date")["billed_cost"].sum().to_dict()
    # Two partitions are new, the rest old; none is half written, no temporary file remains.
    assert sorted(per_day.values()) == [4.0, 4.0, 4.0, 8.0, 8.0]
    assert not [p for p in (tmp_path / "costs").rglob("*") if p.name.endswith(".tmp")]


def test_read_selects_days_and_columns(tmp_path: Path) -> None:
    store = CostStore(str(tmp_path / "costs"))
    store.replace_window(make_cost_frame(START, 10), START, START + timedelta(days=9), "ce")
    frame = store.read(
        START + timedelta(days=2), START + timedelta(days=3), ["charge_date", "billed_cost"]
    )
    assert list(frame.columns) == ["charge_date", "billed_cost"]
    assert sorted(set(frame["charge_date"])) == [
        START + timedelta(days=2),
        START + timedelta(days=3),
    ]
    empty = CostStore(str(tmp_path / "nothing")).read(START, START)
    assert empty.empty and "effective_cost" in empty.columns
    with pytest.raises(CostStoreError, match="unknown cost columns"):
        store.read(columns=["cost"])


def test_duckdb_queries_and_the_last_days_by_service(tmp_path: Path) -> None:
    store = CostStore(str(tmp_path / "costs"))
    store.replace_window(make_cost_frame(START, 10), START, START + timedelta(days=9), "ce")
    store.replace_window(
        make_cost_frame(START + timedelta(days=5), 5, source="export", daily_cost=11.0),
        START + timedelta(days=5),
        START + timedelta(days=9),
        "export",
    )
    count = store.query("select count(*) as n from costs")["n"].iloc[0]
    assert count == 40 + 20
    table = last_days_by_service(store, 30, START + timedelta(days=10))
    # Days held by both sources count once, from the export.
    assert table["effective_cost"].sum() == pytest.approx(2 * (5 * 2 * 10.0 + 5 * 2 * 11.0))
    assert set(table["service"]) == {"Amazon Elastic Compute Cloud - Compute", "Amazon S3"}
    with pytest.raises(CostStoreError, match="query failed"):
        store.query("select nope from costs")


def test_bad_store_urls_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(CostStoreError, match="use a folder path or s3://"):
        CostStore("gs://bucket/costs")
    with pytest.raises(CostStoreError, match="lacks columns"):
        CostStore(str(tmp_path)).replace_window(pd.DataFrame({"x": [1]}), START, START, "ce")
