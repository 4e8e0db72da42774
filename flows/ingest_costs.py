"""The ``ingest-costs`` flow: fetch costs (Cost Explorer or the data export), validate, store."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from tasks.aws.usage import count_requests
from tasks.costs.athena import ScanBudget
from tasks.costs.models import IngestResult
from tasks.costs.sync import IngestSummary, batch_result, export_location, requested_window
from tasks.costs.tasks import (
    fetch_ce_window,
    fold_athena_task,
    plan_ce_windows_task,
    plan_export_task,
    read_export_task,
    remember_version_task,
    validate_task,
    write_task,
)
from tasks.settings import load_settings


@flow(name="ingest-costs")
def ingest_costs(
    source: Literal["ce", "export", "athena"] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> IngestResult:
    """Ingest costs into the cost store and report what was done.

    Without ``start``/``end`` the run is incremental: days not stored plus the restatement window
    (Cost Explorer), or every billing period with a new export version (export).  With them,
    Cost Explorer fetches exactly those days and the export re-reads every billing period they
    touch (a period is always replaced whole).  Each batch passes the quality suite before the
    store is written; a failure stops the run with the store untouched for that batch.

    Args:
        source: 'ce', 'export' or 'athena' (the export folded by Athena SQL); default
            ``FINOPS_COSTS__SOURCE``.
        start: first day to ingest (inclusive), with ``end``.
        end: last day to ingest (inclusive), with ``start``.

    Returns:
        The run's :class:`~tasks.costs.models.IngestResult`: rows, days, totals per source,
        batches, Cost Explorer requests, and every AWS request the run made with its price.

    Example:
        >>> ingest_costs("ce", date(2026, 1, 1), date(2026, 1, 31))  # doctest: +SKIP
        IngestResult(source='ce', rows=1364, days=31, ...)
    """
    logger = get_run_logger()
    settings = load_settings()
    chosen = source or settings.costs.source
    store_url = settings.cost_store_url
    today = datetime.now(UTC).date()
    window = requested_window(start, end)
    summary = IngestSummary(source=chosen)
    budget = ScanBudget(cap=settings.athena.bytes_scanned_cap)
    with count_requests() as counter:
        try:
            if chosen == "ce":
                for day_range in plan_ce_windows_task(store_url, settings, today, window):
                    frame, requests, throttled = fetch_ce_window(day_range, settings)
                    summary.ce_requests += requests
                    summary.ce_throttled += throttled
                    last = day_range.end - timedelta(days=1)
                    validate_task(frame, settings, store_url, "ce", day_range.start, last, today)
                    write_task(store_url, frame, day_range.start, last, "ce")
                    summary.batches.append(batch_result(frame, "ce", day_range.start, last))
            else:
                # 'export' folds the files here with DuckDB, 'athena' has Athena run the same
                # fold as SQL; both pick the periods whose export version changed, both store
                # the rows as the export's.
                location = export_location(settings)
                periods, skipped = plan_export_task(store_url, location, window)
                summary.skipped.extend(skipped)
                for period in periods:
                    if chosen == "athena":
                        frame, line_items, _ = fold_athena_task(location, period, settings, budget)
                    else:
                        frame, line_items = read_export_task(location, period)
                    summary.export_line_items += line_items
                    first, last = period.start, period.end
                    validate_task(frame, settings, store_url, "export", first, last, today)
                    write_task(store_url, frame, first, last, "export")
                    remember_version_task(store_url, period)
                    detail = f"{len(period.data_files)} files, {line_items} line items"
                    summary.batches.append(batch_result(frame, "export", first, last, detail))
        finally:
            summary.aws_requests = counter.counts()
            summary.athena_bytes_scanned = budget.scanned
            summary.athena_bytes_billed = budget.billed
            summary.aws_cost_usd = counter.cost_usd(athena_bytes_scanned=budget.billed)
    logger.info(
        "ingested %d rows over %d days from %s; AWS requests: %d ($%.4f), Cost Explorer: %d",
        summary.rows,
        summary.days,
        chosen,
        sum(summary.aws_requests.values()),
        summary.aws_cost_usd.get("total", 0.0),
        summary.ce_requests,
    )
    create_markdown_artifact(
        summary.markdown(), key="ingest-costs-summary", description="What ingest-costs did"
    )
    return summary.result()
