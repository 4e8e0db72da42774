"""The cost ingest trusts nothing it reads (issue 15, item 3).

* a manifest may only name data files inside its own export (no ``..``, no absolute path or
  s3:// URL elsewhere);
* a data file a manifest lists twice is read once;
* a cost that is not a finite number fails the quality gate (export and Cost Explorer alike);
* a Cost Explorer answer that is malformed (no TimePeriod, an amount like "12,34", a date like
  2026-02-30) is one ``CostExplorerError`` line, and one ``error:`` line from the CLI.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from finops.cli import app
from tasks.costs.cost_explorer import CostExplorerError, transform_pages
from tasks.costs.export import ExportError, ExportLocation, discover_periods, read_period
from tasks.costs.quality import QualityPolicy, validate_batch
from tests.plugins.costs import make_cost_frame, rewrite_manifest, write_export

NAME = "focus-integrity"
PAYER = "123456789012"
GROUP_BY = ["LINKED_ACCOUNT", "SERVICE"]
runner = CliRunner()


def focus_table(focus_sample: pd.DataFrame, rows: int = 60) -> pa.Table:
    return pa.Table.from_pandas(focus_sample.iloc[:rows], preserve_index=False)


@pytest.fixture
def export_root(tmp_path: Path) -> Path:
    # Laid out as s3://bucket/cur would be: the export root is <root>/<export name>.
    return tmp_path / "bucket" / "cur"


# -- 1. manifests are trusted only inside the export --------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        "../../outside.parquet",  # relative, climbing out of the export's prefix
        "{tmp}/outside.parquet",  # an absolute path elsewhere
        "{root}/other-export/data/BILLING_PERIOD=2024-09/other-00001.snappy.parquet",
        "{root}/" + NAME + "-old/data/x.parquet",  # a sibling whose name merely starts alike
        "{root}/" + NAME + "/data/../../other-export/data/x.parquet",  # in, then out again
    ],
)
def test_a_data_file_outside_the_export_is_refused(
    tmp_path: Path, export_root: Path, focus_sample: pd.DataFrame, entry: str
) -> None:
    write_export(export_root, NAME, "2024-09", [focus_table(focus_sample)], "exec-1")
    spelled = entry.format(tmp=tmp_path, root=export_root)
    # The file really exists and is a good FOCUS file: only where it lies is wrong.
    target = Path(spelled) if spelled.startswith("/") else export_root / spelled
    target.resolve().parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(focus_table(focus_sample), target.resolve())
    rewrite_manifest(export_root, NAME, "2024-09", "exec-1", [spelled])
    with pytest.raises(ExportError) as caught:
        discover_periods(ExportLocation(str(export_root), NAME))
    message = str(caught.value)
    assert "\n" not in message
    assert "Manifest.json" in message and spelled in message
    assert f"outside the export {export_root}/{NAME}" in message


def test_s3_entries_must_stay_in_the_exports_bucket_and_prefix() -> None:
    location = ExportLocation("s3://finops-cur/cur", NAME)
    inside = f"s3://finops-cur/cur/{NAME}/data/BILLING_PERIOD=2026-01/{NAME}-00001.snappy.parquet"
    assert location.resolve(inside) == inside.removeprefix("s3://")
    assert location.resolve(f"{NAME}/data/x.parquet") == f"finops-cur/cur/{NAME}/data/x.parquet"
    for outside in [
        f"s3://other-bucket/cur/{NAME}/data/x.parquet",
        f"s3://finops-cur/elsewhere/{NAME}/data/x.parquet",
        f"s3://finops-cur/cur/{NAME}/../payroll/x.parquet",
        "/etc/passwd",
    ]:
        with pytest.raises(ExportError, match="outside the export s3://finops-cur/cur/"):
            location.resolve(outside)


def test_the_cli_refuses_a_manifest_pointing_outside_in_one_line(
    tmp_path: Path,
    export_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    focus_sample: pd.DataFrame,
) -> None:
    write_export(export_root, NAME, "2024-09", [focus_table(focus_sample)], "exec-1")
    pq.write_table(focus_table(focus_sample), tmp_path / "outside.parquet")
    rewrite_manifest(export_root, NAME, "2024-09", "exec-1", ["../../outside.parquet"])
    monkeypatch.setenv("FINOPS_COSTS__EXPORT_URL", str(export_root))
    monkeypatch.setenv("FINOPS_COSTS__EXPORT_NAME", NAME)
    monkeypatch.setenv("FINOPS_COSTS__STORE_URL", str(tmp_path / "store"))
    result = runner.invoke(app, ["ingest", "--source", "export"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert result.output.startswith("error: manifest ") and result.output.count("\n") == 1
    assert "../../outside.parquet" in result.output
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").rglob("*.parquet"))


# -- 2. a data file listed twice is read once ---------------------------------------------------


def test_a_data_file_listed_twice_is_read_once(
    export_root: Path, focus_sample: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    halves = [focus_sample.iloc[:300], focus_sample.iloc[300:]]
    tables = [pa.Table.from_pandas(half, preserve_index=False) for half in halves]
    files = write_export(export_root, NAME, "2024-09", tables, "exec-1")
    folder, name = files[0].rsplit("/", 1)
    # The same file three times: as written, verbatim again, and spelled through "./".
    listed = [*files, files[0], f"{folder}/./{name}"]
    rewrite_manifest(export_root, NAME, "2024-09", "exec-1", listed)
    location = ExportLocation(str(export_root), NAME)
    with caplog.at_level(logging.WARNING, logger="tasks.costs.export"):
        period = discover_periods(location)["2024-09"]
    assert period.data_files == tuple(files)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "more than once" in warnings[0] and name in warnings[0]
    folded, line_items = read_period(location, period)
    assert line_items == len(focus_sample)
    expected = focus_sample["BilledCost"].sum()
    assert folded["billed_cost"].sum() == pytest.approx(expected, abs=1e-9)


# -- 3. costs are finite numbers ----------------------------------------------------------------

POLICY = QualityPolicy(date(2026, 1, 1), date(2026, 1, 10), date(2026, 1, 11))


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("billed_cost", math.inf),
        ("billed_cost", -math.inf),
        ("effective_cost", math.inf),
        ("effective_cost", -math.inf),
        ("list_cost", math.inf),
        ("usage_quantity", -math.inf),
    ],
)
def test_an_infinite_figure_fails_the_gate_on_its_column(column: str, value: float) -> None:
    frame = make_cost_frame(date(2026, 1, 1), 10)
    frame[column] = frame[column].astype("float64")
    frame.loc[5, column] = value
    report = validate_batch(frame, POLICY)
    assert not report.success
    failed = {f["column"]: f for f in report.failures}
    assert column in failed, report.message()
    assert failed[column]["expectation"] == "expect_column_values_to_be_between"
    assert "\n" not in report.message()


def ce_page(amount: str, day: str = "2026-01-05", end: str = "2026-01-06") -> dict[str, Any]:
    return {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": day, "End": end},
                "Estimated": False,
                "Groups": [
                    {
                        "Keys": ["111111111111", "Amazon S3"],
                        "Metrics": {
                            "UnblendedCost": {"Amount": amount, "Unit": "USD"},
                            "NetAmortizedCost": {"Amount": amount, "Unit": "USD"},
                        },
                    },
                    {
                        "Keys": ["111111111111", "Amazon S3"],
                        "Metrics": {"UnblendedCost": {"Amount": "2.5", "Unit": "USD"}},
                    },
                ],
            }
        ]
    }


@pytest.mark.parametrize("amount", ["Infinity", "-Infinity", "NaN"])
def test_a_non_finite_cost_explorer_amount_fails_the_gate(amount: str) -> None:
    # Two groups of one key: a NaN must not vanish into their sum.
    frame = transform_pages([ce_page(amount)], GROUP_BY, PAYER)
    report = validate_batch(frame, POLICY)
    assert not report.success
    assert "billed_cost" in {f["column"] for f in report.failures}, report.message()


# -- 4. a malformed Cost Explorer answer is one CostExplorerError line --------------------------


def without_time_period() -> dict[str, Any]:
    page = ce_page("1.5")
    del page["ResultsByTime"][0]["TimePeriod"]
    return page


def without_start() -> dict[str, Any]:
    page = ce_page("1.5")
    del page["ResultsByTime"][0]["TimePeriod"]["Start"]
    return page


def with_one_key() -> dict[str, Any]:
    page = ce_page("1.5")
    page["ResultsByTime"][0]["Groups"][0]["Keys"] = ["111111111111"]
    return page


MALFORMED = [
    (without_time_period, "without TimePeriod"),
    (without_start, "without TimePeriod.Start"),
    (lambda: ce_page("12,34"), "Amount '12,34'"),
    (lambda: ce_page("twelve"), "Amount 'twelve'"),
    (lambda: ce_page("1.5", day="2026-02-30", end="2026-03-01"), "'2026-02-30'"),
    (lambda: {"ResultsByTime": "x"}, "ResultsByTime"),
    (with_one_key, "Keys ['111111111111']"),
]


@pytest.mark.parametrize(("page", "words"), MALFORMED)
def test_a_malformed_answer_is_one_line(page: Any, words: str) -> None:
    with pytest.raises(CostExplorerError) as caught:
        transform_pages([page()], GROUP_BY, PAYER)
    message = str(caught.value)
    assert words in message and message.startswith("Cost Explorer returned ")
    assert "\n" not in message


class StubbedAccess:
    """AwsAccess with a Cost Explorer client that answers one stubbed page."""

    client_under_test: Any = None

    def __init__(self, settings: Any) -> None:
        self.caller_account_id = PAYER

    def client(self, service: str, account: str, region: str) -> Any:
        return self.client_under_test


@pytest.fixture
def stubbed_ce(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    client = boto3.client(
        "ce", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    monkeypatch.setattr(StubbedAccess, "client_under_test", client)
    monkeypatch.setattr("tasks.costs.tasks.AwsAccess", StubbedAccess)
    monkeypatch.setattr("finops.commands.costs.require_aws", lambda *_a, **_k: PAYER)
    monkeypatch.setenv("FINOPS_COSTS__STORE_URL", str(tmp_path / "store"))
    with Stubber(client) as stubber:
        yield stubber


def answer_for(day: date, case: str) -> dict[str, Any]:
    following = (day + timedelta(days=1)).isoformat()
    if case == "no TimePeriod":
        page = ce_page("1.5")
        del page["ResultsByTime"][0]["TimePeriod"]
        return page
    if case == "comma amount":
        return ce_page("12,34", day.isoformat(), following)
    return ce_page("1.5", "2026-02-30", following)


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("no TimePeriod", "a ResultsByTime entry without TimePeriod"),
        ("comma amount", "UnblendedCost Amount '12,34'"),
        ("impossible date", "TimePeriod.Start '2026-02-30', which is not a date"),
    ],
)
def test_the_cli_says_what_aws_returned_in_one_line(
    stubbed_ce: Stubber, prefect_harness: None, tmp_path: Path, case: str, words: str
) -> None:
    day = datetime.now(UTC).date() - timedelta(days=10)
    stubbed_ce.add_response("get_cost_and_usage", answer_for(day, case), None)
    result = runner.invoke(
        app, ["ingest", "--source", "ce", "--start", day.isoformat(), "--end", day.isoformat()]
    )
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Cost Explorer returned "), lines
    assert words in lines[0]
    assert not list((tmp_path / "store").rglob("*.parquet"))
