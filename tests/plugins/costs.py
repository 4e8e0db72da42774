"""Cost fixtures: cost frames with known totals and data exports laid out as AWS writes them.

* ``make_cost_frame(...)``: a COST_COLUMNS frame (day x account x service), a steady known cost.
* ``write_export(root, export_name, period, tables, execution_id)``: one billing period of a FOCUS
  export in a folder (``data/BILLING_PERIOD=.../<execution>/...parquet`` plus the current and
  the execution's ``Manifest.json``), as the sandbox and AWS Data Exports lay it out.
* ``rewrite_manifest(...)``: the same period's manifests listing other data file entries (a
  tampered or broken manifest).
* ``with_value(table, column, row, value)``: a table with one cell replaced, NaN kept as NaN
  (pandas would turn it into a null on the way to Arrow).
* ``focus_sample`` (fixture): the real FOCUS 1.0 rows of ``../shared/data/focus/focus_sample.csv``
  read in place (never copied into the project).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.costs.schema import COST_COLUMNS

FOCUS_SAMPLE = (
    Path(
        # FINOPS_SHARED_DATA: the shared data folder, when the checkout does not sit beside it
        os.environ.get("FINOPS_SHARED_DATA")
        or Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    )
    / "focus"
    / "focus_sample.csv"
)


def make_cost_frame(
    start: date,
    days: int,
    accounts: Sequence[str] = ("111111111111", "222222222222"),
    services: Sequence[str] = ("Amazon Elastic Compute Cloud - Compute", "Amazon S3"),
    source: str = "ce",
    daily_cost: float = 10.0,
    estimated_last: int = 0,
) -> pd.DataFrame:
    """A cost frame of ``days`` days from ``start``: every account x service costs
    ``daily_cost`` a day (billed = effective); the last ``estimated_last`` days are estimated."""
    records = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        for account in accounts:
            for service in services:
                records.append(
                    {
                        "charge_date": day,
                        "billing_period": day.strftime("%Y-%m"),
                        "billing_account_id": "123456789012",
                        "sub_account_id": account,
                        "service": service,
                        "region": "us-east-1",
                        "charge_category": "Usage",
                        "usage_type": "",
                        "billed_cost": daily_cost,
                        "effective_cost": daily_cost,
                        "list_cost": None,
                        "usage_quantity": 24.0,
                        "usage_unit": "Hrs",
                        "currency": "USD",
                        "tags": "{}",
                        "source": source,
                        "estimated": offset >= days - estimated_last,
                    }
                )
    return pd.DataFrame.from_records(records, columns=COST_COLUMNS)


def write_export(
    root: Path,
    export_name: str,
    period: str,
    tables: Sequence[pa.Table | bytes],
    execution_id: str,
) -> list[str]:
    """Write one billing period of an export under ``root``; returns the data file paths.

    A ``bytes`` entry is written as-is (to make a malformed file).
    """
    data_dir = root / export_name / "data" / f"BILLING_PERIOD={period}" / execution_id
    data_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for index, table in enumerate(tables, start=1):
        path = data_dir / f"{export_name}-{index:05d}.snappy.parquet"
        if isinstance(table, bytes):
            path.write_bytes(table)
        else:
            pq.write_table(table, path, compression="snappy")
        files.append(str(path))
    year, month = int(period[:4]), int(period[5:7])
    following = date(year + month // 12, month % 12 + 1, 1)
    manifest = {
        "executionId": execution_id,
        "exportArn": f"arn:aws:bcm-data-exports:us-east-1:123456789012:export/{export_name}",
        "billingPeriod": {"start": f"{period}-01T00:00:00Z", "end": f"{following}T00:00:00Z"},
        "dataFiles": files,
        "exportTime": f"{execution_id}",
    }
    metadata = root / export_name / "metadata" / f"BILLING_PERIOD={period}"
    (metadata / execution_id).mkdir(parents=True, exist_ok=True)
    text = json.dumps(manifest)
    (metadata / execution_id / f"{export_name}-Manifest.json").write_text(text)
    (metadata / f"{export_name}-Manifest.json").write_text(text)
    return files


def rewrite_manifest(
    root: Path, export_name: str, period: str, execution_id: str, data_files: Sequence[str]
) -> None:
    """List ``data_files`` in the period's current and execution manifests (entries as given)."""
    metadata = root / export_name / "metadata" / f"BILLING_PERIOD={period}"
    for path in (
        metadata / f"{export_name}-Manifest.json",
        metadata / execution_id / f"{export_name}-Manifest.json",
    ):
        manifest = json.loads(path.read_text())
        manifest["dataFiles"] = list(data_files)
        path.write_text(json.dumps(manifest))


def with_value(table: pa.Table, column: str, row: int, value: float) -> pa.Table:
    """``table`` with ``column[row]`` set to ``value`` (a float64 column; NaN stays NaN)."""
    values = table.column(column).to_pylist()
    values[row] = value
    index = table.column_names.index(column)
    return table.set_column(index, column, pa.array(values, pa.float64()))


def read_focus_sample() -> pd.DataFrame:
    """The FOCUS 1.0 sample as FOCUS types: NULL cells empty, periods as UTC timestamps."""
    frame = pd.read_csv(FOCUS_SAMPLE, na_values=["NULL"], keep_default_na=False)
    for column in (
        "ChargePeriodStart",
        "ChargePeriodEnd",
        "BillingPeriodStart",
        "BillingPeriodEnd",
    ):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


@pytest.fixture(scope="session")
def focus_sample() -> pd.DataFrame:
    """The 1,000 real FOCUS line items (AWS, Microsoft, Oracle; September 2024)."""
    if not FOCUS_SAMPLE.exists():
        pytest.fail(f"reference data missing: {FOCUS_SAMPLE}")
    return read_focus_sample()
