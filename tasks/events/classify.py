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

Every body is hostile until proven otherwise: it is refused unread when larger than SQS can hold
or nested deeper than :data:`MAX_JSON_DEPTH` (checked by a linear scan before ``json.loads``, so
neither the decoder nor anything serialising the payload later can exhaust the stack); the text
of Budgets notifications is parsed line by line, never by a pattern that can backtrack, so a body
costs time linear in its length; and each field the event is made of is checked for its type and
shape (ids, accounts and regions are strings of their form, ``resources`` a list of strings,
amounts finite numbers), so a wrong type is refused with the reason instead of being coerced.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from tasks.events.untrusted import (
    MAX_BODY_BYTES,
    UnclassifiedMessage,
    finite_amount,
    label,
    parse_json,
    shown,
    text_field,
    timestamp,
)

ACCOUNT_RE = re.compile(r"\b(\d{12})\b")
#: ``us-east-1``, ``eu-central-2``, ``us-gov-west-1``, ``cn-north-1``...
REGION_RE = re.compile(r"[a-z]{2,4}(?:-[a-z]+)+-\d{1,2}")
#: EC2 ids: a prefix and 8 (older) or 17 hexadecimal digits.
INSTANCE_ID_RE = re.compile(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})")
VOLUME_ID_RE = re.compile(r"vol-(?:[0-9a-f]{8}|[0-9a-f]{17})")
SNAPSHOT_ID_RE = re.compile(r"snap-(?:[0-9a-f]{8}|[0-9a-f]{17})")
#: Cost Anomaly Detection ids are UUIDs; any short run of letters, digits and dashes is taken.
ANOMALY_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,99}")
#: AWS Budgets names: 1 to 100 characters, never ``:`` or ``\``.
BUDGET_NAME_RE = re.compile(r"[^:\\\n]{1,100}")
#: The patterns below run in linear time: each repetition is of one character class and is
#: followed by a character it cannot match (or by a bounded part), so no run of input can be
#: split between two repetitions in many ways, the shape that made the old field pattern cubic.
BUDGET_SUBJECT_START_RE = re.compile(r"AWS Budgets?:", re.IGNORECASE)
BUDGET_SUBJECT_END_RE = re.compile(r"\shas exceeded", re.IGNORECASE)
BUDGET_ACCOUNT_RE = re.compile(r"AWS Account:?\s*(\d{12})(?!\d)", re.IGNORECASE)
#: The key of a "Budget Name: daily" style line of the Budgets notification text (stripped).
BUDGET_FIELD_KEY_RE = re.compile(r"[A-Za-z ]+")
MONEY_RE = re.compile(r"\$\s*(?P<amount>[0-9][0-9,]*(?:\.[0-9]+)?)")


class EventKind(StrEnum):
    """What happened; the Prefect event name is ``finops.aws.<kind>``."""

    BUDGET_ALERT = "budget.alert"
    COST_ANOMALY = "cost-anomaly.detected"
    EC2_STATE_CHANGE = "ec2.state-change"
    EBS_VOLUME = "ebs.volume"
    EBS_SNAPSHOT = "ebs.snapshot"


