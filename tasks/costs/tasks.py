"""Thin Prefect tasks of cost ingestion: fetch, validate (with its artifact), write."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from tasks.aws.session import AwsAccess
from tasks.costs.athena import ScanBudget, fold_period_in_athena
from tasks.costs.cost_explorer import CE_REGION, RequestCounter
from tasks.costs.export import ExportLocation, ExportPeriod, discover_periods, to_cost_frame
from tasks.costs.quality import QualityError, validate_batch
from tasks.costs.store import CostStore
from tasks.costs.sync import (
    collect_ce,
    collect_export_period,
    history_for,
    plan_ce_windows,
    plan_export_periods,
    quality_policy,
    remember_export_version,
)
from tasks.costs.window import DayRange
from tasks.settings import Settings
from tasks.steps import step


@step("plan-ce-windows")
def plan_ce_windows_task(
    store_url: str, settings: Settings, today: date, window: DayRange | None
) -> list[DayRange]:
    """The Cost Explorer windows this run fetches."""
    windows = plan_ce_windows(CostStore(store_url), settings, today, window)
    get_run_logger().info(
        "Cost Explorer windows: %s",
        ", ".join(map(str, windows))
        or "none (nothing due, or older than Cost Explorer's 13 months: use the export)",
    )
    return windows


@step("fetch-cost-explorer")
def fetch_ce_window(window: DayRange, settings: Settings) -> tuple[pd.DataFrame, int, int]:
    """One window from Cost Explorer; returns (frame, requests made, throttled retries)."""
    access = AwsAccess(settings.aws)
    payer = access.caller_account_id
    client = access.client("ce", payer, CE_REGION)
    counter = RequestCounter()
    try:
        frame = collect_ce(client, window, payer, settings, counter)
    finally:
        get_run_logger().info(
            "Cost Explorer %s: %d requests ($%.2f), %d throttled retries",
            window,
            counter.requests,
            counter.cost_usd,
            counter.throttled,
        )
    return frame, counter.requests, counter.throttled


@step("plan-export-periods")
def plan_export_task(
    store_url: str, location: ExportLocation, window: DayRange | None
) -> tuple[list[ExportPeriod], list[str]]:
    """Billing periods of the export to (re)ingest, from its manifests."""
    periods = discover_periods(location)
    chosen, skipped = plan_export_periods(CostStore(store_url), periods, window)
    get_run_logger().info(
        "export periods: %s to ingest, %d unchanged",
        ", ".join(p.billing_period for p in chosen) or "none",
        len(skipped),
    )
    return chosen, skipped


@step("read-export-period")
def read_export_task(location: ExportLocation, period: ExportPeriod) -> tuple[pd.DataFrame, int]:
    """A whole billing period of the export as a cost frame, and the line items read."""
    frame, line_items = collect_export_period(location, period)
    get_run_logger().info(
        "export %s: %d line items from %d files -> %d rows",
        period.billing_period,
        line_items,
        len(period.data_files),
        len(frame),
    )
    return frame, line_items


@step("fold-export-in-athena")
def fold_athena_task(
    location: ExportLocation, period: ExportPeriod, settings: Settings, budget: ScanBudget
) -> tuple[pd.DataFrame, int, int]:
    """A billing period folded by Athena SQL as a cost frame; (frame, line items, bytes)."""
    access = AwsAccess(settings.aws)
    client = access.client("athena", access.caller_account_id, access.default_region)
    folded, line_items, scanned = fold_period_in_athena(
        client, settings.athena, location, period, budget
    )
    frame = to_cost_frame(folded)
    get_run_logger().info(
        "Athena %s: %d line items from %d files -> %d rows, %d bytes scanned",
        period.billing_period,
        line_items,
        len(period.data_files),
        len(frame),
        scanned,
    )
    return frame, line_items, scanned


@step("validate-cost-batch")
def validate_task(
    frame: pd.DataFrame,
    settings: Settings,
    store_url: str,
    source: str,
    start: date,
    end: date,
    today: date,
) -> dict[str, Any]:
    """Run the GX suite; publish the result as an artifact; raise before anything is written."""
    policy = quality_policy(settings, start, end, today)
    history = history_for(CostStore(store_url), start, source, policy.trailing_days)
    report = validate_batch(frame, policy, history)
    create_markdown_artifact(
        report.markdown(),
        key=f"cost-quality-{source}",
        description=f"Great Expectations suite over the {source} batch {start}..{end}",
    )
    if not report.success:
        raise QualityError(report)
    return report.result


@step("write-cost-window")
def write_task(store_url: str, frame: pd.DataFrame, start: date, end: date, source: str) -> int:
    """Replace the window ``start``..``end`` (inclusive) of ``source`` in the store."""
    return CostStore(store_url).replace_window(frame, start, end, source)


@step("remember-export-version")
def remember_version_task(store_url: str, period: ExportPeriod) -> None:
    """Record which export version a period now holds (so unchanged periods are skipped)."""
    remember_export_version(CostStore(store_url), period)
