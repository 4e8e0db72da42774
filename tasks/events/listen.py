"""The listener loop: long-poll SQS, classify, emit Prefect events, dead-letter the rest.

Every received message ends in exactly one of two places before it is deleted: a Prefect event
(the deployment triggers in ``prefect.yaml`` start the right flow from it) or the dead-letter
queue with a logged reason.  If emitting fails, nothing is deleted: the messages become visible
again after the visibility timeout and are retried (event ids are derived from the SQS message
id, so a retry never makes a second event).

Each message is settled on its own: whatever one message does (a body the classifier refuses, an
exception while classifying it, an event the API rejects, a dead-letter copy that fails), the
others of its batch are emitted or dead-lettered as if it were not there, and what went wrong is
logged and counted for that message alone.  Only an outage (no event of the batch can be
emitted) keeps the whole batch for a later retry.
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
    """What the listener did so far, by outcome and by event name.

    Every received message is counted once: ``received == emitted + dead_lettered + kept``.
    """

    received: int = 0
    emitted: int = 0
    dead_lettered: int = 0
    #: Left in the queue, to come back after the visibility timeout: the batch of an outage, or a
    #: message whose dead-letter copy failed (SQS's redrive policy moves one that keeps coming
    #: back to the dead-letter queue after ``maxReceiveCount`` receives).
    kept: int = 0
    failed_batches: int = 0
    by_event: dict[str, int] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def add(self, other: ListenerStats) -> None:
        """Add another batch's counts to these."""
        self.received += other.received
        self.emitted += other.emitted
        self.dead_lettered += other.dead_lettered
        self.kept += other.kept
        self.failed_batches += other.failed_batches
        self.reasons.extend(other.reasons)
        for name, count in other.by_event.items():
            self.by_event[name] = self.by_event.get(name, 0) + count


def _error(error: BaseException) -> str:
    """An exception in one line, for reasons and logs."""
    return f"{type(error).__name__}: {error}"


def _dead_letter(
    client: Any, config: ListenerConfig, message: QueueMessage, reason: str, stats: ListenerStats
) -> None:
    """Copy one message to the dead-letter queue with its reason, then delete it.

    Never raises: if the copy fails the message is kept (not deleted), so it is not lost; if
    only the delete fails it comes back and is dead-lettered again (a duplicate at worst).
    """
    try:
        apply_dead_letter(client, config.dead_letter_queue_url, message, reason, config.queue_url)
    except Exception as error:
        logger.error(
            "could not dead-letter message %s (%s); it stays in the queue for the redrive "
            "policy. Its reason: %s",
            message.message_id,
            _error(error),
            reason,
        )
        stats.kept += 1
        return
    stats.dead_lettered += 1
    stats.reasons.append(reason)
    logger.warning("dead-lettered message %s: %s", message.message_id, reason)
    try:
        apply_delete(client, config.queue_url, message)
    except Exception as error:
        logger.error(
            "dead-lettered message %s but could not delete it (%s); it returns after the "
            "visibility timeout",
            message.message_id,
            _error(error),
        )


def _classify(
    client: Any,
    config: ListenerConfig,
    messages: Sequence[QueueMessage],
    stats: ListenerStats,
) -> list[tuple[AwsEvent, QueueMessage]]:
    """The events of the messages that are events; the others are dead-lettered with why."""
    good: list[tuple[AwsEvent, QueueMessage]] = []
    for message in messages:
        try:
            event = classify(message.body, message.received_at)
        except UnclassifiedMessage as error:
            _dead_letter(client, config, message, str(error), stats)
        except Exception as error:  # a bug classifying one message is that message's alone
            reason = f"classifying failed ({_error(error)})"
            logger.exception("classifying message %s failed", message.message_id)
            _dead_letter(client, config, message, reason, stats)
        else:
            good.append((event, message))
    return good


