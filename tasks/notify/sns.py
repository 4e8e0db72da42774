"""SNS adapter: publish the day's JSON summary to a topic for other subscribers."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tasks.aws.common import error_code, error_message
from tasks.aws.session import boto_config

#: SNS errors a retry cannot fix.
PERMANENT_CODES = frozenset(
    {"NotFound", "InvalidParameter", "AuthorizationError", "InvalidClientTokenId"}
)

#: IAM action of this adapter (collected by tasks.permissions).
IAM_PERMISSIONS: tuple[str, ...] = ("sns:Publish",)


class SnsDeliveryError(RuntimeError):
    """SNS did not take the message; ``permanent`` when retrying cannot help."""

    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def region_of(topic_arn: str) -> str:
    """The region part of a topic ARN.

    Example:
        >>> region_of("arn:aws:sns:eu-west-1:123456789012:finops")
        'eu-west-1'
    """
    parts = topic_arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "sns":
        raise ValueError(
            f"FINOPS_NOTIFY__SNS_TOPIC_ARN {topic_arn!r} is not an SNS topic ARN "
            "(arn:aws:sns:REGION:ACCOUNT:NAME)"
        )
    return parts[3]


def sns_client(topic_arn: str, session: Any = None) -> Any:
    """An SNS client in the topic's region with the project's botocore config."""
    import boto3

    return (session or boto3.Session()).client(
        "sns", region_name=region_of(topic_arn), config=boto_config()
    )


def apply_publish(client: Any, topic_arn: str, message: dict[str, Any], subject: str) -> str:
    """Publish a JSON message; return the SNS message id.

    Example:
        >>> apply_publish(sns_client(arn), arn, {"type": "x"}, "FinOps")  # doctest: +SKIP
        '5f0c...'
    """
    try:
        response = client.publish(
            TopicArn=topic_arn,
            Message=json.dumps(message, sort_keys=True, default=str),
            Subject=subject[:100],
            MessageAttributes={
                "type": {"DataType": "String", "StringValue": str(message.get("type", ""))}
            },
        )
    except ClientError as error:
        code = error_code(error) or "ClientError"
        raise SnsDeliveryError(
            f"SNS {code}: {error_message(error)}",
            permanent=code in PERMANENT_CODES,
        ) from None
    except BotoCoreError as error:
        raise SnsDeliveryError(
            f"SNS unreachable: {type(error).__name__}", permanent=False
        ) from None
    return str(response["MessageId"])
