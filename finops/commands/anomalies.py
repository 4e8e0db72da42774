"""`finops anomalies`: the cost anomaly table for a day, a verdict on one, and scoring any series.

``finops anomalies [--date YYYY-MM-DD]`` judges the day (default: yesterday, UTC) from the cost
store with the same pipeline as the ``check-cost-anomalies`` flow and prints the same table,
with each anomaly's stored status when the flow has recorded it, and the budget states.
``finops anomalies score --input series.csv --output scores.csv`` scores any regular
``timestamp,value`` series with the same detector.  ``finops anomalies aws-sync`` reads AWS Cost
Anomaly Detection's anomalies into the anomaly store, each linked to ours when it is the same
event; a verdict set with ``set-status`` is sent back to AWS for the AWS anomalies linked.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from finops.commands.errors import ENVIRONMENT, fail
from tasks.settings import load_settings

anomalies_app = typer.Typer(
    help="Cost anomalies: the table for a day, verdicts, and scoring any series.",
    no_args_is_help=False,
)


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the CLI."""
    app.add_typer(anomalies_app, name="anomalies")


def _parse_day(text: str | None, option: str = "--date") -> date:
    if not text:
        return (datetime.now(UTC) - timedelta(days=1)).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"{option} {text!r} is not a day; use YYYY-MM-DD, e.g. 2026-11-30") from None


@anomalies_app.callback(invoke_without_command=True)
def show(
    ctx: typer.Context,
    day: str = typer.Option(None, "--date", help="Day judged (YYYY-MM-DD); default yesterday."),
) -> None:
    """Print the cost anomalies and budget states for a day (same table as the flow's artifact)."""
    if ctx.invoked_subcommand is not None:
        return
    as_of = _parse_day(day)
    settings = load_settings()
    from tasks.anomalies.budget import describe_state
    from tasks.anomalies.pipeline import check_day

    try:
        result = check_day(settings, as_of, record=False)
    except (ValueError, RuntimeError) as error:
        raise fail(str(error), ENVIRONMENT) from None
    typer.echo(result.table_text)
    for state in result.budgets:
        typer.echo(describe_state(state))


@anomalies_app.command("set-status")
def set_status(
    anomaly_id: str = typer.Argument(..., help="Anomaly id (a unique prefix is enough)."),
    status: str = typer.Argument(..., help="acknowledged, false_positive or open."),
    reason: str = typer.Option("", "--reason", help="Why, for the history."),
    actor: str = typer.Option("cli", "--actor", help="Who decides."),
    planned: bool = typer.Option(
        False, "--planned", help="Acknowledged as planned activity (AWS: PLANNED_ACTIVITY)."
    ),
) -> None:
    """Record a person's verdict on an anomaly (a false positive is never alerted again).

    The verdict is also sent to AWS Cost Anomaly Detection (``ProvideAnomalyFeedback``) for
    every AWS anomaly linked to this one by ``finops anomalies aws-sync``.
    """
    from tasks.anomalies.store import PERSON_STATUSES, AnomalyStatus, AnomalyStore

    allowed = ", ".join(sorted(s.value for s in PERSON_STATUSES))
    if status not in {s.value for s in PERSON_STATUSES}:
        kind = "is set by the detector" if status in set(AnomalyStatus) else "is not a status"
        raise fail(f"status {status!r} {kind}; use one of {allowed}")
    if planned and status != "acknowledged":
        raise fail("--planned goes with the status acknowledged (planned activity is real)")
    settings = load_settings()
    store = AnomalyStore(settings.findings_url)
    try:
        stored = store.set_status(anomaly_id, status, actor, reason)
    except KeyError as error:
        raise fail(str(error.args[0])) from None
    typer.echo(f"{stored.anomaly_id} {stored.monitor_id} {stored.start_date}: {stored.status}")
    verdict = "planned" if planned else status
    if verdict == "open":
        return
    from tasks.anomalies.aws_cad import apply_feedback, linked_aws

    if not linked_aws(store, stored.anomaly_id):
        return
    # The verdict is stored above; an AWS error is said in one line by the CLI (exit 3).
    sent = apply_feedback(_ce_client(settings), store, stored.anomaly_id, verdict)
    for aws_id in sent:
        typer.echo(f"sent {verdict} to AWS Cost Anomaly Detection for {aws_id}")


def _ce_client(settings: Any) -> Any:
    from tasks.aws.session import AwsAccess

    access = AwsAccess(settings.aws)
    return access.client("ce", access.caller_account_id, "us-east-1")


@anomalies_app.command("aws-sync")
def aws_sync(
    since: str = typer.Option(None, "--since", help="First day (YYYY-MM-DD); default 90 days ago."),
    day: str = typer.Option(None, "--date", help="Last day (YYYY-MM-DD); default yesterday."),
) -> None:
    """Read AWS Cost Anomaly Detection's anomalies into the store, linked to ours when the same."""
    from tasks.anomalies.aws_cad import get_aws_anomalies, record_aws_anomalies
    from tasks.anomalies.store import AnomalyStore

    last = _parse_day(day)
    first = _parse_day(since, "--since") if since else last - timedelta(days=90)
    if first > last:
        raise fail(f"--since {first} is after --date {last}; give an earlier --since")
    settings = load_settings()
    store = AnomalyStore(settings.findings_url)
    found = get_aws_anomalies(_ce_client(settings), first, last)  # AWS errors: one line
    links = record_aws_anomalies(store, found)
    for aws in found:
        ours = links[aws.aws_anomaly_id]
        seen = f"same as ours {ours}" if ours else "not seen by ours"
        typer.echo(
            f"{aws.aws_anomaly_id} {aws.service} {aws.start}..{aws.end} "
            f"USD {aws.total_impact_usd:,.2f}: {seen}"
        )
    linked = sum(1 for v in links.values() if v)
    typer.echo(f"{len(found)} AWS anomalies from {first} to {last}; {linked} linked to ours")


@anomalies_app.command("score")
def score(
    input_path: Path = typer.Option(..., "--input", help="CSV with timestamp,value."),
    output_path: Path = typer.Option(..., "--output", help="CSV written with the scores."),
) -> None:
    """Score a timestamp,value series causally: expected, band, score, is_anomaly per row."""
    from tasks.anomalies.scoring import score_csv

    scored = score_csv(input_path, output_path)  # ScoreInputError: one line (exit 2)
    flagged = int(scored.frame["is_anomaly"].sum())
    typer.echo(
        f"scored {len(scored.frame)} rows (step {scored.step}, season {scored.config.period} "
        f"points): {flagged} anomalous; wrote {output_path}"
    )
