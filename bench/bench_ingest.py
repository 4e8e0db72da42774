"""Benchmark: ingest a large FOCUS export (N and 2N line items) through the export path.

Generates a FOCUS 1.0 Data Export in a local folder laid out as AWS writes it (one billing
period, files of ``--rows-per-file`` hourly line items at resource level), then runs the export
path end to end in a fresh process per size: manifest discovery, file-by-file reading and
folding, the Great Expectations suite, and the atomic write to a Parquet cost store.  Records
line items per second and peak resident memory (``ru_maxrss``) for N and 2N, and appends them to
``bench/RESULTS.md``.  Both sizes share the same key space (days x accounts x services x regions
x usage types), as a bigger organisation of the same shape would: more line items per key.

Run: ``.venv/bin/python bench/bench_ingest.py [--rows 5000000]`` (N; 2N is also run).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import machine  # noqa: E402

EXPORT_NAME = "bench-focus"
PERIOD = "2026-09"
ACCOUNTS = [f"{100000000000 + i * 7919:012d}" for i in range(12)]
SERVICES = [
    "Amazon Elastic Compute Cloud",
    "Amazon Simple Storage Service",
    "Amazon Relational Database Service",
    "AWS Lambda",
    "Amazon CloudWatch",
    "Amazon Virtual Private Cloud",
    "Elastic Load Balancing",
    "Amazon DynamoDB",
    "Amazon Elastic Container Service",
    "Amazon CloudFront",
]
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
USAGE = ["BoxUsage:m5.large", "TimedStorage-ByteHrs", "Requests-Tier1", "DataTransfer-Out-Bytes"]


def generate_file(path: Path, rows: int, seed: int) -> float:
    """Write one FOCUS Parquet file of ``rows`` hourly line items; returns its billed total."""
    rng = np.random.default_rng(seed)
    start = np.datetime64(f"{PERIOD}-01T00:00:00", "s")
    hours = rng.integers(0, 30 * 24, rows)
    charge_start = start + hours.astype("timedelta64[h]")
    account = rng.integers(0, len(ACCOUNTS), rows)
    service = rng.integers(0, len(SERVICES), rows)
    region = rng.integers(0, len(REGIONS), rows)
    usage = rng.integers(0, len(USAGE), rows)
    billed = np.round(rng.gamma(2.0, 0.05, rows), 6)
    category = np.where(rng.random(rows) < 0.002, "Credit", "Usage")
    billed = np.where(category == "Credit", -billed, billed)

    def pick(values: list[str], index: np.ndarray) -> pa.Array:
        return pa.DictionaryArray.from_arrays(pa.array(index, pa.int32()), pa.array(values)).cast(
            pa.string()
        )

    ts = pa.timestamp("ms", tz="UTC")
    table = pa.table(
        {
            "BilledCost": billed,
            "BillingAccountId": pa.array(np.full(rows, ACCOUNTS[0])),
            "BillingCurrency": pa.array(np.full(rows, "USD")),
            "BillingPeriodStart": pa.array(np.full(rows, start.astype("datetime64[ms]")), ts),
            "ChargeCategory": pa.array(category),
            "ChargePeriodStart": pa.array(charge_start.astype("datetime64[ms]"), ts),
            "ConsumedQuantity": np.round(rng.gamma(2.0, 1.0, rows), 6),
            "ConsumedUnit": pick(["Hrs", "GB-Mo", "Requests", "GB"], usage),
            "EffectiveCost": billed,
            "ListCost": billed,
            "ProviderName": pa.array(np.full(rows, "AWS")),
            "RegionId": pick(REGIONS, region),
            "ServiceName": pick(SERVICES, service),
            "SubAccountId": pick(ACCOUNTS, account),
            "x_UsageType": pick(USAGE, usage),
            "ResourceId": pa.array(
                np.char.add("i-", rng.integers(0, 10**9, rows).astype(str)).astype(object)
            ),
        }
    )
    pq.write_table(table, path, compression="snappy")
    return float(billed.sum())


def generate_export(root: Path, rows: int, rows_per_file: int) -> float:
    """A one-period export of ``rows`` line items under ``root``; returns the billed total."""
    execution = f"bench-{rows}"
    data = root / EXPORT_NAME / "data" / f"BILLING_PERIOD={PERIOD}" / execution
    data.mkdir(parents=True, exist_ok=True)
    files, total, written, index = [], 0.0, 0, 0
    while written < rows:
        index += 1
        count = min(rows_per_file, rows - written)
        path = data / f"{EXPORT_NAME}-{index:05d}.snappy.parquet"
        total += generate_file(path, count, seed=index)
        files.append(str(path))
        written += count
    manifest = {
        "executionId": execution,
        "billingPeriod": {"start": f"{PERIOD}-01T00:00:00Z", "end": "2026-10-01T00:00:00Z"},
        "dataFiles": files,
    }
    metadata = root / EXPORT_NAME / "metadata" / f"BILLING_PERIOD={PERIOD}"
    metadata.mkdir(parents=True, exist_ok=True)
    (metadata / f"{EXPORT_NAME}-Manifest.json").write_text(json.dumps(manifest))
    return total


def ingest_once(export_root: str, store_root: str) -> dict[str, float]:
    """The export path end to end (what the flow's tasks do, without the Prefect server)."""
    from tasks.costs.export import ExportLocation, discover_periods
    from tasks.costs.quality import check_batch
    from tasks.costs.store import CostStore
    from tasks.costs.sync import collect_export_period, history_for, quality_policy
    from tasks.settings import load_settings

    settings = load_settings()
    started = time.perf_counter()
    location = ExportLocation(export_root, EXPORT_NAME)
    (period,) = discover_periods(location).values()
    frame, line_items = collect_export_period(location, period)
    read_s = time.perf_counter() - started
    store = CostStore(store_root)
    policy = quality_policy(settings, period.start, period.end, date(2026, 10, 15))
    check_batch(frame, policy, history_for(store, period.start, "export"))
    store.replace_window(frame, period.start, period.end, "export")
    elapsed = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "line_items": line_items,
        "rows_stored": len(frame),
        "billed_total": float(frame["billed_cost"].sum()),
        "seconds": elapsed,
        "read_seconds": read_s,
        "rows_per_s": line_items / elapsed,
        "peak_rss_mib": peak_kib / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="N line items (2N also run)")
    parser.add_argument("--rows-per-file", type=int, default=500_000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--no-record", action="store_true", help="Do not append to RESULTS.md")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(ingest_once(*args.child)))
        return
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    results = []
    try:
        for rows in (args.rows, 2 * args.rows):
            export_root, store_root = work / f"export-{rows}", work / f"store-{rows}"
            t0 = time.perf_counter()
            expected = generate_export(export_root, rows, args.rows_per_file)
            print(f"generated {rows:,} line items in {time.perf_counter() - t0:.1f}s", flush=True)
            # A fresh process per size, so ru_maxrss is that size's own peak.
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(export_root), str(store_root)],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "FINOPS_COSTS__DAILY_TOTAL_BAND": "10"},
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            assert result["line_items"] == rows, result
            assert abs(result["billed_total"] - expected) < 0.01 * rows / 1e6 + 0.01, result
            results.append(result)
            print(json.dumps(result), flush=True)
            shutil.rmtree(export_root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n, n2 = results
    ratio = n2["peak_rss_mib"] / n["peak_rss_mib"]
    lines = [
        "",
        f"## bench_ingest.py — {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"Machine: {machine()}; load average at start {os.getloadavg()[0]:.1f} (shared machine).",
        "Export path end to end (manifest, file-by-file read + fold, GX suite, atomic store write);"
        f" one FOCUS billing period, files of {args.rows_per_file:,} line items.",
        "",
        "| line items | stored rows | seconds | line items/s | read+fold line items/s "
        "| peak RSS (MiB) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['line_items']:,} | {r['rows_stored']:,} | {r['seconds']:.1f} | "
            f"{r['rows_per_s']:,.0f} | {r['line_items'] / r['read_seconds']:,.0f} | "
            f"{r['peak_rss_mib']:,.0f} |"
        )
    lines.append("")
    lines.append(
        f"Peak memory at 2N / at N: {ratio:.2f} (flat when close to 1). Seconds include the "
        "one-off Great Expectations import and context (a few seconds)."
    )
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_record:
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
