"""What the event handler does for each kind of AWS event (pure: the plan, not the doing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tasks.events.classify import AwsEvent, EventKind

#: Idle checks worth re-running for a resource event, by kind and by state/event name.
CHECKS_FOR_EVENT: dict[EventKind, dict[str, tuple[str, ...]]] = {
    EventKind.EC2_STATE_CHANGE: {
        "stopped": ("ec2-stopped",),
        # A terminated instance can leave volumes and addresses behind.
        "terminated": ("ebs-unattached", "eip-unassociated"),
        "running": ("ec2-idle", "ec2-stopped"),
    },
    EventKind.EBS_VOLUME: {
        "createVolume": ("ebs-unattached", "ebs-gp2"),
        "detachVolume": ("ebs-unattached",),
        "attachVolume": ("ebs-unattached",),
        "modifyVolume": ("ebs-gp2",),
        "deleteVolume": ("ebs-unattached",),
    },
    EventKind.EBS_SNAPSHOT: {
        "createSnapshot": ("snapshot-stale",),
        "copySnapshot": ("snapshot-stale",),
    },
}


@dataclass(frozen=True)
class Response:
    """The flow to run for an event and its parameters; ``flow`` is '' when nothing is due."""

    flow: str
    parameters: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


def plan_response(event: AwsEvent) -> Response:
    """Decide what an event asks for.

    Budget alerts and cost anomalies re-judge that day's spend; resource events re-scan only the
    checks the change can affect, in that one account and region (a stopped instance is not a
    reason to scan the organisation).

    Example:
        >>> plan_response(ec2_stopped_event).parameters["checks"]  # doctest: +SKIP
        ['ec2-stopped']
    """
    if event.kind in (EventKind.BUDGET_ALERT, EventKind.COST_ANOMALY):
        return Response(
            "check-cost-anomalies",
            {"date": event.date.isoformat()},
            f"{event.summary}: re-judge the spend of {event.date.isoformat()}",
        )
    state = str(event.detail.get("state") or event.detail.get("event") or "")
    checks = CHECKS_FOR_EVENT.get(event.kind, {}).get(state)
    if not checks:
        return Response("", {}, f"{event.kind.value} {state or '(no state)'}: no check affected")
    return Response(
        "scan-idle-resources",
        {"checks": list(checks), "accounts": [event.account_id], "regions": [event.region]},
        f"{event.resource_id} {state}: re-run {', '.join(checks)} in "
        f"{event.account_id}/{event.region}",
    )
