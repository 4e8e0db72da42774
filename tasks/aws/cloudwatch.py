"""CloudWatch adapter: many statistics at once with GetMetricData (idle scan), and the peak of
one hourly statistic since a moment (remediation's "busy again" re-checks)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tasks.aws.common import chunks, utc
from tasks.aws.records import (
    MetricFrame,
    MetricRequest,
    MetricSeries,
)

#: GetMetricData accepts at most 500 queries a request.
MAX_QUERIES_PER_REQUEST = 500
DAY_S = 86400


def metric_window(now: datetime, days: int) -> tuple[datetime, datetime]:
    """[start, end) of a window of whole days ending at the current hour.

    Example:
        >>> s, e = metric_window(datetime(2026, 1, 15, 10, 30, tzinfo=UTC), 14)
        >>> (s.isoformat(), e.isoformat())
        ('2026-01-01T10:00:00+00:00', '2026-01-15T10:00:00+00:00')
    """
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return end - timedelta(days=days), end


def get_metric_data(
    cloudwatch: Any,
    requests: Sequence[MetricRequest],
    start: datetime,
    end: datetime,
    period_s: int = DAY_S,
) -> MetricFrame:
    """Read many metric statistics with GetMetricData, 500 queries a request (paginated).

    Args:
        cloudwatch: a CloudWatch client.
        requests: one entry per (resource, statistic); duplicates are read once.
        start: window start (UTC).
        end: window end (UTC).
        period_s: datapoint period; daily by default.

    Returns:
        (resource id, key) -> series, oldest first; statistics with no datapoints are absent.
    """
    unique = list(dict.fromkeys(requests))
    frame: MetricFrame = {}
    for chunk in chunks(unique, MAX_QUERIES_PER_REQUEST):
        queries = [
            {
                "Id": f"q{i}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": r.namespace,
                        "MetricName": r.metric_name,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in r.dimensions],
                    },
                    "Period": period_s,
                    "Stat": r.stat,
                    **({"Unit": r.unit} if r.unit else {}),
                },
                "ReturnData": True,
            }
            for i, r in enumerate(chunk)
        ]
        points: dict[str, dict[datetime, float]] = {}
        for page in cloudwatch.get_paginator("get_metric_data").paginate(
            MetricDataQueries=queries,
            StartTime=start,
            EndTime=end,
            ScanBy="TimestampAscending",
        ):
            for result in page.get("MetricDataResults", []):
                series = points.setdefault(result["Id"], {})
                for ts, value in zip(
                    result.get("Timestamps", []), result.get("Values", []), strict=True
                ):
                    series[utc(ts) or ts] = float(value)
        for i, request in enumerate(chunk):
            found = points.get(f"q{i}")
            if not found:
                continue
            ordered = sorted(found.items())
            frame[(request.resource_id, request.key)] = MetricSeries(
                timestamps=tuple(t for t, _ in ordered), values=tuple(v for _, v in ordered)
            )
    return frame


def hourly_peak(
    cloudwatch: Any,
    namespace: str,
    metric_name: str,
    dimension: tuple[str, str],
    stat: str,
    since: datetime,
    until: datetime,
) -> float | None:
    """The highest hourly ``stat`` of one metric in [since, until); None when no datapoints.

    None, not 0: an empty answer (no agent, a metric not published, the wrong dimension) is no
    evidence of idleness, and the remediation re-checks must not read it as such.
    """
    datapoints = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric_name,
        Dimensions=[{"Name": dimension[0], "Value": dimension[1]}],
        StartTime=since,
        EndTime=until,
        Period=3600,
        Statistics=[stat],
    )["Datapoints"]
    return max((float(d[stat]) for d in datapoints), default=None)
