"""One daily anomaly check, pure: cost frame in, scored monitors, anomalies with root causes out.

The flow (``flows/check_cost_anomalies.py``) and the CLI (``finops anomalies``) both call
:func:`detect_cost_anomalies`, so they report the same anomalies for the same day.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import pandas as pd

from tasks.anomalies.detector import Detection, DetectorConfig
from tasks.anomalies.grouping import Anomaly, Thresholds, group_anomalies
from tasks.anomalies.monitors import MonitorSeries, monitor_settings_from, run_monitors
from tasks.anomalies.root_cause import rank_causes

#: Anomalies that ended more than this many days before the judged day are not reported again.
RECENT_DAYS = 7


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


def detector_config(anomaly_settings: Any) -> DetectorConfig:
    """The daily-cost detector configuration from ``settings.anomalies``."""
    return DetectorConfig(
        period=7,
        min_history=int(getattr(anomaly_settings, "min_history_days", 14)),
        band_width=float(getattr(anomaly_settings, "band_width", 4.0)),
    )


def thresholds_from(anomaly_settings: Any) -> Thresholds:
    """The alert thresholds from ``settings.anomalies``."""
    return Thresholds(
        min_impact_usd=float(getattr(anomaly_settings, "alert_min_impact_usd", 100.0)),
        min_impact_pct=float(getattr(anomaly_settings, "alert_min_impact_pct", 20.0)),
        alert_drops=bool(getattr(anomaly_settings, "alert_drops", False)),
        overrides=dict(getattr(anomaly_settings, "monitor_thresholds", {}) or {}),
    )


def detect_cost_anomalies(
    frame: pd.DataFrame,
    as_of: date,
    anomaly_settings: Any,
    since: date | None = None,
    with_root_causes: bool = True,
) -> AnomalyRun:
    """Judge every monitor through ``as_of`` and return the recent anomalies that matter.

    Args:
        frame: cost rows (``COST_SCHEMA``) covering the history before ``as_of``.
        as_of: the last day judged (normally yesterday).
        anomaly_settings: ``settings.anomalies`` (cost metric, thresholds, tag key ...).
        since: report anomalies still running on or after this day (default: the last
            ``RECENT_DAYS`` days); ``date.min`` reports every anomaly in the frame.
        with_root_causes: rank root causes for anomalies that meet their threshold.

    Returns:
        The run: series, detection, and anomalies that meet their thresholds (either
        direction), largest impact first.
    """
    lookback = int(getattr(anomaly_settings, "lookback_days", 120))
    first = as_of - timedelta(days=lookback - 1)
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
        merge_gap=int(getattr(anomaly_settings, "merge_gap_days", 1)),
        since=since if since is not None else as_of - timedelta(days=RECENT_DAYS),
        period=config.period,
    )
    kept = [a for a in grouped if a.meets_threshold]
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
