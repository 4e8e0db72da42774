"""The scan's own cost, measured the way a user runs it: ``finops scan --checks ec2-idle``.

For each fleet size it seeds one sandbox (one account, two regions, the instances split between
them, 14 days of hourly metrics) and then, against that same sandbox, runs as subprocesses:

* ``floor``: a plain boto3 script making the scan's requests (DescribeInstances pages, then
  GetMetricData with the same three queries per running instance, 500 a request), one thread
  per region, nothing else: what any tool has to pay.
* each ``--variants`` tree (``after`` = this working tree, ``before`` = ``git archive`` of a
  ref such as ``main`` unpacked under the work directory) running ``python -m finops scan
  --checks ec2-idle --accounts ... --regions ...`` with a fresh data directory, once against a
  Prefect server the bench started (``PREFECT_API_URL`` set, as a user with a server has) and,
  with ``--temporary-server``, once with no API configured (Prefect starts its own temporary
  server inside the command; its CPU is then part of the client's).

Figures per run: wall time; client CPU = user + system time of the command and the children it
reaped (``os.wait4``); server CPU = the sandbox process's user + system time over the run
(``/proc/<pid>/stat``); requests by operation (and GetMetricData queries), counted in the client
by a ``sitecustomize`` hook on botocore's ``BaseClient._make_api_call`` that writes them at exit.
Cloud Custodian is not installed here: its figures are the ones recorded in issue 20.

Usage:
    .venv/bin/python bench/bench_scan_speed.py --sizes 1000,5000 --variants before=main,after
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import load_average, machine, record  # noqa: E402
from sandbox.context import DEFAULT_MANAGEMENT_ACCOUNT_ID, SandboxSize  # noqa: E402
from sandbox.state import start_server, stop_server, wait_ready  # noqa: E402

REGIONS = ("us-east-1", "eu-west-1")

#: Issue 20's side-by-side figures for Cloud Custodian's metrics filter (not installed here).
CUSTODIAN = {1000: (9.7, 1005, 4.4), 5000: (70.7, 5005, 17.8)}

#: Counts botocore API calls of the process it is loaded into (via PYTHONPATH) and writes them to
#: $FINOPS_BENCH_COUNTS at exit: {"operation": count, ..., "queries": GetMetricData queries}.
SITECUSTOMIZE = """
import atexit, json, os, threading
_path = os.environ.get("FINOPS_BENCH_COUNTS")
if _path:
    import botocore.client as _bc
    _counts = {}
    _lock = threading.Lock()
    _orig = _bc.BaseClient._make_api_call
    def _make_api_call(self, operation_name, api_params):
        key = self.meta.service_model.service_name + ":" + operation_name
        with _lock:
            _counts[key] = _counts.get(key, 0) + 1
            if operation_name == "GetMetricData":
                _counts["queries"] = _counts.get("queries", 0) + len(
                    api_params.get("MetricDataQueries", [])
                )
        return _orig(self, operation_name, api_params)
    _bc.BaseClient._make_api_call = _make_api_call
    def _write():
        with open(_path, "w") as out:
            json.dump(_counts, out)
    atexit.register(_write)
"""

#: The floor: the same requests as the scan's ec2-idle, with plain boto3 and nothing else.
FLOOR = """
import sys, threading
from datetime import UTC, datetime, timedelta
import boto3
from botocore.config import Config

regions = sys.argv[1].split(",")
end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
start = end - timedelta(days=14)
config = Config(retries={"mode": "standard"}, read_timeout=600)
session = boto3.Session()

def scan(region):
    ec2 = session.client("ec2", region_name=region, config=config)
    cloudwatch = session.client("cloudwatch", region_name=region, config=config)
    running = []
    for page in ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name",
                  "Values": ["pending", "running", "stopping", "stopped"]}],
        PaginationConfig={"PageSize": 1000},
    ):
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                if instance["State"]["Name"] == "running":
                    running.append(instance["InstanceId"])
    queries = [
        (iid, metric, stat)
        for iid in running
        for metric, stat in (("CPUUtilization", "Average"), ("NetworkIn", "Sum"),
                             ("NetworkOut", "Sum"))
    ]
    points = 0
    for i in range(0, len(queries), 500):
        chunk = [
            {"Id": f"q{n}", "ReturnData": True, "MetricStat": {
                "Metric": {"Namespace": "AWS/EC2", "MetricName": metric,
                           "Dimensions": [{"Name": "InstanceId", "Value": iid}]},
                "Period": 86400, "Stat": stat}}
            for n, (iid, metric, stat) in enumerate(queries[i:i + 500])
        ]
        for page in cloudwatch.get_paginator("get_metric_data").paginate(
            MetricDataQueries=chunk, StartTime=start, EndTime=end, ScanBy="TimestampAscending"
        ):
            points += sum(len(r["Values"]) for r in page["MetricDataResults"])
    print(region, len(running), points)

