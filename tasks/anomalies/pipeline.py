"""One daily anomaly check, pure: cost frame in, scored monitors, anomalies with root causes out.

The flow (``flows/check_cost_anomalies.py``) and the CLI (``finops anomalies``) both call
:func:`detect_cost_anomalies`, so they report the same anomalies for the same day.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from tasks.anomalies.alerting import ALERT_SCORE
from tasks.anomalies.budget import (
    AwsBudget,
    BudgetState,
    check_aws_budgets,
    check_configured_budgets,
    daily_totals,
    get_budgets,
)
from tasks.anomalies.detector import Detection, DetectorConfig
from tasks.anomalies.grouping import Anomaly, Thresholds, baseline_during, group_anomalies
from tasks.anomalies.monitors import (
    MONITOR_TYPES,
    MonitorSeries,
    MonitorSettings,
    MonitorType,
    run_monitors,
)
from tasks.anomalies.report import anomaly_rows, render_markdown, render_text, stored_rows
from tasks.anomalies.root_cause import rank_causes
from tasks.anomalies.store import AnomalyStore, RecordOutcome, StoredAnomaly
from tasks.settings import AnomalySettings, AwsSettings, BudgetSettings, Settings

#: Anomalies that ended more than this many days before the judged day are not reported again.
RECENT_DAYS = 7

#: Days a first check judges when the anomaly store holds nothing yet (13 months, what a CUR or
#: FOCUS export holds): an anomaly that began months ago and still lasts is open today.
FIRST_RUN_DAYS = 400


@dataclass
class AnomalyRun:
    """The result of judging one day: every monitor's series and scores, and the anomalies."""

    as_of: date
    series: MonitorSeries
    detection: Detection
    config: DetectorConfig
    anomalies: list[Anomaly]

    @property
    def alerts(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.alert]


def load_cost_frame(store_url: str, as_of: date, lookback_days: int) -> pd.DataFrame:
    """The cost rows the check needs: ``lookback_days`` through ``as_of`` from the cost store."""
    from tasks.costs.store import CostStore

    first = as_of - timedelta(days=lookback_days - 1)
    return CostStore(store_url).read(first, as_of)


def monitor_settings_from(
    anomalies: AnomalySettings, types: Iterable[MonitorType] | None = None
) -> MonitorSettings:
    """The pure :class:`MonitorSettings` from ``settings.anomalies``."""
    return MonitorSettings(
        cost_metric=anomalies.cost_metric,
        charge_categories=tuple(anomalies.charge_categories),
        exclude_services=tuple(anomalies.exclude_services),
        tag_key=anomalies.tag_key,
        monitor_types=tuple(types) if types else MONITOR_TYPES,
    )


def detector_config(anomaly_settings: AnomalySettings) -> DetectorConfig:
    """The daily-cost detector configuration from ``settings.anomalies``."""
    return DetectorConfig(
        period=7,
        min_history=anomaly_settings.min_history_days,
        band_width=anomaly_settings.band_width,
    )


def thresholds_from(anomaly_settings: AnomalySettings) -> Thresholds:
    """The alert thresholds from ``settings.anomalies``."""
    return Thresholds(
        min_impact_usd=anomaly_settings.alert_min_impact_usd,
        min_impact_pct=anomaly_settings.alert_min_impact_pct,
        alert_drops=anomaly_settings.alert_drops,
        overrides=dict(anomaly_settings.monitor_thresholds),
        match=anomaly_settings.alert_match,
    )


