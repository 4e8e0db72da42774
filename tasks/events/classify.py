"""Classify one SQS message body into a typed AWS event, or say in one line why it cannot be.

Pure logic: no boto3, no Prefect.  The queue is fed two ways (see ``infra/``):

* **SNS** (AWS Budgets and Cost Anomaly Detection publish to the FinOps topic, which delivers to
  the queue): the body is the SNS envelope ``{"Type": "Notification", "Message": ...}``, or the
  bare message when the subscription uses raw delivery.  Budgets send plain text; Cost Anomaly
  Detection sends JSON.
* **EventBridge** rules (EC2 instance state changes, EBS volume and snapshot notifications)
  deliver the event itself: ``{"version": "0", "source": "aws.ec2", "detail-type": ...}``.

Anything else is :class:`UnclassifiedMessage`, which the listener sends to the dead-letter
queue with its reason.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

ACCOUNT_RE = re.compile(r"\b(\d{12})\b")
BUDGET_SUBJECT_RE = re.compile(r"AWS Budgets?:\s*(?P<name>.+?)\s+has exceeded", re.IGNORECASE)
#: "Budget Name: daily" style lines of the Budgets notification e-mail/SNS text.
BUDGET_FIELD_RE = re.compile(r"^\s*(?P<key>[A-Za-z ]+?)\s*:\s*(?P<value>.+?)\s*$", re.MULTILINE)
MONEY_RE = re.compile(r"\$\s*(?P<amount>[0-9][0-9,]*(?:\.[0-9]+)?)")


class EventKind(StrEnum):
    """What happened; the Prefect event name is ``finops.aws.<kind>``."""

    BUDGET_ALERT = "budget.alert"
    COST_ANOMALY = "cost-anomaly.detected"
    EC2_STATE_CHANGE = "ec2.state-change"
    EBS_VOLUME = "ebs.volume"
    EBS_SNAPSHOT = "ebs.snapshot"


class UnclassifiedMessage(ValueError):
    """The message is malformed or of an unknown kind; the text is the reason, one line."""


class AwsEvent(BaseModel):
    """One AWS notification, typed, as the flows receive it (the Prefect event's payload).

    Example:
        >>> AwsEvent(kind=EventKind.EC2_STATE_CHANGE, source="aws.ec2",
        ...          account_id="123456789012", region="us-east-1",
        ...          resource_id="i-0abc", time=datetime(2026, 11, 26, tzinfo=UTC),
        ...          date=date(2026, 11, 26)).event_name
        'finops.aws.ec2.state-change'
    """

    model_config = ConfigDict(frozen=True)

    kind: EventKind
    source: str
    account_id: str
    region: str
    resource_id: str
    time: datetime
    #: The day the event is about (the budget or anomaly day; the event's day otherwise).
    date: date
    summary: str = ""
    #: Amounts as strings of Decimal (USD), e.g. {"actual_usd": "1234.56"}.
    amounts: dict[str, str] = {}
    detail: dict[str, Any] = {}

    @property
    def event_name(self) -> str:
        return f"finops.aws.{self.kind.value}"


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError) as error:
        raise UnclassifiedMessage(f"{what} is not JSON ({error})") from None


def _when(value: Any, fallback: datetime) -> datetime:
    if not isinstance(value, str) or not value:
        return fallback
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UnclassifiedMessage(f"timestamp {value!r} is not ISO 8601") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _money(text: str) -> str | None:
    match = MONEY_RE.search(text)
    if not match:
        return None
    try:
        return str(Decimal(match["amount"].replace(",", "")))
    except InvalidOperation:
        return None


def classify(body: str, received_at: datetime) -> AwsEvent:
    """Turn an SQS message body into an :class:`AwsEvent`.

    Args:
        body: the message body as SQS delivered it.
        received_at: when the message was received (UTC); used when AWS gives no time.

    Raises:
        UnclassifiedMessage: malformed or unknown; the message says which and why.

    Example:
        >>> classify('{"version": "0", "source": "aws.ec2", "account": "123456789012",'
        ...          ' "region": "eu-west-1", "time": "2026-11-26T10:00:00Z",'
        ...          ' "detail-type": "EC2 Instance State-change Notification",'
        ...          ' "detail": {"instance-id": "i-1", "state": "stopped"}}',
        ...          datetime(2026, 11, 26, tzinfo=UTC)).resource_id
        'i-1'
    """
    if not body or not body.strip():
        raise UnclassifiedMessage("empty message body")
    stripped = body.lstrip()
    if not stripped.startswith(("{", "[")):
        # A raw-delivery SNS message from Budgets is plain text.
        return _budget_text(body, subject="", topic_arn="", sent_at=received_at)
    document = _json(body, "message body")
    if not isinstance(document, dict):
        raise UnclassifiedMessage("message body is JSON but not an object")
    if document.get("Type") in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        # Only a cross-account subscription needs this; a person confirms it once.
        raise UnclassifiedMessage(
            f"SNS {document['Type']} from {document.get('TopicArn', 'a topic')}: "
            "confirm it by opening its SubscribeURL (kept here in the message body)"
        )
    if document.get("Type") == "Notification" and "Message" in document:
        return _sns(document, received_at)
    if "detail-type" in document and "source" in document:
        return _eventbridge(document, received_at)
    if "anomalyId" in document:
        return _cost_anomaly(document, topic_arn="", sent_at=received_at)
    raise UnclassifiedMessage(
        "unknown message: neither an SNS notification nor an EventBridge event "
        f"(keys: {', '.join(sorted(document)[:6])})"
    )


def _sns(envelope: dict[str, Any], received_at: datetime) -> AwsEvent:
    message = envelope.get("Message")
    if not isinstance(message, str):
        raise UnclassifiedMessage("SNS notification without a text Message")
    topic_arn = str(envelope.get("TopicArn", ""))
    subject = str(envelope.get("Subject") or "")
    sent_at = _when(envelope.get("Timestamp"), received_at)
    if message.lstrip().startswith("{"):
        inner = _json(message, "SNS Message")
        if isinstance(inner, dict) and "anomalyId" in inner:
            return _cost_anomaly(inner, topic_arn, sent_at)
        if isinstance(inner, dict) and "detail-type" in inner and "source" in inner:
            return _eventbridge(inner, received_at)
        raise UnclassifiedMessage(
            f"SNS message from {topic_arn or 'unknown topic'} is unknown JSON"
        )
    return _budget_text(message, subject, topic_arn, sent_at)


def _budget_text(text: str, subject: str, topic_arn: str, sent_at: datetime) -> AwsEvent:
    fields = {m["key"].strip().lower(): m["value"] for m in BUDGET_FIELD_RE.finditer(text)}
    name = fields.get("budget name")
    if name is None:
        subject_match = BUDGET_SUBJECT_RE.search(subject)
        name = subject_match["name"] if subject_match else None
    if name is None or "budget" not in text.lower():
        raise UnclassifiedMessage("text message is not an AWS Budgets notification")
    amounts = {
        key: value
        for key, value in (
            ("budgeted_usd", _money(fields.get("budgeted amount", ""))),
            ("threshold_usd", _money(fields.get("alert threshold", ""))),
            ("actual_usd", _money(fields.get("actual amount", ""))),
            ("forecasted_usd", _money(fields.get("forecasted amount", ""))),
        )
        if value is not None
    }
    # The account is on an "AWS Account 123456789012" line (no colon) or in the topic ARN.
    account_line = re.search(r"AWS Account:?\s*(\d{12})", text, re.IGNORECASE)
    account_match = account_line or ACCOUNT_RE.search(topic_arn)
    region = topic_arn.split(":")[3] if topic_arn.count(":") >= 5 else "us-east-1"
    alert_type = fields.get("alert type", "").upper()
    return AwsEvent(
        kind=EventKind.BUDGET_ALERT,
        source="aws.budgets",
        account_id=account_match.group(1) if account_match else "",
        region=region,
        resource_id=name.strip(),
        time=sent_at,
        date=sent_at.date(),
        summary=f"budget {name.strip()} exceeded its {alert_type or 'alert'} threshold",
        amounts=amounts,
        detail={"budget_name": name.strip(), "alert_type": alert_type, "fields": fields},
    )


def _cost_anomaly(document: dict[str, Any], topic_arn: str, sent_at: datetime) -> AwsEvent:
    anomaly_id = document.get("anomalyId")
    if not isinstance(anomaly_id, str) or not anomaly_id:
        raise UnclassifiedMessage("Cost Anomaly Detection message without an anomalyId")
    raw_impact = document.get("impact")
    impact: dict[str, Any] = raw_impact if isinstance(raw_impact, dict) else {}
    amounts: dict[str, str] = {}
    for key, name in (
        ("totalImpact", "impact_usd"),
        ("maxImpact", "max_impact_usd"),
        ("totalActualSpend", "actual_usd"),
        ("totalExpectedSpend", "expected_usd"),
    ):
        value = impact.get(key)
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            try:
                amounts[name] = str(Decimal(str(value)))
            except InvalidOperation:
                raise UnclassifiedMessage(f"impact {key} {value!r} is not a number") from None
    start = document.get("anomalyStartDate")
    try:
        day = date.fromisoformat(start[:10]) if isinstance(start, str) and start else None
    except ValueError:
        raise UnclassifiedMessage(f"anomalyStartDate {start!r} is not a date") from None
    causes = document.get("rootCauses") if isinstance(document.get("rootCauses"), list) else []
    first = causes[0] if causes and isinstance(causes[0], dict) else {}
    account = str(document.get("accountId") or first.get("linkedAccount") or "")
    return AwsEvent(
        kind=EventKind.COST_ANOMALY,
        source="aws.ce",
        account_id=account,
        region=str(first.get("region") or "us-east-1"),
        resource_id=anomaly_id,
        time=sent_at,
        date=day or sent_at.date(),
        summary=f"cost anomaly in {document.get('dimensionalValue') or 'a monitored dimension'}",
        amounts=amounts,
        detail={
            "monitor_arn": document.get("monitorArn", ""),
            "dimensional_value": document.get("dimensionalValue", ""),
            "root_causes": causes,
            "link": document.get("anomalyDetailsLink", ""),
            "topic_arn": topic_arn,
        },
    )


#: EventBridge detail-type -> (kind, the detail key naming the resource).
EVENTBRIDGE_KINDS: dict[str, tuple[EventKind, str]] = {
    "EC2 Instance State-change Notification": (EventKind.EC2_STATE_CHANGE, "instance-id"),
    "EBS Volume Notification": (EventKind.EBS_VOLUME, ""),
    "EBS Snapshot Notification": (EventKind.EBS_SNAPSHOT, ""),
}


def _eventbridge(document: dict[str, Any], received_at: datetime) -> AwsEvent:
    detail_type = str(document.get("detail-type"))
    known = EVENTBRIDGE_KINDS.get(detail_type)
    if known is None:
        raise UnclassifiedMessage(f"unknown EventBridge detail-type {detail_type!r}")
    kind, key = known
    detail = document.get("detail")
    if not isinstance(detail, dict):
        raise UnclassifiedMessage(f"{detail_type} without a detail object")
    resources = [r for r in document.get("resources") or [] if isinstance(r, str)]
    resource = str(detail.get(key, "")) if key else ""
    if not resource and resources:
        # EBS events name the volume/snapshot only in the resources ARN list.
        resource = resources[0].rsplit("/", 1)[-1]
    if not resource:
        raise UnclassifiedMessage(f"{detail_type} names no resource")
    account = str(document.get("account") or "")
    if not ACCOUNT_RE.fullmatch(account):
        raise UnclassifiedMessage(f"{detail_type} has no 12-digit account (got {account!r})")
    region = str(document.get("region") or "")
    if not region:
        raise UnclassifiedMessage(f"{detail_type} has no region")
    when = _when(document.get("time"), received_at)
    state = detail.get("state") or detail.get("event") or ""
    result = f" ({detail.get('result')})" if detail.get("result") else ""
    return AwsEvent(
        kind=kind,
        source=str(document.get("source")),
        account_id=account,
        region=region,
        resource_id=resource,
        time=when,
        date=when.date(),
        summary=f"{resource} {state}{result}".strip(),
        detail=detail,
    )
