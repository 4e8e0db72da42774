"""Carry out approved actions safely: record, cap, re-check, act once, audit, update the store.

(Over 400 lines: the approval, execution, recovery and mark steps share the ledger, the store
and the audit log of one run; ``carry_out`` is the one place every action's state is checked.)

The order for each approved (finding, action):

1. the approval is in the ledger before anything happens (``record_approval``);
2. per-run caps (resources and monthly dollars) are applied in approval order;
3. live runs claim the ledger entry and move the finding to ``remediating``;
4. the adapter re-checks the resource and acts (or dry-runs);
5. the outcome goes to the audit log, the ledger and the findings store.

A finding included in the approval but not carried out (``skip`` chosen, or its default; two
actions picked) is in the run's results as skipped with why (``every_included``), so the result
accounts for every finding the approver included.

A resource owned by code (``evidence["iac"]`` or CloudFormation's tags) is never changed through
the API, whatever was approved: any action but ``open_pull_request``, ``tag_for_later`` and
``skip`` is refused with the owner in the audit log; the run's ``open_pull_request`` entries go
together to the code path (one pull request per approval run, :mod:`tasks.iac.pull_request`).

A run that dies between 3 and 5 leaves the entry ``in_progress``; the next run picks it up
(``recover``) and the adapter, being idempotent and fed the saved checkpoints, finishes it
without doing anything twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tasks.aws.common import error_code, error_message
from tasks.findings.model import Finding, FindingStatus
from tasks.findings.store import ACTIONABLE, FindingsStore, TransitionError
from tasks.iac.ownership import (
    CODE_SAFE_ACTIONS,
    OPEN_PULL_REQUEST,
    Ownership,
    ownership_from_evidence,
)
from tasks.remediation.actions import (
    ACTIONS,
    ActionContext,
    ActionOutcome,
    ActionSpec,
    AlreadyDone,
    Finished,
    Skip,
    remove_mark,
)
from tasks.remediation.approval import ARROW, ApprovalDecision, Candidate, clean_approver
from tasks.remediation.audit import AuditLog, AuditRecord
from tasks.remediation.ledger import LedgerEntry, RemediationLedger
from tasks.remediation.menu import FOLLOW_UP, SKIP
from tasks.remediation.report import ActionResult
from tasks.settings import Settings

S = FindingStatus
ClientFactory = Callable[[str, str, str], Any]  # (service, account_id, region) -> boto3 client
#: (approval id, approver, [(finding, owner)], dry_run) -> {fingerprint: outcome with
#: ``result`` and ``reason``}: the code path (``tasks.iac.pull_request.CodePath.propose``)
CodePathFn = Callable[[str, str, list[tuple[Finding, Ownership]], bool], dict[str, Any]]


@dataclass
class Caps:
    """Per-run limits; what exceeds them is skipped with the reason."""

    max_resources: int
    max_monthly_usd: Decimal
    resources: int = 0
    monthly_usd: Decimal = Decimal(0)

    def admit(self, finding: Finding) -> str | None:
        savings = finding.monthly_savings_usd or Decimal(0)
        if self.resources + 1 > self.max_resources:
            return f"per-run cap reached: {self.max_resources} resources"
        if self.monthly_usd + savings > self.max_monthly_usd:
            return f"per-run cap reached: ${self.max_monthly_usd} monthly (USD)"
        self.resources += 1
        self.monthly_usd += savings
        return None


class Remediator:
    """Runs approved actions for one flow run.

    Args:
        settings: the project settings (remediation and idle sections are read).
        store: the findings store.
        ledger: the remediation ledger (same database).
        audit: the audit log.
        clients: builds a boto3 client for (service, account, region), normally
            ``AwsAccess(role_name=remediation_role_name).client``.
        run_id: the flow run id, written on every audit record.
        dry_run: send writes as dry runs and change nothing in the stores.

    Example:
        >>> engine = Remediator(settings, store, ledger, log, clients, "r1", True)  # doctest: +SKIP
        >>> results = engine.execute(engine.record_approval(decision))  # doctest: +SKIP
    """

    def __init__(
        self,
        settings: Settings,
        store: FindingsStore,
        ledger: RemediationLedger,
        audit: AuditLog,
        clients: ClientFactory,
        run_id: str,
        dry_run: bool,
        now: Callable[[], datetime] | None = None,
        code_path: CodePathFn | None = None,
    ) -> None:
        self.settings = settings
        self.code_path = code_path
        self.store = store
        self.ledger = ledger
        self.audit = audit
        self.clients = clients
        self.run_id = run_id
        self.dry_run = dry_run
        self.now = now or (lambda: datetime.now(UTC))
        key, _, value = settings.idle.protected_tag.partition("=")
        self.protected_tag = (key, value)
        self.caps = Caps(
            settings.remediation.max_resources, Decimal(str(settings.remediation.max_monthly_usd))
        )

    # -- approval ------------------------------------------------------------------------------
    def record_approval(self, decision: ApprovalDecision) -> list[LedgerEntry]:
        """Audit the decision; when approved (live), put each chosen action in the ledger.

        In dry-run nothing is written to the ledger or the store: the returned entries are
        transient (id 0), so a dry run can never be "finished" by a later live run.

        Raises:
            ValueError: an approved or rejected decision whose approver is not a plain name
                (:func:`~tasks.remediation.approval.clean_approver`); nothing is recorded.
        """
        if decision.decision != "expired":
            # the form and the CLI refuse such a name; this is the last gate before the log
            clean_approver(decision.approver)
        at = self.now()
        self.audit.append(
            AuditRecord(
                kind="approval",
                run_id=self.run_id,
                at=at,
                approver=decision.approver,
                comment=decision.comment,
                decision=decision.decision,
                dry_run=self.dry_run,
                result=decision.decision,
                reason="; ".join(decision.notes),
                after={"selections": decision.selections},
            )
        )
        if decision.decision != "approved":
            return []
        entries: list[LedgerEntry] = []
        for fingerprint, action in decision.selections.items():
            if self.dry_run:
                entries.append(
                    LedgerEntry(
                        0,
                        self.run_id,
                        fingerprint,
                        action,
                        "approved",
                        decision.approver,
                        decision.comment,
                    )
                )
                continue
            entry = self.ledger.approve(
                self.run_id, fingerprint, action, decision.approver, decision.comment, now=at
            )
            # already approved/remediating by an earlier attempt of this approval: fine
            with contextlib.suppress(TransitionError):
                self.store.transition(
                    fingerprint,
                    S.APPROVED,
                    actor=decision.approver,
                    reason=f"{action}: {decision.comment}".strip(": "),
                    now=at,
                )
            entries.append(entry)
        return entries

    # -- execution -----------------------------------------------------------------------------
    def execute(self, entries: list[LedgerEntry]) -> list[ActionResult]:
        """Run ledger entries in order; each one's outcome is audited before the next starts.

        The ``open_pull_request`` entries go last, together: one pull request for the run.
        """
        results = [self._run(e) for e in entries if e.action != OPEN_PULL_REQUEST]
        return results + self._pull_request([e for e in entries if e.action == OPEN_PULL_REQUEST])

    def _pull_request(self, entries: list[LedgerEntry]) -> list[ActionResult]:
        """Hand the code-owned findings to the code path; audit and close each entry."""
        results: list[ActionResult] = []
        items: list[tuple[LedgerEntry, Finding, Ownership]] = []
        for entry in entries:
            try:
                stored = self.store.get(entry.fingerprint)
            except KeyError:
                results.append(self._run(entry))  # the store's answer: skipped, with why
                continue
            finding = stored.finding
            owner = ownership_from_evidence(finding.evidence, finding.tags)
            allowed = {S.APPROVED, S.REMEDIATING} | (set(ACTIONABLE) if self.dry_run else set())
            why = ""
            if stored.status not in allowed:
                why = f"finding is {stored.status.value} now; left as it is"
            elif owner is None or owner.kind != "terraform":
                why = "open_pull_request needs a resource Terraform owns"
            if why:
                ctx = self._context(finding, entry)
                outcome = ActionOutcome("skipped", reason=why)
                results.append(self._close(entry, finding, outcome, ctx, self.now()))
                continue
            assert owner is not None
            items.append((entry, finding, owner))
        if not items:
            return results
        started = self.now()
        if not self.dry_run:
            for entry, _, _ in items:
                self.ledger.start(entry.id, now=started)
        if self.code_path is None:
            answers: dict[str, Any] = {}
        else:
            approval_id, approver = items[0][0].approval_id, items[0][0].approver
            pairs = [(finding, owner) for _, finding, owner in items]
            try:
                answers = self.code_path(approval_id, approver, pairs, self.dry_run)
            except Exception as error:  # reported on every finding of it, never hidden
                failed = ActionOutcome("failed", reason=f"{type(error).__name__}: {error}")
                answers = {finding.fingerprint: failed for _, finding, _ in items}
        for entry, finding, _ in items:
            answer = answers.get(finding.fingerprint)
            result = answer.result if answer else "skipped"
            reason = answer.reason if answer else "no code path is configured"
            outcome = ActionOutcome(result, reason=reason)
            ctx = self._context(finding, entry)
            # an opened pull request changes nothing yet: the finding stays approved until a
            # scan no longer sees the resource (merged and applied), which resolves it
            results.append(self._close(entry, finding, outcome, ctx, started, result != "proposed"))
        return results

    def every_included(
        self,
        values: dict[str, Any],
        candidates: Sequence[Candidate],
        decision: ApprovalDecision,
        results: list[ActionResult],
    ) -> list[ActionResult]:
        """One result per finding the approver included, in the form's order.

        Those carried out keep their result; one left out of the approval's selections (skip
        chosen or its default, two actions picked, an explicit-only default) is skipped with why.
        Nothing is done to them, so nothing is audited beyond the approval record's notes.
        """
        if decision.decision != "approved":
            return results
        by_label = {c.label: c for c in candidates}
        picks: dict[str, set[str]] = {}
        for choice in values.get("actions") or []:
            label, _, action = str(choice).rpartition(ARROW)
            if label in by_label and action in by_label[label].menu:
                picks.setdefault(by_label[label].fingerprint, set()).add(action)
        done = {r.fingerprint: r for r in results}
        ordered: list[ActionResult] = []
        for label in dict.fromkeys(values.get("findings") or []):
            candidate = by_label.get(str(label))
            if candidate is None:
                continue
            if candidate.fingerprint in done:
                ordered.append(done.pop(candidate.fingerprint))
            elif candidate.fingerprint not in decision.selections:
                chosen = picks.get(candidate.fingerprint, set())
                ordered.append(self._left_out(candidate, chosen, decision.notes))
        return ordered + list(done.values())

    def _left_out(
        self, candidate: Candidate, picked: set[str], notes: Sequence[str]
    ) -> ActionResult:
        action = next(iter(picked)) if len(picked) == 1 else candidate.default
        key, value = self.protected_tag
        # the form's own word when it has one, else the stored finding's tag
        protected = str(getattr(candidate, "protected", "") or "")
        with contextlib.suppress(KeyError):
            tags = self.store.get(candidate.fingerprint).finding.tags
            if not protected and tags.get(key) == value:
                protected = f"protected tag {key}={value} present"
        note = next((n for n in notes if n.startswith(f"{candidate.label}:")), "")
        if len(picked) > 1:
            why = f"several actions picked ({', '.join(sorted(picked))}); left as it is"
        elif protected:
            why = f"{protected}: left as it is"
        elif action == SKIP and picked:
            why = "skip was chosen: left as it is"
        elif action == SKIP:
            why = "skip was chosen (its default: nothing on its menu runs unless picked by name)"
        elif action in ACTIONS and ACTIONS[action].explicit_only and not picked:
            why = f"{action} runs only when picked by name: left as it is"
        else:
            why = note.removeprefix(f"{candidate.label}:").strip() or "left out of the approval"
        return ActionResult(
            candidate.fingerprint,
            candidate.resource_id,
            candidate.check,
            action,
            "skipped",
            why,
            account_id=candidate.account_id,
            region=candidate.region,
            monthly_savings_usd=candidate.monthly_savings_usd,
        )

    def recover(self, still_running: frozenset[str] = frozenset()) -> list[ActionResult]:
        """Finish what earlier runs approved but did not complete, then act on due marks.

        Args:
            still_running: approvals (flow run ids) whose run is still alive; their entries
                are theirs to finish, so this run leaves them alone.
        """
        results = [
            self._run(entry)
            for entry in self.ledger.unfinished()
            if entry.approval_id not in still_running
        ]
        results += self.process_marks()
        return results

    def process_marks(self) -> list[ActionResult]:
        """Unmark resources used again; run the follow-up action of marks that are due."""
        results: list[ActionResult] = []
        now = self.now()
        for mark in self.ledger.marked():
            try:
                stored = self.store.get(mark.fingerprint)
            except KeyError:
                self.ledger.finish(mark.id, "unmarked", {"reason": "finding deleted"})
                continue
            finding = stored.finding
            if stored.status in {S.RESOLVED, S.OPEN, S.DISMISSED}:
                results.append(self._unmark(mark, finding, stored.status))
                continue
            if mark.due_at is None or mark.due_at > now or stored.status is not S.APPROVED:
                continue
            follow_up = FOLLOW_UP.get(finding.check)
            if not follow_up:
                results.append(self._review_due(mark, finding))
                continue
            entry = self.ledger.approve(
                mark.approval_id,
                mark.fingerprint,
                follow_up,
                mark.approver,
                f"due mark of {mark.due_at.date().isoformat()}: {mark.comment}".strip(": "),
            )
            self.ledger.finish(mark.id, "done", {**mark.result, "follow_up_entry": entry.id})
            results.append(self._run(entry))
        return results

    def _review_due(self, mark: LedgerEntry, finding: Finding) -> ActionResult:
        """A ``review`` mark fell due: take the tag off and offer the finding for a new decision.

        Checks without an automatic follow-up (load balancers, NAT gateways) only warn the
        owner; at the due date the decision goes back to a person (the finding is open again
        and the next approval run offers it), and the tag does not linger on the resource.
        """
        due = mark.due_at.date().isoformat() if mark.due_at else "?"
        result = self._unmark(mark, finding, None, f"review mark of {due} due")
        if not self.dry_run and result.result != "failed":
            self._move(
                finding.fingerprint,
                S.OPEN,
                mark.approver,
                f"review mark of {due} due: offered for a new decision",
            )
        return result

    def _unmark(
        self,
        mark: LedgerEntry,
        finding: Finding,
        status: FindingStatus | None,
        why: str = "",
    ) -> ActionResult:
        ctx = self._context(finding, mark)
        started = self.now()
        why = why or f"finding {status.value if status else '?'}: resource used again"
        try:
            outcome = remove_mark(ctx)
            result, reason = outcome.result, why
        except AlreadyDone as done:
            outcome, result, reason = ActionOutcome("already_done"), "already_done", str(done)
        except (ClientError, BotoCoreError) as error:
            outcome, result, reason = ActionOutcome("failed"), "failed", _describe(error)
        if not self.dry_run and result != "failed":
            final = "unmarked" if status is not None else "done"
            self.ledger.finish(mark.id, final, {"result": result, "reason": reason})
        self._audit_action(finding, mark, "remove_mark", result, reason, outcome, ctx, started)
        # taking a mark off saves nothing: no savings on this result
        return ActionResult(
            finding.fingerprint,
            finding.resource_id,
            finding.check,
            "remove_mark",
            result,
            reason,
            account_id=finding.account_id,
            region=finding.region,
        )

    def _context(self, finding: Finding, entry: LedgerEntry) -> ActionContext:
        def client(service: str) -> Any:
            return self.clients(service, finding.account_id, finding.region)

        def save(name: str, value: Any) -> None:
            if entry.id:
                self.ledger.checkpoint(entry.id, name, value)

        return ActionContext(
            finding=finding,
            client=client,
            dry_run=self.dry_run,
            protected_tag=self.protected_tag,
            checkpoints=dict(entry.checkpoints),
            save_checkpoint=save,
            mark_days=self.settings.remediation.mark_days,
            busy_cpu_pct=self.settings.remediation.busy_cpu_pct,
            follow_up=FOLLOW_UP.get(finding.check),
            now=self.now(),
        )

    def _run(self, entry: LedgerEntry) -> ActionResult:
        started = self.now()
        try:
            stored = self.store.get(entry.fingerprint)
            finding = stored.finding
        except KeyError:
            if entry.id:
                self.ledger.finish(
                    entry.id, "skipped", {"reason": "finding no longer in the store"}
                )
            return ActionResult(
                entry.fingerprint,
                "?",
                "?",
                entry.action,
                "skipped",
                "finding no longer in the store",
            )
        if entry.action == OPEN_PULL_REQUEST:
            return self._pull_request([entry])[0]  # a dead run's entry: same branch, same PR
        spec = ACTIONS.get(entry.action)
        reason_refused = None
        # Someone dismissed or snoozed it, or a scan resolved it, while the approval waited.
        allowed = {S.APPROVED, S.REMEDIATING} | (set(ACTIONABLE) if self.dry_run else set())
        if stored.status not in allowed:
            outcome = ActionOutcome(
                "skipped", reason=f"finding is {stored.status.value} now; left as it is"
            )
            return self._close(
                entry, finding, outcome, self._context(finding, entry), started, False
            )
        code = ownership_from_evidence(finding.evidence, finding.tags)
        if code is not None and entry.action not in CODE_SAFE_ACTIONS:
            reason_refused = (
                f"owned by {code.describe()}: never changed through the API "
                f"({entry.action} refused; approve open_pull_request or tag_for_later)"
            )
        elif spec is None:
            reason_refused = f"unknown action {entry.action!r}"
        elif not spec.applies_to(finding):
            reason_refused = f"{entry.action} does not apply to {finding.resource_id}"
        elif entry.status == "approved" or entry.id == 0:
            reason_refused = self.caps.admit(finding)
        if spec is not None and spec.explicit_only and not entry.approver:
            reason_refused = f"{entry.action} needs an explicit approval by name"
        ctx = self._context(finding, entry)
        if reason_refused:
            outcome = ActionOutcome("skipped", reason=reason_refused)
            return self._close(entry, finding, outcome, ctx, started)
        assert spec is not None
        if not self.dry_run:
            self.ledger.start(entry.id, now=started)
            if spec.name != "tag_for_later":
                self._move(
                    finding.fingerprint, S.REMEDIATING, entry.approver, f"{entry.action} started"
                )
        try:
            outcome = carry_out(spec, ctx)
        except Skip as skip:
            outcome = ActionOutcome("skipped", reason=str(skip))
        except AlreadyDone as done:
            outcome = ActionOutcome("already_done", reason=str(done))
        except (ClientError, BotoCoreError) as error:
            outcome = ActionOutcome("failed", reason=_describe(error))
        except Exception as error:  # one bad resource never stops the others; reported, not hidden
            outcome = ActionOutcome("failed", reason=f"{type(error).__name__}: {error}")
        return self._close(entry, finding, outcome, ctx, started)

    def _close(
        self,
        entry: LedgerEntry,
        finding: Finding,
        outcome: ActionOutcome,
        ctx: ActionContext,
        started: datetime,
        move: bool = True,
    ) -> ActionResult:
        result = outcome.result
        # A mark (with a follow-up action or a review) waits in the ledger for its due date, or
        # for the finding to resolve (then the mark is removed).  "Already done" without a due
        # date means the resource is gone: nothing is left to mark.
        marking = entry.action == "tag_for_later" and (
            result == "succeeded" or (result == "already_done" and outcome.due_at is not None)
        )
        if marking:
            result = "marked"
        backups = {**{k: str(v) for k, v in ctx.checkpoints.items()}, **outcome.backup_ids}
        self._audit_action(
            finding, entry, entry.action, result, outcome.reason, outcome, ctx, started, backups
        )
        if not self.dry_run and entry.id:
            ledger_status = {
                "succeeded": "done",
                "already_done": "done",
                "marked": "marked",
                "proposed": "done",
                "skipped": "skipped",
                "failed": "failed",
            }[result]
            self.ledger.finish(
                entry.id,
                ledger_status,
                {"result": result, "reason": outcome.reason, "backup_ids": backups},
                due_at=outcome.due_at,
            )
            actor, why = entry.approver, f"{entry.action}: {outcome.reason or result}"
            if not move:
                pass
            elif result in {"succeeded", "already_done"} and not marking:
                self._move(finding.fingerprint, S.REMEDIATED, actor, why)
            elif result == "failed":
                self._move(finding.fingerprint, S.FAILED, actor, why)
            elif result == "skipped":
                self._move(finding.fingerprint, S.OPEN, actor, f"skipped: {outcome.reason}")
        return ActionResult(
            finding.fingerprint,
            finding.resource_id,
            finding.check,
            entry.action,
            result,
            outcome.reason,
            backups,
            finding.account_id,
            finding.region,
            finding.monthly_savings_usd,
        )

    def _audit_action(
        self,
        finding: Finding,
        entry: LedgerEntry,
        action: str,
        result: str,
        reason: str,
        outcome: ActionOutcome,
        ctx: ActionContext,
        started: datetime,
        backups: dict[str, str] | None = None,
    ) -> None:
        self.audit.append(
            AuditRecord(
                kind="action",
                run_id=self.run_id,
                approver=entry.approver,
                comment=entry.comment,
                decision=f"approval {entry.approval_id}",
                fingerprint=finding.fingerprint,
                check=finding.check,
                account_id=finding.account_id,
                region=finding.region,
                resource_id=finding.resource_id,
                action=action,
                dry_run=self.dry_run,
                result=result,
                reason=reason,
                before=outcome.before,
                after=outcome.after,
                request_ids=[r for r in ctx.request_ids if r],
                backup_ids=backups or {},
                started_at=started,
                finished_at=self.now(),
                permissions_proven=ctx.proven,
            )
        )

    def _move(self, fingerprint: str, target: FindingStatus, actor: str, reason: str) -> None:
        # e.g. a scan resolved the finding meanwhile: the audit log still has the action.
        with contextlib.suppress(TransitionError):
            self.store.transition(fingerprint, target, actor=actor or "remediate", reason=reason)


def carry_out(spec: ActionSpec, ctx: ActionContext) -> ActionOutcome:
    """Read the resource, check once what every action needs, then run the action.

    The checks, in order: the resource still exists (else its ``read`` raises AlreadyDone), it
    does not carry the protected tag, it is not already in one of the action's end states
    (AlreadyDone: counts as done), and it is in one of the action's valid starting states
    (else Skip, with the state and what the action needs).

    Raises:
        Skip: the resource is protected or not in a valid starting state.
        AlreadyDone: the resource is gone or already in the action's end state.

    Example:
        >>> carry_out(ACTIONS["stop"], ActionContext(finding, client))  # doctest: +SKIP
    """
    try:
        before = spec.read(ctx)
    except Finished as finished:
        return finished.outcome
    key, value = ctx.protected_tag
    if before.get("tags", {}).get(key) == value:
        when = (
            "already at detection"
            if ctx.finding.tags.get(key) == value
            else "added since detection"
        )
        raise Skip(f"protected tag {key}={value} present ({when})")
    state = before.get("state")
    if state in spec.done_states:
        raise AlreadyDone(f"{spec.noun} already {state}")
    if spec.valid_states and state not in spec.valid_states:
        why = spec.explain(before) if spec.explain else f"{spec.noun} is {state}"
        needs = " or ".join(sorted(spec.valid_states))
        raise Skip(f"{why}; {spec.name} needs {needs}")
    return spec.apply(ctx, before)


def _describe(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return f"{error_code(error)}: {error_message(error)}"
    return f"{type(error).__name__}: {error}"
