"""The export fold as one DuckDB GROUP BY agrees to the cent with the Arrow fold it replaced."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.costs.export import (
    CUR2_TO_FOCUS,
    ExportError,
    ExportLocation,
    ExportPeriod,
    discover_periods,
    fold_table,
    normalize_table,
    read_period,
)
from tasks.costs.fold import FOLD_KEYS, FOLD_SUMS
from tests.plugins.costs import write_export
from tests.plugins.sandbox import SandboxHandle

NAME = "focus-fold"


def arrow_fold(location: ExportLocation, period: ExportPeriod) -> pd.DataFrame:
    """The fold as the export path did it before: Arrow compute over each file's line items."""
    normalised = [
        normalize_table(pq.read_table(location.fs.open_input_file(path)), name=path)
        for path in period.data_files
    ]
    folded = fold_table(pa.concat_tables(normalised))
    return folded.to_pandas()


def in_cents(frame: pd.DataFrame) -> pd.DataFrame:
    """Per key: money in integer cents, line items and unit (the figures a person reads)."""
    keyed = frame.copy()
    for key in ("charge_date", "billing_period"):
        keyed[key] = pd.to_datetime(keyed[key]).dt.strftime("%Y-%m-%d").str[: len("YYYY-MM-DD")]
    keyed["billing_period"] = keyed["billing_period"].str[:7]
    keyed = keyed.fillna({k: "" for k in FOLD_KEYS if k not in ("charge_date",)})
    for column in FOLD_SUMS:
        keyed[column] = (keyed[column].astype(float) * 100).round().astype("Int64")
    keyed["usage_unit"] = keyed["usage_unit"].fillna("")
    columns = [*FOLD_KEYS, *FOLD_SUMS, "usage_unit", "line_items"]
    return keyed[columns].sort_values(FOLD_KEYS).reset_index(drop=True)


def assert_same_to_the_cent(location: ExportLocation, period: ExportPeriod) -> int:
    duck, line_items = read_period(location, period)
    arrow = arrow_fold(location, period)
    pd.testing.assert_frame_equal(in_cents(duck), in_cents(arrow), check_dtype=False)
    assert line_items == int(arrow["line_items"].sum())
    return line_items


def test_the_real_focus_sample_folds_the_same(tmp_path: Path, focus_sample: pd.DataFrame) -> None:
    parts = [focus_sample.iloc[i::3] for i in range(3)]
    write_export(
        tmp_path,
        NAME,
        "2024-09",
        [pa.Table.from_pandas(p, preserve_index=False) for p in parts],
        "e1",
    )
    location = ExportLocation(str(tmp_path), NAME)
    period = discover_periods(location)["2024-09"]

    assert assert_same_to_the_cent(location, period) == 1000
    # and both agree with the sample's own total, to the cent
    folded, _ = read_period(location, period)
    assert round(folded["billed_cost"].sum(), 2) == round(focus_sample["BilledCost"].sum(), 2)


def test_text_timestamps_and_cur2_columns_fold_the_same(
    tmp_path: Path, focus_sample: pd.DataFrame
) -> None:
    # A CSV-born file (timestamps as text with offsets) next to a CUR 2.0 file.
    text = focus_sample.iloc[:400].copy()
    for column in ("ChargePeriodStart", "BillingPeriodStart"):
        text[column] = text[column].dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    focus_to_cur = {focus: cur for cur, focus in CUR2_TO_FOCUS.items()}
    aws = focus_sample[focus_sample["ProviderName"] == "AWS"].iloc[:300]
    cur2 = aws[[c for c in focus_to_cur if c in aws.columns]].rename(columns=focus_to_cur)
    cur2["line_item_line_item_type"] = [
        ("Usage", "DiscountedUsage", "Tax", "Credit", "RIFee", "Refund")[i % 6] for i in range(300)
    ]
    write_export(
        tmp_path, NAME, "2024-09", [pa.Table.from_pandas(text, preserve_index=False)], "text"
    )
    write_export(
        tmp_path / "cur", NAME, "2024-09", [pa.Table.from_pandas(cur2, preserve_index=False)], "c"
    )

    for root in (tmp_path, tmp_path / "cur"):
        location = ExportLocation(str(root), NAME)
        assert assert_same_to_the_cent(location, discover_periods(location)["2024-09"]) > 0


def test_the_sandbox_export_folds_the_same(sandbox_env: SandboxHandle) -> None:
    export = sandbox_env.ground_truth["export"]
    location = ExportLocation(f"s3://{export['bucket']}/{export['prefix']}", export["export_name"])
    periods = discover_periods(location)
    assert len(periods) >= 12
    for billing_period in list(periods)[-3:]:  # the newest months, a restated one among them
        assert assert_same_to_the_cent(location, periods[billing_period]) > 0


def test_a_bad_category_is_named_with_its_file(tmp_path: Path, focus_sample: pd.DataFrame) -> None:
    good = pa.Table.from_pandas(focus_sample.iloc[:10], preserve_index=False)
    bad_rows = focus_sample.iloc[10:20].assign(ChargeCategory="Refundish")
    bad = pa.Table.from_pandas(bad_rows, preserve_index=False)
    write_export(tmp_path, NAME, "2024-09", [good, bad], "e1")
    location = ExportLocation(str(tmp_path), NAME)

    with pytest.raises(ExportError, match=r"00002\.snappy\.parquet: unknown ChargeCategory"):
        read_period(location, discover_periods(location)["2024-09"])


def test_text_in_a_money_column_is_named_with_its_file(
    tmp_path: Path, focus_sample: pd.DataFrame
) -> None:
    good = pa.Table.from_pandas(focus_sample.iloc[:10], preserve_index=False)
    bad_rows = focus_sample.iloc[10:20].assign(BilledCost="twelve dollars")
    bad = pa.Table.from_pandas(bad_rows, preserve_index=False)
    write_export(tmp_path, NAME, "2024-09", [good, bad], "e1")
    location = ExportLocation(str(tmp_path), NAME)

    with pytest.raises(ExportError, match=r"00002\.snappy\.parquet is malformed: Conversion"):
        read_period(location, discover_periods(location)["2024-09"])
