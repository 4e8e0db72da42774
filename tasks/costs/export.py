"""CUR 2.0 / FOCUS 1.x Data Export in S3 (or a folder) into the FOCUS-aligned cost frame.

The export is found through its manifests, laid out as AWS Data Exports writes them::

    <prefix>/<export-name>/metadata/BILLING_PERIOD=YYYY-MM/[<version>/]<export-name>-Manifest.json
    <prefix>/<export-name>/data/BILLING_PERIOD=YYYY-MM/[<version>/]<export-name>-00001.snappy.parquet

A manifest names its billing period and data files.  It is trusted only inside the export's own
prefix (a data file elsewhere refuses the manifest), and a file it lists twice is read once.  AWS
restates whole months, so when a newer manifest appears for a period the whole period is read
again and replaces the stored one.  Files are read one record batch at a time and folded into
per-day key totals, so memory stays flat however large the export is; a file that cannot be read
is reported by name before any row of its period is written.  The fold itself is one SQL GROUP
BY (:mod:`tasks.costs.fold`); :func:`normalize_table` and :func:`fold_table` are the same rules
in Arrow compute, for frames already in memory.

Over 400 lines (about 580 with its documentation, 380 of code): discovery with the manifests'
trust rules, reading and FOCUS normalisation share the column maps and ExportError, and a reader
follows one file from its manifest to the cost frame here.
"""

from __future__ import annotations

import json
import logging
import posixpath
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from tasks.costs.fold import FoldError, fold_files
from tasks.costs.schema import CHARGE_CATEGORIES, COMMITMENT_COLUMNS, COST_COLUMNS, KEY_COLUMNS
from tasks.costs.store import resolve_filesystem

#: IAM actions reading the data export in S3 (collected by tasks.permissions).
IAM_PERMISSIONS: tuple[str, ...] = ("s3:GetObject", "s3:ListBucket")

log = logging.getLogger(__name__)

#: FOCUS columns read from an export (anything else is never loaded).
FOCUS_COLUMNS: tuple[str, ...] = (
    "BilledCost",
    "BillingAccountId",
    "BillingCurrency",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "ConsumedQuantity",
    "ConsumedUnit",
    "EffectiveCost",
    "ListCost",
    "ProviderName",
    "RegionId",
    "RegionName",
    "ServiceName",
    "SubAccountId",
    "x_UsageType",
)
REQUIRED_FOCUS_COLUMNS: tuple[str, ...] = (
    "BilledCost",
    "BillingAccountId",
    "BillingCurrency",
    "ChargeCategory",
    "ChargePeriodStart",
    "EffectiveCost",
    "ServiceName",
)
#: CUR 2.0 column -> FOCUS column, so a CUR 2.0 export normalises through the same code.
CUR2_TO_FOCUS: dict[str, str] = {
    "line_item_unblended_cost": "BilledCost",
    "bill_payer_account_id": "BillingAccountId",
    "line_item_currency_code": "BillingCurrency",
    "bill_billing_period_start_date": "BillingPeriodStart",
    "line_item_usage_start_date": "ChargePeriodStart",
    "line_item_usage_amount": "ConsumedQuantity",
    "pricing_unit": "ConsumedUnit",
    "line_item_net_unblended_cost": "EffectiveCost",
    "pricing_public_on_demand_cost": "ListCost",
    "product_region_code": "RegionId",
    "product_servicename": "ServiceName",
    "line_item_usage_account_id": "SubAccountId",
    "line_item_usage_type": "x_UsageType",
    "line_item_line_item_type": "ChargeCategory",
}
#: CUR line item types -> FOCUS charge categories.
CUR_LINE_ITEM_CATEGORY: dict[str, str] = {
    "Usage": "Usage",
    "DiscountedUsage": "Usage",
    "SavingsPlanCoveredUsage": "Usage",
    "SavingsPlanNegation": "Usage",
    "Tax": "Tax",
    "Credit": "Credit",
    "Refund": "Adjustment",
    "BundledDiscount": "Credit",
    "EdpDiscount": "Credit",
    "SavingsPlanRecurringFee": "Purchase",
    "SavingsPlanUpfrontFee": "Purchase",
    "RIFee": "Purchase",
    "Fee": "Purchase",
    "Support": "Purchase",
}
_CATEGORY_BY_LOWER = {c.lower(): c for c in CHARGE_CATEGORIES}
#: Group columns used while folding an export (the key plus what must be one per key).
_FOLD_KEYS = [
    *[c for c in KEY_COLUMNS if c != "source"],
    "billing_period",
    "billing_account_id",
    "currency",
    "provider",
    "commitment_discount_category",
    "commitment_discount_type",
]


