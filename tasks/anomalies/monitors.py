"""Cost monitors like AWS Cost Anomaly Detection's: daily cost series per scope, scored at once.

A monitor is one daily series: the whole organisation, one linked account, one service, one
account x service pair, or one value of a cost-allocation tag.  Series are built from a cost frame
(:data:`tasks.costs.schema.COST_SCHEMA`) on effective (amortized) cost by default, so commitment
fees billed on the 1st are spread over the month instead of looking like spikes, and only the
charge categories that describe consumption (usage, credits, adjustments: not tax, not purchases
such as support or upfront fees) are judged.  Every monitor is scored by the same detector in one
vectorised call.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from tasks.anomalies.detector import Detection, DetectorConfig, detect
from tasks.settings import AnomalySettings

#: The settings' own defaults: the one place they are declared.
_DEFAULTS = AnomalySettings()

MonitorType = Literal["organization", "account", "service", "account_service", "tag"]

#: Monitor types in the order they are reported.
MONITOR_TYPES: tuple[MonitorType, ...] = (
    "organization",
    "account",
    "service",
    "account_service",
    "tag",
)

#: When one day is stored from both sources, the export (the invoice's data) wins over CE.
SOURCE_PREFERENCE: tuple[str, ...] = ("export", "ce")

#: Separates account and service in an account_service monitor value.
PAIR_SEPARATOR = " / "


@dataclass(frozen=True)
class Monitor:
    """One monitored scope.

    Example:
        >>> Monitor("service", "Amazon EC2").monitor_id
        'service:Amazon EC2'
    """

    type: MonitorType
    value: str

    @property
    def monitor_id(self) -> str:
        return f"{self.type}:{self.value}"

    @property
    def filters(self) -> dict[str, str]:
        """Cost frame column -> value that select this monitor's rows (tag: ``tag:<key>``)."""
        if self.type == "account":
            return {"sub_account_id": self.value}
        if self.type == "service":
            return {"service": self.value}
        if self.type == "account_service":
            account, service = self.value.split(PAIR_SEPARATOR, 1)
            return {"sub_account_id": account, "service": service}
        if self.type == "tag":
            return {"tag": self.value}
        return {}


@dataclass(frozen=True)
class MonitorSettings:
    """What the monitors judge: the monitor part of ``settings.anomalies``.

    The daily check builds it from the settings (``tasks.anomalies.pipeline``); the defaults, for
    pure callers (tests, notebooks) that have no settings, are read from the settings model, so
    they are declared once.
    """

    cost_metric: str = _DEFAULTS.cost_metric
    charge_categories: tuple[str, ...] = tuple(_DEFAULTS.charge_categories)
    exclude_services: tuple[str, ...] = tuple(_DEFAULTS.exclude_services)
    tag_key: str = _DEFAULTS.tag_key
    monitor_types: tuple[MonitorType, ...] = MONITOR_TYPES


@dataclass
class MonitorSeries:
    """Daily series of every monitor: ``values[i, j]`` is monitor i's cost on ``days[j]``.

    A day absent from the whole frame is missing (NaN) for every monitor; a day present in the
    frame where a monitor has no rows is a real 0 (nothing was spent).
    """

    monitors: list[Monitor]
    days: list[date]
    values: np.ndarray
    frame: pd.DataFrame = field(repr=False)

    def index_of(self, monitor_id: str) -> int:
        for i, monitor in enumerate(self.monitors):
            if monitor.monitor_id == monitor_id:
                return i
        raise KeyError(f"no monitor {monitor_id!r}")


def tag_values(tags: pd.Series, key: str) -> pd.Series:
    """The value of tag ``key`` in each row's tags JSON ('' when absent or unparsable).

    Example:
        >>> tag_values(pd.Series(['{"team": "data"}', "{}"]), "team").tolist()
        ['data', '']
    """
    parsed: dict[str, str] = {}
    for text in pd.unique(tags):
        try:
            value = json.loads(text).get(key, "") if text else ""
        except (ValueError, AttributeError):
            value = ""
        parsed[text] = str(value) if value is not None else ""
    return tags.map(parsed).fillna("")


def excluded_services(services: pd.Series, patterns: Sequence[str]) -> pd.Series:
    """Which rows belong to an excluded service: exact names, or prefixes written ``Prefix*``.

    Support is billed once a month and tax follows the bill, so whatever the source (CE without
    record types calls them usage), they are never judged by default.

    Example:
        >>> excluded_services(pd.Series(["AWS Support (Business)", "Amazon S3"]),
        ...     ["AWS Support*"]).tolist()
        [True, False]
    """
    exact = [p for p in patterns if not p.endswith("*")]
    prefixes = tuple(p[:-1] for p in patterns if p.endswith("*"))
    mask = services.isin(exact)
    if prefixes:
        mask |= services.astype(str).str.startswith(prefixes)
    return mask


