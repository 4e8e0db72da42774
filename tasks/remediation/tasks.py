"""Thin Prefect tasks of remediation (no retries: the ledger guards against acting twice)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from tasks.aws.session import AwsAccess
from tasks.findings.model import Finding
from tasks.findings.store import ACTIONABLE, FindingsStore
from tasks.iac.ownership import ownership_from_evidence
from tasks.iac.pull_request import CodePath
from tasks.money import usd
from tasks.remediation.approval import Candidate, candidate_from, decide
from tasks.remediation.audit import AuditLog, AuditRecord
from tasks.remediation.engine import Remediator
from tasks.remediation.ledger import RemediationLedger
from tasks.remediation.menu import is_actionable
from tasks.remediation.models import RemediationResult
from tasks.remediation.report import ActionResult, report_markdown
from tasks.settings import Settings
from tasks.steps import step


def remediator(settings: Settings, run_id: str, dry_run: bool) -> Remediator:
    """The engine wired to the configured stores and the remediation role."""
    access = AwsAccess(settings.aws, role_name=settings.aws.remediation_role_name)
    code_path = CodePath(settings.iac, Path(settings.data_dir), settings.notify.prefect_ui_url)
    return Remediator(
        settings,
        FindingsStore(settings.findings_url),
        RemediationLedger(settings.findings_url),
        AuditLog(settings.audit_log_url),
        access.client,
        run_id,
        dry_run,
        code_path=code_path.propose,
    )


def select_candidates(store: FindingsStore, fingerprints: Sequence[str] | None) -> list[Candidate]:
    """Findings to offer: the given ones (any prefix), else every actionable one with a menu."""
    if fingerprints is None:
        stored = store.list(statuses=sorted(ACTIONABLE))
    else:
        full = [store.resolve(fp) for fp in fingerprints]
        stored = [s for s in store.list(fingerprints=full) if s.status in ACTIONABLE]
    return [
        candidate_from(s)
        for s in stored
        if is_actionable(s.finding.check, s.finding.recommended_actions, _code_kind(s.finding))
    ]


def _code_kind(finding: Finding) -> str:
    owner = ownership_from_evidence(finding.evidence, finding.tags)
    return owner.kind if owner else ""


@step("load-remediation-candidates")
def load_candidates(fingerprints: list[str] | None, findings_url: str) -> list[Candidate]:
    return select_candidates(FindingsStore(findings_url), fingerprints)


@step("publish-approval-preview")
def publish_preview(markdown: str) -> None:
    create_markdown_artifact(
        key="remediation-preview", markdown=markdown, description="Findings waiting for approval"
    )


def runs_still_alive(run_ids: set[str], current_run_id: str) -> frozenset[str]:
    """Which of these flow runs are not finished (running, paused, scheduled) in Prefect.

    A run killed outright stays "running" until Prefect marks it crashed (missed heartbeats);
    until then its unfinished actions are left to it, so two runs never act on one entry.
    """
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    alive: set[str] = set()
    with get_client(sync_client=True) as client:
        for run_id in run_ids - {current_run_id}:
            try:
                state = client.read_flow_run(UUID(run_id)).state
            except (ValueError, ObjectNotFound):
                continue  # not a Prefect run (a CLI or test approval id): nobody else owns it
            if state is not None and not state.is_final():
                alive.add(run_id)
    return frozenset(alive)


#: The message Prefect's server puts on a paused/suspended run whose timeout passed
#: (``prefect.server.services.pause_expirations``): it fails the run; no flow code runs.
PAUSE_EXPIRED_MESSAGE = "The flow was paused and never resumed."
FLOW_NAME = "remediate-findings"
#: How far back a run looks for approvals that expired unrecorded (runs are daily at most).
EXPIRY_LOOKBACK = timedelta(days=90)


def expired_approval_runs(
    current_run_id: str, since: datetime, default_dry_run: bool
) -> list[tuple[str, datetime, bool]]:
    """``remediate-findings`` runs Prefect failed because nobody answered their approval in time.

    A suspended run (deployments) holds no process, so when its timeout passes Prefect's server
    fails it and none of the flow's code runs: the expiry must be recorded by someone else.

    Returns:
        ``(run_id, failed_at, dry_run)`` per run; ``dry_run`` is the run's parameter, or the
        ``default_dry_run`` (the configured default) when it was not given.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    expired: list[tuple[str, datetime, bool]] = []
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.FAILED])),
                expected_start_time=FlowRunFilterExpectedStartTime(after_=since),
            ),
        )
    for run in runs:
        if str(run.id) == current_run_id or run.state is None:
            continue
        if run.state.message != PAUSE_EXPIRED_MESSAGE:
            continue
        dry = run.parameters.get("dry_run")
        failed_at = run.state.timestamp.astimezone(UTC)
        expired.append((str(run.id), failed_at, default_dry_run if dry is None else bool(dry)))
    return expired


