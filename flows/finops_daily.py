"""The ``finops-daily`` flow: the parent that chains the day's work.

ingest (with the Great Expectations gate) -> anomalies and budgets -> idle scan -> report ->
approval request.  Orchestration only: every stage is a flow or task of its own capability; a
stage that fails is reported in the summary and the stages that do not depend on it still run,
so one broken source never hides the others' findings.  The idle scan depends on no cost data,
so it runs alongside ingest and anomalies: the scan mostly waits on AWS while ingest works the
CPU, and the day is done in about the time of the longer of the two.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TypeVar, cast

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment

from flows.check_cost_anomalies import check_cost_anomalies
from flows.ingest_costs import ingest_costs
from flows.models import DailyResult
from flows.report import alert_anomalies, report
from flows.scan_idle_resources import scan_idle_resources
from tasks.costs.models import IngestResult
from tasks.findings.model import Finding
from tasks.findings.store import ACTIONABLE, FindingsStore
from tasks.idle.models import IdleScanResult
from tasks.idle.report import usage_line
from tasks.money import usd, usd_per_month
from tasks.remediation.menu import protected_reason
from tasks.settings import load_settings
from tasks.steps import step

T = TypeVar("T")

#: The deployment that waits for a person's approval, started when there is something to approve.
REMEDIATION_DEPLOYMENT = "remediate-findings/remediate-findings"


@step("approvable-findings")
def approvable_findings(findings_url: str) -> list[Finding]:
    """The findings that wait for a person's decision."""
    return [s.finding for s in FindingsStore(findings_url).list(statuses=sorted(ACTIONABLE))]


@dataclass(frozen=True)
class AtStake:
    """What waits for approval: the monthly dollars of the findings that may be acted on, and
    the findings on protected resources (never changed, so not counted), listed apart."""

    monthly_usd: Decimal = Decimal(0)
    counted: int = 0
    unpriced: int = 0
    protected: list[tuple[Finding, str]] = field(default_factory=list)


def at_stake(findings: list[Finding]) -> AtStake:
    """Sum ``monthly_savings_usd`` of the approvable findings, protected resources apart.

    Example:
        >>> at_stake([]).monthly_usd
        Decimal('0')
    """
    total, counted, unpriced = Decimal(0), 0, 0
    protected: list[tuple[Finding, str]] = []
    for finding in findings:
        why = protected_reason(finding.tags, finding.evidence)
        if why:
            protected.append((finding, why))
            continue
        counted += 1
        if finding.monthly_savings_usd is None:
            unpriced += 1
        else:
            total += finding.monthly_savings_usd
    return AtStake(total, counted, unpriced, protected)


@step("request-approval")
def request_approval(fingerprints: list[str], deployment: str) -> str:
    """Start the remediation deployment, which waits for approval without holding a worker."""
    run = cast(
        FlowRun,
        run_deployment(
            name=deployment,
            parameters={"fingerprints": fingerprints},
            timeout=0,
            as_subflow=False,
            tags=["approval"],
        ),
    )
    return str(run.id)


def _stage(
    name: str, timings: dict[str, float], failures: dict[str, str], work: Callable[[], T]
) -> T | None:
    started = time.perf_counter()
    try:
        return work()
    except Exception as error:  # a failed stage is reported; the others still run
        get_run_logger().error("stage %s failed: %s", name, error)
        failures[name] = f"{type(error).__name__}: {error}"
        return None
    finally:
        timings[name] = round(time.perf_counter() - started, 2)


