"""The listener loop: long-poll SQS, classify, emit Prefect events, dead-letter the rest.

Every received message ends in exactly one of two places before it is deleted: a Prefect event
(the deployment triggers in ``prefect.yaml`` start the right flow from it) or the dead-letter
queue with a logged reason.  If emitting fails, nothing is deleted: the messages become visible
again after the visibility timeout and are retried (event ids are derived from the SQS message
id, so a retry never makes a second event).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tasks.events.classify import AwsEvent, UnclassifiedMessage, classify
from tasks.events.sqs import QueueMessage, apply_dead_letter, apply_delete, get_messages

logger = logging.getLogger("finops.listen")


class Emitter(Protocol):
    """Sends ``(event, sqs_message_id)`` pairs somewhere; raises when it could not."""

    def emit(self, events: Sequence[tuple[AwsEvent, str]]) -> None: ...


@dataclass(frozen=True)
class ListenerConfig:
    """Where to listen and how (see ``tasks.settings.EventSettings``)."""

    queue_url: str
    dead_letter_queue_url: str
    max_messages: int = 10
    wait_time_s: int = 20
    visibility_timeout_s: int = 60


@dataclass
class ListenerStats:
    """What the listener did so far, by outcome and by event name."""

    received: int = 0
    emitted: int = 0
    dead_lettered: int = 0
    failed_batches: int = 0
    by_event: dict[str, int] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


def handle_batch(
    client: Any, config: ListenerConfig, messages: Sequence[QueueMessage], emitter: Emitter
) -> ListenerStats:
    """Classify and settle one batch of received messages.

    Good messages are emitted together first; only then are they deleted.  Bad ones are copied
    to the dead-letter queue with their reason, then deleted.

    Example:
        >>> handle_batch(sqs, config, get_messages(sqs, url, 10, 20, 60), PrefectEmitter())
        ... # doctest: +SKIP
    """
    stats = ListenerStats(received=len(messages))
    good: list[tuple[AwsEvent, QueueMessage]] = []
    for message in messages:
        try:
            good.append((classify(message.body, message.received_at), message))
        except UnclassifiedMessage as error:
            reason = str(error)
            apply_dead_letter(
                client, config.dead_letter_queue_url, message, reason, config.queue_url
            )
            apply_delete(client, config.queue_url, message)
            logger.warning("dead-lettered message %s: %s", message.message_id, reason)
            stats.dead_lettered += 1
            stats.reasons.append(reason)
    emitter.emit([(event, message.message_id) for event, message in good])
    for event, message in good:
        apply_delete(client, config.queue_url, message)
        logger.info(
            "emitted %s for %s (message %s)",
            event.event_name,
            event.resource_id,
            message.message_id,
        )
        stats.emitted += 1
        stats.by_event[event.event_name] = stats.by_event.get(event.event_name, 0) + 1
    return stats


def run_listener(
    client: Any,
    config: ListenerConfig,
    emitter: Emitter,
    stop: threading.Event | None = None,
    max_polls: int | None = None,
    on_batch: Callable[[ListenerStats], None] | None = None,
) -> ListenerStats:
    """Long-poll until ``stop`` is set (or ``max_polls`` polls); return the totals.

    Example:
        >>> run_listener(sqs_client(url), ListenerConfig(url, dlq), PrefectEmitter())
        ... # doctest: +SKIP
    """
    totals = ListenerStats()
    polls = 0
    consecutive_failures = 0
    while not (stop is not None and stop.is_set()) and (max_polls is None or polls < max_polls):
        polls += 1
        messages = get_messages(
            client,
            config.queue_url,
            config.max_messages,
            config.wait_time_s,
            config.visibility_timeout_s,
        )
        if not messages:
            continue
        try:
            batch = handle_batch(client, config, messages, emitter)
        except Exception as error:  # the Prefect API is down: keep the messages, retry later
            totals.failed_batches += 1
            totals.received += len(messages)
            consecutive_failures += 1
            logger.error(
                "emitting failed (%s: %s); %d message(s) stay in the queue and return after "
                "the visibility timeout",
                type(error).__name__,
                error,
                len(messages),
            )
            # Back off so a long outage does not spin; SQS's redrive policy moves a message
            # that keeps failing to the dead-letter queue by itself.
            backoff_s = min(60.0, 2.0**consecutive_failures)
            if stop is not None:
                stop.wait(backoff_s)
            else:
                time.sleep(backoff_s)
            continue
        consecutive_failures = 0
        totals.received += batch.received
        totals.emitted += batch.emitted
        totals.dead_lettered += batch.dead_lettered
        totals.reasons.extend(batch.reasons)
        for name, count in batch.by_event.items():
            totals.by_event[name] = totals.by_event.get(name, 0) + count
        if on_batch is not None:
            on_batch(batch)
    return totals
