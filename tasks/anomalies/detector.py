"""Causal, vectorised anomaly detector: expected value, band and score for many series at once.

The model is a robust seasonal baseline, judged for each point only from the points before it:

* level ``L[t]``: the median of the previous ``level_seasons`` whole seasons (whole seasons, so
  the seasonal pattern cancels out; two of them, so neither an outlier nor a few days' drop
  moves it);
* seasonal offset ``S[t]``: the median, over the previous ``seasons`` seasons, of how far the
  point at the same phase stood from its own trailing level, ``y[t-kP] - L[t-kP]``.  Because
  that offset is measured against a *trailing* level, it also absorbs the lag of the level
  under a steady trend or growth, so growth is not mistaken for anomalies;
* expected ``E = L + S`` (additive, so credits and refunds, i.e. negative values, are fine);
* scale: 1.4826 x the median absolute one-step residual of the previous ``scale_window`` points
  (default four seasons: a MAD of past surprises), floored at ``rel_floor`` x |level| so a
  perfectly flat series does not alert on cents;
* band ``E -/+ band_width x scale``; ``z = (y - E) / scale``; a point is outside the band
  (``is_anomaly``) when ``|z| >= band_width``;
* ``score`` is how strongly to alert now (:mod:`tasks.anomalies.alerting`): the tail
  probability of ``|z|`` among the series' own past surprises, relative to the largest surprise
  of the recent points, so it is high where an anomaly starts or grows and falls back while it
  continues, and means the same on every series.

Missing points (NaN) are not scored and are left out of every median that would have used them.
No point is flagged before ``min_history`` observed points.  A series that was zero and starts
spending ("new spend") has a zero level and a floor scale, so its first day is flagged.

Everything is a handful of windowed medians over a 2-D array (series x time), computed in
blocks so memory stays bounded; for fine-grained data the level and scale can be re-estimated
every ``refresh`` points only (still from earlier points, so still causal).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> days = 120
    >>> weekly = np.tile([100, 100, 100, 100, 100, 40, 40], days // 7 + 1)[:days]
    >>> series = weekly + rng.normal(0, 3, days)
    >>> series[100] += 80
    >>> result = detect(series[None, :])
    >>> bool(result.is_anomaly[0, 100]), int(result.is_anomaly[0, :100].sum())
    (True, 0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import timedelta

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tasks.anomalies.alerting import alert_score, recent_points, tail_probability

#: MAD to standard deviation for normal noise.
MAD_TO_SIGMA = 1.4826

#: Cells (series x time x window) sorted at once; bounds memory to about 8 bytes x this.
_BLOCK_CELLS = 4_000_000


@dataclass(frozen=True)
class DetectorConfig:
    """The detector's parameters; one configuration serves every series.

    Attributes:
        period: points per season (7 for daily cost: weekly seasonality).
        seasons: past seasons whose same-phase offsets are combined (median).
        level_seasons: seasons in the trailing window whose median is the level.
        band_width: half-width of the band in robust standard deviations (k).
        scale_window: past residuals that set the scale; 0 means ``4 * period``.
        min_history: observed points needed before any point can be flagged.
        rel_floor: the scale is at least this fraction of |level|.
        abs_floor: the scale is at least this much (in the series' unit).
        refresh: level and scale are re-estimated every this many points (1 = every point).

    Example:
        >>> DetectorConfig().period, DetectorConfig().min_history
        (7, 14)
    """

    period: int = 7
    seasons: int = 4
    level_seasons: int = 2
    band_width: float = 4.0
    scale_window: int = 0
    min_history: int = 14
    rel_floor: float = 0.03
    abs_floor: float = 1e-6
    refresh: int = 1

    def __post_init__(self) -> None:
        if self.period < 1:
            raise ValueError(f"period must be >= 1 point, got {self.period}")
        if self.seasons < 1:
            raise ValueError(f"seasons must be >= 1, got {self.seasons}")
        if self.band_width <= 0:
            raise ValueError(f"band_width must be > 0, got {self.band_width}")
        if self.min_history < 1:
            raise ValueError(f"min_history must be >= 1 point, got {self.min_history}")

    @property
    def residual_window(self) -> int:
        return self.scale_window or 4 * self.period


@dataclass(frozen=True)
class Detection:
    """Per-point results, each an array shaped like the input (series x time).

    ``direction`` is +1 above the band, -1 below it, 0 inside.  ``impact`` is actual - expected
    in the series' unit; ``impact_pct`` is that as a percent of |expected| (NaN when expected is
    0, e.g. new spend).  ``is_anomaly`` marks points outside the band; ``score`` says how
    strongly to alert now (see the module docstring).  Points that could not be judged
    (missing, or too little history) have
    ``judged`` False, ``score`` 0 and ``is_anomaly`` False.
    """

    actual: np.ndarray
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    scale: np.ndarray
    score: np.ndarray
    is_anomaly: np.ndarray
    impact: np.ndarray
    impact_pct: np.ndarray
    direction: np.ndarray
    zscore: np.ndarray
    judged: np.ndarray


def config_for_step(
    step: timedelta, min_history_days: float = 14, **overrides: float
) -> DetectorConfig:
    """The configuration for a series sampled every ``step``: the season is one week in points.

    A week is the cycle of anything people drive (spend, traffic, load): it holds both the
    weekday/weekend pattern and, for sub-daily data, the daily cycle.  So daily data has a
    season of 7 points, hourly data 168, 5-minute data 2,016; data sampled weekly or coarser
    has no season (period 1).  The minimum history is ``min_history_days`` for daily data and
    two days of points for sub-daily data (never fewer than 3 points).  For sub-daily data the
    level and scale are re-estimated once an hour (``refresh``) to keep weeks-long windows cheap.

    Example:
        >>> config_for_step(timedelta(minutes=5)).period
        2016
        >>> config_for_step(timedelta(days=1)).period
        7
    """
    seconds = step.total_seconds()
    if seconds <= 0:
        raise ValueError("the sampling step must be positive")
    day, week = 86400.0, 7 * 86400.0
    if seconds >= week:
        base = DetectorConfig(period=1, min_history=8)
    elif seconds >= day:
        base = DetectorConfig(
            period=max(1, round(week / seconds)),
            min_history=max(3, math.ceil(min_history_days * day / seconds)),
        )
    else:
        base = DetectorConfig(
            period=max(1, round(week / seconds)),
            min_history=max(3, round(2 * day / seconds)),
            refresh=max(1, round(3600 / seconds)),
        )
    return replace(base, **overrides)  # type: ignore[arg-type]


def _sorted_median(windows: np.ndarray, count: np.ndarray | None = None) -> np.ndarray:
    """Median along the last axis ignoring NaN (NaN where a window has no value).

    ``count`` (values that are not NaN per window) is computed when not given.
    """
    ordered = np.sort(windows, axis=-1)  # NaN sort to the end
    if count is None:
        count = np.sum(~np.isnan(windows), axis=-1)
    low = np.maximum((count - 1) // 2, 0)[..., None]
    high = np.maximum(count // 2, 0)[..., None]
    low_value = np.take_along_axis(ordered, low, axis=-1)[..., 0]
    high_value = np.take_along_axis(ordered, high, axis=-1)[..., 0]
    median = 0.5 * (low_value + high_value)
    median[count == 0] = np.nan
    return median


def _trailing_median(values: np.ndarray, window: int, stride: int = 1) -> np.ndarray:
    """For each t, the NaN-ignoring median of the ``window`` points strictly before t.

    With ``stride`` > 1 the median is re-estimated every ``stride`` points only and held in
    between (still from points strictly before the re-estimate, so still causal): long windows
    of fine-grained data (weeks of 5-minute points) stay affordable.
    """
    n, length = values.shape
    padded = np.concatenate([np.full((n, window), np.nan), values[:, :-1]], axis=1)
    # view[:, j] == values[:, j - window : j] for j in 0..length-1
    view = sliding_window_view(padded, window, axis=1)
    # Values present in each window, from a running count (cheaper than counting windows).
    present = np.concatenate(
        [np.zeros((n, 1), dtype=np.int64), np.cumsum(~np.isnan(padded), axis=1)], axis=1
    )
    counts = present[:, window:] - present[:, :-window]
    anchors = np.arange(0, length, stride)
    medians = np.empty((n, anchors.size))
    chunk = max(1, _BLOCK_CELLS // max(1, n * window))
    for first in range(0, anchors.size, chunk):
        picked = anchors[first : first + chunk]
        medians[:, first : first + picked.size] = _sorted_median(view[:, picked], counts[:, picked])
    return medians[:, np.arange(length) // stride]


def _seasonal_offset(offsets: np.ndarray, period: int, seasons: int) -> np.ndarray:
    """For each t, the NaN-ignoring median of ``offsets[:, t - k*period]`` for k = 1..seasons."""
    n, length = offsets.shape
    lagged = np.full((n, length, seasons), np.nan)
    for k in range(1, seasons + 1):
        shift = k * period
        if shift < length:
            lagged[:, shift:, k - 1] = offsets[:, : length - shift]
    return _sorted_median(lagged)


def _detect_block(values: np.ndarray, config: DetectorConfig) -> tuple[np.ndarray, ...]:
    level = _trailing_median(values, config.period * config.level_seasons, config.refresh)
    offsets = values - level
    seasonal = _seasonal_offset(offsets, config.period, config.seasons)
    # Before a full season has been seen the offset is unknown: judge against the level alone.
    expected = level + np.where(np.isnan(seasonal), 0.0, seasonal)
    residual = values - expected
    scale = MAD_TO_SIGMA * _trailing_median(
        np.abs(residual), config.residual_window, config.refresh
    )
    floor = np.maximum(config.rel_floor * np.abs(level), config.abs_floor)
    scale = np.where(np.isnan(scale), np.nan, np.maximum(scale, floor))
    return expected, scale


def detect(values: np.ndarray, config: DetectorConfig | None = None) -> Detection:
    """Score every point of every series causally.

    Args:
        values: series x time (a 1-D array is one series); NaN marks a missing point.
        config: detector parameters; the default suits daily cost (weekly season).

    Returns:
        The per-point :class:`Detection` arrays, shaped like ``values`` (2-D).

    Example:
        >>> detect(np.array([1.0, 2.0, 3.0])).is_anomaly.shape
        (1, 3)
    """
    config = config or DetectorConfig()
    actual = np.asarray(values, dtype=np.float64)
    if actual.ndim == 1:
        actual = actual[None, :]
    if actual.ndim != 2:
        raise ValueError(f"values must be 1-D or 2-D (series x time), got {actual.ndim}-D")
    n, length = actual.shape
    expected = np.full((n, length), np.nan)
    scale = np.full((n, length), np.nan)
    widest = max(config.period * config.level_seasons, config.seasons, config.residual_window)
    block = max(1, _BLOCK_CELLS // max(1, length * widest))
    for start in range(0, n, block):
        stop = min(n, start + block)
        expected[start:stop], scale[start:stop] = _detect_block(actual[start:stop], config)

    k = config.band_width
    observed = ~np.isnan(actual)
    history = np.cumsum(observed, axis=1) - observed  # observed points strictly before t
    judged = observed & (history >= config.min_history) & ~np.isnan(expected) & ~np.isnan(scale)
    impact = actual - expected
    with np.errstate(invalid="ignore", divide="ignore"):
        zscore = np.where(judged, impact / scale, 0.0)
        impact_pct = np.where(np.abs(expected) > 0, 100.0 * impact / np.abs(expected), np.nan)
    probability = tail_probability(zscore, judged, config.residual_window, config.refresh)
    score = np.where(judged, alert_score(probability, recent_points(config.period)), 0.0)
    is_anomaly = judged & (np.abs(zscore) >= k)
    direction = np.where(is_anomaly, np.sign(zscore), 0).astype(np.int8)
    return Detection(
        actual=actual,
        expected=expected,
        lower=expected - k * scale,
        upper=expected + k * scale,
        scale=scale,
        score=score,
        is_anomaly=is_anomaly,
        impact=impact,
        impact_pct=impact_pct,
        direction=direction,
        zscore=zscore,
        judged=judged,
    )
