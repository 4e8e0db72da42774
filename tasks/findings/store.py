"""The findings store: one row per fingerprint with its lifecycle and a history of transitions.

Lifecycle: open -> notified -> approved | dismissed | snoozed (until a date) -> remediating ->
remediated | failed; resolved when a later scan no longer sees it; a snoozed finding is re-raised
(open again) only when its snooze expires.

Over 400 lines because the store is one table's whole lifecycle: the scan's bulk write (Core
statements, one transaction) and the row-at-a-time transitions share the transition table and
the history rows, and splitting them would put one lifecycle in two places.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from tasks.findings.db import engine_for, history_records
from tasks.findings.model import Finding, FindingStatus
from tasks.findings.schema import FindingHistoryRow, FindingRow, ObservationRow

S = FindingStatus

#: Allowed transitions; anything else is refused with a message naming both states.
TRANSITIONS: dict[FindingStatus, set[FindingStatus]] = {
    S.OPEN: {S.NOTIFIED, S.APPROVED, S.DISMISSED, S.SNOOZED, S.RESOLVED},
    S.NOTIFIED: {S.APPROVED, S.DISMISSED, S.SNOOZED, S.RESOLVED, S.OPEN},
    # approved -> open: the re-check before acting found the resource changed (skipped).
    S.APPROVED: {
        S.REMEDIATING,
        S.DISMISSED,
        S.SNOOZED,
        S.RESOLVED,
        S.REMEDIATED,
        S.FAILED,
        S.OPEN,
    },
    S.SNOOZED: {S.OPEN, S.DISMISSED, S.RESOLVED},
    S.DISMISSED: {S.OPEN, S.RESOLVED},
    # remediating -> open: the re-check just before acting found the resource changed.
    S.REMEDIATING: {S.REMEDIATED, S.FAILED, S.OPEN},
    S.REMEDIATED: {S.RESOLVED, S.OPEN},
    S.FAILED: {S.APPROVED, S.OPEN, S.DISMISSED, S.RESOLVED, S.REMEDIATING},
    S.RESOLVED: {S.OPEN},
}

#: States in which a finding still waits for someone (shown in reports, offered for approval).
ACTIONABLE: frozenset[FindingStatus] = frozenset({S.OPEN, S.NOTIFIED, S.FAILED})


class TransitionError(ValueError):
    """A lifecycle change that is not allowed from the finding's current state."""


@dataclass
class ScanOutcome:
    """What a scan changed in the store."""

    new: list[str] = field(default_factory=list)
    still_open: list[str] = field(default_factory=list)
    reraised: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StoredFinding:
    """A finding as the store holds it: the finding, its status and its dates."""

    finding: Finding
    status: FindingStatus
    first_seen: datetime
    last_seen: datetime
    snoozed_until: datetime | None

    @property
    def fingerprint(self) -> str:
        return self.finding.fingerprint


#: Fingerprints per ``IN (...)`` query (well under SQLite's and PostgreSQL's parameter limits).
_IN_CHUNK = 500


def _history_row(
    fingerprint: str,
    current: FindingStatus | None,
    target: FindingStatus,
    actor: str,
    reason: str,
    now: datetime,
) -> dict[str, Any]:
    """One ``finding_history`` row as Core INSERT values (the same columns ``_history`` writes)."""
    return {
        "fingerprint": fingerprint,
        "from_status": current.value if current else None,
        "to_status": target.value,
        "actor": actor,
        "reason": reason,
        "at": now,
    }


