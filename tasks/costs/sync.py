"""One ingestion step per source, composed from get_* / transform_* / quality / store (no Prefect).

``plan_*`` decides what a run fetches, ``collect_*`` fetches and normalises a batch, ``history_for``
reads the trailing totals the quality band needs, and :class:`IngestSummary` is what a run reports.
The Prefect layer (``tasks/costs/tasks.py``, ``flows/ingest_costs.py``) only wires these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd

from tasks.costs.cost_explorer import (
    CE_REGION,
    CE_REQUEST_USD,
    RequestCounter,
    sync_cost_explorer,
)
from tasks.costs.export import (
    ExportError,
    ExportLocation,
    ExportPeriod,
    read_period,
    to_cost_frame,
)
from tasks.costs.models import IngestBatch, IngestResult, SourceTotals
from tasks.costs.quality import QualityPolicy, daily_usage_totals
from tasks.costs.store import CostStore
from tasks.costs.window import DayRange, clip_windows, incremental_windows, months_back_first
from tasks.settings import Settings

EXPORT_VERSIONS = "export_versions"
#: Cost Explorer's reach: the current month and the 13 before it (without multi-year history).
CE_HISTORY_MONTHS = 13


def cents(value: float) -> Decimal:
    """A float USD sum as Decimal cents (half up), for people.

    Example:
        >>> cents(12.345)
        Decimal('12.35')
    """
    return Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass
class BatchResult:
    """One window or billing period that was fetched, validated and written."""

    source: str
    start: date
    end: date  # inclusive
    rows: int
    days: int
    billed_cost: Decimal
    effective_cost: Decimal
    currency: str
    detail: str = ""


@dataclass
class IngestSummary:
    """What a run did: per batch figures, totals per source and the Cost Explorer bill.

    Example:
        >>> IngestSummary(source="ce").result().ce_requests
        0
    """

    source: str
    batches: list[BatchResult] = field(default_factory=list)
    ce_requests: int = 0
    ce_throttled: int = 0
    export_line_items: int = 0
    skipped: list[str] = field(default_factory=list)
    athena_bytes_scanned: int = 0
    athena_bytes_billed: int = 0
    aws_requests: dict[tuple[str, str], int] = field(default_factory=dict)
    aws_cost_usd: dict[str, float] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(b.rows for b in self.batches)

    @property
    def days(self) -> int:
        return sum(b.days for b in self.batches)

    @property
    def ce_cost_usd(self) -> Decimal:
        return (Decimal(self.ce_requests) * Decimal(str(CE_REQUEST_USD))).quantize(Decimal("0.01"))

    def totals(self) -> dict[str, dict[str, str]]:
        """Billed and effective cost per source, as strings of Decimal cents with currency."""
        out: dict[str, dict[str, Decimal]] = {}
        for batch in self.batches:
            entry = out.setdefault(
                batch.source, {"billed_cost": Decimal("0"), "effective_cost": Decimal("0")}
            )
            entry["billed_cost"] += batch.billed_cost
            entry["effective_cost"] += batch.effective_cost
        currency = {b.source: b.currency for b in self.batches}
        return {
            source: {**{k: str(v) for k, v in values.items()}, "currency": currency[source]}
            for source, values in out.items()
        }

    def result(self) -> IngestResult:
        """The run's typed, frozen result (the flow's return value)."""
        return IngestResult(
            source=self.source,
            rows=self.rows,
            days=self.days,
            totals={
                source: SourceTotals.model_validate(values)
                for source, values in self.totals().items()
            },
            ce_requests=self.ce_requests,
            ce_throttled_retries=self.ce_throttled,
            ce_cost_usd=self.ce_cost_usd,
            export_line_items=self.export_line_items,
            batches=[IngestBatch.model_validate(asdict(b)) for b in self.batches],
            skipped=list(self.skipped),
            aws_requests={f"{svc}:{op}": n for (svc, op), n in self.aws_requests.items()},
            aws_cost_usd={k: Decimal(str(v)) for k, v in self.aws_cost_usd.items()},
            athena_bytes_scanned=self.athena_bytes_scanned,
        )

    def markdown(self) -> str:
        """The run as a markdown report (a Prefect artifact)."""
        lines = [
            f"### Cost ingestion ({self.source})",
            "",
            f"{self.rows} rows over {self.days} days; Cost Explorer requests: {self.ce_requests} "
            f"(${self.ce_cost_usd} at ${CE_REQUEST_USD:.2f} each, {self.ce_throttled} throttled "
            f"retries); export line items read: {self.export_line_items}.",
            "",
            "| source | window | rows | billed | effective | detail |",
            "|---|---|---|---|---|---|",
        ]
        for b in self.batches:
            lines.append(
                f"| {b.source} | {b.start}..{b.end} | {b.rows} | {b.billed_cost} {b.currency} "
                f"| {b.effective_cost} {b.currency} | {b.detail} |"
            )
        for note in self.skipped:
            lines.append(f"\n- {note}")
        lines += ["", *self.bill_markdown()]
        return "\n".join(lines)

    def bill_markdown(self) -> list[str]:
        """The run's own AWS bill: requests per service and operation, and their price."""
        lines = [
            "#### What this run cost in AWS requests",
            "",
            "| service | operation | requests | USD |",
            "|---|---|---:|---:|",
        ]
        for (service, operation), count in self.aws_requests.items():
            lines.append(f"| {service} | {operation} | {count} | |")
        if self.athena_bytes_scanned:
            lines.append(
                f"| athena | data scanned: {self.athena_bytes_scanned:,} bytes "
                f"(billed {self.athena_bytes_billed:,}) | | |"
            )
        for service, usd in self.aws_cost_usd.items():
            lines.append(f"| **{service}** | | | ${usd:.6f} |")
        lines += [
            "",
            "Prices: Cost Explorer $0.01 a request, Athena $5 per TB scanned (10 MB at least a "
            "query), S3 $0.0004 per 1,000 GETs; other calls here are free. Reads the export "
            "path makes through Arrow's own S3 client (manifests, Parquet) are not counted.",
        ]
        return lines


