"""Thin Prefect tasks of the notify capability: plan, deliver through the outbox, preview.

The flows load the settings once and pass the sections these tasks need.  Secrets stay
``SecretStr`` (or Prefect Secret block names) until the delivery adapters resolve them inside the
delivery task, and every text that reaches a log or an artifact is redacted.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from prefect.artifacts import create_markdown_artifact
from prefect.logging import get_run_logger

from tasks.anomalies.models import AnomalyCheckResult, AnomalySummary
from tasks.findings.model import Finding
from tasks.notify.bedrock import bedrock_client, explain_anomaly, summarize_day
from tasks.notify.deliver import DeliveryReport, connect_channels, deliver_pending
from tasks.notify.inputs import digest_from_results, resolved_since
from tasks.notify.models import DigestInput, DigestLinks, ReportResult
from tasks.notify.outbox import NewMessage, Outbox, OutboxStatus
from tasks.notify.plan import PlanOptions, plan_alerts, plan_report, should_alert
from tasks.notify.preview import outbox_markdown
from tasks.settings import NotifySettings, Settings
from tasks.steps import step


def plan_options(settings: Settings) -> PlanOptions:
    """The planning knobs from the settings."""
    return PlanOptions(
        top_n=settings.notify.digest_top_n,
        alert_min_impact_usd=settings.anomalies.alert_min_impact_usd,
        alert_min_impact_pct=settings.anomalies.alert_min_impact_pct,
        alert_drops=settings.anomalies.alert_drops,
        jira_high_impact_usd=settings.notify.jira_high_impact_usd,
        jira_medium_impact_usd=settings.notify.jira_medium_impact_usd,
        chart=settings.notify.slack_chart,
    )


def flow_run_url(settings: Settings, flow_run_id: str | None) -> str | None:
    """The Prefect UI page of a flow run.

    Example:
        >>> from tasks.settings import load_settings
        >>> flow_run_url(load_settings(), "abc")
        'http://127.0.0.1:4200/runs/flow-run/abc'
    """
    if not flow_run_id:
        return None
    return f"{settings.notify.prefect_ui_url.rstrip('/')}/runs/flow-run/{flow_run_id}"


def _bedrock(notify: NotifySettings) -> Any | None:
    return bedrock_client(notify.bedrock_region) if notify.bedrock_model_id else None


def _explanations(
    anomalies: list[AnomalySummary], client: Any | None, notify: NotifySettings
) -> dict[str, str]:
    return {
        a.id: explain_anomaly(a, client, notify.bedrock_model_id, notify.bedrock_max_tokens).text
        for a in anomalies
    }


@step("plan-report-messages")
def plan_report_messages(
    digest: DigestInput, options: PlanOptions, notify: NotifySettings
) -> tuple[list[NewMessage], str]:
    """Narrate (Bedrock or template) and plan the day's messages with their keys."""
    alerted = [a for a in digest.anomalies if should_alert(a, options)]
    client = _bedrock(notify)
    summary = summarize_day(digest, client, notify.bedrock_model_id, notify.bedrock_max_tokens)
    explanations = _explanations(alerted, client, notify)
    return plan_report(digest, summary.text, explanations, options), summary.source


@step("plan-anomaly-alerts")
def plan_anomaly_alerts(
    anomalies: list[AnomalySummary],
    run_url: str | None,
    options: PlanOptions,
    notify: NotifySettings,
) -> list[NewMessage]:
    """Plan the standalone alerts (and Jira issues) of anomalies above their threshold."""
    alerted = [a for a in anomalies if should_alert(a, options)]
    explanations = _explanations(alerted, _bedrock(notify), notify)
    return plan_alerts(anomalies, explanations, run_url, options)


