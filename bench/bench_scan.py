"""Benchmark of the idle scan: wall time, AWS requests by API and peak memory at fleet sizes.

Starts a sandbox per size (one account, one region, ``--instances`` EC2 instances and as many
extra EBS volumes), scans it with every check (the scanner the flow runs, without the Prefect
server), and appends the figures to bench/RESULTS.md.  Requests are counted with botocore
event hooks on every client the scan builds.

Usage:
    .venv/bin/python bench/bench_scan.py --sizes 1000,5000,10000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import threading
import time
import tracemalloc
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.context import SandboxSize  # noqa: E402
from sandbox.state import start_server, stop_server, wait_ready  # noqa: E402
from tasks.aws.session import AwsAccess, fan_out  # noqa: E402
from tasks.idle.checks import select_checks  # noqa: E402
from tasks.idle.registry import resolve_params  # noqa: E402
from tasks.idle.scan import IdleScanner  # noqa: E402
from tasks.pricing.book import BundledPrices  # noqa: E402
from tasks.settings import load_settings  # noqa: E402


class CountingAccess(AwsAccess):
    """AwsAccess whose clients count their API calls (botocore ``before-call`` hooks)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: Counter[str] = Counter()
        self.seconds: dict[str, float] = defaultdict(float)
        self.metric_queries = 0  # MetricDataQueries sent, to check requests = ceil(queries/500)
        self._started = threading.local()
        self._count_lock = threading.Lock()
        self._hooked: set[int] = set()

    def client(self, service: str, account_id: str, region: str) -> Any:
        client = super().client(service, account_id, region)
        with self._count_lock:
            if id(client) in self._hooked:
                return client
            self._hooked.add(id(client))

        service_name = client.meta.service_model.service_name

        def count(model: Any, **_: Any) -> None:
            self._started.at = time.perf_counter()
            with self._count_lock:
                self.calls[f"{service_name}:{model.name}"] += 1

        def queries(params: Any, **_: Any) -> None:  # the API parameters, before serialising
            with self._count_lock:
                self.metric_queries += len(params.get("MetricDataQueries", []))

        def timed(model: Any, **_: Any) -> None:
            elapsed = time.perf_counter() - getattr(self._started, "at", time.perf_counter())
            with self._count_lock:
                self.seconds[f"{service_name}:{model.name}"] += elapsed

        client.meta.events.register("before-call.*.*", count)
        client.meta.events.register("after-call.*.*", timed)
        client.meta.events.register("before-parameter-build.cloudwatch.GetMetricData", queries)
        return client


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {platform.machine()}, Python {platform.python_version()}"
    )


def _status_mb(pid: int | str, field: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def server_peak_rss_mb(pid: int) -> float | None:
    return _status_mb(pid, "VmHWM")


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux ``clear_refs`` 5), so VmHWM then measures the scan."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def run_size(instances: int, workdir: Path, seed: int, heap: bool = False) -> dict[str, Any]:
    size = SandboxSize(
        accounts=1, regions=("us-east-1",), instances=instances, volumes=instances, days=14
    )
    state_path = workdir / f"sandbox-{instances}" / "state.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.pop("AWS_PROFILE", None)
    started = time.perf_counter()
    process = start_server(state_path, seed, size.as_dict(), port=0, env=env)
    try:
        state = wait_ready(state_path, process, timeout_s=3600)
        seed_s = time.perf_counter() - started
        truth = json.loads(Path(state.ground_truth_path).read_text())
        os.environ.update(
            AWS_ENDPOINT_URL=state.endpoint_url,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
        )
        settings = load_settings()
        access = CountingAccess(settings.aws)
        checks = select_checks(None)
        scanner = IdleScanner(
            access,
            checks,
            resolve_params(checks, {}),
            BundledPrices(),
            settings.idle,
            datetime.now(UTC),
        )
        targets = access.targets(truth["accounts"], truth["regions"])
        # tracemalloc slows allocation-heavy code (botocore parsing) by about 2x, so the timed
        # run measures memory as the process's peak RSS (reset just before the scan) and the
        # Python heap peak only on request (--heap), in a run whose wall time is then not clean
        rss_before = _status_mb("self", "VmRSS")
        rss_reset = reset_peak_rss()
        if heap:
            tracemalloc.start()
        cpu_began = time.process_time()
        began = time.perf_counter()
        out = fan_out(scanner.scan_target, targets, settings.aws.max_concurrency)
        wall_s = time.perf_counter() - began
        cpu_s = time.process_time() - cpu_began
        peak = tracemalloc.get_traced_memory()[1] if heap else None
        tracemalloc.stop()
        scan_peak_rss = _status_mb("self", "VmHWM") if rss_reset else None
        load = os.getloadavg()
        scans = list(out.results.values())
        findings = sum(len(s.findings) for s in scans)
        resources = sum(s.resources for s in scans)
        errors = [str(e) for e in out.errors.values()] + [str(e) for s in scans for e in s.errors]
        server_mb = server_peak_rss_mb(state.pid)
        agreement = ground_truth_agreement(truth, scans, [c.name for c in checks])
    finally:
        stop_server(state_path)
        process.wait(timeout=60)
    return {
        "instances": instances,
        "volumes_extra": instances,
        "resources": resources,
        "seed_s": round(seed_s, 1),
        "scan_wall_s": round(wall_s, 2),
        "scan_cpu_s": round(cpu_s, 1),
        "load_average_after": " ".join(f"{x:.2f}" for x in load),
        "findings": findings,
        "ground_truth_mismatches": agreement,
        "errors": errors,
        "requests": dict(sorted(access.calls.items())),
        "requests_total": sum(access.calls.values()),
        "metric_queries": access.metric_queries,
        "request_seconds": {
            k: round(v, 2) for k, v in sorted(access.seconds.items(), key=lambda kv: -kv[1])
        },
        "scan_peak_python_mb": None if peak is None else round(peak / 2**20, 1),
        "rss_before_scan_mb": None if rss_before is None else round(rss_before, 1),
        "scan_peak_rss_mb": None if scan_peak_rss is None else round(scan_peak_rss, 1),
        "process_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "server_peak_rss_mb": None if server_mb is None else round(server_mb, 1),
    }


