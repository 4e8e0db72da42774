"""The evaluation notebook's numbers, read from the stores the pipeline writes.

Spend by service with the daily check's expected bands and anomalies, budget burn, savings found
by check and account, the remediation success rate from the audit log, and the time from an
event to its notification from the outbox.  The notebook (``notebooks/evaluation.ipynb``) only
draws and prints what these functions return, and ``tests/test_notebooks.py`` checks the same
numbers against the stores, so the logic lives here where it is linted, typed and tested.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd

CENT = Decimal("0.01")


class EvaluationError(ValueError):
    """A store the evaluation needs is empty or a parameter is wrong; the message says which."""


def usd(value: float | Decimal) -> Decimal:
    """Money for people: Decimal dollars rounded half-up to cents.

    Example:
        >>> usd(12.345)
        Decimal('12.35')
    """
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def date_range(cost_store_url: str, start: str = "", end: str = "") -> tuple[date, date]:
    """The evaluated days: ISO ``start``/``end``, or the last 90 stored days when left empty.

    Example:
        >>> date_range(".finops/costs", "2026-01-01", "2026-03-31")  # doctest: +SKIP
        (datetime.date(2026, 1, 1), datetime.date(2026, 3, 31))
    """
    from tasks.costs.store import CostStore

    try:
        first = date.fromisoformat(start) if start else None
        last = date.fromisoformat(end) if end else None
    except ValueError as error:
        raise EvaluationError(f"start/end must be ISO dates (YYYY-MM-DD): {error}") from None
    if first is None or last is None:
        stored = CostStore(cost_store_url).stored_days()
        if not stored:
            raise EvaluationError(
                f"the cost store {cost_store_url} holds no costs; run `finops ingest` first"
            )
        last = last or max(stored)
        first = first or max(min(stored), last - timedelta(days=89))
    if first > last:
        raise EvaluationError(f"start {first} is after end {last}; swap them")
    return first, last


@dataclass
class ServiceTrend:
    """Daily spend of the largest services with the detector's expected value and band.

    ``actual``, ``expected``, ``lower`` and ``upper`` are (services x days) arrays in USD per
    day; ``anomalies`` has one row per anomaly of those services in the range.
    """

    days: list[date]
    services: list[str]
    actual: np.ndarray
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    anomalies: pd.DataFrame
    total_usd: Decimal
    all_anomalies: pd.DataFrame = field(repr=False)


def service_trend(
    cost_store_url: str, start: date, end: date, top: int = 5, anomaly_settings: Any = None
) -> ServiceTrend:
    """Replay the daily check over ``start..end`` and keep the ``top`` services by spend.

    The detector judges each day only from the days before it (as the daily run did), so the
    bands and anomalies are the ones the check saw, or would have seen, on each day.

    Example:
        >>> first, last = date(2026, 1, 1), date(2026, 3, 31)
        >>> trend = service_trend(".finops/costs", first, last)  # doctest: +SKIP
        >>> trend.services[0]  # doctest: +SKIP
        'Amazon Elastic Compute Cloud - Compute'
    """
    from tasks.anomalies.pipeline import detect_cost_anomalies
    from tasks.costs.store import CostStore
    from tasks.settings import load_settings

    settings = anomaly_settings or load_settings().anomalies
    # History before the range, so the first evaluated day already has a band.
    history_start = start - timedelta(days=int(settings.lookback_days))
    frame = CostStore(cost_store_url).read(history_start, end)
    if frame.empty:
        raise EvaluationError(f"the cost store {cost_store_url} has no costs up to {end}")
    judged = settings.model_copy(update={"lookback_days": (end - history_start).days + 1})
    run = detect_cost_anomalies(frame, end, judged, since=start, with_root_causes=False)
    days = run.series.days
    shown = np.array([start <= d <= end for d in days])
    services = [(i, m.value) for i, m in enumerate(run.series.monitors) if m.type == "service"]
    spend = {name: float(np.nansum(run.detection.actual[i][shown])) for i, name in services}
    ranked = sorted(services, key=lambda pair: -spend[pair[1]])[:top]
    rows = [i for i, _ in ranked]
    in_range = frame[
        (pd.to_datetime(frame["charge_date"]).dt.date >= start)
        & (pd.to_datetime(frame["charge_date"]).dt.date <= end)
    ]
    anomaly_rows = pd.DataFrame(
        [
            {
                "monitor_id": a.monitor_id,
                "monitor_type": a.monitor.type,
                "service": a.monitor.value if a.monitor.type == "service" else "",
                "start": a.start,
                "end": a.end,
                "direction": a.direction,
                "impact_usd": usd(a.total_impact),
                "alert": a.alert,
            }
            for a in run.anomalies
        ],
        columns=[
            "monitor_id",
            "monitor_type",
            "service",
            "start",
            "end",
            "direction",
            "impact_usd",
            "alert",
        ],
    )
    names = [name for _, name in ranked]
    return ServiceTrend(
        days=[d for d, keep in zip(days, shown, strict=True) if keep],
        services=names,
        actual=run.detection.actual[rows][:, shown],
        expected=run.detection.expected[rows][:, shown],
        lower=run.detection.lower[rows][:, shown],
        upper=run.detection.upper[rows][:, shown],
        anomalies=anomaly_rows[anomaly_rows["service"].isin(names)].reset_index(drop=True),
        total_usd=usd(float(in_range[settings.cost_metric].astype(float).sum())),
        all_anomalies=anomaly_rows,
    )


def budget_burn(
    cost_store_url: str,
    start: date,
    end: date,
    daily_budget_usd: float,
    monthly_budget_usd: float | None = None,
    cost_metric: str = "effective_cost",
) -> pd.DataFrame:
    """Each day's spend against the daily budget, and month to date against the month's budget.

    Without a monthly budget, a month's budget is the daily budget times its days.

    Returns:
        One row per day: ``spend_usd``, ``budget_usd``, ``burn_pct`` (of the daily budget),
        ``mtd_spend_usd``, ``month_budget_usd``, ``mtd_burn_pct``; money as Decimal USD.

    Example:
        >>> first, last = date(2026, 1, 1), date(2026, 1, 31)
        >>> burn = budget_burn(".finops/costs", first, last, 1000)  # doctest: +SKIP
        >>> int(burn["burn_pct"].gt(100).sum())  # days over budget  # doctest: +SKIP
        2
    """
    from tasks.anomalies.budget import daily_totals
    from tasks.costs.store import CostStore

    if daily_budget_usd <= 0:
        raise EvaluationError(f"daily_budget_usd must be > 0, got {daily_budget_usd}")
    month_start = start.replace(day=1)
    frame = CostStore(cost_store_url).read(month_start, end, ["charge_date", cost_metric, "source"])
    totals = daily_totals(frame, cost_metric)
    all_days = [month_start + timedelta(days=n) for n in range((end - month_start).days + 1)]
    totals = totals.reindex(all_days, fill_value=0.0)
    months = pd.Series([f"{d:%Y-%m}" for d in all_days], index=totals.index)
    month_to_date = totals.groupby(months).cumsum()
    rows = []
    for day, spend, mtd in zip(all_days, totals.to_numpy(), month_to_date.to_numpy(), strict=True):
        if day < start:
            continue
        month_days = calendar.monthrange(day.year, day.month)[1]
        month_budget = monthly_budget_usd or daily_budget_usd * month_days
        rows.append(
            {
                "day": day,
                "spend_usd": usd(float(spend)),
                "budget_usd": usd(daily_budget_usd),
                "burn_pct": round(100 * float(spend) / daily_budget_usd, 1),
                "mtd_spend_usd": usd(float(mtd)),
                "month_budget_usd": usd(month_budget),
                "mtd_burn_pct": round(100 * float(mtd) / month_budget, 1),
            }
        )
    return pd.DataFrame(rows)


def findings_frame(findings_url: str) -> pd.DataFrame:
    """Every finding in the store: check, account, region, resource, status, savings (Decimal)."""
    from tasks.findings.store import FindingsStore

    rows = [
        {
            "fingerprint": s.fingerprint,
            "check": s.finding.check,
            "account_id": s.finding.account_id,
            "region": s.finding.region,
            "resource_id": s.finding.resource_id,
            "status": str(s.status.value),
            "monthly_savings_usd": usd(s.finding.monthly_savings_usd or Decimal(0)),
            "first_seen": s.first_seen,
        }
        for s in FindingsStore(findings_url).list()
    ]
    columns = [
        "fingerprint",
        "check",
        "account_id",
        "region",
        "resource_id",
        "status",
        "monthly_savings_usd",
        "first_seen",
    ]
    return pd.DataFrame(rows, columns=columns)


def savings_by(findings: pd.DataFrame, column: str) -> pd.DataFrame:
    """Findings and monthly savings (USD per month) found, and realised by remediation, by group.

    Example:
        >>> frame = pd.DataFrame({"check": ["a", "a"], "status": ["open", "remediated"],
        ...     "monthly_savings_usd": [Decimal("1.50"), Decimal("2.00")]})
        >>> savings_by(frame, "check").loc["a", "found_usd_per_month"]
        Decimal('3.50')
    """
    out = []
    for key, group in findings.groupby(column, sort=False):
        remediated = group[group["status"] == "remediated"]
        out.append(
            {
                column: key,
                "findings": len(group),
                "found_usd_per_month": sum(group["monthly_savings_usd"], Decimal(0)),
                "remediated": len(remediated),
                "realised_usd_per_month": sum(remediated["monthly_savings_usd"], Decimal(0)),
            }
        )
    table = pd.DataFrame(
        out,
        columns=[
            column,
            "findings",
            "found_usd_per_month",
            "remediated",
            "realised_usd_per_month",
        ],
    ).set_index(column)
    return table.sort_values("found_usd_per_month", ascending=False)


@dataclass
class RemediationOutcome:
    """Actions from the audit log: counts, the automation success rate, and who approved what."""

    attempted: int
    succeeded: int
    skipped: int
    failed: int
    success_rate: float | None
    skip_reasons: dict[str, int]
    actions: pd.DataFrame
    approvals: pd.DataFrame


def remediation_outcome(audit_log_url: str, dry_run: bool | None = False) -> RemediationOutcome:
    """Summarise every action the audit log records (the last record of each action counts).

    Args:
        audit_log_url: the audit log (path or ``s3://``).
        dry_run: only live actions (False, default), only dry runs (True), or both (None).

    Example:
        >>> remediation_outcome(".finops/audit.jsonl").success_rate  # doctest: +SKIP
        1.0
    """
    from tasks.remediation.audit import AuditLog
    from tasks.remediation.report import ActionResult, summarise

    records = AuditLog(audit_log_url).read()
    last: dict[tuple[str, str, str], Any] = {}
    for record in records:
        if record.kind != "action" or (dry_run is not None and record.dry_run != dry_run):
            continue
        last[(record.run_id, record.fingerprint, record.action)] = record
    results = [
        ActionResult(r.fingerprint, r.resource_id, r.check, r.action, r.result, r.reason)
        for r in last.values()
    ]
    summary = summarise(results)
    actions = pd.DataFrame(
        [
            {
                "at": r.at,
                "run_id": r.run_id,
                "approver": r.approver,
                "check": r.check,
                "resource_id": r.resource_id,
                "action": r.action,
                "result": r.result,
                "reason": r.reason,
            }
            for r in last.values()
        ],
        columns=["at", "run_id", "approver", "check", "resource_id", "action", "result", "reason"],
    )
    approvals = pd.DataFrame(
        [
            {"at": r.at, "run_id": r.run_id, "approver": r.approver, "decision": r.decision}
            for r in records
            if r.kind == "approval"
        ],
        columns=["at", "run_id", "approver", "decision"],
    )
    return RemediationOutcome(
        attempted=summary.attempted,
        succeeded=summary.succeeded,
        skipped=summary.skipped,
        failed=summary.failed,
        success_rate=summary.success_rate,
        skip_reasons=summary.skip_reasons,
        actions=actions,
        approvals=approvals,
    )


def notification_latency(findings_url: str) -> pd.DataFrame:
    """Time from an event's detection to its notification, one row per notified event.

    Measured from the stores, not from logs:

    * an anomaly alert: from the moment the daily check first recorded the anomaly
      (``first_seen`` in the anomaly store) to its Slack alert in the outbox;
    * a finding: from the moment a scan first saw it (``first_seen`` in the findings store) to
      the first daily digest queued after it.

    The notification time is ``sent_at`` when the channel delivered it, else ``created_at``
    (the message was queued, or only rendered because no channel is configured: status
    ``local``).  AWS's own delay in publishing cost data (hours) comes before detection and is
    not in these figures.

    Example:
        >>> notification_latency("sqlite:///.finops/findings.db")  # doctest: +SKIP
    """
    from tasks.anomalies.store import AnomalyStore
    from tasks.notify.outbox import Outbox

    messages = Outbox(findings_url).messages()
    rows: list[dict[str, Any]] = []
    anomalies = {a.anomaly_id: a for a in AnomalyStore(findings_url).list()}
    for message in messages:
        if message.kind == "alert" and message.op == "post" and message.key.count("|") == 2:
            anomaly = anomalies.get(message.key.rsplit("|", 1)[1])
            if anomaly is not None:
                rows.append(
                    _latency_row("anomaly alert", anomaly.anomaly_id, anomaly.first_seen, message)
                )
    digests = sorted(
        (m for m in messages if m.kind == "digest" and m.op == "post"), key=lambda m: m.created_at
    )
    for finding in findings_frame(findings_url).itertuples():
        seen: datetime = finding.first_seen  # type: ignore[assignment]
        digest = next((m for m in digests if m.created_at >= seen), None)
        if digest is not None:
            rows.append(_latency_row("finding in digest", str(finding.fingerprint), seen, digest))
    return pd.DataFrame(
        rows,
        columns=["kind", "subject", "event_at", "notified_at", "status", "latency_s"],
    )


def _latency_row(kind: str, subject: str, event_at: datetime, message: Any) -> dict[str, Any]:
    notified_at = message.sent_at or message.created_at
    return {
        "kind": kind,
        "subject": subject,
        "event_at": event_at,
        "notified_at": notified_at,
        "status": str(message.status.value),
        "latency_s": (notified_at - event_at).total_seconds(),
    }


def latency_summary(latency: pd.DataFrame) -> pd.DataFrame:
    """Count, median and 95th percentile of the latency in seconds, by kind of notification."""
    if latency.empty:
        return pd.DataFrame(columns=["count", "median_s", "p95_s", "max_s"])
    grouped = latency.groupby("kind")["latency_s"]
    return pd.DataFrame(
        {
            "count": grouped.count(),
            "median_s": grouped.median().round(1),
            "p95_s": grouped.quantile(0.95).round(1),
            "max_s": grouped.max().round(1),
        }
    )