def batch_result(
    frame: pd.DataFrame, source: str, start: date, end: date, detail: str = ""
) -> BatchResult:
    """The figures of one written batch."""
    currencies = sorted(set(frame["currency"])) if not frame.empty else ["USD"]
    return BatchResult(
        source=source,
        start=start,
        end=end,
        rows=len(frame),
        days=int(pd.Series(frame["charge_date"]).nunique()) if not frame.empty else 0,
        billed_cost=cents(float(frame["billed_cost"].sum())) if not frame.empty else Decimal("0"),
        effective_cost=(
            cents(float(frame["effective_cost"].sum())) if not frame.empty else Decimal("0")
        ),
        currency="/".join(currencies),
        detail=detail,
    )


def requested_window(start: date | None, end: date | None) -> DayRange | None:
    """The user's --start/--end (both inclusive) as a range, or None for an incremental run.

    Raises:
        ValueError: only one of the two given, or end before start (one line).

    Example:
        >>> str(requested_window(date(2026, 1, 1), date(2026, 1, 31)))
        '2026-01-01..2026-01-31'
    """
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise ValueError(
            "give both --start and --end (YYYY-MM-DD), or neither for an incremental run"
        )
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    return DayRange(start, end + timedelta(days=1))


def plan_ce_windows(
    store: CostStore, settings: Settings, today: date, window: DayRange | None
) -> list[DayRange]:
    """The Cost Explorer windows of a run: the requested one, or the incremental plan, without
    the days older than Cost Explorer keeps (the export reaches further back)."""
    costs = settings.costs
    if window is not None:
        windows = [window]
    else:
        windows = incremental_windows(
            store.stored_days("ce"),
            today,
            costs.history_days,
            costs.restatement_days,
            costs.restate_previous_month_until_day,
        )
    return clip_windows(windows, months_back_first(today, CE_HISTORY_MONTHS))


