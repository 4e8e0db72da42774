"""Thin Prefect tasks of the commitments capability: review (reads only) and record."""

from __future__ import annotations

from datetime import date

from prefect import get_run_logger

from tasks.aws.session import AwsAccess
from tasks.commitments.review import CommitmentReview, record_review, review_commitments
from tasks.costs.store import CostStore
from tasks.findings.store import FindingsStore
from tasks.notify.outbox import Outbox
from tasks.settings import Settings
from tasks.steps import step


@step("review-commitments", retries=2, retry_delay_seconds=5)
def review_commitments_task(settings: Settings, today: date) -> CommitmentReview:
    """Inventory, both ways of coverage/utilisation and the recommendations (reads only)."""
    review = review_commitments(
        AwsAccess(settings.aws), CostStore(settings.cost_store_url), settings.commitments, today
    )
    get_run_logger().info(
        "%d commitments, %d expiry notices due, %d store/CE disagreements",
        len(review.inventory),
        len(review.alerts),
        len(review.disagreements),
    )
    return review


@step("record-commitments")
def record_commitments_task(review: CommitmentReview, settings: Settings) -> dict[str, list[str]]:
    """Store the findings and enqueue the expiry notices (idempotent by key and fingerprint).

    Notices for a channel that is not configured are kept ``local`` in the outbox.
    """
    from tasks.notify.deliver import connect_channels

    enabled = connect_channels(settings.notify).enabled
    url = settings.findings_url
    return record_review(review, FindingsStore(url), Outbox(url), enabled)
