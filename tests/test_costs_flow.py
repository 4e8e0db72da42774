"""The ingest-costs flow over a local FOCUS export: summary, idempotence, and refusals that leave
the store untouched."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from flows.ingest_costs import ingest_costs
from tasks.costs.export import ExportError
from tasks.costs.quality import QualityError
from tasks.costs.store import CostStore
from tasks.costs.sync import EXPORT_VERSIONS
from tests.plugins.costs import with_value, write_export

NAME = "focus-flow"


def snapshot(store_root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(store_root)): p.read_bytes()
        for p in sorted(store_root.rglob("*.parquet"))
    }


@pytest.fixture
def export_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> Iterator[tuple[Path, Path]]:
    export_root, store_root = tmp_path / "export", tmp_path / "store"
    monkeypatch.setenv("FINOPS_COSTS__EXPORT_URL", str(export_root))
    monkeypatch.setenv("FINOPS_COSTS__EXPORT_NAME", NAME)
    monkeypatch.setenv("FINOPS_COSTS__STORE_URL", str(store_root))
    # The FOCUS sample is not a time series: the day-total band is off for it.
    monkeypatch.setenv("FINOPS_COSTS__DAILY_TOTAL_BAND", "0")
    yield export_root, store_root


def latest_artifacts(keys: list[str]) -> dict[str, str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys))
        )
    latest: dict[str, str] = {}
    for artifact in sorted(found, key=lambda a: a.created or 0):
        latest[str(artifact.key)] = str(artifact.data)
    return latest


def focus_tables(frame: pd.DataFrame) -> list[pa.Table]:
    return [pa.Table.from_pandas(frame.iloc[i::2], preserve_index=False) for i in range(2)]


def test_export_flow_ingests_once_and_reruns_change_nothing(
    export_env: tuple[Path, Path], focus_sample: pd.DataFrame
) -> None:
    export_root, store_root = export_env
    write_export(export_root, NAME, "2024-09", focus_tables(focus_sample), "exec-1")
    summary = ingest_costs(source="export")
    assert summary.export_line_items == 1000 and summary.ce_requests == 0
    assert summary.days == 30
    expected = f"{focus_sample['BilledCost'].sum():.2f}"
    assert str(summary.totals["export"].billed_cost) == expected
    first = snapshot(store_root)
    # The run's summary and the suite's result are Prefect artifacts.
    artifacts = latest_artifacts(["ingest-costs-summary", "cost-quality-export"])
    assert "1000" in artifacts["ingest-costs-summary"]
    assert "Cost batch quality: passed" in artifacts["cost-quality-export"]
    # Incremental: the export version is already stored, so nothing is read or written.
    again = ingest_costs(source="export")
    assert again.rows == 0 and again.skipped == ["2024-09: export version already stored"]
    # An explicit window re-ingests the period: same bytes, no duplicate rows.
    forced = ingest_costs(source="export", start="2024-09-01", end="2024-09-30")
    assert forced.totals == summary.totals
    assert snapshot(store_root) == first
    stored = CostStore(str(store_root)).read()
    assert not stored.duplicated(
        ["charge_date", "sub_account_id", "service", "region", "charge_category", "usage_type"]
    ).any()
    # Partitions removed by hand are noticed: the period is read again though its version is known.
    for partition in store_root.glob("charge_date=*"):
        shutil.rmtree(partition)
    refilled = ingest_costs(source="export")
    assert refilled.rows == summary.rows and snapshot(store_root) == first


def test_a_new_export_version_replaces_the_period_wholesale(
    export_env: tuple[Path, Path], focus_sample: pd.DataFrame
) -> None:
    export_root, store_root = export_env
    write_export(export_root, NAME, "2024-09", focus_tables(focus_sample), "exec-1")
    ingest_costs(source="export")
    # AWS rewrites the month without the Oracle rows: they must disappear from the store.
    restated = focus_sample[focus_sample["ProviderName"] != "Oracle"]
    write_export(export_root, NAME, "2024-09", focus_tables(restated), "exec-2")
    summary = ingest_costs(source="export")
    assert summary.export_line_items == len(restated)
    stored = CostStore(str(store_root)).read()
    assert not stored["tags"].str.contains("Oracle").any()
    # Each stored row is rounded to 1e-6 USD; 720 rows stay far below a cent.
    assert stored["billed_cost"].sum() == pytest.approx(restated["BilledCost"].sum(), abs=1e-3)


def test_a_malformed_file_stops_the_period_before_the_store_is_touched(
    export_env: tuple[Path, Path], focus_sample: pd.DataFrame
) -> None:
    export_root, store_root = export_env
    write_export(export_root, NAME, "2024-09", focus_tables(focus_sample), "exec-1")
    ingest_costs(source="export")
    before = snapshot(store_root)
    good = pa.Table.from_pandas(focus_sample.assign(BilledCost=0.0), preserve_index=False)
    write_export(export_root, NAME, "2024-09", [good, b"PAR1 truncated"], "exec-2")
    with pytest.raises(ExportError, match=r"focus-flow-00002\.snappy\.parquet"):
        ingest_costs(source="export")
    assert snapshot(store_root) == before


def test_a_batch_failing_the_suite_is_not_written(
    export_env: tuple[Path, Path], focus_sample: pd.DataFrame
) -> None:
    export_root, store_root = export_env
    mixed = focus_sample.copy()
    mixed.loc[mixed.index[:5], "BillingCurrency"] = "EUR"
    write_export(export_root, NAME, "2024-09", focus_tables(mixed), "exec-1")
    with pytest.raises(QualityError, match="expect_column_unique_value_count_to_be_between"):
        ingest_costs(source="export")
    assert snapshot(store_root) == {}


@pytest.mark.parametrize(
    ("column", "value"),
    [("BilledCost", math.inf), ("EffectiveCost", -math.inf), ("BilledCost", math.nan)],
)
def test_a_non_finite_cost_is_refused_stored_nowhere_and_read_again(
    export_env: tuple[Path, Path], focus_sample: pd.DataFrame, column: str, value: float
) -> None:
    export_root, store_root = export_env
    tables = focus_tables(focus_sample)
    broken = [with_value(tables[0], column, 3, value), tables[1]]
    write_export(export_root, NAME, "2024-09", broken, "exec-1")
    with pytest.raises(QualityError, match=r"billed_cost|effective_cost"):
        ingest_costs(source="export")
    store = CostStore(str(store_root))
    assert snapshot(store_root) == {} and store.stored_days("export") == set()
    assert "2024-09" not in store.read_meta(EXPORT_VERSIONS)
    # The file is fixed in place (same execution id): the next run reads the period again.
    write_export(export_root, NAME, "2024-09", tables, "exec-1")
    summary = ingest_costs(source="export")
    assert summary.export_line_items == 1000 and summary.skipped == []
    assert str(summary.totals["export"].billed_cost) == f"{focus_sample['BilledCost'].sum():.2f}"
    assert store.read_meta(EXPORT_VERSIONS) == {"2024-09": "exec-1"}


def test_a_refused_restatement_keeps_the_stored_period_and_is_read_again(
    export_env: tuple[Path, Path], focus_sample: pd.DataFrame
) -> None:
    export_root, store_root = export_env
    tables = focus_tables(focus_sample)
    write_export(export_root, NAME, "2024-09", tables, "exec-1")
    ingest_costs(source="export")
    before = snapshot(store_root)
    write_export(
        export_root,
        NAME,
        "2024-09",
        [tables[0], with_value(tables[1], "BilledCost", 0, math.inf)],
        "exec-2",
    )
    with pytest.raises(QualityError, match="billed_cost"):
        ingest_costs(source="export")
    store = CostStore(str(store_root))
    assert snapshot(store_root) == before
    assert store.read_meta(EXPORT_VERSIONS) == {"2024-09": "exec-1"}
    write_export(export_root, NAME, "2024-09", tables, "exec-2")
    again = ingest_costs(source="export")
    assert again.skipped == [] and again.export_line_items == 1000
    assert store.read_meta(EXPORT_VERSIONS) == {"2024-09": "exec-2"}
