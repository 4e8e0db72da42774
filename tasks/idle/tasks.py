"""Prefect tasks of the idle scan: plan, scan batches of targets, store findings, publish report.

Thin wrappers: the work is in ``tasks.idle.scan`` (adapters + pure rules) and
``tasks.idle.report`` (pure rendering).  Tasks work on batches of account x region targets,
never one task run per resource.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast
from uuid import UUID

from botocore.config import Config
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
)
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import ArtifactUpdate
from prefect.utilities.annotations import quote

from tasks.aws.session import AwsAccess, Target, fan_out
from tasks.findings.model import Finding
from tasks.findings.store import FindingsStore
from tasks.idle.checks import select_checks
from tasks.idle.models import IdleScanResult
from tasks.idle.registry import Check, CheckParams, resolve_params
from tasks.idle.report import (
    by_savings,
    errors_markdown,
    findings_table,
    merge_usage,
    savings_summary,
    total_savings,
    usage_line,
)
from tasks.idle.scan import IdleScanner, ScanError, TargetScan, families
from tasks.idle.shards import Shard, ShardAttempts, plan_shards
from tasks.pricing.book import BundledPrices, Prices, PricingApiPrices
from tasks.settings import ScanShardSettings, Settings
from tasks.steps import step

T = TypeVar("T")


def unwalked(value: T) -> T:
    """A step argument Prefect passes through as is, without walking it for futures and states.

    Prefect visits every element of a task's arguments twice (resolving futures, recording task
    inputs); for a scan's thousands of findings that cost a second of CPU at 5,000 instances.
    The step still receives the value itself (``quote`` is unwrapped on the way in).

    Example:
        >>> unwalked([1, 2]).unquote()
        [1, 2]
    """
    return cast(T, quote(value))


@dataclass
class ScanPlan:
    """What a scan will do: the checks, their parameters and the targets."""

    checks: list[str]
    selected: list[Check[Any]]
    params: dict[str, CheckParams]
    targets: list[Target]
    steps_per_target: int


@dataclass
class ScanTotals:
    """Everything the batches produced, merged."""

    findings: list[Finding] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)
    scanned: set[tuple[str, str, str]] = field(default_factory=set)
    resources: int = 0
    aws_usage: list[dict[str, Any]] = field(default_factory=list)

    def add_result(self, result: IdleScanResult) -> None:
        """Merge a shard's returned result (its errors come back as dicts)."""
        self.findings.extend(result.findings)
        self.skipped.extend(result.skipped)
        self.errors.extend(
            ScanError(e["account_id"], e["region"], tuple(e["checks"]), e["code"], e["message"])
            for e in result.errors
        )
        self.scanned |= {(c, a, r) for c, a, r in result.scanned}
        self.resources += result.resources
        self.aws_usage = merge_usage(self.aws_usage, result.aws_usage)

    def add(self, scan: TargetScan) -> None:
        self.findings.extend(scan.findings)
        self.skipped.extend(
            {
                "check": s.check,
                "account_id": s.account_id,
                "region": s.region,
                "resource_id": s.resource_id,
                "reason": s.reason,
            }
            for s in scan.skipped
        )
        self.errors.extend(scan.errors)
        self.scanned |= scan.scanned
        self.resources += scan.resources


def make_access(settings: Settings) -> AwsAccess:
    """The AWS access layer for a scan (one per flow run: sessions and clients are cached)."""
    return AwsAccess(settings.aws)


def make_prices(settings: Settings, access: AwsAccess, use_pricing_api: bool = True) -> Prices:
    """The Pricing API (us-east-1, cached under data_dir) in front of the bundled price book."""
    if not use_pricing_api:
        return BundledPrices()
    # Prices have a fallback, and every scan thread waits on the first lookup: a Pricing API
    # that fails (an endpoint without it answers 500) must cost two short retries, not the six
    # attempts with backoff (~25 s) a describe call deserves.
    config = access.config.merge(
        Config(retries={"mode": "standard", "max_attempts": min(3, settings.aws.max_attempts)})
    )
    return PricingApiPrices(
        lambda: access.base_session.client("pricing", region_name="us-east-1", config=config),
        settings.data_dir / "pricing-cache.json",
    )


