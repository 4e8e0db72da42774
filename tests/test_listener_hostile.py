"""The listener against hostile or broken messages: one message can never stall or stop it.

Classification is pure, so most cases are plain calls to ``classify``; the time bound runs in a
child process so that a regression (a backtracking pattern) fails the test instead of hanging the
suite.  Batch behaviour runs against the sandbox's SQS (moto), like ``tests/test_listener.py``:
each message of a batch is settled on its own, whatever its neighbours do.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tasks.events.classify import AwsEvent, UnclassifiedMessage, classify
from tasks.events.listen import ListenerConfig, handle_batch, run_listener
from tasks.events.sqs import REASON_ATTRIBUTE, get_messages
from tasks.events.untrusted import MAX_BODY_BYTES, MAX_JSON_DEPTH, json_depth
from tests.plugins.sandbox import SandboxHandle
from tests.test_listener import (
    ANOMALY_BODY,
    BUDGET_BODY,
    EBS_BODY,
    EC2_BODY,
    RecordingEmitter,
    sns_envelope,
)

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def refused(body: str) -> str:
    """The reason ``classify`` gives for refusing ``body`` (fails the test if it accepts it)."""
    with pytest.raises(UnclassifiedMessage) as caught:
        classify(body, NOW)
    return str(caught.value)


def changed(body: str, path: Sequence[str], value: Any) -> str:
    """``body`` (JSON) with the value at ``path`` replaced (``...`` deletes the key)."""
    document = json.loads(body)
    target = document
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(document)


def anomaly(**impact: Any) -> str:
    """The Cost Anomaly Detection notification of ``ANOMALY_BODY`` with other impact figures."""
    inner = json.loads(json.loads(ANOMALY_BODY)["Message"])
    inner["impact"].update(impact)
    return sns_envelope(json.dumps(inner))  # json.dumps writes NaN and Infinity as JS does


# --- bounded parsing: size and depth -----------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000,
        '{"a": ' * 40_000,
        # Deep inside an otherwise good EventBridge event, and inside an SNS envelope's Message.
        changed(EC2_BODY, ["detail", "extra"], json.loads("[" * 70 + "]" * 70)),
        sns_envelope('{"a": ' * 30_000),
    ],
    ids=["arrays", "objects", "deep-detail", "deep-sns-message"],
)
def test_deep_nesting_is_refused_before_parsing(body: str) -> None:
    assert f"deeper than {MAX_JSON_DEPTH} levels" in refused(body)


def test_depth_limit_is_exact_and_counts_no_brackets_inside_strings() -> None:
    at_limit = '{"a": ' * (MAX_JSON_DEPTH - 1) + "[]" + "}" * (MAX_JSON_DEPTH - 1)
    assert json_depth(at_limit) == MAX_JSON_DEPTH
    assert "unknown message" in refused(at_limit)  # parsed, then refused for what it is
    over = "[" + at_limit + "]"
    assert json_depth(over) == MAX_JSON_DEPTH + 1
    # Brackets and escaped quotes inside strings are text, not nesting.
    text = json.dumps({"detail": {"note": '[[[{{{ "\\" ]]' * 1000}})
    assert json_depth(text) == 2
    assert json_depth('"unterminated \\') == 0


def test_bodies_larger_than_sqs_allows_are_refused_unread() -> None:
    assert f"over the {MAX_BODY_BYTES:,} bytes" in refused("budget " + "x" * MAX_BODY_BYTES)
    # Bytes, not characters: 140,000 two-byte characters are 280,000 bytes.
    assert "280,000 bytes" in refused("é" * 140_000)
    # A body of exactly the limit is read (and judged on its content).
    padded = BUDGET_BODY + " " * (MAX_BODY_BYTES - len(BUDGET_BODY.encode()))
    assert classify(padded, NOW).resource_id == "finops-daily"


def test_json_constants_and_overflowing_numbers_are_not_json() -> None:
    assert "NaN" in refused('{"anomalyId": "a", "impact": {"totalImpact": NaN}}')
    assert "not finite" in refused('{"anomalyId": "a", "impact": {"totalImpact": 1e400}}')
    # Anywhere in the document, not only in the amounts the classifier reads.
    assert "Infinity" in refused(changed(EC2_BODY, ["detail", "x"], float("inf")))


# --- linear time -------------------------------------------------------------------------------

#: Bodies that made the old field and subject patterns backtrack: a long run of spaces where the
#: pattern can split it several ways (2,000 characters took 2.5-10 s; 5,000 took minutes).
HOSTILE_TEXT = textwrap.dedent(
    """
    import json, sys, time
    from datetime import UTC, datetime
    from tasks.events.classify import UnclassifiedMessage, classify

    n = int(sys.argv[1])
    spaces = " " * n
    def envelope(message, subject=""):
        return json.dumps({"Type": "Notification", "Subject": subject, "Message": message,
                           "TopicArn": "arn:aws:sns:us-east-1:111122223333:finops-events"})
    bodies = {
        "a line of spaces": "budget\\n" + spaces + "x",
        "spaces around a colon": "budget\\n" + spaces + "x" + spaces + ":",
        "a value's trailing spaces": "Budget Name: a" + spaces + "b",
        "a subject of spaces": envelope("budget", "AWS Budgets: a" + spaces + "x"),
        "many short lines": "budget\\n" + "Budget Name:   \\n" * (n // 16),
        "account and money": "budget AWS Account" + spaces + "\\nActual Amount: $" + spaces,
        "brackets for the depth scan": "[]" * (n // 2),
        "escapes for the depth scan": '["' + "\\\\" * (n // 2) + '"]',
    }
    times = {}
    for name, body in bodies.items():
        start = time.perf_counter()
        try:
            classify(body, datetime.now(UTC))
        except UnclassifiedMessage:
            pass
        times[name] = time.perf_counter() - start
    print(json.dumps(times))
    """
)


def test_classification_is_linear_in_the_body() -> None:
    # 200 KB per body; the old patterns would take hours here, so a child process that is killed
    # after a minute turns a regression into a failure, not a hung suite.
    result = subprocess.run(
        [sys.executable, "-c", HOSTILE_TEXT, str(200_000)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    times = json.loads(result.stdout)
    slow = {name: round(seconds, 3) for name, seconds in times.items() if seconds >= 1.0}
    assert not slow, f"classification of 200 KB took a second or more: {slow}"


def test_budget_fields_parse_line_by_line_as_before() -> None:
    text = (
        "budget\r\nBudget Name:  team-a  \r\n  Budgeted Amount : $2,000.50\nnot a field\nNote: a: b"
    )
    event = classify(text, NOW)
    assert event.resource_id == "team-a"
    assert event.amounts == {"budgeted_usd": "2000.50"}
    assert event.detail["fields"] == {
        "budget name": "team-a",
        "budgeted amount": "$2,000.50",
        "note": "a: b",
    }
    # The subject names the budget when no "Budget Name:" line does.
    subject = "AWS Budgets: team-b   has exceeded your alert threshold"
    assert classify(sns_envelope("budget alert", subject), NOW).resource_id == "team-b"


# --- types and shapes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # EBS: the volume comes from the resources ARN list, which must be a list of strings.
        (
            changed(
                EBS_BODY, ["resources"], "arn:aws:ec2:us-east-1:444455556666:volume/vol-0123abcd"
            ),
            "resources is not a list of strings",
        ),
        (changed(EBS_BODY, ["resources"], [{"arn": "x"}]), "resources is not a list of strings"),
        (
            changed(EBS_BODY, ["resources"], ["arn:aws:ec2:us-east-1:4444:instance/i-0123abcd"]),
            "names no EBS volume",
        ),
        (changed(EBS_BODY, ["resources"], ...), "names no EBS volume"),
        # EC2: the instance id must be a string shaped like one.
        (
            changed(EC2_BODY, ["detail", "instance-id"], {"id": "i-0abcd1234ef567890"}),
            "instance-id {'id': 'i-0abcd1234ef567890'} is not an EC2 instance id",
        ),
        (changed(EC2_BODY, ["detail", "instance-id"], "i-../../etc"), "is not an EC2 instance id"),
        (changed(EC2_BODY, ["detail", "instance-id"], ...), "is not an EC2 instance id"),
        (changed(EC2_BODY, ["detail", "state"], ["stopped"]), "state ['stopped'] is not a string"),
        (changed(EC2_BODY, ["account"], 444455556666), "has no 12-digit account"),
        (changed(EC2_BODY, ["region"], {"name": "eu-west-1"}), "is not an AWS region"),
        (changed(EC2_BODY, ["region"], "eu-west-1; drop"), "is not an AWS region"),
        (changed(EC2_BODY, ["source"], ["aws.ec2"]), "source ['aws.ec2'] is not a string"),
        (changed(EC2_BODY, ["time"], 1764148321), "time 1764148321 is not an ISO 8601 string"),
        (changed(EC2_BODY, ["detail"], ["instance-id"]), "without a detail object"),
        # Cost anomalies: amounts are finite numbers, ids and accounts strings of their shape.
        (anomaly(totalImpact=float("nan")), "NaN"),
        (anomaly(maxImpact=float("inf")), "Infinity"),
        (anomaly(totalImpact=float("-inf")), "-Infinity"),
        (anomaly(totalImpact="NaN"), "impact totalImpact 'NaN' is not a finite number"),
        (anomaly(totalImpact="Infinity"), "impact totalImpact 'Infinity' is not a finite number"),
        (anomaly(totalImpact=[825]), "impact totalImpact [825] is not a finite number"),
        (anomaly(totalImpact=True), "impact totalImpact True is not a finite number"),
        (sns_envelope(json.dumps({"anomalyId": {"id": 1}})), "without an anomalyId"),
        (sns_envelope(json.dumps({"anomalyId": "a b/c"})), "anomalyId 'a b/c' is not"),
        (sns_envelope(json.dumps({"anomalyId": "a", "impact": 5})), "impact is not an object"),
        (sns_envelope(json.dumps({"anomalyId": "a", "accountId": 1})), "accountId 1 is not"),
        (sns_envelope(json.dumps({"anomalyId": "a", "rootCauses": "x"})), "rootCauses is not"),
        (
            sns_envelope(json.dumps({"anomalyId": "a", "anomalyStartDate": 20261124})),
            "anomalyStartDate 20261124 is not a date",
        ),
        # Budgets: a dollar field must hold a dollar amount; the name must be a budget's name.
        (
            "budget\nBudget Name: daily\nActual Amount: $NaN",
            "budget actual amount '$NaN' is not a dollar amount",
        ),
        ("budget\nBudget Name: daily\nBudgeted Amount: $Infinity", "is not a dollar amount"),
        ("budget\nBudget Name: " + "x" * 101, "is not an AWS Budgets name"),
        ("budget\nBudget Name: a:b", "is not an AWS Budgets name"),
        # The SNS envelope's own fields.
        (
            json.dumps({"Type": "Notification", "Message": "budget", "Subject": ["AWS Budgets"]}),
            "SNS Subject ['AWS Budgets'] is not a string",
        ),
        (
            json.dumps({"Type": "Notification", "Message": "budget", "TopicArn": 7}),
            "SNS TopicArn 7 is not a string",
        ),
    ],
)
def test_wrong_types_and_shapes_are_refused_with_the_reason(body: str, reason: str) -> None:
    assert reason in refused(body)


def test_the_good_shapes_still_pass() -> None:
    ebs = json.loads(EBS_BODY)
    # An attach event lists the instance too; the volume is the resource, wherever it is listed.
    ebs["resources"] = [
        "arn:aws:ec2:us-east-1:444455556666:instance/i-0123abcd",
        "arn:aws:ec2:us-east-1:444455556666:volume/vol-0123456789abcdef0",
    ]
    assert classify(json.dumps(ebs), NOW).resource_id == "vol-0123456789abcdef0"
    snapshot = changed(EBS_BODY, ["detail-type"], "EBS Snapshot Notification")
    snapshot = changed(snapshot, ["resources"], ["arn:aws:ec2::us-west-2:snapshot/snap-01234567"])
    assert classify(snapshot, NOW).resource_id == "snap-01234567"
    assert classify(anomaly(totalImpact="825.5"), NOW).amounts["impact_usd"] == "825.5"
    assert classify(anomaly(totalImpact=None), NOW).amounts.get("impact_usd") is None


def test_reasons_show_hostile_text_safely() -> None:
    reason = refused(json.dumps({"\u0000" + "k" * 10_000: 1, "Type": "x"}))
    assert reason.startswith("unknown message")
    assert "\u0000" not in reason and len(reason) < 400


# --- the batch: each message settled on its own ------------------------------------------------


@pytest.fixture
def queues(sandbox_env: SandboxHandle) -> tuple[Any, ListenerConfig]:
    """A fresh queue and dead-letter queue in the sandbox (this test's own)."""
    sqs = sandbox_env.client("sqs")
    name = f"finops-hostile-{uuid.uuid4().hex[:8]}"
    dead = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    config = ListenerConfig(
        queue_url=queue, dead_letter_queue_url=dead, wait_time_s=1, visibility_timeout_s=30
    )
    return sqs, config


def drain(sqs: Any, url: str) -> dict[str, str]:
    """Empty a queue; return its messages' bodies with their dead-letter reasons ('' if none)."""
    found: dict[str, str] = {}
    while True:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            return found
        for message in batch:
            reason = message.get("MessageAttributes", {}).get(REASON_ATTRIBUTE, {})
            found[message["Body"]] = reason.get("StringValue", "")
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def one_batch(sqs: Any, config: ListenerConfig, bodies: Sequence[str]) -> list[Any]:
    """Send ``bodies`` and receive them back as one batch (the listener's unit of work)."""
    for body in bodies:
        sqs.send_message(QueueUrl=config.queue_url, MessageBody=body)
    messages = get_messages(sqs, config.queue_url, 10, 1, 30)
    assert len(messages) == len(bodies)
    return messages


def test_a_deeply_nested_message_does_not_hold_back_its_batch(
    queues: tuple[Any, ListenerConfig],
) -> None:
    sqs, config = queues
    poison = "[" * 100_000
    messages = one_batch(sqs, config, [poison, BUDGET_BODY])
    emitter = RecordingEmitter()
    stats = handle_batch(sqs, config, messages, emitter)
    assert (stats.received, stats.emitted, stats.dead_lettered, stats.kept) == (2, 1, 1, 0)
    assert [e.event_name for e, _ in emitter.emitted] == ["finops.aws.budget.alert"]
    assert drain(sqs, config.queue_url) == {}
    dead = drain(sqs, config.dead_letter_queue_url)
    assert list(dead) == [poison]
    assert f"deeper than {MAX_JSON_DEPTH} levels" in dead[poison]


def test_wrong_types_are_dead_lettered_beside_good_messages(
    queues: tuple[Any, ListenerConfig],
) -> None:
    sqs, config = queues
    string_resources = changed(EBS_BODY, ["resources"], "arn:aws:ec2:us-east-1:1:volume/vol-1")
    object_id = changed(EC2_BODY, ["detail", "instance-id"], {"id": "i-0abcd1234ef567890"})
    nan_impact = anomaly(totalImpact=float("nan"))
    key_with_nul = json.dumps({"\u0000": 1})
    bad = [string_resources, object_id, nan_impact, key_with_nul]
    for body in [*bad, EC2_BODY, EBS_BODY]:
        sqs.send_message(QueueUrl=config.queue_url, MessageBody=body)
    emitter = RecordingEmitter()
    totals = run_listener(sqs, config, emitter, max_polls=3)
    assert (totals.received, totals.emitted, totals.dead_lettered, totals.kept) == (6, 2, 4, 0)
    assert sorted((e.event_name, e.resource_id) for e, _ in emitter.emitted) == [
        ("finops.aws.ebs.volume", "vol-01234567"),
        ("finops.aws.ec2.state-change", "i-0abcd1234ef567890"),
    ]
    dead = drain(sqs, config.dead_letter_queue_url)
    assert set(dead) == set(bad)
    assert "resources is not a list of strings" in dead[string_resources]
    assert "is not an EC2 instance id" in dead[object_id]
    assert "NaN" in dead[nan_impact]
    assert dead[key_with_nul].startswith("unknown message")
    assert drain(sqs, config.queue_url) == {}


def test_an_unexpected_error_classifying_one_message_is_that_message_s_alone(
    queues: tuple[Any, ListenerConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.events import listen

    def classify_or_crash(body: str, received_at: datetime) -> AwsEvent:
        if body == "crash":
            raise RuntimeError("a bug in the classifier")
        return classify(body, received_at)

    monkeypatch.setattr(listen, "classify", classify_or_crash)
    sqs, config = queues
    messages = one_batch(sqs, config, ["crash", EC2_BODY])
    emitter = RecordingEmitter()
    stats = handle_batch(sqs, config, messages, emitter)
    assert (stats.emitted, stats.dead_lettered) == (1, 1)
    dead = drain(sqs, config.dead_letter_queue_url)
    assert dead == {"crash": "classifying failed (RuntimeError: a bug in the classifier)"}
    assert drain(sqs, config.queue_url) == {}


class PickyEmitter(RecordingEmitter):
    """Refuses every batch holding the event of one resource, as an API rejecting one event."""

    def __init__(self, refused_resource: str) -> None:
        super().__init__()
        self.refused_resource = refused_resource
        self.calls = 0

    def emit(self, events: Sequence[tuple[AwsEvent, str]]) -> None:
        self.calls += 1
        if any(event.resource_id == self.refused_resource for event, _ in events):
            raise ValueError(f"event for {self.refused_resource} rejected")
        super().emit(events)


def test_an_event_that_cannot_be_emitted_is_dead_lettered_alone(
    queues: tuple[Any, ListenerConfig],
) -> None:
    sqs, config = queues
    messages = one_batch(sqs, config, [BUDGET_BODY, EC2_BODY, EBS_BODY])
    emitter = PickyEmitter("i-0abcd1234ef567890")
    stats = handle_batch(sqs, config, messages, emitter)
    assert (stats.emitted, stats.dead_lettered, stats.kept) == (2, 1, 0)
    assert sorted(e.resource_id for e, _ in emitter.emitted) == ["finops-daily", "vol-01234567"]
    dead = drain(sqs, config.dead_letter_queue_url)
    assert dead == {
        EC2_BODY: "emitting failed while the rest of its batch went through "
        "(ValueError: event for i-0abcd1234ef567890 rejected)"
    }
    assert drain(sqs, config.queue_url) == {}


def test_an_outage_still_keeps_the_whole_batch_and_reports_the_refused(
    queues: tuple[Any, ListenerConfig],
) -> None:
    sqs, config = queues
    messages = one_batch(sqs, config, [BUDGET_BODY, EC2_BODY, "not an event"])
    with pytest.raises(ConnectionError):
        handle_batch(sqs, config, messages, RecordingEmitter(fail=True))
    # The refused one is settled regardless; the good ones wait for the API to come back.
    assert list(drain(sqs, config.dead_letter_queue_url)) == ["not an event"]
    hidden_briefly = ListenerConfig(
        config.queue_url, config.dead_letter_queue_url, wait_time_s=1, visibility_timeout_s=0
    )
    sqs.change_message_visibility_batch(
        QueueUrl=config.queue_url,
        Entries=[
            {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}
            for i, m in enumerate(messages[:2])
        ],
    )
    failing = run_listener(sqs, hidden_briefly, RecordingEmitter(fail=True), max_polls=1)
    assert (failing.received, failing.emitted, failing.kept, failing.failed_batches) == (2, 0, 2, 1)
    assert len(drain(sqs, config.queue_url)) == 2


class FlakyDeadLetters:
    """The sandbox's SQS client, except that dead-lettering one given body fails."""

    def __init__(self, client: Any, failing_body: str) -> None:
        self.client = client
        self.failing_body = failing_body

    def send_message(self, **kwargs: Any) -> Any:
        if kwargs.get("MessageBody") == self.failing_body:
            raise ConnectionError("dead-letter queue unreachable")
        return self.client.send_message(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_a_message_that_cannot_be_dead_lettered_stays_for_the_redrive_policy(
    queues: tuple[Any, ListenerConfig],
) -> None:
    sqs, config = queues
    messages = one_batch(sqs, config, ["stuck", "not an event", EC2_BODY])
    emitter = RecordingEmitter()
    stats = handle_batch(FlakyDeadLetters(sqs, "stuck"), config, messages, emitter)
    assert (stats.emitted, stats.dead_lettered, stats.kept) == (1, 1, 1)
    assert list(drain(sqs, config.dead_letter_queue_url)) == ["not an event"]
    # Not deleted: it returns after the visibility timeout (SQS then moves it after
    # maxReceiveCount receives).
    sqs.change_message_visibility(
        QueueUrl=config.queue_url, ReceiptHandle=messages[0].receipt_handle, VisibilityTimeout=0
    )
    assert drain(sqs, config.queue_url) == {"stuck": ""}
