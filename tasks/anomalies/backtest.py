"""Judge a whole cost history with the daily detector and score it against injected anomalies.

The daily check judges each day only from the days before it, so running it over the whole
history is a fair backtest: the same detector, causally, day by day.  Used by the demo summary,
the evaluation notebook and ``bench/anomaly_eval.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd

from tasks.anomalies.monitors import PAIR_SEPARATOR
from tasks.anomalies.pipeline import detect_cost_anomalies
from tasks.settings import AnomalySettings

#: Kinds that begin too gradually to be dated to the day: found when reported in their first week.
GRADUAL = frozenset({"slow_climb"})
GRADUAL_DAYS = 7


def monitor_id_of(injected: Mapping[str, Any]) -> str:
    """The monitor id (``kind:value``) that should report an injected anomaly.

    Example:
        >>> monitor_id_of({"monitor": "service", "service": "AWS Lambda", "account_id": "1"})
        'service:AWS Lambda'
    """
    kind = str(injected["monitor"])
    value = {
        "service": str(injected.get("service")),
        "account": str(injected.get("account_id")),
        "account_service": f"{injected.get('account_id')}{PAIR_SEPARATOR}{injected.get('service')}",
    }[kind]
    return f"{kind}:{value}"


@dataclass
class BacktestScore:
    """Injected anomalies found (right monitor, start within a day) and alerts that match none."""

    injected: int = 0
    found: int = 0
    alerts: int = 0
    false_alerts: int = 0
    missed: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.injected if self.injected else 1.0

    @property
    def precision(self) -> float:
        return (self.alerts - self.false_alerts) / self.alerts if self.alerts else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "injected": self.injected,
            "found": self.found,
            "alerts": self.alerts,
            "false_alerts": self.false_alerts,
            "recall": round(self.recall, 3),
            "precision": round(self.precision, 3),
            "missed": self.missed,
            "unexpected": self.unexpected,
        }


def backtest(
    frame: pd.DataFrame,
    injected: Iterable[Mapping[str, Any]],
    anomaly_settings: AnomalySettings,
    as_of: date | None = None,
) -> BacktestScore:
    """Score the detector over a whole cost frame against the anomalies injected into it.

    An injected anomaly counts when its |impact| reaches the alert threshold; it is found when
    an anomaly of the same monitor starts within one day of it (alerted; a fall, whatever its
    kind, is found when it is reported as a decrease, since drops alert only when asked; a slow
    climb, which cannot be dated to the day, when it starts within its first ``GRADUAL_DAYS``).
    An alert is false when it lies in no injected anomaly's span (persistent ones count for 30
    days after their start).

    Args:
        frame: cost rows (``COST_SCHEMA``).
        injected: the ground truth's anomalies (``kind``, ``monitor``, ``account_id``,
            ``service``, ``start``, ``end``, ``impact_usd``, ``persistent``).
        anomaly_settings: ``settings.anomalies``.
        as_of: last day judged (default: the last day of the frame).
    """
    score = BacktestScore()
    if frame.empty:
        return score
    last = as_of or max(pd.to_datetime(frame["charge_date"]).dt.date)
    judged = anomaly_settings.model_copy(update={"lookback_days": 1000})
    run = detect_cost_anomalies(frame, last, judged, since=date.min, with_root_causes=False)
    threshold = float(anomaly_settings.alert_min_impact_usd)
    spans: list[tuple[date, date]] = []
    for truth in injected:
        start = date.fromisoformat(str(truth["start"]))
        end = date.fromisoformat(str(truth["end"]))
        spans.append((start, start + timedelta(days=30) if truth.get("persistent") else end))
        if abs(float(truth["impact_usd"])) < threshold:
            continue
        score.injected += 1
        wanted = monitor_id_of(truth)
        hits = [
            a
            for a in run.anomalies
            if a.monitor_id == wanted
            and -1 <= (a.start - start).days <= (GRADUAL_DAYS if truth["kind"] in GRADUAL else 1)
            and (a.alert if float(truth["impact_usd"]) > 0 else a.direction == "decrease")
        ]
        if hits:
            score.found += 1
        else:
            score.missed.append(f"{truth['kind']} on {wanted} from {start}")
    for anomaly in run.anomalies:
        if not anomaly.alert:
            continue
        score.alerts += 1
        if not any(s - timedelta(days=1) <= anomaly.start <= e for s, e in spans):
            score.false_alerts += 1
            score.unexpected.append(
                f"{anomaly.direction} on {anomaly.monitor_id} from {anomaly.start} "
                f"(USD {anomaly.total_impact:,.0f})"
            )
    return score


def backtest_store(
    cost_store_url: str,
    injected: Iterable[Mapping[str, Any]],
    anomaly_settings: AnomalySettings,
) -> BacktestScore:
    """:func:`backtest` over everything in the cost store, with the caller's anomaly settings."""
    from tasks.costs.store import CostStore

    return backtest(CostStore(cost_store_url).read(), injected, anomaly_settings)