def detect_cost_anomalies(
    frame: pd.DataFrame,
    as_of: date,
    anomaly_settings: AnomalySettings,
    since: date | None = None,
    with_root_causes: bool = True,
    first: date | None = None,
    keep_ids: Collection[str] = (),
) -> AnomalyRun:
    """Judge every monitor through ``as_of`` and return the recent anomalies that matter.

    An anomaly the detector's adapting band has absorbed (a level shift, a drift, a new service)
    but whose spend still stands beyond the baseline held from before it began is still going
    on: it is returned ongoing, dated to ``as_of`` (see :func:`still_going_on`).

    Args:
        frame: cost rows (``COST_SCHEMA``) covering the history before ``as_of``.
        as_of: the last day judged (normally yesterday).
        anomaly_settings: ``settings.anomalies`` (cost metric, thresholds, tag key ...).
        since: report anomalies still running on or after this day (default: the last
            ``RECENT_DAYS`` days); ``date.min`` reports every anomaly in the frame.
        with_root_causes: rank root causes for anomalies that meet their threshold.
        first: the first day judged (default: ``lookback_days`` before ``as_of``).
        keep_ids: anomaly ids returned whatever ``since`` says (the store's open anomalies, so
            the store can resolve them).

    Returns:
        The run: series, detection, and anomalies that meet their thresholds (either
        direction), largest impact first.
    """
    lookback = anomaly_settings.lookback_days
    first = first or as_of - timedelta(days=lookback - 1)
    days = pd.to_datetime(frame["charge_date"]).dt.date
    window = frame[(days >= first) & (days <= as_of)] if len(frame) else frame
    config = detector_config(anomaly_settings)
    series, detection = run_monitors(
        window, monitor_settings_from(anomaly_settings), config, start=None, end=as_of
    )
    grouped = group_anomalies(
        series,
        detection,
        thresholds_from(anomaly_settings),
        merge_gap=anomaly_settings.merge_gap_days,
        period=config.period,
    )
    since = since if since is not None else as_of - timedelta(days=RECENT_DAYS)
    thresholds = thresholds_from(anomaly_settings)
    # A slow climb crosses the band only briefly (the band adapts) although its spend never
    # comes back: judged through the last day, its impact may reach the thresholds.
    kept = [
        still_going_on(series, detection, a, config.period, config.band_width)
        if a.meets_threshold
        else rejudged(
            still_going_on(series, detection, a, config.period, config.band_width, True),
            thresholds,
        )
        for a in grouped
    ]
    kept = [a for a in kept if a.meets_threshold]
    kept = [a for a in kept if a.ongoing or a.end >= since or a.anomaly_id in keep_ids]
    if with_root_causes:
        kept = [
            replace(
                a,
                root_causes=tuple(
                    rank_causes(series.frame, a.monitor, a.start, a.end, a.direction, config.period)
                ),
            )
            for a in kept
        ]
    return AnomalyRun(as_of, series, detection, config, kept)


def rejudged(anomaly: Anomaly, thresholds: Thresholds) -> Anomaly:
    """The anomaly with its thresholds judged again on its totals (once it runs to today)."""
    if not anomaly.ongoing or anomaly.meets_threshold:
        return anomaly
    meets = thresholds.meets(anomaly.monitor, anomaly.total_impact, anomaly.impact_pct)
    alert = meets and (anomaly.direction == "increase" or thresholds.alert_drops)
    alert = alert and anomaly.max_score >= ALERT_SCORE
    return replace(anomaly, meets_threshold=meets, alert=alert)


def still_going_on(
    series: MonitorSeries,
    detection: Detection,
    anomaly: Anomaly,
    period: int = 7,
    band_width: float = 4.0,
    throughout: bool = False,
) -> Anomaly:
    """The anomaly, ongoing through the last day judged when its spend has not come back.

    The detector's band adapts: after a level shift, a drift or a new service it calls the new
    level normal within weeks, and the anomaly would close although spend never came back.
    It is still going on when every day of the last season stands beyond the expectation held
    from before its start (:func:`~tasks.anomalies.grouping.baseline_during`) by more than the
    band's half-width at its start; its dates and totals then run through the last day.
    (``tests/test_anomaly_view.py`` checks it on the sandbox's lasting anomalies.)
    """
    if anomaly.ongoing or not series.days:
        return anomaly
    row = series.index_of(anomaly.monitor_id)
    start = series.days.index(anomaly.start)
    last = len(series.days) - 1
    if last - start < period:
        return anomaly
    held = baseline_during(detection.expected[row], start, last, period)
    sign = 1.0 if anomaly.direction == "increase" else -1.0
    actual = detection.actual[row, start : last + 1]
    # ``throughout``: every day after its first season, not only the last season (for anomalies
    # too small to report on their own days: only a change that never came back is extended).
    tail = sign * (
        actual[period:] - held[period:] if throughout else actual[-period:] - held[-period:]
    )
    band = band_width * float(detection.scale[row, start])
    if np.isnan(band) or np.isnan(tail).any() or not bool(np.all(tail > band)):
        return anomaly
    impact = actual - held
    total_expected = float(np.nansum(held))
    total_impact = float(np.nansum(impact))
    pct = 100.0 * total_impact / abs(total_expected) if abs(total_expected) > 1e-9 else None
    peak = start + int(np.nanargmax(np.where(np.isnan(impact), -np.inf, sign * impact)))
    return replace(
        anomaly,
        end=series.days[last],
        peak=series.days[peak],
        days=last - start + 1,
        total_actual=float(np.nansum(actual)),
        total_expected=total_expected,
        total_impact=total_impact,
        impact_pct=pct,
        max_score=float(np.nanmax(detection.score[row, start : last + 1])),
        ongoing=True,
    )


