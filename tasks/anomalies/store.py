"""The anomaly store: one row per cost anomaly (monitor + start day) with its status and history.

Status: ``open`` while the anomaly lasts, ``resolved`` once spend is back in the band;
people set ``acknowledged`` (seen, still running) or ``false_positive`` (never alert it again).
An anomaly is alerted once: ``alerted_at`` is set the first time it is returned as a new alert,
which may be later than its first sighting if its impact only grows over the threshold later.
Its tables are declared with the findings database's (:mod:`tasks.findings.schema`).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tasks.anomalies.grouping import Anomaly
from tasks.findings.db import engine_for, history_records
from tasks.findings.schema import AnomalyHistoryRow, AnomalyRow


class AnomalyStatus(StrEnum):
    """Lifecycle of a cost anomaly."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    FALSE_POSITIVE = "false_positive"


A = AnomalyStatus

#: Statuses a person may set, from any state.
PERSON_STATUSES: frozenset[AnomalyStatus] = frozenset({A.ACKNOWLEDGED, A.FALSE_POSITIVE, A.OPEN})


@dataclass(frozen=True)
class StoredAnomaly:
    """An anomaly as the store holds it."""

    anomaly_id: str
    monitor_id: str
    monitor_type: str
    monitor_value: str
    direction: str
    kind: str
    status: AnomalyStatus
    start_date: date
    end_date: date
    peak_date: date
    last_judged: date
    days: int
    total_actual_usd: Decimal
    total_expected_usd: Decimal
    total_impact_usd: Decimal
    impact_pct: float | None
    max_score: float
    alert: bool
    root_causes: list[dict[str, Any]]
    first_seen: datetime
    updated_at: datetime
    alerted_at: datetime | None
    #: AWS Cost Anomaly Detection's anomalies that are the same event (``tasks.anomalies.aws_cad``)
    aws_anomaly_ids: tuple[str, ...] = ()


@dataclass
class RecordOutcome:
    """What recording a run's anomalies changed: anomaly ids per change."""

    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    to_alert: list[str] = field(default_factory=list)


