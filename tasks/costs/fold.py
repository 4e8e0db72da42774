"""The export's daily fold as one SQL GROUP BY: DuckDB over the Parquet files, or Athena's SQL.

FOCUS 1.x (or CUR 2.0) line items fold into one row per day key (:data:`FOLD_KEYS`) with the
sums of :data:`FOLD_SUMS`, the key's unit (``'mixed'`` when its line items disagree), the line
items folded and the count of empty money cells.  The rules are those of
:func:`tasks.costs.export.normalize_table`: the charge day is the UTC day of ChargePeriodStart;
the billing period is BillingPeriodStart's day, else the charge day; region is RegionId, else
RegionName, else ``''``; a Usage line with negative cost or ChargeClass ``correction`` is a
refund (usage type ``'Refund'``); CUR 2.0 columns are read through ``CUR2_TO_FOCUS``.

:func:`fold_sql` writes that fold as SQL both DuckDB and Athena (Trino) run unchanged, over any
relation; :func:`fold_files` runs it with DuckDB over local Parquet files (DuckDB's own reader:
parallel, column-pruned, streaming; memory is the key space, not the line items) or an Arrow
dataset on S3.  A new money column of the schema flows through by adding its FOCUS source to
:data:`SUM_SOURCES`.

Example:
    >>> print(fold_sql('"t"', {"BilledCost", "EffectiveCost"}).splitlines()[0])
    SELECT
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Sequence

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from tasks.costs.schema import CHARGE_CATEGORIES, COMMITMENT_COLUMNS, COST_SCHEMA, KEY_COLUMNS

#: The fold's group keys: the store's key (without ``source``) plus what is one per key.
FOLD_KEYS: list[str] = [
    *[c for c in KEY_COLUMNS if c != "source"],
    "billing_period",
    "billing_account_id",
    "currency",
    "provider",
    "commitment_discount_category",
    "commitment_discount_type",
]
#: The store's commitment columns and the FOCUS column each comes from (1.0 and 1.2 alike).
COMMITMENT_SOURCES: dict[str, str] = COMMITMENT_COLUMNS
#: Summed columns of the cost schema and the FOCUS column each sums.
SUM_SOURCES: dict[str, str] = {
    "billed_cost": "BilledCost",
    "effective_cost": "EffectiveCost",
    "list_cost": "ListCost",
    "usage_quantity": "ConsumedQuantity",
}
FOLD_SUMS: list[str] = [
    f.name for f in COST_SCHEMA if pa.types.is_floating(f.type) and f.name in SUM_SOURCES
]
#: Columns of a fold's answer, in order.
FOLD_COLUMNS: list[str] = [*FOLD_KEYS, *FOLD_SUMS, "usage_unit", "line_items", "empty_money"]


class FoldError(ValueError):
    """The fold cannot run or its input is wrong; the message says what (one line)."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _exact_sum(name: str) -> str:
    """The second step's sum of ``name``: its exact finite part as DOUBLE, plus any non-finite."""
    finite, other = _quote(name), _quote(f"{name}__nonfinite")
    return (
        f"CASE WHEN sum({other}) IS NULL THEN CAST(sum({finite}) AS DOUBLE) "
        f"ELSE coalesce(CAST(sum({finite}) AS DOUBLE), 0) + sum({other}) END"
    )


