"""Evaluate the anomaly detector: sandbox ledgers with injected anomalies, and labelled NAB series.

Run by ``make eval``.  One configuration for every series (the shipped defaults; the options
below exist only to explore alternatives and are printed with the figures):

* **Sandbox** (``sandbox.ledger.generate_ledger`` over several seeds): the daily check is run on
  the whole ledger.  Recall: injected anomalies whose |impact| reaches the alert threshold that
  are reported on their own monitor with a start within +-1 day (drops: reported; the others:
  alerted).  Precision: reported anomalies (alerts and reported drops) that fall on an injected
  anomaly's dates (on any monitor: an EC2 spike is rightly seen by its account, service and
  organisation monitors too).
* **NAB** (``../shared/data/nab``, read in place): each file is scored causally exactly as
  ``finops anomalies score`` does.  A *detection* is the first point of a run of anomalous
  points, i.e. one alert per event, as the product sends them; runs bridge gaps of up to
  ``max(1, period // 49)`` points (one point for daily data, as the daily flow's one-day gap;
  about 3.4 hours for sub-daily data, whose season is a week).  Event-level
  precision = detections inside a label window / detections; recall = windows with a detection /
  windows.  The NAB score follows the benchmark's rules (standard profile: A_TP = 1,
  A_FP = 0.11, A_FN = 1): the first 15 % of each file (at most 750 points) is probation and not
  scored, the first detection in a window earns the scaled sigmoid of its relative position
  (earlier is more), a detection outside windows costs A_FP times the sigmoid of its distance
  after the previous window (-1 when none), a missed window costs A_FN; the corpus total is
  normalised so that never detecting is 0 and detecting each window at its start is 100.
  The detector's own threshold is used (NAB's per-profile threshold optimisation is not).

Figures are printed and appended to bench/RESULTS.md.

Example:
    .venv/bin/python bench/anomaly_eval.py            # shipped configuration
    .venv/bin/python bench/anomaly_eval.py --no-write --band-width 4.5   # explore
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import machine, record  # noqa: E402
from sandbox.ledger import generate_ledger  # noqa: E402
from tasks.anomalies.detector import DetectorConfig  # noqa: E402
from tasks.anomalies.monitors import PAIR_SEPARATOR  # noqa: E402
from tasks.anomalies.pipeline import detect_cost_anomalies  # noqa: E402
from tasks.anomalies.scoring import score_series  # noqa: E402
from tasks.settings import load_settings  # noqa: E402

NAB_DIR = ROOT.parent / "shared" / "data" / "nab"
ACCOUNTS = ["123456789012", "111111111111", "222222222222"]
REGIONS = ["us-east-1", "eu-west-1"]
STANDARD_PROFILE = {"tp": 1.0, "fp": 0.11, "fn": 1.0}


@dataclass
class Counts:
    """Event-level counts."""

    detections: int = 0
    true_detections: int = 0
    windows: int = 0
    found_windows: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.true_detections / self.detections if self.detections else float("nan")

    @property
    def recall(self) -> float:
        return self.found_windows / self.windows if self.windows else float("nan")

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0


# -- sandbox --------------------------------------------------------------------------------------
def _monitor_id(truth: dict[str, object]) -> str:
    kind = str(truth["monitor"])
    value = {
        "service": str(truth["service"]),
        "account": str(truth["account_id"]),
        "account_service": f"{truth['account_id']}{PAIR_SEPARATOR}{truth['service']}",
    }[kind]
    return f"{kind}:{value}"


def evaluate_sandbox(seeds: range, overrides: dict[str, float]) -> Counts:
    # The whole ledger is judged (a daily run reads the last lookback_days only).
    chosen = {k: v for k, v in overrides.items() if k == "band_width"}
    settings = load_settings(anomalies={**chosen, "lookback_days": 1000})
    threshold = settings.anomalies.alert_min_impact_usd
    counts = Counts()
    for seed in seeds:
        ledger = generate_ledger(seed, ACCOUNTS, REGIONS, date(2026, 11, 26), 400)
        run = detect_cost_anomalies(
            ledger.frame,
            ledger.last_day,
            settings.anomalies,
            since=date.min,
            with_root_causes=False,
        )
        spans = []
        for truth in ledger.anomalies:
            start = date.fromisoformat(truth["start"])
            end = date.fromisoformat(truth["end"])
            spans.append((start, start + timedelta(days=30) if truth["persistent"] else end))
            if abs(float(truth["impact_usd"])) < threshold:
                continue
            counts.windows += 1
            wanted = _monitor_id(truth)
            hit = [
                a
                for a in run.anomalies
                if a.monitor_id == wanted
                and abs((a.start - start).days) <= 1
                and (a.alert if truth["kind"] != "drop" else a.direction == "decrease")
            ]
            if hit:
                counts.found_windows += 1
            else:
                counts.notes.append(f"seed {seed}: missed {truth['kind']} on {wanted} {start}")
        # Refunds are real one-day drops the ledger lists (not as anomalies): reporting them
        # as drops (never alerted by default) is right.
        refund_days = {date.fromisoformat(r["date"]) for r in getattr(ledger, "refunds", [])}
        for anomaly in run.anomalies:
            counts.detections += 1
            refund = anomaly.direction == "decrease" and any(
                abs((anomaly.start - day).days) <= 1 for day in refund_days
            )
            if refund or any(s - timedelta(days=1) <= anomaly.start <= e for s, e in spans):
                counts.true_detections += 1
            else:
                counts.notes.append(
                    f"seed {seed}: unexpected {anomaly.direction} on {anomaly.monitor_id} "
                    f"{anomaly.start} (USD {anomaly.total_impact:,.0f})"
                )
    return counts


# -- NAB ------------------------------------------------------------------------------------------
def scaled_sigmoid(position: float) -> float:
    """NAB's scaled sigmoid of the relative position (-1 = window start, 0 = end, > 0 after)."""
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def detections_of(flags: np.ndarray, merge_gap: int) -> list[int]:
    """Indexes where a run of anomalous points starts (runs bridge gaps of <= merge_gap)."""
    onsets: list[int] = []
    last = -(10**9)
    for i in np.flatnonzero(flags):
        if i - last > merge_gap + 1:
            onsets.append(int(i))
        last = int(i)
    return onsets


