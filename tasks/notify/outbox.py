"""The notification outbox: every outgoing message is stored under an idempotency key first.

A message is written (``pending``) before any attempt to send it; delivery claims it
(``sending``), then marks it ``sent`` with what the channel answered, or back to ``pending`` with
the error (an outage: the next run delivers it), or ``failed`` (a permanent error, or too many
attempts; ``retry_failed`` puts those back).  ``skipped`` means the channel cannot do it (a
webhook cannot thread or update), ``local`` that the channel is not configured: the message was
only rendered into the outbox and the run's artifact.  Enqueuing a key that exists does nothing,
so a rerun never sends the same message twice.

Delivery is at least once only in one window: a process killed after the channel accepted a
message and before ``mark_sent`` committed; a ``sending`` claim older than ``stale_after``
is returned to ``pending``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tasks.findings.db import engine_for
from tasks.findings.schema import OutboxRow


class OutboxStatus(StrEnum):
    """Where a message stands."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    LOCAL = "local"


class NewMessage(BaseModel):
    """A message to put in the outbox.

    ``op`` says what delivery does: ``post`` (Slack message), ``update`` (Slack chat.update of
    the parent's message), ``chart`` (Slack file upload), ``upsert`` / ``resolve`` (Jira),
    ``publish`` (SNS).  ``parent_key`` names the message whose Slack ``ts`` this one needs
    (thread replies, updates, charts); it is delivered only after its parent.

    Example:
        >>> NewMessage(key="slack|digest|2026-11-25", channel="slack", kind="digest",
        ...            op="post", payload={"text": "hi"}).channel
        'slack'
    """

    model_config = ConfigDict(frozen=True)

    key: str
    channel: str
    kind: str
    op: str
    payload: dict[str, Any]
    parent_key: str | None = None


class OutboxMessage(BaseModel):
    """A stored message with its delivery state."""

    model_config = ConfigDict(frozen=True)

    id: int
    key: str
    channel: str
    kind: str
    op: str
    payload: dict[str, Any]
    parent_key: str | None
    status: OutboxStatus
    attempts: int
    last_error: str
    result: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    sent_at: datetime | None


def _now() -> datetime:
    return datetime.now(UTC)


def _to_message(row: OutboxRow) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        key=row.key,
        channel=row.channel,
        kind=row.kind,
        op=row.op,
        payload=row.payload,
        parent_key=row.parent_key,
        status=OutboxStatus(row.status),
        attempts=row.attempts,
        last_error=row.last_error or "",
        result=row.result or {},
        created_at=row.created_at,
        sent_at=row.sent_at,
    )