def fold_sql(
    relation: str,
    columns: Collection[str],
    where: str = "",
    cur2_to_focus: dict[str, str] | None = None,
    cur2_categories: dict[str, str] | None = None,
    text_timestamps: bool = False,
) -> str:
    """The daily fold as SQL over ``relation`` that DuckDB and Athena (Trino) both run.

    Args:
        relation: what to read, already quoted (``"db"."table"``, ``read_parquet(...)``).
        columns: the relation's column names (any case); a missing FOCUS column reads as NULL.
        where: an optional filter (SQL text) on the relation's rows, e.g. a billing period.
        cur2_to_focus: CUR 2.0 -> FOCUS column names; used when the relation has CUR 2.0 columns.
        cur2_categories: CUR 2.0 line item types -> FOCUS charge categories (others: Adjustment).
        text_timestamps: timestamps may be text (a CSV-born export): parse them first (DuckDB).

    Returns:
        A SELECT answering :data:`FOLD_COLUMNS`; dates come back as DATE values.

    Example:
        >>> sql = fold_sql('"cur"."focus"', {"BilledCost", "EffectiveCost", "ChargeCategory"},
        ...                where="billing_period = '2026-09'")
        >>> "GROUP BY" in sql and "WHERE billing_period = '2026-09'" in sql
        True
    """
    present = {c.lower(): c for c in columns}
    mapping = cur2_to_focus or {}
    cur2 = "line_item_unblended_cost" in present
    focus_to_source = {focus: cur for cur, focus in mapping.items()} if cur2 else {}

    def col(focus: str, kind: str = "VARCHAR") -> str:
        name = focus_to_source.get(focus, focus)
        if name.lower() in present:
            return f"CAST({_quote(present[name.lower()])} AS {kind})"
        return f"CAST(NULL AS {kind})"

    def day(focus: str) -> str:
        name = focus_to_source.get(focus, focus)
        if name.lower() not in present:
            return "CAST(NULL AS DATE)"
        quoted = _quote(present[name.lower()])
        if text_timestamps:
            return f"CAST(CAST({quoted} AS TIMESTAMPTZ) AS DATE)"
        return f"CAST({quoted} AS DATE)"

    # Two steps: line items group by their raw values first (cheap per line item: casts and
    # dictionary-encoded strings), then the few groups are normalised and grouped again.
    billed = col("BilledCost", "DOUBLE")
    effective = col("EffectiveCost", "DOUBLE")
    raw = {
        "charge_day": day("ChargePeriodStart"),
        "period_day": day("BillingPeriodStart"),
        "billing_account": col("BillingAccountId"),
        "sub_account": col("SubAccountId"),
        "service_name": col("ServiceName"),
        "region_id": col("RegionId"),
        "region_name": col("RegionName"),
        "category": col("ChargeCategory"),
        "charge_class": col("ChargeClass"),
        "usage": col("x_UsageType"),
        "currency_code": col("BillingCurrency"),
        "provider_name": col("ProviderName"),
        "unit": col("ConsumedUnit"),
        "negative": f"({billed} < 0)",
        # a CSV-born export writes an absent commitment as a blank cell: null, as if absent
        **{
            f"raw_{ours}": f"CASE WHEN trim({col(focus)}) = '' THEN NULL ELSE {col(focus)} END"
            for ours, focus in COMMITMENT_SOURCES.items()
        },
    }
    # Finite values are summed in DECIMAL(38, 18): exact, so the answer does not depend on the
    # order in which parallel threads add line items up (a rerun writes the same bytes).  The
    # non-finite ones (inf, NaN: the quality gate refuses them by name) are summed apart as
    # DOUBLE, whose result for them does not depend on the order either.
    sums: dict[str, str] = {}
    for name in FOLD_SUMS:
        value = col(SUM_SOURCES[name], "DOUBLE")
        finite = f"({value} - {value} = 0)"  # false for inf and NaN, in DuckDB and in Trino
        sums[name] = f"sum(CASE WHEN {finite} THEN CAST({value} AS DECIMAL(38, 18)) END)"
        sums[f"{name}__nonfinite"] = f"sum(CASE WHEN NOT {finite} THEN {value} END)"
    category = '"category"'
    if cur2:
        cases = " ".join(
            f"WHEN {_literal(k)} THEN {_literal(v)}" for k, v in (cur2_categories or {}).items()
        )
        category = (
            f"CASE WHEN {category} IS NULL OR {category} = '' THEN {category} "
            f"ELSE CASE {category} {cases} ELSE 'Adjustment' END END"
        )
    category = f"upper(substr({category}, 1, 1)) || lower(substr({category}, 2))"
    refund = (
        f"({category} = 'Usage' AND (coalesce(\"negative\", false) "
        "OR lower(coalesce(\"charge_class\", '')) = 'correction'))"
    )
    normalised = {
        "charge_date": '"charge_day"',
        "sub_account_id": 'coalesce("sub_account", "billing_account")',
        "service": "coalesce(\"service_name\", '')",
        "region": 'coalesce("region_id", "region_name", \'\')',
        "charge_category": category,
        "usage_type": f"CASE WHEN {refund} THEN 'Refund' ELSE coalesce(\"usage\", '') END",
        "billing_period": 'coalesce("period_day", "charge_day")',
        "billing_account_id": '"billing_account"',
        "currency": '"currency_code"',
        "provider": "coalesce(\"provider_name\", '')",
        **{ours: _quote(f"raw_{ours}") for ours in COMMITMENT_SOURCES},
    }
    first = ",\n    ".join(
        [
            *(f"{expr} AS {_quote(name)}" for name, expr in raw.items()),
            *(f"{expr} AS {_quote(name)}" for name, expr in sums.items()),
            'count(*) AS "line_items"',
            f"sum(CASE WHEN {billed} IS NULL OR {effective} IS NULL THEN 1 ELSE 0 END)"
            ' AS "empty_money"',
        ]
    )
    filter_text = f"\n  WHERE {where}" if where else ""
    raw_keys = ", ".join(str(i) for i in range(1, len(raw) + 1))  # Trino groups by position
    second = ",\n  ".join(
        [
            *(f"{normalised[k]} AS {_quote(k)}" for k in FOLD_KEYS),
            *(f"{_exact_sum(c)} AS {_quote(c)}" for c in FOLD_SUMS),
            'CASE WHEN count(DISTINCT "unit") > 1 THEN \'mixed\' ELSE min("unit") END'
            ' AS "usage_unit"',
            'CAST(sum("line_items") AS BIGINT) AS "line_items"',
            'CAST(sum("empty_money") AS BIGINT) AS "empty_money"',
        ]
    )
    group_keys = ", ".join(normalised[k] for k in FOLD_KEYS)
    return (
        f"SELECT\n  {second}\n"
        f"FROM (\n  SELECT\n    {first}\n  FROM {relation}{filter_text}\n"
        f"  GROUP BY {raw_keys}\n) AS line_item_group\n"
        f"GROUP BY {group_keys}"
    )