def collect_ce(
    client: Any,
    window: DayRange,
    billing_account_id: str,
    settings: Settings,
    counter: RequestCounter,
    sleep: Callable[[float], None] | None = None,
) -> pd.DataFrame:
    """Fetch one window from Cost Explorer (client in us-east-1) as a cost frame."""
    retry: dict[str, Any] = {"max_attempts": settings.costs.ce_max_attempts}
    if sleep is not None:
        retry["sleep"] = sleep
    region = getattr(getattr(client, "meta", None), "region_name", CE_REGION)
    # botocore names a us-east-1 Cost Explorer client on AWS's own endpoint 'aws-global' (its
    # global endpoint ce.us-east-1.amazonaws.com); with an endpoint override it says us-east-1.
    if region not in (CE_REGION, "aws-global"):
        raise ValueError(f"Cost Explorer answers in {CE_REGION} only; the client is in {region}")
    return sync_cost_explorer(
        client,
        window,
        billing_account_id,
        group_by=settings.costs.group_by,
        detail=settings.costs.detail,
        counter=counter,
        **retry,
    )


def export_location(settings: Settings) -> ExportLocation:
    """Where the data export lives, from the settings.

    Raises:
        ExportError: the export is not configured (one line naming the settings).
    """
    costs = settings.costs
    url = costs.export_url or (
        f"s3://{costs.export_bucket}/{costs.export_prefix}".rstrip("/")
        if costs.export_bucket
        else ""
    )
    missing = []
    if not costs.export_name:
        missing.append("FINOPS_COSTS__EXPORT_NAME (the export's name)")
    if not url:
        missing.append(
            "FINOPS_COSTS__EXPORT_URL (s3://bucket/prefix of the export, or a folder; or "
            "FINOPS_COSTS__EXPORT_BUCKET with FINOPS_COSTS__EXPORT_PREFIX)"
        )
    if missing:
        raise ExportError(f"the data export is not configured: set {' and '.join(missing)}")
    return ExportLocation(url, costs.export_name)


def plan_export_periods(
    store: CostStore,
    periods: dict[str, ExportPeriod],
    window: DayRange | None,
) -> tuple[list[ExportPeriod], list[str]]:
    """Billing periods to (re)ingest: those overlapping the requested window, else every period
    whose newest export version differs from the one stored (AWS restates whole months).

    Returns:
        (periods to ingest, notes on periods skipped).
    """
    stored_versions = store.read_meta(EXPORT_VERSIONS)
    stored_days = store.stored_days("export") if window is None else set()
    chosen: list[ExportPeriod] = []
    skipped: list[str] = []
    for period in periods.values():
        if window is not None:
            if period.end >= window.start and period.start < window.end:
                chosen.append(period)
            continue
        # A recorded version counts only while the period's rows are still in the store.
        present = any(period.start <= day <= period.end for day in stored_days)
        if present and stored_versions.get(period.billing_period) == period.version:
            skipped.append(f"{period.billing_period}: export version already stored")
            continue
        chosen.append(period)
    return chosen, skipped


def collect_export_period(
    location: ExportLocation, period: ExportPeriod
) -> tuple[pd.DataFrame, int]:
    """Read a whole billing period of the export (file by file) as a cost frame."""
    folded, line_items = read_period(location, period)
    return to_cost_frame(folded), line_items


def remember_export_version(store: CostStore, period: ExportPeriod) -> None:
    """Record the export version a period was ingested from (after its partitions are written)."""
    versions = store.read_meta(EXPORT_VERSIONS)
    versions[period.billing_period] = period.version
    store.write_meta(EXPORT_VERSIONS, versions)


def history_for(store: CostStore, start: date, source: str, trailing_days: int = 28) -> pd.Series:
    """Stored daily usage totals of the ``trailing_days`` before ``start`` (for the band)."""
    stored = store.read(
        start - timedelta(days=trailing_days),
        start - timedelta(days=1),
        ["charge_date", "charge_category", "effective_cost"],
        source=source,
    )
    return daily_usage_totals(stored)


def quality_policy(settings: Settings, start: date, end: date, today: date) -> QualityPolicy:
    """The suite's policy for a batch covering ``start``..``end`` (inclusive)."""
    return QualityPolicy(
        start=start,
        end=end,
        today=today,
        estimated_recent_days=settings.costs.estimated_recent_days,
        daily_total_band=band if (band := settings.costs.daily_total_band) > 1 else None,
    )