class ExportError(RuntimeError):
    """The export cannot be read; the message names the file or manifest and what is wrong."""


@dataclass(frozen=True)
class ExportPeriod:
    """One billing period of the export as its newest manifest describes it."""

    billing_period: str  # 'YYYY-MM'
    version: str  # changes whenever AWS writes the period again
    manifest: str  # path of the manifest (bucket/key or folder path)
    data_files: tuple[str, ...]

    @property
    def start(self) -> date:
        return date.fromisoformat(self.billing_period + "-01")

    @property
    def end(self) -> date:
        """Last day of the period (inclusive)."""
        first = self.start
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        return date.fromordinal(following.toordinal() - 1)


class ExportLocation:
    """Where an export lives: ``s3://bucket/prefix`` or a folder, plus the export name.

    Example:
        >>> ExportLocation("s3://finops-sandbox-cur/cur", "finops-focus").metadata_root
        'finops-sandbox-cur/cur/finops-focus/metadata'
    """

    def __init__(self, url: str, export_name: str) -> None:
        if not export_name:
            raise ExportError("export name is empty; set FINOPS_COSTS__EXPORT_NAME")
        self.url = url
        self.export_name = export_name
        self.fs, self.root = resolve_filesystem(url)

    @property
    def metadata_root(self) -> str:
        return f"{self.root}/{self.export_name}/metadata"

    @property
    def export_root(self) -> str:
        """The export's own prefix: every file a manifest names must lie under it."""
        return f"{self.root}/{self.export_name}"

    def resolve(self, data_file: str) -> str:
        """A manifest's data file entry as a path on this location's filesystem.

        An entry is an ``s3://`` URL, an absolute path, or a path relative to the location.  It
        is trusted only inside the export's own prefix (after ``..`` is folded away): a manifest
        naming a file of another bucket, prefix or export is refused, never read.

        Raises:
            ExportError: the entry lies outside the export (one line naming it).

        Example:
            >>> location = ExportLocation("s3://cur-bucket/cur", "focus")
            >>> location.resolve("s3://cur-bucket/cur/focus/data/focus-00001.snappy.parquet")
            'cur-bucket/cur/focus/data/focus-00001.snappy.parquet'
            >>> location.resolve("s3://cur-bucket/cur/focus/../hr/x")  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            tasks.costs.export.ExportError: data file 's3://cur-bucket/cur/focus/../hr/x' is ...
        """
        if data_file.startswith("s3://"):
            path = data_file.removeprefix("s3://")
        elif data_file.startswith("/") or data_file.startswith(self.root + "/"):
            path = data_file
        else:
            path = f"{self.root}/{data_file}"
        path = posixpath.normpath(path)
        if not path.startswith(self.export_root + "/"):
            raise ExportError(
                f"data file {data_file!r} is outside the export "
                f"{self.url.rstrip('/')}/{self.export_name}"
            )
        return path


def _data_files(
    location: ExportLocation, entries: list[Any], manifest: str
) -> tuple[tuple[str, ...], list[str]]:
    # Each entry resolved inside the export, each file once (a manifest listing a file twice
    # would otherwise count its costs twice); returns the files and the names listed repeatedly.
    paths: list[str] = []
    for entry in entries:
        if not isinstance(entry, str):
            raise ExportError(f"manifest {manifest}: data file entry {entry!r} is not a path")
        try:
            paths.append(location.resolve(entry))
        except ExportError as error:
            raise ExportError(f"manifest {manifest}: {error}; the manifest is refused") from None
    repeated = sorted({p.rsplit("/", 1)[-1] for p in paths if paths.count(p) > 1})
    return tuple(dict.fromkeys(paths)), repeated


