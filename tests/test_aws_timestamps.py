"""AwsAccess clients parse AWS timestamps faster, to the same instants as botocore."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.utils import parse_timestamp as botocore_parse_timestamp
from moto.server import ThreadedMotoServer

from tasks.aws.session import AwsAccess, parse_timestamp
from tasks.settings import AwsSettings

CASES: list[Any] = [
    0,
    1_764_169_200,
    1_764_169_200.5,
    "1764169200",  # epoch seconds as text: botocore's path
    "2026-11-26T15:00:00Z",
    "2026-11-26T15:00:00.000Z",
    "2026-11-26T15:00:00.123456789Z",  # more digits than microseconds
    "2026-11-26T15:00:00+01:00",
    "2026-11-26T15:00:00.250-05:30",
    "Thu, 26 Nov 2026 15:00:00 GMT",  # RFC 822 (S3 headers): botocore's path
    "2026-11-26",  # no time, no zone: botocore's path (naive, as botocore answers)
    "2026-11-26T15:00:00",  # no zone: botocore's path
]


@pytest.mark.parametrize("value", CASES, ids=[repr(c) for c in CASES])
def test_same_instant_as_botocore(value: Any) -> None:
    ours, theirs = parse_timestamp(value), botocore_parse_timestamp(value)
    assert (ours.tzinfo is None) == (theirs.tzinfo is None)
    assert ours == theirs


def test_bad_timestamp_is_botocores_error() -> None:
    with pytest.raises(ValueError, match="Invalid timestamp"):
        parse_timestamp("not a time")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def _points(access: AwsAccess, account: str, put: bool = True) -> list[datetime]:
    cloudwatch = access.client("cloudwatch", account, "us-east-1")
    now = NOW
    if put:
        cloudwatch.put_metric_data(
            Namespace="Test/Timestamps",
            MetricData=[
                {"MetricName": "m", "Timestamp": now - timedelta(minutes=m), "Value": float(m)}
                for m in (1, 2, 3)
            ],
        )
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "q",
                "MetricStat": {
                    "Metric": {"Namespace": "Test/Timestamps", "MetricName": "m"},
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=1),
    )
    volume = access.client("ec2", account, "us-east-1").create_volume(
        Size=1, AvailabilityZone="us-east-1a"
    )
    return [*answer["MetricDataResults"][0]["Timestamps"], volume["CreateTime"]]


def test_access_clients_use_it_and_leave_a_callers_session_alone(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    own = AwsAccess(AwsSettings())
    account = own.caller_account_id
    fast = _points(own, account)
    # a member account: an assumed-role session built by AwsAccess
    member = _points(own, "111111111111")
    callers = _points(
        AwsAccess(AwsSettings(), base_session=boto3.Session(region_name="us-east-1")),
        account,
        put=False,
    )
    assert len(fast) == 4 and len(member) == 4
    assert all(t.tzinfo is UTC for t in fast + member)  # ours: plain UTC datetimes
    assert not any(t.tzinfo is UTC for t in callers)  # botocore's own tz objects
    assert sorted(fast[:3]) == sorted(callers[:3])  # the same metric points, same instants
    assert [t.timestamp() for t in sorted(fast[:3])] == [
        (NOW - timedelta(minutes=m)).timestamp() for m in (3, 2, 1)
    ]
