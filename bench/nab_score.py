"""NAB's scoring protocol over per-row anomaly scores, with the threshold chosen on other files.

This follows the Numenta Anomaly Benchmark's scorer (numenta/NAB ``nab/sweeper.py``,
``nab/scorer.py``, ``config/profiles.json``):

* the windows are the labelled windows of ``labels/combined_windows.json`` (NAB builds them as
  10 % of the file's length divided by its number of anomalies, centred on each label);
* the probationary period is the first ``min(floor(0.15 * n), 0.15 * 5000)`` rows of a file:
  its rows are not scored;
* a row at or over the threshold inside a window is a detection of that window; a window earns
  the weight of its *first* detection, ``A_TP * sigmoid(pos) / sigmoid(-1)`` with
  ``pos = -(right - i + 1) / width`` (so the window's first row earns exactly ``A_TP``), later
  detections in the same window earn nothing more and cost nothing;
* every row at or over the threshold outside windows is a false positive costing
  ``A_FP * sigmoid(|prev_right - i| / (prev_width - 1))`` after a window (nearly 0 just after
  it, -A_FP far away) and ``-A_FP`` before any window;
* a window without a detection costs ``-A_FN``;
* ``sigmoid(x) = 2 / (1 + exp(5 x)) - 1``, and -1 for ``x > 3``;
* the corpus score is normalised: ``100 * (raw - null) / (perfect - null)``, where the null
  detector never detects (``-A_FN`` per window) and the perfect one detects each window on its
  first row (``A_TP`` per window).

NAB picks one threshold per profile for the whole corpus, on the same files it scores; here the
threshold for each file is the one that maximises the summed raw score of the *other* files
(leave one file out), so no file is scored with a threshold tuned on itself.

Beside NAB: event-level precision/recall/F1 at the chosen threshold (a detected window is one
true event, every row over the threshold outside windows one false event, a window without a
detection one miss) and VUS-PR, the volume under the range-PR surface used by TSB-AD (see
:func:`vus_pr`).

Example:
    >>> import numpy as np
    >>> scores = np.zeros(100); scores[60] = 0.9
    >>> sweep = file_sweep(scores, [(55, 64)], np.array([0.5]), PROFILES["standard"])
    >>> round(float(sweep[0]), 3)  # detected halfway through the window
    0.86
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: NAB's application profiles (config/profiles.json): weights of TP, FP, FN.
PROFILES: dict[str, dict[str, float]] = {
    "standard": {"tp": 1.0, "fp": 0.11, "fn": 1.0},
    "reward_low_FP_rate": {"tp": 1.0, "fp": 0.22, "fn": 1.0},
    "reward_low_FN_rate": {"tp": 1.0, "fp": 0.11, "fn": 2.0},
}

#: The thresholds swept: a uniform grid plus a log grid towards 1 (calibrated scores crowd there).
THRESHOLDS = np.unique(
    np.concatenate([np.linspace(0.0, 1.0, 201), 1.0 - np.logspace(-1, -12, 221), [1.0 + 1e-9]])
)


def scaled_sigmoid(position: float) -> float:
    """NAB's scaled sigmoid of a relative position (-1 = window start, 0 = its end, > 0 after).

    Example:
        >>> round(scaled_sigmoid(-1.0), 5), scaled_sigmoid(3.5)
        (0.98661, -1.0)
    """
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def probation_rows(length: int) -> int:
    """NAB's probationary period for a file of ``length`` rows (15 %, at most 750 rows).

    Example:
        >>> probation_rows(1000), probation_rows(22695)
        (150, 750)
    """
    return int(min(math.floor(0.15 * length), 0.15 * 5000))


def row_weights(
    length: int, windows: list[tuple[int, int]], profile: dict[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """(weight of a detection on each row, window index of each row or -1).

    Windows are ``(first_row, last_row)`` inclusive, sorted and not overlapping.
    """
    weight = np.zeros(length)
    window_of = np.full(length, -1, dtype=np.int64)
    max_tp = scaled_sigmoid(-1.0)
    previous: tuple[int, int] | None = None
    ordered = sorted(windows)
    w = 0
    for i in range(length):
        while w < len(ordered) and ordered[w][1] < i:
            previous = ordered[w]
            w += 1
        if w < len(ordered) and ordered[w][0] <= i <= ordered[w][1]:
            first, last = ordered[w]
            width = last - first + 1
            weight[i] = profile["tp"] * scaled_sigmoid(-(last - i + 1) / width) / max_tp
            window_of[i] = w
        elif previous is None:
            weight[i] = -profile["fp"]
        else:
            first, last = previous
            width = last - first + 1
            weight[i] = profile["fp"] * scaled_sigmoid(abs(last - i) / max(1, width - 1))
    return weight, window_of


def file_sweep(
    scores: np.ndarray,
    windows: list[tuple[int, int]],
    thresholds: np.ndarray,
    profile: dict[str, float],
) -> np.ndarray:
    """The file's raw NAB score at each threshold (a row detects when ``score >= threshold``)."""
    scores = np.nan_to_num(np.asarray(scores, dtype=float), nan=0.0)
    length = scores.size
    weight, window_of = row_weights(length, windows, profile)
    scored = np.arange(length) >= probation_rows(length)
    # False positives: sum of the weights of outside rows at or over each threshold.
    outside = scored & (window_of < 0)
    out_scores = scores[outside]
    order = np.argsort(out_scores)
    sorted_scores = out_scores[order]
    tail_sums = np.concatenate([np.cumsum(weight[outside][order][::-1])[::-1], [0.0]])
    fp = tail_sums[np.searchsorted(sorted_scores, thresholds, side="left")]
    total = fp - profile["fn"] * len(windows)
    for first, last in sorted(windows):
        rows = np.arange(first, last + 1)
        rows = rows[scored[rows]]
        if rows.size == 0:
            continue
        running = np.maximum.accumulate(scores[rows])
        at = np.searchsorted(running, thresholds, side="left")
        hit = at < rows.size
        gain = np.where(hit, weight[rows[np.minimum(at, rows.size - 1)]], 0.0)
        total = total + np.where(hit, gain + profile["fn"], 0.0)
    return total