@step("send-through-outbox")
def send_through_outbox(
    messages: list[NewMessage], findings_url: str, notify: NotifySettings
) -> ReportResult:
    """Store the messages under their keys, then deliver everything pending (older too).

    The channels' secrets are resolved here, by the delivery adapters (``connect_channels``).
    """
    logger = get_run_logger()
    outbox = Outbox(findings_url, max_attempts=notify.outbox_max_attempts)
    channels = connect_channels(notify)
    for name, reason in sorted(channels.broken.items()):
        logger.warning("%s is configured but cannot be used now: %s", name, reason)
    # Messages to a configured channel are stored pending even when it is broken right now.
    new = outbox.enqueue(messages, channels.configured)
    report: DeliveryReport = deliver_pending(outbox, channels)
    report.errors.update({f"channel {n}": r for n, r in channels.broken.items()})
    report.pending.extend(
        m.key
        for m in outbox.messages(statuses=[OutboxStatus.PENDING])
        if m.channel in channels.broken
    )
    planned = [m.key for m in messages]
    local = [m.key for m in outbox.messages(statuses=[OutboxStatus.LOCAL], keys=planned)]
    logger.info(
        "outbox: %d planned, %d new, %d sent, %d pending, %d failed, %d skipped, %d local "
        "(channels: %s)",
        len(planned),
        len(new),
        len(report.sent),
        len(report.pending),
        len(report.failed),
        len(report.skipped),
        len(local),
        ", ".join(sorted(channels.configured)) or "none configured",
    )
    return ReportResult(
        planned=planned,
        new=new,
        sent=report.sent,
        pending=report.pending,
        failed=report.failed,
        skipped=report.skipped,
        local=local,
        errors=report.errors,
    )


@step("publish-outbox-artifact")
def publish_outbox_artifact(
    result: ReportResult, title: str, key: str, findings_url: str, notify: NotifySettings
) -> str:
    """A markdown artifact with every planned message as it was (or would have been) sent."""
    outbox = Outbox(findings_url)
    keys = list(dict.fromkeys(result.planned + result.sent + result.pending + result.failed))
    messages = outbox.messages(keys=keys)
    redactor = connect_channels(notify).redactor
    extra: dict[str, Any] = {
        "sent": len(result.sent),
        "pending": len(result.pending),
        "failed": len(result.failed),
        "not configured (local)": len(result.local),
        "summary written by": result.summary_source,
    }
    markdown = redactor.redact(outbox_markdown(messages, title, extra))
    artifact_key = re.sub(r"[^a-z0-9-]", "-", key.lower())
    create_markdown_artifact(markdown=markdown, key=artifact_key, description=title)
    return markdown


#: Days of cost history read for the digest: the 30-day chart and four weeks of the same weekday.
HISTORY_DAYS = 35


@step("collect-report-input")
def collect_report_input(
    day: date,
    anomaly_result: AnomalyCheckResult | None,
    findings: list[Finding] | None,
    resolved_after: datetime | None,
    links: DigestLinks,
    cost_store_url: str,
    findings_url: str,
    cost_metric: str,
) -> DigestInput:
    """The digest input from the day's results and the stores.

    Spend (``cost_metric``) comes from the cost store; findings, when not given, are the
    findings store's actionable ones (open, notified, failed); findings resolved since
    ``resolved_after`` close their Jira issues.
    """
    from tasks.anomalies.budget import daily_totals
    from tasks.anomalies.pipeline import load_cost_frame
    from tasks.findings.store import ACTIONABLE, FindingsStore

    frame = load_cost_frame(cost_store_url, day, HISTORY_DAYS)
    totals = daily_totals(frame, cost_metric)
    store = FindingsStore(findings_url)
    if findings is None:
        findings = [s.finding for s in store.list(statuses=sorted(ACTIONABLE))]
    resolved = resolved_since(store, resolved_after) if resolved_after is not None else []
    get_run_logger().info(
        "report input for %s: %d days of spend, %d findings, %d resolved",
        day,
        len(totals),
        len(findings),
        len(resolved),
    )
    return digest_from_results(
        day,
        {d: float(v) for d, v in totals.items() if isinstance(d, date)},
        anomaly_result,
        findings,
        resolved,
        links,
    )


@step("mark-findings-notified")
def mark_findings_notified(
    digest: DigestInput, result: ReportResult, findings_url: str
) -> list[str]:
    """Move the digest's open findings to ``notified`` once the digest reached Slack."""
    from tasks.findings.model import FindingStatus
    from tasks.findings.store import FindingsStore, TransitionError

    if f"slack|digest|{digest.day.isoformat()}" not in result.sent:
        return []
    store = FindingsStore(findings_url)
    moved: list[str] = []
    for finding in digest.findings:
        try:
            if store.get(finding.fingerprint).status is not FindingStatus.OPEN:
                continue
            store.transition(
                finding.fingerprint,
                FindingStatus.NOTIFIED,
                actor="report",
                reason=f"in the Slack digest of {digest.day.isoformat()}",
            )
        except (KeyError, TransitionError):
            continue  # not in this store, or changed meanwhile: nothing to record
        moved.append(finding.fingerprint)
    return moved
