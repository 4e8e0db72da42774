"""Thin Prefect tasks of remediation (no retries: the ledger guards against acting twice)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from finops.settings import Settings, load_settings
from tasks.aws.session import AwsAccess
from tasks.findings.store import ACTIONABLE, FindingsStore
from tasks.remediation.approval import Candidate, candidate_from, decide
from tasks.remediation.audit import AuditLog
from tasks.remediation.engine import Remediator
from tasks.remediation.ledger import RemediationLedger
from tasks.remediation.menu import is_actionable
from tasks.remediation.report import ActionResult, report_markdown, summarise


def remediator(settings: Settings, run_id: str, dry_run: bool) -> Remediator:
    """The engine wired to the configured stores and the remediation role."""
    access = AwsAccess(settings.aws, role_name=settings.aws.remediation_role_name)
    return Remediator(
        settings,
        FindingsStore(settings.findings_url),
        RemediationLedger(settings.findings_url),
        AuditLog(settings.audit_log_url),
        access.client,
        run_id,
        dry_run,
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
        if is_actionable(s.finding.check, s.finding.recommended_actions)
    ]


@task(name="load-remediation-candidates")
def load_candidates(fingerprints: list[str] | None) -> list[Candidate]:
    settings = load_settings()
    return select_candidates(FindingsStore(settings.findings_url), fingerprints)


@task(name="publish-approval-preview")
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


@task(name="finish-unfinished-remediation")
def recover_unfinished(run_id: str, dry_run: bool) -> list[ActionResult]:
    """Complete actions an earlier (dead) run approved but did not finish; act on due marks."""
    if dry_run:
        return []
    engine = remediator(load_settings(), run_id, dry_run)
    approvals = {entry.approval_id for entry in engine.ledger.unfinished()}
    return engine.recover(runs_still_alive(approvals, run_id))


@task(name="apply-approval")
def apply_approval(
    values: dict[str, Any] | None, candidates: list[Candidate], run_id: str, dry_run: bool
) -> tuple[str, str, list[ActionResult]]:
    """Record the decision (or its expiry) and carry out what was approved."""
    engine = remediator(load_settings(), run_id, dry_run)
    if values is None:
        from tasks.remediation.approval import ApprovalDecision

        decision = ApprovalDecision("expired", notes=["no decision before the timeout"])
    else:
        decision = decide(values, candidates)
    entries = engine.record_approval(decision)
    return decision.decision, decision.approver, engine.execute(entries)


@task(name="publish-remediation-report")
def publish_report(
    results: list[ActionResult], status: str, approver: str, dry_run: bool
) -> dict[str, Any]:
    markdown = report_markdown(results, status, approver, dry_run)
    summary = summarise(results)
    rate = "n/a" if summary.success_rate is None else f"{summary.success_rate:.1%}"
    get_run_logger().info(
        "remediation %s: attempted %d, succeeded %d, skipped %d, failed %d; success rate %s",
        status,
        summary.attempted,
        summary.succeeded,
        summary.skipped,
        summary.failed,
        rate,
    )
    create_markdown_artifact(
        key="remediation-report", markdown=markdown, description="Remediation outcome"
    )
    return {
        "status": status,
        "approver": approver,
        "dry_run": dry_run,
        **summary.to_dict(),
        "actions": [r.to_dict() for r in results],
    }