def prepare_frame(frame: pd.DataFrame, settings: MonitorSettings) -> pd.DataFrame:
    """The judged rows: one source per day, chosen charge categories, with a ``cost`` column.

    Raises:
        ValueError: the frame lacks a needed column.
    """
    needed = {"charge_date", "sub_account_id", "service", "charge_category", settings.cost_metric}
    missing = needed - set(frame.columns)
    if missing:
        raise ValueError(f"cost frame lacks columns {sorted(missing)}; use COST_SCHEMA")
    rows = frame
    if "source" in rows.columns and rows["source"].nunique() > 1:
        rank = rows["source"].map({s: i for i, s in enumerate(SOURCE_PREFERENCE)}).fillna(9)
        best = rank.groupby(rows["charge_date"]).transform("min")
        rows = rows[rank == best]
    keep = rows["charge_category"].isin(settings.charge_categories)
    if settings.exclude_services:
        keep &= ~excluded_services(rows["service"], settings.exclude_services)
    rows = rows[keep].copy()
    rows["charge_date"] = pd.to_datetime(rows["charge_date"]).dt.date
    rows["cost"] = rows[settings.cost_metric].astype(float)
    if settings.tag_key and "tags" in rows.columns:
        rows["tag"] = tag_values(rows["tags"], settings.tag_key)
    return rows


def _day_range(frame: pd.DataFrame, start: date | None, end: date | None) -> list[date]:
    first = start or min(frame["charge_date"])
    last = end or max(frame["charge_date"])
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def build_series(
    frame: pd.DataFrame,
    settings: MonitorSettings | None = None,
    start: date | None = None,
    end: date | None = None,
) -> MonitorSeries:
    """Aggregate a cost frame into one daily series per monitor.

    Args:
        frame: rows in the cost schema (at least the grouping and cost columns).
        settings: what to judge; defaults to effective cost of usage, credits and adjustments.
        start: first day of the series (default: the frame's first day).
        end: last day (default: the frame's last day).

    Returns:
        The monitors and their (monitors x days) matrix.

    Example:
        >>> frame = pd.DataFrame({"charge_date": [date(2026, 1, 1)], "sub_account_id": ["1"],
        ...     "service": ["S3"], "charge_category": ["Usage"], "effective_cost": [2.0]})
        >>> [m.monitor_id for m in build_series(frame).monitors]
        ['organization:all', 'account:1', 'service:S3', 'account_service:1 / S3']
    """
    settings = settings or MonitorSettings()
    rows = prepare_frame(frame, settings)
    all_days = {pd.Timestamp(d).date() for d in pd.unique(frame["charge_date"])}
    if rows.empty and not all_days:
        return MonitorSeries([], [], np.zeros((0, 0)), rows)
    days = _day_range(pd.DataFrame({"charge_date": sorted(all_days)}), start, end)
    day_index = {d: j for j, d in enumerate(days)}
    rows = rows[rows["charge_date"].isin(day_index.keys())]
    keys: dict[MonitorType, pd.Series] = {
        "organization": pd.Series("all", index=rows.index),
        "account": rows["sub_account_id"].astype(str),
        "service": rows["service"].astype(str),
        "account_service": rows["sub_account_id"].astype(str) + PAIR_SEPARATOR + rows["service"],
    }
    if settings.tag_key and "tag" in rows.columns:
        keys["tag"] = rows["tag"].where(rows["tag"] != "", "(untagged)")
    monitors: list[Monitor] = []
    blocks: list[np.ndarray] = []
    columns = rows["charge_date"].map(day_index).to_numpy(dtype=np.int64)
    for monitor_type in settings.monitor_types:
        if monitor_type not in keys:
            continue
        codes, uniques = pd.factorize(keys[monitor_type], sort=True)
        block = np.zeros((len(uniques), len(days)))
        np.add.at(block, (codes, columns), rows["cost"].to_numpy())
        monitors.extend(Monitor(monitor_type, str(u)) for u in uniques)
        blocks.append(block)
    values = np.vstack(blocks) if blocks else np.zeros((0, len(days)))
    absent = [day_index[d] for d in days if d not in all_days]
    values[:, absent] = np.nan
    return MonitorSeries(monitors, days, values, rows)


def run_monitors(
    frame: pd.DataFrame,
    settings: MonitorSettings | None = None,
    config: DetectorConfig | None = None,
    start: date | None = None,
    end: date | None = None,
) -> tuple[MonitorSeries, Detection]:
    """Build every monitor's series and score them all with one detector call.

    Example:
        >>> frame = pd.DataFrame({"charge_date": [date(2026, 1, 1)], "sub_account_id": ["1"],
        ...     "service": ["S3"], "charge_category": ["Usage"], "effective_cost": [2.0]})
        >>> series, detection = run_monitors(frame)
        >>> detection.is_anomaly.shape
        (4, 1)
    """
    series = build_series(frame, settings, start, end)
    return series, detect(series.values, config)


def select_rows(rows: pd.DataFrame, monitor: Monitor) -> pd.DataFrame:
    """The prepared rows that make up one monitor's series."""
    mask = pd.Series(True, index=rows.index)
    for column, value in monitor.filters.items():
        if column == "tag":
            if "tag" not in rows.columns:
                return rows.iloc[0:0]
            wanted = "" if value == "(untagged)" else value
            mask &= rows["tag"] == wanted
        else:
            mask &= rows[column] == value
    return rows[mask]


def monitors_of(series: MonitorSeries, types: Sequence[MonitorType]) -> list[int]:
    """Row indexes of the monitors of the given types."""
    return [i for i, m in enumerate(series.monitors) if m.type in types]
