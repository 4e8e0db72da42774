"""The event path: SQS message -> AWS event -> Prefect event -> deployment trigger -> flow run.

Classification is tested on the message shapes AWS sends; the listener against the sandbox's SQS
(moto); the whole path against a local Prefect server with the deployments and their triggers
registered by `prefect deploy` from deployments/prefect.local.yaml.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tasks.events.classify import AwsEvent, EventKind, UnclassifiedMessage, classify
from tasks.events.emit import event_id, prefect_event_fields
from tasks.events.listen import ListenerConfig, handle_batch, run_listener
from tasks.events.respond import plan_response
from tasks.events.sqs import REASON_ATTRIBUTE, region_of_queue
from tests.plugins.sandbox import SandboxHandle

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
TOPIC = "arn:aws:sns:us-east-1:111122223333:finops-events"

BUDGET_TEXT = """AWS Budget Notification November 26, 2026
AWS Account 111122223333

Dear AWS Customer,

You requested that we alert you when the ACTUAL Cost associated with your finops-daily budget is
greater than $1,000.00 for the current day. The ACTUAL Cost associated with this budget is
$1,234.56. You can find additional details below and by accessing the AWS Budgets dashboard.

Budget Name: finops-daily
Budget Type: Cost
Budgeted Amount: $1,000.00
Alert Type: ACTUAL
Alert Threshold: > $1,000.00
ACTUAL Amount: $1,234.56
"""


def sns_envelope(message: str, subject: str = "") -> str:
    """The body SQS holds for an SNS notification (raw delivery off)."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": TOPIC,
            "Subject": subject,
            "Message": message,
            "Timestamp": "2026-11-26T09:29:58.123Z",
            "SignatureVersion": "1",
        }
    )


BUDGET_BODY = sns_envelope(
    BUDGET_TEXT, "AWS Budgets: finops-daily has exceeded your alert threshold"
)
ANOMALY_BODY = sns_envelope(
    json.dumps(
        {
            "accountId": "111122223333",
            "anomalyDetailsLink": "https://console.aws.amazon.com/cost-management/home#/anomaly-detection/monitors/abc/anomalies/def",
            "anomalyEndDate": "2026-11-25T00:00:00Z",
            "anomalyId": "def-123",
            "anomalyStartDate": "2026-11-24T00:00:00Z",
            "dimensionalValue": "Amazon Elastic Compute Cloud - Compute",
            "impact": {
                "maxImpact": 412.5,
                "totalActualSpend": 1650.0,
                "totalExpectedSpend": 825.0,
                "totalImpact": 825.0,
                "totalImpactPercentage": 100.0,
            },
            "monitorArn": "arn:aws:ce::111122223333:anomalymonitor/abc",
            "rootCauses": [
                {
                    "linkedAccount": "444455556666",
                    "linkedAccountName": "prod",
                    "region": "eu-west-1",
                    "service": "Amazon Elastic Compute Cloud - Compute",
                    "usageType": "EU-BoxUsage:m5.4xlarge",
                }
            ],
            "subscriptionId": "sub-1",
            "subscriptionName": "finops-anomalies",
        }
    )
)
EC2_BODY = json.dumps(
    {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "444455556666",
        "time": "2026-11-26T09:12:01Z",
        "region": "eu-west-1",
        "resources": ["arn:aws:ec2:eu-west-1:444455556666:instance/i-0abcd1234ef567890"],
        "detail": {"instance-id": "i-0abcd1234ef567890", "state": "stopped"},
    }
)
EBS_BODY = json.dumps(
    {
        "version": "0",
        "id": "01234567-0123-0123-0123-012345678901",
        "detail-type": "EBS Volume Notification",
        "source": "aws.ec2",
        "account": "444455556666",
        "time": "2026-11-26T09:13:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:ec2:us-east-1:444455556666:volume/vol-01234567"],
        "detail": {
            "result": "available",
            "cause": "",
            "event": "createVolume",
            "request-id": "01234567-0123-0123-0123-0123456789ab",
        },
    }
)


# --- classification (pure) ---------------------------------------------------------------------