def ground_truth_agreement(
    truth: dict[str, Any], scans: list[Any], checks: list[str]
) -> dict[str, dict[str, int]]:
    """Per check, false positives and misses against the sandbox ground truth (want 0, 0)."""
    out: dict[str, dict[str, int]] = {}
    for check in checks:
        expected = {
            (r["account_id"], r["region"], r["resource_id"])
            for r in truth["resources"]
            if r["expected"].get(check)
        }
        found = {
            (f.account_id, f.region, f.resource_id)
            for s in scans
            for f in s.findings
            if f.check == check
        }
        out[check] = {"false_positives": len(found - expected), "missed": len(expected - found)}
    return out


def markdown(results: list[dict[str, Any]], note: str = "") -> str:
    lines = [
        f"## Idle scan (bench/bench_scan.py), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {machine()}, `uname -m` {platform.machine()}.  One account, one region "
        "(us-east-1), all 11 checks, 14 days of hourly metrics, the scanner the flow runs "
        "(IdleScanner over fan_out), bundled prices.  Requests counted with botocore "
        "`before-call` hooks.  Scan peak RSS = the scanning process's peak resident memory "
        "during the scan (peak reset just before it; includes the imports and clients, shown "
        "as RSS before); scan CPU = the scanning process's CPU time; server peak RSS = the "
        "sandbox server's (seeding included).  Load average = 1/5/15 min after the scan."
        + (f"  {note}" if note else ""),
        "",
        "| instances | extra volumes | resources | seed s | scan wall s | scan CPU s | requests | "
        "GetMetricData | scan peak RSS MB (before) | heap peak MB | server peak RSS MB | "
        "findings | load average |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['instances']} | {r['volumes_extra']} | {r['resources']} | {r['seed_s']} | "
            f"{r['scan_wall_s']} | {r['scan_cpu_s']} | {r['requests_total']} | "
            f"{r['requests'].get('cloudwatch:GetMetricData', 0)} | "
            f"{r['scan_peak_rss_mb']} ({r['rss_before_scan_mb']}) | "
            f"{r['scan_peak_python_mb'] or '-'} | {r['server_peak_rss_mb']} | {r['findings']} | "
            f"{r['load_average_after']} |"
        )
    lines += ["", "Requests by API:", ""]
    for r in results:
        by_api = ", ".join(f"{k} {v}" for k, v in r["requests"].items())
        lines.append(f"- {r['instances']} instances: {by_api}")
        gmd = r["requests"].get("cloudwatch:GetMetricData", 0)
        lines.append(
            f"  - GetMetricData: {r['metric_queries']} queries in {gmd} requests "
            f"(at least ceil(queries / 500) = {-(-r['metric_queries'] // 500)}; one pass per "
            "check family)"
        )
        slowest = ", ".join(f"{k} {v} s" for k, v in list(r["request_seconds"].items())[:5])
        lines.append(
            f"  - time in the slowest APIs (request to parsed answer: sandbox server, "
            f"transfer and botocore parsing): {slowest}"
        )
        wrong = {k: v for k, v in r["ground_truth_mismatches"].items() if any(v.values())}
        lines.append(
            "  - ground truth: every check at precision and recall 1.0"
            if not wrong
            else f"  - ground truth mismatches: {wrong}"
        )
        if r["errors"]:
            lines.append(f"  - errors: {'; '.join(r['errors'])}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sizes", default="1000,5000,10000", help="instance counts, comma-separated"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".finops" / "bench-scan")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--read-timeout", type=float, default=0, help="botocore read timeout, s")
    parser.add_argument("--note", default="", help="a sentence added to the results section")
    parser.add_argument(
        "--heap", action="store_true", help="also trace the Python heap peak (slows the scan)"
    )
    args = parser.parse_args()
    if args.read_timeout:
        # moto pages DescribeInstances by reservation and DescribeVolumes not at all, so one
        # response holds the whole fleet; give the sandbox time to build it
        os.environ["FINOPS_AWS__READ_TIMEOUT_S"] = str(args.read_timeout)
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        result = run_size(size, args.workdir, args.seed, heap=args.heap)
        print(json.dumps(result), flush=True)
        text = markdown([result], args.note)
        print(text)
        if not args.no_write:  # one section per size, so a long run keeps what it measured
            with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as out:
                out.write("\n" + text)


if __name__ == "__main__":
    main()
