"""The cost store's commitment columns: older stores upgrade in place, FOCUS 1.0 and 1.2 ingest."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.costs.export import fold, normalize_focus, to_cost_frame
from tasks.costs.quality import QualityPolicy, validate_batch
from tasks.costs.schema import COMMITMENT_COLUMNS, COST_SCHEMA, SCHEMA_VERSION
from tasks.costs.store import CostStore
from tests.plugins.costs import make_cost_frame

SP = "arn:aws:savingsplans::111111111111:savingsplan/5e1c"


def write_version_one(root, day: date) -> None:
    """A partition as the store wrote it before commitment columns existed."""
    frame = make_cost_frame(day, 1)
    old = pa.schema([f for f in COST_SCHEMA if f.name not in COMMITMENT_COLUMNS])
    table = pa.Table.from_pandas(frame[old.names], schema=old, preserve_index=False)
    folder = root / f"charge_date={day.isoformat()}" / "source=ce"
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "data.parquet")


def test_a_store_written_before_commitments_reads_and_upgrades_in_place(tmp_path) -> None:
    day = date(2026, 3, 1)
    write_version_one(tmp_path, day)
    store = CostStore(str(tmp_path))
    assert store.schema_version() == 1
    before = store.read(day, day)
    assert before["commitment_discount_id"].isna().all() and len(before) > 0
    assert store.upgrade() == 1
    assert store.schema_version() == SCHEMA_VERSION
    file = tmp_path / f"charge_date={day.isoformat()}" / "source=ce" / "data.parquet"
    assert set(COMMITMENT_COLUMNS) <= set(pq.read_schema(file).names)
    after = store.read(day, day)
    pd.testing.assert_frame_equal(before, after)
    assert store.upgrade() == 0  # recorded: nothing left to do


def test_a_write_upgrades_the_other_partitions_first(tmp_path) -> None:
    write_version_one(tmp_path, date(2026, 3, 1))
    store = CostStore(str(tmp_path))
    frame = make_cost_frame(date(2026, 3, 2), 1)
    store.replace_window(frame, date(2026, 3, 2), date(2026, 3, 2), "ce")
    assert store.schema_version() == SCHEMA_VERSION
    assert len(store.read()) == 2 * len(frame)


def focus_rows(version: str) -> pd.DataFrame:
    """Covered, unused and on-demand line items of one hour, as AWS writes FOCUS ``version``."""
    rows = pd.DataFrame(
        {
            "BilledCost": [0.0, 0.0, 1.0, 1.0],
            "BillingAccountId": ["1"] * 4,
            "BillingCurrency": ["USD"] * 4,
            "ChargeCategory": ["Usage"] * 4,
            "ChargePeriodStart": ["2026-03-01T10:00:00Z"] * 4,
            "EffectiveCost": [0.72, 0.28, 1.0, 1.0],
            "ListCost": [1.0, None, 1.0, 1.0],
            "ServiceName": ["Amazon Elastic Compute Cloud - Compute"] * 3 + ["Savings Plans"],
            "SubAccountId": ["111111111111"] * 4,
            "x_UsageType": ["USE1-BoxUsage:m5.xlarge", "ComputeSP", "USE1-BoxUsage:m5.xlarge", "x"],
            "CommitmentDiscountId": [SP, SP, None, None],
            "CommitmentDiscountCategory": ["Spend", "Spend", None, None],
            "CommitmentDiscountType": ["Savings Plan", "Savings Plan", None, None],
            "CommitmentDiscountStatus": ["Used", "Unused", None, None],
        }
    )
    if version == "1.2":  # 1.2 adds quantities and invoice columns beside the same names
        rows["CommitmentDiscountQuantity"] = [0.72, 0.28, None, None]
        rows["CommitmentDiscountUnit"] = ["USD", "USD", None, None]
        rows["InvoiceId"] = ["INV-1"] * 4
    return rows


@pytest.mark.parametrize("version", ["1.0", "1.2"])
def test_focus_commitment_columns_land_in_the_store(version: str, tmp_path) -> None:
    frame = to_cost_frame(fold(normalize_focus(focus_rows(version))))
    covered = frame[frame["commitment_discount_status"] == "Used"]
    assert covered["effective_cost"].tolist() == [0.72]
    assert covered["commitment_discount_id"].tolist() == [SP]
    on_demand = frame[frame["commitment_discount_id"].isna()]
    # the same usage type covered and on demand stays two rows
    assert sorted(on_demand["usage_type"]) == ["USE1-BoxUsage:m5.xlarge", "x"]
    report = validate_batch(
        frame, QualityPolicy(start=date(2026, 3, 1), end=date(2026, 3, 1), today=date(2026, 3, 2))
    )
    assert report.success, report
    store = CostStore(str(tmp_path))
    store.replace_window(frame, date(2026, 3, 1), date(2026, 3, 1), "export")
    stored = store.read()
    assert stored["commitment_discount_status"].value_counts().to_dict() == {"Used": 1, "Unused": 1}


def test_a_commitment_status_outside_focus_is_refused() -> None:
    rows = focus_rows("1.0")
    rows.loc[0, "CommitmentDiscountStatus"] = "Partly"
    frame = to_cost_frame(fold(normalize_focus(rows)))
    report = validate_batch(
        frame, QualityPolicy(start=date(2026, 3, 1), end=date(2026, 3, 1), today=date(2026, 3, 2))
    )
    assert not report.success
