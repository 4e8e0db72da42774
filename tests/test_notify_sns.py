"""The SNS summary, published to a moto server and read back through a subscribed SQS queue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tasks.notify.deliver import build_channels, deliver_pending
from tasks.notify.outbox import Outbox
from tasks.notify.plan import PlanOptions, plan_report
from tasks.notify.secrets import resolve_secrets
from tasks.notify.texts import template_summary
from tasks.settings import NotifySettings
from tests.plugins.fake_services import sample_digest


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    try:
        yield boto3.Session(region_name="eu-west-1")
    finally:
        server.stop()


def _topic_with_queue(session: boto3.Session) -> tuple[str, Any, str]:
    sns = session.client("sns")
    sqs = session.client("sqs")
    topic_arn = sns.create_topic(Name="finops-reports")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="finops-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return topic_arn, sqs, queue_url


def test_the_daily_summary_reaches_a_subscriber_once(aws: boto3.Session, tmp_path: Path) -> None:
    topic_arn, sqs, queue_url = _topic_with_queue(aws)
    settings = NotifySettings(sns_topic_arn=topic_arn)  # type: ignore[call-arg]
    channels = build_channels(settings, resolve_secrets(settings))
    outbox = Outbox(f"sqlite:///{tmp_path / 'findings.db'}")
    digest = sample_digest(findings=3, anomalies=1)
    messages = plan_report(digest, template_summary(digest), {}, PlanOptions())

    for _ in range(2):  # the second run is a rerun: nothing is published twice
        outbox.enqueue(messages, channels.enabled)
        deliver_pending(outbox, channels)

    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert len(received) == 1
    envelope = json.loads(received[0]["Body"])
    summary = json.loads(envelope["Message"])
    assert envelope["Subject"] == "FinOps summary 2026-11-25"
    assert summary["type"] == "finops.daily_summary" and summary["date"] == "2026-11-25"
    assert summary["spend_usd"] == "1234.56" and summary["currency"] == "USD"
    assert summary["findings"] == {"count": 3, "monthly_savings_usd": "27.00", "unknown_price": 0}
    assert summary["anomalies"][0]["impact_usd"] == "400.00"
    assert [b["status"] for b in summary["budgets"]] == ["exceeded", "warning"]
    stored = outbox.get("sns|summary|2026-11-25")
    assert stored is not None and stored.result["message_id"] == envelope["MessageId"]


def test_a_missing_topic_is_a_permanent_failure(aws: boto3.Session, tmp_path: Path) -> None:
    missing = "arn:aws:sns:eu-west-1:123456789012:no-such-topic"
    settings = NotifySettings(sns_topic_arn=missing)  # type: ignore[call-arg]
    channels = build_channels(settings, resolve_secrets(settings))
    outbox = Outbox(f"sqlite:///{tmp_path / 'findings.db'}")
    digest = sample_digest(findings=0, anomalies=0)
    messages = [m for m in plan_report(digest, "s", {}, PlanOptions()) if m.channel == "sns"]
    outbox.enqueue(messages, channels.enabled)
    report = deliver_pending(outbox, channels)
    assert report.failed == ["sns|summary|2026-11-25"]
    assert "NotFound" in report.errors["sns|summary|2026-11-25"]
