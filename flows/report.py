"""The `report` flow: the daily pipeline's report step, and `alert-anomalies` for new anomalies.

Both only wire the notify tasks: plan messages with idempotency keys, store them in the outbox,
deliver what is pending (this run's and any left by an earlier outage), and show every message
in a Prefect markdown artifact.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from prefect import flow
from prefect.runtime import flow_run

from tasks.anomalies.models import AnomalyCheckResult, AnomalySummary
from tasks.anomalies.pipeline import RECENT_DAYS
from tasks.anomalies.report import stored_record
from tasks.anomalies.store import AnomalyStore
from tasks.findings.model import Finding
from tasks.notify.models import DigestInput, DigestLinks, ReportResult
from tasks.notify.tasks import (
    collect_report_input,
    flow_run_url,
    mark_findings_notified,
    plan_anomaly_alerts,
    plan_options,
    plan_report_messages,
    publish_outbox_artifact,
    send_through_outbox,
)
from tasks.settings import load_settings


@flow(name="report", log_prints=True)
def report(
    digest: DigestInput | None = None,
    day: date | None = None,
    anomaly_result: AnomalyCheckResult | None = None,
    findings: list[Finding] | None = None,
    resolved_after: datetime | None = None,
    approval_flow_run_id: str | None = None,
    own_bill: list[str] | None = None,
) -> ReportResult:
    """Report the day: Slack digest (+ thread, chart), alerts, Jira issues, SNS summary.

    Either pass a ready ``digest``, or the day's results and let the flow read the rest from
    the stores (spend from the cost store; findings from the findings store when not given).

    Args:
        digest: the day's figures (see ``tasks.notify.models``); overrides the next four.
        day: the day reported (default: yesterday, UTC).
        anomaly_result: what ``check-cost-anomalies`` returned (anomalies and budgets); when
            missing, the anomalies open in the anomaly store on the day.
        findings: the idle findings to report (default: the store's actionable findings).
        resolved_after: findings the store resolved since then close their Jira issues
            (e.g. the start of today's scan).
        approval_flow_run_id: the remediation run waiting for approval, for the digest's button.
        own_bill: what the day's runs cost in AWS requests, one line per stage (the digest
            shows them).

    Returns:
        The :class:`~tasks.notify.models.ReportResult`: the outbox keys sent, pending, failed,
        skipped and rendered locally, who wrote the summary, the findings notified.

    Example:
        >>> report(day=date(2026, 11, 25), anomaly_result=check_cost_anomalies())  # doctest: +SKIP
    """
    settings = load_settings()
    links = DigestLinks(
        run_url=flow_run_url(settings, flow_run.get_id()),
        approval_url=flow_run_url(settings, approval_flow_run_id),
    )
    if digest is None:
        as_of = day or (datetime.now(UTC) - timedelta(days=1)).date()
        if anomaly_result is None:
            # No check today (or it failed): the anomalies open in the store are still open.
            anomaly_result = stored_view(settings.findings_url, as_of)
        digest = collect_report_input(
            as_of,
            anomaly_result,
            findings,
            resolved_after,
            links,
            settings.cost_store_url,
            settings.findings_url,
            settings.anomalies.cost_metric,
        )
    else:
        links = digest.links.model_copy(
            update={
                "run_url": digest.links.run_url or links.run_url,
                "approval_url": digest.links.approval_url or links.approval_url,
            }
        )
        digest = digest.model_copy(update={"links": links})
    if own_bill:
        digest = digest.model_copy(update={"own_bill": list(own_bill)})
    messages, source = plan_report_messages(digest, plan_options(settings), settings.notify)
    result = send_through_outbox(messages, settings.findings_url, settings.notify)
    notified = mark_findings_notified(digest, result, settings.findings_url)
    result = result.model_copy(update={"summary_source": source, "notified_findings": notified})
    title, key = f"FinOps report {digest.day.isoformat()}", f"report-{digest.day.isoformat()}"
    publish_outbox_artifact(result, title, key, settings.findings_url, settings.notify)
    return result


def stored_view(findings_url: str, day: date) -> AnomalyCheckResult:
    """The day's anomaly view from the anomaly store alone (no budgets): what the check would
    show as open on ``day``, then what ended lately."""
    view = AnomalyStore(findings_url).on_day(day, RECENT_DAYS)
    return AnomalyCheckResult(
        date=day, anomalies=[AnomalySummary.model_validate(stored_record(s)) for s in view]
    )


@flow(name="alert-anomalies")
def alert_anomalies(anomalies: list[AnomalySummary]) -> ReportResult:
    """Alert each anomaly above its threshold on its own, as soon as it is detected.

    The alert keys are the report's, so the daily report does not alert them again.
    """
    settings = load_settings()
    run_url = flow_run_url(settings, flow_run.get_id())
    messages = plan_anomaly_alerts(anomalies, run_url, plan_options(settings), settings.notify)
    result = send_through_outbox(messages, settings.findings_url, settings.notify)
    publish_outbox_artifact(
        result, "FinOps anomaly alerts", "anomaly-alerts", settings.findings_url, settings.notify
    )
    return result