def test_budget_alert_through_sns() -> None:
    event = classify(BUDGET_BODY, NOW)
    assert event.kind is EventKind.BUDGET_ALERT
    assert event.event_name == "finops.aws.budget.alert"
    assert (event.resource_id, event.account_id) == ("finops-daily", "111122223333")
    assert event.amounts == {
        "budgeted_usd": "1000.00",
        "threshold_usd": "1000.00",
        "actual_usd": "1234.56",
    }
    assert event.time == datetime(2026, 11, 26, 9, 29, 58, 123000, tzinfo=UTC)
    assert event.date == date(2026, 11, 26)
    # Raw delivery (the bare text, no envelope) gives the same event.
    assert classify(BUDGET_TEXT, NOW).resource_id == "finops-daily"


def test_cost_anomaly_through_sns() -> None:
    event = classify(ANOMALY_BODY, NOW)
    assert event.kind is EventKind.COST_ANOMALY
    assert event.resource_id == "def-123"
    assert event.date == date(2026, 11, 24)
    assert event.region == "eu-west-1"
    assert event.amounts["impact_usd"] == "825.0"
    assert event.detail["root_causes"][0]["usageType"] == "EU-BoxUsage:m5.4xlarge"


def test_eventbridge_ec2_and_ebs_events() -> None:
    ec2 = classify(EC2_BODY, NOW)
    assert (ec2.kind, ec2.resource_id, ec2.account_id, ec2.region) == (
        EventKind.EC2_STATE_CHANGE,
        "i-0abcd1234ef567890",
        "444455556666",
        "eu-west-1",
    )
    assert ec2.summary == "i-0abcd1234ef567890 stopped"
    ebs = classify(EBS_BODY, NOW)
    assert (ebs.kind, ebs.resource_id) == (EventKind.EBS_VOLUME, "vol-01234567")
    assert ebs.summary == "vol-01234567 createVolume (available)"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "empty message body"),
        ("{not json", "message body is not JSON"),
        ("[1, 2]", "JSON but not an object"),
        ('{"hello": "world"}', "unknown message: neither an SNS notification"),
        ("Lunch is at noon.", "not an AWS Budgets notification"),
        (
            json.dumps({"source": "aws.s3", "detail-type": "Object Created", "detail": {}}),
            "unknown EventBridge detail-type 'Object Created'",
        ),
        (
            json.dumps(
                {
                    "source": "aws.ec2",
                    "detail-type": "EC2 Instance State-change Notification",
                    "account": "nope",
                    "region": "us-east-1",
                    "detail": {"instance-id": "i-1", "state": "stopped"},
                }
            ),
            "has no 12-digit account",
        ),
        (sns_envelope('{"foo": 1}'), "is unknown JSON"),
        (
            json.dumps(
                {
                    "Type": "SubscriptionConfirmation",
                    "TopicArn": TOPIC,
                    "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
                }
            ),
            f"SNS SubscriptionConfirmation from {TOPIC}: confirm it by opening its SubscribeURL",
        ),
        (
            sns_envelope(json.dumps({"anomalyId": "a", "anomalyStartDate": "yesterday"})),
            "not a date",
        ),
    ],
)
def test_malformed_or_unknown_messages_say_why(body: str, reason: str) -> None:
    with pytest.raises(UnclassifiedMessage, match=re.escape(reason)):
        classify(body, NOW)


def test_prefect_event_is_stable_per_message() -> None:
    event = classify(EC2_BODY, NOW)
    fields = prefect_event_fields(event, "msg-1")
    assert fields["event"] == "finops.aws.ec2.state-change"
    assert fields["resource"]["prefect.resource.id"] == "aws.ec2.state-change.i-0abcd1234ef567890"
    assert fields["id"] == event_id("msg-1") != event_id("msg-2")
    assert (
        AwsEvent.model_validate(
            {k: v for k, v in fields["payload"].items() if k != "sqs_message_id"}
        )
        == event
    )


