"""The ``check-cost-anomalies`` flow: judge yesterday's spend per monitor and against the budgets.

Runs daily after ingestion.  Stages: read the cost history, score every monitor and group the
anomalies (with root causes), record them in the anomaly store (each alerted once), judge the
budgets, publish the table and charts as Prefect artifacts.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow

from tasks.anomalies.models import AnomalyCheckResult, AnomalySummary
from tasks.anomalies.report import anomaly_record
from tasks.anomalies.tasks import (
    budgets_task,
    detect_task,
    load_costs_task,
    publish_task,
    record_task,
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
        The :class:`~tasks.anomalies.models.AnomalyCheckResult`: the day, the anomalies (as
        ``tasks.notify.models.AnomalySummary``), the ids to alert now and resolved, the budget
        states and the chart paths.

    Example:
        >>> check_cost_anomalies(dt.date(2026, 11, 25))  # doctest: +SKIP
    """
    settings = load_settings()
    # The parameter is named ``date`` (the flow's public interface), hence ``dt`` for the module.
    as_of = date or (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).date()
    store_url = cost_store_url or settings.cost_store_url
    database = findings_url or settings.findings_url
    frame = load_costs_task(store_url, as_of, settings.anomalies.lookback_days)
    run = detect_task(frame, as_of, settings.anomalies)
    outcome, statuses = record_task(database, run)
    budgets = budgets_task(frame, as_of, settings.budget, settings.aws)
    charts = publish_task(run, statuses, budgets, settings.data_dir)
    new = set(outcome.new)
    return AnomalyCheckResult(
        date=as_of,
        anomalies=[
            AnomalySummary.model_validate(
                anomaly_record(a, statuses.get(a.anomaly_id), a.anomaly_id in new)
            )
            for a in run.anomalies
        ],
        new_alerts=outcome.to_alert,
        resolved=outcome.resolved,
        budgets=budgets,
        charts=charts,
    )
