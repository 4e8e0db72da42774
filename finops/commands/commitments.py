"""`finops commitments` and `finops commitments-plan`: RIs and Savings Plans from a terminal.

``finops commitments`` reviews the organisation's commitments: the inventory and its expiry
table, used/unused commitment from the cost store beside Cost Explorer's (they must agree to the
cent per day; disagreements are listed), our Savings Plan recommendation beside AWS's, and the
expiry notices due.  It records the findings (unused commitment, the purchase recommendation)
and enqueues the expiry notices in the outbox (each once); ``--no-record`` only prints.

``finops commitments-plan FINGERPRINT`` approves a purchase recommendation: a purchase plan
(Jira issue through the outbox, audit record).  It buys only when
``FINOPS_COMMITMENTS__PURCHASE_ENABLED=true``.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from finops.commands.errors import fail, require_aws
from tasks.settings import load_settings

if TYPE_CHECKING:
    from tasks.commitments.chart import MonthFigures
    from tasks.costs.store import CostStore


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the CLI."""
    app.command("commitments")(commitments)
    app.command("commitments-plan")(commitments_plan)


def commitments(
    record: bool = typer.Option(
        True, "--record/--no-record", help="Store findings and enqueue expiry notices."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the review as JSON."),
    chart: Path = typer.Option(
        None, "--chart", help="Write the monthly coverage/utilisation chart (PNG) here."
    ),
    months: int = typer.Option(6, "--months", min=1, max=24, help="Months in the monthly table."),
) -> None:
    """Review RIs and Savings Plans: inventory, expiry, coverage/utilisation, recommendations."""
    from tasks.aws.session import AwsAccess
    from tasks.commitments import report
    from tasks.commitments.review import record_review, review_commitments
    from tasks.costs.store import CostStore
    from tasks.findings.store import FindingsStore
    from tasks.notify.deliver import connect_channels
    from tasks.notify.outbox import Outbox

    settings = load_settings()
    require_aws(settings)
    today = datetime.now(UTC).date()
    review = review_commitments(
        AwsAccess(settings.aws), CostStore(settings.cost_store_url), settings.commitments, today
    )
    recorded = None
    if record:
        enabled = connect_channels(settings.notify).enabled
        recorded = record_review(
            review, FindingsStore(settings.findings_url), Outbox(settings.findings_url), enabled
        )
    per_month = _monthly(CostStore(settings.cost_store_url), today, months)
    if chart is not None:
        from tasks.commitments.chart import chart_png

        if not per_month:
            raise fail("--chart: the cost store holds no commitment rows; run finops ingest first")
        try:
            chart.write_bytes(chart_png(per_month, "Commitments: coverage and utilisation"))
        except OSError as error:
            raise fail(f"--chart {chart}: cannot write ({error.strerror or error})") from None
    if as_json:
        body = {
            **review.model_dump(mode="json"),
            "recorded": recorded,
            "monthly": [m.model_dump(mode="json") for m in per_month],
        }
        typer.echo(json.dumps(body, default=str))
        return
    days = (review.last_day - review.first_day).days + 1
    out = [f"Commitments, {review.first_day}..{review.last_day} ({days} days, USD)", ""]
    out += ["Inventory and expiry:", *report.inventory_table(review.inventory, today)]
    out += [f"  could not read {e}" for e in review.inventory_errors]
    out += ["", "Utilisation (cost store vs Cost Explorer):"]
    out += report.utilisation_table(review.store_totals, review.ce_days, days)
    coverage = review.store_totals["Savings Plan"]["coverage_pct"]
    out.append(f"Savings Plan coverage of EC2 instance usage (cost store): {coverage}%")
    for source, hours in review.ri_coverage.items():
        whole = hours["reserved_hours"] + hours["on_demand_hours"]
        share = f"{100 * hours['reserved_hours'] / whole:.2f}%" if whole else "-"
        out.append(
            f"RDS Reserved Instance coverage ({'cost store' if source == 'store' else 'CE'}): "
            f"{share} of {whole:,.2f} instance hours"
        )
    if not review.store_days:
        out.append(
            "the cost store holds no commitment rows in this window: run "
            "`finops ingest --source export` (the FOCUS export names each commitment)"
        )
    elif review.disagreements:
        out.append(f"{len(review.disagreements)} day figures disagree by a cent or more:")
        out += [
            f"  {d.day} {d.kind} {d.figure}: store {d.store_usd} vs CE {d.ce_usd}"
            for d in review.disagreements[:10]
        ]
    else:
        out.append("store and Cost Explorer agree to the cent on every day")
    out += ["", "Savings Plan recommendation:"]
    out += report.recommendation_table(review.ours, review.aws)
    out.append(f"AWS RI recommendations: {len(review.ri_recommendations)}")
    out += ["", f"Per month (cost store, last {months}):", *report.monthly_lines(per_month)]
    if chart is not None:
        out.append(f"chart written to {chart}")
    out += ["", "Expiry notices due:", *report.alerts_lines(review.alerts)]
    unused = [f for f in review.findings if f.check == "commitment-unused"]
    out += ["", "Unused commitment:"]
    out += [f"  {f.title} (${f.monthly_savings_usd}/month)" for f in unused] or ["  none"]
    if recorded is not None:
        out.append(
            f"recorded: {len(recorded['new'])} new findings, {len(recorded['resolved'])} "
            f"resolved, {len(recorded['alerts'])} expiry notices enqueued"
        )
    typer.echo("\n".join(out))


def _monthly(store: CostStore, today: date, months: int) -> list[MonthFigures]:
    from tasks.commitments.chart import monthly
    from tasks.commitments.usage import COLUMNS, daily_figures

    last = today - timedelta(days=1)
    first = last.replace(day=1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    return monthly(daily_figures(store.read(first, last, COLUMNS), first, last))


def commitments_plan(
    fingerprint: str = typer.Argument(..., help="The commitment-purchase finding to approve."),
    approver: str = typer.Option(None, "--by", help="Who approves; default the OS user."),
) -> None:
    """Approve a purchase recommendation: a purchase plan (Jira + audit); buys only if enabled."""
    from tasks.aws.session import AwsAccess
    from tasks.commitments.purchase import plan_purchase
    from tasks.findings.store import FindingsStore, TransitionError
    from tasks.notify.deliver import connect_channels
    from tasks.notify.outbox import Outbox
    from tasks.remediation.audit import AuditLog

    settings = load_settings()
    findings = FindingsStore(settings.findings_url)
    try:
        full = findings.resolve(fingerprint)
    except (KeyError, ValueError) as error:
        raise fail(str(error).strip("'\"")) from None
    access = None
    if settings.commitments.purchase_enabled:
        require_aws(settings)
        access = AwsAccess(settings.aws)
    try:
        outcome = plan_purchase(
            full,
            approver or getpass.getuser(),
            settings.commitments,
            findings,
            Outbox(settings.findings_url),
            AuditLog(settings.audit_log_url),
            connect_channels(settings.notify).enabled,
            access,
        )
    except (ValueError, TransitionError) as error:
        raise fail(str(error)) from None
    if outcome.result == "planned":
        typer.echo(
            f"purchase plan recorded for ${outcome.hourly_commitment_usd}/hour; nothing bought "
            "(set FINOPS_COMMITMENTS__PURCHASE_ENABLED=true to buy)"
        )
    elif outcome.result == "purchased":
        typer.echo(
            f"bought Savings Plan {outcome.savings_plan_id} (${outcome.hourly_commitment_usd}/hour)"
        )
    else:
        raise fail(f"purchase failed: {outcome.reason}", code=1)
