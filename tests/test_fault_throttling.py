"""Fault matrix: AWS throttles every kind of call the product makes, and each is retried.

Each case builds its client the way the product does (``AwsAccess`` for the scan and the
remediation, including the STS AssumeRole into a member account; ``sqs_client``,
``sns_client``, the audit log's S3 client), throttles the first two requests of one operation
with the answer AWS gives in that service's protocol, then calls the product's own adapter.
botocore's standard retry mode (``boto_config``) must retry them: the call succeeds with the
right answer, after exactly two throttled attempts.  The answers come from an in-process moto
server on loopback; the throttling is injected at ``before-send``, below botocore's retries.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from tasks.aws import ec2 as ec2_adapter
from tasks.aws import elb as elb_adapter
from tasks.aws import rds as rds_adapter
from tasks.aws import s3 as s3_adapter
from tasks.aws.session import AwsAccess
from tests.plugins.remediation import MANAGEMENT, AwsWorld

THROTTLED_TIMES = 2
#: The caller's own account: its clients come from the session the throttling is registered on
#: (a member account's come from an assumed-role session, which the STS case covers).
ACCOUNT = MANAGEMENT


class _Body:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body

    def read(self) -> bytes:
        return self.body


def throttling_answer(protocol: str, url: str) -> AWSResponse:
    """What AWS answers a throttled request, in the service's protocol."""
    if protocol in ("query", "ec2"):
        code = "RequestLimitExceeded" if protocol == "ec2" else "Throttling"
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
            "<Message>Rate exceeded</Message></Error><RequestId>t</RequestId></ErrorResponse>"
        ).encode()
        if protocol == "ec2":
            body = (
                f"<Response><Errors><Error><Code>{code}</Code><Message>Rate exceeded</Message>"
                "</Error></Errors><RequestID>t</RequestID></Response>"
            ).encode()
        return AWSResponse(url, 400 if protocol == "query" else 503, {}, _Body(body))
    if protocol == "rest-xml":
        body = b"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"
        return AWSResponse(url, 503, {}, _Body(body))
    if protocol in ("json", "rest-json"):
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
        headers = {"x-amzn-ErrorType": "ThrottlingException"}
        return AWSResponse(url, 400, headers, _Body(body))
    return AWSResponse(url, 503, {}, _Body(b""))  # any other protocol: a transient 503


@dataclass
class Throttle:
    """Throttles the first requests of one operation on the clients a session makes from now on
    (a client copies its session's event handlers when it is made)."""

    session: boto3.Session
    seen: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def operation(self, service: str, operation: str) -> None:
        protocol = self.session.client(service, region_name="us-east-1").meta.service_model.protocol

        def answer(request: Any, **_: Any) -> AWSResponse | None:
            with self.lock:
                if len(self.seen) >= THROTTLED_TIMES:
                    return None
                self.seen.append(operation)
            return throttling_answer(protocol, request.url)

        self.session.events.register(f"before-send.{service}.{operation}", answer)


@pytest.fixture
def throttle(remediation_aws: AwsWorld) -> Throttle:
    return Throttle(boto3.Session(region_name="us-east-1"))


def _access(throttle: Throttle) -> AwsAccess:
    from tasks.settings import load_settings

    return AwsAccess(load_settings().aws, base_session=throttle.session)


Case = Callable[[AwsWorld, Throttle], None]


def _volume(throttle: Throttle, region: str) -> str:
    ec2 = _access(throttle).client("ec2", ACCOUNT, region)
    return str(ec2.create_volume(AvailabilityZone=f"{region}a", Size=1)["VolumeId"])


def _ec2_read(world: AwsWorld, throttle: Throttle) -> None:
    volume = _volume(throttle, world.region)
    throttle.operation("ec2", "DescribeVolumes")
    ec2 = _access(throttle).client("ec2", ACCOUNT, world.region)
    assert volume in {v["VolumeId"] for v in ec2_adapter.get_volumes(ec2)}


def _ec2_write(world: AwsWorld, throttle: Throttle) -> None:
    volume = _volume(throttle, world.region)
    throttle.operation("ec2", "CreateTags")
    ec2 = _access(throttle).client("ec2", ACCOUNT, world.region)
    written = ec2_adapter.apply_tag(ec2, volume, "finops:action-due", "review@2027-01-01", False)
    assert written.response is not None
    assert ec2_adapter.resource_tags(ec2, volume)["finops:action-due"] == "review@2027-01-01"


