"""`finops commitments` on the sandbox: its time, and how its figures compare with the truth.

Starts a sandbox (3 accounts, 2 regions, 400 days of ledger), stores the FOCUS export's last
three billing periods (setup, not timed) and runs ``finops commitments --no-record --json`` as a
new process, as a user would (``--rounds`` times).  Prints and appends to ``bench/RESULTS.md``:

- the command's wall time (median, min, max) and the load average;
- the days on which the cost store and Cost Explorer disagree by a cent or more (want 0) out of
  the day x kind figures compared;
- our recommended hourly commitment and AWS's (the sandbox's) against the ground truth's best.

Usage::

    .venv/bin/python bench/bench_commitments.py             # 3 rounds, appends to RESULTS.md
    .venv/bin/python bench/bench_commitments.py --rounds 1 --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import load_average, machine, record
from finops.commands.sandbox import sandbox_env
from sandbox.context import SandboxSize
from sandbox.state import start_server, stop_server, wait_ready
from tasks.costs.export import ExportLocation, discover_periods
from tasks.costs.store import CostStore
from tasks.costs.sync import collect_export_period

ROOT = Path(__file__).resolve().parents[1]
FINOPS = ROOT / ".venv" / "bin" / "finops"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="Do not append to RESULTS.md.")
    args = parser.parse_args()
    size = SandboxSize(accounts=3, regions=("us-east-1", "eu-west-1"), instances=4, volumes=4)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FINOPS_"))}
        process = start_server(
            work / "sandbox" / "state.json", args.seed, size.as_dict(), 0, env=base
        )
        try:
            state = wait_ready(work / "sandbox" / "state.json", process, timeout_s=900)
            truth = json.loads(Path(state.ground_truth_path).read_text())
            env = {
                **base,
                **sandbox_env(state.endpoint_url, truth),
                "FINOPS_DATA_DIR": str(work / "data"),
                "FINOPS_COSTS__HISTORY_DAYS": "70",
                "PREFECT_HOME": str(work / "prefect"),
            }
            # Setup, not measured: the export's last 3 billing periods into the store, as
            # ingestion stores them (the ingest flow's own time is bench_ingest's figure).
            os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
            store = CostStore(str(work / "data" / "costs"))
            location = ExportLocation("s3://finops-sandbox-cur/cur", "finops-focus")
            periods = sorted(discover_periods(location).values(), key=lambda p: p.start)
            for period in periods[-3:]:
                frame, _ = collect_export_period(location, period)
                store.replace_window(frame, period.start, period.end, "export")
            times, answer = [], {}
            for _ in range(args.rounds):
                started = time.perf_counter()
                done = subprocess.run(
                    [str(FINOPS), "commitments", "--no-record", "--json"],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                times.append(time.perf_counter() - started)
                answer = json.loads(done.stdout)
        finally:
            stop_server(work / "sandbox" / "state.json")
    best = truth["commitments"]["recommendation"]["best_hourly_commitment_usd"]
    ours = float(answer["ours"]["hourly_commitment_usd"])
    theirs = float(answer["aws"]["hourly_commitment_usd"]) if answer.get("aws") else None
    compared = len(answer["store_days"])
    lines = [
        "",
        f"## bench_commitments ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        f"- machine: {machine()}; load after: {load_average()}",
        f"- `finops commitments --no-record --json` on the sandbox (3 accounts, 2 regions, seed "
        f"{args.seed}), {args.rounds} rounds: median {statistics.median(times):.1f} s "
        f"(min {min(times):.1f}, max {max(times):.1f})",
        f"- store vs Cost Explorer: {len(answer['disagreements'])} disagreeing figures out of "
        f"{compared} day x kind rows ({answer['first_day']}..{answer['last_day']})",
        f"- recommended hourly commitment: ours ${ours:.3f}, AWS (sandbox) "
        f"{'-' if theirs is None else f'${theirs:.3f}'}, ground truth ${best:.3f} "
        f"(ours off by {100 * abs(ours - best) / best:.3f} %)",
        "",
    ]
    print("\n".join(lines))
    if not args.no_write:
        record("\n".join(lines))


if __name__ == "__main__":
    main()