def test_responses_narrow_the_work_to_what_changed() -> None:
    assert plan_response(classify(BUDGET_BODY, NOW)).parameters == {"date": "2026-11-26"}
    scan = plan_response(classify(EC2_BODY, NOW))
    assert scan.flow == "scan-idle-resources"
    assert scan.parameters == {
        "checks": ["ec2-stopped"],
        "accounts": ["444455556666"],
        "regions": ["eu-west-1"],
    }
    pending = json.loads(EC2_BODY)
    pending["detail"]["state"] = "pending"
    assert plan_response(classify(json.dumps(pending), NOW)).flow == ""


def test_region_of_queue() -> None:
    assert region_of_queue("https://sqs.eu-west-1.amazonaws.com/1/q") == "eu-west-1"
    assert region_of_queue("http://127.0.0.1:5000/123456789012/q") == "us-east-1"


# --- the listener against the sandbox's SQS ----------------------------------------------------


class RecordingEmitter:
    """An emitter that keeps what it was given (or fails, to show nothing is then deleted)."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.emitted: list[tuple[AwsEvent, str]] = []

    def emit(self, events: Sequence[tuple[AwsEvent, str]]) -> None:
        if self.fail and events:
            raise ConnectionError("Prefect API unreachable")
        self.emitted.extend(events)


@pytest.fixture
def queues(sandbox_env: SandboxHandle) -> tuple[Any, ListenerConfig]:
    """A fresh queue and dead-letter queue in the sandbox (this test's own)."""
    sqs = sandbox_env.client("sqs")
    name = f"finops-events-{uuid.uuid4().hex[:8]}"
    dead = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    config = ListenerConfig(
        queue_url=queue, dead_letter_queue_url=dead, wait_time_s=1, visibility_timeout_s=30
    )
    return sqs, config


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            return found
        found.extend(batch)
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_listener_emits_good_messages_and_dead_letters_the_rest(
    queues: tuple[Any, ListenerConfig],
) -> None:
    sqs, config = queues
    bodies = [BUDGET_BODY, ANOMALY_BODY, EC2_BODY, EBS_BODY, "garbage {", '{"Type": "x"}']
    for body in bodies:
        sqs.send_message(QueueUrl=config.queue_url, MessageBody=body)
    emitter = RecordingEmitter()
    totals = run_listener(sqs, config, emitter, max_polls=3)
    assert (totals.received, totals.emitted, totals.dead_lettered) == (6, 4, 2)
    assert sorted(e.event_name for e, _ in emitter.emitted) == [
        "finops.aws.budget.alert",
        "finops.aws.cost-anomaly.detected",
        "finops.aws.ebs.volume",
        "finops.aws.ec2.state-change",
    ]
    # None lost: the queue is empty, the two bad ones wait in the DLQ with their reasons.
    assert _drain(sqs, config.queue_url) == []
    dead = _drain(sqs, config.dead_letter_queue_url)
    assert sorted(m["Body"] for m in dead) == sorted(["garbage {", '{"Type": "x"}'])
    reasons = {m["Body"]: m["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"] for m in dead}
    assert reasons["garbage {"] == "text message is not an AWS Budgets notification"
    assert reasons['{"Type": "x"}'].startswith("unknown message")


def test_nothing_is_deleted_when_emitting_fails(queues: tuple[Any, ListenerConfig]) -> None:
    sqs, config = queues
    sqs.send_message(QueueUrl=config.queue_url, MessageBody=EC2_BODY)
    hidden_briefly = ListenerConfig(
        config.queue_url, config.dead_letter_queue_url, wait_time_s=1, visibility_timeout_s=0
    )
    messages = []
    from tasks.events.sqs import get_messages

    messages = get_messages(sqs, config.queue_url, 10, 1, 0)
    assert len(messages) == 1
    with pytest.raises(ConnectionError):
        handle_batch(sqs, hidden_briefly, messages, RecordingEmitter(fail=True))
    # The loop survives an outage: it counts the failed batch and keeps the message.
    failing = run_listener(sqs, hidden_briefly, RecordingEmitter(fail=True), max_polls=1)
    assert (failing.received, failing.emitted, failing.failed_batches) == (1, 0, 1)
    # Still there for the next poll (visibility timeout 0), and delivered then.
    emitter = RecordingEmitter()
    totals = run_listener(sqs, hidden_briefly, emitter, max_polls=2)
    assert totals.emitted == 1 and emitter.emitted[0][1] == messages[0].message_id


# --- end to end: queue -> listener -> Prefect event -> trigger -> flow run ----------------------


def _deploy_local(api_url: str) -> None:
    env = {
        **os.environ,
        "PREFECT_API_URL": api_url,
        "PREFECT_CLI_PROMPT": "false",
        "PWD": str(ROOT),
    }
    prefect = str(Path(sys.executable).with_name("prefect"))
    for args in (
        ["work-pool", "create", "finops-local", "--type", "process", "--overwrite"],
        ["deploy", "--all", "--prefect-file", "deployments/prefect.local.yaml"],
    ):
        result = subprocess.run(
            [prefect, "--no-prompt", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"


def wait_for_flow_run(deployment_id: uuid.UUID, wanted: Callable[[dict[str, Any]], bool]) -> Any:
    """The flow run the trigger created (polls the API; triggers act asynchronously)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    deadline = time.monotonic() + 120
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            )
            matching = [r for r in runs if wanted(r.parameters)]
            if matching:
                return matching[0]
            time.sleep(0.5)
    raise AssertionError(f"no matching flow run of deployment {deployment_id}")


def test_budget_alert_in_the_queue_starts_the_anomaly_flow(
    prefect_harness: None,
    queues: tuple[Any, ListenerConfig],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    from finops.cli import app

    _deploy_local(str(PREFECT_API_URL.value()))
    with get_client(sync_client=True) as client:
        anomalies = client.read_deployment_by_name("check-cost-anomalies/check-cost-anomalies")
        handler = client.read_deployment_by_name("handle-aws-event/handle-aws-event")
    sqs, config = queues
    sqs.send_message(QueueUrl=config.queue_url, MessageBody=BUDGET_BODY)
    sqs.send_message(QueueUrl=config.queue_url, MessageBody=EC2_BODY)
    sqs.send_message(QueueUrl=config.queue_url, MessageBody="definitely not an AWS event")
    monkeypatch.setenv("FINOPS_EVENTS__QUEUE_URL", config.queue_url)
    monkeypatch.setenv("FINOPS_EVENTS__DEAD_LETTER_QUEUE_URL", config.dead_letter_queue_url)
    result = CliRunner().invoke(app, ["listen", "--once", "--wait-time-s", "2"])
    assert result.exit_code == 0, result.output
    assert "received 3, emitted 2, dead-lettered 1" in result.output

    # The trigger passed the day of the alert (the SNS timestamp's day) to the anomaly flow.
    run = wait_for_flow_run(anomalies.id, lambda p: p == {"date": "2026-11-26"})
    assert run.flow_id == anomalies.flow_id
    # The handler got the whole typed event as its parameter.
    expected = classify(EC2_BODY, NOW).model_dump(mode="json")
    handled = wait_for_flow_run(
        handler.id,
        lambda p: (
            {k: v for k, v in p.get("event", {}).items() if k != "sqs_message_id"} == expected
        ),
    )
    assert handled.parameters["event"]["sqs_message_id"]
    dead = _drain(sqs, config.dead_letter_queue_url)
    assert [m["Body"] for m in dead] == ["definitely not an AWS event"]
    assert _drain(sqs, config.queue_url) == []


def test_listen_without_a_queue_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from finops.cli import app

    monkeypatch.delenv("FINOPS_EVENTS__QUEUE_URL", raising=False)
    monkeypatch.delenv("FINOPS_EVENTS__DEAD_LETTER_QUEUE_URL", raising=False)
    result = CliRunner().invoke(app, ["listen", "--once"])
    assert result.exit_code == 2
    assert "set FINOPS_EVENTS__QUEUE_URL and FINOPS_EVENTS__DEAD_LETTER_QUEUE_URL" in result.output
    result = CliRunner().invoke(
        app, ["listen", "--queue-url", "q", "--dead-letter-queue-url", "d", "--wait-time-s", "30"]
    )
    assert result.exit_code == 2
    assert "SQS long polls wait 0 to 20 seconds" in result.output
