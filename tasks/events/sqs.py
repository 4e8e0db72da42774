"""SQS adapters for the listener: receive (long poll), delete, and dead-letter with a reason."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

from tasks.aws.session import boto_config

#: Message attribute carrying why a message was dead-lettered.
REASON_ATTRIBUTE = "finops-reason"
#: The longest reason kept (SQS attributes may be longer; a reason is one line for a person).
MAX_REASON_CHARS = 1000
#: Characters SQS refuses in a message or attribute (it takes #x9, #xA, #xD, #x20-#xD7FF,
#: #xE000-#xFFFD and #x10000-#x10FFFF): one of them would make dead-lettering itself fail.
_NOT_SQS_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class QueueMessage:
    """One received message: its id, receipt handle, body and when it was received."""

    message_id: str
    receipt_handle: str
    body: str
    received_at: datetime
    receive_count: int = 1


def region_of_queue(queue_url: str) -> str:
    """The region of an SQS queue URL (``https://sqs.REGION.amazonaws.com/ACCOUNT/NAME``).

    The sandbox's URLs (``http://127.0.0.1:PORT/ACCOUNT/NAME``) carry no region: us-east-1.

    Example:
        >>> region_of_queue("https://sqs.eu-west-1.amazonaws.com/123456789012/finops-events")
        'eu-west-1'
    """
    host = queue_url.split("://", 1)[-1].split("/", 1)[0]
    parts = host.split(".")
    if len(parts) >= 3 and parts[0] == "sqs":
        return parts[1]
    return "us-east-1"


def sqs_client(queue_url: str, session: Any = None) -> Any:
    """An SQS client in the queue's region with the project's botocore config.

    The long poll waits up to 20 s, so the read timeout must exceed it.
    """
    return (session or boto3.Session()).client(
        "sqs", region_name=region_of_queue(queue_url), config=boto_config(read_timeout=30)
    )


def get_messages(
    client: Any, queue_url: str, max_messages: int, wait_time_s: int, visibility_timeout_s: int
) -> list[QueueMessage]:
    """Long-poll the queue once; return what arrived (possibly nothing).

    Example:
        >>> get_messages(sqs_client(url), url, 10, 20, 60)  # doctest: +SKIP
        [QueueMessage(message_id='...', ...)]
    """
    response = client.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=max_messages,
        WaitTimeSeconds=wait_time_s,
        VisibilityTimeout=visibility_timeout_s,
        MessageSystemAttributeNames=["ApproximateReceiveCount"],
    )
    now = datetime.now(UTC)
    return [
        QueueMessage(
            message_id=m["MessageId"],
            receipt_handle=m["ReceiptHandle"],
            body=m.get("Body", ""),
            received_at=now,
            receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
        )
        for m in response.get("Messages", [])
    ]


def apply_delete(client: Any, queue_url: str, message: QueueMessage) -> None:
    """Delete a handled message (only after it was emitted or dead-lettered)."""
    client.delete_message(QueueUrl=queue_url, ReceiptHandle=message.receipt_handle)


def sqs_text(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """``text`` as SQS takes it in an attribute: characters it refuses replaced, cut to ``limit``.

    Example:
        >>> sqs_text("key \\x00 refused", 12) == "key \\ufffd refuse"
        True
    """
    return _NOT_SQS_TEXT.sub("\ufffd", text[:limit])


def apply_dead_letter(
    client: Any, dead_letter_queue_url: str, message: QueueMessage, reason: str, source_queue: str
) -> str:
    """Copy a message to the dead-letter queue with its reason; return the new message id.

    The caller deletes the original only after this returns, so a crash in between leaves
    a duplicate in the DLQ at worst, never a lost message.
    """
    response = client.send_message(
        QueueUrl=dead_letter_queue_url,
        MessageBody=message.body or "(empty)",
        MessageAttributes={
            REASON_ATTRIBUTE: {"DataType": "String", "StringValue": sqs_text(reason) or "-"},
            "finops-source-queue": {"DataType": "String", "StringValue": source_queue},
            "finops-message-id": {"DataType": "String", "StringValue": message.message_id},
        },
    )
    return str(response["MessageId"])