threads = [threading.Thread(target=scan, args=(r,)) for r in regions]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def unpack_ref(ref: str, into: Path) -> Path:
    """A clean copy of the project at a git ref (``git archive``; no worktree is touched)."""
    target = into / f"tree-{ref.replace('/', '_')}"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    compile_bytecode(target)
    return target


def compile_bytecode(*paths: Path) -> None:
    """Byte-compile trees once, as an installed package is (the runs then read, not compile)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "2", *map(str, paths)],
        env=env,
        check=False,
        capture_output=True,
    )


def run_measured(
    argv: list[str], env: dict[str, str], cwd: Path, server_pid: int
) -> tuple[float, float, float, int, str]:
    """Run a command; (wall s, client CPU s incl. reaped children, server CPU s, status, stderr)."""
    server_before = proc_cpu_s(server_pid)
    began = time.perf_counter()
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - began
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    server = proc_cpu_s(server_pid) - server_before
    return wall, usage.ru_utime + usage.ru_stime, server, process.returncode, stderr


def start_prefect(workdir: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """A local Prefect server (its own home), as a user with a configured API has one."""
    port = free_port()
    home = workdir / "prefect-home"
    home.mkdir(parents=True, exist_ok=True)
    server_env = {**env, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--port", str(port)],
        env=server_env,
        stdout=(workdir / "prefect.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    import urllib.request

    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit(f"error: the Prefect server did not start; see {workdir / 'prefect.log'}")


def measure_size(
    instances: int,
    workdir: Path,
    trees: dict[str, Path],
    seed: int,
    api_url: str,
    temporary: bool,
    repeat: int,
    no_bytecode: bool = False,
) -> list[dict[str, Any]]:
    per_region = instances // len(REGIONS)
    size = SandboxSize(
        accounts=1, regions=REGIONS, instances=per_region, volumes=0, days=14, cost_days=30
    )
    state_path = workdir / f"sandbox-{instances}" / "state.json"
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "PREFECT_", "FINOPS_", "PYTHONPATH"))
    }
    process = start_server(state_path, seed, size.as_dict(), port=0, env=base)
    rows: list[dict[str, Any]] = []
    try:
        state = wait_ready(state_path, process, timeout_s=1800)
        hook_dir = workdir / "hook"
        hook_dir.mkdir(exist_ok=True)
        (hook_dir / "sitecustomize.py").write_text(SITECUSTOMIZE)
        aws_env = {
            **base,
            "AWS_ENDPOINT_URL": state.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "FINOPS_AWS__READ_TIMEOUT_S": "600",
        }
        runs: list[tuple[str, str, Path | None]] = [("floor", "-", None)]
        for name, path in trees.items():
            runs.append((name, "configured", path))
            if temporary:
                runs.append((name, "temporary", path))
        if no_bytecode:
            last = list(trees)[-1]
            runs.append((last, "configured, no bytecode", trees[last]))
        for attempt in range(repeat):
            for name, api, tree in runs:
                counts = workdir / f"counts-{instances}-{name}-{api}-{attempt}.json"
                counts.unlink(missing_ok=True)
                data_dir = Path(tempfile.mkdtemp(prefix=f"data-{name}-", dir=workdir))
                env = {
                    **aws_env,
                    "FINOPS_BENCH_COUNTS": str(counts),
                    "FINOPS_DATA_DIR": str(data_dir),
                    "PREFECT_HOME": str(data_dir / "prefect-home"),
                    "PYTHONPATH": str(hook_dir) + (os.pathsep + str(tree) if tree else ""),
                }
                if api.startswith("configured"):
                    env["PREFECT_API_URL"] = api_url
                if api.endswith("no bytecode"):  # as the image runs: nothing compiled ahead
                    env["PYTHONDONTWRITEBYTECODE"] = "1"
                    env["PYTHONPYCACHEPREFIX"] = str(workdir / "empty-pycache")
                if tree is None:
                    argv = [sys.executable, "-c", FLOOR, ",".join(REGIONS)]
                    cwd = workdir
                else:
                    argv = [
                        sys.executable,
                        "-m",
                        "finops",
                        "scan",
                        "--checks",
                        "ec2-idle",
                        "--accounts",
                        DEFAULT_MANAGEMENT_ACCOUNT_ID,
                        "--regions",
                        ",".join(REGIONS),
                        "--format",
                        "json",
                    ]
                    cwd = tree
                wall, client, server, code, stderr = run_measured(argv, env, cwd, state.pid)
                by_op = json.loads(counts.read_text()) if counts.exists() else {}
                queries = by_op.pop("queries", 0)
                row = {
                    "instances": instances,
                    "variant": name,
                    "api": api,
                    "attempt": attempt,
                    "wall_s": round(wall, 2),
                    "client_cpu_s": round(client, 2),
                    "server_cpu_s": round(server, 2),
                    "requests": sum(by_op.values()),
                    "by_operation": by_op,
                    "metric_queries": queries,
                    "exit": code,
                    "load": load_average(),
                }
                if code != 0:
                    row["stderr_tail"] = stderr.strip().splitlines()[-3:]
                print(json.dumps(row), flush=True)
                rows.append(row)
                shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        stop_server(state_path)
        process.wait(timeout=60)
    return rows


def best(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (size, variant, API) the run with the least wall time (the least disturbed)."""
    chosen: dict[tuple[int, str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["instances"], row["variant"], row["api"])
        if key not in chosen or row["wall_s"] < chosen[key]["wall_s"]:
            chosen[key] = row
    return list(chosen.values())


def markdown(rows: list[dict[str, Any]], note: str, refs: dict[str, str], repeat: int) -> str:
    started = datetime.now(UTC)
    trees = ", ".join(f"`{k}` = {v}" for k, v in refs.items())
    lines = [
        f"## Scan's own cost: `finops scan --checks ec2-idle` (bench/bench_scan_speed.py), "
        f"{started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {machine()}; load average (1/5/15 min) at the end: {load_average()} "
        "(a 2-core machine shared with other work, so wall times are upper bounds; CPU times "
        "are the steadier figure).  One sandbox account, two regions (us-east-1, eu-west-1), "
        "the instances split between them, 14 days of hourly metrics.  Each command is a "
        "subprocess with a fresh data directory (first scan: every finding is new).  "
        f"Trees: {trees}.  `configured` = `PREFECT_API_URL` set to a local Prefect server "
        "started by the bench; `temporary` = no API configured, so Prefect starts its own "
        "temporary server inside the command (its CPU counts as the client's); `no bytecode` = "
        "no .pyc cache (PYTHONDONTWRITEBYTECODE with an empty PYTHONPYCACHEPREFIX), as the flow "
        "image runs: every import compiles its source.  Every tree is byte-compiled first, as "
        "an installed package is.  Client CPU = "
        "user + system time of the command and its reaped children; server CPU = the sandbox "
        "process's.  Requests counted in the client by a hook on botocore's `_make_api_call`.  "
        f"Best wall of {repeat} run(s) per row.  Cloud Custodian is not installed here: its "
        "columns are the figures recorded in issue 20 (same sandbox shape, another run), the "
        "floor is a plain boto3 script making the same requests, measured in this run."
        + (f"  {note}" if note else ""),
        "",
        "| instances | run | Prefect API | wall s | client CPU s | server CPU s | requests "
        "(GetMetricData, queries) | Custodian wall / CPU s (issue) | wall vs Custodian | "
        "load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = {"floor": 0, "before": 1}
    for row in sorted(
        best(rows), key=lambda r: (r["instances"], order.get(r["variant"], 2), r["variant"])
    ):
        custodian = CUSTODIAN.get(row["instances"])
        versus = f"{row['wall_s'] / custodian[0]:.2f}x" if custodian else "-"
        gmd = row["by_operation"].get("cloudwatch:GetMetricData", 0)
        lines.append(
            f"| {row['instances']:,} | {row['variant']} | {row['api']} | {row['wall_s']} | "
            f"{row['client_cpu_s']} | {row['server_cpu_s']} | {row['requests']} ({gmd}, "
            f"{row['metric_queries']}) | "
            + (f"{custodian[0]} / {custodian[2]}" if custodian else "-")
            + f" | {versus} | {row['load']} |"
            + ("" if row["exit"] == 0 else f" exit {row['exit']}")
        )
    lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,5000", help="instances, comma-separated")
    parser.add_argument(
        "--variants",
        default="before=main,after",
        help="name=git-ref (unpacked with git archive) or a bare name for this working tree",
    )
    parser.add_argument("--temporary-server", action="store_true", help="also time no-API runs")
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="also time the last tree with no bytecode cache (as an image without .pyc files)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per row; the best is shown")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".finops" / "bench-scan-speed")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--note", default="", help="a sentence added to the results section")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    trees: dict[str, Path] = {}
    refs: dict[str, str] = {}
    for spec in [s.strip() for s in args.variants.split(",") if s.strip()]:
        name, _, ref = spec.partition("=")
        if ref:
            trees[name] = unpack_ref(ref, args.workdir)
            sha = subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", ref],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            refs[name] = f"{ref} ({sha})"
        else:
            trees[name] = ROOT
            sha = subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            refs[name] = f"this tree (HEAD {sha})"
    compile_bytecode(*{tree for tree in trees.values()})
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FINOPS_"))}
    prefect, api_url = start_prefect(args.workdir, base)
    rows: list[dict[str, Any]] = []
    try:
        for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
            rows += measure_size(
                size,
                args.workdir,
                trees,
                args.seed,
                api_url,
                args.temporary_server,
                args.repeat,
                args.no_bytecode,
            )
    finally:
        os.killpg(prefect.pid, signal.SIGTERM)
        prefect.wait(timeout=60)
    text = markdown(rows, args.note, refs, args.repeat)
    print(text)
    if not args.no_write:
        record("\n" + text)


if __name__ == "__main__":
    main()
