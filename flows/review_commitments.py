"""The ``review-commitments`` flow: review RIs and Savings Plans, record findings and notices."""

from __future__ import annotations

from datetime import UTC, date, datetime

from prefect import flow, get_run_logger

from tasks.commitments.review import CommitmentReview
from tasks.commitments.tasks import record_commitments_task, review_commitments_task
from tasks.settings import load_settings


@flow(name="review-commitments")
def review_commitments(
    today: date | None = None, record: bool = True
) -> tuple[CommitmentReview, dict[str, list[str]]]:
    """Review the organisation's commitments and record what is due.

    Args:
        today: the UTC day (default: now); the window ends the day before.
        record: store the findings and enqueue the expiry notices.

    Returns:
        The review and what was recorded (new and resolved fingerprints, new outbox keys).
    """
    settings = load_settings()
    review = review_commitments_task(settings, today or datetime.now(UTC).date())
    recorded = record_commitments_task(review, settings) if record else {}
    get_run_logger().info(
        "commitments: %d expiry notices due, %d findings, store and CE disagree on %d figures",
        len(review.alerts),
        len(review.findings),
        len(review.disagreements),
    )
    return review, recorded
