"""Athena over the sandbox's data export: the SQL a client sends runs in DuckDB over the export.

The seeded world's FOCUS export (``seeded.ground_truth["export"]``) is one table,
``<database>.<table>`` of ``seeded.ground_truth["athena"]``, partitioned by ``billing_period`` (the
``BILLING_PERIOD=`` folder) with Athena's ``"$path"`` pseudo column (the object's ``s3://`` URL),
as a Glue table over AWS Data Exports looks.  A query's table reference is replaced by those rows
and DuckDB runs the rest of the SQL unchanged, so the SQL a client sends to Athena is the SQL
tested here.  Only the files a query can touch are read: a ``billing_period = '...'`` filter and a
``"$path" IN (...)`` list prune them first, as Athena prunes partitions, and the query is billed
(``Statistics.DataScannedInBytes``) for the compressed column chunks of the columns it names in
those files.

Operations (json 1.1, target ``AmazonAthena``): StartQueryExecution, GetQueryExecution (a query
is ``RUNNING`` at its first poll, then ``SUCCEEDED`` or ``FAILED``), GetQueryResults (the column
names as the first row of the first page, ``MaxResults`` up to 1,000 rows a page, ``NextToken``),
StopQueryExecution and GetWorkGroup (its ``BytesScannedCutoffPerQuery`` is enforced: a query
over it fails as Athena's does).  Errors are ``InvalidRequestException``.

Example:
    >>> athena = boto3.client("athena", endpoint_url=endpoint)          # doctest: +SKIP
    >>> athena.start_query_execution(QueryString='SELECT count(*) FROM "finops_exports"."focus"')
    ... # doctest: +SKIP
"""

from __future__ import annotations

import io
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from sandbox.services import SandboxService, ServiceRequest

if TYPE_CHECKING:
    from sandbox.seed import Seeded

DATABASE = "finops_exports"
WORKGROUP = "primary"
PAGE_MAX = 1000
RESULTS_PREFIX = "athena-results"

_PERIOD_FILTER = re.compile(r"billing_period\"?\s*=\s*'(\d{4}-\d{2})'", re.IGNORECASE)
_PATH_LIST = re.compile(r"\"\$path\"\s+IN\s*\(([^)]*)\)", re.IGNORECASE)
_STRING = re.compile(r"'((?:[^']|'')*)'")


def _error(message: str) -> tuple[int, dict[str, Any]]:
    return 400, {"__type": "InvalidRequestException", "Message": message, "message": message}


def _athena_type(kind: pa.DataType) -> str:
    if pa.types.is_integer(kind):
        return "bigint"
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "double"
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_date(kind):
        return "date"
    if pa.types.is_timestamp(kind):
        return "timestamp"
    return "varchar"


def _cell(value: Any) -> dict[str, str]:
    if value is None:
        return {}  # Athena's NULL: a Datum without VarCharValue
    if isinstance(value, bool):
        return {"VarCharValue": "true" if value else "false"}
    if isinstance(value, float):
        return {"VarCharValue": repr(value)}
    return {"VarCharValue": str(value)}


@dataclass
class Execution:
    """One query execution as the sandbox keeps it."""

    execution_id: str
    query: str
    database: str
    workgroup: str
    output_location: str
    submitted: float
    state: str = "QUEUED"
    reason: str = ""
    bytes_scanned: int = 0
    elapsed_ms: int = 0
    polls: int = 0
    columns: list[tuple[str, str]] = field(default_factory=list)
    rows: list[list[dict[str, str]]] = field(default_factory=list)


