"""Turn per-day detections into anomalies: consecutive anomalous days of one monitor are one event.

An anomaly starts on its first anomalous day, moved back over the days just before it whose
spend was already clearly above expectation (``onset_z`` robust sigmas, at most
``max_backtrack`` days): a slow ramp is dated from where it began, not from where it crossed the
band.  It absorbs up to ``merge_gap`` in-band days, ends on its last anomalous day, and is
*ongoing* until ``merge_gap + 1`` judged in-band days follow it.  Its total impact is the sum of
actual - expected over its days; it is alertable, like an AWS Cost Anomaly Detection
subscription, when the total impact is at least an absolute amount and at least a percentage of
the expected spend (thresholds per monitor id or type, else the defaults).  Increases alert by
default; drops are reported and alert only when asked.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np

from tasks.anomalies.alerting import ALERT_SCORE, runs
from tasks.anomalies.detector import Detection
from tasks.anomalies.monitors import Monitor, MonitorSeries
from tasks.settings import AnomalySettings

#: The settings' own defaults (declared once, in the settings model).
_DEFAULTS = AnomalySettings()

Direction = Literal["increase", "decrease"]
Kind = Literal["increase", "decrease", "new_spend"]


@dataclass(frozen=True)
class Thresholds:
    """Alert thresholds: total impact >= ``min_impact_usd`` and >= ``min_impact_pct`` percent.

    ``match="any"`` alerts when either holds (AWS subscriptions combine them with AND or OR).
    A threshold of 0 disables that condition.  ``overrides`` maps a monitor id
    (``service:Amazon EC2``) or a monitor type (``account_service``) to its own
    ``{"min_impact_usd": ..., "min_impact_pct": ...}``.

    Example:
        >>> Thresholds(100, 20).for_monitor(Monitor("service", "S3"))
        (100.0, 20.0)
    """

    min_impact_usd: float = _DEFAULTS.alert_min_impact_usd
    min_impact_pct: float = _DEFAULTS.alert_min_impact_pct
    alert_drops: bool = _DEFAULTS.alert_drops
    overrides: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    match: Literal["all", "any"] = _DEFAULTS.alert_match

    def for_monitor(self, monitor: Monitor) -> tuple[float, float]:
        chosen = self.overrides.get(monitor.monitor_id) or self.overrides.get(monitor.type) or {}
        return (
            float(chosen.get("min_impact_usd", self.min_impact_usd)),
            float(chosen.get("min_impact_pct", self.min_impact_pct)),
        )

    def meets(self, monitor: Monitor, impact: float, impact_pct: float | None) -> bool:
        """Whether a total impact (USD, and percent of expected; None = new spend) alerts.

        Example:
            >>> Thresholds(100, 20, match="any").meets(Monitor("service", "S3"), 150.0, 5.0)
            True
        """
        usd, pct = self.for_monitor(monitor)
        amount_ok = abs(impact) >= usd
        pct_ok = impact_pct is None or abs(impact_pct) >= pct
        if self.match == "any":
            # A disabled (0) threshold must not make every anomaly alert on its own.
            return (usd > 0 and amount_ok) or (pct > 0 and pct_ok) or (usd == pct == 0)
        return amount_ok and pct_ok


@dataclass(frozen=True)
class Anomaly:
    """One cost anomaly of one monitor, with its dates, impact and whether it alerts."""

    anomaly_id: str
    monitor: Monitor
    direction: Direction
    kind: Kind
    start: date
    end: date
    peak: date
    last_judged: date
    days: int
    total_actual: float
    total_expected: float
    total_impact: float
    impact_pct: float | None
    max_score: float
    ongoing: bool
    meets_threshold: bool
    alert: bool
    root_causes: tuple[dict[str, Any], ...] = ()

    @property
    def monitor_id(self) -> str:
        return self.monitor.monitor_id


def anomaly_id(monitor_id: str, start: date) -> str:
    """The stable identity of an anomaly: its monitor and start day.

    Example:
        >>> anomaly_id("service:S3", date(2026, 1, 5)) == anomaly_id("service:S3", date(2026, 1, 5))
        True
    """
    return hashlib.sha256(f"{monitor_id}|{start.isoformat()}".encode()).hexdigest()[:20]


def baseline_during(expected: np.ndarray, start: int, last: int, period: int) -> np.ndarray:
    """Expected values for days ``start..last`` held at their pre-anomaly level.

    Day t is given the expectation of the latest day before ``start`` with the same phase
    (t - period, t - 2 period, ...); where there is none, its own expectation.

    Example:
        >>> baseline_during(np.array([1.0, 2.0, 3.0, 9.0, 9.0, 9.0]), 3, 5, 2).tolist()
        [2.0, 3.0, 2.0]
    """
    days = np.arange(start, last + 1)
    steps = (days - start) // period + 1
    source = days - steps * period
    held = expected[np.clip(source, 0, None)]
    return np.where(source >= 0, held, expected[days])


def group_anomalies(
    series: MonitorSeries,
    detection: Detection,
    thresholds: Thresholds | None = None,
    merge_gap: int = _DEFAULTS.merge_gap_days,
    onset_z: float = 1.5,
    max_backtrack: int = 7,
    since: date | None = None,
    period: int = 7,
) -> list[Anomaly]:
    """Group each monitor's anomalous days into anomalies.

    Args:
        series: the monitors and their days.
        detection: the detector's output for ``series.values``.
        thresholds: alert thresholds (AWS-like defaults: $100 and 20%).
        merge_gap: in-band days an anomaly may contain before it is split.
        onset_z: how far above expectation (robust sigmas) a day before the first anomalous
            day must be to count as the anomaly's start.
        max_backtrack: at most this many days are added before the first anomalous day.
        since: only anomalies still running on or after this day are returned.
        period: the detector's season, used to hold the pre-anomaly baseline (see below).

    The impact of a multi-day anomaly is measured against the baseline expected *before* it
    started (each day against the last pre-anomaly expectation of the same phase), because the
    detector's own expectation adapts while a shift or a drift lasts and would hide its cost.

    Returns:
        Anomalies, largest absolute impact first.
    """
    thresholds = thresholds or Thresholds()
    anomalies: list[Anomaly] = []
    judged_all = detection.judged
    if not series.days:
        return anomalies
    last_day = series.days[-1]
    rows = np.flatnonzero(detection.is_anomaly.any(axis=1))
    for row in rows:
        monitor = series.monitors[int(row)]
        z = detection.zscore[row]
        judged = judged_all[row]
        for sign, direction in ((1, "increase"), (-1, "decrease")):
            flags = detection.is_anomaly[row] & (detection.direction[row] == sign)
            previous_last = -1
            for first, last in runs(flags, judged, merge_gap):
                start = first
                # Back over the ramp-up, never into the previous anomaly of this monitor.
                while (
                    start > previous_last + 1
                    and first - start < max_backtrack
                    and sign * z[start - 1] >= onset_z
                ):
                    start -= 1
                previous_last = last
                if since is not None and series.days[last] < since:
                    continue
                anomalies.append(
                    _make(
                        series,
                        detection,
                        int(row),
                        monitor,
                        direction,
                        start,
                        last,
                        last_day,
                        merge_gap,
                        judged,
                        thresholds,
                        period,
                    )
                )
    anomalies.sort(key=lambda a: (-abs(a.total_impact), a.monitor_id, a.start))
    return anomalies


def _make(
    series: MonitorSeries,
    detection: Detection,
    row: int,
    monitor: Monitor,
    direction: str,
    start: int,
    last: int,
    last_day: date,
    merge_gap: int,
    judged: np.ndarray,
    thresholds: Thresholds,
    period: int,
) -> Anomaly:
    span = slice(start, last + 1)
    actual = detection.actual[row, span]
    expected = baseline_during(detection.expected[row], start, last, period)
    impact = actual - expected
    total_actual = float(np.nansum(actual))
    total_expected = float(np.nansum(expected))
    total_impact = float(np.nansum(impact))
    impact_pct = 100.0 * total_impact / abs(total_expected) if abs(total_expected) > 1e-9 else None
    signed = impact if direction == "increase" else -impact
    peak = start + int(np.nanargmax(np.where(np.isnan(signed), -np.inf, signed)))
    history = detection.actual[row, :start]
    new_spend = (
        direction == "increase"
        and history.size > 0
        and bool(np.all(np.nan_to_num(np.abs(history)) < 1e-6))
    )
    in_band_after = int(judged[last + 1 :].sum()) - int(detection.is_anomaly[row, last + 1 :].sum())
    ongoing = in_band_after <= merge_gap
    meets = thresholds.meets(monitor, total_impact, impact_pct)
    max_score = float(np.nanmax(detection.score[row, span]))
    alert = (
        meets and max_score >= ALERT_SCORE and (direction == "increase" or thresholds.alert_drops)
    )
    if impact_pct is not None and math.isnan(impact_pct):
        impact_pct = None
    return Anomaly(
        anomaly_id=anomaly_id(monitor.monitor_id, series.days[start]),
        monitor=monitor,
        direction=direction,  # type: ignore[arg-type]
        kind="new_spend" if new_spend else direction,  # type: ignore[arg-type]
        start=series.days[start],
        end=series.days[last],
        peak=series.days[peak],
        last_judged=last_day,
        days=last - start + 1,
        total_actual=total_actual,
        total_expected=total_expected,
        total_impact=total_impact,
        impact_pct=impact_pct,
        max_score=max_score,
        ongoing=ongoing,
        meets_threshold=meets,
        alert=alert,
    )
