"""Prefect events from AWS events: the event each deployment trigger matches on, and emission."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from tasks.events.classify import AwsEvent

#: Namespace of the event ids: the same SQS message always gives the same Prefect event id, so a
#: redelivered message (listener crashed after emitting, before deleting) is one event, not two.
EVENT_ID_NAMESPACE = uuid.UUID("6f6b1a47-3b9e-4e5c-9a51-f1a0b5c0e7d2")


def event_id(message_id: str) -> uuid.UUID:
    """The Prefect event id of an SQS message.

    Example:
        >>> event_id("m-1") == event_id("m-1")
        True
    """
    return uuid.uuid5(EVENT_ID_NAMESPACE, message_id)


def prefect_event_fields(event: AwsEvent, message_id: str) -> dict[str, Any]:
    """The Prefect event (name, resource, related, payload, id) for an AWS event.

    The resource id is ``aws.<kind>.<resource>``; the payload is the whole typed AWS event as
    JSON, which the deployment triggers pass to the flows as a parameter.

    Example:
        >>> prefect_event_fields(aws_event, "m-1")["event"]  # doctest: +SKIP
        'finops.aws.budget.alert'
    """
    resource = {
        "prefect.resource.id": f"aws.{event.kind.value}.{event.resource_id}",
        "prefect.resource.name": event.resource_id,
        "aws.account": event.account_id,
        "aws.region": event.region,
    }
    return {
        "event": event.event_name,
        "resource": resource,
        "occurred": event.time,
        "payload": {**event.model_dump(mode="json"), "sqs_message_id": message_id},
        "id": event_id(message_id),
    }


class PrefectEmitter:
    """Emits to the Prefect API (``PREFECT_API_URL``) and returns only once the server took them.

    ``prefect.events.emit_event`` hands events to a background worker and returns at once;
    the listener deletes an SQS message only after its event is sent, so it uses the events
    client directly and lets a failure propagate (the message then reappears in the queue).
    """

    def emit(self, events: Sequence[tuple[AwsEvent, str]]) -> None:
        """Send ``(event, sqs_message_id)`` pairs; raise if the API did not take them."""
        if events:
            asyncio.run(self._emit(events))

    async def _emit(self, events: Sequence[tuple[AwsEvent, str]]) -> None:
        from prefect.events.clients import get_events_client
        from prefect.events.schemas.events import Event

        async with get_events_client(reconnection_attempts=3, checkpoint_every=1) as client:
            for aws_event, message_id in events:
                await client.emit(Event(**prefect_event_fields(aws_event, message_id)))
