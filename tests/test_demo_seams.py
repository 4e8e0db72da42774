"""The one place the demo reads flow results: a dict and a pydantic model read the same."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from finops.demo.seams import (
    daily_facts,
    remediation_facts,
    safe_actions,
)


class _Scan(BaseModel):
    scanned: list[tuple[str, str, str]]


class _Daily(BaseModel):
    day: str
    ingest: dict[str, Any] | None
    anomalies: dict[str, Any] | None
    scan: _Scan | None
    awaiting_approval: int
    timings_s: dict[str, float]


class _Remediation(BaseModel):
    status: str
    approver: str | None
    dry_run: bool
    attempted: int
    succeeded: int
    skipped: int
    failed: int
    success_rate: Decimal | None
    skip_reasons: dict[str, int]
    savings_achieved_usd: Decimal
    savings_achieved_by_place: dict[str, Decimal]


DAILY: dict[str, Any] = {
    "day": "2026-12-03",
    "ingest": {"rows": 12},
    "anomalies": {"anomalies": [{"id": "a"}, {"id": "b"}]},
    "scan": {"scanned": [["ec2-idle", "1", "r"], ["ebs-unattached", "1", "r"]]},
    "awaiting_approval": 3,
    "timings_s": {"ingest": 1.5},
}
REMEDIATION: dict[str, Any] = {
    "status": "approved",
    "approver": "ada",
    "dry_run": False,
    "attempted": 2,
    "succeeded": 2,
    "skipped": 1,
    "failed": 0,
    "success_rate": "1.0",
    "skip_reasons": {"protected": 1},
    "savings_achieved_usd": "12.50",
    "savings_achieved_by_place": {"111111111111/us-east-1": "12.50"},
}


def test_daily_and_remediation_results_read_the_same_as_dict_or_model() -> None:
    assert daily_facts(_Daily.model_validate(DAILY)) == daily_facts(DAILY)
    facts = daily_facts(DAILY)
    assert (facts.day, facts.ingested_rows, facts.anomalies_today) == ("2026-12-03", 12, 2)
    assert facts.scanned_checks == {"ec2-idle", "ebs-unattached"}
    assert remediation_facts(_Remediation.model_validate(REMEDIATION)) == remediation_facts(
        REMEDIATION
    )
    assert remediation_facts(REMEDIATION).success_rate == 1.0
    assert remediation_facts(REMEDIATION).savings_achieved_usd == Decimal("12.50")
    assert remediation_facts(REMEDIATION).savings_achieved_by_place == {
        "111111111111/us-east-1": Decimal("12.50")
    }
    # an older result without the savings reads as nothing achieved
    older = {k: v for k, v in REMEDIATION.items() if not k.startswith("savings")}
    assert remediation_facts(older).savings_achieved_usd == 0


def test_a_stage_that_did_not_run_reads_as_empty() -> None:
    facts = daily_facts({"day": "2026-12-03", "ingest": None, "scan": None, "anomalies": None})
    assert (facts.ingested_rows, facts.anomalies_today, facts.scanned_checks) == (0, 0, set())


def test_safe_actions_are_the_registrys_reversible_or_backed_up_ones() -> None:
    from tasks.remediation.actions import ACTIONS

    assert safe_actions() == {
        name
        for name, spec in ACTIONS.items()
        if (spec.reversible or spec.backup) and not spec.explicit_only
    }
    assert "terminate" not in safe_actions() and "snapshot_and_delete" in safe_actions()
