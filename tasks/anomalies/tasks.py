"""Thin Prefect tasks of the anomaly check: load costs, detect, record, judge budgets, publish."""

from __future__ import annotations

import base64
from datetime import date
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
    AnomalyRun,
    detect_cost_anomalies,
    judge_budgets,
    load_cost_frame,
    read_aws_budgets,
)
from tasks.anomalies.report import COLUMNS, anomaly_rows, chart_for, render_markdown
from tasks.anomalies.store import AnomalyStore, RecordOutcome
from tasks.settings import AnomalySettings, AwsSettings, BudgetSettings
from tasks.steps import step

#: Charts published per run (the largest anomalies that alert, then the largest others).
TOP_CHARTS = 3


@step("load-costs", retries=2, retry_delay_seconds=5)
def load_costs_task(store_url: str, as_of: date, lookback_days: int) -> pd.DataFrame:
    """Read the history the detector needs from the cost store (idempotent read: retried)."""
    frame = load_cost_frame(store_url, as_of, lookback_days)
    get_run_logger().info("read %d cost rows through %s", len(frame), as_of)
    return frame


@step("detect-anomalies")
def detect_task(frame: pd.DataFrame, as_of: date, anomaly_settings: AnomalySettings) -> AnomalyRun:
    """Score every monitor and group the recent anomalies (pure)."""
    run = detect_cost_anomalies(frame, as_of, anomaly_settings)
    get_run_logger().info(
        "%d monitors judged, %d anomalies over threshold, %d alert",
        len(run.series.monitors),
        len(run.anomalies),
        len(run.alerts),
    )
    return run


@step("record-anomalies")
def record_task(findings_url: str, run: AnomalyRun) -> tuple[RecordOutcome, dict[str, str]]:
    """Record the anomalies (alert-once bookkeeping) and return their stored statuses."""
    store = AnomalyStore(findings_url)
    outcome = store.record(run.anomalies)
    ids = {a.anomaly_id for a in run.anomalies}
    statuses = {s.anomaly_id: s.status.value for s in store.list() if s.anomaly_id in ids}
    return outcome, statuses


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
    run: AnomalyRun, statuses: dict[str, str], budgets: list[BudgetState], data_dir: Path
) -> list[str]:
    """Table artifact, budget markdown and one PNG chart per top anomaly; returns chart paths.

    Each chart is saved under ``data_dir/anomalies/charts/`` and published as a Prefect image
    artifact whose URL is the PNG itself (a ``data:`` URI), so the UI shows it with no file server.
    """
    rows = anomaly_rows(run.anomalies, statuses)
    day = run.as_of.isoformat()
    create_table_artifact(
        key="cost-anomalies",
        table=[{c: r[c] for c in COLUMNS} for r in rows],
        description=f"Cost anomalies through {day} (USD over each anomaly's dates)",
    )
    budget_lines = "\n".join(f"- {describe_state(s)}" for s in budgets) or "- no budget configured"
    create_markdown_artifact(
        key="cost-anomalies-report",
        markdown=render_markdown(rows, run.as_of) + f"\n### Budgets on {day}\n\n{budget_lines}\n",
        description=f"Cost anomalies and budgets, {day}",
    )
    ranked = sorted(run.anomalies, key=lambda a: (not a.alert, -abs(a.total_impact)))
    folder = Path(data_dir) / "anomalies" / "charts"
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[str] = []
    for anomaly in ranked[:TOP_CHARTS]:
        png = chart_for(run, anomaly)
        path = folder / f"{anomaly.anomaly_id}.png"
        path.write_bytes(png)
        paths.append(str(path))
        create_image_artifact(
            image_url="data:image/png;base64," + base64.b64encode(png).decode("ascii"),
            key=f"cost-anomaly-{anomaly.anomaly_id[:12]}",
            description=(
                f"{anomaly.monitor_id} {anomaly.start} to {anomaly.end}: impact USD "
                f"{anomaly.total_impact:,.2f} (saved as {path})"
            ),
        )
    return paths
