"""AWS Cost Anomaly Detection's anomalies beside ours (``cost_anomalies_aws``).

Each row is one anomaly AWS reported, with the id of the matching anomaly of ours (same
dimension, overlapping dates) when there is one, and the feedback sent back to AWS.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cost_anomalies_aws",
        sa.Column("aws_anomaly_id", sa.String(64), nullable=False),
        sa.Column("monitor_arn", sa.String(255), nullable=False),
        sa.Column("service", sa.String(255), nullable=False),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("total_impact_usd", sa.Numeric(14, 2), nullable=False),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.Column("feedback", sa.String(16), nullable=True),
        sa.Column("anomaly_id", sa.String(20), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["anomaly_id"], ["cost_anomalies.anomaly_id"]),
        sa.PrimaryKeyConstraint("aws_anomaly_id"),
    )
    op.create_index("ix_cost_anomalies_aws_service", "cost_anomalies_aws", ["service"])
    op.create_index("ix_cost_anomalies_aws_anomaly_id", "cost_anomalies_aws", ["anomaly_id"])


def downgrade() -> None:
    op.drop_table("cost_anomalies_aws")