@flow(name="finops-daily", log_prints=True)
def finops_daily(
    day: date | None = None,
    source: str | None = None,
    request_approval_run: bool = True,
    remediation_deployment: str = REMEDIATION_DEPLOYMENT,
) -> DailyResult:
    """Run the whole day: costs, anomalies, idle resources, report, approval request.

    Args:
        day: the day reported on (default: yesterday, UTC).
        source: cost source, ``ce`` or ``export`` (default: ``settings.costs.source``).
        request_approval_run: start the remediation deployment when findings wait for approval.
        remediation_deployment: ``flow-name/deployment-name`` of the remediation deployment.

    Returns:
        The :class:`~flows.models.DailyResult`: each stage's typed result, its duration in
        seconds and any stage failures (the run fails after returning it if any stage failed).

    Example:
        >>> finops_daily(request_approval_run=False)  # doctest: +SKIP
    """
    settings = load_settings()
    reported_day = day or (datetime.now(UTC) - timedelta(days=1)).date()
    started_at = datetime.now(UTC)
    timings: dict[str, float] = {}
    failures: dict[str, str] = {}

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="finops-daily-scan") as pool:
        # The scan subflow runs in this flow run's context (copied), so it is this run's child.
        scanning = pool.submit(
            contextvars.copy_context().run,
            _stage,
            "scan",
            timings,
            failures,
            lambda: scan_idle_resources(),
        )
        ingest = _stage(
            "ingest",
            timings,
            failures,
            lambda: ingest_costs(source=source),  # type: ignore[arg-type]
        )
        anomalies = (
            _stage("anomalies", timings, failures, lambda: check_cost_anomalies(date=reported_day))
            if ingest is not None
            else None
        )
        if anomalies is not None and anomalies.new_alerts:
            # An anomaly above its threshold is alerted on its own as soon as it is detected.
            alerted = anomalies.alerted
            _stage("alerts", timings, failures, lambda: alert_anomalies(alerted))
        scan = scanning.result()

    approval_run_id: str | None = None
    waiting = approvable_findings(settings.findings_url) if scan is not None else []
    if request_approval_run and waiting:
        fingerprints = [f.fingerprint for f in waiting]
        approval_run_id = _stage(
            "approval_request",
            timings,
            failures,
            lambda: request_approval(fingerprints, remediation_deployment),
        )

    delivered = _stage(
        "report",
        timings,
        failures,
        lambda: report(
            day=reported_day,
            anomaly_result=anomalies,
            findings=scan.findings if scan is not None else None,
            resolved_after=started_at,
            approval_flow_run_id=approval_run_id,
            own_bill=own_bill(ingest, scan),
        ),
    )

    summary = DailyResult(
        day=reported_day,
        ingest=ingest,
        anomalies=anomalies,
        scan=scan,
        report=delivered,
        approval_flow_run_id=approval_run_id,
        awaiting_approval=len(waiting),
        timings_s=timings,
        failures=failures,
    )
    create_markdown_artifact(
        key="finops-daily",
        markdown=summary_markdown(summary, at_stake(waiting), str(settings.notify.prefect_ui_url)),
        description=f"FinOps day {reported_day.isoformat()}",
    )
    if failures:
        raise RuntimeError(
            "finops-daily finished with failed stages: "
            + "; ".join(f"{name}: {reason}" for name, reason in failures.items())
        )
    return summary


def own_bill(ingest: IngestResult | None, scan: IdleScanResult | None) -> list[str]:
    """One line per stage on what its own AWS requests cost (for the Slack digest).

    Example:
        >>> own_bill(None, None)
        []
    """
    lines = []
    if ingest is not None:
        total = ingest.aws_cost_usd.get("total", 0)
        lines.append(f"AWS requests of the ingest: {sum(ingest.aws_requests.values()):,}, ${total}")
    if scan is not None:
        lines.append(usage_line(scan.aws_usage))
    return lines


def summary_markdown(summary: DailyResult, stake: AtStake, prefect_ui_url: str) -> str:
    """The ``finops-daily`` artifact: stage times, what is at stake and the run to approve it.

    Example:
        >>> text = summary_markdown(DailyResult(day=date(2026, 11, 25)), AtStake(),
        ...                         "http://127.0.0.1:4200")
        >>> "Findings waiting for approval: 0" in text
        True
    """
    lines = [f"# FinOps day {summary.day}", "", "| stage | seconds | outcome |", "|---|---|---|"]
    for stage, seconds in summary.timings_s.items():
        outcome = summary.failures.get(stage, "ok")
        lines.append(f"| {stage} | {seconds:.2f} | {outcome} |")
    if summary.scan is not None:  # the tool's own bill for the scan
        lines += ["", usage_line(summary.scan.aws_usage)]
    lines += ["", f"## Findings waiting for approval: {summary.awaiting_approval}", ""]
    if summary.awaiting_approval:
        unpriced = f" ({stake.unpriced} with no known price)" if stake.unpriced else ""
        lines.append(
            f"**{usd(stake.monthly_usd)} USD per month at stake** over the {stake.counted} "
            f"findings that may be acted on{unpriced}."
        )
    if summary.approval_flow_run_id:
        url = f"{prefect_ui_url.rstrip('/')}/runs/flow-run/{summary.approval_flow_run_id}"
        lines += [
            "",
            f"Approve or reject them in the Prefect UI: [the waiting remediation run]({url}) "
            f"(`{summary.approval_flow_run_id}`): open it, click **Resume**, pick the findings.",
        ]
    if stake.protected:
        dollars = sum((f.monthly_savings_usd or Decimal(0) for f, _ in stake.protected), Decimal(0))
        lines += [
            "",
            f"### On protected resources: {len(stake.protected)} ({usd(dollars)} USD per month), "
            "not counted above",
            "",
            "They are reported, never changed: no action is offered on them.",
            "",
            "| account | region | resource | check | monthly | why |",
            "|---|---|---|---|---|---|",
        ]
        for finding, why in stake.protected:
            lines.append(
                f"| {finding.account_id} | {finding.region} | {finding.resource_id} | "
                f"{finding.check} | {usd_per_month(finding.monthly_savings_usd)} | {why} |"
            )
    return "\n".join(lines)