@step("plan-idle-scan")
def plan_scan(
    settings: Settings,
    access: AwsAccess,
    checks: list[str] | None,
    accounts: list[str] | None,
    regions: list[str] | None,
) -> ScanPlan:
    """Validate the checks and their parameters, then list the account x region targets."""
    selected = select_checks(checks or settings.idle.checks)
    params = resolve_params(selected, settings.idle.params)
    targets = access.targets(accounts or None, regions or None)
    return ScanPlan(
        checks=[c.name for c in selected],
        selected=selected,
        params=params,
        targets=targets,
        steps_per_target=len(families(selected)),
    )


class Progress:
    """A Prefect progress artifact that moves as (target, family) steps finish."""

    def __init__(self, total_steps: int, key: str = "idle-scan-progress") -> None:
        self.total = max(1, total_steps)
        self.done = 0
        self._lock = threading.Lock()
        self._shown = 0.0
        created = create_progress_artifact(
            progress=0.0, key=key, description="Idle scan: account x region x family steps done"
        )
        self.artifact_id: UUID | None = created if isinstance(created, UUID) else None
        # One client for every update: prefect's update_progress_artifact builds a new client
        # (and TLS context) per call, which cost a scan thread about 60 ms each time.
        self._client: SyncPrefectClient | None = None

    def step(self, target: Target | None = None, family: str | None = None) -> None:
        with self._lock:
            self.done += 1
            percent = round(100.0 * self.done / self.total, 1)
            # one update per percent at most: a 10k-resource scan must not flood the API
            if self.artifact_id is None or (percent - self._shown < 1.0 and percent < 100.0):
                return
            self._shown = percent
            if self._client is None:
                self._client = get_client(sync_client=True)
            client = self._client
        client.update_artifact(artifact_id=self.artifact_id, artifact=ArtifactUpdate(data=percent))

    def skip_target(self, steps: int) -> None:
        for _ in range(steps):
            self.step()


@step("scan-idle-batch")
def scan_batch(
    scanner: IdleScanner,
    targets: list[Target],
    max_concurrency: int,
    progress: Progress | None,
    steps_per_target: int,
) -> list[TargetScan]:
    """Scan a batch of targets concurrently; a failing target becomes a ScanError, not a crash."""
    outcome = fan_out(scanner.scan_target, targets, max_concurrency)
    scans = list(outcome.results.values())
    plan_checks = tuple(c.name for c in scanner.checks)
    for target, error in outcome.errors.items():
        scans.append(
            TargetScan(
                target=target,
                errors=[
                    ScanError(
                        target.account_id, target.region, plan_checks, error.code, error.message
                    )
                ],
            )
        )
        if progress is not None:
            progress.skip_target(steps_per_target)
    return scans


@step("store-idle-findings")
def store_findings(
    store: FindingsStore,
    findings: list[Finding],
    scanned: set[tuple[str, str, str]],
    now: datetime,
) -> dict[str, int]:
    """Record the scan: new findings open, seen ones stay, gone ones (in scope) resolve."""
    outcome = store.record_scan(findings, scope=scanned, now=now, actor="scan-idle-resources")
    return {
        "new": len(outcome.new),
        "still_open": len(outcome.still_open),
        "reraised": len(outcome.reraised),
        "resolved": len(outcome.resolved),
    }


@step("publish-idle-report")
def publish_report(findings: list[Finding], errors: list[ScanError]) -> None:
    """Table artifact sorted by savings with the total; failing targets in a markdown artifact."""
    summary = savings_summary(findings)
    create_table_artifact(
        table=findings_table(findings),
        key="idle-findings",
        description=summary
        + (f"  {len(errors)} target(s) failed: see idle-scan-errors." if errors else ""),
    )
    create_markdown_artifact(
        markdown=errors_markdown(errors), key="idle-scan-errors", description="Failed targets"
    )


def publish_usage(aws_usage: list[dict[str, Any]]) -> None:
    """The scan's own AWS requests per service and operation, and their cost, as a table artifact.

    Called from the flow once its counter is closed (not a step of its own: a task run would be
    counted as the scan's time for a single artifact write).
    """
    create_table_artifact(
        table=aws_usage or [{"service": "-", "operation": "-", "requests": 0}],
        key="idle-scan-aws-usage",
        description=usage_line(aws_usage),
    )


def batches(targets: list[Target], size: int) -> list[list[Target]]:
    """Targets in batches of ``size`` (the last may be shorter).

    Example:
        >>> [len(b) for b in batches([Target("1", str(i)) for i in range(5)], 2)]
        [2, 2, 1]
    """
    size = max(1, size)
    return [targets[i : i + size] for i in range(0, len(targets), size)]


