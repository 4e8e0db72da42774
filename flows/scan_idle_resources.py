"""The ``scan-idle-resources`` flow: every idle/waste check over every account x region.

Orchestration only: plan (checks, parameters, targets) -> scan batches of targets with bounded
concurrency (a progress artifact moves as they finish; failing targets are reported, the scan
goes on) -> store findings for the fully scanned (check, account, region) scope -> publish a
table artifact sorted by savings.

Past one machine: a run from a deployment with more targets than ``scan_shards.targets`` runs
its accounts as shards, child flow runs of the ``scan-idle-shard`` deployment of this same flow
(``scan_idle_shard``: results persisted so the parent reads them), each its own job on the work
pool; a shard (``shard`` set) scans and returns, and the parent stores the merged findings once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.runtime import deployment

from tasks.aws.usage import count_requests
from tasks.findings.store import FindingsStore
from tasks.iac.tasks import annotate_ownership, follow_up_pull_requests
from tasks.idle.models import IdleScanResult
from tasks.idle.report import merge_usage, usage_line
from tasks.idle.scan import IdleScanner
from tasks.idle.shards import should_shard
from tasks.idle.tasks import (
    Progress,
    ScanTotals,
    batches,
    build_result,
    make_access,
    make_prices,
    plan_scan,
    publish_report,
    publish_usage,
    scan_batch,
    scan_in_shards,
    store_findings,
    unwalked,
)
from tasks.rightsizing.scan import AdvisedScanner, wants_advice
from tasks.rightsizing.tasks import effective_rates, fetch_optimizer_advice
from tasks.settings import load_settings


@flow(name="scan-idle-resources", log_prints=False)
def scan_idle_resources(
    checks: list[str] | None = None,
    accounts: list[str] | None = None,
    regions: list[str] | None = None,
    shard: int | None = None,
) -> IdleScanResult:
    """Scan accounts x regions for idle and wasted resources and store the findings.

    Args:
        checks: check names (default: settings.idle.checks, else all).
        accounts: account ids (default: settings, else the organisation's accounts).
        regions: regions (default: settings, else the regions enabled for the account).
        shard: set by a sharded parent run: scan these accounts and return the findings
            without storing them (the parent stores the merged scan once).

    Returns:
        The :class:`~tasks.idle.models.IdleScanResult`: the findings (largest savings first),
        the failed targets, the skipped resources and what changed in the findings store.

    Example:
        >>> scan_idle_resources(checks=["ebs-unattached"], regions=["us-east-1"])  # doctest: +SKIP
    """
    return _scan(checks, accounts, regions, shard)


@flow(name="scan-idle-resources", log_prints=False, persist_result=True)
def scan_idle_shard(
    checks: list[str] | None = None,
    accounts: list[str] | None = None,
    regions: list[str] | None = None,
    shard: int | None = None,
) -> IdleScanResult:
    """The same flow as the ``scan-idle-shard`` deployment runs it, its result persisted.

    The parent reads a shard's result from the result storage (on ECS the results bucket,
    locally ``PREFECT_LOCAL_STORAGE_PATH``); arguments as :func:`scan_idle_resources`.
    """
    return _scan(checks, accounts, regions, shard)


def _scan(
    checks: list[str] | None,
    accounts: list[str] | None,
    regions: list[str] | None,
    shard: int | None,
) -> IdleScanResult:
    with count_requests() as usage:
        result = _scan_counted(checks, accounts, regions, shard)
    logger = get_run_logger()
    rows = merge_usage(usage.as_rows(), result.aws_usage)
    logger.info("%s", usage_line(rows))
    publish_usage(rows)
    return result.model_copy(update={"aws_usage": rows})


def _scan_counted(
    checks: list[str] | None,
    accounts: list[str] | None,
    regions: list[str] | None,
    shard: int | None,
) -> IdleScanResult:
    logger = get_run_logger()
    settings = load_settings()
    now = datetime.now(UTC)
    access = make_access(settings)
    plan = plan_scan(settings, access, checks, accounts, regions)
    logger.info("scanning %d target(s) for %s", len(plan.targets), ", ".join(plan.checks))
    store = FindingsStore(settings.findings_url)
    progress = Progress(len(plan.targets) * plan.steps_per_target)
    sharded = should_shard(
        len(plan.targets),
        settings.scan_shards.targets,
        from_deployment=deployment.get_id() is not None,
        is_shard=shard is not None,
    )
    advice = None
    if sharded:
        totals, shard_runs = scan_in_shards(plan, settings.scan_shards, regions, progress)
        for record in shard_runs:
            logger.info("%s: %s", record.shard.label, ", ".join(s for _, s in record.runs))
    else:
        scan_with = (access, plan.selected, plan.params, make_prices(settings, access))
        scanner: IdleScanner
        if wants_advice(plan.selected):  # rightsizing: AWS's optimisers first, org-wide, once
            advice = fetch_optimizer_advice(access, plan.targets)
            for note in advice.notes:
                logger.warning("%s", note)
            scanner = AdvisedScanner(
                advice,
                *scan_with,
                settings.idle,
                now,
                effective_rates=effective_rates(settings, now),
                store=store,
                on_step=progress.step,
            )
        else:
            scanner = IdleScanner(
                *scan_with, settings.idle, now, store=store, on_step=progress.step
            )
        totals = ScanTotals()
        concurrency = settings.aws.max_concurrency
        for batch in batches(plan.targets, concurrency * 4):
            for scan in scan_batch(scanner, batch, concurrency, progress, plan.steps_per_target):
                totals.add(scan)
    for error in totals.errors:
        logger.warning("not scanned: %s", error)
    lifecycle: dict[str, int] = {}
    if shard is None:
        # who owns each resource in code (Terraform state, CloudFormation tags): in its evidence;
        # a sharded scan's parent annotates the merged findings once
        totals.findings = annotate_ownership(unwalked(totals.findings), settings.iac, access)
        # quoted: Prefect would otherwise walk every finding for futures, twice per step
        lifecycle = store_findings(store, unwalked(totals.findings), unwalked(totals.scanned), now)
    publish_report(unwalked(totals.findings), unwalked(totals.errors))
    if shard is None:
        follow_up_pull_requests(unwalked(totals.findings), settings.iac, now)
    result = build_result(totals, lifecycle, len(plan.targets))
    return result.model_copy(update={"notes": advice.notes}) if advice else result
