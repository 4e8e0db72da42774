"""The ``scan-idle-resources`` flow: every idle/waste check over every account x region.

Orchestration only: plan (checks, parameters, targets) -> scan batches of targets with bounded
concurrency (a progress artifact moves as they finish; failing targets are reported, the scan
goes on) -> store findings for the fully scanned (check, account, region) scope -> publish a
table artifact sorted by savings.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger

from tasks.findings.store import FindingsStore
from tasks.iac.tasks import annotate_ownership, follow_up_pull_requests
from tasks.idle.models import IdleScanResult
from tasks.idle.scan import IdleScanner
from tasks.idle.tasks import (
    Progress,
    ScanTotals,
    batches,
    build_result,
    make_access,
    make_prices,
    plan_scan,
    publish_report,
    scan_batch,
    store_findings,
)
from tasks.rightsizing.scan import AdvisedScanner, wants_advice
from tasks.rightsizing.tasks import effective_rates, fetch_optimizer_advice
from tasks.settings import load_settings


@flow(name="scan-idle-resources", log_prints=False)
def scan_idle_resources(
    checks: list[str] | None = None,
    accounts: list[str] | None = None,
    regions: list[str] | None = None,
) -> IdleScanResult:
    """Scan accounts x regions for idle and wasted resources and store the findings.

    Args:
        checks: check names (default: settings.idle.checks, else all).
        accounts: account ids (default: settings, else the organisation's accounts).
        regions: regions (default: settings, else the regions enabled for the account).

    Returns:
        The :class:`~tasks.idle.models.IdleScanResult`: the findings (largest savings first),
        the failed targets, the skipped resources and what changed in the findings store.

    Example:
        >>> scan_idle_resources(checks=["ebs-unattached"], regions=["us-east-1"])  # doctest: +SKIP
    """
    logger = get_run_logger()
    settings = load_settings()
    now = datetime.now(UTC)
    access = make_access(settings)
    plan = plan_scan(settings, access, checks, accounts, regions)
    logger.info("scanning %d target(s) for %s", len(plan.targets), ", ".join(plan.checks))
    store = FindingsStore(settings.findings_url)
    progress = Progress(len(plan.targets) * plan.steps_per_target)
    prices = make_prices(settings, access)
    scan_with = (access, plan.selected, plan.params, prices, settings.idle, now)
    scanner: IdleScanner
    advice = None
    if wants_advice(plan.selected):  # rightsizing: AWS's optimisers first, org-wide, once
        advice = fetch_optimizer_advice(access, plan.targets)
        for note in advice.notes:
            logger.warning("%s", note)
        rates = effective_rates(settings, now)
        scanner = AdvisedScanner(
            advice, *scan_with, effective_rates=rates, store=store, on_step=progress.step
        )
    else:
        scanner = IdleScanner(*scan_with, store=store, on_step=progress.step)
    totals = ScanTotals()
    concurrency = settings.aws.max_concurrency
    for batch in batches(plan.targets, concurrency * 4):
        for scan in scan_batch(scanner, batch, concurrency, progress, plan.steps_per_target):
            totals.add(scan)
    for error in totals.errors:
        logger.warning("not scanned: %s", error)
    # who owns each resource in code (Terraform state, CloudFormation tags): in its evidence
    totals.findings = annotate_ownership(totals.findings, settings.iac, access)
    lifecycle = store_findings(store, totals.findings, totals.scanned, now)
    publish_report(totals.findings, totals.errors)
    follow_up_pull_requests(totals.findings, settings.iac, now)
    result = build_result(totals, lifecycle, len(plan.targets))
    return result.model_copy(update={"notes": advice.notes}) if advice else result
