"""The `report` flow: the daily pipeline's report step, and `alert-anomalies` for new anomalies.

Both only wire the notify tasks: plan messages with idempotency keys, store them in the outbox,
deliver what is pending (this run's and any left by an earlier outage), and show every message
in a Prefect markdown artifact.
"""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

from finops.settings import load_settings
from tasks.notify.models import AnomalySummary, DigestInput
from tasks.notify.tasks import (
    ReportResult,
    flow_run_url,
    plan_anomaly_alerts,
    plan_report_messages,
    publish_outbox_artifact,
    send_through_outbox,
)


@flow(name="report", log_prints=True)
def report(digest: DigestInput, approval_flow_run_id: str | None = None) -> ReportResult:
    """Report the day: Slack digest (+ thread, chart), alerts, Jira issues, SNS summary.

    Args:
        digest: the day's spend, budgets, anomalies and findings (see ``tasks.notify.models``).
        approval_flow_run_id: the remediation run waiting for approval, for the digest's button.

    Returns:
        The outbox keys sent, pending, failed, skipped and rendered locally.

    Example:
        >>> report(DigestInput(day=date(2026, 11, 25), spend_usd=Decimal("980")))  # doctest: +SKIP
    """
    settings = load_settings()
    links = digest.links.model_copy(
        update={
            "run_url": digest.links.run_url or flow_run_url(settings, flow_run.get_id()),
            "approval_url": digest.links.approval_url
            or flow_run_url(settings, approval_flow_run_id),
        }
    )
    digest = digest.model_copy(update={"links": links})
    messages, source = plan_report_messages(digest)
    result = send_through_outbox(messages)
    result = result.model_copy(update={"summary_source": source})
    publish_outbox_artifact(
        result, f"FinOps report {digest.day.isoformat()}", f"report-{digest.day.isoformat()}"
    )
    return result


@flow(name="alert-anomalies")
def alert_anomalies(anomalies: list[AnomalySummary]) -> ReportResult:
    """Alert each anomaly above its threshold on its own, as soon as it is detected.

    The alert keys are the report's, so the daily report does not alert them again.
    """
    settings = load_settings()
    messages = plan_anomaly_alerts(anomalies, flow_run_url(settings, flow_run.get_id()))
    result = send_through_outbox(messages)
    publish_outbox_artifact(result, "FinOps anomaly alerts", "anomaly-alerts")
    return result
