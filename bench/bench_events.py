"""Time from an AWS message landing in the queue to the flow run it starts (target: under 30 s).

The real parts of the event path, on one machine: a sandbox (moto SQS), a local Prefect server
(`prefect server start`, SQLite, its trigger service), the deployments and their triggers
registered by `prefect deploy --all --prefect-file deployments/prefect.local.yaml`, and the
listener (`tasks.events.listen.run_listener` with the Prefect emitter, 20 s long polls) in a
thread.  For each message the clock starts just before SendMessage and stops when the API lists
the flow run the trigger created (polled every 0.1 s).  Messages alternate between an AWS Budgets
alert (starts check-cost-anomalies) and an EC2 stop (starts handle-aws-event).

Example:
    .venv/bin/python bench/bench_events.py              # 10 messages, appends to RESULTS.md
    .venv/bin/python bench/bench_events.py --messages 4 --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import machine, record  # noqa: E402

TARGET_S = 30.0


def budget_body(day: str) -> str:
    text = (
        f"AWS Budget Notification {day}\nAWS Account 111122223333\n\n"
        "Budget Name: finops-daily\nBudget Type: Cost\nBudgeted Amount: $1,000.00\n"
        "Alert Type: ACTUAL\nAlert Threshold: > $1,000.00\nACTUAL Amount: $1,234.56\n"
    )
    return json.dumps(
        {
            "Type": "Notification",
            "TopicArn": "arn:aws:sns:us-east-1:111122223333:finops-events",
            "Subject": "AWS Budgets: finops-daily has exceeded your alert threshold",
            "Message": text,
            "Timestamp": f"{day}T09:00:00Z",
        }
    )


def ec2_body(instance: str) -> str:
    return json.dumps(
        {
            "version": "0",
            "detail-type": "EC2 Instance State-change Notification",
            "source": "aws.ec2",
            "account": "444455556666",
            "time": datetime.now(UTC).isoformat(),
            "region": "eu-west-1",
            "resources": [f"arn:aws:ec2:eu-west-1:444455556666:instance/{instance}"],
            "detail": {"instance-id": instance, "state": "stopped"},
        }
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10, help="Messages timed, one at a time.")
    parser.add_argument("--no-write", action="store_true", help="Do not append RESULTS.md.")
    args = parser.parse_args()

    from finops.demo import free_port, prefect_env
    from sandbox.context import SandboxSize
    from tests.plugins.sandbox import start_sandbox, stop_sandbox

    work = Path(tempfile.mkdtemp(prefix="bench-events-"))
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, **prefect_env(work / "prefect-home", api_url)}
    env.update({"PREFECT_CLI_PROMPT": "false", "PWD": str(ROOT)})
    started = time.perf_counter()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=(work / "server.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    sandbox = None
    stop = threading.Event()
    try:
        sandbox = start_sandbox(
            work / "sandbox",
            size=SandboxSize(
                accounts=1, regions=("us-east-1",), instances=0, volumes=0, days=14, cost_days=30
            ),
        )
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"{api_url}/health", timeout=2):
                    break
            except OSError as error:
                if time.monotonic() > deadline or server.poll() is not None:
                    log = work / "server.log"
                    raise SystemExit(f"Prefect server did not start; see {log}") from error
                time.sleep(0.5)
        for command in (
            ["work-pool", "create", "finops-local", "--type", "process", "--overwrite"],
            ["deploy", "--all", "--prefect-file", "deployments/prefect.local.yaml"],
        ):
            subprocess.run(
                [sys.executable, "-m", "prefect", "--no-prompt", *command],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
        setup_s = time.perf_counter() - started
        os.environ.update(sandbox.env)
        os.environ["PREFECT_API_URL"] = api_url

        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

        from tasks.events.emit import PrefectEmitter
        from tasks.events.listen import ListenerConfig, run_listener
        from tasks.events.sqs import sqs_client

        sqs = sqs_client(f"{sandbox.endpoint_url}/q")
        queue = sqs.create_queue(QueueName="finops-events")["QueueUrl"]
        dead = sqs.create_queue(QueueName="finops-events-dlq")["QueueUrl"]
        config = ListenerConfig(
            queue, dead, max_messages=10, wait_time_s=20, visibility_timeout_s=60
        )
        listener = threading.Thread(
            target=run_listener, args=(sqs, config, PrefectEmitter(), stop), daemon=True
        )
        listener.start()

        latencies: list[tuple[str, float]] = []
        with get_client(sync_client=True) as client:
            targets = {
                "budget": client.read_deployment_by_name(
                    "check-cost-anomalies/check-cost-anomalies"
                ),
                "ec2": client.read_deployment_by_name("handle-aws-event/handle-aws-event"),
            }
            for index in range(args.messages):
                kind = "budget" if index % 2 == 0 else "ec2"
                day = f"2026-11-{1 + index:02d}"
                instance = f"i-{uuid.uuid4().hex[:17]}"
                body = budget_body(day) if kind == "budget" else ec2_body(instance)
                deployment = targets[kind]
                before = {
                    r.id
                    for r in client.read_flow_runs(
                        deployment_filter=DeploymentFilter(
                            id=DeploymentFilterId(any_=[deployment.id])
                        )
                    )
                }
                t0 = time.perf_counter()
                sqs.send_message(QueueUrl=queue, MessageBody=body)
                while True:
                    runs = client.read_flow_runs(
                        deployment_filter=DeploymentFilter(
                            id=DeploymentFilterId(any_=[deployment.id])
                        )
                    )
                    if {r.id for r in runs} - before:
                        break
                    if time.perf_counter() - t0 > 120:
                        raise SystemExit(f"message {index} ({kind}) started no flow run in 120 s")
                    time.sleep(0.1)
                latencies.append((kind, time.perf_counter() - t0))
                print(f"{kind:<7} {latencies[-1][1]:6.2f} s")
    finally:
        stop.set()
        if sandbox is not None:
            stop_sandbox(sandbox)
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()

    values = sorted(v for _, v in latencies)
    median = statistics.median(values)
    p90 = values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]
    by_kind = {
        kind: statistics.median([v for k, v in latencies if k == kind])
        for kind in ("budget", "ec2")
    }
    verdict = "met" if max(values) < TARGET_S else "NOT met"
    summary = (
        f"\n## Event path: queue to flow run ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)\n\n"
        f"Machine: {machine()}; load average at the end {os.getloadavg()[0]:.1f} (shared). "
        f"Sandbox moto SQS, local `prefect server start` (SQLite) with the deployments and "
        f"triggers of deployments/prefect.local.yaml, the listener long-polling (20 s) in a "
        f"thread; {len(values)} messages sent one at a time, alternating a Budgets alert "
        f"(-> check-cost-anomalies) and an EC2 stop (-> handle-aws-event).  Setup (server, "
        f"sandbox, `prefect deploy --all`) {setup_s:.0f} s, not counted.\n\n"
        "| messages | median s | p90 s | max s | median budget / ec2 s | target |\n"
        "|---|---|---|---|---|---|\n"
        f"| {len(values)} | {median:.2f} | {p90:.2f} | {max(values):.2f} | "
        f"{by_kind['budget']:.2f} / {by_kind['ec2']:.2f} | < {TARGET_S:.0f} s: {verdict} |\n"
    )
    print(summary)
    if not args.no_write:
        record(summary)
    return 0 if verdict == "met" else 1


if __name__ == "__main__":
    raise SystemExit(main())