@dataclass
class FileResult:
    """One file's figures at its held-out threshold, for one profile."""

    name: str
    threshold: float
    raw: float
    null: float
    perfect: float
    windows: int
    found: int
    false_rows: int


def event_counts(
    scores: np.ndarray, windows: list[tuple[int, int]], threshold: float
) -> tuple[int, int]:
    """(windows detected, rows over the threshold outside windows), probation excluded."""
    scores = np.nan_to_num(np.asarray(scores, dtype=float), nan=0.0)
    length = scores.size
    scored = np.arange(length) >= probation_rows(length)
    inside = np.zeros(length, dtype=bool)
    found = 0
    for first, last in windows:
        inside[first : last + 1] = True
        span = slice(first, last + 1)
        if bool(np.any((scores[span] >= threshold) & scored[span])):
            found += 1
    false_rows = int(np.sum((scores >= threshold) & scored & ~inside))
    return found, false_rows


def leave_one_out(
    files: dict[str, tuple[np.ndarray, list[tuple[int, int]]]],
    profile: dict[str, float],
    thresholds: np.ndarray = THRESHOLDS,
) -> list[FileResult]:
    """Score each file at the threshold that maximises the other files' summed raw score."""
    sweeps = {name: file_sweep(s, w, thresholds, profile) for name, (s, w) in files.items()}
    everything = np.sum(list(sweeps.values()), axis=0)
    results = []
    for name, (scores, windows) in files.items():
        others = everything - sweeps[name]
        best = np.flatnonzero(others >= others.max() - 1e-12)
        threshold = float(thresholds[best[-1]])  # ties: the highest, i.e. the fewest alerts
        found, false_rows = event_counts(scores, windows, threshold)
        results.append(
            FileResult(
                name=name,
                threshold=threshold,
                raw=float(sweeps[name][best[-1]]),
                null=-profile["fn"] * len(windows),
                perfect=profile["tp"] * len(windows),
                windows=len(windows),
                found=found,
                false_rows=false_rows,
            )
        )
    return results


def corpus_tuned(
    files: dict[str, tuple[np.ndarray, list[tuple[int, int]]]],
    profile: dict[str, float],
    thresholds: np.ndarray = THRESHOLDS,
) -> float:
    """NAB's own way, for reference only: one threshold tuned on the very files it scores.

    Returns the normalised corpus score at the best such threshold.
    """
    total = np.sum([file_sweep(s, w, thresholds, profile) for s, w in files.values()], axis=0)
    windows = sum(len(w) for _, w in files.values())
    null, perfect = -profile["fn"] * windows, profile["tp"] * windows
    return float(100.0 * (total.max() - null) / (perfect - null))


