"""`finops ingest --source athena`: the export's fold as Athena SQL, against the sandbox's Athena.

The sandbox answers Athena by running the SQL it receives in DuckDB over its own S3 export, so
what is tested is the SQL the tool sends, Athena's polling and paging as boto3 parses them, and
stores that agree to the cent with the local fold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from finops.cli import app
from tasks.aws.session import boto_config
from tasks.costs.store import CostStore
from tests.plugins.sandbox import SandboxHandle

runner = CliRunner()


def athena_client(sandbox: SandboxHandle) -> Any:
    return boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("athena", endpoint_url=sandbox.endpoint_url, config=boto_config())


def test_the_sandbox_speaks_athenas_query_api(sandbox: SandboxHandle) -> None:
    athena = athena_client(sandbox)
    table = sandbox.ground_truth["athena"]
    started = athena.start_query_execution(
        QueryString=(
            "SELECT ServiceName, count(*) AS line_items "
            f'FROM "{table["database"]}"."{table["table"]}" GROUP BY ServiceName ORDER BY 1'
        ),
        QueryExecutionContext={"Database": table["database"]},
        WorkGroup="primary",
    )
    execution_id = started["QueryExecutionId"]
    states = [
        athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Status"][
            "State"
        ]
        for _ in range(2)
    ]
    assert states == ["RUNNING", "SUCCEEDED"]
    done = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
    assert done["Statistics"]["DataScannedInBytes"] > 0
    pages = list(
        athena.get_paginator("get_query_results").paginate(
            QueryExecutionId=execution_id, PaginationConfig={"PageSize": 3}
        )
    )
    assert len(pages) > 1  # NextToken paging
    header, *rows = [r["Data"] for page in pages for r in page["ResultSet"]["Rows"]]
    assert [c["VarCharValue"] for c in header] == ["ServiceName", "line_items"]
    columns = pages[0]["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [c["Type"] for c in columns] == ["varchar", "bigint"]
    total = sum(int(r[1]["VarCharValue"]) for r in rows)
    assert total == sum(p["rows"] for p in sandbox.ground_truth["export"]["periods"].values())

    with pytest.raises(ClientError) as caught:
        athena.get_query_results(QueryExecutionId="no-such-query")
    assert caught.value.response["Error"]["Code"] == "InvalidRequestException"
    workgroup = athena.get_work_group(WorkGroup="primary")["WorkGroup"]
    assert workgroup["State"] == "ENABLED"


def _env(sandbox: SandboxHandle, store: Path, **extra: str) -> dict[str, str]:
    table = sandbox.ground_truth["athena"]
    export = sandbox.ground_truth["export"]
    return {
        **sandbox.env,
        "FINOPS_COSTS__EXPORT_URL": f"s3://{export['bucket']}/{export['prefix']}",
        "FINOPS_COSTS__EXPORT_NAME": export["export_name"],
        "FINOPS_COSTS__STORE_URL": str(store),
        "FINOPS_COSTS__DAILY_TOTAL_BAND": "0",
        "FINOPS_ATHENA__DATABASE": table["database"],
        "FINOPS_ATHENA__TABLE": table["table"],
        "FINOPS_ATHENA__POLL_INTERVAL_S": "0.01",
        **extra,
    }


def _in_cents(store: CostStore) -> pd.DataFrame:
    frame = store.read(source="export")
    keys = ["charge_date", "sub_account_id", "service", "region", "charge_category", "usage_type"]
    cents = frame.assign(
        billed=(frame["billed_cost"] * 100).round().astype("int64"),
        effective=(frame["effective_cost"] * 100).round().astype("int64"),
    )
    return (
        cents[[*keys, "billed", "effective", "usage_unit"]].sort_values(keys).reset_index(drop=True)
    )


def test_athena_and_the_local_fold_leave_stores_that_agree_to_the_cent(
    fresh_sandbox: Callable[..., SandboxHandle],
    tmp_path: Path,
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    box = fresh_sandbox(seed=11, cost_days=100)
    for name in [k for k in list(os.environ) if k.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    local = runner.invoke(
        app, ["ingest", "--source", "export", "--json"], env=_env(box, tmp_path / "local")
    )
    assert local.exit_code == 0, local.output
    athena = runner.invoke(app, ["ingest", "--source", "athena"], env=_env(box, tmp_path / "ath"))
    assert athena.exit_code == 0, athena.output

    pd.testing.assert_frame_equal(
        _in_cents(CostStore(str(tmp_path / "local"))), _in_cents(CostStore(str(tmp_path / "ath")))
    )
    periods = len(box.ground_truth["export"]["periods"])
    assert f"athena:StartQueryExecution {periods}" in athena.output
    assert "Athena scanned" in athena.output

    # Unchanged periods are not queried again; a restated month is, alone.
    again = runner.invoke(app, ["ingest", "--source", "athena"], env=_env(box, tmp_path / "ath"))
    assert again.exit_code == 0, again.output
    assert "StartQueryExecution" not in again.output
    assert again.output.count("export version already stored") == periods
    restated_day = box.ground_truth["last_day"]
    box.control("POST", "restate", {"date": restated_day, "factor": 1.5})
    for folder in ("local", "ath"):
        source = "export" if folder == "local" else "athena"
        rerun = runner.invoke(app, ["ingest", "--source", source], env=_env(box, tmp_path / folder))
        assert rerun.exit_code == 0, rerun.output
    assert "athena:StartQueryExecution 1" in rerun.output
    pd.testing.assert_frame_equal(
        _in_cents(CostStore(str(tmp_path / "local"))), _in_cents(CostStore(str(tmp_path / "ath")))
    )


def test_the_bytes_scanned_cap_stops_the_run_in_one_line(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    # As a user runs it: its own process (and Prefect server), stderr as the terminal shows it.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "FINOPS_DATA_DIR": str(tmp_path / "data"),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "DO_NOT_TRACK": "1",
        **_env(sandbox, tmp_path / "store", FINOPS_ATHENA__BYTES_SCANNED_CAP="1000"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "finops", "ingest", "--source", "athena"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    shown = f"exit {result.returncode}\nstderr:\n{result.stderr}\nstdout:\n{result.stdout}"
    assert result.returncode != 0, shown
    assert "Traceback" not in result.stderr, shown
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: Athena scanned "), shown
    assert "FINOPS_ATHENA__BYTES_SCANNED_CAP" in errors[0], shown
    assert not list((tmp_path / "store").rglob("*.parquet"))


def test_athena_without_a_table_says_what_to_set(sandbox: SandboxHandle, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["ingest", "--source", "athena"],
        env=_env(sandbox, tmp_path / "store", FINOPS_ATHENA__TABLE=""),
    )
    assert result.exit_code != 0
    assert "FINOPS_ATHENA__TABLE" in result.output and result.output.count("\n") == 1


def test_the_runs_own_bill_matches_cost_explorers_pages(
    sandbox: SandboxHandle, tmp_path: Path, prefect_harness: None
) -> None:
    last_day = sandbox.ground_truth["last_day"]
    first_day = last_day[:8] + "01"
    result = runner.invoke(
        app,
        ["ingest", "--source", "ce", "--start", first_day, "--end", last_day, "--json"],
        env=_env(sandbox, tmp_path / "store"),
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{") :])
    pages = summary["ce_requests"]
    assert pages >= 1
    # The flow's own count (every boto3 request) agrees with Cost Explorer's page count, and
    # the bill prices each page at $0.01.
    assert summary["aws_requests"]["cost-explorer:GetCostAndUsage"] == pages
    assert Decimal(summary["aws_cost_usd"]["cost-explorer"]) == Decimal("0.01") * pages
    assert Decimal(summary["aws_cost_usd"]["total"]) == Decimal("0.01") * pages
