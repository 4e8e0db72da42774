"""What the demo reads from code that other parts of the project own, each in one place.

- ``run_result``: a finished flow run's persisted return value;
- ``daily_facts`` / ``remediation_facts``: what the summary reads of ``finops-daily``'s and
  ``remediate-findings``' results (a dict today, a pydantic model tomorrow: ``_field`` reads
  either);
- ``safe_actions``: the remediation actions the demo approves on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from finops.demo.errors import DemoError


def safe_actions() -> frozenset[str]:
    """The action names ``DEMO_AUTO_APPROVE=1`` approves: reversible, or backed up first.

    The action registry says which those are; the demo approves a finding only when its default
    action (the first of its check's menu that is neither skip nor explicit-only) is one of them.
    """
    from tasks.remediation.actions import safe_actions as registered_safe_actions

    return frozenset(registered_safe_actions())


def run_result(run: Any) -> Any:
    """The persisted return value of a finished flow run.

    Raises:
        DemoError: the run did not complete (its state and message say why).
    """
    if run.state is None or not run.state.is_completed():
        name = run.state.name if run.state else "no state"
        message = run.state.message if run.state else ""
        raise DemoError(f"flow run {run.id} ended as {name}: {message}")
    return run.state.result()


def _field(result: Any, name: str, default: Any = None) -> Any:
    """A field of a flow result, whether a mapping or a model (missing or None: ``default``)."""
    value = result.get(name) if isinstance(result, dict) else getattr(result, name, None)
    return default if value is None else value


@dataclass
class DailyFacts:
    """What the summary reads of a ``finops-daily`` result."""

    day: str
    ingested_rows: int = 0
    anomalies_today: int = 0
    scanned_checks: set[str] = field(default_factory=set)
    awaiting_approval: int = 0
    timings_s: dict[str, float] = field(default_factory=dict)


def daily_facts(result: Any) -> DailyFacts:
    """The facts of a ``finops-daily`` result (see ``flows/finops_daily.py``)."""
    scanned = _field(_field(result, "scan", {}), "scanned", [])
    return DailyFacts(
        day=str(_field(result, "day")),
        ingested_rows=int(_field(_field(result, "ingest", {}), "rows", 0)),
        anomalies_today=len(_field(_field(result, "anomalies", {}), "anomalies", [])),
        scanned_checks={
            str(_field(item, "check") if not isinstance(item, list | tuple) else item[0])
            for item in scanned
        },
        awaiting_approval=int(_field(result, "awaiting_approval", 0)),
        timings_s={str(k): float(v) for k, v in dict(_field(result, "timings_s", {})).items()},
    )


@dataclass
class RemediationFacts:
    """What the summary reads of a ``remediate-findings`` result."""

    status: str | None = None
    approver: str | None = None
    dry_run: bool | None = None
    attempted: int = 0
    succeeded: int = 0
    skipped: int = 0
    failed: int = 0
    success_rate: float | None = None
    skip_reasons: dict[str, int] = field(default_factory=dict)
    savings_achieved_usd: Decimal = Decimal(0)
    savings_achieved_by_place: dict[str, Decimal] = field(default_factory=dict)


def remediation_facts(result: Any) -> RemediationFacts:
    """The facts of a ``remediate-findings`` result (see ``flows/remediate_findings.py``)."""
    rate = _field(result, "success_rate")
    status = _field(result, "status")
    return RemediationFacts(
        status=None if status is None else str(getattr(status, "value", status)),
        approver=_field(result, "approver"),
        dry_run=_field(result, "dry_run"),
        attempted=int(_field(result, "attempted", 0)),
        succeeded=int(_field(result, "succeeded", 0)),
        skipped=int(_field(result, "skipped", 0)),
        failed=int(_field(result, "failed", 0)),
        success_rate=None if rate is None else float(rate),
        skip_reasons={str(k): int(v) for k, v in dict(_field(result, "skip_reasons", {})).items()},
        savings_achieved_usd=Decimal(str(_field(result, "savings_achieved_usd", 0))),
        savings_achieved_by_place={
            str(k): Decimal(str(v))
            for k, v in dict(_field(result, "savings_achieved_by_place", {})).items()
        },
    )
