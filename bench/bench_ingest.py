"""Benchmark: ingest a large FOCUS export through the export path, before/after, in one run.

Generates a FOCUS 1.0 Data Export in a local folder laid out as AWS writes it (one billing
period, files of ``--rows-per-file`` hourly line items at resource level), then runs in a fresh
process each (so ``ru_maxrss`` is that run's own peak):

* ``before``: the export path end to end with the Arrow batch-by-batch fold it had until the
  DuckDB fold (kept here only to measure against), at N line items;
* ``after``: the export path end to end as shipped (manifest discovery, the DuckDB fold of
  :mod:`tasks.costs.fold`, the Great Expectations suite, the atomic write to a Parquet cost
  store), at N/2, N and 2N, for the peak memory as rows double;
* ``bare``: one bare DuckDB GROUP BY over the same files (the column store's own speed), at N.

Records line items per second (read+fold and end to end) and peak resident memory, and appends
them to ``bench/RESULTS.md`` with the machine, its load and the date.  All sizes share the same
key space (days x accounts x services x regions x usage types), as a bigger organisation of the
same shape would: more line items per key.

Run: ``.venv/bin/python bench/bench_ingest.py [--rows 5000000]``.
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
from typing import Any

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


def generate_files(folder: Path, rows: int, rows_per_file: int) -> list[tuple[Path, int, float]]:
    """Data files of ``rows`` line items in all: (path, line items, billed total) each."""
    folder.mkdir(parents=True, exist_ok=True)
    files, written, index = [], 0, 0
    while written < rows:
        index += 1
        count = min(rows_per_file, rows - written)
        path = folder / f"{EXPORT_NAME}-{index:05d}.snappy.parquet"
        files.append((path, count, generate_file(path, count, seed=index)))
        written += count
    return files


def export_of(root: Path, rows: int, pool: list[tuple[Path, int, float]]) -> float:
    """A one-period export of the pool's first files making ``rows`` line items (hard links, so
    the files are the same bytes at every size); returns its billed total."""
    execution = f"bench-{rows}"
    data = root / EXPORT_NAME / "data" / f"BILLING_PERIOD={PERIOD}" / execution
    data.mkdir(parents=True, exist_ok=True)
    files, total, counted = [], 0.0, 0
    for source, count, billed in pool:
        if counted >= rows:
            break
        target = data / source.name
        os.link(source, target)
        files.append(str(target))
        total += billed
        counted += count
    if counted != rows:
        raise SystemExit(f"--rows {rows} is not a multiple of --rows-per-file")
    manifest = {
        "executionId": execution,
        "billingPeriod": {"start": f"{PERIOD}-01T00:00:00Z", "end": "2026-10-01T00:00:00Z"},
        "dataFiles": files,
    }
    metadata = root / EXPORT_NAME / "metadata" / f"BILLING_PERIOD={PERIOD}"
    metadata.mkdir(parents=True, exist_ok=True)
    (metadata / f"{EXPORT_NAME}-Manifest.json").write_text(json.dumps(manifest))
    return total


def arrow_batch_fold(location: Any, period: Any) -> tuple[Any, int]:
    """The export path's fold before the DuckDB fold: each record batch normalised and folded
    with Arrow compute, the partial totals re-folded (kept here only as the "before")."""
    import pyarrow.compute as pc

    from tasks.costs.export import (
        _FOLD_KEYS,
        _FOLD_SUMS,
        CUR2_TO_FOCUS,
        FOCUS_COLUMNS,
        _spell_periods,
        fold_table,
        normalize_table,
    )

    def refold(partials: list[pa.Table]) -> pa.Table:
        grouped = (
            pa.concat_tables(partials)
            .group_by(_FOLD_KEYS, use_threads=False)
            .aggregate(
                [
                    *[(c, "sum") for c in [*_FOLD_SUMS, "line_items"]],
                    ("usage_unit", "count_distinct"),
                    ("usage_unit", "first"),
                ]
            )
        )
        unit = pc.if_else(
            pc.greater(grouped.column("usage_unit_count_distinct"), 1),
            pa.scalar("mixed", pa.string()),
            grouped.column("usage_unit_first"),
        )
        return pa.table(
            {
                **{k: grouped.column(k) for k in _FOLD_KEYS},
                **{c: grouped.column(f"{c}_sum") for c in _FOLD_SUMS},
                "usage_unit": unit,
                "line_items": grouped.column("line_items_sum"),
            }
        )

    totals = None
    line_items = 0
    wanted = set(FOCUS_COLUMNS) | set(CUR2_TO_FOCUS)
    for path in period.data_files:
        parquet = pq.ParquetFile(location.fs.open_input_file(path))
        present = [c for c in parquet.schema_arrow.names if c in wanted]
        for batch in parquet.iter_batches(batch_size=262_144, columns=present):
            rows = normalize_table(pa.Table.from_batches([batch]), name=path)
            line_items += rows.num_rows
            folded = fold_table(rows)
            totals = folded if totals is None else refold([totals, folded])
    assert totals is not None
    return _spell_periods(totals).to_pandas(), line_items


def ingest_once(mode: str, export_root: str, store_root: str) -> dict[str, Any]:
    """The export path end to end (what the flow's tasks do, without the Prefect server)."""
    from tasks.costs.export import ExportLocation, discover_periods, to_cost_frame
    from tasks.costs.quality import check_batch
    from tasks.costs.store import CostStore
    from tasks.costs.sync import collect_export_period, history_for, quality_policy
    from tasks.settings import load_settings

    settings = load_settings()
    started = time.perf_counter()
    location = ExportLocation(export_root, EXPORT_NAME)
    (period,) = discover_periods(location).values()
    if mode == "before":
        folded, line_items = arrow_batch_fold(location, period)
        frame = to_cost_frame(folded)
    else:
        frame, line_items = collect_export_period(location, period)
    read_s = time.perf_counter() - started
    store = CostStore(store_root)
    policy = quality_policy(settings, period.start, period.end, date(2026, 10, 15))
    check_batch(frame, policy, history_for(store, period.start, "export"))
    store.replace_window(frame, period.start, period.end, "export")
    elapsed = time.perf_counter() - started
    return {
        "mode": mode,
        "line_items": line_items,
        "rows_stored": len(frame),
        "billed_total": float(frame["billed_cost"].sum()),
        "seconds": elapsed,
        "read_seconds": read_s,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def bare_duckdb(export_root: str) -> dict[str, Any]:
    """One bare DuckDB GROUP BY over the same files: day x key, the four sums, a count."""
    import duckdb

    files = sorted(str(p) for p in Path(export_root).rglob("*.parquet"))
    started = time.perf_counter()
    connection = duckdb.connect()
    table = connection.sql(
        "SELECT CAST(ChargePeriodStart AS DATE) AS day, SubAccountId, ServiceName, RegionId, "
        "ChargeCategory, x_UsageType, sum(BilledCost) AS billed, sum(EffectiveCost), "
        "sum(ListCost), sum(ConsumedQuantity), count(*) AS line_items "
        "FROM read_parquet($files) GROUP BY ALL",
        params={"files": files},
    ).to_arrow_table()
    elapsed = time.perf_counter() - started
    return {
        "mode": "bare",
        "line_items": int(sum(table.column("line_items").to_pylist())),
        "rows_stored": table.num_rows,
        "billed_total": float(sum(table.column("billed").to_pylist())),
        "seconds": elapsed,
        "read_seconds": elapsed,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child(mode: str, export_root: Path, store_root: Path) -> dict[str, Any]:
    """One measured run in a fresh process (its own peak memory, its own imports)."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(export_root), str(store_root)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "FINOPS_COSTS__DAILY_TOTAL_BAND": "10"},
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="N line items (N/2, 2N too)")
    parser.add_argument("--rows-per-file", type=int, default=500_000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--no-record", action="store_true", help="Do not append to RESULTS.md")
    args = parser.parse_args()
    if args.child:
        mode, export_root, _ = args.child
        result = bare_duckdb(export_root) if mode == "bare" else ingest_once(*args.child)
        print(json.dumps(result))
        return
    load_at_start = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    n = args.rows
    runs = [("before", n), ("after", n), ("bare", n), ("after", n // 2), ("after", 2 * n)]
    results = []
    try:
        t0 = time.perf_counter()
        pool = generate_files(work / "pool", 2 * n, args.rows_per_file)
        print(f"generated {2 * n:,} line items in {time.perf_counter() - t0:.1f}s", flush=True)
        expected = {
            rows: export_of(work / f"export-{rows}", rows, pool) for rows in {n // 2, n, 2 * n}
        }
        for mode, rows in runs:
            result = child(mode, work / f"export-{rows}", work / f"store-{mode}-{rows}")
            assert result["line_items"] == rows, result
            assert abs(result["billed_total"] - expected[rows]) < 0.01 * rows / 1e6 + 0.01, result
            results.append(result)
            print(json.dumps(result), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_at_end = os.getloadavg()
    by = {(r["mode"], r["line_items"]): r for r in results}
    before, after, bare = by[("before", n)], by[("after", n)], by[("bare", n)]

    def rate(r: dict[str, Any]) -> float:
        return r["line_items"] / r["read_seconds"]

    lines = [
        "",
        f"## bench_ingest.py — {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"Machine: {machine()}; load average {load_at_start[0]:.1f} at start, "
        f"{load_at_end[0]:.1f} at end (shared machine).",
        "Export path end to end in a fresh process per run (manifest, read + fold, GX suite, "
        f"atomic store write); one FOCUS billing period, files of {args.rows_per_file:,} line "
        "items. `before`: the Arrow batch-by-batch fold the export path had; `after`: the DuckDB "
        "fold (`tasks/costs/fold.py`); `bare`: one DuckDB GROUP BY over the same files, no "
        "normalisation, no store.",
        "",
        "| run | line items | stored rows | read+fold s | read+fold line items/s | whole run s "
        "| peak RSS (MiB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['mode']} | {r['line_items']:,} | {r['rows_stored']:,} | "
            f"{r['read_seconds']:.2f} | {rate(r):,.0f} | "
            f"{r['seconds']:.2f} | {r['peak_rss_mib']:,.0f} |"
        )
    sizes = sorted(r["line_items"] for r in results if r["mode"] == "after")
    peaks = [by[("after", s)]["peak_rss_mib"] for s in sizes]
    lines += [
        "",
        f"At {n:,} line items: read+fold {rate(after) / rate(before):.1f}x today's "
        f"({rate(before):,.0f} -> {rate(after):,.0f} line items/s), "
        f"{rate(after) / rate(bare):.0%} of the bare DuckDB GROUP BY ({rate(bare):,.0f}/s); the "
        f"whole run {before['seconds'] / after['seconds']:.1f}x faster "
        f"({before['seconds']:.1f} s -> {after['seconds']:.1f} s; with process start and imports "
        f"{before['process_seconds']:.1f} s -> {after['process_seconds']:.1f} s). Peak memory as "
        "rows double ("
        + ", ".join(f"{s / 1e6:g}M: {p:,.0f} MiB" for s, p in zip(sizes, peaks, strict=True))
        + f"): {peaks[-1] / peaks[0]:.2f}x from the smallest to the largest. "
        "Whole-run seconds include the one-off Great Expectations import and context.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_record:
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
