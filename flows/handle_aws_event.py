"""The ``handle-aws-event`` flow: respond to one AWS event delivered by the listener.

Started by the deployment triggers in ``prefect.yaml`` with the Prefect event's payload (the
typed AWS event from ``tasks.events.classify``).  Budget alerts and cost anomalies re-judge that
day's spend; EC2/EBS changes re-run only the affected idle checks in that account and region.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger

from flows.check_cost_anomalies import check_cost_anomalies
from flows.scan_idle_resources import scan_idle_resources
from tasks.events.classify import AwsEvent
from tasks.events.respond import plan_response


@flow(name="handle-aws-event", log_prints=True)
def handle_aws_event(event: dict[str, Any]) -> dict[str, Any]:
    """Run what an AWS event calls for.

    Args:
        event: the payload of a ``finops.aws.*`` Prefect event (an ``AwsEvent`` as JSON).

    Returns:
        ``{"event", "resource", "flow", "parameters", "reason"}``; ``flow`` is '' when the
        event affects no check.

    Example:
        >>> handle_aws_event({"kind": "ec2.state-change", ...})  # doctest: +SKIP
        {'flow': 'scan-idle-resources', 'parameters': {'checks': ['ec2-stopped'], ...}, ...}
    """
    aws_event = AwsEvent.model_validate({k: v for k, v in event.items() if k != "sqs_message_id"})
    response = plan_response(aws_event)
    get_run_logger().info("%s: %s", aws_event.event_name, response.reason)
    if response.flow == "check-cost-anomalies":
        check_cost_anomalies(date=date.fromisoformat(response.parameters["date"]))
    elif response.flow == "scan-idle-resources":
        scan_idle_resources(**response.parameters)
    return {
        "event": aws_event.event_name,
        "resource": aws_event.resource_id,
        "flow": response.flow,
        "parameters": response.parameters,
        "reason": response.reason,
    }
