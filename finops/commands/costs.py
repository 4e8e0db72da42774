"""`finops ingest` and `finops costs`: fill the cost store, and look at it.

``finops ingest`` runs the ``ingest-costs`` flow (incremental by default, or an explicit
``--start``/``--end`` window); ``finops costs`` shows the last 30 days by service, and
``finops costs --sql "..."`` runs DuckDB SQL over the store (the table is ``costs``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

import typer

from finops.settings import load_settings


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the CLI."""
    app.command("ingest")(ingest)
    app.command("costs")(costs)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def ingest(
    source: str = typer.Option(
        None, "--source", help="ce or export; default FINOPS_COSTS__SOURCE."
    ),
    start: str = typer.Option(None, "--start", help="First day (YYYY-MM-DD), with --end."),
    end: str = typer.Option(None, "--end", help="Last day, inclusive (YYYY-MM-DD)."),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
) -> None:
    """Ingest costs (Cost Explorer or the CUR/FOCUS export) into the validated cost store."""
    from tasks.costs.cost_explorer import CostExplorerError
    from tasks.costs.export import ExportError
    from tasks.costs.quality import QualityError
    from tasks.costs.store import CostStoreError
    from tasks.costs.window import parse_day

    if source is not None and source not in ("ce", "export"):
        raise _fail(f"--source {source!r}: use ce or export", 2)
    try:
        first = parse_day(start, "--start") if start else None
        last = parse_day(end, "--end") if end else None
        if (first is None) != (last is None):
            raise ValueError("give both --start and --end, or neither for an incremental run")
        if first and last and last < first:
            raise ValueError(f"--end {last} is before --start {first}")
    except ValueError as error:
        raise _fail(str(error), 2) from None
    from flows.ingest_costs import ingest_costs

    try:
        chosen: Literal["ce", "export"] | None = source  # type: ignore[assignment]
        summary = ingest_costs(source=chosen, start=first, end=last)
    except (CostExplorerError, ExportError, QualityError, CostStoreError, ValueError) as error:
        # ValueError: a setting the flow cannot use (e.g. an unsupported GroupBy key).
        raise _fail(str(error)) from None
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    typer.echo(
        f"{summary['source']}: {summary['rows']} rows over {summary['days']} days; "
        f"Cost Explorer requests {summary['ce_requests']} (${summary['ce_cost_usd']})"
    )
    for batch in summary["batches"]:
        typer.echo(
            f"  {batch['start']}..{batch['end']}  {batch['rows']:>7} rows  "
            f"billed {batch['billed_cost']} {batch['currency']}  "
            f"effective {batch['effective_cost']} {batch['currency']}"
        )
    for note in summary["skipped"]:
        typer.echo(f"  skipped {note}")


def costs(
    sql: str = typer.Option(None, "--sql", help="DuckDB SQL over the table `costs`."),
    days: int = typer.Option(30, "--days", help="Days shown by service (before today, UTC)."),
) -> None:
    """Show the last N days of cost by service, or run SQL over the cost store."""
    from tasks.costs.store import CostStore, CostStoreError, last_days_by_service

    store = CostStore(load_settings().cost_store_url)
    try:
        if sql:
            frame = store.query(sql)
            typer.echo(frame.to_string(index=False) if not frame.empty else "(no rows)")
            return
        today = datetime.now(UTC).date()
        table = last_days_by_service(store, days, today)
    except CostStoreError as error:
        raise _fail(str(error), 2) from None
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
