"""Benchmark of the rightsizing scan through the flow the CLI runs: wall time and AWS requests.

Starts a sandbox per size (one account, one region, ``--instances`` idle-fleet instances plus
the five rightsizing profiles), runs ``scan-idle-resources`` with ``checks=["ec2-rightsize"]``
(what ``finops scan --checks ec2-rightsize`` runs) on a temporary Prefect server, counts every
AWS request by API (botocore's ``BaseClient._make_api_call``, so the flow's own clients are
counted) and checks the findings against the rightsizing ground truth; appends the figures to
bench/RESULTS.md with the machine, the load and the date.

Usage:
    .venv/bin/python bench/bench_rightsizing.py --sizes 1000,5000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from botocore.client import BaseClient  # noqa: E402

from bench.bench_scan import machine  # noqa: E402
from sandbox.context import SandboxSize  # noqa: E402
from sandbox.state import start_server, stop_server, wait_ready  # noqa: E402


def count_requests() -> tuple[Counter[str], Any]:
    """Count every botocore API call of this process; returns (counter, undo)."""
    calls: Counter[str] = Counter()
    lock = threading.Lock()
    real = BaseClient._make_api_call

    def counted(self: Any, operation: str, params: Any) -> Any:
        with lock:
            calls[f"{self.meta.service_model.service_name}:{operation}"] += 1
        return real(self, operation, params)

    BaseClient._make_api_call = counted  # type: ignore[method-assign]

    def undo() -> None:
        BaseClient._make_api_call = real  # type: ignore[method-assign]

    return calls, undo


def run_size(instances: int, workdir: Path, seed: int) -> dict[str, Any]:
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    size = SandboxSize(accounts=1, regions=("us-east-1",), instances=instances, volumes=0, days=14)
    state_path = workdir / f"sandbox-{instances}" / "state.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.pop("AWS_PROFILE", None)
    process = start_server(state_path, seed, size.as_dict(), port=0, env=env)
    try:
        state = wait_ready(state_path, process, timeout_s=3600)
        truth = json.loads(Path(state.ground_truth_path).read_text())
        os.environ.update(
            AWS_ENDPOINT_URL=state.endpoint_url,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
            FINOPS_DATA_DIR=str(workdir / f"data-{instances}"),
        )
        from flows.scan_idle_resources import scan_idle_resources

        with (
            prefect_test_harness(server_startup_timeout=120),
            temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
        ):
            calls, undo = count_requests()
            try:
                began = time.perf_counter()
                result = scan_idle_resources(checks=["ec2-rightsize"])
                wall_s = time.perf_counter() - began
            finally:
                undo()
        load = os.getloadavg()
    finally:
        stop_server(state_path)
        process.wait(timeout=60)
    expected = {
        (r["account_id"], r["region"], r["instance_id"])
        for r in truth["rightsizing"]["instances"]
        if r["expected"]
    }
    found = {(f.account_id, f.region, f.resource_id) for f in result.findings}
    running = sum(
        1
        for r in truth["resources"]
        if r["resource_type"] == "ec2-instance" and r["facts"].get("state") == "running"
    )
    return {
        "instances": instances + 5,
        "running": running,
        "targets": result.targets,
        "scan_wall_s": round(wall_s, 2),
        "requests": dict(sorted(calls.items())),
        "requests_total": sum(calls.values()),
        "findings": len(result.findings),
        "false_positives": len(found - expected),
        "missed": len(expected - found),
        "errors": result.errors,
        "notes": result.notes,
        "load_average_after": " ".join(f"{x:.2f}" for x in load),
    }


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        f"## Rightsizing scan (bench/bench_rightsizing.py), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {machine()}.  One account (enrolled in Compute Optimizer and Cost Optimization "
        "Hub), one region, the idle fleet plus the five rightsizing profiles, 14 days of hourly "
        "metrics; the `scan-idle-resources` flow with `checks=['ec2-rightsize']` and no region "
        "given (so every region the account has enabled is a target, as in `finops scan`; the "
        "fleet is in us-east-1) on a temporary "
        "Prefect server (what `finops scan --checks ec2-rightsize` runs), prices from the bundled "
        "book.  Requests = every botocore API call of the process (the flow's clients).  Load "
        "average = 1/5/15 min after the scan (the machine is shared).",
        "",
        "| instances | running | targets | scan wall s | requests | GetMetricData | "
        "CO + COH requests | findings | precision/recall misses | load average |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        optimisers = sum(
            v for k, v in r["requests"].items() if k.startswith(("compute-", "cost-optim"))
        )
        lines.append(
            f"| {r['instances']} | {r['running']} | {r.get('targets', '?')} | {r['scan_wall_s']} | "
            f"{r['requests_total']} | "
            f"{r['requests'].get('cloudwatch:GetMetricData', 0)} | {optimisers} | "
            f"{r['findings']} | {r['false_positives']} FP, {r['missed']} missed | "
            f"{r['load_average_after']} |"
        )
    lines += ["", "Requests by API:", ""]
    for r in results:
        lines.append(
            f"- {r['instances']} instances: "
            + ", ".join(f"{k} {v}" for k, v in r["requests"].items())
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,5000", help="idle-fleet instance counts")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".finops" / "bench-rightsizing")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    results = []
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        result = run_size(size, args.workdir, args.seed)
        print(json.dumps(result), flush=True)
        results.append(result)
    text = markdown(results)
    print(text)
    if not args.no_write:
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as out:
            out.write("\n" + text)


if __name__ == "__main__":
    main()