def nab_file_score(
    stamps: pd.Series, onsets: list[int], windows: list[tuple[pd.Timestamp, pd.Timestamp]]
) -> tuple[float, float, float, Counts]:
    """(raw score, null score, perfect score, counts) of one file under the standard profile."""
    n = len(stamps)
    probation = min(math.floor(0.15 * n), 750)
    times = stamps.dt.as_unit("ns").astype("int64").to_numpy()
    spans = []
    for start, end in windows:
        first = int(np.searchsorted(times, start.as_unit("ns").value, "left"))
        last = int(np.searchsorted(times, end.as_unit("ns").value, "right")) - 1
        spans.append((first, max(first, last)))
    a = STANDARD_PROFILE
    counts = Counts(windows=len(spans))
    tp_by_window: dict[int, float] = {}
    fp = 0.0
    for i in onsets:
        if i < probation:
            continue
        counts.detections += 1
        inside = [w for w, (s, e) in enumerate(spans) if s <= i <= e]
        if inside:
            w = inside[0]
            s, e = spans[w]
            length = e - s + 1
            position = -(e - i + 1) / length
            counts.true_detections += 1
            tp_by_window.setdefault(w, a["tp"] * scaled_sigmoid(position))
            continue
        before = [(s, e) for s, e in spans if e < i]
        if before:
            s, e = before[-1]
            position = abs(e - i) / max(1, e - s)
            fp += a["fp"] * scaled_sigmoid(position)
        else:
            fp += -a["fp"]
    counts.found_windows = len(tp_by_window)
    missed = len(spans) - len(tp_by_window)
    raw = sum(tp_by_window.values()) + fp - a["fn"] * missed
    null = -a["fn"] * len(spans)
    perfect = a["tp"] * scaled_sigmoid(-1.0) * len(spans)
    return raw, null, perfect, counts