def _manifest_period(manifest: dict[str, Any], path: str) -> str:
    period = manifest.get("billingPeriod")
    if isinstance(period, dict) and period.get("start"):
        return str(period["start"])[:7]
    for part in path.split("/"):
        if part.startswith("BILLING_PERIOD="):
            return part.removeprefix("BILLING_PERIOD=")[:7]
    raise ExportError(f"manifest {path} names no billing period (billingPeriod.start)")


def _manifest_order(manifest: dict[str, Any], info: pafs.FileInfo) -> str:
    # When several manifests of a period exist (AWS keeps each execution's), the newest export
    # time wins; the object time and the path break ties.
    created = manifest.get("exportTime") or manifest.get("exportCreationTime") or ""
    modified = info.mtime.isoformat() if isinstance(info.mtime, datetime) else ""
    return f"{created}|{modified}|{info.path}"


def _is_current(path: str, location: ExportLocation) -> bool:
    # AWS keeps the period's current manifest directly under BILLING_PERIOD=...; executions'
    # own copies sit one folder deeper.
    parent = path.rsplit("/", 2)
    return len(parent) == 3 and parent[1].startswith("BILLING_PERIOD=")


def discover_periods(location: ExportLocation) -> dict[str, ExportPeriod]:
    """The current manifest of every billing period in the export.

    The period's current manifest (directly under ``BILLING_PERIOD=``) is preferred; without
    one, the newest execution's manifest.  A period's version is its manifest's ``executionId``:
    a new id means AWS wrote the period again.

    Raises:
        ExportError: no manifest, or a manifest that is not valid JSON, names no data files, or
            names one outside the export (see :meth:`ExportLocation.resolve`).

    Example:
        >>> discover_periods(ExportLocation("s3://finops-sandbox-cur/cur",
        ...                                 "finops-focus"))  # doctest: +SKIP
        {'2026-01': ExportPeriod(billing_period='2026-01', ...), ...}
    """
    selector = pafs.FileSelector(location.metadata_root, recursive=True, allow_not_found=True)
    infos = [
        info
        for info in location.fs.get_file_info(selector)
        if info.type == pafs.FileType.File and info.path.endswith("Manifest.json")
    ]
    if not infos:
        raise ExportError(
            f"no export manifest under {location.url}/{location.export_name}/metadata; check "
            "FINOPS_COSTS__EXPORT_URL (or FINOPS_COSTS__EXPORT_BUCKET and "
            "FINOPS_COSTS__EXPORT_PREFIX), FINOPS_COSTS__EXPORT_NAME, and that the export has run"
        )
    newest: dict[str, tuple[tuple[bool, str], ExportPeriod, list[str]]] = {}
    for info in infos:
        try:
            with location.fs.open_input_stream(info.path) as stream:
                manifest = json.loads(stream.read())
        except (OSError, ValueError) as error:
            raise ExportError(f"manifest {info.path} is not readable JSON: {error}") from None
        if not isinstance(manifest, dict):
            raise ExportError(f"manifest {info.path} is not a JSON object")
        files = manifest.get("dataFiles") or manifest.get("reportKeys")
        if not files or not isinstance(files, list):
            raise ExportError(f"manifest {info.path} lists no dataFiles")
        period = _manifest_period(manifest, info.path)
        order = (_is_current(info.path, location), _manifest_order(manifest, info))
        version = str(manifest.get("executionId") or manifest.get("assemblyId") or order[1])
        data_files, repeated = _data_files(location, files, info.path)
        candidate = ExportPeriod(period, version, info.path, data_files)
        if period not in newest or order > newest[period][0]:
            newest[period] = (order, candidate, repeated)
    for _, chosen, repeated in newest.values():
        if repeated:
            log.warning(
                "manifest %s lists data files more than once (%s); each file is read once",
                chosen.manifest,
                ", ".join(repeated),
            )
    return {period: item[1] for period, item in sorted(newest.items())}


