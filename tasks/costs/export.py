"""CUR 2.0 / FOCUS 1.x Data Export in S3 (or a folder) into the FOCUS-aligned cost frame.

The export is found through its manifests, laid out as AWS Data Exports writes them::

    <prefix>/<export-name>/metadata/BILLING_PERIOD=YYYY-MM/[<version>/]<export-name>-Manifest.json
    <prefix>/<export-name>/data/BILLING_PERIOD=YYYY-MM/[<version>/]<export-name>-00001.snappy.parquet

A manifest names its billing period and data files.  AWS restates whole months, so when a newer
manifest appears for a period the whole period is read again and replaces the stored one.
Files are read one record batch at a time and folded into per-day key totals, so memory stays
flat however large the export is; a file that cannot be read is reported by name before any
row of its period is written.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from tasks.costs.schema import CHARGE_CATEGORIES, COST_COLUMNS, KEY_COLUMNS
from tasks.costs.store import resolve_filesystem

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

    def resolve(self, data_file: str) -> str:
        """A manifest's data file entry as a path on this location's filesystem."""
        if data_file.startswith("s3://"):
            return data_file.removeprefix("s3://")
        if data_file.startswith("/") or data_file.startswith(self.root + "/"):
            return data_file
        return f"{self.root}/{data_file.lstrip('/')}"


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
        ExportError: no manifest, or a manifest that is not valid JSON / names no data files.

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
            "FINOPS_COSTS__EXPORT_BUCKET/EXPORT_PREFIX/EXPORT_NAME and that the export has run"
        )
    newest: dict[str, tuple[tuple[bool, str], ExportPeriod]] = {}
    for info in infos:
        try:
            with location.fs.open_input_stream(info.path) as stream:
                manifest = json.loads(stream.read())
        except (OSError, ValueError) as error:
            raise ExportError(f"manifest {info.path} is not readable JSON: {error}") from None
        files = manifest.get("dataFiles") or manifest.get("reportKeys")
        if not files or not isinstance(files, list):
            raise ExportError(f"manifest {info.path} lists no dataFiles")
        period = _manifest_period(manifest, info.path)
        order = (_is_current(info.path, location), _manifest_order(manifest, info))
        version = str(manifest.get("executionId") or manifest.get("assemblyId") or order[1])
        candidate = ExportPeriod(
            period, version, info.path, tuple(location.resolve(str(f)) for f in files)
        )
        if period not in newest or order > newest[period][0]:
            newest[period] = (order, candidate)
    return {period: item[1] for period, item in sorted(newest.items())}


def _column(batch: pd.DataFrame, name: str) -> pd.Series:
    if name in batch.columns:
        return batch[name]
    return pd.Series(None, index=batch.index, dtype=object)


def _text(series: pd.Series) -> pd.Series:
    return series.astype(object).where(series.notna(), None)


def _day(series: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        stamps = series.dt.tz_convert("UTC") if series.dt.tz is not None else series
    else:
        stamps = pd.to_datetime(series.astype(str), utc=True, format="mixed")
    return stamps.dt.strftime("%Y-%m-%d")


def normalize_focus(batch: pd.DataFrame, name: str = "batch") -> pd.DataFrame:
    """FOCUS 1.x (or CUR 2.0) line items -> unaggregated cost rows plus a ``provider`` column.

    Charge date is the UTC day of ChargePeriodStart (hourly rows fold into their day); region is
    RegionId, else RegionName, else ''; a Usage row with negative cost or ChargeClass
    'Correction' is a refund and gets usage type 'Refund' (kept apart from ordinary usage so
    negative costs stay explainable).

    Raises:
        ExportError: a required FOCUS column is missing, or a charge category is unknown.

    Example:
        >>> rows = pd.DataFrame({"BilledCost": [1.0], "BillingAccountId": ["1"],
        ...     "BillingCurrency": ["USD"], "ChargeCategory": ["Usage"],
        ...     "ChargePeriodStart": ["2024-09-18 22:00:00"], "EffectiveCost": [0.5],
        ...     "ServiceName": ["Amazon S3"]})
        >>> normalize_focus(rows)[["charge_date", "service", "effective_cost"]].values.tolist()
        [['2024-09-18', 'Amazon S3', 0.5]]
    """
    if "line_item_unblended_cost" in batch.columns:
        batch = batch.rename(columns=CUR2_TO_FOCUS)
        batch["ChargeCategory"] = batch["ChargeCategory"].map(CUR_LINE_ITEM_CATEGORY)
        batch["ChargeCategory"] = batch["ChargeCategory"].fillna("Adjustment")
    missing = [c for c in REQUIRED_FOCUS_COLUMNS if c not in batch.columns]
    if missing:
        raise ExportError(f"{name}: not a FOCUS/CUR 2.0 file, columns {missing} are missing")
    out = pd.DataFrame(index=batch.index)
    out["charge_date"] = _day(batch["ChargePeriodStart"])
    billing_period = _column(batch, "BillingPeriodStart")
    out["billing_period"] = np.where(
        billing_period.notna(),
        _day(billing_period.fillna(batch["ChargePeriodStart"])).str[:7],
        out["charge_date"].str[:7],
    )
    out["billing_account_id"] = batch["BillingAccountId"].astype(str)
    sub_account = _text(_column(batch, "SubAccountId"))
    out["sub_account_id"] = sub_account.where(sub_account.notna(), out["billing_account_id"])
    out["service"] = _text(batch["ServiceName"]).fillna("")
    region = _text(_column(batch, "RegionId"))
    region = region.where(region.notna(), _text(_column(batch, "RegionName")))
    out["region"] = region.fillna("")
    category = batch["ChargeCategory"].astype(str).str.lower().map(_CATEGORY_BY_LOWER)
    if category.isna().any():
        bad = sorted(set(batch["ChargeCategory"][category.isna()].astype(str)))[:5]
        raise ExportError(
            f"{name}: unknown ChargeCategory {bad}; FOCUS allows {list(CHARGE_CATEGORIES)}"
        )
    out["charge_category"] = category
    out["billed_cost"] = pd.to_numeric(batch["BilledCost"], errors="raise").astype("float64")
    out["effective_cost"] = pd.to_numeric(batch["EffectiveCost"], errors="raise").astype("float64")
    out["list_cost"] = pd.to_numeric(_column(batch, "ListCost"), errors="raise").astype("float64")
    out["usage_quantity"] = pd.to_numeric(_column(batch, "ConsumedQuantity"), errors="raise")
    out["usage_quantity"] = out["usage_quantity"].astype("float64")
    out["usage_unit"] = _text(_column(batch, "ConsumedUnit"))
    usage_type = _text(_column(batch, "x_UsageType")).fillna("")
    refund = (out["charge_category"] == "Usage") & (
        (out["billed_cost"] < 0)
        | (_text(_column(batch, "ChargeClass")).fillna("").str.lower() == "correction")
    )
    out["usage_type"] = usage_type.where(~refund, "Refund")
    out["currency"] = batch["BillingCurrency"].astype(str)
    out["provider"] = _text(_column(batch, "ProviderName")).fillna("")
    if out["billed_cost"].isna().any() or out["effective_cost"].isna().any():
        raise ExportError(f"{name}: BilledCost/EffectiveCost has empty cells")
    return out


def fold(rows: pd.DataFrame) -> pd.DataFrame:
    """Sum normalised rows per day key (list cost and quantity stay null when all are null).

    Example:
        >>> fold(pd.DataFrame(columns=[*_FOLD_KEYS, "billed_cost"])).empty
        True
    """
    if rows.empty:
        return pd.DataFrame(
            columns=[
                *_FOLD_KEYS,
                "billed_cost",
                "effective_cost",
                "list_cost",
                "usage_quantity",
                "usage_unit",
                "line_items",
            ]
        )
    grouped = rows.groupby(_FOLD_KEYS, sort=False, dropna=False)
    folded = grouped[["billed_cost", "effective_cost"]].sum()
    folded["list_cost"] = grouped["list_cost"].sum(min_count=1)
    folded["usage_quantity"] = grouped["usage_quantity"].sum(min_count=1)
    folded["usage_unit"] = _units(grouped)
    folded["line_items"] = grouped.size()
    return folded.reset_index()


def _units(grouped: Any) -> pd.Series:
    # One unit per key when the line items agree; quantities of different units do not add up,
    # so such a key says 'mixed'.
    first = grouped["usage_unit"].first()
    distinct = grouped["usage_unit"].nunique()
    return first.where(distinct <= 1, "mixed")


def _refold(partials: Sequence[pd.DataFrame]) -> pd.DataFrame:
    if not partials:
        return fold(pd.DataFrame())
    combined = pd.concat(partials, ignore_index=True)
    grouped = combined.groupby(_FOLD_KEYS, sort=True, dropna=False)
    folded = grouped[["billed_cost", "effective_cost", "line_items"]].sum()
    folded["list_cost"] = grouped["list_cost"].sum(min_count=1)
    folded["usage_quantity"] = grouped["usage_quantity"].sum(min_count=1)
    folded["usage_unit"] = _units(grouped)
    return folded.reset_index()


def iter_file_batches(
    location: ExportLocation, path: str, batch_rows: int = 262_144
) -> Iterator[pd.DataFrame]:
    """Record batches of one export file as pandas frames (only the FOCUS columns we use).

    Raises:
        ExportError: the file is missing or not readable Parquet, naming it.
    """
    try:
        parquet = pq.ParquetFile(location.fs.open_input_file(path))
        present = [
            c for c in parquet.schema_arrow.names if c in FOCUS_COLUMNS or c in CUR2_TO_FOCUS
        ]
        for record_batch in parquet.iter_batches(batch_size=batch_rows, columns=present):
            yield record_batch.to_pandas()
    except (OSError, pa.ArrowException) as error:
        raise ExportError(f"export file {path} is malformed or unreadable: {error}") from None


def read_period(location: ExportLocation, period: ExportPeriod) -> tuple[pd.DataFrame, int]:
    """Every data file of a billing period folded into day key totals, file by file.

    Returns:
        (folded rows with a ``line_items`` count and ``provider``, line items read).

    Raises:
        ExportError: a data file is malformed (named), or its rows belong to another period.
    """
    partials: list[pd.DataFrame] = []
    line_items = 0
    for path in period.data_files:
        file_partials: list[pd.DataFrame] = []
        for batch in iter_file_batches(location, path):
            try:
                rows = normalize_focus(batch, name=f"export file {path}")
            except (ValueError, TypeError) as error:
                raise ExportError(f"export file {path} is malformed: {error}") from None
            line_items += len(rows)
            file_partials.append(fold(rows))
        # Re-fold per file so the number of partials held stays near the number of files.
        if file_partials:
            partials.append(_refold(file_partials))
        if len(partials) > 8:
            partials = [_refold(partials)]
    folded = _refold(partials)
    # A row may carry another BillingPeriodStart (a provider billing a late charge next month,
    # as in the FOCUS sample); what must hold is that its charge day lies in this period's days,
    # because the period replaces exactly those days in the store.
    charged = pd.to_datetime(folded["charge_date"]).dt.date
    outside = folded[(charged < period.start) | (charged > period.end)]
    if not outside.empty:
        raise ExportError(
            f"export period {period.billing_period} ({period.manifest}) holds charges dated "
            f"{outside['charge_date'].min()}..{outside['charge_date'].max()}, outside "
            f"{period.start}..{period.end}; the export is malformed"
        )
    return folded, line_items


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
