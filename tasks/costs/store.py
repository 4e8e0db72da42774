"""The cost store: a Parquet dataset with one file per charge day and source, local or on S3.

Layout under the root (a folder, or ``s3://bucket/prefix``)::

    charge_date=2026-01-31/source=ce/data.parquet
    charge_date=2026-01-31/source=export/data.parquet

Every file holds the full :data:`tasks.costs.schema.COST_SCHEMA` (the folder names only make
the layout browsable and prunable), rows sorted by the key so that re-writing the same data gives
the same bytes.  A partition is one (day, source) file and is replaced atomically: locally the
new file is written under a temporary name and renamed over the old one; on S3 a single PUT is
atomic.  A window replace writes every new partition first and removes emptied ones last, so a
failure leaves each partition either old or new.

Schema versions: ``_meta/schema.json`` holds ``{"version": N}`` (:data:`SCHEMA_VERSION`).  A store
written before version 2 has no commitment columns; it still reads (missing columns read as
null) and opening it for writing, or :meth:`CostStore.upgrade`, rewrites each older partition
with the new columns (null: an old row carries no commitment information) and then records the
version, so an interrupted upgrade simply resumes.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from tasks.costs.schema import (
    COST_COLUMNS,
    COST_SCHEMA,
    KEY_COLUMNS,
    MONEY_COLUMNS,
    SCHEMA_VERSION,
    SOURCES,
)
from tasks.costs.sql import QUERY_CONFIG, query_failure, read_only_refusal

DATA_FILE = "data.parquet"

#: IAM actions of an s3:// cost store (collected by tasks.permissions).
IAM_PERMISSIONS: tuple[str, ...] = (
    "s3:DeleteObject",
    "s3:GetObject",
    "s3:ListBucket",
    "s3:PutObject",
)


class CostStoreError(RuntimeError):
    """The store cannot do what was asked; the message says what to fix."""


def conform(frame: pd.DataFrame) -> pa.Table:
    """A cost frame as a COST_SCHEMA table: typed, money rounded to 1e-6, sorted by key.

    Raises:
        CostStoreError: a required column is missing or holds the wrong type.

    Example:
        >>> conform(pd.DataFrame(columns=COST_COLUMNS)).num_rows
        0
    """
    missing = [c for c in COST_COLUMNS if c not in frame.columns]
    if missing:
        raise CostStoreError(f"cost frame lacks columns {missing}; build it with COST_COLUMNS")
    frame = frame[COST_COLUMNS].copy()
    frame["charge_date"] = pd.to_datetime(frame["charge_date"]).dt.date
    for column in [*MONEY_COLUMNS, "usage_quantity"]:
        frame[column] = pd.to_numeric(frame[column], errors="raise").astype("float64")
    for column in MONEY_COLUMNS:
        frame[column] = frame[column].round(6)
    frame = frame.sort_values(KEY_COLUMNS, kind="stable").reset_index(drop=True)
    try:
        return pa.Table.from_pandas(frame, schema=COST_SCHEMA, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as error:
        raise CostStoreError(f"cost frame does not fit COST_SCHEMA: {error}") from None


def resolve_filesystem(url: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and root path for a store URL (folder or ``s3://bucket/prefix``).

    For S3 the endpoint comes from ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (the sandbox),
    credentials and region from the standard AWS environment.

    Example:
        >>> resolve_filesystem("/tmp/costs")[1]
        '/tmp/costs'
    """
    if url.startswith("s3://"):
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        options: dict[str, Any] = {
            "region": os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1"
        }
        if endpoint:
            scheme, _, host = endpoint.partition("://")
            options.update(endpoint_override=host or scheme, scheme=scheme if host else "https")
            options["force_virtual_addressing"] = False
        return pafs.S3FileSystem(**options), url.removeprefix("s3://").rstrip("/")
    if "://" in url and not url.startswith("file://"):
        raise CostStoreError(f"cost store URL {url!r}: use a folder path or s3://bucket/prefix")
    path = os.path.abspath(url.removeprefix("file://"))
    return pafs.LocalFileSystem(), path