def normalised(results: list[FileResult]) -> float:
    """NAB's normalised corpus score: 0 = never detecting, 100 = every window at its start.

    Example:
        >>> normalised([FileResult("f", 0.5, -2.0, -2.0, 2.0, 2, 0, 0)])
        0.0
    """
    raw = sum(r.raw for r in results)
    null = sum(r.null for r in results)
    perfect = sum(r.perfect for r in results)
    return 100.0 * (raw - null) / (perfect - null)


def precision_recall_f1(results: list[FileResult]) -> tuple[float, float, float]:
    """Event-level precision, recall and F1 over files (see the module docstring).

    Example:
        >>> precision_recall_f1([FileResult("f", 0.5, 0.0, -2.0, 2.0, 2, 1, 1)])
        (0.5, 0.5, 0.5)
    """
    found = sum(r.found for r in results)
    windows = sum(r.windows for r in results)
    false_rows = sum(r.false_rows for r in results)
    precision = found / (found + false_rows) if found + false_rows else 0.0
    recall = found / windows if windows else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def vus_pr(
    scores: np.ndarray, windows: list[tuple[int, int]], max_buffer: int = 125, steps: int = 11
) -> float:
    """Volume under the range-PR surface (VUS-PR, Paparrizos et al. 2022, as TSB-AD reports).

    For each buffer length ``l`` in ``0..max_buffer`` (``steps`` values), the labels are widened
    by ``l`` rows on each side with weights falling as ``sqrt(1 - d / (l + 1))``; at each of up
    to 250 thresholds (quantiles of the scores) range recall is the weighted true positives
    over the mean of the plain and widened label mass (as TSB-AD divides), times the
    share of windows with any detection (existence), range precision the weighted precision;
    the average precision (precision times the recall each threshold adds) is averaged over
    the buffer lengths.  The probation rows are left out, as NAB leaves them.  This is written
    from the paper's definition, not TSB-AD's code, so it orients rather than ranks.  (TSB-AD
    sets the maximum buffer from the series' period; here it is fixed at 125 rows, TSB-AD's
    fallback, so every file is treated alike.)

    Example:
        >>> s = np.zeros(400); s[200:210] = 1.0
        >>> exact = vus_pr(s, [(200, 209)])
        >>> noise = vus_pr(np.random.default_rng(0).random(400), [(200, 209)])
        >>> exact > 0.5 > noise
        True
    """
    scores = np.nan_to_num(np.asarray(scores, dtype=float), nan=0.0)
    length = scores.size
    keep = np.arange(length) >= probation_rows(length)
    base = np.zeros(length)
    for first, last in windows:
        base[first : last + 1] = 1.0
    candidates = np.unique(np.quantile(scores[keep], np.linspace(0, 1, 250)))[::-1]
    areas = []
    for buffer in np.unique(np.linspace(0, max_buffer, steps).astype(int)):
        label = base.copy()
        for first, last in windows:
            for d in range(1, buffer + 1):
                weight = math.sqrt(1.0 - d / (buffer + 1))
                for i in (first - d, last + d):
                    if 0 <= i < length:
                        label[i] = max(label[i], weight)
        y = label[keep]
        # TSB-AD divides by the mean of the plain and the widened label mass.
        positives = 0.5 * (float(base[keep].sum()) + float(y.sum()))
        kept_windows = [(a, b) for a, b in windows if keep[a : b + 1].any()]
        recalls, precisions = [0.0], [0.0]
        for threshold in candidates:
            predicted = scores >= threshold
            p_keep = predicted[keep]
            if not p_keep.any():
                continue
            existence = (
                np.mean([predicted[a : b + 1][keep[a : b + 1]].any() for a, b in kept_windows])
                if kept_windows
                else 0.0
            )
            true_positive = float((y * p_keep).sum())
            recall = min(1.0, true_positive / max(positives, 1e-12)) * float(existence)
            recalls.append(recall)
            precisions.append(float((y * p_keep).sum() / p_keep.sum()))
        # Average precision: precision at each threshold times the recall it adds.
        r = np.maximum.accumulate(np.array(recalls))
        areas.append(float(np.sum(np.diff(r) * np.array(precisions)[1:])))
    return float(np.mean(areas))