def record_expired_approvals(
    audit: AuditLog, current_run_id: str, default_dry_run: bool
) -> list[str]:
    """Write an ``expired`` approval record for each timed-out run that has none yet.

    Returns:
        The run ids recorded now (a rerun records none again).

    Example:
        >>> record_expired_approvals(AuditLog("audit.jsonl"), "run-2", True)  # doctest: +SKIP
        ['0b7c...']
    """
    since = datetime.now(UTC) - EXPIRY_LOOKBACK
    expired = expired_approval_runs(current_run_id, since, default_dry_run)
    if not expired:
        return []
    decided = {r.run_id for r in audit.read() if r.kind == "approval"}
    recorded = []
    for run_id, failed_at, dry in expired:
        if run_id in decided:
            continue
        audit.append(
            AuditRecord(
                kind="approval",
                run_id=run_id,
                at=failed_at,
                decision="expired",
                result="expired",
                dry_run=dry,
                reason="no decision before the timeout: Prefect failed the waiting run "
                f"({PAUSE_EXPIRED_MESSAGE!r}); nothing was done; recorded by run {current_run_id}",
            )
        )
        recorded.append(run_id)
    return recorded


@step("finish-unfinished-remediation")
def recover_unfinished(run_id: str, dry_run: bool, settings: Settings) -> list[ActionResult]:
    """Record approvals that expired unseen; finish what dead runs approved; act on due marks."""
    audit = AuditLog(settings.audit_log_url)
    expired = record_expired_approvals(audit, run_id, settings.remediation.dry_run)
    if expired:
        get_run_logger().info("recorded %d expired approval(s): %s", len(expired), expired)
    if dry_run:
        return []
    engine = remediator(settings, run_id, dry_run)
    approvals = {entry.approval_id for entry in engine.ledger.unfinished()}
    return engine.recover(runs_still_alive(approvals, run_id))


@step("apply-approval")
def apply_approval(
    values: dict[str, Any] | None,
    candidates: list[Candidate],
    run_id: str,
    dry_run: bool,
    settings: Settings,
) -> tuple[str, str, list[ActionResult]]:
    """Record the decision (or its expiry), carry out what was approved, and give one result
    per included finding (a finding set to ``skip`` is skipped with why)."""
    engine = remediator(settings, run_id, dry_run)
    if values is None:
        from tasks.remediation.approval import ApprovalDecision

        decision = ApprovalDecision("expired", notes=["no decision before the timeout"])
    else:
        decision = decide(values, candidates)
    entries = engine.record_approval(decision)
    results = engine.execute(entries)
    if values is not None:
        # every included finding has its result, those left out of the selections too
        results = engine.every_included(values, candidates, decision, results)
    return decision.decision, decision.approver, results


@step("publish-remediation-report")
def publish_report(
    results: list[ActionResult], status: str, approver: str, dry_run: bool
) -> RemediationResult:
    markdown = report_markdown(results, status, approver, dry_run)
    summary = RemediationResult.of(results, status, approver, dry_run)
    rate = "n/a" if summary.success_rate is None else f"{summary.success_rate:.1%}"
    get_run_logger().info(
        "remediation %s: attempted %d, succeeded %d, skipped %d, failed %d; success rate %s; "
        "savings achieved %s a month%s",
        status,
        summary.attempted,
        summary.succeeded,
        summary.skipped,
        summary.failed,
        rate,
        usd(summary.savings_achieved_usd),
        " (dry run)" if dry_run else "",
    )
    create_markdown_artifact(
        key="remediation-report", markdown=markdown, description="Remediation outcome"
    )
    return summary
