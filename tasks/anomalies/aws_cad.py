"""AWS Cost Anomaly Detection as a second opinion: its anomalies linked to ours, verdicts sent back.

* :func:`get_aws_anomalies`: Cost Explorer ``GetAnomalies`` over a date range, every page
  (botocore's paginator), as :class:`AwsAnomaly` values;
* :func:`matching_anomaly`: the anomaly of ours an AWS anomaly is the same event as: same
  dimension (our ``service:`` monitor of its service, else our ``account_service:`` monitor of
  its account and service) and overlapping dates; so one alert names both instead of two;
* :func:`record_aws_anomalies`: stores them in the anomaly store's ``cost_anomalies_aws`` table
  with that link (read again, a row is updated, never doubled);
* :func:`apply_feedback`: ``ProvideAnomalyFeedback`` with a person's verdict on ours
  (acknowledged = ``YES``, false positive = ``NO``, planned = ``PLANNED_ACTIVITY``) for every AWS
  anomaly linked to it, and records what was sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from tasks.anomalies.monitors import PAIR_SEPARATOR
from tasks.anomalies.store import AnomalyStore, StoredAnomaly
from tasks.findings.schema import AwsAnomalyRow

#: A person's verdict on our anomaly, as AWS's feedback values.
#: IAM actions (collected by tasks.permissions): the read in the scan policy, the verdict in
#: the pipeline's (it writes to AWS, so it stays out of the read-only scan policy).
READ_PERMISSIONS: tuple[str, ...] = ("ce:GetAnomalies",)
FEEDBACK_PERMISSIONS: tuple[str, ...] = ("ce:ProvideAnomalyFeedback",)

VERDICT_FEEDBACK = {
    "acknowledged": "YES",
    "false_positive": "NO",
    "planned": "PLANNED_ACTIVITY",
}


@dataclass(frozen=True)
class AwsAnomaly:
    """One anomaly AWS Cost Anomaly Detection reported (a ``GetAnomalies`` item, typed)."""

    aws_anomaly_id: str
    monitor_arn: str
    service: str
    account_id: str
    start: date
    end: date
    total_impact_usd: float
    max_score: float
    feedback: str | None = None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> AwsAnomaly:
        """Parse one ``GetAnomalies`` item.

        Example:
            >>> AwsAnomaly.from_api({"AnomalyId": "a1", "AnomalyStartDate": "2026-05-01",
            ...     "DimensionValue": "Amazon RDS", "MonitorArn": "arn", "AnomalyScore":
            ...     {"MaxScore": 80.0}, "Impact": {"TotalImpact": 120.5},
            ...     "RootCauses": [{"LinkedAccount": "111111111111"}]}).end
            datetime.date(2026, 5, 1)
        """
        causes = item.get("RootCauses") or [{}]
        start = date.fromisoformat(str(item["AnomalyStartDate"])[:10])
        end_text = item.get("AnomalyEndDate")
        return cls(
            aws_anomaly_id=str(item["AnomalyId"]),
            monitor_arn=str(item.get("MonitorArn", "")),
            service=str(item.get("DimensionValue") or causes[0].get("Service", "")),
            account_id=str(causes[0].get("LinkedAccount", "")),
            start=start,
            end=date.fromisoformat(str(end_text)[:10]) if end_text else start,
            total_impact_usd=float(item.get("Impact", {}).get("TotalImpact", 0.0)),
            max_score=float(item.get("AnomalyScore", {}).get("MaxScore", 0.0)),
            feedback=item.get("Feedback"),
        )


def get_aws_anomalies(ce_client: Any, first: date, last: date) -> list[AwsAnomaly]:
    """Every anomaly AWS reported ending in ``first``..``last`` (all pages)."""
    pages = ce_client.get_paginator("get_anomalies").paginate(
        DateInterval={"StartDate": first.isoformat(), "EndDate": last.isoformat()}
    )
    return [AwsAnomaly.from_api(item) for page in pages for item in page.get("Anomalies", [])]


def matching_anomaly(aws: AwsAnomaly, ours: Iterable[StoredAnomaly]) -> StoredAnomaly | None:
    """Our anomaly that is the same event: same dimension, overlapping dates, rises only.

    A ``service:`` monitor of the same service is preferred to an ``account_service:`` one of
    the same account and service; among those, the largest impact.
    """
    wanted = {
        f"service:{aws.service}": 0,
        f"account_service:{aws.account_id}{PAIR_SEPARATOR}{aws.service}": 1,
    }
    candidates = [
        a
        for a in ours
        if a.monitor_id in wanted
        and a.direction == "increase"
        and a.start_date <= aws.end
        and aws.start <= a.end_date
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda a: (wanted[a.monitor_id], -abs(a.total_impact_usd)))


def record_aws_anomalies(
    store: AnomalyStore, found: Iterable[AwsAnomaly], now: datetime | None = None
) -> dict[str, str | None]:
    """Store AWS's anomalies with the id of ours each matches; returns ``{aws id: our id}``."""
    now = now or datetime.now(UTC)
    ours = store.list()
    links: dict[str, str | None] = {}
    with store.session() as session:
        for aws in found:
            match = matching_anomaly(aws, ours)
            row = session.get(AwsAnomalyRow, aws.aws_anomaly_id) or AwsAnomalyRow(
                aws_anomaly_id=aws.aws_anomaly_id
            )
            row.monitor_arn = aws.monitor_arn
            row.service = aws.service
            row.account_id = aws.account_id
            row.start_date = aws.start
            row.end_date = aws.end
            row.total_impact_usd = Decimal(str(round(aws.total_impact_usd, 2)))
            row.max_score = aws.max_score
            row.feedback = aws.feedback or row.feedback
            row.anomaly_id = match.anomaly_id if match else None
            row.read_at = now
            session.add(row)
            links[aws.aws_anomaly_id] = row.anomaly_id
        session.commit()
    return links


def linked_aws(store: AnomalyStore, anomaly_id: str) -> list[AwsAnomaly]:
    """The AWS anomalies linked to one of ours."""
    with store.session() as session:
        rows = session.scalars(
            select(AwsAnomalyRow).where(AwsAnomalyRow.anomaly_id == anomaly_id)
        ).all()
        return [
            AwsAnomaly(
                aws_anomaly_id=r.aws_anomaly_id,
                monitor_arn=r.monitor_arn,
                service=r.service,
                account_id=r.account_id,
                start=r.start_date,
                end=r.end_date,
                total_impact_usd=float(r.total_impact_usd),
                max_score=r.max_score,
                feedback=r.feedback,
            )
            for r in rows
        ]


def apply_feedback(ce_client: Any, store: AnomalyStore, anomaly_id: str, verdict: str) -> list[str]:
    """Send a person's verdict on our anomaly to AWS for each AWS anomaly linked to it.

    Returns:
        The AWS anomaly ids the feedback was sent for (empty when none is linked).

    Raises:
        ValueError: the verdict is not one of :data:`VERDICT_FEEDBACK`.
    """
    if verdict not in VERDICT_FEEDBACK:
        raise ValueError(f"verdict {verdict!r}: use one of {', '.join(VERDICT_FEEDBACK)}")
    feedback = VERDICT_FEEDBACK[verdict]
    sent = []
    for aws in linked_aws(store, anomaly_id):
        ce_client.provide_anomaly_feedback(AnomalyId=aws.aws_anomaly_id, Feedback=feedback)
        with store.session() as session:
            row = session.get(AwsAnomalyRow, aws.aws_anomaly_id)
            if row is not None:
                row.feedback = feedback
                session.commit()
        sent.append(aws.aws_anomaly_id)
    return sent
