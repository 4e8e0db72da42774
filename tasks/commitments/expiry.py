"""Which commitment expiry alerts are due (pure): at most one per commitment per threshold."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from tasks.commitments.models import Commitment, ExpiryAlert


def due_alerts(
    commitments: Iterable[Commitment], today: date, thresholds: Sequence[int]
) -> list[ExpiryAlert]:
    """The alerts due today: for each live commitment, the smallest threshold it has crossed.

    A commitment 25 days from its end with thresholds 60/30/7 is due its 30-day alert only: the
    60-day one is no longer news, and the 7-day one is not due yet.  The outbox key of each alert
    (commitment, threshold) makes it go out once however often this runs.

    Example:
        >>> from datetime import date
        >>> ri = Commitment(commitment_id="arn:ri", short_id="ri-1", kind="Reserved Instance",
        ...                 account_id="1", end=date(2026, 12, 29))
        >>> [a.threshold_days for a in due_alerts([ri], date(2026, 12, 4), [60, 30, 7])]
        [30]
        >>> due_alerts([ri], date(2026, 10, 1), [60, 30, 7])
        []
    """
    alerts = []
    for commitment in commitments:
        left = commitment.days_left(today)
        if left < 0:
            continue
        crossed = [days for days in thresholds if left <= days]
        if crossed:
            alerts.append(
                ExpiryAlert(commitment=commitment, threshold_days=min(crossed), days_left=left)
            )
    return sorted(alerts, key=lambda a: (a.days_left, a.commitment.commitment_id))


def alert_text(alert: ExpiryAlert) -> str:
    """The one-paragraph announcement (Slack mrkdwn).

    Example:
        >>> from datetime import date
        >>> ri = Commitment(commitment_id="arn:ri", short_id="ri-1", kind="Reserved Instance",
        ...                 account_id="111111111111", end=date(2026, 12, 29),
        ...                 description="RDS db.r5.large 1yr No Upfront")
        >>> alert_text(ExpiryAlert(commitment=ri, threshold_days=30, days_left=25))[:60]
        ':hourglass: Reserved Instance ri-1 (RDS db.r5.large 1yr No U'
    """
    item = alert.commitment
    what = f" ({item.description})" if item.description else ""
    rate = (
        f", ${item.hourly_commitment_usd}/hour committed"
        if item.hourly_commitment_usd is not None
        else ""
    )
    return (
        f":hourglass: {item.kind} {item.short_id}{what} in account {item.account_id} expires on "
        f"{item.end.isoformat()}, in {alert.days_left} days (the {alert.threshold_days}-day "
        f"notice){rate}. Renew it, replace it with a Savings Plan, or let it lapse on purpose."
    )