def fold_problem(folded: pa.Table) -> str | None:
    """What is wrong with a fold's answer (unknown categories, empty money), or None.

    Example:
        >>> fold_problem(pa.table({"charge_category": ["Usage"], "empty_money": [0]})) is None
        True
        >>> fold_problem(pa.table({"charge_category": ["Bogus"], "empty_money": [0]}))
        "unknown ChargeCategory ['Bogus']; FOCUS allows ['Usage', 'Purchase', 'Tax', 'Credit', 'Adjustment']"
    """  # noqa: E501
    categories = {v for v in folded.column("charge_category").to_pylist()}
    unknown = sorted(str(v) for v in categories if v not in CHARGE_CATEGORIES)[:5]
    if unknown:
        return f"unknown ChargeCategory {unknown}; FOCUS allows {list(CHARGE_CATEGORIES)}"
    if any(v for v in folded.column("empty_money").to_pylist()):
        return "BilledCost/EffectiveCost has empty cells"
    return None


def file_columns(fs: pafs.FileSystem, path: str) -> pa.Schema:
    """The Arrow schema of one Parquet file (its footer only).

    Raises:
        FoldError: the file is missing or not readable Parquet, naming it.
    """
    try:
        with fs.open_input_file(path) as handle:
            return pq.read_schema(handle)
    except (OSError, pa.ArrowException) as error:
        raise FoldError(f"export file {path} is malformed or unreadable: {error}") from None


def _connect(threads: int | None) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    # with the ICU extension, time zone casts follow this setting; without it they are UTC
    with contextlib.suppress(duckdb.Error):
        connection.execute("SET TimeZone = 'UTC'")
    if threads:
        connection.execute(f"SET threads = {int(threads)}")
    return connection