def judging_window(
    store: AnomalyStore, as_of: date, lookback_days: int
) -> tuple[date, list[StoredAnomaly]]:
    """The first day the check must judge, and the anomalies the store holds open.

    The window covers ``lookback_days``; an empty store (a first check) reaches back
    ``FIRST_RUN_DAYS``, so what began months ago and still lasts is recorded; and an open
    anomaly's start is always covered with ``lookback_days`` of history before it, so the
    detector sees it with the same start (and the same id) every day it lasts.
    """
    first = as_of - timedelta(days=lookback_days - 1)
    if not store.list():
        first = min(first, as_of - timedelta(days=FIRST_RUN_DAYS - 1))
    still_open = store.open_on(as_of)
    if still_open:
        earliest = min(s.start_date for s in still_open)
        first = min(first, earliest - timedelta(days=lookback_days))
    return first, still_open


@dataclass
class CheckResult:
    """One day's check: the run, what the store changed, the budget states and the table."""

    run: AnomalyRun
    budgets: list[BudgetState]
    rows: list[dict[str, str]]
    table_text: str
    table_markdown: str
    recorded: RecordOutcome | None = None


def judge_budgets(
    frame: pd.DataFrame,
    as_of: date,
    budget_settings: BudgetSettings,
    aws_budgets: list[AwsBudget] | None = None,
) -> list[BudgetState]:
    """Budget states for ``as_of``: AWS Budgets when given, else the configured budgets."""
    thresholds = list(budget_settings.alert_thresholds_pct)
    if aws_budgets is not None:
        return check_aws_budgets(aws_budgets, as_of, thresholds)
    totals = daily_totals(frame, budget_settings.cost_metric)
    return check_configured_budgets(
        totals, as_of, budget_settings.daily_usd, budget_settings.monthly_usd, thresholds
    )


def read_aws_budgets(aws_settings: AwsSettings) -> list[AwsBudget]:
    """The payer account's AWS Budgets, through the project's AWS access layer."""
    from tasks.aws.session import AwsAccess

    access = AwsAccess(aws_settings)
    account = access.caller_account_id
    return get_budgets(access.client("budgets", account, "us-east-1"), account)


def check_day(
    settings: Settings,
    as_of: date,
    record: bool = True,
    frame: pd.DataFrame | None = None,
    now: datetime | None = None,
) -> CheckResult:
    """The whole daily check without Prefect (the CLI's path; the flow runs the same stages).

    Args:
        settings: the project settings.
        as_of: the day judged.
        record: write the anomalies to the anomaly store (alert-once bookkeeping).
        frame: cost rows to judge instead of reading the cost store.
        now: the time recorded in the store.
    """
    lookback = settings.anomalies.lookback_days
    store = AnomalyStore(settings.findings_url)
    first, still_open = judging_window(store, as_of, lookback)
    if frame is None:
        frame = load_cost_frame(settings.cost_store_url, as_of, (as_of - first).days + 1)
    keep = {s.anomaly_id for s in still_open}
    run = detect_cost_anomalies(frame, as_of, settings.anomalies, first=first, keep_ids=keep)
    recorded = store.record(run.anomalies, now=now) if record else None
    aws_budgets = read_aws_budgets(settings.aws) if settings.budget.use_aws_budgets else None
    budgets = judge_budgets(frame, as_of, settings.budget, aws_budgets)
    if record:
        rows = stored_rows(store.on_day(as_of, RECENT_DAYS), as_of)
    else:
        statuses = {s.anomaly_id: s.status.value for s in store.list(since=first)}
        rows = anomaly_rows(run.anomalies, statuses)
    text = render_text(rows, as_of)
    if frame.empty:
        text = (
            f"No cost data through {as_of.isoformat()} in the cost store "
            f"({settings.cost_store_url}); run `finops ingest` first."
        )
    return CheckResult(
        run=run,
        budgets=budgets,
        rows=rows,
        table_text=text,
        table_markdown=render_markdown(rows, as_of),
        recorded=recorded,
    )