def _same_keys(rows: Sequence[dict[str, Any]]) -> builtins.list[builtins.list[dict[str, Any]]]:
    """Rows grouped by their key set: an executemany UPDATE needs the same columns in each row.

    Example:
        >>> [len(g) for g in _same_keys([{"a": 1}, {"a": 2, "b": 3}, {"a": 4}])]
        [2, 1]
    """
    groups: dict[tuple[str, ...], builtins.list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return builtins.list(groups.values())


def _now() -> datetime:
    return datetime.now(UTC)


def _to_stored(row: FindingRow) -> StoredFinding:
    return StoredFinding(
        finding=Finding.model_validate(row.payload),
        status=FindingStatus(row.status),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        snoozed_until=row.snoozed_until,
    )


class FindingsStore:
    """Findings with their lifecycle, in SQLite or PostgreSQL.

    Example:
        >>> import tempfile
        >>> store = FindingsStore(f"sqlite:///{tempfile.mkdtemp()}/findings.db")
        >>> store.list()
        []
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engine_for(url)

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # -- scans ---------------------------------------------------------------------------------
    def record_scan(
        self,
        findings: Iterable[Finding],
        scope: Iterable[tuple[str, str, str]] | None = None,
        now: datetime | None = None,
        actor: str = "scan",
    ) -> ScanOutcome:
        """Store a scan's findings: new ones open, seen ones stay, gone ones resolve.

        Args:
            findings: what the scan found.
            scope: the (check, account, region) triples the scan covered completely; findings
                of that scope that were not seen again are resolved.  Targets that failed must
                be left out of the scope so their findings are not resolved by mistake.
            now: the scan time (UTC).
            actor: who records it, for the history.
        """
        now = now or _now()
        outcome = ScanOutcome()
        # One row per fingerprint, the last sighting winning (as the row-by-row write did).
        by_fp: dict[str, Finding] = {}
        for finding in findings:
            by_fp[finding.fingerprint] = finding
        history: list[dict[str, Any]] = []
        with self.session() as session, session.begin():
            # A scan of thousands of resources is written in bulk (SQLAlchemy Core, one
            # transaction): one SELECT per 500 fingerprints, one multi-row INSERT for the new
            # findings, one executemany UPDATE for the seen ones, and one for the resolved.
            known: dict[str, tuple[str, datetime | None]] = {}
            fps = builtins.list(by_fp)
            for i in range(0, len(fps), _IN_CHUNK):
                rows = session.execute(
                    select(
                        FindingRow.fingerprint, FindingRow.status, FindingRow.snoozed_until
                    ).where(FindingRow.fingerprint.in_(fps[i : i + _IN_CHUNK]))
                ).all()
                known.update({fp: (status, until) for fp, status, until in rows})
            inserts: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            for fp, finding in by_fp.items():
                values = {
                    "fingerprint": fp,
                    "payload": finding.model_dump(mode="json"),
                    "monthly_savings_usd": finding.monthly_savings_usd,
                    "last_seen": now,
                }
                if fp not in known:
                    inserts.append(
                        values
                        | {
                            "check": finding.check,
                            "account_id": finding.account_id,
                            "region": finding.region,
                            "resource_id": finding.resource_id,
                            "status": S.OPEN.value,
                            "first_seen": now,
                            "updated_at": now,
                            "snoozed_until": None,
                        }
                    )
                    history.append(_history_row(fp, None, S.OPEN, actor, "first seen", now))
                    outcome.new.append(fp)
                    continue
                status, snoozed_until = FindingStatus(known[fp][0]), known[fp][1]
                if status in {S.RESOLVED, S.REMEDIATED}:
                    reason = "seen again"
                elif status is S.SNOOZED and snoozed_until is not None and snoozed_until <= now:
                    reason = "snooze expired"
                else:
                    updates.append(values)
                    outcome.still_open.append(fp)
                    continue
                updates.append(
                    values | {"status": S.OPEN.value, "updated_at": now, "snoozed_until": None}
                )
                history.append(_history_row(fp, status, S.OPEN, actor, reason, now))
                outcome.reraised.append(fp)
            if inserts:
                session.execute(insert(FindingRow), inserts)
            for group in _same_keys(updates):
                session.execute(update(FindingRow), group)
            if scope is not None:
                triples = set(scope)
                open_states = [
                    s.value
                    for s in (S.OPEN, S.NOTIFIED, S.SNOOZED, S.DISMISSED, S.FAILED, S.APPROVED)
                ]
                candidates = session.execute(
                    select(
                        FindingRow.fingerprint,
                        FindingRow.check,
                        FindingRow.account_id,
                        FindingRow.region,
                        FindingRow.status,
                    ).where(FindingRow.status.in_(open_states))
                ).all()
                resolved: list[dict[str, Any]] = []
                for fp, check, account_id, region, was in candidates:
                    if fp in by_fp or (check, account_id, region) not in triples:
                        continue
                    resolved.append(
                        {
                            "fingerprint": fp,
                            "status": S.RESOLVED.value,
                            "updated_at": now,
                            "snoozed_until": None,
                        }
                    )
                    history.append(
                        _history_row(
                            fp, FindingStatus(was), S.RESOLVED, actor, "no longer seen", now
                        )
                    )
                    outcome.resolved.append(fp)
                if resolved:
                    session.execute(update(FindingRow), resolved)
            if history:
                session.execute(insert(FindingHistoryRow), history)
        return outcome

    # -- lifecycle -----------------------------------------------------------------------------
    def transition(
        self,
        fingerprint: str,
        to: FindingStatus | str,
        actor: str,
        reason: str = "",
        snoozed_until: datetime | None = None,
        now: datetime | None = None,
    ) -> StoredFinding:
        """Move a finding to another state and record who, when and why.

        Raises:
            KeyError: no finding has that fingerprint.
            TransitionError: the move is not allowed from the current state.
        """
        target = FindingStatus(to)
        now = now or _now()
        with self.session() as session, session.begin():
            row = self._get(session, fingerprint)
            if target is S.SNOOZED:
                if snoozed_until is None or snoozed_until <= now:
                    raise TransitionError("snooze needs a date in the future (--until YYYY-MM-DD)")
                row.snoozed_until = snoozed_until
            self._move(session, row, target, actor, reason, now)
            return _to_stored(row)

    def get(self, fingerprint: str) -> StoredFinding:
        """One stored finding by its full fingerprint.

        Raises:
            KeyError: no finding has that fingerprint.
        """
        with self.session() as session:
            return _to_stored(self._get(session, fingerprint))

    def resolve(self, prefix: str) -> str:
        """The full fingerprint that starts with ``prefix`` (what people type from a report).

        Raises:
            KeyError: no finding, or more than one, starts with the prefix.

        Example:
            >>> FindingsStore("sqlite://").resolve("5f6c")  # doctest: +SKIP
            '5f6c...'
        """
        prefix = prefix.strip().lower()
        if len(prefix) < 4:
            raise KeyError(f"fingerprint {prefix!r} is too short; give at least 4 characters")
        with self.session() as session:
            matches = session.scalars(
                select(FindingRow.fingerprint).where(FindingRow.fingerprint.startswith(prefix))
            ).all()
        if not matches:
            raise KeyError(f"no finding with fingerprint {prefix!r}; see `finops findings`")
        if len(matches) > 1:
            raise KeyError(
                f"fingerprint {prefix!r} is ambiguous ({len(matches)} findings); type more of it"
            )
        return str(matches[0])

    def list(
        self,
        statuses: Sequence[FindingStatus | str] | None = None,
        checks: Sequence[str] | None = None,
        fingerprints: Sequence[str] | None = None,
    ) -> list[StoredFinding]:
        """Stored findings, largest monthly savings first.

        Args:
            statuses: only these states (default all).
            checks: only these checks (default all).
            fingerprints: only these fingerprints (default all).
        """
        query = select(FindingRow)
        if fingerprints is not None:
            query = query.where(FindingRow.fingerprint.in_(list(fingerprints)))
        if statuses:
            query = query.where(FindingRow.status.in_([FindingStatus(s).value for s in statuses]))
        if checks:
            query = query.where(FindingRow.check.in_(list(checks)))
        with self.session() as session:
            rows = session.scalars(query).all()
            stored = [_to_stored(r) for r in rows]
        return sorted(
            stored,
            key=lambda s: (-(s.finding.monthly_savings_usd or Decimal(0)), s.fingerprint),
        )

    def history(self, fingerprint: str) -> builtins.list[dict[str, Any]]:
        """Every transition of a finding, oldest first."""
        with self.session() as session:
            rows = session.scalars(
                select(FindingHistoryRow)
                .where(FindingHistoryRow.fingerprint == fingerprint)
                .order_by(FindingHistoryRow.id)
            ).all()
            return history_records(rows)

    # -- observations --------------------------------------------------------------------------
    def observe(
        self,
        keys: Iterable[str],
        now: datetime | None = None,
        since: Mapping[str, datetime] | None = None,
    ) -> dict[str, datetime]:
        """Record that conditions hold now; return when each was first seen.

        ``since`` gives, for keys never seen before, the earliest time the condition can have
        started (e.g. a volume's CreateTime); it is recorded as their first sighting instead of
        ``now``.  Keys already known keep their first sighting.

        Example:
            >>> import tempfile
            >>> store = FindingsStore(f"sqlite:///{tempfile.mkdtemp()}/findings.db")
            >>> first = store.observe(["unattached|111111111111|us-east-1|vol-1"])
        """
        now = now or _now()
        first_seen: dict[str, datetime] = {}
        with self.session() as session, session.begin():
            for key in keys:
                row = session.get(ObservationRow, key)
                if row is None:
                    start = min(since.get(key, now), now) if since else now
                    row = ObservationRow(key=key, first_seen=start, last_seen=now)
                    session.add(row)
                else:
                    row.last_seen = now
                first_seen[key] = row.first_seen
        return first_seen

    def forget(self, keys: Iterable[str]) -> None:
        """Drop observations whose condition no longer holds (a volume attached again)."""
        with self.session() as session, session.begin():
            for key in keys:
                row = session.get(ObservationRow, key)
                if row is not None:
                    session.delete(row)

    # -- internals -----------------------------------------------------------------------------
    @staticmethod
    def _get(session: Session, fingerprint: str) -> FindingRow:
        row = session.get(FindingRow, fingerprint)
        if row is None:
            raise KeyError(f"no finding with fingerprint {fingerprint!r}; see `finops findings`")
        return row

    def _move(
        self,
        session: Session,
        row: FindingRow,
        target: FindingStatus,
        actor: str,
        reason: str,
        now: datetime,
    ) -> None:
        current = FindingStatus(row.status)
        if target is current:
            return
        if target not in TRANSITIONS[current]:
            raise TransitionError(
                f"finding {row.fingerprint} is {current.value}; it cannot become {target.value}"
            )
        row.status = target.value
        row.updated_at = now
        if target is not S.SNOOZED:
            row.snoozed_until = None
        self._history(session, row.fingerprint, current, target, actor, reason, now)

    @staticmethod
    def _history(
        session: Session,
        fingerprint: str,
        current: FindingStatus | None,
        target: FindingStatus,
        actor: str,
        reason: str,
        now: datetime,
    ) -> None:
        session.add(
            FindingHistoryRow(
                fingerprint=fingerprint,
                from_status=current.value if current else None,
                to_status=target.value,
                actor=actor,
                reason=reason,
                at=now,
            )
        )
