"""`finops ingest` and `finops costs`: fill the cost store, and look at it.

``finops ingest`` runs the ``ingest-costs`` flow (incremental by default, or an explicit
``--start``/``--end`` window); ``finops costs`` shows the last 30 days by service, and
``finops costs --sql "..."`` runs one read-only DuckDB SELECT over the store (the table is
``costs``; no files, network, extensions or settings: see ``CostStore.query``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

import typer

from finops.commands.errors import fail, quiet_flow_errors, require_aws
from tasks.settings import Settings, load_settings

if TYPE_CHECKING:
    from tasks.costs.export import ExportLocation
    from tasks.costs.store import CostStore


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the CLI."""
    app.command("ingest")(ingest)
    app.command("costs")(costs)


def _cost_store(settings: Settings) -> CostStore:
    """The cost store the settings name, or the one line saying which setting is wrong."""
    from tasks.costs.store import CostStore, CostStoreError

    try:
        return CostStore(settings.cost_store_url)
    except CostStoreError as error:
        raise fail(f"setting FINOPS_COSTS__STORE_URL: {error}") from None


def _export_location(settings: Settings) -> ExportLocation:
    """The export's location from the settings, or the one line saying what to set."""
    from tasks.costs.export import ExportError
    from tasks.costs.sync import export_location

    try:
        return export_location(settings)
    except ExportError as error:
        raise fail(str(error)) from None


def ingest(
    source: str = typer.Option(
        None,
        "--source",
        help="ce, export (folded here) or athena (folded by Athena SQL over the export); "
        "default FINOPS_COSTS__SOURCE.",
    ),
    start: str = typer.Option(None, "--start", help="First day (YYYY-MM-DD), with --end."),
    end: str = typer.Option(None, "--end", help="Last day, inclusive (YYYY-MM-DD)."),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
) -> None:
    """Ingest costs (Cost Explorer or the CUR/FOCUS export) into the validated cost store."""
    from tasks.costs.cost_explorer import group_by_spec
    from tasks.costs.window import parse_day

    if source is not None and source not in ("ce", "export", "athena"):
        raise fail(f"--source {source!r}: use ce, export or athena")
    try:
        first = parse_day(start, "--start") if start else None
        last = parse_day(end, "--end") if end else None
        if (first is None) != (last is None):
            raise ValueError("give both --start and --end, or neither for an incremental run")
        if first and last and last < first:
            raise ValueError(f"--end {last} is before --start {first}")
    except ValueError as error:
        raise fail(str(error)) from None
    # What the flow would find wrong only after Prefect started, found now (one line, no run).
    settings = load_settings()
    chosen: Literal["ce", "export", "athena"] = source or settings.costs.source  # type: ignore[assignment]
    location = None
    if chosen == "ce":
        try:
            group_by_spec(settings.costs.group_by)
        except ValueError as error:
            raise fail(f"setting FINOPS_COSTS__GROUP_BY: {error}") from None
    else:
        location = _export_location(settings)
    if chosen == "athena" and not (settings.athena.database and settings.athena.table):
        raise fail(
            "--source athena: set FINOPS_ATHENA__DATABASE and FINOPS_ATHENA__TABLE (the Glue "
            "table over the export's data files)"
        )
    _cost_store(settings)
    on_s3 = settings.cost_store_url.startswith("s3://")
    if location is None or location.url.startswith("s3://") or on_s3:
        require_aws(settings)
    if location is not None:
        from tasks.costs.export import discover_periods

        discover_periods(location)  # ExportError (e.g. no manifest there): one line
    from flows.ingest_costs import ingest_costs

    with quiet_flow_errors():
        summary = ingest_costs(source=chosen, start=first, end=last)
    if as_json:
        typer.echo(json.dumps(summary.model_dump(mode="json"), indent=2))
        return
    typer.echo(
        f"{summary.source}: {summary.rows} rows over {summary.days} days; "
        f"Cost Explorer requests {summary.ce_requests} (${summary.ce_cost_usd})"
    )
    if summary.aws_requests:
        calls = ", ".join(f"{k} {v}" for k, v in summary.aws_requests.items())
        scanned = (
            f"; Athena scanned {summary.athena_bytes_scanned:,} bytes"
            if summary.athena_bytes_scanned
            else ""
        )
        typer.echo(
            f"  AWS requests: {calls}{scanned}; "
            f"${summary.aws_cost_usd.get('total', Decimal('0')):.4f} USD"
        )
    for batch in summary.batches:
        typer.echo(
            f"  {batch.start}..{batch.end}  {batch.rows:>7} rows  "
            f"billed {batch.billed_cost} {batch.currency}  "
            f"effective {batch.effective_cost} {batch.currency}"
        )
    for note in summary.skipped:
        typer.echo(f"  skipped {note}")


def costs(
    sql: str = typer.Option(
        None, "--sql", help="One read-only DuckDB SELECT over the table `costs`."
    ),
    days: int = typer.Option(30, "--days", help="Days shown by service (before today, UTC)."),
) -> None:
    """Show the last N days of cost by service, or run SQL over the cost store."""
    from tasks.costs.store import CostStoreError, last_days_by_service

    store = _cost_store(load_settings())
    try:
        if sql:
            frame = store.query(sql)
            typer.echo(frame.to_string(index=False) if not frame.empty else "(no rows)")
            return
        today = datetime.now(UTC).date()
        table = last_days_by_service(store, days, today)
    except CostStoreError as error:  # a wrong --sql or --days is the user's
        raise fail(f"--sql: {error}" if sql else str(error)) from None
    if table.empty:
        typer.echo(f"no costs stored for the last {days} days; run `finops ingest` first")
        return
    currency = "/".join(sorted(set(table["currency"])))
    typer.echo(
        f"Effective (amortized) cost by service, last {days} days before {today}, {currency}"
    )
    width = max(len("service"), *(len(s) for s in table["service"]))
    typer.echo(f"{'service':<{width}}  {'effective':>14}  {'billed':>14}")
    for row in table.itertuples():
        typer.echo(
            f"{row.service:<{width}}  {Decimal(str(row.effective_cost)):>14,.2f}  "
            f"{Decimal(str(row.billed_cost)):>14,.2f}"
        )
    total_effective = Decimal(str(round(float(table["effective_cost"].sum()), 2)))
    total_billed = Decimal(str(round(float(table["billed_cost"].sum()), 2)))
    typer.echo(f"{'total':<{width}}  {total_effective:>14,.2f}  {total_billed:>14,.2f}")
