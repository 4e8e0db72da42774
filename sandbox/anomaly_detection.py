"""AWS Cost Anomaly Detection in the sandbox: the anomaly calls of Cost Explorer, from the truth.

moto does not answer ``GetAnomalies``, ``GetAnomalyMonitors`` or ``ProvideAnomalyFeedback``; this
module does (signing name ``ce``, protocol json 1.1, as boto3 speaks them), over the same seeded
world.  AWS's service monitor (one ``DIMENSIONAL`` monitor of ``SERVICE``) reports spend
*increases*: each anomaly the ledger injected with a positive impact (spike, level shift, drift,
new service) is one AWS anomaly on its service, dated as injected, with its impact and a root
cause (account, region, service).  Pages hold ``MaxResults`` items (default 20) and go on with
``NextPageToken``, as AWS's do; a token it did not hand out answers ``InvalidNextTokenException``.

Feedback sent with ``ProvideAnomalyFeedback`` is kept on the anomaly (``GetAnomalies`` shows it,
and filters on it) and listed, in order, under ``ground_truth["anomaly_detection"]["feedback"]``,
so a test can see what arrived.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sandbox.services import SandboxService, ServiceRequest

if TYPE_CHECKING:
    from sandbox.seed import Seeded

OPERATIONS = frozenset({"GetAnomalies", "GetAnomalyMonitors", "ProvideAnomalyFeedback"})
FEEDBACK = ("YES", "NO", "PLANNED_ACTIVITY")
DEFAULT_PAGE = 20


def _error(code: str, message: str, status: int = 400) -> tuple[int, dict[str, Any]]:
    return status, {"__type": code, "message": message}


def anomalies_of(seeded: Seeded, monitor_arn: str) -> list[dict[str, Any]]:
    """The AWS-shaped anomalies for the ledger's injected increases, oldest first."""
    ledger = seeded.ledger
    found = []
    for truth in sorted(seeded.ledger.anomalies, key=lambda t: (t["start"], t["service"])):
        impact = float(truth["impact_usd"])
        if impact <= 0:
            continue
        key = f"{ledger.seed}/{truth['kind']}/{truth['service']}/{truth['start']}"
        days = (date.fromisoformat(truth["end"]) - date.fromisoformat(truth["start"])).days + 1
        expected = round(max(1.0, abs(impact) / 2.0), 2)  # the sandbox knows only the impact
        found.append(
            {
                "AnomalyId": str(uuid.uuid5(uuid.NAMESPACE_URL, key)),
                "AnomalyStartDate": truth["start"],
                "AnomalyEndDate": truth["end"],
                "DimensionValue": truth["service"],
                "RootCauses": [
                    {
                        "Service": truth["service"],
                        "Region": ledger.regions[0],
                        "LinkedAccount": truth["account_id"],
                        "LinkedAccountName": ledger.account_names.get(truth["account_id"], ""),
                    }
                ],
                "AnomalyScore": {"MaxScore": round(min(99.0, 50.0 + days), 2), "CurrentScore": 0.0},
                "Impact": {
                    "MaxImpact": round(float(truth.get("peak_impact_usd", impact)), 2),
                    "TotalImpact": round(impact, 2),
                    "TotalActualSpend": round(expected + impact, 2),
                    "TotalExpectedSpend": expected,
                    "TotalImpactPercentage": round(100.0 * impact / expected, 2),
                },
                "MonitorArn": monitor_arn,
            }
        )
    return found


def _page(items: list[dict[str, Any]], body: Any, key: str) -> tuple[int, dict[str, Any]]:
    token = body.get("NextPageToken")
    size = int(body.get("MaxResults") or DEFAULT_PAGE)
    if size < 1:
        return _error("ValidationException", "MaxResults must be at least 1")
    offset = 0
    if token:
        if not str(token).startswith("page-") or not str(token)[5:].isdigit():
            return _error("InvalidNextTokenException", f"invalid NextPageToken {token!r}")
        offset = int(str(token)[5:])
    answer: dict[str, Any] = {key: items[offset : offset + size]}
    if offset + size < len(items):
        answer["NextPageToken"] = f"page-{offset + size}"
    return 200, answer


def build(seeded: Seeded) -> SandboxService:
    """The Cost Anomaly Detection service over the seeded ledger (see the module docstring)."""
    management = seeded.accounts[0] if seeded.accounts else "123456789012"
    monitor_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{seeded.ledger.seed}/services-monitor")
    monitor_arn = f"arn:aws:ce::{management}:anomalymonitor/{monitor_id}"
    monitor = {
        "MonitorArn": monitor_arn,
        "MonitorName": "AWS services",
        "CreationDate": seeded.ledger.first_day.isoformat(),
        "LastEvaluatedDate": seeded.ledger.last_day.isoformat(),
        "MonitorType": "DIMENSIONAL",
        "MonitorDimension": "SERVICE",
        "DimensionalValueCount": len({t["service"] for t in seeded.ledger.anomalies}),
    }
    anomalies = anomalies_of(seeded, monitor_arn)
    by_id = {a["AnomalyId"]: a for a in anomalies}
    truth = seeded.ground_truth.setdefault(
        "anomaly_detection",
        {"monitor_arn": monitor_arn, "anomalies": [dict(a) for a in anomalies], "feedback": []},
    )

    def handle(request: ServiceRequest) -> tuple[int, dict[str, Any]]:
        body = request.body
        if request.operation == "GetAnomalyMonitors":
            wanted = body.get("MonitorArnList")
            monitors = [monitor] if not wanted or monitor_arn in wanted else []
            if wanted and not monitors:
                return _error("UnknownMonitorException", f"no monitor {wanted[0]}")
            return _page(monitors, body, "AnomalyMonitors")
        if request.operation == "GetAnomalies":
            interval = body.get("DateInterval") or {}
            if not interval.get("StartDate"):
                return _error("ValidationException", "DateInterval.StartDate is required")
            first = str(interval["StartDate"])[:10]
            last = str(interval.get("EndDate") or "9999-12-31")[:10]
            if body.get("MonitorArn") and body["MonitorArn"] != monitor_arn:
                return _error("UnknownMonitorException", f"no monitor {body['MonitorArn']}")
            picked = [
                a
                for a in anomalies
                if first <= a["AnomalyEndDate"] <= last
                and (not body.get("Feedback") or a.get("Feedback") == body["Feedback"])
            ]
            return _page(picked, body, "Anomalies")
        # ProvideAnomalyFeedback
        anomaly_id, feedback = body.get("AnomalyId"), body.get("Feedback")
        if feedback not in FEEDBACK:
            return _error("ValidationException", f"Feedback must be one of {', '.join(FEEDBACK)}")
        if anomaly_id not in by_id:
            return _error("ValidationException", f"no anomaly {anomaly_id}")
        by_id[anomaly_id]["Feedback"] = feedback
        truth["feedback"].append(
            {
                "anomaly_id": anomaly_id,
                "feedback": feedback,
                "access_key_id": request.access_key_id,
                "at": datetime.now(UTC).isoformat(),
            }
        )
        return 200, {"AnomalyId": anomaly_id}

    return SandboxService(
        name="cost-anomaly-detection",
        signing_name="ce",
        operations=OPERATIONS,
        handle=handle,
        json_version="1.1",
    )