def evaluate_nab(overrides: dict[str, float]) -> tuple[Counts, float, list[str]]:
    labels = json.loads((NAB_DIR / "labels" / "combined_windows.json").read_text())
    total = Counts()
    raw_sum = null_sum = perfect_sum = 0.0
    lines: list[str] = []
    for path in sorted(NAB_DIR.glob("*/*.csv")):
        key = f"{path.parent.name}/{path.name}"
        frame = pd.read_csv(path)
        frame = frame.iloc[np.argsort(pd.to_datetime(frame["timestamp"]).to_numpy(), kind="stable")]
        frame = frame.reset_index(drop=True)
        stamps = pd.to_datetime(frame["timestamp"], utc=True)
        values = frame["value"].to_numpy(dtype=float)
        scored = score_series(stamps, values)
        config = scored.config
        if overrides:
            config = replace(config, **overrides)  # type: ignore[arg-type]
            scored = score_series(stamps, values, config)
        flags = scored.frame["is_anomaly"].to_numpy().astype(bool)
        onsets = detections_of(flags, max(1, config.period // 49))
        windows = [
            (pd.Timestamp(s, tz=UTC), pd.Timestamp(e, tz=UTC)) for s, e in labels.get(key, [])
        ]
        raw, null, perfect, counts = nab_file_score(stamps, onsets, windows)
        raw_sum, null_sum, perfect_sum = raw_sum + raw, null_sum + null, perfect_sum + perfect
        for name in ("detections", "true_detections", "windows", "found_windows"):
            setattr(total, name, getattr(total, name) + getattr(counts, name))
        lines.append(
            f"| {key} | {config.period} | {counts.found_windows}/{counts.windows} | "
            f"{counts.true_detections}/{counts.detections} | {raw:+.2f} |"
        )
    normalised = 100.0 * (raw_sum - null_sum) / (perfect_sum - null_sum)
    return total, normalised, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="Sandbox ledgers (seeds 0..N-1).")
    parser.add_argument("--band-width", type=float, default=None, help="Explore k.")
    parser.add_argument("--no-write", action="store_true", help="Do not append to RESULTS.md.")
    parser.add_argument("--verbose", action="store_true", help="List misses and extra events.")
    args = parser.parse_args()
    overrides: dict[str, float] = {}
    if args.band_width is not None:
        overrides["band_width"] = args.band_width
    shipped = DetectorConfig()
    started = time.perf_counter()
    sandbox = evaluate_sandbox(range(args.seeds), overrides)
    nab, nab_score, nab_lines = evaluate_nab(overrides)
    elapsed = time.perf_counter() - started
    config_text = (
        f"band_width {overrides.get('band_width', shipped.band_width)}, seasons {shipped.seasons}, "
        f"level {shipped.level_seasons} seasons, scale window 4 seasons, "
        f"rel_floor {shipped.rel_floor}, min history 14 days (daily) or 2 days (sub-daily); "
        "the season is one week of points"
    )
    report = [
        f"## Anomaly detector evaluation ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Machine: {machine()}. Configuration (one for all series): {config_text}. "
        f"Run time {elapsed:.1f} s.",
        "",
        "| data | events | precision | recall | F1 | NAB score (standard) |",
        "|---|---|---|---|---|---|",
        f"| sandbox ledgers, {args.seeds} seeds | {sandbox.windows} injected >= threshold, "
        f"{sandbox.detections} reported | {sandbox.precision:.3f} | {sandbox.recall:.3f} | "
        f"{sandbox.f1:.3f} | - |",
        f"| NAB realKnownCause + realAdExchange ({len(nab_lines)} files) | {nab.windows} windows, "
        f"{nab.detections} detections | {nab.precision:.3f} | {nab.recall:.3f} | {nab.f1:.3f} | "
        f"{nab_score:.1f} |",
        "",
        "| NAB file | season (points) | windows found | detections in windows | raw score |",
        "|---|---|---|---|---|",
        *nab_lines,
        "",
    ]
    text = "\n".join(report)
    print(text)
    if args.verbose:
        print("\n".join(sandbox.notes))
    if not args.no_write:
        record("\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
