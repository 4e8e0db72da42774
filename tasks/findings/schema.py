"""The findings database's schema: every table, on one declarative ``Base``, in one place.

The stores above (findings, anomalies, the notification outbox, the remediation ledger) import
their rows from here; this module imports nothing of the project, so the arrows run down.  The
migrations in :mod:`tasks.findings.migrations` build exactly this schema, and a test compares
the two: a change here needs a migration (see docs/architecture.md).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the findings store; use UTC-aware times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table in the findings database."""


# -- findings (tasks.findings.store) -------------------------------------------------------------
class FindingRow(Base):
    __tablename__ = "findings"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    check: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[str] = mapped_column(String(12), index=True)
    region: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), index=True)
    monthly_savings_usd: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    snoozed_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FindingHistoryRow(Base):
    __tablename__ = "finding_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(ForeignKey("findings.fingerprint"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class ObservationRow(Base):
    """When a condition on a resource was first seen (AWS does not report e.g. detach times)."""

    __tablename__ = "observations"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)


# -- cost anomalies (tasks.anomalies.store) ------------------------------------------------------
class AnomalyRow(Base):
    __tablename__ = "cost_anomalies"

    anomaly_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    monitor_id: Mapped[str] = mapped_column(String(400), index=True)
    monitor_type: Mapped[str] = mapped_column(String(32))
    monitor_value: Mapped[str] = mapped_column(String(360))
    direction: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    start_date: Mapped[date] = mapped_column(Date, index=True)
    end_date: Mapped[date] = mapped_column(Date)
    peak_date: Mapped[date] = mapped_column(Date)
    last_judged: Mapped[date] = mapped_column(Date)
    days: Mapped[int] = mapped_column(Integer)
    total_actual_usd: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    total_expected_usd: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    total_impact_usd: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    impact_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_score: Mapped[float] = mapped_column(Float)
    alert: Mapped[bool] = mapped_column(default=False)
    root_causes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    alerted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AnomalyHistoryRow(Base):
    __tablename__ = "cost_anomaly_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    anomaly_id: Mapped[str] = mapped_column(ForeignKey("cost_anomalies.anomaly_id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class AwsAnomalyRow(Base):
    """An anomaly AWS Cost Anomaly Detection reported (``tasks.anomalies.aws_cad``), and ours."""

    __tablename__ = "cost_anomalies_aws"

    aws_anomaly_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    monitor_arn: Mapped[str] = mapped_column(String(255))
    service: Mapped[str] = mapped_column(String(255), index=True)
    account_id: Mapped[str] = mapped_column(String(12))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    total_impact_usd: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    max_score: Mapped[float] = mapped_column(Float)
    feedback: Mapped[str | None] = mapped_column(String(16), nullable=True)
    anomaly_id: Mapped[str | None] = mapped_column(
        ForeignKey("cost_anomalies.anomaly_id"), nullable=True, index=True
    )
    read_at: Mapped[datetime] = mapped_column(UtcDateTime)


# -- the notification outbox (tasks.notify.outbox) -----------------------------------------------
class OutboxRow(Base):
    __tablename__ = "notify_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(400), unique=True, index=True)
    channel: Mapped[str] = mapped_column(String(16), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    op: Mapped[str] = mapped_column(String(16))
    parent_key: Mapped[str | None] = mapped_column(String(400), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


# -- the remediation ledger (tasks.remediation.ledger) -------------------------------------------
class RemediationActionRow(Base):
    __tablename__ = "remediation_actions"
    __table_args__ = (UniqueConstraint("approval_id", "fingerprint", "action"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    approval_id: Mapped[str] = mapped_column(String(64), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    approver: Mapped[str] = mapped_column(String(128))
    comment: Mapped[str] = mapped_column(Text, default="")
    checkpoints: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
