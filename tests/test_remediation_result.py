"""A remediation run's result: every included finding with its outcome, and the savings achieved.

The flow runs against the module's seeded sandbox as in ``tests/test_remediation_flow.py``: it
pauses, the test answers it the way the UI's Resume form does, and reads the returned result,
the report artifact and ``finops findings``.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from typer.testing import CliRunner

import finops.demo.summary as demo_summary
from finops.cli import app
from finops.demo.seams import DailyFacts, RemediationFacts, remediation_facts
from tasks.findings.model import Finding
from tasks.remediation.models import RemediationResult
from tasks.remediation.report import ActionResult, report_markdown, summarise
from tasks.settings import AnomalySettings
from tests.plugins.remediation import AwsWorld
from tests.test_remediation_flow import (
    form_schema,
    label_for,
    resume_like_the_ui,
    run_artifacts,
    start_flow,
    store_findings,
    wait_until_paused,
)


def stopped_instance(world: AwsWorld) -> str:
    instance = world.instance()
    world.client("ec2").stop_instances(InstanceIds=[instance])
    return instance


def place(finding: Finding) -> str:
    return f"{finding.account_id}/{finding.region}"


def by_fingerprint(result: RemediationResult) -> dict[str, ActionResult]:
    return {a.fingerprint: a for a in result.actions}


@pytest.mark.usefixtures("prefect_harness")
def test_every_included_finding_has_its_outcome_and_the_savings_achieved_add_up(
    remediation_sandbox: AwsWorld, paused_runs: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINOPS_REMEDIATION__DRY_RUN", "false")
    member = remediation_sandbox
    management = replace(member, account_id=json.loads(os.environ["FINOPS_AWS__ACCOUNTS"])[0])
    # Two volumes deleted (two places), one stopped instance whose default is skip (its menu
    # has only terminate, which runs only when picked), one volume the approver set to skip, and
    # one volume protected while the approval waits, which the engine leaves alone.
    done_here = member.finding("ebs-unattached", member.volume(), savings="10.00")
    done_there = management.finding("ebs-unattached", management.volume(), savings="20.00")
    default_skip = member.finding(
        "ec2-stopped",
        stopped_instance(member),
        savings="40.00",
        actions=["terminate", "skip"],
        resource_type="ec2:instance",
    )
    picked_skip = member.finding("ebs-unattached", member.volume(), savings="5.00")
    protected = member.finding("ebs-unattached", member.volume(), savings="12.50")
    included = [done_here, done_there, default_skip, picked_skip, protected]
    store_findings(included)

    run = start_flow(approval_timeout_s=300)
    run_id = wait_until_paused(run, paused_runs)
    member.client("ec2").create_tags(
        Resources=[protected.resource_id], Tags=[{"Key": "finops:protected", "Value": "true"}]
    )
    schema = form_schema(run_id)
    resume_like_the_ui(
        run_id,
        {
            "decision": "approve",
            "findings": [label_for(schema, f) for f in included],
            "actions": [f"{label_for(schema, picked_skip)} -> skip"],
            "approver": "Ana",
        },
    )
    result = run.wait()

    outcomes = by_fingerprint(result)
    assert set(outcomes) == {f.fingerprint for f in included}, "every included finding appears"
    assert (result.attempted, result.succeeded, result.skipped, result.failed) == (5, 2, 3, 0)
    assert result.succeeded + result.skipped + result.failed == result.attempted
    assert outcomes[done_here.fingerprint].result == "succeeded"
    assert outcomes[done_there.fingerprint].result == "succeeded"
    skipped = outcomes[default_skip.fingerprint]
    assert (skipped.result, skipped.resource_id) == ("skipped", default_skip.resource_id)
    assert "skip" in skipped.reason and "default" in skipped.reason
    assert outcomes[picked_skip.fingerprint].result == "skipped"
    assert "skip was chosen" in outcomes[picked_skip.fingerprint].reason
    assert "protected" in outcomes[protected.fingerprint].reason
    assert sum(result.skip_reasons.values()) == 3

    assert result.savings_achieved_usd == Decimal("30.00")
    assert result.savings_achieved_by_place == {
        place(done_here): Decimal("10.00"),
        place(done_there): Decimal("20.00"),
    }
    report = run_artifacts(run_id)["remediation-report"]
    assert "Savings achieved: $30.00 per month (USD)" in report
    assert f"{place(done_there)}: $20.00" in report and default_skip.resource_id in report

    # `finops findings`: the two remediated volumes are not counted in what is still to save.
    listing = CliRunner().invoke(app, ["findings"])
    assert listing.exit_code == 0, listing.output
    last = listing.output.splitlines()[-1]
    assert "3 still to act on, $57.50 per month (USD)" in last
    assert "2 remediated" in last and "$30.00" in last


@pytest.mark.usefixtures("prefect_harness")
def test_a_dry_run_achieves_nothing_and_says_so(
    remediation_sandbox: AwsWorld, paused_runs: set[str]
) -> None:
    world = remediation_sandbox
    volume = world.finding("ebs-unattached", world.volume(), savings="10.00")
    default_skip = world.finding(
        "ec2-stopped",
        stopped_instance(world),
        actions=["terminate", "skip"],
        resource_type="ec2:instance",
    )
    store_findings([volume, default_skip])
    run = start_flow(approval_timeout_s=300)
    run_id = wait_until_paused(run, paused_runs)
    schema = form_schema(run_id)
    resume_like_the_ui(
        run_id,
        {
            "decision": "approve",
            "findings": [label_for(schema, f) for f in (volume, default_skip)],
            "approver": "Ana",
        },
    )
    result = run.wait()

    assert result.dry_run is True
    outcomes = by_fingerprint(result)
    assert outcomes[volume.fingerprint].result == "dry_run"
    assert outcomes[default_skip.fingerprint].result == "skipped"
    assert (result.attempted, result.succeeded, result.skipped) == (2, 1, 1)
    assert result.savings_achieved_usd == Decimal(0) and result.savings_achieved_by_place == {}
    report = run_artifacts(run_id)["remediation-report"]
    assert "Savings achieved: $0.00 per month (USD) (dry run: nothing changed)" in report


def _result(result: str, account: str, savings: str, action: str = "delete") -> ActionResult:
    return ActionResult(
        f"fp-{account}-{result}-{savings}",
        "vol-1",
        "ebs-unattached",
        action,
        result,
        account_id=account,
        region="us-east-1",
        monthly_savings_usd=Decimal(savings),
    )


def test_savings_achieved_are_the_succeeded_actions_per_account_and_region() -> None:
    results = [
        _result("succeeded", "111111111111", "10.00"),
        _result("succeeded", "111111111111", "2.50"),
        _result("succeeded", "222222222222", "7.00"),
        _result("already_done", "222222222222", "100.00"),  # nothing this run did
        _result("marked", "222222222222", "100.00", "tag_for_later"),  # not saved yet
        _result("skipped", "111111111111", "100.00"),
        _result("failed", "111111111111", "100.00"),
    ]
    summary = summarise(results)
    assert summary.savings_achieved_usd == Decimal("19.50")
    assert summary.savings_achieved_by_place == {
        "111111111111/us-east-1": Decimal("12.50"),
        "222222222222/us-east-1": Decimal("7.00"),
    }
    assert summarise(results, dry_run=True).savings_achieved_usd == Decimal(0)
    text = report_markdown(results, "approved", "ana", dry_run=False)
    assert "Savings achieved: $19.50 per month (USD)" in text
    assert "111111111111/us-east-1: $12.50" in text
    model = RemediationResult.of(results, "approved", "ana", False)
    assert model.savings_achieved_usd == Decimal("19.50")
    # the persisted form reads back the same (a suspended run resumes in a new process)
    assert RemediationResult.model_validate_json(model.model_dump_json()) == model
    facts = remediation_facts(json.loads(model.model_dump_json()))
    assert facts.savings_achieved_usd == Decimal("19.50")
    assert facts.savings_achieved_by_place["222222222222/us-east-1"] == Decimal("7.00")


def _summary_lines(monkeypatch: pytest.MonkeyPatch, remediation: RemediationFacts) -> list[str]:
    # Spend, anomalies and findings read stores; this test is about the remediation lines.
    monkeypatch.setattr(demo_summary, "_spend_lines", lambda daily, url: ([], Decimal(1000)))
    monkeypatch.setattr(
        demo_summary,
        "anomaly_backtest",
        lambda url, truth, settings: {"found": 0, "injected": 0, "false_alerts": 0},
    )
    monkeypatch.setattr(demo_summary, "_findings_lines", lambda *args: [])
    return demo_summary.summarise(
        daily=DailyFacts(day="2026-12-03", awaiting_approval=5),
        remediation=remediation,
        findings_url="unused",
        cost_store_url="unused",
        truth={},
        anomaly_settings=AnomalySettings(),
        approved=5,
    )


def test_the_demo_summary_says_the_savings_achieved(monkeypatch: pytest.MonkeyPatch) -> None:
    facts: dict[str, Any] = {
        "status": "approved",
        "approver": "demo",
        "dry_run": False,
        "attempted": 5,
        "succeeded": 3,
        "skipped": 2,
        "failed": 0,
        "success_rate": 1.0,
        "skip_reasons": {"skip was chosen": 1, "protected tag finops:protected=true": 1},
        "savings_achieved_usd": "31.25",
        "savings_achieved_by_place": {
            "111111111111/us-east-1": "20.00",
            "222222222222/eu-west-1": "11.25",
        },
    }
    lines = _summary_lines(monkeypatch, remediation_facts(facts))
    (line,) = [x for x in lines if x.startswith("Savings achieved")]
    assert line == (
        "Savings achieved: $31.25 a month "
        "(111111111111/us-east-1 $20.00, 222222222222/eu-west-1 $11.25)"
    )

    dry = remediation_facts({**facts, "dry_run": True, "savings_achieved_usd": "0"})
    (line,) = [x for x in _summary_lines(monkeypatch, dry) if x.startswith("Savings achieved")]
    assert line == "Savings achieved: $0.00 a month (dry run: nothing changed)"
