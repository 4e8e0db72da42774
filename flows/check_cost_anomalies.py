"""The ``check-cost-anomalies`` flow: judge yesterday's spend per monitor and against the budgets.

Runs daily after ingestion.  Stages: plan the window (the lookback, reaching back to the start
of every anomaly the store holds open, or 13 months on a first check), read the cost history,
score every monitor and group the anomalies (with root causes), record them in the anomaly
store (each alerted once), optionally read AWS Cost Anomaly Detection's anomalies and link them
to ours (``settings.aws_anomaly_detection``), judge the budgets, publish the day's view as
Prefect artifacts.

The day's view is read from the anomaly store, not from today's detections alone: every anomaly
open on the day (an anomaly that began earlier and still lasts is open today, even if it was
alerted before), then those that ended lately, each open one with its chart.  The result's
``anomalies`` are that same view, so the report's "Open anomalies" are the artifact's.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow

from tasks.anomalies.models import AnomalyCheckResult, AnomalySummary
from tasks.anomalies.report import stored_record
from tasks.anomalies.tasks import (
    aws_anomalies_task,
    budgets_task,
    detect_task,
    load_costs_task,
    publish_task,
    record_task,
    window_task,
)
from tasks.settings import load_settings


@flow(name="check-cost-anomalies")
def check_cost_anomalies(
    date: dt.date | None = None,
    cost_store_url: str | None = None,
    findings_url: str | None = None,
) -> AnomalyCheckResult:
    """Check one day's spend for anomalies and budget breaches.

    Args:
        date: the day judged (default: yesterday, UTC).
        cost_store_url: the cost store (default: ``settings.cost_store_url``).
        findings_url: the findings database holding the anomaly store
            (default: ``settings.findings_url``).

    Returns:
        The :class:`~tasks.anomalies.models.AnomalyCheckResult`: the day, the day's view of the
        anomaly store (open on the day, then ended lately, as ``AnomalySummary``), the ids to
        alert now and resolved, the budget states and the chart paths.

    Example:
        >>> check_cost_anomalies(dt.date(2026, 11, 25))  # doctest: +SKIP
    """
    settings = load_settings()
    # The parameter is named ``date`` (the flow's public interface), hence ``dt`` for the module.
    as_of = date or (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).date()
    store_url = cost_store_url or settings.cost_store_url
    database = findings_url or settings.findings_url
    first, still_open = window_task(database, as_of, settings.anomalies.lookback_days)
    frame = load_costs_task(store_url, as_of, (as_of - first).days + 1)
    run = detect_task(frame, as_of, settings.anomalies, first, still_open)
    outcome, view = record_task(database, run)
    if settings.aws_anomaly_detection.enabled:
        # After recording: today's anomalies exist to be linked, so one alert names both.
        view = aws_anomalies_task(
            database, settings.aws, as_of, settings.aws_anomaly_detection.lookback_days
        )
    budgets = budgets_task(frame, as_of, settings.budget, settings.aws)
    charts = publish_task(run, view, budgets, settings.data_dir)
    new = set(outcome.new)
    return AnomalyCheckResult(
        date=as_of,
        anomalies=[
            AnomalySummary.model_validate(stored_record(s, s.anomaly_id in new)) for s in view
        ],
        new_alerts=outcome.to_alert,
        resolved=outcome.resolved,
        budgets=budgets,
        charts=charts,
    )
