"""The remediation ledger: one row per approved (finding, action), so no action runs twice.

Each approved action is written here *before* anything is done, keyed on the approval (the flow
run that asked), the fingerprint and the action.  Its state moves ``approved -> in_progress ->
done | skipped | failed`` (``marked`` for a tag-for-later that waits for its due date, then
``done`` or ``unmarked``).  Intermediate results that make a retry safe (the id of a backup
snapshot or image) are saved as checkpoints as soon as AWS returns them, so a run that crashed
after the snapshot but before the delete reuses that snapshot instead of taking a second one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tasks.findings.db import engine_for
from tasks.findings.schema import RemediationActionRow

#: Ledger states that still need work from a later run.
UNFINISHED: frozenset[str] = frozenset({"approved", "in_progress"})
FINAL: frozenset[str] = frozenset({"done", "skipped", "failed", "unmarked"})


@dataclass
class LedgerEntry:
    """One approved action and how far it got."""

    id: int
    approval_id: str
    fingerprint: str
    action: str
    status: str
    approver: str
    comment: str
    checkpoints: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    due_at: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.approval_id}:{self.fingerprint}:{self.action}"


def _entry(row: RemediationActionRow) -> LedgerEntry:
    return LedgerEntry(
        id=row.id,
        approval_id=row.approval_id,
        fingerprint=row.fingerprint,
        action=row.action,
        status=row.status,
        approver=row.approver,
        comment=row.comment,
        checkpoints=dict(row.checkpoints or {}),
        result=dict(row.result or {}),
        attempts=row.attempts,
        due_at=row.due_at,
    )


class RemediationLedger:
    """Approved actions and their progress, in the findings database.

    Example:
        >>> import tempfile
        >>> ledger = RemediationLedger(f"sqlite:///{tempfile.mkdtemp()}/findings.db")
        >>> entry = ledger.approve("run-1", "5f6c", "delete", approver="ana")
        >>> ledger.approve("run-1", "5f6c", "delete", approver="ana").id == entry.id
        True
    """

    def __init__(self, url: str) -> None:
        self.engine = engine_for(url)

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def approve(
        self,
        approval_id: str,
        fingerprint: str,
        action: str,
        approver: str,
        comment: str = "",
        now: datetime | None = None,
    ) -> LedgerEntry:
        """Record an approved action once; recording it again returns the existing entry."""
        now = now or datetime.now(UTC)
        with self._session() as session, session.begin():
            row = session.scalars(
                select(RemediationActionRow).where(
                    RemediationActionRow.approval_id == approval_id,
                    RemediationActionRow.fingerprint == fingerprint,
                    RemediationActionRow.action == action,
                )
            ).one_or_none()
            if row is None:
                row = RemediationActionRow(
                    approval_id=approval_id,
                    fingerprint=fingerprint,
                    action=action,
                    status="approved",
                    approver=approver,
                    comment=comment,
                    checkpoints={},
                    result={},
                    attempts=0,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                session.flush()
            return _entry(row)

    def get(self, entry_id: int) -> LedgerEntry:
        with self._session() as session:
            row = session.get(RemediationActionRow, entry_id)
            if row is None:
                raise KeyError(f"no remediation ledger entry {entry_id}")
            return _entry(row)

    def start(self, entry_id: int, now: datetime | None = None) -> LedgerEntry:
        """Claim an entry for work (counts the attempt)."""
        return self._update(entry_id, now, status="in_progress", attempts_delta=1)

    def checkpoint(self, entry_id: int, name: str, value: Any, now: datetime | None = None) -> None:
        """Save an intermediate result (e.g. ``snapshot_id``) the moment AWS returns it."""
        with self._session() as session, session.begin():
            row = session.get(RemediationActionRow, entry_id)
            if row is None:
                raise KeyError(f"no remediation ledger entry {entry_id}")
            row.checkpoints = {**(row.checkpoints or {}), name: value}
            row.updated_at = now or datetime.now(UTC)

    def finish(
        self,
        entry_id: int,
        status: str,
        result: dict[str, Any],
        due_at: datetime | None = None,
        now: datetime | None = None,
    ) -> LedgerEntry:
        """Close an entry (``done``/``skipped``/``failed``) or park it as ``marked``."""
        return self._update(entry_id, now, status=status, result=result, due_at=due_at)

    def unfinished(self) -> list[LedgerEntry]:
        """Entries an earlier run approved but did not finish (it crashed or was killed)."""
        return self._where(RemediationActionRow.status.in_(sorted(UNFINISHED)))

    def marked(self) -> list[LedgerEntry]:
        """Tag-for-later entries waiting for their due date."""
        return self._where(RemediationActionRow.status == "marked")

    def for_approval(self, approval_id: str) -> list[LedgerEntry]:
        return self._where(RemediationActionRow.approval_id == approval_id)

    def all(self) -> list[LedgerEntry]:
        return self._where(None)

    def _where(self, condition: Any) -> list[LedgerEntry]:
        query = select(RemediationActionRow).order_by(RemediationActionRow.id)
        if condition is not None:
            query = query.where(condition)
        with self._session() as session:
            return [_entry(r) for r in session.scalars(query).all()]

    def _update(
        self,
        entry_id: int,
        now: datetime | None,
        status: str,
        result: dict[str, Any] | None = None,
        due_at: datetime | None = None,
        attempts_delta: int = 0,
    ) -> LedgerEntry:
        with self._session() as session, session.begin():
            row = session.get(RemediationActionRow, entry_id)
            if row is None:
                raise KeyError(f"no remediation ledger entry {entry_id}")
            row.status = status
            row.attempts = row.attempts + attempts_delta
            if result is not None:
                row.result = result
            if due_at is not None:
                row.due_at = due_at
            row.updated_at = now or datetime.now(UTC)
            return _entry(row)
