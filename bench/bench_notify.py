"""Time from a flow's result to Slack's acceptance of the message (target: under 10 s).

The `report` flow runs on a temporary Prefect server (heartbeat off, as in the tests) and
delivers to a local server speaking Slack's Web API (tests/plugins/fake_services.py): the
clock starts when the day's results are handed to the flow and stops when the Slack server
accepts the digest (and, separately, the anomaly alert, which is sent first).  Each day is a
new report (new keys), so every run really plans, stores, sends and records; the first run
includes the one-time imports (matplotlib for the chart, slack-sdk, the flow's first start).
Also timed: the same work without Prefect (plan + outbox + delivery), to show the
orchestration's share.

Example:
    .venv/bin/python bench/bench_notify.py            # 5 runs, appends to bench/RESULTS.md
    .venv/bin/python bench/bench_notify.py --runs 3 --no-write
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import machine, record  # noqa: E402

TARGET_S = 10.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="Reports timed (one day each).")
    parser.add_argument("--findings", type=int, default=200, help="Idle findings per report.")
    parser.add_argument("--no-write", action="store_true", help="Do not append RESULTS.md.")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    os.environ["FINOPS_DATA_DIR"] = str(data_dir)
    os.environ["PREFECT_HOME"] = str(data_dir / "prefect-home")

    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from tests.plugins.fake_services import SLACK_TOKEN, FakeSlack, sample_digest

    slack = FakeSlack()
    os.environ["FINOPS_NOTIFY__SLACK_BOT_TOKEN"] = SLACK_TOKEN
    os.environ["FINOPS_NOTIFY__SLACK_CHANNEL"] = "#finops"
    os.environ["FINOPS_NOTIFY__SLACK_BASE_URL"] = slack.api_url

    from flows.report import report
    from tasks.notify.deliver import build_channels, deliver_pending
    from tasks.notify.outbox import Outbox
    from tasks.notify.plan import PlanOptions, plan_report
    from tasks.notify.secrets import resolve_secrets
    from tasks.notify.texts import template_summary

    base = sample_digest(findings=args.findings, anomalies=3)
    flow_digest: list[float] = []
    flow_alert: list[float] = []
    flow_total: list[float] = []
    print("starting a temporary Prefect server ...", flush=True)
    with (
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
        prefect_test_harness(server_startup_timeout=180),
    ):
        for run in range(args.runs):
            day = base.day + timedelta(days=run)
            anomalies = [
                a.model_copy(update={"id": f"{a.id}-{run}", "end": day}) for a in base.anomalies
            ]
            digest = base.model_copy(update={"day": day, "anomalies": anomalies})
            before = len(slack.messages)
            start = time.perf_counter()
            result = report(digest)
            done = time.perf_counter()
            accepted = slack.messages[before:]
            digest_message = next(m for m in accepted if m.text.startswith("FinOps digest"))
            first_alert = next(m for m in accepted if m.text.startswith("Cost anomaly"))
            flow_digest.append(digest_message.accepted_at - start)
            flow_alert.append(first_alert.accepted_at - start)
            flow_total.append(done - start)
            print(
                f"run {run + 1}: alert accepted after {flow_alert[-1]:.2f} s, digest after "
                f"{flow_digest[-1]:.2f} s, flow done after {flow_total[-1]:.2f} s "
                f"({len(result.sent)} messages sent)",
                flush=True,
            )

    # The same work without Prefect: plan, store in the outbox, deliver.
    from tasks.settings import load_settings

    settings = load_settings()
    outbox = Outbox(f"sqlite:///{data_dir / 'plain.db'}")
    channels = build_channels(settings.notify, resolve_secrets(settings.notify))
    plain: list[float] = []
    for run in range(args.runs):
        day = base.day + timedelta(days=100 + run)
        digest = base.model_copy(update={"day": day, "anomalies": []})
        before = len(slack.messages)
        start = time.perf_counter()
        messages = plan_report(digest, template_summary(digest), {}, PlanOptions())
        outbox.enqueue(messages, channels.enabled)
        deliver_pending(outbox, channels)
        accepted = next(m for m in slack.messages[before:] if m.text.startswith("FinOps digest"))
        plain.append(accepted.accepted_at - start)
    slack.close()

    warm = flow_digest[1:] or flow_digest
    verdict = "meets" if max(flow_digest) < TARGET_S else "MISSES"
    text = (
        f"## bench_notify: flow result -> Slack acceptance "
        f"({datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')})\n\n"
        f"Machine: {machine()}.  `report` flow on a temporary Prefect server (heartbeat off), "
        f"bot token to a local Slack Web API server; each report: 3 anomaly alerts, a digest "
        f"with {args.findings} idle findings (thread replies, 30-day chart upload), "
        f"{args.runs} runs.\n\n"
        f"| measure | first run | warm median | warm max |\n|---|---|---|---|\n"
        f"| result -> first anomaly alert accepted | {flow_alert[0]:.2f} s | "
        f"{statistics.median(flow_alert[1:] or flow_alert):.2f} s | "
        f"{max(flow_alert[1:] or flow_alert):.2f} s |\n"
        f"| result -> digest accepted | {flow_digest[0]:.2f} s | "
        f"{statistics.median(warm):.2f} s | {max(warm):.2f} s |\n"
        f"| result -> flow finished (thread, chart, artifact) | {flow_total[0]:.2f} s | "
        f"{statistics.median(flow_total[1:] or flow_total):.2f} s | "
        f"{max(flow_total[1:] or flow_total):.2f} s |\n"
        f"| without Prefect: plan + outbox -> digest accepted | {plain[0]:.2f} s | "
        f"{statistics.median(plain[1:] or plain):.2f} s | {max(plain[1:] or plain):.2f} s |\n\n"
        f"Target: digest accepted in under {TARGET_S:.0f} s: {verdict} "
        f"(worst {max(flow_digest):.2f} s).\n"
    )
    print(text)
    if not args.no_write:
        record("\n" + text)
    return 0 if max(flow_digest) < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