class Outbox:
    """The outbox in the findings database (SQLite or PostgreSQL).

    Example:
        >>> import tempfile
        >>> box = Outbox(f"sqlite:///{tempfile.mkdtemp()}/findings.db")
        >>> box.enqueue([NewMessage(key="k", channel="sns", kind="t", op="publish",
        ...                         payload={})], enabled={"sns"})
        ['k']
        >>> box.enqueue([NewMessage(key="k", channel="sns", kind="t", op="publish",
        ...                         payload={})], enabled={"sns"})
        []
    """

    def __init__(self, url: str, max_attempts: int = 20) -> None:
        self.url = url
        self.engine = engine_for(url)
        self.max_attempts = max_attempts

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def enqueue(
        self, messages: Iterable[NewMessage], enabled: set[str], now: datetime | None = None
    ) -> list[str]:
        """Store messages not stored yet; return the keys that were new.

        Args:
            messages: what to send.
            enabled: channels that are configured; messages for others are stored ``local``.
            now: the time (UTC).
        """
        now = now or _now()
        created: list[str] = []
        for message in messages:
            status = OutboxStatus.PENDING if message.channel in enabled else OutboxStatus.LOCAL
            row = OutboxRow(
                key=message.key,
                channel=message.channel,
                kind=message.kind,
                op=message.op,
                parent_key=message.parent_key,
                payload=message.payload,
                status=status.value,
                attempts=0,
                last_error="",
                result={},
                created_at=now,
                updated_at=now,
            )
            # One transaction per message: the unique key, not a read-then-write, decides, so
            # two runs enqueuing at once still store each key once.
            try:
                with self.session() as session, session.begin():
                    session.add(row)
            except IntegrityError:
                continue
            created.append(message.key)
        return created

    def get(self, key: str) -> OutboxMessage | None:
        with self.session() as session:
            row = session.scalars(select(OutboxRow).where(OutboxRow.key == key)).first()
            return _to_message(row) if row is not None else None

    def messages(
        self,
        statuses: Sequence[OutboxStatus | str] | None = None,
        keys: Sequence[str] | None = None,
    ) -> list[OutboxMessage]:
        """Stored messages, oldest first."""
        query = select(OutboxRow).order_by(OutboxRow.id)
        if statuses:
            query = query.where(OutboxRow.status.in_([OutboxStatus(s).value for s in statuses]))
        if keys is not None:
            query = query.where(OutboxRow.key.in_(list(keys)))
        with self.session() as session:
            return [_to_message(r) for r in session.scalars(query).all()]

    def deliverable(
        self,
        channels: set[str],
        now: datetime | None = None,
        stale_after: timedelta = timedelta(minutes=15),
    ) -> list[OutboxMessage]:
        """Pending messages of the given channels, oldest first (stale claims released)."""
        now = now or _now()
        with self.session() as session, session.begin():
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.status == OutboxStatus.SENDING.value)
                .where(OutboxRow.updated_at < now - stale_after)
                .values(status=OutboxStatus.PENDING.value, updated_at=now)
            )
        return [m for m in self.messages(statuses=[OutboxStatus.PENDING]) if m.channel in channels]

    def claim(self, key: str, now: datetime | None = None) -> bool:
        """Atomically move a pending message to ``sending``; False if someone else has it."""
        now = now or _now()
        with self.session() as session, session.begin():
            result = session.execute(
                update(OutboxRow)
                .where(OutboxRow.key == key)
                .where(OutboxRow.status == OutboxStatus.PENDING.value)
                .values(status=OutboxStatus.SENDING.value, updated_at=now)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def release(self, key: str, now: datetime | None = None) -> None:
        """Give a claimed message back untouched (its parent is not delivered yet)."""
        self._finish(key, OutboxStatus.PENDING, now, count_attempt=False)

    def mark_sent(self, key: str, result: dict[str, Any], now: datetime | None = None) -> None:
        self._finish(key, OutboxStatus.SENT, now, result=result, sent=True)

    def mark_skipped(self, key: str, reason: str, now: datetime | None = None) -> None:
        self._finish(key, OutboxStatus.SKIPPED, now, error=reason, count_attempt=False)

    def mark_error(
        self, key: str, error: str, permanent: bool, now: datetime | None = None
    ) -> OutboxStatus:
        """Record a failed attempt: pending again (transient) or failed (permanent/too many)."""
        with self.session() as session:
            row = session.scalars(select(OutboxRow).where(OutboxRow.key == key)).one()
            attempts = row.attempts + 1
        status = (
            OutboxStatus.FAILED
            if permanent or attempts >= self.max_attempts
            else OutboxStatus.PENDING
        )
        self._finish(key, status, now, error=error)
        return status

    def retry_failed(self, now: datetime | None = None) -> int:
        """Put failed messages back to pending (after fixing a token, say); return how many."""
        now = now or _now()
        with self.session() as session, session.begin():
            result = session.execute(
                update(OutboxRow)
                .where(OutboxRow.status == OutboxStatus.FAILED.value)
                .values(status=OutboxStatus.PENDING.value, attempts=0, updated_at=now)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def _finish(
        self,
        key: str,
        status: OutboxStatus,
        now: datetime | None,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        sent: bool = False,
        count_attempt: bool = True,
    ) -> None:
        now = now or _now()
        with self.session() as session, session.begin():
            row = session.scalars(select(OutboxRow).where(OutboxRow.key == key)).one()
            row.status = status.value
            row.updated_at = now
            if count_attempt:
                row.attempts += 1
            if result is not None:
                row.result = result
            if error is not None:
                row.last_error = error[:2000]
            if sent:
                row.sent_at = now
                row.last_error = ""
