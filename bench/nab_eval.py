"""The NAB table from the files ``finops anomalies score`` writes, beside two baselines.

For every labelled file of ``../shared/data/nab/realKnownCause`` and ``realAdExchange`` this runs
the product's own command, ``finops anomalies score --input FILE --output OUT`` (a subprocess,
one configuration for every series: the command has no tuning options), reads the ``score``
column of OUT and scores it with NAB's protocol (:mod:`bench.nab_score`): the threshold is swept
over ``score`` and chosen per profile on the other files (leave one file out).  The same is
done for two baselines computed here: the null detector (never alerts) and NAB's windowed
Gaussian (``nab/detectors/gaussian/windowedGaussian_detector.py``: window 6,400 rows, moved by
100 rows; score = 1 - P(X > value) under the window's normal distribution).

Figures are printed and, unless ``--no-write``, appended to bench/RESULTS.md with the machine,
load and date.

Example:
    .venv/bin/python bench/nab_eval.py
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import load_average, machine, record  # noqa: E402
from bench.nab_score import (  # noqa: E402
    PROFILES,
    corpus_tuned,
    leave_one_out,
    normalised,
    precision_recall_f1,
    vus_pr,
)

#: The shared data beside the project (a checkout's parent, or its parent for a worktree).
NAB_DIR = next(
    (
        p / "shared" / "data" / "nab"
        for p in ROOT.parents
        if (p / "shared" / "data" / "nab").is_dir()
    ),
    ROOT.parent / "shared" / "data" / "nab",
)
CATEGORIES = ("realKnownCause", "realAdExchange")
FINOPS = ROOT / ".venv" / "bin" / "finops"

Files = dict[str, tuple[np.ndarray, list[tuple[int, int]]]]


def window_rows(stamps: pd.Series, windows: list[list[str]]) -> list[tuple[int, int]]:
    """Labelled windows (timestamps) as inclusive row ranges of the file."""
    times = pd.to_datetime(stamps).to_numpy()
    spans = []
    for start, end in windows:
        first = int(np.searchsorted(times, np.datetime64(pd.Timestamp(start)), "left"))
        last = int(np.searchsorted(times, np.datetime64(pd.Timestamp(end)), "right")) - 1
        spans.append((first, max(first, last)))
    return spans


def windowed_gaussian(values: np.ndarray, window: int = 6400, step: int = 100) -> np.ndarray:
    """NAB's windowed Gaussian detector, row by row as NAB runs it."""
    scores = np.zeros(values.size)
    data: list[float] = []
    buffer: list[float] = []
    mean, std = 0.0, 1.0
    for i, value in enumerate(values):
        if data:
            z = (value - mean) / std
            tail = (
                0.5 * math.erfc(z / math.sqrt(2))
                if value >= mean
                else 1.0 - 0.5 * math.erfc(((2 * mean - value) - mean) / std / math.sqrt(2))
            )
            scores[i] = 1.0 - tail
        if len(data) < window:
            data.append(float(value))
            mean, std = float(np.mean(data)), float(np.std(data)) or 1e-6
        else:
            buffer.append(float(value))
            if len(buffer) == step:
                data = data[step:] + buffer
                buffer = []
                mean, std = float(np.mean(data)), float(np.std(data)) or 1e-6
    return scores


def run_cli(path: Path, out: Path) -> pd.DataFrame:
    """``finops anomalies score`` on one file, as a user runs it; the written scores."""
    done = subprocess.run(
        [str(FINOPS), "anomalies", "score", "--input", str(path), "--output", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"finops anomalies score failed on {path}: {done.stderr.strip()}")
    return pd.read_csv(out)


def collect(out_dir: Path) -> tuple[Files, Files, Files, Files, dict[str, int]]:
    labels = json.loads((NAB_DIR / "labels" / "combined_windows.json").read_text())
    product: Files = {}
    decisions: Files = {}
    null: Files = {}
    gaussian: Files = {}
    alerts: dict[str, int] = {}
    for category in CATEGORIES:
        for path in sorted((NAB_DIR / category).glob("*.csv")):
            key = f"{category}/{path.name}"
            raw = pd.read_csv(path)
            spans = window_rows(raw["timestamp"], labels.get(key, []))
            scored = run_cli(path, out_dir / f"{category}__{path.name}")
            product[key] = (scored["score"].to_numpy(dtype=float), spans)
            alerts[key] = int(scored["is_anomaly"].sum())
            decisions[key] = (scored["is_anomaly"].to_numpy(dtype=float), spans)
            null[key] = (np.zeros(len(raw)), spans)
            gaussian[key] = (windowed_gaussian(raw["value"].to_numpy(dtype=float)), spans)
    return product, decisions, null, gaussian, alerts


def table(detectors: dict[str, Files]) -> list[str]:
    lines = [
        "| detector | NAB standard | NAB reward_low_FP | NAB reward_low_FN | event precision | "
        "event recall | event F1 | VUS-PR | NAB standard, tuned on the scored files |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, files in detectors.items():
        scores = {p: leave_one_out(files, profile) for p, profile in PROFILES.items()}
        precision, recall, f1 = precision_recall_f1(scores["standard"])
        vus = float(np.mean([vus_pr(s, w) for s, w in files.values()]))
        lines.append(
            f"| {name} | {normalised(scores['standard']):.1f} | "
            f"{normalised(scores['reward_low_FP_rate']):.1f} | "
            f"{normalised(scores['reward_low_FN_rate']):.1f} | {precision:.3f} | {recall:.3f} | "
            f"{f1:.3f} | {vus:.3f} | {corpus_tuned(files, PROFILES['standard']):.1f} |"
        )
    return lines


def per_file(files: Files, alerts: dict[str, int]) -> list[str]:
    lines = [
        "| file | held-out threshold | windows found | false rows | raw (standard) | "
        "`is_anomaly` rows |",
        "|---|---|---|---|---|---|",
    ]
    for r in leave_one_out(files, PROFILES["standard"]):
        lines.append(
            f"| {r.name} | {r.threshold:.6g} | {r.found}/{r.windows} | {r.false_rows} | "
            f"{r.raw:+.2f} | {alerts[r.name]} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="Do not append to RESULTS.md.")
    parser.add_argument("--out-dir", type=Path, default=None, help="Keep the CLI's output here.")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.out_dir or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        product, decisions, null, gaussian, alerts = collect(out_dir)
    lines = table(
        {
            "`finops anomalies score`, `score` column": product,
            "`finops anomalies score`, `is_anomaly` column (its own alerts)": decisions,
            "null (never alerts)": null,
            "windowed Gaussian": gaussian,
        }
    )
    report = [
        f"## NAB protocol from `finops anomalies score` output ({datetime.now(UTC):%Y-%m-%d %H:%M}"
        " UTC)",
        "",
        f"Machine: {machine()}, load {load_average()}. {len(product)} files "
        f"({', '.join(CATEGORIES)}); threshold per profile chosen leaving the scored file out; "
        f"run time {time.perf_counter() - started:.0f} s (`bench/nab_eval.py`).",
        "",
        *lines,
        "",
        *per_file(product, alerts),
        "",
    ]
    text = "\n".join(report)
    print(text)
    if not args.no_write:
        record("\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