class AthenaSandbox:
    """Athena's query API over the seeded export (see the module docstring)."""

    def __init__(self, seeded: Seeded) -> None:
        self.seeded = seeded
        export = seeded.ground_truth.get("export") or {}
        self.bucket = str(export.get("bucket") or "")
        prefix = str(export.get("prefix") or "").strip("/")
        name = str(export.get("export_name") or "")
        self.data_prefix = f"{prefix}/{name}/data/" if prefix else f"{name}/data/"
        self.table = re.sub(r"[^a-z0-9_]", "_", name.lower()) or "export"
        self.bytes_cutoff: int | None = None
        self._lock = threading.Lock()
        self._executions: dict[str, Execution] = {}
        seeded.ground_truth["athena"] = {
            "database": DATABASE,
            "table": self.table,
            "workgroup": WORKGROUP,
            "output_location": f"s3://{self.bucket}/{RESULTS_PREFIX}/",
        }

    # -- the export as a table ------------------------------------------------------------------
    def _backend(self) -> Any:
        from moto.s3.models import s3_backends

        return s3_backends[self.seeded.ctx.management_account_id]["global"]

    def _files(self, query: str) -> list[str]:
        backend = self._backend()
        bucket = backend.get_bucket(self.bucket)
        keys = [
            k
            for k in list(bucket.keys)
            if k.startswith(self.data_prefix) and k.endswith(".parquet")
        ]
        periods = set(_PERIOD_FILTER.findall(query))
        if periods:
            keys = [k for k in keys if any(f"/BILLING_PERIOD={p}/" in k for p in periods)]
        listed = _PATH_LIST.search(query)
        if listed:
            wanted = {v.replace("''", "'") for v in _STRING.findall(listed.group(1))}
            keys = [k for k in keys if f"s3://{self.bucket}/{k}" in wanted]
        return sorted(keys)

    def _rows(self, keys: list[str], query: str) -> tuple[pa.Table, int]:
        backend = self._backend()
        tables: list[pa.Table] = []
        scanned = 0
        lowered = query.lower()
        for key in keys:
            data = backend.get_object(self.bucket, key).value
            parquet = pq.ParquetFile(io.BytesIO(data))
            named = [
                i
                for i, column in enumerate(parquet.schema_arrow.names)
                if column.lower() in lowered
            ]
            metadata = parquet.metadata
            for group in range(metadata.num_row_groups):
                row_group = metadata.row_group(group)
                scanned += sum(row_group.column(i).total_compressed_size for i in named)
            table = parquet.read()
            period = key.partition("BILLING_PERIOD=")[2].split("/", 1)[0]
            table = table.append_column(
                "billing_period", pa.array([period] * table.num_rows, pa.string())
            ).append_column(
                "$path", pa.array([f"s3://{self.bucket}/{key}"] * table.num_rows, pa.string())
            )
            tables.append(table)
        if not tables:
            return pa.table({"billing_period": pa.array([], pa.string())}), 0
        return pa.concat_tables(tables, promote_options="permissive"), scanned

    def _run(self, execution: Execution) -> None:
        started = time.perf_counter()
        reference = re.compile(
            rf"(\"?{re.escape(execution.database)}\"?\s*\.\s*)?\"?{re.escape(self.table)}\"?",
            re.IGNORECASE,
        )
        if execution.database != DATABASE:
            execution.state, execution.reason = (
                "FAILED",
                f"SCHEMA_NOT_FOUND: Schema '{execution.database}' does not exist",
            )
            return
        match = re.search(rf"FROM\s+{reference.pattern}", execution.query, re.IGNORECASE)
        if match is None:
            execution.state, execution.reason = (
                "FAILED",
                f"TABLE_NOT_FOUND: the query reads no table of {DATABASE} (the export is "
                f"{DATABASE}.{self.table})",
            )
            return
        keys = self._files(execution.query)
        rows, scanned = self._rows(keys, execution.query)
        execution.bytes_scanned = scanned
        if self.bytes_cutoff is not None and scanned > self.bytes_cutoff:
            execution.state, execution.reason = (
                "FAILED",
                "Query cancelled: Bytes scanned limit was exceeded (BytesScannedCutoffPerQuery "
                f"{self.bytes_cutoff} of workgroup {execution.workgroup})",
            )
            return
        sql = execution.query[: match.start()] + "FROM export_rows" + execution.query[match.end() :]
        connection = duckdb.connect()
        try:
            connection.register("export_rows", rows)
            result = connection.sql(sql).to_arrow_table()
        except duckdb.Error as error:
            execution.state, execution.reason = "FAILED", f"SYNTAX_ERROR: {error}".splitlines()[0]
            return
        finally:
            connection.close()
        execution.columns = [(f.name, _athena_type(f.type)) for f in result.schema]
        execution.rows = [[_cell(v) for v in row.values()] for row in result.to_pylist()]
        execution.elapsed_ms = int((time.perf_counter() - started) * 1000)
        execution.state = "SUCCEEDED"

    # -- operations -----------------------------------------------------------------------------
    def handle(self, request: ServiceRequest) -> tuple[int, dict[str, Any]]:
        body = request.body
        operation = request.operation
        if operation == "GetWorkGroup":
            name = str(body.get("WorkGroup") or "")
            if name != WORKGROUP:
                return _error(f"WorkGroup {name} is not found.")
            configuration: dict[str, Any] = {
                "ResultConfiguration": {"OutputLocation": f"s3://{self.bucket}/{RESULTS_PREFIX}/"},
                "EnforceWorkGroupConfiguration": False,
                "PublishCloudWatchMetricsEnabled": False,
            }
            if self.bytes_cutoff is not None:
                configuration["BytesScannedCutoffPerQuery"] = self.bytes_cutoff
            return 200, {
                "WorkGroup": {"Name": name, "State": "ENABLED", "Configuration": configuration}
            }
        if operation == "StartQueryExecution":
            query = str(body.get("QueryString") or "")
            if not query.strip():
                return _error("QueryString is required.")
            workgroup = str(body.get("WorkGroup") or WORKGROUP)
            if workgroup != WORKGROUP:
                return _error(f"WorkGroup {workgroup} is not found.")
            context = body.get("QueryExecutionContext") or {}
            output = (body.get("ResultConfiguration") or {}).get("OutputLocation") or (
                f"s3://{self.bucket}/{RESULTS_PREFIX}/"
            )
            execution = Execution(
                execution_id=str(uuid.uuid4()),
                query=query,
                database=str(context.get("Database") or "default"),
                workgroup=workgroup,
                output_location=output,
                submitted=time.time(),
            )
            with self._lock:
                self._executions[execution.execution_id] = execution
            self._run(execution)
            return 200, {"QueryExecutionId": execution.execution_id}
        execution_id = str(body.get("QueryExecutionId") or "")
        with self._lock:
            found = self._executions.get(execution_id)
        if found is None:
            return _error(f"QueryExecution {execution_id} was not found")
        if operation == "GetQueryExecution":
            return 200, {"QueryExecution": self._describe(found)}
        if operation == "StopQueryExecution":
            if found.state in ("QUEUED", "RUNNING"):
                found.state = "CANCELLED"
            return 200, {}
        return self._results(found, body)

    def _describe(self, execution: Execution) -> dict[str, Any]:
        execution.polls += 1
        # The first poll sees the query running, as a client polling real Athena does.
        state = "RUNNING" if execution.polls == 1 and execution.state != "CANCELLED" else None
        status: dict[str, Any] = {
            "State": state or execution.state,
            "SubmissionDateTime": execution.submitted,
        }
        if state is None:
            status["CompletionDateTime"] = execution.submitted + execution.elapsed_ms / 1000
            if execution.reason:
                status["StateChangeReason"] = execution.reason
        return {
            "QueryExecutionId": execution.execution_id,
            "Query": execution.query,
            "StatementType": "DML",
            "ResultConfiguration": {
                "OutputLocation": f"{execution.output_location.rstrip('/')}/"
                f"{execution.execution_id}.csv"
            },
            "QueryExecutionContext": {"Database": execution.database, "Catalog": "AwsDataCatalog"},
            "Status": status,
            "Statistics": {
                "EngineExecutionTimeInMillis": execution.elapsed_ms,
                "DataScannedInBytes": execution.bytes_scanned if state is None else 0,
                "TotalExecutionTimeInMillis": execution.elapsed_ms,
            },
            "WorkGroup": execution.workgroup,
        }

    def _results(self, execution: Execution, body: Any) -> tuple[int, dict[str, Any]]:
        if execution.state != "SUCCEEDED":
            return _error(f"Query has not yet finished. Current state: {execution.state}")
        size = int(body.get("MaxResults") or PAGE_MAX)
        if not 1 <= size <= PAGE_MAX:
            return _error(f"MaxResults must be between 1 and {PAGE_MAX}")
        header = [{"VarCharValue": name} for name, _ in execution.columns]
        every = [header, *execution.rows]  # the column names are the first row of page one
        token = str(body.get("NextToken") or "")
        start = 0
        if token:
            prefix, _, offset = token.partition(":")
            if prefix != execution.execution_id or not offset.isdigit():
                return _error("NextToken is not valid for this query execution")
            start = int(offset)
        page = every[start : start + size]
        answer: dict[str, Any] = {
            "UpdateCount": 0,
            "ResultSet": {
                "Rows": [{"Data": row} for row in page],
                "ResultSetMetadata": {
                    "ColumnInfo": [
                        {
                            "CatalogName": "hive",
                            "SchemaName": "",
                            "TableName": "",
                            "Name": name,
                            "Label": name,
                            "Type": kind,
                            "Precision": 0,
                            "Scale": 0,
                            "Nullable": "UNKNOWN",
                            "CaseSensitive": kind == "varchar",
                        }
                        for name, kind in execution.columns
                    ]
                },
            },
        }
        if start + size < len(every):
            answer["NextToken"] = f"{execution.execution_id}:{start + size}"
        return 200, answer


def build(seeded: Seeded) -> SandboxService:
    """Athena's query API over the seeded export (signing name ``athena``, json 1.1)."""
    athena = AthenaSandbox(seeded)
    return SandboxService(
        name="athena",
        signing_name="athena",
        operations=frozenset(
            {
                "StartQueryExecution",
                "GetQueryExecution",
                "GetQueryResults",
                "StopQueryExecution",
                "GetWorkGroup",
            }
        ),
        handle=athena.handle,
        protocol="json",
        json_version="1.1",
        extra={"athena": athena},
    )
