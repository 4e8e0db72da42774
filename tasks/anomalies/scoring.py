"""Score any regular ``timestamp,value`` series with the cost detector, causally (CSV in, CSV out).

The sampling step is the median gap between timestamps; each row is placed on that regular grid
(rows more than a quarter step off it make the file irregular and are refused).  The season
follows the step (:func:`tasks.anomalies.detector.config_for_step`): daily data has a weekly
season of 7 points, sub-daily data (5-minute or hourly metrics) a daily season of one day's
points, weekly or coarser data none.  Empty grid slots (gaps) are missing points: not scored
and left out of the baseline.  Several rows on one slot (duplicated timestamps, as real exports
have) feed the baseline with their mean, and each row is judged on its own value.

Output columns: ``timestamp`` (as given), ``value``, ``expected``, ``lower``, ``upper`` (blank
until enough history), ``score`` in [0, 1] and ``is_anomaly`` (1/0).  ``score`` says how strongly
to alert now (:func:`tasks.anomalies.alerting.alert_score`: high where an anomaly starts or
grows, back near 0 while it merely continues, the same scale on every series); ``is_anomaly``
is 1 on the first row of each anomaly only, the one alert the daily check raises for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.anomalies.alerting import (
    alert_onsets,
    alert_score,
    merge_gap_points,
    recent_points,
    tail_probability,
)
from tasks.anomalies.detector import DetectorConfig, config_for_step, detect

#: Refuse grids larger than this (e.g. one-second steps over years): memory would explode.
MAX_GRID_POINTS = 20_000_000

OUTPUT_COLUMNS: tuple[str, ...] = (
    "timestamp",
    "value",
    "expected",
    "lower",
    "upper",
    "score",
    "is_anomaly",
)


class ScoreInputError(ValueError):
    """The input series cannot be scored; the message says what to fix, in one line."""


@dataclass
class ScoredSeries:
    """Scores for each input row, in input order, and the configuration used."""

    frame: pd.DataFrame
    config: DetectorConfig
    step: timedelta


def read_series(path: Path) -> pd.DataFrame:
    """Read a ``timestamp,value`` CSV, refusing bad files with a one-line reason.

    Raises:
        ScoreInputError: missing file or columns, unparsable timestamps or values, too few rows.
    """
    if not path.is_file():
        raise ScoreInputError(f"input file {path} not found; give a CSV with timestamp,value")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise ScoreInputError(f"{path} is not a readable CSV ({reason})") from None
    except pd.errors.EmptyDataError:
        raise ScoreInputError(f"{path} is empty; it needs a header timestamp,value") from None
    columns = [c.strip().lower() for c in frame.columns]
    frame.columns = pd.Index(columns)
    if "timestamp" not in columns or "value" not in columns:
        raise ScoreInputError(
            f"{path} needs the columns timestamp,value; found {','.join(columns) or 'none'}"
        )
    if len(frame) < 3:
        raise ScoreInputError(f"{path} has {len(frame)} data rows; at least 3 are needed")
    return frame[["timestamp", "value"]]


def _parse(frame: pd.DataFrame) -> tuple[pd.Series, np.ndarray]:
    stamps = pd.to_datetime(
        frame["timestamp"].str.strip(), errors="coerce", utc=True, format="mixed"
    )
    bad = stamps.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ScoreInputError(
            f"row {row + 2}: timestamp {frame['timestamp'].iloc[row]!r} is not a date/time; "
            "use ISO 8601 such as 2026-01-31 or 2026-01-31T12:05:00Z"
        )
    text = frame["value"].str.strip()
    values = pd.to_numeric(text.where(text != "", None), errors="coerce")
    bad_values = values.isna() & (text != "")
    if bad_values.any():
        row = int(np.flatnonzero(bad_values.to_numpy())[0])
        raise ScoreInputError(
            f"row {row + 2}: value {frame['value'].iloc[row]!r} is not a number "
            "(leave it empty for a missing point)"
        )
    return stamps, values.to_numpy(dtype=float)


def score_series(
    timestamps: pd.Series, values: np.ndarray, config: DetectorConfig | None = None
) -> ScoredSeries:
    """Score one series given as timestamps (UTC) and values (NaN = missing).

    Args:
        timestamps: tz-aware timestamps, one per value.
        values: the values.
        config: detector parameters; default: chosen from the sampling step.

    Returns:
        Per-row scores in input order.

    Raises:
        ScoreInputError: the timestamps do not sit on a regular grid.
    """
    ns = timestamps.dt.as_unit("ns").astype("int64").to_numpy()
    order = np.sort(ns)
    gaps = np.diff(order)
    positive = gaps[gaps > 0]
    if positive.size == 0:
        raise ScoreInputError("all timestamps are equal; a series needs distinct times")
    step_ns = int(np.median(positive))
    offsets = (ns - order[0]) / step_ns
    slots = np.rint(offsets).astype(np.int64)
    off_grid = np.abs(offsets - slots) > 0.25
    if off_grid.any():
        row = int(np.flatnonzero(off_grid)[0])
        raise ScoreInputError(
            f"row {row + 2}: timestamp {timestamps.iloc[row]} is off the regular "
            f"{pd.Timedelta(step_ns)} grid; resample the series to one regular frequency"
        )
    length = int(slots.max()) + 1
    if length > MAX_GRID_POINTS:
        raise ScoreInputError(
            f"the series spans {length:,} steps of {pd.Timedelta(step_ns)}; "
            f"resample to a coarser step (at most {MAX_GRID_POINTS:,} points)"
        )
    step = pd.Timedelta(step_ns).to_pytimedelta()
    config = config or config_for_step(step)
    sums = np.zeros(length)
    counts = np.zeros(length)
    observed = ~np.isnan(values)
    np.add.at(sums, slots[observed], values[observed])
    np.add.at(counts, slots[observed], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        grid = np.where(counts > 0, sums / counts, np.nan)
    result = detect(grid[None, :], config)
    expected = result.expected[0, slots]
    scale = result.scale[0, slots]
    judged = result.judged[0, slots] & observed
    k = config.band_width
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(judged, (values - expected) / scale, 0.0)
    order = np.argsort(slots, kind="stable")
    z_sorted, judged_sorted = z[order][None, :], judged[order][None, :]
    probability = tail_probability(z_sorted, judged_sorted, config.residual_window, config.refresh)
    gap = merge_gap_points(config.period, config.refresh)
    strength = alert_score(probability, recent_points(config.period))
    alerts = alert_onsets(np.abs(z_sorted) >= k, np.sign(z_sorted), judged_sorted, gap, strength)
    score = np.empty(len(values))
    onset = np.empty(len(values), dtype=bool)
    score[order] = strength[0]
    onset[order] = alerts[0]
    frame = pd.DataFrame(
        {
            "value": values,
            "expected": expected,
            "lower": expected - k * scale,
            "upper": expected + k * scale,
            "score": score,
            "is_anomaly": onset.astype(int),
        }
    )
    return ScoredSeries(frame=frame, config=config, step=step)


def score_csv(input_path: Path, output_path: Path) -> ScoredSeries:
    """Read ``timestamp,value``, score it causally, write the scores CSV.

    Example:
        >>> score_csv(Path("series.csv"), Path("scores.csv"))  # doctest: +SKIP
    """
    raw = read_series(input_path)
    stamps, values = _parse(raw)
    scored = score_series(stamps, values)
    out = scored.frame.copy()
    out.insert(0, "timestamp", raw["timestamp"].to_numpy())
    folder = output_path.parent
    if not folder.is_dir():
        raise ScoreInputError(f"cannot write {output_path}: folder {folder} does not exist")
    try:
        out[list(OUTPUT_COLUMNS)].to_csv(output_path, index=False, float_format="%.10g")
    except OSError as error:
        reason = error.strerror or str(error)
        raise ScoreInputError(f"cannot write {output_path}: {reason}") from None
    return scored