class AwsEvent(BaseModel):
    """One AWS notification, typed, as the flows receive it (the Prefect event's payload).

    Example:
        >>> from datetime import UTC
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


def _money(text: str) -> str | None:
    """The first dollar amount in ``text`` (digits only, so always finite), or ``None``."""
    match = MONEY_RE.search(text)
    if not match:
        return None
    return str(Decimal(match["amount"].replace(",", "")))


def classify(body: str, received_at: datetime) -> AwsEvent:
    """Turn an SQS message body into an :class:`AwsEvent`.

    Args:
        body: the message body as SQS delivered it.
        received_at: when the message was received (UTC); used when AWS gives no time.

    Raises:
        UnclassifiedMessage: malformed, oversized, too deep, of a wrong type or of an unknown
            kind; the message says which and why.  Time is linear in the body's length.

    Example:
        >>> from datetime import UTC
        >>> classify('{"version": "0", "source": "aws.ec2", "account": "123456789012",'
        ...          ' "region": "eu-west-1", "time": "2026-11-26T10:00:00Z",'
        ...          ' "detail-type": "EC2 Instance State-change Notification",'
        ...          ' "detail": {"instance-id": "i-0abc1234", "state": "stopped"}}',
        ...          datetime(2026, 11, 26, tzinfo=UTC)).resource_id
        'i-0abc1234'
    """
    if not isinstance(body, str) or not body.strip():
        raise UnclassifiedMessage("empty message body")
    size = len(body.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY_BYTES:
        raise UnclassifiedMessage(
            f"message body is {size:,} bytes, over the {MAX_BODY_BYTES:,} bytes SQS holds"
        )
    stripped = body.lstrip()
    if not stripped.startswith(("{", "[")):
        # A raw-delivery SNS message from Budgets is plain text.
        return _budget_text(body, subject="", topic_arn="", sent_at=received_at)
    document = parse_json(body, "message body")
    if not isinstance(document, dict):
        raise UnclassifiedMessage("message body is JSON but not an object")
    if document.get("Type") in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        # Only a cross-account subscription needs this; a person confirms it once.
        topic = text_field(document, "TopicArn", "SNS")
        raise UnclassifiedMessage(
            f"SNS {document['Type']} from {label(topic) if topic else 'a topic'}: "
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
        f"(keys: {', '.join(label(key, 40) for key in sorted(document)[:6])})"
    )


def _sns(envelope: dict[str, Any], received_at: datetime) -> AwsEvent:
    message = envelope.get("Message")
    if not isinstance(message, str):
        raise UnclassifiedMessage("SNS notification without a text Message")
    topic_arn = text_field(envelope, "TopicArn", "SNS")
    subject = text_field(envelope, "Subject", "SNS")
    sent_at = timestamp(envelope.get("Timestamp"), received_at, "SNS Timestamp")
    if message.lstrip().startswith("{"):
        inner = parse_json(message, "SNS Message")
        if isinstance(inner, dict) and "anomalyId" in inner:
            return _cost_anomaly(inner, topic_arn, sent_at)
        if isinstance(inner, dict) and "detail-type" in inner and "source" in inner:
            return _eventbridge(inner, received_at)
        raise UnclassifiedMessage(
            f"SNS message from {label(topic_arn) if topic_arn else 'unknown topic'} is unknown JSON"
        )
    return _budget_text(message, subject, topic_arn, sent_at)


def _budget_fields(text: str) -> dict[str, str]:
    r"""The ``Key: value`` lines of a Budgets notification (keys lower-cased; the last one wins).

    Line by line with ``str`` methods, not one multi-line pattern: the old pattern
    (``^\s*[A-Za-z ]+?\s*:\s*.+?\s*$``) let three adjacent parts share a run of spaces and took
    cubic time in it.  Here each character is looked at a bounded number of times.

    Example:
        >>> _budget_fields("Dear customer,\nBudget Name:  daily \nNote: a: b\n(x): y")
        {'budget name': 'daily', 'note': 'a: b'}
    """
    fields: dict[str, str] = {}
    for line in text.split("\n"):
        key, colon, value = line.partition(":")
        if not colon:
            continue
        key, value = key.strip(), value.strip()
        if key and value and BUDGET_FIELD_KEY_RE.fullmatch(key):
            fields[key.lower()] = value
    return fields


def _budget_from_subject(subject: str) -> str | None:
    """The budget named by an ``AWS Budgets: NAME has exceeded ...`` subject, or ``None``."""
    start = BUDGET_SUBJECT_START_RE.search(subject)
    if start is None:
        return None
    end = BUDGET_SUBJECT_END_RE.search(subject, start.end())
    if end is None:
        return None
    return subject[start.end() : end.start()].strip() or None


#: Budgets notification field -> the amount it gives.
BUDGET_AMOUNTS = (
    ("budgeted amount", "budgeted_usd"),
    ("alert threshold", "threshold_usd"),
    ("actual amount", "actual_usd"),
    ("forecasted amount", "forecasted_usd"),
)


def _budget_text(text: str, subject: str, topic_arn: str, sent_at: datetime) -> AwsEvent:
    fields = _budget_fields(text)
    name = fields.get("budget name") or _budget_from_subject(subject)
    if name is None or "budget" not in text.lower():
        raise UnclassifiedMessage("text message is not an AWS Budgets notification")
    if not BUDGET_NAME_RE.fullmatch(name):
        raise UnclassifiedMessage(
            f"budget name {shown(name)} is not an AWS Budgets name "
            "(1 to 100 characters, no ':' or '\\')"
        )
    amounts: dict[str, str] = {}
    for field_name, amount_name in BUDGET_AMOUNTS:
        value = fields.get(field_name)
        if value is None:
            continue
        amount = _money(value)
        if amount is not None:
            amounts[amount_name] = amount
        elif "$" in value:
            # Usage budgets give hours or units (no '$'), kept out of the amounts; a '$' that is
            # not followed by digits ($NaN, $Infinity) is no amount at all.
            raise UnclassifiedMessage(f"budget {field_name} {shown(value)} is not a dollar amount")
    # The account is on an "AWS Account 123456789012" line (no colon) or in the topic ARN.
    account_match = BUDGET_ACCOUNT_RE.search(text) or ACCOUNT_RE.search(topic_arn)
    arn_parts = topic_arn.split(":", 5)
    arn_region = arn_parts[3] if len(arn_parts) == 6 else ""
    region = arn_region if REGION_RE.fullmatch(arn_region) else "us-east-1"
    alert_type = fields.get("alert type", "").upper()
    return AwsEvent(
        kind=EventKind.BUDGET_ALERT,
        source="aws.budgets",
        account_id=account_match.group(1) if account_match else "",
        region=region,
        resource_id=name,
        time=sent_at,
        date=sent_at.date(),
        summary=f"budget {name} exceeded its {alert_type or 'alert'} threshold",
        amounts=amounts,
        detail={"budget_name": name, "alert_type": alert_type, "fields": fields},
    )


def _cost_anomaly(document: dict[str, Any], topic_arn: str, sent_at: datetime) -> AwsEvent:
    what = "Cost Anomaly Detection"
    anomaly_id = document.get("anomalyId")
    if not isinstance(anomaly_id, str) or not anomaly_id:
        raise UnclassifiedMessage(f"{what} message without an anomalyId")
    if not ANOMALY_ID_RE.fullmatch(anomaly_id):
        raise UnclassifiedMessage(f"anomalyId {shown(anomaly_id)} is not a {what} id")
    raw_impact = document.get("impact")
    if raw_impact is not None and not isinstance(raw_impact, dict):
        raise UnclassifiedMessage(f"{what} impact is not an object (got {shown(raw_impact)})")
    impact: dict[str, Any] = raw_impact or {}
    amounts: dict[str, str] = {}
    for key, name in (
        ("totalImpact", "impact_usd"),
        ("maxImpact", "max_impact_usd"),
        ("totalActualSpend", "actual_usd"),
        ("totalExpectedSpend", "expected_usd"),
    ):
        if impact.get(key) is not None:
            amounts[name] = finite_amount(impact[key], f"impact {key}")
    start = document.get("anomalyStartDate")
    day: date | None = None
    if start is not None and start != "":
        try:
            day = date.fromisoformat(start[:10]) if isinstance(start, str) else None
        except ValueError:
            day = None
        if day is None:
            raise UnclassifiedMessage(f"anomalyStartDate {shown(start)} is not a date")
    causes = document.get("rootCauses")
    if causes is None:
        causes = []
    elif not isinstance(causes, list) or not all(isinstance(cause, dict) for cause in causes):
        raise UnclassifiedMessage(f"{what} rootCauses is not a list of objects")
    first: dict[str, Any] = causes[0] if causes else {}
    account = text_field(document, "accountId", what) or text_field(
        first, "linkedAccount", "root cause"
    )
    if account and not ACCOUNT_RE.fullmatch(account):
        raise UnclassifiedMessage(f"{what} account {shown(account)} is not a 12-digit account")
    dimension = text_field(document, "dimensionalValue", what)
    return AwsEvent(
        kind=EventKind.COST_ANOMALY,
        source="aws.ce",
        account_id=account,
        region=text_field(first, "region", "root cause") or "us-east-1",
        resource_id=anomaly_id,
        time=sent_at,
        date=day or sent_at.date(),
        summary=f"cost anomaly in {dimension or 'a monitored dimension'}",
        amounts=amounts,
        detail={
            "monitor_arn": text_field(document, "monitorArn", what),
            "dimensional_value": dimension,
            "root_causes": causes,
            "link": text_field(document, "anomalyDetailsLink", what),
            "topic_arn": topic_arn,
        },
    )


#: EventBridge detail-type -> (kind, the detail key naming the resource).
EVENTBRIDGE_KINDS: dict[str, tuple[EventKind, str]] = {
    "EC2 Instance State-change Notification": (EventKind.EC2_STATE_CHANGE, "instance-id"),
    "EBS Volume Notification": (EventKind.EBS_VOLUME, ""),
    "EBS Snapshot Notification": (EventKind.EBS_SNAPSHOT, ""),
}
#: Kind -> the shape of its resource id, and what to call it in a reason.
RESOURCE_ID_SHAPES: dict[EventKind, tuple[re.Pattern[str], str]] = {
    EventKind.EC2_STATE_CHANGE: (INSTANCE_ID_RE, "EC2 instance id"),
    EventKind.EBS_VOLUME: (VOLUME_ID_RE, "EBS volume id"),
    EventKind.EBS_SNAPSHOT: (SNAPSHOT_ID_RE, "EBS snapshot id"),
}


def _eventbridge(document: dict[str, Any], received_at: datetime) -> AwsEvent:
    detail_type = document.get("detail-type")
    known = EVENTBRIDGE_KINDS.get(detail_type) if isinstance(detail_type, str) else None
    if known is None or not isinstance(detail_type, str):
        raise UnclassifiedMessage(f"unknown EventBridge detail-type {shown(detail_type)}")
    kind, key = known
    detail = document.get("detail")
    if not isinstance(detail, dict):
        raise UnclassifiedMessage(f"{detail_type} without a detail object")
    source = text_field(document, "source", detail_type)
    if not source:
        raise UnclassifiedMessage(f"{detail_type} has no source")
    account = document.get("account")
    if not isinstance(account, str) or not ACCOUNT_RE.fullmatch(account):
        raise UnclassifiedMessage(f"{detail_type} has no 12-digit account (got {shown(account)})")
    region = document.get("region")
    if not isinstance(region, str) or not REGION_RE.fullmatch(region):
        raise UnclassifiedMessage(f"{detail_type} region {shown(region)} is not an AWS region")
    resources = document.get("resources")
    if resources is None:
        resources = []
    elif not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        raise UnclassifiedMessage(
            f"{detail_type} resources is not a list of strings (got {shown(resources)})"
        )
    shape, noun = RESOURCE_ID_SHAPES[kind]
    if key:
        named = detail.get(key)
        if not isinstance(named, str) or not shape.fullmatch(named):
            raise UnclassifiedMessage(f"{detail_type} {key} {shown(named)} is not an {noun}")
        resource = named
    else:
        # EBS events name the volume or snapshot only in the resources ARN list (an attach or
        # a detach lists the instance too): the first ARN ending in an id of the right shape.
        ids = (arn.rsplit("/", 1)[-1] for arn in resources)
        found = next((found for found in ids if shape.fullmatch(found)), None)
        if found is None:
            raise UnclassifiedMessage(f"{detail_type} names no {noun} in its resources")
        resource = found
    where = f"{detail_type} detail"
    state = text_field(detail, "state", where) or text_field(detail, "event", where)
    outcome = text_field(detail, "result", where)
    when = timestamp(document.get("time"), received_at, f"{detail_type} time")
    result = f" ({outcome})" if outcome else ""
    return AwsEvent(
        kind=kind,
        source=source,
        account_id=account,
        region=region,
        resource_id=resource,
        time=when,
        date=when.date(),
        summary=f"{resource} {state}{result}".strip(),
        detail=detail,
    )