def _sts_assume_role(world: AwsWorld, throttle: Throttle) -> None:
    throttle.operation("sts", "AssumeRole")
    ec2 = _access(throttle).client("ec2", world.account_id, world.region)
    assert isinstance(ec2_adapter.get_volumes(ec2), list)


def _cloudwatch(world: AwsWorld, throttle: Throttle) -> None:
    from datetime import UTC, datetime, timedelta

    from tasks.aws.cloudwatch import hourly_peak

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    instance = "i-0123456789abcdef0"
    cloudwatch = _access(throttle).client("cloudwatch", ACCOUNT, world.region)
    cloudwatch.put_metric_data(
        Namespace="AWS/EC2",
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "InstanceId", "Value": instance}],
                "Timestamp": now - timedelta(hours=1),
                "Value": 42.0,
                "Unit": "Percent",
            }
        ],
    )
    throttle.operation("cloudwatch", "GetMetricStatistics")
    peak = hourly_peak(
        _access(throttle).client("cloudwatch", ACCOUNT, world.region),
        "AWS/EC2",
        "CPUUtilization",
        ("InstanceId", instance),
        "Average",
        now - timedelta(hours=3),
        now + timedelta(minutes=5),
    )
    assert peak == 42.0


def _elb(world: AwsWorld, throttle: Throttle) -> None:
    throttle.operation("elbv2", "DescribeLoadBalancers")
    access = _access(throttle)
    elbv2 = access.client("elbv2", ACCOUNT, world.region)
    elb = access.client("elb", ACCOUNT, world.region)
    assert isinstance(elb_adapter.get_load_balancers(elbv2, elb), list)


def _rds(world: AwsWorld, throttle: Throttle) -> None:
    throttle.operation("rds", "DescribeDBInstances")
    rds = _access(throttle).client("rds", ACCOUNT, world.region)
    assert isinstance(rds_adapter.get_db_instances(rds), list)


def _s3(world: AwsWorld, throttle: Throttle) -> None:
    s3 = _access(throttle).client("s3", ACCOUNT, world.region)
    s3.create_bucket(Bucket="finops-throttled-bucket")
    throttle.operation("s3", "ListBuckets")
    s3 = _access(throttle).client("s3", ACCOUNT, world.region)
    names = {b["Name"] for b in s3_adapter.get_buckets(s3, world.region)}
    assert "finops-throttled-bucket" in names


def _budgets(world: AwsWorld, throttle: Throttle) -> None:
    from tasks.anomalies.budget import get_budgets

    throttle.operation("budgets", "DescribeBudgets")
    budgets = _access(throttle).client("budgets", ACCOUNT, "us-east-1")
    assert isinstance(get_budgets(budgets, ACCOUNT), list)


def _sqs(world: AwsWorld, throttle: Throttle) -> None:
    from tasks.events.sqs import get_messages, sqs_client

    url = throttle.session.client("sqs").create_queue(QueueName="finops-throttled")["QueueUrl"]
    throttle.session.client("sqs").send_message(QueueUrl=url, MessageBody="{}")
    throttle.operation("sqs", "ReceiveMessage")
    messages = get_messages(sqs_client(url, throttle.session), url, 10, 0, 30)
    assert [m.body for m in messages] == ["{}"]


def _sns(world: AwsWorld, throttle: Throttle) -> None:
    from tasks.notify.sns import apply_publish, sns_client

    arn = throttle.session.client("sns").create_topic(Name="finops-throttled")["TopicArn"]
    throttle.operation("sns", "Publish")
    assert apply_publish(sns_client(arn, throttle.session), arn, {"type": "t"}, "FinOps")


CASES: dict[str, Case] = {
    "ec2 read (DescribeVolumes)": _ec2_read,
    "ec2 write (CreateTags)": _ec2_write,
    "sts AssumeRole into a member account": _sts_assume_role,
    "cloudwatch GetMetricStatistics": _cloudwatch,
    "elbv2 DescribeLoadBalancers": _elb,
    "rds DescribeDBInstances": _rds,
    "s3 ListBuckets": _s3,
    "budgets DescribeBudgets": _budgets,
    "sqs ReceiveMessage": _sqs,
    "sns Publish": _sns,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_throttled_call_is_retried_and_answers(
    case: str, remediation_aws: AwsWorld, throttle: Throttle
) -> None:
    CASES[case](remediation_aws, throttle)
    assert len(throttle.seen) == THROTTLED_TIMES, f"{case}: throttled {throttle.seen}"
