"""The ``remediate-findings`` flow: preview, wait for a named approval, then act safely.

Nothing changes in AWS until a person approves in the Prefect UI (Resume form), with
``finops approve``, or through the link in the Slack report.  Deployments *suspend* while they
wait (results persisted, no worker or Fargate task held; the run is rescheduled on resume);
a local run *pauses* in process.  See ``tasks/remediation/`` for the rules.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run, suspend_flow_run

from tasks.remediation.approval import build_form, preview_markdown
from tasks.remediation.models import RemediationResult
from tasks.remediation.tasks import (
    apply_approval,
    load_candidates,
    publish_preview,
    publish_report,
    recover_unfinished,
)
from tasks.settings import load_settings

APPROVAL_KEY = "approval"
WAIT_MODES = ("auto", "pause", "suspend")


@flow(name="remediate-findings", persist_result=True, log_prints=True)
def remediate_findings(
    fingerprints: list[str] | None = None,
    dry_run: bool | None = None,
    approval_timeout_s: int | None = None,
    wait_mode: str | None = None,
) -> RemediationResult:
    """Offer findings for approval and carry out exactly what a named person approved.

    Args:
        fingerprints: findings to offer (fingerprints or prefixes); default every actionable
            finding in the store.
        dry_run: prove permissions without changing anything; default from settings (True).
        approval_timeout_s: how long to wait; default from settings (3 days).
        wait_mode: ``suspend`` (deployments), ``pause`` (in process) or ``auto``.

    Returns:
        The :class:`~tasks.remediation.models.RemediationResult`: decision, approver, counts,
        success rate, the monthly savings achieved (in total and per account/region) and one
        result per included finding (a finding set to ``skip`` is there as skipped, with why).
    """
    settings = load_settings()
    dry = settings.remediation.dry_run if dry_run is None else dry_run
    timeout = approval_timeout_s or settings.remediation.approval_timeout_s
    context = FlowRunContext.get()
    run = context.flow_run if context else None
    run_id = str(run.id) if run else "local"

    recovered = recover_unfinished(run_id, dry, settings)
    candidates = load_candidates(fingerprints, settings.findings_url)
    if not candidates:
        return publish_report(recovered, "nothing to approve", "", dry)

    preview = preview_markdown(candidates, dry, timeout, run_id, settings.notify.prefect_ui_url)
    publish_preview(preview)
    form = build_form(candidates).with_initial_data(description=preview)
    mode = wait_mode or settings.remediation.wait_mode
    if mode not in WAIT_MODES:
        raise ValueError(f"wait_mode {mode!r} is not allowed; use one of {', '.join(WAIT_MODES)}")
    if mode == "auto":
        mode = "suspend" if run is not None and run.deployment_id else "pause"
    values: dict[str, Any] | None
    if mode == "suspend":
        answer = suspend_flow_run(wait_for_input=form, timeout=timeout, key=APPROVAL_KEY)
        values = answer.model_dump()
    else:
        try:
            answer = pause_flow_run(
                wait_for_input=form,
                timeout=timeout,
                poll_interval=settings.remediation.approval_poll_s,
                key=APPROVAL_KEY,
            )
            values = answer.model_dump()
        except FlowPauseTimeout:
            values = None

    status, approver, results = apply_approval(values, candidates, run_id, dry, settings)
    return publish_report([*recovered, *results], status, approver, dry)