def as_json(findings: list[Finding]) -> list[dict[str, Any]]:
    """Findings as JSON-ready dicts (Decimal savings as strings, times ISO 8601)."""
    return [finding.model_dump(mode="json") for finding in findings]


def build_result(totals: ScanTotals, lifecycle: dict[str, int], targets: int) -> IdleScanResult:
    """The flow's return value from the merged batches."""
    ordered = by_savings(totals.findings)
    total, unknown = total_savings(ordered)
    return IdleScanResult(
        findings=ordered,
        errors=[e.as_dict() for e in totals.errors],
        skipped=totals.skipped,
        scanned=sorted(totals.scanned),
        lifecycle=lifecycle,
        resources=totals.resources,
        targets=targets,
        total_monthly_savings_usd=total,
        unknown_savings=unknown,
        aws_usage=totals.aws_usage,
    )


def scan_in_shards(
    plan: ScanPlan,
    shards_settings: ScanShardSettings,
    regions: list[str] | None,
    progress: Progress | None = None,
) -> tuple[ScanTotals, list[ShardAttempts]]:
    """Scan the plan's targets as child flow runs of the shard deployment, and merge them.

    Each shard (whole accounts) is one flow run of ``shards_settings.deployment`` started as a
    subflow of this run, so each is its own job on the work pool.  They all run at once; this
    run polls their states.  A shard that ends in any state but Completed, or has not ended
    after ``timeout_s`` (its worker was lost: the run is cancelled first), is started again up
    to ``retries`` times; after that its targets are reported as not scanned and stay out of the
    merged scope, so the findings store resolves nothing of theirs.  Completed shards' findings
    are merged whatever happens to the others.

    Returns:
        The merged totals and, per shard, its attempts.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment
    from prefect.runtime import flow_run as this_run
    from prefect.states import Cancelled

    shards = plan_shards([(t.account_id, t.region) for t in plan.targets], shards_settings.accounts)
    parent = this_run.get_id() or "local"
    attempts = {shard.index: ShardAttempts(shard) for shard in shards}
    totals = ScanTotals()

    def start(shard: Shard) -> tuple[UUID, float]:
        run = cast(
            FlowRun,
            run_deployment(
                name=shards_settings.deployment,
                parameters={
                    "checks": plan.checks,
                    "accounts": list(shard.accounts),
                    "regions": regions,
                    "shard": shard.index,
                },
                timeout=0,
                as_subflow=True,
                idempotency_key=f"{parent}-shard-{shard.index}-{attempts[shard.index].attempts}",
            ),
        )
        attempts[shard.index].runs.append((str(run.id), "Scheduled"))
        return run.id, time.monotonic()

    running = {shard.index: start(shard) for shard in shards}
    with get_client(sync_client=True) as client:
        while running:
            time.sleep(shards_settings.poll_s)
            for index, (run_id, started) in list(running.items()):
                record = attempts[index]
                state = client.read_flow_run(run_id).state
                ended = state is not None and state.is_final()
                if not ended and time.monotonic() - started < shards_settings.timeout_s:
                    continue
                if state is not None and state.is_completed():
                    record.runs[-1] = (str(run_id), str(state.name))
                    totals.add_result(cast(IdleScanResult, state.result()))
                    del running[index]
                    if progress is not None:
                        progress.skip_target(record.shard.targets * plan.steps_per_target)
                    continue
                if not ended:  # lost: its worker died or none picked it up in time
                    client.set_flow_run_state(
                        run_id,
                        Cancelled(message=f"no end after {shards_settings.timeout_s} s"),
                        force=True,
                    )
                    why = f"no end after {shards_settings.timeout_s} s (cancelled)"
                else:
                    assert state is not None
                    why = f"ended {state.name}: {state.message or 'no message'}"
                record.runs[-1] = (str(run_id), why)
                if record.attempts <= shards_settings.retries:
                    running[index] = start(record.shard)
                    continue
                record.error = f"{record.shard.label}: {record.attempts} attempt(s), last {why}"
                del running[index]
                for target in plan.targets:
                    if target.account_id in record.shard.accounts:
                        totals.errors.append(
                            ScanError(
                                target.account_id,
                                target.region,
                                tuple(plan.checks),
                                "ShardFailed",
                                record.error,
                            )
                        )
                if progress is not None:
                    progress.skip_target(record.shard.targets * plan.steps_per_target)
    return totals, list(attempts.values())