class CostStore:
    """Read and replace windows of the Parquet cost store.

    Args:
        url: a local folder (created on first write) or ``s3://bucket/prefix``.

    Example:
        >>> store = CostStore("/tmp/finops-costs")  # doctest: +SKIP
        >>> store.replace_window(frame, date(2026, 1, 1), date(2026, 1, 31), "ce")  # doctest: +SKIP
        >>> store.read(date(2026, 1, 1), date(2026, 1, 31)).effective_cost.sum()  # doctest: +SKIP
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.fs, self.root = resolve_filesystem(url)
        self._local = isinstance(self.fs, pafs.LocalFileSystem)

    # -- layout -------------------------------------------------------------------------------
    def partition_path(self, day: date, source: str) -> str:
        return f"{self.root}/charge_date={day.isoformat()}/source={source}/{DATA_FILE}"

    def _files(self) -> dict[tuple[date, str], str]:
        selector = pafs.FileSelector(self.root, recursive=True, allow_not_found=True)
        files: dict[tuple[date, str], str] = {}
        for info in self.fs.get_file_info(selector):
            if info.type != pafs.FileType.File or not info.path.endswith("/" + DATA_FILE):
                continue
            parts = info.path.split("/")
            try:
                day = date.fromisoformat(parts[-3].removeprefix("charge_date="))
            except ValueError:
                continue
            files[(day, parts[-2].removeprefix("source="))] = info.path
        return files

    def stored_days(self, source: str | None = None) -> set[date]:
        """Days with a partition (of one source, or any)."""
        return {day for day, src in self._files() if source is None or src == source}

    # -- writes -------------------------------------------------------------------------------
    def _write_atomic(self, table: pa.Table, path: str) -> None:
        parent = path.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        if not self._local:
            # One S3 PUT (or completed multipart upload) replaces an object atomically.
            pq.write_table(table, path, filesystem=self.fs, compression="zstd")
            return
        temporary = f"{parent}/.{DATA_FILE}.{uuid.uuid4().hex}.tmp"
        try:
            pq.write_table(table, temporary, filesystem=self.fs, compression="zstd")
            with open(temporary, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.remove(temporary)
            raise

    def replace_window(self, frame: pd.DataFrame, start: date, end: date, source: str) -> int:
        """Replace exactly the days ``start``..``end`` (inclusive) of one source with ``frame``.

        Days of the window absent from ``frame`` lose that source's partition; other days and
        other sources are untouched.

        Args:
            frame: cost rows, all of ``source`` and inside the window.
            start: first day replaced.
            end: last day replaced (inclusive).
            source: 'ce' or 'export'.

        Returns:
            Rows written.

        Raises:
            CostStoreError: rows outside the window or of another source (nothing is written).

        Example:
            >>> CostStore("/tmp/c").replace_window(frame, date(2026, 1, 1), date(2026, 1, 3),
            ...                                    "ce")  # doctest: +SKIP
            120
        """
        if source not in SOURCES:
            raise CostStoreError(f"unknown source {source!r}; use one of {list(SOURCES)}")
        self.upgrade()
        if end < start:
            raise CostStoreError(f"window end {end} is before its start {start}")
        table = conform(frame)
        by_day = self._split_by_day(table, start, end, source)
        existing = self._files()
        for day, day_table in sorted(by_day.items()):
            self._write_atomic(day_table, self.partition_path(day, source))
        day = start
        while day <= end:
            if day not in by_day and (day, source) in existing:
                self.fs.delete_file(existing[(day, source)])
            day += timedelta(days=1)
        return table.num_rows

    @staticmethod
    def _split_by_day(table: pa.Table, start: date, end: date, source: str) -> dict[date, pa.Table]:
        if table.num_rows == 0:
            return {}
        sources = set(table.column("source").unique().to_pylist())
        if sources - {source}:
            raise CostStoreError(f"rows of source {sorted(sources - {source})} in a {source} write")
        frame_days = table.column("charge_date")
        low = pc.min(frame_days).as_py()
        high = pc.max(frame_days).as_py()
        if low < start or high > end:
            raise CostStoreError(
                f"rows dated {low}..{high} fall outside the window {start}..{end}; nothing written"
            )
        out: dict[date, pa.Table] = {}
        for day in sorted(set(frame_days.to_pylist())):
            out[day] = table.filter(pc.equal(frame_days, pa.scalar(day, pa.date32())))
        return out

    # -- schema versions ----------------------------------------------------------------------
    def schema_version(self) -> int:
        """The version recorded with the store (1 for a store written before versions existed)."""
        recorded = self.read_meta("schema").get("version")
        if isinstance(recorded, int):
            return recorded
        return 1 if self._files() else SCHEMA_VERSION

    def upgrade(self) -> int:
        """Bring every partition to :data:`SCHEMA_VERSION`; returns how many were rewritten.

        A partition whose file lacks columns of :data:`COST_SCHEMA` is read (the missing columns
        as null), conformed and replaced atomically, like any write.  The version is recorded
        last, so a failure part-way leaves a store that reads and upgrades again next time.

        Example:
            >>> CostStore(".finops/costs").upgrade()  # doctest: +SKIP
            0
        """
        if self.schema_version() >= SCHEMA_VERSION:
            return 0
        rewritten = 0
        for path in self._files().values():
            present = set(pq.read_schema(path, filesystem=self.fs).names)
            if set(COST_COLUMNS) <= present:
                continue
            old = ds.dataset([path], schema=COST_SCHEMA, format="parquet", filesystem=self.fs)
            self._write_atomic(conform(old.to_table().to_pandas()), path)
            rewritten += 1
        self.write_meta("schema", {"version": SCHEMA_VERSION})
        return rewritten

    # -- small state next to the data ------------------------------------------------------
    def read_meta(self, name: str) -> dict[str, Any]:
        """A small JSON document kept with the store (e.g. export versions); {} when absent."""
        path = f"{self.root}/_meta/{name}.json"
        if self.fs.get_file_info(path).type != pafs.FileType.File:
            return {}
        with self.fs.open_input_stream(path) as stream:
            data = json.loads(stream.read())
        return data if isinstance(data, dict) else {}

    def write_meta(self, name: str, data: dict[str, Any]) -> None:
        """Replace a JSON document kept with the store (atomically, like a partition)."""
        path = f"{self.root}/_meta/{name}.json"
        payload = json.dumps(data, sort_keys=True, indent=1).encode()
        self.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        if not self._local:
            with self.fs.open_output_stream(path) as stream:
                stream.write(payload)
            return
        temporary = f"{path}.{uuid.uuid4().hex}.tmp"
        with open(temporary, "wb") as handle:
            handle.write(payload)
        os.replace(temporary, path)

    # -- reads --------------------------------------------------------------------------------
    def read(
        self,
        start: date | None = None,
        end: date | None = None,
        columns: Sequence[str] | None = None,
        source: str | None = None,
    ) -> pd.DataFrame:
        """Rows charged ``start``..``end`` (inclusive; None = unbounded) as a cost frame.

        Example:
            >>> CostStore(".finops/costs").read(date(2026, 1, 1), date(2026, 1, 31),
            ...     ["charge_date", "service", "effective_cost"])  # doctest: +SKIP
        """
        chosen = list(columns) if columns else COST_COLUMNS
        unknown = [c for c in chosen if c not in COST_COLUMNS]
        if unknown:
            raise CostStoreError(f"unknown cost columns {unknown}; choose from {COST_COLUMNS}")
        paths = self._select(start, end, source)
        if not paths:
            return COST_SCHEMA.empty_table().select(chosen).to_pandas(types_mapper=None)
        dataset = ds.dataset(paths, schema=COST_SCHEMA, format="parquet", filesystem=self.fs)
        return dataset.to_table(columns=chosen).to_pandas()

    def _select(self, start: date | None, end: date | None, source: str | None) -> list[str]:
        return [
            path
            for (day, src), path in sorted(self._files().items())
            if (start is None or day >= start)
            and (end is None or day <= end)
            and (source is None or src == source)
        ]

    def dataset(self, sources: Iterable[str] | None = None) -> ds.Dataset:
        """The whole store as one pyarrow dataset (empty when nothing is stored)."""
        wanted = set(sources) if sources else None
        paths = [p for (_, s), p in sorted(self._files().items()) if wanted is None or s in wanted]
        if not paths:
            return ds.dataset(COST_SCHEMA.empty_table())
        return ds.dataset(paths, schema=COST_SCHEMA, format="parquet", filesystem=self.fs)

    def query(self, sql: str) -> pd.DataFrame:
        """Run one read-only DuckDB SELECT over the store, exposed as the table ``costs``.

        The SQL may come from a user (``finops costs --sql``), so it runs in an in-memory DuckDB
        that can reach nothing but the store's data: :data:`QUERY_CONFIG` turns off files, the
        network and extensions and locks the configuration, and only a single SELECT (or
        WITH ... SELECT) statement runs.  The store's Parquet files (local or S3) are read by
        pyarrow and handed to DuckDB as a registered dataset, so S3 stores need no DuckDB
        network access.

        Raises:
            CostStoreError: the SQL is not one SELECT, reaches outside ``costs``, or is not valid
                (one line: DuckDB's message and, for a refusal, what is allowed).

        Example:
            >>> CostStore(".finops/costs").query(
            ...     "select service, sum(effective_cost) from costs group by 1")  # doctest: +SKIP
        """
        connection = duckdb.connect(config=dict(QUERY_CONFIG))
        try:
            statements = connection.extract_statements(sql)
            refusal = read_only_refusal([statement.type.name for statement in statements])
            if refusal:
                raise CostStoreError(f"query refused: {refusal}")
            connection.register("costs", self.dataset())
            return connection.execute(statements[0]).df()
        except duckdb.Error as error:
            raise CostStoreError(query_failure(error)) from None
        finally:
            connection.close()


def last_days_by_service(store: CostStore, days: int, today: date) -> pd.DataFrame:
    """Effective cost per service over the last ``days`` days before ``today`` (one source).

    The export is preferred where both sources hold a day (it is the invoice-grade source).

    Example:
        >>> last_days_by_service(CostStore(".finops/costs"), 30, date(2026, 2, 1))  # doctest: +SKIP
    """
    if days < 1:
        raise CostStoreError(f"--days must be >= 1, got {days}")
    first, until = (today - timedelta(days=days)).isoformat(), today.isoformat()
    sql = f"""
        with per_day as (
            select charge_date, source from costs
            where charge_date >= date '{first}' and charge_date < date '{until}'
            group by 1, 2
        ), chosen as (
            select charge_date, max(source) as source from per_day group by 1
        )
        select c.service, c.currency,
               round(sum(c.effective_cost), 2) as effective_cost,
               round(sum(c.billed_cost), 2) as billed_cost,
               count(distinct c.charge_date) as days
        from costs c join chosen using (charge_date, source)
        group by 1, 2 order by effective_cost desc, service
    """
    return store.query(sql)
