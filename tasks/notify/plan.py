"""Pure planning of the day's outgoing messages, each with its idempotency key.

Keys are ``channel|kind|date-or-id|fingerprint[|content digest]``: the same day's digest, the
same anomaly's alert and the same finding group's content always get the same key, so a rerun
plans nothing the outbox has not already got; a change (an anomaly growing, a group gaining a
resource) gets a new key and becomes an update or a comment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from tasks.anomalies.models import AnomalySummary
from tasks.notify.issues import anomaly_issue, group_issue, label_for
from tasks.notify.models import DigestInput, group_findings
from tasks.notify.outbox import NewMessage
from tasks.notify.render import render_anomaly_alert, render_digest
from tasks.notify.texts import dumps, summary_json, template_explanation

#: Anomaly statuses after which its alert is edited to say so and its Jira issue closed.
CLOSED = frozenset({"resolved", "false_positive"})


@dataclass(frozen=True)
class PlanOptions:
    """The knobs planning needs, taken from the settings by the caller.

    Example:
        >>> PlanOptions().top_n
        10
    """

    top_n: int = 10
    alert_min_impact_usd: float = 100.0
    alert_min_impact_pct: float = 20.0
    alert_drops: bool = False
    jira_high_impact_usd: float = 1000.0
    jira_medium_impact_usd: float = 100.0
    chart: bool = True


def digest_of(payload: object) -> str:
    """A short digest of any JSON-able content, for keys that change when content changes."""
    return hashlib.sha256(dumps(payload).encode()).hexdigest()[:12]


def should_alert(anomaly: AnomalySummary, options: PlanOptions) -> bool:
    """Whether an anomaly gets its own alert: its own flag, else AWS-like thresholds.

    Both thresholds must hold (impact >= USD amount and >= percent); drops only when enabled.

    Example:
        >>> from datetime import date
        >>> a = AnomalySummary(id="a", monitor="m", start=date(2026, 11, 1),
        ...     actual_usd=Decimal(300), expected_usd=Decimal(100), impact_usd=Decimal(200),
        ...     impact_pct=200.0)
        >>> should_alert(a, PlanOptions())
        True
    """
    if anomaly.status not in {"open", "acknowledged"}:
        return False
    if anomaly.direction == "drop" and not options.alert_drops:
        return False
    if anomaly.alert is not None:
        return anomaly.alert
    return (
        abs(anomaly.impact_usd) >= Decimal(str(options.alert_min_impact_usd))
        and abs(anomaly.impact_pct) >= options.alert_min_impact_pct
    )


def plan_alerts(
    anomalies: list[AnomalySummary],
    explanations: dict[str, str],
    run_url: str | None,
    options: PlanOptions,
) -> list[NewMessage]:
    """One Slack alert per anomaly above its threshold (then updates), one Jira issue each.

    Args:
        anomalies: the anomalies known today.
        explanations: text per anomaly id (Bedrock-checked or template); template if missing.
        run_url: link to the Prefect run.
        options: thresholds and Jira priority levels.
    """
    messages: list[NewMessage] = []
    for anomaly in anomalies:
        explanation = explanations.get(anomaly.id) or template_explanation(anomaly)
        alert = render_anomaly_alert(anomaly, explanation, run_url).payload()
        post_key = f"slack|alert|{anomaly.id}"
        # What people see change: not the run link or the wording, which vary between runs.
        facts = [
            str(anomaly.end),
            str(anomaly.impact_usd),
            anomaly.status,
            [(c.dimension, c.value, str(c.impact_usd)) for c in anomaly.causes],
        ]
        if anomaly.status in CLOSED:
            # Only an anomaly that was alerted has a message to edit and an issue to close.
            if not should_alert(anomaly.model_copy(update={"status": "open"}), options):
                continue
            messages.append(
                NewMessage(
                    key=f"slack|alert-update|{anomaly.id}|{digest_of(facts)}",
                    channel="slack",
                    kind="alert",
                    op="update",
                    payload=alert,
                    parent_key=post_key,
                )
            )
            reason = (
                "Marked a false positive."
                if anomaly.status == "false_positive"
                else "Spend returned to the expected band."
            )
            messages.append(
                NewMessage(
                    key=f"jira|anomaly-resolve|{anomaly.id}",
                    channel="jira",
                    kind="anomaly",
                    op="resolve",
                    payload={"label": label_for(anomaly.id), "comment": f"{reason} {explanation}"},
                )
            )
            continue
        if not should_alert(anomaly, options):
            continue
        messages.append(
            NewMessage(key=post_key, channel="slack", kind="alert", op="post", payload=alert)
        )
        # The same alert message is edited while the anomaly lasts (chat.update, bot only);
        # delivery skips an update whose content equals what was posted.
        messages.append(
            NewMessage(
                key=f"slack|alert-update|{anomaly.id}|{digest_of(facts)}",
                channel="slack",
                kind="alert",
                op="update",
                payload=alert,
                parent_key=post_key,
            )
        )
        spec = anomaly_issue(
            anomaly, explanation, options.jira_high_impact_usd, options.jira_medium_impact_usd
        )
        messages.append(
            NewMessage(
                key=f"jira|anomaly|{anomaly.id}|{digest_of(facts)}",
                channel="jira",
                kind="anomaly",
                op="upsert",
                payload=spec.model_dump(),
            )
        )
    return messages


def plan_report(
    digest: DigestInput,
    summary: str,
    explanations: dict[str, str],
    options: PlanOptions,
) -> list[NewMessage]:
    """Every message of the daily report: alerts, digest (+ thread, chart), Jira, SNS.

    Example:
        >>> from datetime import date
        >>> msgs = plan_report(DigestInput(day=date(2026, 11, 25), spend_usd=Decimal(5)), "s",
        ...                    {}, PlanOptions())
        >>> [m.key for m in msgs]
        ['slack|digest|2026-11-25', 'sns|summary|2026-11-25']
    """
    day = digest.day.isoformat()
    messages = plan_alerts(list(digest.anomalies), explanations, digest.links.run_url, options)
    rendered = render_digest(digest, summary, options.top_n)
    digest_key = f"slack|digest|{day}"
    messages.append(
        NewMessage(
            key=digest_key, channel="slack", kind="digest", op="post", payload=rendered.payload()
        )
    )
    for index, reply in enumerate(rendered.thread):
        messages.append(
            NewMessage(
                key=f"{digest_key}|thread|{index}",
                channel="slack",
                kind="digest-thread",
                op="post",
                payload=reply.payload(),
                parent_key=digest_key,
            )
        )
    if options.chart and digest.daily_costs:
        series = sorted(digest.daily_costs, key=lambda c: c.day)[-30:]
        messages.append(
            NewMessage(
                key=f"{digest_key}|chart",
                channel="slack",
                kind="chart",
                op="chart",
                payload={
                    "title": f"Daily spend, USD per day, {series[0].day} to {series[-1].day}",
                    "filename": f"finops-spend-{day}.png",
                    "series": [[c.day.isoformat(), str(c.cost_usd)] for c in series],
                },
                parent_key=digest_key,
            )
        )
    open_groups = group_findings(list(digest.findings))
    for group in open_groups:
        spec = group_issue(group, options.jira_high_impact_usd, options.jira_medium_impact_usd)
        members = sorted(f.fingerprint for f in group.findings)
        messages.append(
            NewMessage(
                key=f"jira|group|{group.fingerprint}|{digest_of(members)}",
                channel="jira",
                kind="finding-group",
                op="upsert",
                payload=spec.model_dump(),
            )
        )
    open_fingerprints = {g.fingerprint for g in open_groups}
    for group in group_findings(list(digest.resolved_findings)):
        if group.fingerprint in open_fingerprints:
            continue  # partly resolved: the group's comment above carries the new table
        messages.append(
            NewMessage(
                key=f"jira|group-resolve|{group.fingerprint}|{day}",
                channel="jira",
                kind="finding-group",
                op="resolve",
                payload={
                    "label": label_for(group.fingerprint),
                    "comment": (
                        f"Resolved on {day}: the scan no longer finds any {group.check} "
                        f"resource in account {group.account_id}."
                    ),
                },
            )
        )
    messages.append(
        NewMessage(
            key=f"sns|summary|{day}",
            channel="sns",
            kind="summary",
            op="publish",
            payload=summary_json(digest, summary),
        )
    )
    return messages
