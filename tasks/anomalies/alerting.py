"""How strongly to alert now: a calibrated tail probability, and one alert per anomaly.

The detector gives each point a robust z-score (how far it stands from the expected value, in
robust standard deviations of the series' own past surprises).  Two things are built on it,
pure and vectorised over series x time, used alike by ``finops anomalies score``, the daily
check and the backtest:

* :func:`tail_probability`: the chance, judged from the series' own past, of a surprise at least
  this large (two-sided): the share of the previous ``history`` judged points whose |z| was at
  least as large (with one pseudo-count, so never 0); beyond the largest |z| seen, the Gaussian
  tail extrapolates from there.  It is a rank, so it means the same on every series, whatever
  its unit or its noise (as HTM's anomaly likelihood does);
* :func:`alert_score`: ``1 - p / p_ref``, where ``p_ref`` is the smallest tail probability among
  the previous ``recent`` points (at most 1): it is high where a surprise exceeds anything seen
  lately (an anomaly starts or grows), and falls back to about 0 while the same anomaly merely
  continues, because the surprises that follow are no larger than its start;
* :func:`alert_onsets`: the product's alert decision: in each run of points outside the band
  (bridging ``merge_gap`` judged in-band points, per direction: how the daily check groups
  days into one anomaly), the first point whose score reaches ``ALERT_SCORE``; one alert per
  anomaly.

Example:
    >>> import numpy as np
    >>> z = np.zeros((1, 60)); z[0, 40:50] = 8.0
    >>> judged = np.ones_like(z, dtype=bool)
    >>> p = tail_probability(z, judged, history=30)
    >>> score = alert_score(p, recent=7)
    >>> bool(score[0, 40] > 0.9), bool(score[0, 45] < 0.1)
    (True, True)
    >>> np.flatnonzero(alert_onsets(np.abs(z) >= 4, np.sign(z), judged, merge_gap=1)[0]).tolist()
    [40]
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.special import log_ndtr

#: The alert score at which an anomaly is alerted (the band's edge decides what is outside).
ALERT_SCORE = 0.5

#: Comparisons (series x time x history) done at once; bounds memory to about this many bytes.
_BLOCK_CELLS = 20_000_000


def recent_points(period: int) -> int:
    """Points whose surprises an alert must exceed: a week of daily data, a day of finer data.

    ``period`` is the season in points (one week: 7 daily points, 2,016 five-minute points).

    Example:
        >>> recent_points(7), recent_points(2016)
        (7, 288)
    """
    return max(7, period // 7)


def merge_gap_points(period: int, refresh: int) -> int:
    """In-band points one anomaly may contain: a day of daily data, an hour of finer data.

    ``refresh`` is the detector's re-estimation step (one hour of points for sub-daily data).

    Example:
        >>> merge_gap_points(7, 1), merge_gap_points(2016, 12)
        (1, 12)
    """
    return max(1, refresh)


def tail_probability(
    zscore: np.ndarray, judged: np.ndarray, history: int, stride: int = 1
) -> np.ndarray:
    """For each point, the chance of a surprise |z| at least this large, from the series' past.

    Args:
        zscore: robust z-scores, series x time.
        judged: which points were judged (others get probability 1 and are not history).
        history: past judged points compared with (a window of this many points before t).
        stride: the reference window moves every ``stride`` points (still strictly earlier
            points, so still causal); long histories of fine-grained data stay cheap.

    Returns:
        Probabilities in (0, 1], series x time.

    Example:
        >>> z = np.array([[1.0, -2.0, 0.5, 3.0, 1.0]])
        >>> tail_probability(z, np.ones_like(z, dtype=bool), history=4).round(3).tolist()
        [[1.0, 0.072, 1.0, 0.015, 0.8]]
    """
    size = np.where(judged, np.abs(zscore), np.nan)
    if stride == 1:
        return _tail_by_lags(size, history)
    n, length = size.shape
    padded = np.concatenate([np.full((n, history), np.nan), size], axis=1)
    # past[:, a] == size[:, a - history : a]
    past = sliding_window_view(padded[:, :-1], history, axis=1)
    anchors = np.arange(0, length, stride)
    probability = np.ones((n, length))
    per_anchor = max(1, n * stride * history)
    chunk = max(1, _BLOCK_CELLS // per_anchor)
    for first in range(0, anchors.size, chunk):
        picked = anchors[first : first + chunk]
        reference = past[:, picked]  # n x A x H
        # The points each reference judges: anchor .. anchor + stride - 1.
        columns = np.minimum(picked[:, None] + np.arange(stride)[None, :], length - 1)
        current = size[:, columns]  # n x A x S
        valid = ~np.isnan(reference)
        count = valid.sum(axis=-1)  # n x A
        at_least = np.sum(reference[:, :, None, :] >= current[..., None], axis=-1)  # n x A x S
        largest = np.nanmax(np.where(valid, reference, -np.inf), axis=-1)  # n x A
        shape = current.shape
        value = _combine(
            current,
            at_least,
            np.broadcast_to(count[..., None], shape),
            np.broadcast_to(largest[..., None], shape),
        )
        rows = columns.reshape(-1)
        flat = value.reshape(n, -1)
        keep = np.arange(rows.size) < length - picked[0]  # the last anchor's overhang
        target = picked[0] + np.arange(rows.size)
        probability[:, target[keep]] = flat[:, keep]
    return probability


def _tail_by_lags(size: np.ndarray, history: int) -> np.ndarray:
    """:func:`tail_probability` with the window moving every point: one pass per lag (cheap)."""
    n, length = size.shape
    narrow = size.astype(np.float32)  # ranks need no more precision; half the memory traffic
    at_least = np.zeros((n, length), dtype=np.uint16 if history < 65535 else np.int64)
    largest = np.full((n, length), -np.inf, dtype=np.float32)
    for lag in range(1, min(history, length - 1) + 1):
        earlier = narrow[:, :-lag]
        at_least[:, lag:] += earlier >= narrow[:, lag:]
        np.fmax(largest[:, lag:], earlier, out=largest[:, lag:])
    observed = np.cumsum(~np.isnan(size), axis=1, dtype=np.int32)
    seen = np.concatenate([np.zeros((n, 1), dtype=np.int32), observed], axis=1)
    count = seen[:, :length] - seen[:, np.maximum(np.arange(length) - history, 0)]
    return _combine(size, at_least, count, largest.astype(np.float64))


def _combine(
    current: np.ndarray, at_least: np.ndarray, count: np.ndarray, largest: np.ndarray
) -> np.ndarray:
    """The rank probability, extrapolated by the Gaussian tail beyond the largest seen."""
    value = (1.0 + at_least) / (1.0 + count)
    beyond = (current > largest) & np.isfinite(largest)
    if beyond.any():
        with np.errstate(invalid="ignore", over="ignore"):
            log_ratio = log_ndtr(-current[beyond]) - log_ndtr(-largest[beyond])
        value[beyond] = np.exp(np.minimum(log_ratio, 0.0)) / (1.0 + count[beyond])
    value[np.isnan(current) | (count == 0)] = 1.0
    return np.clip(value, 1e-300, 1.0, out=value)


def alert_score(probability: np.ndarray, recent: int) -> np.ndarray:
    """How strongly to alert now: ``1 - p / min(1, smallest p of the previous recent points)``.

    Example:
        >>> alert_score(np.array([[0.5, 0.5, 0.01, 0.01, 0.001]]), recent=3).round(3).tolist()
        [[0.5, 0.0, 0.98, 0.0, 0.9]]
    """
    reference = np.ones_like(probability)
    for lag in range(1, min(recent, probability.shape[1] - 1) + 1):
        np.minimum(reference[:, lag:], probability[:, :-lag], out=reference[:, lag:])
    return np.clip(1.0 - probability / reference, 0.0, 1.0)


def alert_onsets(
    outside: np.ndarray,
    direction: np.ndarray,
    judged: np.ndarray,
    merge_gap: int,
    score: np.ndarray | None = None,
    min_score: float = ALERT_SCORE,
) -> np.ndarray:
    """One alert per anomaly: in each run of points outside the band, its first strong point.

    A run bridges up to ``merge_gap`` judged in-band points (as the daily check's anomalies do);
    a run above the band and one below it are two anomalies.  With ``score``, the alert is the
    run's first point whose score reaches ``min_score``, and a run that never does (the
    baseline settling after a shift, an excursion no larger than what was just seen) raises
    none.

    Example:
        >>> out = np.array([[0, 1, 1, 0, 1, 0, 0, 1]], dtype=bool)
        >>> np.flatnonzero(alert_onsets(out, np.ones(out.shape), out | True, 1)[0]).tolist()
        [1, 7]
        >>> strong = np.array([[0, 0.2, 0.9, 0, 0, 0, 0, 0.3]])
        >>> alerts = alert_onsets(out, np.ones(out.shape), out | True, 1, strong)
        >>> np.flatnonzero(alerts[0]).tolist()
        [2]
    """
    onsets = np.zeros(outside.shape, dtype=bool)
    for row in np.flatnonzero(outside.any(axis=1)):
        for sign in (1, -1):
            flags = outside[row] & (np.sign(direction[row]) == sign)
            for first, last in runs(flags, judged[row], merge_gap):
                if score is None:
                    onsets[row, first] = True
                    continue
                strong = np.flatnonzero(
                    flags[first : last + 1] & (score[row, first : last + 1] >= min_score)
                )
                if strong.size:
                    onsets[row, first + int(strong[0])] = True
    return onsets


def runs(flags: np.ndarray, judged: np.ndarray, merge_gap: int) -> list[tuple[int, int]]:
    """(first, last) index of each run of flagged points, bridging <= merge_gap in-band points.

    Example:
        >>> runs(np.array([1, 0, 1, 0, 0, 1], dtype=bool), np.ones(6, dtype=bool), 1)
        [(0, 2), (5, 5)]
    """
    found: list[tuple[int, int]] = []
    idx = np.flatnonzero(flags)
    if idx.size == 0:
        return found
    judged_before = np.concatenate([[0], np.cumsum(judged)])
    first = last = int(idx[0])
    for i in idx[1:]:
        i = int(i)
        between = judged_before[i] - judged_before[last + 1]
        if between <= merge_gap:
            last = i
        else:
            found.append((first, last))
            first = last = i
    found.append((first, last))
    return found