_TEXT = pa.string()
_FOLD_SUMS = ["billed_cost", "effective_cost", "list_cost", "usage_quantity"]


def _col(table: pa.Table, name: str, kind: pa.DataType = _TEXT) -> pa.ChunkedArray | pa.Array:
    if name in table.column_names:
        column = table.column(name)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        return column
    return pa.nulls(table.num_rows, kind)


def _timestamps(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    if pa.types.is_timestamp(column.type):
        if column.type.tz not in (None, "UTC", "+00:00", "Z"):
            column = column.cast(pa.timestamp(column.type.unit, "UTC"))
        return column
    if pa.types.is_date(column.type):
        return column.cast(pa.timestamp("s"))
    # Text timestamps (CSV-born exports) come in several spellings; pandas reads them all.
    parsed = pd.to_datetime(pd.Series(column.to_pylist(), dtype=object), utc=True, format="mixed")
    return pa.array(parsed, pa.timestamp("us", "UTC"))


def _day(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    # The UTC calendar day of a timestamp (the store's charge day); a cast, not string formatting,
    # because it runs over every line item.
    return _timestamps(column).cast(pa.date32())


def _blank_null(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    # CSV-born exports write an absent value as an empty cell.
    text = column.cast(_TEXT)
    return pc.if_else(pc.equal(pc.utf8_trim_whitespace(text), ""), pa.scalar(None, _TEXT), text)


def _money(table: pa.Table, name: str, name_for_errors: str) -> pa.ChunkedArray | pa.Array:
    try:
        return _col(table, name, pa.float64()).cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise ExportError(f"{name_for_errors}: {name} is not numeric ({error})") from None


def normalize_table(table: pa.Table, name: str = "batch") -> pa.Table:
    """FOCUS 1.x (or CUR 2.0) line items -> unaggregated cost rows (Arrow, vectorised).

    Charge date is the UTC day of ChargePeriodStart (hourly rows fold into their day); region is
    RegionId, else RegionName, else ''; a Usage row with negative cost or ChargeClass
    'Correction' is a refund and gets usage type 'Refund' (kept apart from ordinary usage so
    negative costs stay explainable); ``provider`` is ProviderName.

    Raises:
        ExportError: a required FOCUS column is missing or not numeric, or a charge category is
            unknown; the message starts with ``name``.
    """
    if "line_item_unblended_cost" in table.column_names:
        table = table.rename_columns([CUR2_TO_FOCUS.get(c, c) for c in table.column_names])
        mapped = [
            CUR_LINE_ITEM_CATEGORY.get(v, "Adjustment") if v else v
            for v in _col(table, "ChargeCategory").to_pylist()
        ]
        table = table.set_column(
            table.column_names.index("ChargeCategory"), "ChargeCategory", pa.array(mapped, _TEXT)
        )
    missing = [c for c in REQUIRED_FOCUS_COLUMNS if c not in table.column_names]
    if missing:
        raise ExportError(f"{name}: not a FOCUS/CUR 2.0 file, columns {missing} are missing")
    charge_day = _day(_col(table, "ChargePeriodStart"))
    period_start = _col(table, "BillingPeriodStart", pa.timestamp("s", "UTC"))
    # The period's first day while folding; spelled 'YYYY-MM' once the rows are few.
    billing_period = pc.coalesce(_day(period_start), charge_day)
    billing_account = _col(table, "BillingAccountId").cast(_TEXT)
    category_raw = _col(table, "ChargeCategory").cast(_TEXT)
    category = pc.utf8_capitalize(category_raw)
    unknown = pc.invert(pc.fill_null(pc.is_in(category, pa.array(CHARGE_CATEGORIES)), False))
    if pc.any(unknown).as_py():
        bad = sorted({str(v) for v in pc.filter(category_raw, unknown).to_pylist()})[:5]
        raise ExportError(
            f"{name}: unknown ChargeCategory {bad}; FOCUS allows {list(CHARGE_CATEGORIES)}"
        )
    billed = _money(table, "BilledCost", name)
    effective = _money(table, "EffectiveCost", name)
    if billed.null_count or effective.null_count:
        raise ExportError(f"{name}: BilledCost/EffectiveCost has empty cells")
    charge_class = pc.utf8_lower(pc.fill_null(_col(table, "ChargeClass").cast(_TEXT), ""))
    refund = pc.and_(
        pc.equal(category, "Usage"),
        pc.or_(pc.less(billed, 0.0), pc.equal(charge_class, "correction")),
    )
    usage_type = pc.fill_null(_col(table, "x_UsageType").cast(_TEXT), "")
    region = pc.coalesce(
        _col(table, "RegionId").cast(_TEXT), _col(table, "RegionName").cast(_TEXT), ""
    )
    return pa.table(
        {
            "charge_date": charge_day,
            "billing_period": billing_period,
            "billing_account_id": billing_account,
            "sub_account_id": pc.coalesce(_col(table, "SubAccountId").cast(_TEXT), billing_account),
            "service": pc.fill_null(_col(table, "ServiceName").cast(_TEXT), ""),
            "region": region,
            "charge_category": category,
            "usage_type": pc.if_else(refund, "Refund", usage_type),
            "currency": _col(table, "BillingCurrency").cast(_TEXT),
            "provider": pc.fill_null(_col(table, "ProviderName").cast(_TEXT), ""),
            "billed_cost": billed,
            "effective_cost": effective,
            "list_cost": _money(table, "ListCost", name),
            "usage_quantity": _money(table, "ConsumedQuantity", name),
            "usage_unit": _col(table, "ConsumedUnit").cast(_TEXT),
            # FOCUS 1.0 and 1.2 name the commitment columns alike; absent or blank cells are null.
            **{ours: _blank_null(_col(table, focus)) for ours, focus in COMMITMENT_COLUMNS.items()},
        }
    )


def _spell_periods(table: pa.Table) -> pa.Table:
    # Dates become the text the cost frame holds: 'YYYY-MM' periods and 'YYYY-MM-DD' days.
    for name, spelling in (("billing_period", "%Y-%m"), ("charge_date", "%Y-%m-%d")):
        index = table.column_names.index(name)
        column = table.column(index)
        if pa.types.is_date(column.type):
            text = pc.strftime(column.cast(pa.timestamp("s")), format=spelling, locale="C")
            table = table.set_column(index, name, text)
    return table


def normalize_focus(batch: pd.DataFrame, name: str = "batch") -> pd.DataFrame:
    """:func:`normalize_table` for a pandas frame of FOCUS (or CUR 2.0) line items.

    Example:
        >>> rows = pd.DataFrame({"BilledCost": [1.0], "BillingAccountId": ["1"],
        ...     "BillingCurrency": ["USD"], "ChargeCategory": ["Usage"],
        ...     "ChargePeriodStart": ["2024-09-18 22:00:00"], "EffectiveCost": [0.5],
        ...     "ServiceName": ["Amazon S3"]})
        >>> normalize_focus(rows)[["charge_date", "service", "effective_cost"]].values.tolist()
        [['2024-09-18', 'Amazon S3', 0.5]]
    """
    table = normalize_table(pa.Table.from_pandas(batch, preserve_index=False), name)
    return _spell_periods(table).to_pandas()


def fold_table(rows: pa.Table) -> pa.Table:
    """Sum normalised rows per day key (Arrow hash aggregation; sums of all-null stay null).

    A key's unit is its line items' unit when they agree, else 'mixed' (quantities of different
    units do not add up); ``line_items`` counts the rows folded.
    """
    grouped = rows.group_by(_FOLD_KEYS, use_threads=False).aggregate(
        [
            *[(c, "sum") for c in _FOLD_SUMS],
            ("usage_unit", "count_distinct"),
            ("usage_unit", "first"),
            ("billed_cost", "count"),
        ]
    )
    unit = pc.if_else(
        pc.greater(grouped.column("usage_unit_count_distinct"), 1),
        pa.scalar("mixed", _TEXT),
        grouped.column("usage_unit_first"),
    )
    return pa.table(
        {
            **{k: grouped.column(k) for k in _FOLD_KEYS},
            **{c: grouped.column(f"{c}_sum") for c in _FOLD_SUMS},
            "usage_unit": unit,
            "line_items": grouped.column("billed_cost_count").cast(pa.int64()),
        }
    )


def fold(rows: pd.DataFrame) -> pd.DataFrame:
    """:func:`fold_table` for a pandas frame of normalised rows.

    Example:
        >>> rows = normalize_focus(pd.DataFrame({"BilledCost": [1.0, 2.0],
        ...     "BillingAccountId": ["1", "1"], "BillingCurrency": ["USD", "USD"],
        ...     "ChargeCategory": ["Usage", "Usage"], "EffectiveCost": [1.0, 2.0],
        ...     "ChargePeriodStart": ["2024-09-18 22:00:00", "2024-09-18 23:00:00"],
        ...     "ServiceName": ["Amazon S3", "Amazon S3"]}))
        >>> fold(rows)[["charge_date", "billed_cost", "line_items"]].values.tolist()
        [['2024-09-18', 3.0, 2]]
    """
    return _spell_periods(fold_table(pa.Table.from_pandas(rows, preserve_index=False))).to_pandas()


def read_period(location: ExportLocation, period: ExportPeriod) -> tuple[pd.DataFrame, int]:
    """Every data file of a billing period folded into day key totals in one DuckDB query.

    DuckDB reads the files in parallel, only the columns the fold uses, and holds only the
    per-key totals (:func:`tasks.costs.fold.fold_files`), so memory does not grow with the
    number of line items.

    Returns:
        (folded rows with a ``line_items`` count and ``provider``, line items read).

    Raises:
        ExportError: a data file is malformed (named), or charges fall outside the period.
    """
    paths = list(dict.fromkeys(period.data_files))  # each file once, however it was listed
    try:
        totals = fold_files(
            location.fs, paths, REQUIRED_FOCUS_COLUMNS, CUR2_TO_FOCUS, CUR_LINE_ITEM_CATEGORY
        ).drop_columns(["empty_money"])
    except FoldError as error:
        raise ExportError(str(error)) from None
    return folded_period(totals, period)


def folded_period(totals: pa.Table, period: ExportPeriod) -> tuple[pd.DataFrame, int]:
    """A period's fold (from DuckDB here, or Athena) checked and spelled as :func:`read_period`
    returns it.

    Raises:
        ExportError: the fold is empty, or holds charges outside the period's days.
    """
    line_items = int(pc.sum(totals.column("line_items")).as_py() or 0)
    if totals.num_rows == 0:
        raise ExportError(f"export period {period.billing_period} ({period.manifest}) is empty")
    result = _spell_periods(totals.sort_by([(k, "ascending") for k in _FOLD_KEYS])).to_pandas()
    # A row may carry another BillingPeriodStart (a provider billing a late charge next month,
    # as in the FOCUS sample); what must hold is that its charge day lies in this period's days,
    # because the period replaces exactly those days in the store.
    charged = pd.to_datetime(result["charge_date"]).dt.date
    outside = result[(charged < period.start) | (charged > period.end)]
    if not outside.empty:
        raise ExportError(
            f"export period {period.billing_period} ({period.manifest}) holds charges dated "
            f"{outside['charge_date'].min()}..{outside['charge_date'].max()}, outside "
            f"{period.start}..{period.end}; the export is malformed"
        )
    return result, line_items


def to_cost_frame(folded: pd.DataFrame) -> pd.DataFrame:
    """Folded export rows as a COST_COLUMNS frame (source='export', never estimated).

    Non-AWS providers (a FOCUS export may hold several) keep their name in ``tags`` as
    ``x_ProviderName``.
    """
    frame = folded.copy()
    frame["charge_date"] = pd.to_datetime(frame["charge_date"]).dt.date
    frame["tags"] = [
        "{}" if provider in ("", "AWS") else json.dumps({"x_ProviderName": provider})
        for provider in frame["provider"]
    ]
    frame["source"] = "export"
    frame["estimated"] = False
    return frame[COST_COLUMNS].reset_index(drop=True)
