"""The alert score and the one-alert-per-anomaly decision, through `finops anomalies score`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from finops.cli import app
from tasks.anomalies.alerting import alert_onsets, alert_score, tail_probability
from tasks.anomalies.detector import detect

NAB = next(
    (
        p / "shared" / "data" / "nab"
        for p in Path(__file__).resolve().parents
        if (p / "shared").is_dir()
    ),
    Path("../shared/data/nab"),
)

DAY = 288  # five-minute points


def _write(path: Path, values: np.ndarray) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    stamps = [
        (start + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S") for i in range(values.size)
    ]
    pd.DataFrame({"timestamp": stamps, "value": np.round(values, 5)}).to_csv(path, index=False)


def _daily_cycle(days: int, seed: int, level: float = 50.0, noise: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    phase = np.arange(days * DAY) % DAY
    return level + 0.4 * level * np.sin(2 * np.pi * phase / DAY) + rng.normal(0, noise, days * DAY)


def _score(tmp_path: Path, name: str, values: np.ndarray) -> pd.DataFrame:
    series, out = tmp_path / f"{name}.csv", tmp_path / f"{name}_scores.csv"
    _write(series, values)
    result = CliRunner().invoke(
        app, ["anomalies", "score", "--input", str(series), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    return pd.read_csv(out)


def test_a_sustained_shift_is_alerted_once_and_its_score_falls_back(tmp_path: Path) -> None:
    values = _daily_cycle(24, seed=3)
    shift_at = 20 * DAY + 37
    values[shift_at:] += 30.0  # a level shift that lasts to the end (four days)
    scored = _score(tmp_path, "shift", values)
    alerts = np.flatnonzero(scored["is_anomaly"].to_numpy())
    assert alerts.tolist() == [shift_at]
    score = scored["score"].to_numpy()
    assert score[shift_at] > 0.9
    # While the same shift merely continues, the score is back near 0 on almost every row.
    continuing = score[shift_at + 1 :]
    assert np.mean(continuing < 0.5) > 0.99
    assert np.all(score[:shift_at][-DAY:] < 0.9)


def test_a_growing_anomaly_raises_the_score_again(tmp_path: Path) -> None:
    values = _daily_cycle(22, seed=5)
    start = 20 * DAY
    values[start : start + 30] += 12.0  # starts
    values[start + 30 : start + 60] += 60.0  # and grows well beyond its start
    scored = _score(tmp_path, "grow", values)
    score = scored["score"].to_numpy()
    assert score[start : start + 3].max() > 0.5
    assert score[start + 30] > 0.9
    assert np.all(score[start + 31 : start + 60] < 0.5)


def test_the_score_means_the_same_on_series_of_any_unit_and_noise(tmp_path: Path) -> None:
    base = _daily_cycle(22, seed=11)
    base[21 * DAY] += 25.0
    scaled = 1000.0 * base + 7.0  # another unit: same surprise, same score
    small, large = _score(tmp_path, "small", base), _score(tmp_path, "large", scaled)
    np.testing.assert_allclose(small["score"], large["score"], atol=1e-6)
    assert small["score"].iloc[21 * DAY] > 0.9


def test_tail_probability_is_a_calibrated_rank_under_the_null() -> None:
    rng = np.random.default_rng(0)
    z = rng.standard_t(3, size=(4, 5000))  # heavy tails: a Gaussian reading would alert often
    judged = np.ones_like(z, dtype=bool)
    p = tail_probability(z, judged, history=1000)[:, 1000:]
    # About 1 % of points have p <= 0.01, whatever the tails of the noise.
    assert 0.005 < float(np.mean(p <= 0.01)) < 0.02
    assert 0.04 < float(np.mean(p <= 0.05)) < 0.065


def test_the_daily_detector_and_the_cli_share_the_alert_score() -> None:
    rng = np.random.default_rng(1)
    days = 200
    values = np.tile([100, 100, 100, 100, 100, 40, 40], days // 7 + 1)[:days] + rng.normal(
        0, 3, days
    )
    values[150:] += 80  # a lasting shift
    result = detect(values[None, :])
    probability = tail_probability(result.zscore, result.judged, 28)
    np.testing.assert_allclose(
        result.score, np.where(result.judged, alert_score(probability, 7), 0.0)
    )
    assert result.score[0, 150] > 0.9
    assert result.score[0, 151:158].max() < 0.5
    onsets = alert_onsets(result.is_anomaly, result.direction, result.judged, 1, result.score)
    assert np.flatnonzero(onsets[0]).tolist() == [150]


def test_real_nyc_taxi_alerts_once_per_run_not_on_every_row(tmp_path: Path) -> None:
    source = NAB / "realKnownCause" / "nyc_taxi.csv"
    out = tmp_path / "taxi_scores.csv"
    result = CliRunner().invoke(
        app, ["anomalies", "score", "--input", str(source), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(out)
    flags = scored["is_anomaly"].to_numpy().astype(bool)
    # Each alert starts an anomaly: never two alerts on consecutive rows.
    assert not np.any(flags[1:] & flags[:-1])
    assert flags.sum() < 100  # the old per-row flag marked 392 rows
    assert f"{int(flags.sum())} anomalous" in result.output