def _run(
    connection: duckdb.DuckDBPyConnection,
    fs: pafs.FileSystem,
    paths: Sequence[str],
    schemas: Sequence[pa.Schema],
    sql_for: Callable[[str, set[str], bool], str],
) -> pa.Table:
    names: set[str] = set()
    text_timestamps = False
    for schema in schemas:
        names.update(schema.names)
        for field in schema:
            if field.name in ("ChargePeriodStart", "BillingPeriodStart") and (
                pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
            ):
                text_timestamps = True
    if isinstance(fs, pafs.LocalFileSystem):
        relation = "read_parquet($files, union_by_name = true)"
        return connection.sql(
            sql_for(relation, names, text_timestamps), params={"files": list(paths)}
        ).to_arrow_table()
    unified = pa.unify_schemas(list(schemas), promote_options="permissive")
    dataset = ds.dataset(list(paths), schema=unified, filesystem=fs, format="parquet")
    connection.register("export_files", dataset)
    try:
        return connection.sql(sql_for("export_files", names, text_timestamps)).to_arrow_table()
    finally:
        connection.unregister("export_files")


def fold_files(
    fs: pafs.FileSystem,
    paths: Sequence[str],
    required: Collection[str] = (),
    cur2_to_focus: dict[str, str] | None = None,
    cur2_categories: dict[str, str] | None = None,
    threads: int | None = None,
) -> pa.Table:
    """Fold export files into day key totals with one DuckDB query over all of them.

    Args:
        fs: the files' filesystem (local: DuckDB reads them itself; S3: through Arrow).
        paths: the data files, each once.
        required: FOCUS columns a file must have (else it is not a FOCUS/CUR 2.0 file).
        cur2_to_focus: CUR 2.0 -> FOCUS column names.
        cur2_categories: CUR 2.0 line item types -> FOCUS charge categories.
        threads: DuckDB threads; default all cores.

    Returns:
        :data:`FOLD_COLUMNS` as an Arrow table (dates as date32).

    Raises:
        FoldError: a file is unreadable, lacks FOCUS columns, has text in a money column, an
            unknown charge category or empty money cells; the message names the file.

    Example:
        >>> import tempfile, os
        >>> folder = tempfile.mkdtemp()
        >>> pq.write_table(pa.table({"BilledCost": [1.0, 2.0], "EffectiveCost": [1.0, 2.0],
        ...     "ChargeCategory": ["usage", "Usage"], "ServiceName": ["S3", "S3"],
        ...     "ChargePeriodStart": ["2026-09-01T10:00:00Z", "2026-09-01T11:00:00Z"]}),
        ...     os.path.join(folder, "a.parquet"))
        >>> out = fold_files(pafs.LocalFileSystem(), [os.path.join(folder, "a.parquet")])
        >>> out.select(["charge_date", "charge_category", "billed_cost", "line_items"]).to_pylist()
        [{'charge_date': datetime.date(2026, 9, 1), 'charge_category': 'Usage', 'billed_cost': 3.0, 'line_items': 2}]
    """  # noqa: E501
    schemas = [file_columns(fs, path) for path in paths]
    cur2_names = set(cur2_to_focus or {})
    for path, schema in zip(paths, schemas, strict=True):
        names = set(schema.names)
        if "line_item_unblended_cost" in names and cur2_to_focus:
            names |= {cur2_to_focus[c] for c in names & cur2_names}
        missing = [c for c in required if c not in names]
        if missing:
            raise FoldError(
                f"export file {path}: not a FOCUS/CUR 2.0 file, columns {missing} are missing"
            )

    def sql_for(relation: str, names: set[str], text_timestamps: bool) -> str:
        return fold_sql(relation, names, "", cur2_to_focus, cur2_categories, text_timestamps)

    connection = _connect(threads)
    try:
        try:
            folded = _run(connection, fs, paths, schemas, sql_for)
            problem = fold_problem(folded)
        except duckdb.Error as error:
            folded, problem = None, f"is malformed: {_first_line(error)}"
        if problem is None and folded is not None:
            return folded
        # Name the file: fold each alone until one shows the problem (a cold path).
        for path, schema in zip(paths, schemas, strict=True):
            try:
                alone = fold_problem(_run(connection, fs, [path], [schema], sql_for))
            except duckdb.Error as error:
                raise FoldError(f"export file {path} is malformed: {_first_line(error)}") from None
            if alone is not None:
                raise FoldError(f"export file {path}: {alone}")
        raise FoldError(f"export files {', '.join(paths)}: {problem}")
    finally:
        connection.close()


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