def _emit(
    client: Any,
    config: ListenerConfig,
    good: list[tuple[AwsEvent, QueueMessage]],
    emitter: Emitter,
    stats: ListenerStats,
) -> tuple[list[tuple[AwsEvent, QueueMessage]], Exception | None]:
    """Emit the batch's events together; if that fails, one by one, to find the culprits.

    Returns what was emitted and, when nothing could be (the API is down), the error: then every
    event is kept for the retry.  An event that fails alone while others go through is the
    message's own problem (the API took its neighbours), so it is dead-lettered with the error.
    Re-sending an event that did go through before a failure makes no second event: its id is
    the message's.
    """
    if not good:
        return [], None
    try:
        emitter.emit([(event, message.message_id) for event, message in good])
    except Exception as error:
        batch_error = error
    else:
        return good, None
    if len(good) == 1:
        stats.kept += 1
        return [], batch_error
    sent: list[tuple[AwsEvent, QueueMessage]] = []
    failed: list[tuple[QueueMessage, Exception]] = []
    for event, message in good:
        try:
            emitter.emit([(event, message.message_id)])
        except Exception as error:
            failed.append((message, error))
        else:
            sent.append((event, message))
    if not sent:
        stats.kept += len(good)
        return [], batch_error
    for message, one_error in failed:
        reason = f"emitting failed while the rest of its batch went through ({_error(one_error)})"
        _dead_letter(client, config, message, reason, stats)
    return sent, None


def _settle(
    client: Any, config: ListenerConfig, messages: Sequence[QueueMessage], emitter: Emitter
) -> tuple[ListenerStats, Exception | None]:
    """Settle each message of a batch on its own; the error is an outage's (nothing emitted)."""
    stats = ListenerStats(received=len(messages))
    good = _classify(client, config, messages, stats)
    sent, outage = _emit(client, config, good, emitter, stats)
    for event, message in sent:
        stats.emitted += 1
        stats.by_event[event.event_name] = stats.by_event.get(event.event_name, 0) + 1
        try:
            apply_delete(client, config.queue_url, message)
        except Exception as error:  # emitted: a redelivery is the same event, not a second one
            logger.error(
                "emitted %s but could not delete message %s (%s); it returns after the "
                "visibility timeout and is emitted again under the same event id",
                event.event_name,
                message.message_id,
                _error(error),
            )
            continue
        logger.info(
            "emitted %s for %s (message %s)",
            event.event_name,
            event.resource_id,
            message.message_id,
        )
    return stats, outage


def handle_batch(
    client: Any, config: ListenerConfig, messages: Sequence[QueueMessage], emitter: Emitter
) -> ListenerStats:
    """Classify and settle one batch of received messages, each on its own.

    Good messages are emitted together first; only then are they deleted.  Bad ones are copied
    to the dead-letter queue with their reason, then deleted.  A message that raises anything
    while being handled is dead-lettered with that error; its neighbours go on.

    Raises:
        Exception: the emitter's error when no event of the batch could be emitted (an outage);
            the refused messages are settled all the same, the good ones stay in the queue.

    Example:
        >>> handle_batch(sqs, config, get_messages(sqs, url, 10, 20, 60), PrefectEmitter())
        ... # doctest: +SKIP
    """
    stats, outage = _settle(client, config, messages, emitter)
    if outage is not None:
        raise outage
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
            batch, outage = _settle(client, config, messages, emitter)
        except Exception as error:  # a bug of the loop itself: nothing known settled, retry
            batch, outage = ListenerStats(received=len(messages), kept=len(messages)), error
        totals.add(batch)
        if outage is not None:  # the Prefect API is down: keep the messages, retry later
            totals.failed_batches += 1
            consecutive_failures += 1
            logger.error(
                "emitting failed (%s); %d message(s) stay in the queue and return after the "
                "visibility timeout",
                _error(outage),
                batch.kept,
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
        if on_batch is not None:
            on_batch(batch)
    return totals
