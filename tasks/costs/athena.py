"""The export's daily fold run as SQL in Athena, one billing period a query, results read back.

The SQL is :func:`tasks.costs.fold.fold_sql` over the Glue table of the export, filtered to the
period's partition (``billing_period``) and to the files its current manifest lists (Athena's
``"$path"``), so an older export version's files left in the partition are never summed.  Which
periods to fold is the export path's decision (their manifests' versions), so only periods that
changed are queried.  Each query's ``DataScannedInBytes`` counts against a per-run cap: the run
stops with a one-line :class:`AthenaError` before it goes past it.

Adapters only (``get_*`` reads, one ``start``): the Prefect task and the flow wire them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
from botocore.exceptions import ClientError

from tasks.aws.common import error_code, error_message
from tasks.aws.usage import athena_billed_bytes
from tasks.costs.export import (
    CUR2_TO_FOCUS,
    CUR_LINE_ITEM_CATEGORY,
    ExportLocation,
    ExportPeriod,
    folded_period,
)
from tasks.costs.fold import FOLD_COLUMNS, FOLD_SUMS, file_columns, fold_problem, fold_sql
from tasks.settings import AthenaSettings

#: IAM actions the Athena mode needs (collected by tasks.permissions).
IAM_PERMISSIONS: tuple[str, ...] = (
    "athena:StartQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:StopQueryExecution",
    "athena:GetWorkGroup",
    "glue:GetTable",
    "glue:GetPartitions",
    "s3:GetObject",
    "s3:ListBucket",
    "s3:PutObject",
)

_TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


class AthenaError(RuntimeError):
    """Athena could not fold a period, or the run would scan past its cap (one line)."""


@dataclass
class ScanBudget:
    """Bytes Athena scanned in this run against the run's cap.

    Example:
        >>> budget = ScanBudget(cap=100 * 1000**2)
        >>> budget.spend(4_000_000, "2026-09")
        >>> budget.billed, budget.scanned
        (10000000, 4000000)
    """

    cap: int
    scanned: int = 0
    billed: int = 0
    per_period: dict[str, int] = field(default_factory=dict)

    def check(self, billing_period: str) -> None:
        """Refuse another query once the cap is spent."""
        if self.scanned >= self.cap:
            raise AthenaError(
                f"Athena bytes-scanned cap reached ({_size(self.scanned)} of "
                f"FINOPS_ATHENA__BYTES_SCANNED_CAP {_size(self.cap)}) before billing period "
                f"{billing_period}; raise the cap or ingest fewer periods (--start/--end)"
            )

    def spend(self, bytes_scanned: int, billing_period: str) -> None:
        self.scanned += bytes_scanned
        self.billed += athena_billed_bytes(bytes_scanned)
        self.per_period[billing_period] = bytes_scanned
        if self.scanned > self.cap:
            raise AthenaError(
                f"Athena scanned {_size(self.scanned)} by billing period {billing_period}, over "
                f"FINOPS_ATHENA__BYTES_SCANNED_CAP {_size(self.cap)}; nothing of that period "
                "was written: raise the cap or ingest fewer periods (--start/--end)"
            )


def _size(count: int) -> str:
    for unit, scale in (("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2), ("KB", 1000)):
        if count >= scale:
            return f"{count / scale:.2f} {unit}"
    return f"{count} bytes"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def period_sql(settings: AthenaSettings, location: ExportLocation, period: ExportPeriod) -> str:
    """The fold of one billing period as Athena SQL over the export's table.

    The table's columns are read from the period's first data file (its footer), so a column the
    export does not carry is a NULL in the SQL rather than a failed query.

    Raises:
        AthenaError: the database or table is not configured.
    """
    if not settings.database or not settings.table:
        raise AthenaError(
            "the Athena table is not configured: set FINOPS_ATHENA__DATABASE and "
            "FINOPS_ATHENA__TABLE (the Glue table over the export's data files)"
        )
    columns = set(file_columns(location.fs, period.data_files[0]).names)
    paths = ", ".join(
        "'" + ("s3://" + p if not p.startswith("s3://") else p).replace("'", "''") + "'"
        for p in period.data_files
    )
    where = f"billing_period = '{period.billing_period}' AND \"$path\" IN ({paths})"
    relation = f"{_quote(settings.database)}.{_quote(settings.table)}"
    return fold_sql(relation, columns, where, CUR2_TO_FOCUS, CUR_LINE_ITEM_CATEGORY)


def start_query(client: Any, sql: str, settings: AthenaSettings) -> str:
    """Start one query; returns its execution id."""
    request: dict[str, Any] = {
        "QueryString": sql,
        "QueryExecutionContext": {"Database": settings.database},
        "WorkGroup": settings.workgroup,
    }
    if settings.output_location:
        request["ResultConfiguration"] = {"OutputLocation": settings.output_location}
    try:
        return str(client.start_query_execution(**request)["QueryExecutionId"])
    except ClientError as error:
        raise AthenaError(
            f"Athena refused the query ({error_code(error)}: {error_message(error)}); check "
            "FINOPS_ATHENA__WORKGROUP, FINOPS_ATHENA__DATABASE and FINOPS_ATHENA__OUTPUT_LOCATION"
        ) from None


def get_query_execution(
    client: Any, execution_id: str, settings: AthenaSettings, sleep: Any = time.sleep
) -> dict[str, Any]:
    """Poll a query until it ends; stop it when it runs past ``query_timeout_s``.

    Raises:
        AthenaError: the query failed, was cancelled or timed out (with Athena's reason).
    """
    deadline = time.monotonic() + settings.query_timeout_s
    while True:
        execution = client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
        state = execution["Status"]["State"]
        if state in _TERMINAL:
            break
        if time.monotonic() > deadline:
            client.stop_query_execution(QueryExecutionId=execution_id)
            raise AthenaError(
                f"Athena query {execution_id} ran over FINOPS_ATHENA__QUERY_TIMEOUT_S "
                f"({settings.query_timeout_s:g} s) and was stopped"
            )
        sleep(settings.poll_interval_s)
    if state != "SUCCEEDED":
        reason = execution["Status"].get("StateChangeReason") or "no reason given"
        raise AthenaError(f"Athena query {execution_id} {state.lower()}: {reason}")
    return dict(execution)


def _typed(value: str | None, kind: str) -> Any:
    if value is None:
        return None
    if kind in ("bigint", "integer", "int", "smallint", "tinyint"):
        return int(value)
    if kind in ("double", "float", "real", "decimal"):
        return float(value)
    if kind == "boolean":
        return value == "true"
    if kind == "date":
        return pd.Timestamp(value).date()
    return value


def get_query_results(client: Any, execution_id: str) -> pa.Table:
    """Every row of a finished query (all pages), typed from Athena's column metadata."""
    columns: list[tuple[str, str]] = []
    records: list[list[Any]] = []
    for page_number, page in enumerate(
        client.get_paginator("get_query_results").paginate(QueryExecutionId=execution_id)
    ):
        result = page["ResultSet"]
        if not columns:
            columns = [
                (c["Name"], c["Type"].lower()) for c in result["ResultSetMetadata"]["ColumnInfo"]
            ]
        rows = result["Rows"]
        if page_number == 0 and rows:
            rows = rows[1:]  # the first row of the first page is the column names
        for row in rows:
            cells = [cell.get("VarCharValue") for cell in row["Data"]]
            records.append([_typed(v, kind) for v, (_, kind) in zip(cells, columns, strict=True)])
    names = [name for name, _ in columns]
    data = {name: [record[i] for record in records] for i, name in enumerate(names)}
    kinds = {name: _arrow_type(name, kind) for name, kind in columns}
    return pa.table({name: pa.array(data[name], kinds[name]) for name in names})


def _arrow_type(name: str, kind: str) -> pa.DataType:
    if name in FOLD_SUMS or kind in ("double", "float", "real", "decimal"):
        return pa.float64()
    if kind in ("bigint", "integer", "int", "smallint", "tinyint"):
        return pa.int64()
    if kind == "date":
        return pa.date32()
    if kind == "boolean":
        return pa.bool_()
    return pa.string()


def fold_period_in_athena(
    client: Any,
    settings: AthenaSettings,
    location: ExportLocation,
    period: ExportPeriod,
    budget: ScanBudget,
    sleep: Any = time.sleep,
) -> tuple[pd.DataFrame, int, int]:
    """Fold one billing period in Athena: (folded rows as :func:`read_period`, line items, bytes).

    Raises:
        AthenaError: the query failed, the cap is spent, or the answer is not a fold.
        ExportError: the fold holds charges outside the period (a malformed export).
    """
    budget.check(period.billing_period)
    execution_id = start_query(client, period_sql(settings, location, period), settings)
    execution = get_query_execution(client, execution_id, settings, sleep)
    scanned = int((execution.get("Statistics") or {}).get("DataScannedInBytes") or 0)
    budget.spend(scanned, period.billing_period)
    totals = get_query_results(client, execution_id)
    missing = [c for c in FOLD_COLUMNS if c not in totals.column_names]
    if missing:
        raise AthenaError(f"Athena query {execution_id} answered without columns {missing}")
    problem = fold_problem(totals)
    if problem is not None:
        raise AthenaError(f"export period {period.billing_period} in Athena: {problem}")
    folded, line_items = folded_period(totals.drop_columns(["empty_money"]), period)
    return folded, line_items, scanned
