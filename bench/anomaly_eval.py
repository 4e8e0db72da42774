"""Evaluate the anomaly detector: sandbox ledgers with injected anomalies, and labelled NAB series.

Run by ``make eval``.  One configuration for every series (the shipped defaults; the options
below exist only to explore alternatives and are printed with the figures):

* **Sandbox** (``sandbox.ledger.generate_ledger`` over several seeds): the daily check is run on
  the whole ledger.  Recall: injected anomalies whose |impact| reaches the alert threshold that
  are reported on their own monitor with a start within +-1 day (drops: reported; the others:
  alerted).  Precision: reported anomalies (alerts and reported drops) that fall on an injected
  anomaly's dates (on any monitor: an EC2 spike is rightly seen by its account, service and
  organisation monitors too).
* **NAB**: ``bench/nab_eval.py`` scores the labelled NAB files from the output files of
  ``finops anomalies score`` with NAB's own protocol (the figures a user can reproduce).

Figures are printed and appended to bench/RESULTS.md.

Example:
    .venv/bin/python bench/anomaly_eval.py            # shipped configuration
    .venv/bin/python bench/anomaly_eval.py --no-write --band-width 4.5   # explore
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import machine, record  # noqa: E402
from sandbox.ledger import generate_ledger  # noqa: E402
from tasks.anomalies.detector import DetectorConfig  # noqa: E402
from tasks.anomalies.monitors import PAIR_SEPARATOR  # noqa: E402
from tasks.anomalies.pipeline import detect_cost_anomalies  # noqa: E402
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
        "| data | events | precision | recall | F1 |",
        "|---|---|---|---|---|",
        f"| sandbox ledgers, {args.seeds} seeds | {sandbox.windows} injected >= threshold, "
        f"{sandbox.detections} reported | {sandbox.precision:.3f} | {sandbox.recall:.3f} | "
        f"{sandbox.f1:.3f} |",
        "",
        "NAB: see `bench/nab_eval.py` (scored from `finops anomalies score` output files).",
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
