"""NAB's scoring rules in bench/nab_score.py: weights, probation, normalisation, thresholds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.nab_score import (
    PROFILES,
    THRESHOLDS,
    event_counts,
    file_sweep,
    leave_one_out,
    normalised,
    precision_recall_f1,
    probation_rows,
    scaled_sigmoid,
)

STANDARD = PROFILES["standard"]


def _at(
    scores: np.ndarray, windows: list[tuple[int, int]], threshold: float, profile=STANDARD
) -> float:
    return float(file_sweep(scores, windows, np.array([threshold]), profile)[0])


def test_a_detection_on_the_first_row_of_a_window_earns_exactly_the_tp_weight() -> None:
    scores = np.zeros(1000)
    scores[500] = 1.0
    assert _at(scores, [(500, 599)], 0.5) == pytest.approx(1.0)
    # Later in the window earns less, by NAB's scaled sigmoid.
    late = np.zeros(1000)
    late[590] = 1.0
    expected = scaled_sigmoid(-(599 - 590 + 1) / 100) / scaled_sigmoid(-1.0)
    assert _at(late, [(500, 599)], 0.5) == pytest.approx(expected)
    assert profile_weights_are_nabs()


def profile_weights_are_nabs() -> bool:
    return (
        PROFILES["standard"] == {"tp": 1.0, "fp": 0.11, "fn": 1.0}
        and PROFILES["reward_low_FP_rate"] == {"tp": 1.0, "fp": 0.22, "fn": 1.0}
        and PROFILES["reward_low_FN_rate"] == {"tp": 1.0, "fp": 0.11, "fn": 2.0}
    )


def test_every_row_over_the_threshold_outside_windows_is_a_false_positive() -> None:
    scores = np.zeros(1000)
    scores[200:210] = 0.9  # ten rows before any window: -A_FP each
    got = _at(scores, [(500, 599)], 0.5)
    assert got == pytest.approx(-1.0 - 10 * 0.11)
    found, false_rows = event_counts(scores, [(500, 599)], 0.5)
    assert (found, false_rows) == (0, 10)
    # Far after a window a false positive costs the full weight; just after it, almost nothing.
    after = np.zeros(1000)
    after[995] = 0.9
    just = np.zeros(1000)
    just[600] = 0.9
    assert _at(after, [(500, 599)], 0.5) == pytest.approx(-1.0 - 0.11)
    assert -1.0 - 0.11 < _at(just, [(500, 599)], 0.5) < -1.0
    assert math.isclose(scaled_sigmoid(3.5), -1.0)


def test_probation_rows_are_not_scored() -> None:
    assert probation_rows(1000) == 150 and probation_rows(100_000) == 750
    scores = np.zeros(1000)
    scores[:150] = 1.0  # all inside probation: neither detections nor false positives
    assert _at(scores, [(500, 599)], 0.5) == pytest.approx(-1.0)


def test_null_scores_zero_and_perfect_scores_one_hundred() -> None:
    windows = [(300, 399), (700, 799)]
    null = {"a": (np.zeros(1000), windows), "b": (np.zeros(1000), windows[:1])}
    perfect_scores = np.zeros(1000)
    perfect_scores[[300, 700]] = 1.0
    perfect = {"a": (perfect_scores, windows), "b": (perfect_scores.copy(), windows)}
    for profile in PROFILES.values():
        assert normalised(leave_one_out(null, profile)) == pytest.approx(0.0)
        assert normalised(leave_one_out(perfect, profile)) == pytest.approx(100.0)


def test_the_threshold_is_chosen_on_the_other_files() -> None:
    # File "tuned-on-itself" would score best at threshold 0.3; the others all want 0.8.
    windows = [(500, 599)]
    own = np.zeros(1000)
    own[520] = 0.3
    others = np.zeros(1000)
    others[510] = 0.8
    others[300] = 0.5  # a false positive the others avoid with a threshold over 0.5
    files = {"own": (own, windows), "x": (others, windows), "y": (others.copy(), windows)}
    results = {r.name: r for r in leave_one_out(files, STANDARD, THRESHOLDS)}
    assert results["own"].threshold > 0.5
    assert results["own"].found == 0 and results["own"].raw == pytest.approx(-1.0)
    # For "x", "own" is among the other files and pulls the threshold down to 0.3: the false
    # positive at row 300 is then counted against "x".
    assert results["x"].threshold <= 0.3 and (results["x"].found, results["x"].false_rows) == (1, 1)
    precision, recall, _ = precision_recall_f1(list(results.values()))
    assert (precision, recall) == (pytest.approx(0.5), pytest.approx(2 / 3))
