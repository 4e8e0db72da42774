"""The data export path: real FOCUS rows without loss, versions, malformed files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from tasks.costs.export import (
    ExportError,
    ExportLocation,
    discover_periods,
    normalize_focus,
    read_period,
    to_cost_frame,
)
from tasks.costs.quality import QualityPolicy, validate_batch
from tests.plugins.costs import write_export

NAME = "focus-test"


def sample_export(root: Path, focus_sample: pd.DataFrame, execution: str = "exec-0001") -> None:
    # Three files, as AWS splits a period; the rows are the sample's, untouched.
    parts = [focus_sample.iloc[i::3] for i in range(3)]
    tables = [pa.Table.from_pandas(p, preserve_index=False) for p in parts]
    write_export(root, NAME, "2024-09", tables, execution)


def test_the_real_focus_rows_ingest_without_loss(
    tmp_path: Path, focus_sample: pd.DataFrame
) -> None:
    sample_export(tmp_path, focus_sample)
    location = ExportLocation(str(tmp_path), NAME)
    periods = discover_periods(location)
    assert list(periods) == ["2024-09"] and len(periods["2024-09"].data_files) == 3
    folded, line_items = read_period(location, periods["2024-09"])
    frame = to_cost_frame(folded)
    # Every line item is accounted for, and the money adds up.
    assert line_items == len(focus_sample) == 1000
    assert folded["line_items"].sum() == 1000
    for column, focus_column in [
        ("billed_cost", "BilledCost"),
        ("effective_cost", "EffectiveCost"),
        ("list_cost", "ListCost"),
    ]:
        assert frame[column].sum() == pytest.approx(focus_sample[focus_column].sum(), abs=1e-9)
    # Per provider and per day too: hourly charge periods fold into their UTC day.
    days = focus_sample["ChargePeriodStart"].dt.strftime("%Y-%m-%d")
    expected = focus_sample.groupby([days, focus_sample["ProviderName"]])["BilledCost"].sum()
    provider = frame["tags"].str.extract(r'"x_ProviderName": "(\w+)"')[0].fillna("AWS")
    got = frame.groupby([frame["charge_date"].astype(str), provider])["billed_cost"].sum()
    pd.testing.assert_series_equal(
        got.sort_index(), expected.sort_index(), check_names=False, atol=1e-9
    )
    assert set(provider) == {"AWS", "Microsoft", "Oracle"}
    # One row per key, in the schema's categories; Oracle's missing RegionId uses RegionName.
    assert not frame.duplicated(
        ["charge_date", "sub_account_id", "service", "region", "charge_category", "usage_type"]
    ).any()
    assert set(frame["charge_category"]) == {"Usage", "Credit", "Adjustment"}
    assert "us-sanjose-1" in set(frame["region"])
    # Negative Microsoft usage lines are refunds, kept apart; the suite accepts the period.  The
    # sample is 1,000 line items drawn from a month, not a time series (days range from $0.0001
    # to $5, some $0), so the day-total band is off for it; every other expectation applies.
    assert (frame.loc[frame["usage_type"] == "Refund", "billed_cost"] < 0).all()
    policy = QualityPolicy(
        periods["2024-09"].start,
        periods["2024-09"].end,
        periods["2024-09"].end,
        daily_total_band=None,
    )
    report = validate_batch(frame, policy)
    assert report.success, report.message()


def test_a_newer_export_version_wins(tmp_path: Path, focus_sample: pd.DataFrame) -> None:
    sample_export(tmp_path, focus_sample, "exec-0001")
    restated = focus_sample.assign(BilledCost=focus_sample["BilledCost"] * 2)
    sample_export(tmp_path, restated, "exec-0002")
    location = ExportLocation(str(tmp_path), NAME)
    period = discover_periods(location)["2024-09"]
    assert period.version == "exec-0002"
    assert all("exec-0002" in f for f in period.data_files)
    folded, _ = read_period(location, period)
    assert folded["billed_cost"].sum() == pytest.approx(2 * focus_sample["BilledCost"].sum())


def test_a_malformed_file_is_named(tmp_path: Path, focus_sample: pd.DataFrame) -> None:
    good = pa.Table.from_pandas(focus_sample.iloc[:10], preserve_index=False)
    files = write_export(tmp_path, NAME, "2024-09", [good, b"this is not parquet"], "exec-1")
    location = ExportLocation(str(tmp_path), NAME)
    with pytest.raises(ExportError, match=r"focus-test-00002\.snappy\.parquet is malformed"):
        read_period(location, discover_periods(location)["2024-09"])
    assert files[1].endswith("00002.snappy.parquet")


def test_a_file_without_focus_columns_is_named(tmp_path: Path) -> None:
    table = pa.table({"cost": [1.0], "day": ["2024-09-01"]})
    write_export(tmp_path, NAME, "2024-09", [table], "exec-1")
    location = ExportLocation(str(tmp_path), NAME)
    with pytest.raises(ExportError, match=r"00001\.snappy\.parquet: not a FOCUS/CUR 2\.0 file"):
        read_period(location, discover_periods(location)["2024-09"])


def test_no_manifest_says_what_to_configure(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"no export manifest .* FINOPS_COSTS__EXPORT_BUCKET"):
        discover_periods(ExportLocation(str(tmp_path), NAME))


def test_cur2_columns_normalise_through_the_same_code() -> None:
    cur = pd.DataFrame(
        {
            "line_item_unblended_cost": [3.0, -1.0],
            "line_item_net_unblended_cost": [3.0, -1.0],
            "bill_payer_account_id": ["123456789012"] * 2,
            "line_item_currency_code": ["USD"] * 2,
            "line_item_usage_start_date": pd.to_datetime(["2026-01-05T10:00:00Z"] * 2),
            "product_servicename": ["Amazon EC2", "Amazon EC2"],
            "line_item_usage_account_id": ["210987654321"] * 2,
            "line_item_line_item_type": ["Usage", "Credit"],
        }
    )
    rows = normalize_focus(cur)
    assert rows["charge_category"].tolist() == ["Usage", "Credit"]
    assert rows["charge_date"].tolist() == ["2026-01-05"] * 2
    assert rows["sub_account_id"].tolist() == ["210987654321"] * 2