def _cents(value: float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _to_stored(row: AnomalyRow) -> StoredAnomaly:
    return StoredAnomaly(
        anomaly_id=row.anomaly_id,
        monitor_id=row.monitor_id,
        monitor_type=row.monitor_type,
        monitor_value=row.monitor_value,
        direction=row.direction,
        kind=row.kind,
        status=AnomalyStatus(row.status),
        start_date=row.start_date,
        end_date=row.end_date,
        peak_date=row.peak_date,
        last_judged=row.last_judged,
        days=row.days,
        total_actual_usd=Decimal(row.total_actual_usd),
        total_expected_usd=Decimal(row.total_expected_usd),
        total_impact_usd=Decimal(row.total_impact_usd),
        impact_pct=row.impact_pct,
        max_score=row.max_score,
        alert=row.alert,
        root_causes=list(row.root_causes or []),
        first_seen=row.first_seen,
        updated_at=row.updated_at,
        alerted_at=row.alerted_at,
    )


class AnomalyStore:
    """Cost anomalies with their lifecycle, in the findings database (SQLite or PostgreSQL).

    Example:
        >>> import tempfile
        >>> AnomalyStore(f"sqlite:///{tempfile.mkdtemp()}/findings.db").list()
        []
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engine_for(url)

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def record(
        self, anomalies: Iterable[Anomaly], now: datetime | None = None, actor: str = "detector"
    ) -> RecordOutcome:
        """Insert new anomalies, update known ones, resolve those no longer ongoing.

        Only anomalies that meet their alert threshold (in either direction) are kept; an
        anomaly that alerts (increase, or drop when drops alert) and was never alerted is
        returned in ``to_alert`` and marked alerted, so a rerun never alerts it twice.
        """
        now = now or datetime.now(UTC)
        outcome = RecordOutcome()
        with self.session() as session, session.begin():
            for anomaly in anomalies:
                if not anomaly.meets_threshold:
                    continue
                row = session.get(AnomalyRow, anomaly.anomaly_id)
                status = A.OPEN if anomaly.ongoing else A.RESOLVED
                if row is None:
                    row = AnomalyRow(
                        anomaly_id=anomaly.anomaly_id,
                        monitor_id=anomaly.monitor_id,
                        monitor_type=anomaly.monitor.type,
                        monitor_value=anomaly.monitor.value,
                        status=status.value,
                        first_seen=now,
                    )
                    self._fill(row, anomaly, now)
                    session.add(row)
                    session.flush()
                    self._history(session, row.anomaly_id, None, status, actor, "detected", now)
                    outcome.new.append(row.anomaly_id)
                else:
                    self._fill(row, anomaly, now)
                    current = AnomalyStatus(row.status)
                    if not anomaly.ongoing and current in {A.OPEN, A.ACKNOWLEDGED}:
                        self._move(session, row, A.RESOLVED, actor, "back in the band", now)
                        outcome.resolved.append(row.anomaly_id)
                    elif anomaly.ongoing and current is A.RESOLVED:
                        self._move(session, row, A.OPEN, actor, "anomalous again", now)
                        outcome.reopened.append(row.anomaly_id)
                    else:
                        outcome.updated.append(row.anomaly_id)
                if (
                    anomaly.alert
                    and row.alerted_at is None
                    and AnomalyStatus(row.status) is not A.FALSE_POSITIVE
                ):
                    row.alerted_at = now
                    outcome.to_alert.append(row.anomaly_id)
        return outcome

    def set_status(
        self,
        anomaly_id: str,
        status: AnomalyStatus | str,
        actor: str,
        reason: str = "",
        now: datetime | None = None,
    ) -> StoredAnomaly:
        """A person's verdict: acknowledged, false_positive, or open again.

        Raises:
            KeyError: no anomaly has that id (a unique prefix is accepted).
            ValueError: the status is not one a person can set.
        """
        target = AnomalyStatus(status)
        if target not in PERSON_STATUSES:
            allowed = ", ".join(sorted(s.value for s in PERSON_STATUSES))
            raise ValueError(
                f"status {target.value!r} is set by the detector; use one of {allowed}"
            )
        with self.session() as session, session.begin():
            row = self._get(session, anomaly_id)
            self._move(session, row, target, actor, reason, now or datetime.now(UTC))
            return _to_stored(row)

    def get(self, anomaly_id: str) -> StoredAnomaly:
        with self.session() as session:
            return _to_stored(self._get(session, anomaly_id))

    def list(
        self,
        statuses: Sequence[AnomalyStatus | str] | None = None,
        since: date | None = None,
    ) -> list[StoredAnomaly]:
        """Stored anomalies (optionally by status, or still running on/after ``since``),
        largest absolute impact first."""
        query = select(AnomalyRow)
        if statuses:
            query = query.where(AnomalyRow.status.in_([AnomalyStatus(s).value for s in statuses]))
        if since is not None:
            query = query.where(AnomalyRow.end_date >= since)
        with self.session() as session:
            stored = [_to_stored(r) for r in session.scalars(query).all()]
        return sorted(stored, key=lambda s: (-abs(s.total_impact_usd), s.anomaly_id))

    def open_on(self, day: date) -> builtins.list[StoredAnomaly]:
        """Anomalies open on ``day``: status open or acknowledged, begun on or before it.

        An anomaly that began earlier and still lasts is open today even if it was alerted on
        an earlier day; ``resolved`` (the detector saw it end) and ``false_positive`` are not.
        """
        return [s for s in self.list(statuses=[A.OPEN, A.ACKNOWLEDGED]) if s.start_date <= day]

    def on_day(self, day: date, recent_days: int = 7) -> builtins.list[StoredAnomaly]:
        """The day's view: every anomaly open on ``day``, then those that ended in the
        ``recent_days`` before it (so a resolution reaches people), largest impact first."""
        opened = self.open_on(day)
        seen = {s.anomaly_id for s in opened}
        recent = [
            s
            for s in self.list(since=day - timedelta(days=recent_days))
            if s.anomaly_id not in seen and s.start_date <= day
        ]
        return self._with_aws(opened + recent)

    def _with_aws(self, stored: builtins.list[StoredAnomaly]) -> builtins.list[StoredAnomaly]:
        """The anomalies with the ids of the AWS anomalies linked to each."""
        from tasks.findings.schema import AwsAnomalyRow

        ids = [s.anomaly_id for s in stored]
        if not ids:
            return stored
        linked: dict[str, list[str]] = {}
        with self.session() as session:
            query = select(AwsAnomalyRow).where(AwsAnomalyRow.anomaly_id.in_(ids))
            for row in session.scalars(query).all():
                linked.setdefault(str(row.anomaly_id), []).append(row.aws_anomaly_id)
        return [
            replace(s, aws_anomaly_ids=tuple(sorted(linked[s.anomaly_id])))
            if s.anomaly_id in linked
            else s
            for s in stored
        ]

    def history(self, anomaly_id: str) -> builtins.list[dict[str, Any]]:
        """Every status change of an anomaly, oldest first."""
        with self.session() as session:
            rows = session.scalars(
                select(AnomalyHistoryRow)
                .where(AnomalyHistoryRow.anomaly_id == anomaly_id)
                .order_by(AnomalyHistoryRow.id)
            ).all()
            return history_records(rows)

    # -- internals -----------------------------------------------------------------------------
    @staticmethod
    def _fill(row: AnomalyRow, anomaly: Anomaly, now: datetime) -> None:
        row.direction = anomaly.direction
        row.kind = anomaly.kind
        row.start_date = anomaly.start
        row.end_date = anomaly.end
        row.peak_date = anomaly.peak
        row.last_judged = anomaly.last_judged
        row.days = anomaly.days
        row.total_actual_usd = _cents(anomaly.total_actual)
        row.total_expected_usd = _cents(anomaly.total_expected)
        row.total_impact_usd = _cents(anomaly.total_impact)
        row.impact_pct = None if anomaly.impact_pct is None else round(anomaly.impact_pct, 2)
        row.max_score = round(anomaly.max_score, 4)
        row.alert = anomaly.alert
        if anomaly.root_causes or not row.root_causes:
            row.root_causes = list(anomaly.root_causes)
        row.updated_at = now

    @staticmethod
    def _get(session: Session, anomaly_id: str) -> AnomalyRow:
        row = session.get(AnomalyRow, anomaly_id)
        if row is None and anomaly_id:
            matches = session.scalars(
                select(AnomalyRow).where(AnomalyRow.anomaly_id.startswith(anomaly_id)).limit(2)
            ).all()
            if len(matches) == 1:
                row = matches[0]
        if row is None:
            raise KeyError(f"no anomaly with id {anomaly_id!r}; see `finops anomalies`")
        return row

    def _move(
        self,
        session: Session,
        row: AnomalyRow,
        target: AnomalyStatus,
        actor: str,
        reason: str,
        now: datetime,
    ) -> None:
        current = AnomalyStatus(row.status)
        if current is target:
            return
        row.status = target.value
        row.updated_at = now
        self._history(session, row.anomaly_id, current, target, actor, reason, now)

    @staticmethod
    def _history(
        session: Session,
        anomaly_id: str,
        current: AnomalyStatus | None,
        target: AnomalyStatus,
        actor: str,
        reason: str,
        now: datetime,
    ) -> None:
        session.add(
            AnomalyHistoryRow(
                anomaly_id=anomaly_id,
                from_status=current.value if current else None,
                to_status=target.value,
                actor=actor,
                reason=reason,
                at=now,
            )
        )
