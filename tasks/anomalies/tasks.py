"""Thin Prefect tasks of the anomaly check: load costs, detect, record, judge budgets, publish."""

from __future__ import annotations

import base64
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from prefect import get_run_logger
from prefect.artifacts import (
    create_image_artifact,
    create_markdown_artifact,
    create_table_artifact,
)

from tasks.anomalies.budget import BudgetState, describe_state
from tasks.anomalies.pipeline import (
    RECENT_DAYS,
    AnomalyRun,
    detect_cost_anomalies,
    judge_budgets,
    judging_window,
    load_cost_frame,
    read_aws_budgets,
)
from tasks.anomalies.report import COLUMNS, ChartSpan, chart_for, render_markdown, stored_rows
from tasks.anomalies.store import AnomalyStatus, AnomalyStore, RecordOutcome, StoredAnomaly
from tasks.settings import AnomalySettings, AwsSettings, BudgetSettings
from tasks.steps import step


@step("plan-anomaly-window")
def window_task(findings_url: str, as_of: date, lookback_days: int) -> tuple[date, list[str]]:
    """The first day to judge and the ids the store holds open (see ``judging_window``)."""
    first, still_open = judging_window(AnomalyStore(findings_url), as_of, lookback_days)
    get_run_logger().info(
        "judging %s to %s; %d anomalies open in the store", first, as_of, len(still_open)
    )
    return first, [s.anomaly_id for s in still_open]


@step("load-costs", retries=2, retry_delay_seconds=5)
def load_costs_task(store_url: str, as_of: date, lookback_days: int) -> pd.DataFrame:
    """Read the history the detector needs from the cost store (idempotent read: retried)."""
    frame = load_cost_frame(store_url, as_of, lookback_days)
    get_run_logger().info("read %d cost rows through %s", len(frame), as_of)
    return frame


@step("detect-anomalies")
def detect_task(
    frame: pd.DataFrame,
    as_of: date,
    anomaly_settings: AnomalySettings,
    first: date | None = None,
    keep_ids: list[str] | None = None,
) -> AnomalyRun:
    """Score every monitor and group the recent and still open anomalies (pure)."""
    run = detect_cost_anomalies(
        frame, as_of, anomaly_settings, first=first, keep_ids=set(keep_ids or ())
    )
    get_run_logger().info(
        "%d monitors judged, %d anomalies over threshold, %d alert",
        len(run.series.monitors),
        len(run.anomalies),
        len(run.alerts),
    )
    return run


@step("record-anomalies")
def record_task(findings_url: str, run: AnomalyRun) -> tuple[RecordOutcome, list[StoredAnomaly]]:
    """Record the anomalies (alert-once bookkeeping) and return the day's view from the store:
    every anomaly open on the day (new or not), then those that ended lately."""
    store = AnomalyStore(findings_url)
    outcome = store.record(run.anomalies)
    return outcome, store.on_day(run.as_of, RECENT_DAYS)


@step("read-aws-anomalies", retries=2, retry_delay_seconds=5)
def aws_anomalies_task(
    findings_url: str, aws_settings: AwsSettings, as_of: date, lookback_days: int
) -> list[StoredAnomaly]:
    """Read AWS Cost Anomaly Detection's anomalies, link them to ours, return the day's view."""
    from tasks.anomalies.aws_cad import get_aws_anomalies, record_aws_anomalies
    from tasks.aws.session import AwsAccess

    access = AwsAccess(aws_settings)
    client = access.client("ce", access.caller_account_id, "us-east-1")
    store = AnomalyStore(findings_url)
    found = get_aws_anomalies(client, as_of - timedelta(days=lookback_days - 1), as_of)
    links = record_aws_anomalies(store, found)
    get_run_logger().info(
        "%d AWS anomalies read, %d linked to ours", len(found), sum(1 for v in links.values() if v)
    )
    return store.on_day(as_of, RECENT_DAYS)


@step("judge-budgets")
def budgets_task(
    frame: pd.DataFrame,
    as_of: date,
    budget_settings: BudgetSettings,
    aws_settings: AwsSettings,
) -> list[BudgetState]:
    """Judge the configured budgets, or read and judge the AWS Budgets when asked."""
    aws_budgets = read_aws_budgets(aws_settings) if budget_settings.use_aws_budgets else None
    states = judge_budgets(frame, as_of, budget_settings, aws_budgets)
    logger = get_run_logger()
    for state in states:
        logger.info(describe_state(state))
    return states


@step("publish-anomaly-artifacts")
def publish_task(
    run: AnomalyRun, view: list[StoredAnomaly], budgets: list[BudgetState], data_dir: Path
) -> list[str]:
    """Table artifact, budget markdown and one PNG chart per open anomaly; returns chart paths.

    Each chart is saved under ``data_dir/anomalies/charts/`` and published as a Prefect image
    artifact whose URL is the PNG itself (a ``data:`` URI), so the UI shows it with no file server.
    """
    rows = stored_rows(view, run.as_of)
    day = run.as_of.isoformat()
    create_table_artifact(
        key="cost-anomalies",
        table=[{c: r[c] for c in COLUMNS} for r in rows],
        description=f"Cost anomalies open on {day} and ended lately (USD over each one's dates)",
    )
    budget_lines = "\n".join(f"- {describe_state(s)}" for s in budgets) or "- no budget configured"
    create_markdown_artifact(
        key="cost-anomalies-report",
        markdown=render_markdown(rows, run.as_of) + f"\n### Budgets on {day}\n\n{budget_lines}\n",
        description=f"Cost anomalies and budgets, {day}",
    )
    folder = Path(data_dir) / "anomalies" / "charts"
    folder.mkdir(parents=True, exist_ok=True)
    logger = get_run_logger()
    paths: list[str] = []
    charted = [s for s in view if s.status in {AnomalyStatus.OPEN, AnomalyStatus.ACKNOWLEDGED}]
    for stored in charted:
        span = ChartSpan.of_stored(stored)
        try:
            png = chart_for(run, span)
        except KeyError:  # the monitor has no cost in today's window
            logger.warning("no series to chart %s (%s)", stored.anomaly_id, stored.monitor_id)
            continue
        path = folder / f"{stored.anomaly_id}.png"
        path.write_bytes(png)
        paths.append(str(path))
        create_image_artifact(
            image_url="data:image/png;base64," + base64.b64encode(png).decode("ascii"),
            key=f"cost-anomaly-{stored.anomaly_id[:12]}",
            description=(
                f"{span.monitor_id} {span.start} to {span.end} ({stored.status.value}): impact "
                f"USD {span.total_impact:,.2f} (saved as {path})"
            ),
        )
    return paths
