"""Baseline: the findings database as SQLAlchemy ``create_all`` built it before migrations.

Findings and their history, observations, cost anomalies and their history, the notification
outbox and the remediation ledger.  A database written before migrations already has these
tables: :func:`tasks.findings.migrations.upgrade_to_head` stamps it at this revision, and when an
older one lacks some of them this revision creates only those (as ``create_all`` did).

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: What the stores' ``UtcDateTime`` stores: TIMESTAMP WITH TIME ZONE (DATETIME on SQLite).
UTC_DATETIME = sa.DateTime(timezone=True)


def _existing() -> set[str]:
    if context.is_offline_mode():
        return set()
    return set(sa.inspect(op.get_bind()).get_table_names())


def _indexes(table: str, *columns: str) -> None:
    for column in columns:
        op.create_index(f"ix_{table}_{column}", table, [column])


def upgrade() -> None:
    existing = _existing()
    if "findings" not in existing:
        op.create_table(
            "findings",
            sa.Column("fingerprint", sa.String(64), nullable=False),
            sa.Column("check", sa.String(64), nullable=False),
            sa.Column("account_id", sa.String(12), nullable=False),
            sa.Column("region", sa.String(32), nullable=False),
            sa.Column("resource_id", sa.String(255), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("monthly_savings_usd", sa.Numeric(14, 2), nullable=True),
            sa.Column("payload", sa.JSON(), nullable=False),
            sa.Column("first_seen", UTC_DATETIME, nullable=False),
            sa.Column("last_seen", UTC_DATETIME, nullable=False),
            sa.Column("snoozed_until", UTC_DATETIME, nullable=True),
            sa.Column("updated_at", UTC_DATETIME, nullable=False),
            sa.PrimaryKeyConstraint("fingerprint"),
        )
        _indexes("findings", "check", "account_id", "status")
    if "finding_history" not in existing:
        op.create_table(
            "finding_history",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("fingerprint", sa.String(64), nullable=False),
            sa.Column("from_status", sa.String(16), nullable=True),
            sa.Column("to_status", sa.String(16), nullable=False),
            sa.Column("actor", sa.String(128), nullable=False),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("at", UTC_DATETIME, nullable=False),
            sa.ForeignKeyConstraint(["fingerprint"], ["findings.fingerprint"]),
            sa.PrimaryKeyConstraint("id"),
        )
        _indexes("finding_history", "fingerprint")
    if "observations" not in existing:
        op.create_table(
            "observations",
            sa.Column("key", sa.String(400), nullable=False),
            sa.Column("first_seen", UTC_DATETIME, nullable=False),
            sa.Column("last_seen", UTC_DATETIME, nullable=False),
            sa.PrimaryKeyConstraint("key"),
        )
    if "cost_anomalies" not in existing:
        op.create_table(
            "cost_anomalies",
            sa.Column("anomaly_id", sa.String(20), nullable=False),
            sa.Column("monitor_id", sa.String(400), nullable=False),
            sa.Column("monitor_type", sa.String(32), nullable=False),
            sa.Column("monitor_value", sa.String(360), nullable=False),
            sa.Column("direction", sa.String(16), nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("start_date", sa.Date(), nullable=False),
            sa.Column("end_date", sa.Date(), nullable=False),
            sa.Column("peak_date", sa.Date(), nullable=False),
            sa.Column("last_judged", sa.Date(), nullable=False),
            sa.Column("days", sa.Integer(), nullable=False),
            sa.Column("total_actual_usd", sa.Numeric(14, 2), nullable=False),
            sa.Column("total_expected_usd", sa.Numeric(14, 2), nullable=False),
            sa.Column("total_impact_usd", sa.Numeric(14, 2), nullable=False),
            sa.Column("impact_pct", sa.Float(), nullable=True),
            sa.Column("max_score", sa.Float(), nullable=False),
            sa.Column("alert", sa.Boolean(), nullable=False),
            sa.Column("root_causes", sa.JSON(), nullable=False),
            sa.Column("first_seen", UTC_DATETIME, nullable=False),
            sa.Column("updated_at", UTC_DATETIME, nullable=False),
            sa.Column("alerted_at", UTC_DATETIME, nullable=True),
            sa.PrimaryKeyConstraint("anomaly_id"),
        )
        _indexes("cost_anomalies", "monitor_id", "status", "start_date")
    if "cost_anomaly_history" not in existing:
        op.create_table(
            "cost_anomaly_history",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("anomaly_id", sa.String(20), nullable=False),
            sa.Column("from_status", sa.String(16), nullable=True),
            sa.Column("to_status", sa.String(16), nullable=False),
            sa.Column("actor", sa.String(128), nullable=False),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("at", UTC_DATETIME, nullable=False),
            sa.ForeignKeyConstraint(["anomaly_id"], ["cost_anomalies.anomaly_id"]),
            sa.PrimaryKeyConstraint("id"),
        )
        _indexes("cost_anomaly_history", "anomaly_id")
    if "notify_outbox" not in existing:
        op.create_table(
            "notify_outbox",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("key", sa.String(400), nullable=False),
            sa.Column("channel", sa.String(16), nullable=False),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("op", sa.String(16), nullable=False),
            sa.Column("parent_key", sa.String(400), nullable=True),
            sa.Column("payload", sa.JSON(), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("last_error", sa.Text(), nullable=False),
            sa.Column("result", sa.JSON(), nullable=False),
            sa.Column("created_at", UTC_DATETIME, nullable=False),
            sa.Column("updated_at", UTC_DATETIME, nullable=False),
            sa.Column("sent_at", UTC_DATETIME, nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_notify_outbox_key", "notify_outbox", ["key"], unique=True)
        _indexes("notify_outbox", "channel", "status")
    if "remediation_actions" not in existing:
        op.create_table(
            "remediation_actions",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("approval_id", sa.String(64), nullable=False),
            sa.Column("fingerprint", sa.String(64), nullable=False),
            sa.Column("action", sa.String(64), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("approver", sa.String(128), nullable=False),
            sa.Column("comment", sa.Text(), nullable=False),
            sa.Column("checkpoints", sa.JSON(), nullable=False),
            sa.Column("result", sa.JSON(), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("due_at", UTC_DATETIME, nullable=True),
            sa.Column("created_at", UTC_DATETIME, nullable=False),
            sa.Column("updated_at", UTC_DATETIME, nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("approval_id", "fingerprint", "action"),
        )
        _indexes("remediation_actions", "approval_id", "fingerprint", "status")


def downgrade() -> None:
    for table in (
        "remediation_actions",
        "notify_outbox",
        "cost_anomaly_history",
        "cost_anomalies",
        "observations",
        "finding_history",
        "findings",
    ):
        op.drop_table(table)
