"""Rightsizing against the sandbox: AWS's optimisers as boto3 reads them, our own rule, one finding
per instance (precision and recall 1.0 against the ground truth, traps included), the opt-in
note for the account that is not enrolled, and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tasks.aws.session import AwsAccess, fan_out
from tasks.findings.model import Finding
from tasks.idle.checks import select_checks
from tasks.idle.registry import resolve_params
from tasks.pricing.book import BundledPrices
from tasks.rightsizing.model import CO, COH, OptimizerAdvice
from tasks.rightsizing.optimizers import fetch_advice
from tasks.rightsizing.scan import AdvisedScanner
from tasks.settings import load_settings
from tests.plugins.sandbox import SandboxHandle

Key = tuple[str, str, str]


@pytest.fixture(scope="module")
def environ(sandbox: SandboxHandle) -> Iterator[SandboxHandle]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AWS_PROFILE", raising=False)
        for name, value in sandbox.env.items():
            patch.setenv(name, value)
        yield sandbox


@pytest.fixture(scope="module")
def advice(environ: SandboxHandle) -> OptimizerAdvice:
    access = AwsAccess(load_settings().aws)
    return fetch_advice(access, environ.accounts, environ.regions)


@pytest.fixture(scope="module")
def findings(environ: SandboxHandle, advice: OptimizerAdvice) -> list[Finding]:
    settings = load_settings()
    access = AwsAccess(settings.aws)
    checks = select_checks(["ec2-rightsize"])
    scanner = AdvisedScanner(
        advice,
        access,
        checks,
        resolve_params(checks, {}),
        BundledPrices(),
        settings.idle,
        datetime.now(UTC),
    )
    out = fan_out(scanner.scan_target, access.targets(environ.accounts, environ.regions), 4)
    assert not out.errors, out.errors
    assert all(not scan.errors for scan in out.results.values())
    return [f for scan in out.results.values() for f in scan.findings]


def truth(box: SandboxHandle) -> list[dict[str, Any]]:
    return list(box.ground_truth["rightsizing"]["instances"])


def key(record: dict[str, Any]) -> Key:
    return (record["account_id"], record["region"], record["instance_id"])


# --------------------------------------------------------------------------------------------
# The sandbox speaks both services as boto3 expects
# --------------------------------------------------------------------------------------------


def test_compute_optimizer_pages_and_refuses_the_account_not_opted_in(
    environ: SandboxHandle,
) -> None:
    management = environ.management_account_id
    off = environ.ground_truth["rightsizing"]["not_opted_in"]
    assert off == [environ.accounts[-1]]
    co = environ.client("compute-optimizer", management, "us-east-1")
    assert co.get_enrollment_status()["status"] == "Active"
    statuses = {
        s["accountId"]: s["status"]
        for page in co.get_paginator("get_enrollment_statuses_for_organization").paginate()
        for s in page["accountEnrollmentStatuses"]
    }
    assert statuses == {a: ("Inactive" if a in off else "Active") for a in environ.accounts[1:]}
    enrolled = [a for a in environ.accounts if a not in off]
    pages, token = [], None
    while True:
        kwargs: dict[str, Any] = {"accountIds": enrolled, "maxResults": 7}
        if token:
            kwargs["nextToken"] = token
        page = co.get_ec2_instance_recommendations(**kwargs)
        pages.append(page["instanceRecommendations"])
        token = page.get("nextToken")
        if not token:
            break
    assert len(pages) > 1 and all(len(p) == 7 for p in pages[:-1])
    arns = [r["instanceArn"] for p in pages for r in p]
    assert len(arns) == len(set(arns))
    assert {a.split(":")[4] for a in arns} == set(enrolled)
    with pytest.raises(co.exceptions.OptInRequiredException):
        co.get_ec2_instance_recommendations(accountIds=environ.accounts)
    member = environ.client("compute-optimizer", off[0], "us-east-1")
    with pytest.raises(member.exceptions.OptInRequiredException):
        member.get_ec2_instance_recommendations()
    with pytest.raises(co.exceptions.InvalidParameterValueException):
        co.get_ec2_instance_recommendations(accountIds=enrolled, nextToken="not-a-token")


def test_cost_optimization_hub_lists_the_organisation_from_one_endpoint(
    environ: SandboxHandle,
) -> None:
    management = environ.management_account_id
    off = environ.ground_truth["rightsizing"]["not_opted_in"]
    hub = environ.client("cost-optimization-hub", management, "us-east-1")
    assert hub.get_preferences()["savingsEstimationMode"] == "AfterDiscounts"
    statuses = {
        i["accountId"]: i["status"]
        for i in hub.list_enrollment_statuses(includeOrganizationInfo=True)["items"]
    }
    assert statuses == {a: ("Inactive" if a in off else "Active") for a in environ.accounts}
    items = [
        i
        for page in hub.get_paginator("list_recommendations").paginate(
            PaginationConfig={"PageSize": 5}
        )
        for i in page["items"]
    ]
    assert {i["accountId"] for i in items} == set(environ.accounts) - set(off)
    graviton = [i for i in items if i["actionType"] == "MigrateToGraviton"]
    assert {i["resourceId"] for i in graviton} == {
        r["instance_id"] for r in truth(environ) if r["profile"] == "rs-graviton" and r["enrolled"]
    }
    detail = hub.get_recommendation(recommendationId=graviton[0]["recommendationId"])
    assert detail["recommendedResourceDetails"]["ec2Instance"]["configuration"]["instance"] == {
        "type": "m6g.xlarge"
    }
    with pytest.raises(hub.exceptions.ResourceNotFoundException):
        hub.get_recommendation(recommendationId="rec-nope")


# --------------------------------------------------------------------------------------------
# Findings against the ground truth
# --------------------------------------------------------------------------------------------


def test_enrolment_is_checked_first_and_the_missing_account_gets_one_opt_in_line(
    environ: SandboxHandle, advice: OptimizerAdvice
) -> None:
    off = environ.ground_truth["rightsizing"]["not_opted_in"][0]
    assert off not in advice.enrolled[CO] and off not in advice.enrolled[COH]
    lines = [n for n in advice.notes if off in n]
    assert len(lines) == 2, advice.notes  # one per optimiser
    assert all("opt in with aws " in n and "update-enrollment-status" in n for n in lines)
    assert not [n for n in advice.notes if off not in n], advice.notes


def test_precision_and_recall_are_one_traps_included(
    environ: SandboxHandle, findings: list[Finding]
) -> None:
    expected = {key(r) for r in truth(environ) if r["expected"]}
    got = {(f.account_id, f.region, f.resource_id) for f in findings}
    assert expected and got == expected
    never = {key(r) for r in truth(environ) if r["profile"] in {"rs-memory-bound", "rs-burstable"}}
    assert never and not never & got


def test_no_idle_instance_is_also_a_rightsizing_finding(
    environ: SandboxHandle, findings: list[Finding], advice: OptimizerAdvice
) -> None:
    idle = {
        (r["account_id"], r["region"], r["resource_id"])
        for r in environ.ground_truth["resources"]
        if r["resource_type"] == "ec2-instance" and r["profile"] in {"idle", "protected-idle"}
    }
    # AWS calls them idle where it is enrolled (and the Hub says Stop) ...
    off = set(environ.ground_truth["rightsizing"]["not_opted_in"])
    aws_idle = {k for k, recs in advice.recommendations.items() if any(r.idle for r in recs)}
    assert aws_idle and {k for k in idle if k[0] not in off} <= aws_idle
    # ... and they stay cleanup's findings, not rightsizing's
    assert not idle & {(f.account_id, f.region, f.resource_id) for f in findings}


def test_one_finding_per_instance_names_every_source_and_whether_they_agree(
    environ: SandboxHandle, findings: list[Finding]
) -> None:
    by_key = {(f.account_id, f.region, f.resource_id): f for f in findings}
    assert len(by_key) == len(findings)
    for record in truth(environ):
        finding = by_key.get(key(record))
        if finding is None:
            continue
        evidence = finding.evidence
        proposing = {
            name
            for name, said in evidence["sources"].items()
            if said["recommended_type"] != record["current_type"]
        }
        assert proposing == set(record["sources"]), record
        assert evidence["recommended_type"] == (record["own_type"] or record["aws_type"])
        if not record["enrolled"]:
            assert evidence["agree"] is None and evidence["aws_optimisers_consulted"] == []
        elif record["profile"] == "rs-over-provisioned":
            assert evidence["agree"] is True
            assert evidence["savings_basis"] == "Cost Optimization Hub, after discounts"
        elif record["profile"] == "rs-graviton":
            assert evidence["agree"] is False and evidence["architecture_change"] is True
            assert finding.recommended_actions == ["skip"]  # a new image, not a resize
        assert finding.monthly_savings_usd and finding.monthly_savings_usd > 0
        if record["profile"] == "rs-over-provisioned":
            assert finding.recommended_actions == ["resize", "skip"]
            assert evidence["memory_max_percent"] is not None
            assert evidence["cpu_p95_percent"] <= 14.0


def test_the_memory_bound_instance_keeps_its_type_because_of_memory(
    environ: SandboxHandle, advice: OptimizerAdvice
) -> None:
    from tasks.rightsizing.catalog import spec
    from tasks.rightsizing.rules import Ec2RightsizeParams, choose_type

    prices = BundledPrices()
    params = Ec2RightsizeParams()

    def price(name: str) -> Any:
        return prices.ec2_instance_hour("us-east-1", name)

    current = spec("r5.xlarge")
    assert current is not None
    # the same CPU without memory data would still keep 32 GiB; with the agent's 93 % it must
    kept, need = choose_type(current, 9.0, 9.0, 93.0, 1e9, params, price)
    assert kept is None and need["memory_gib"] > current.memory_gib
    # a rule blind to memory would halve it: that is the trap
    blind = Ec2RightsizeParams(memory_percent=100.0)
    halved, _ = choose_type(current, 9.0, 9.0, 40.0, 1e9, blind, price)
    assert halved is not None and halved.memory_gib < current.memory_gib


# --------------------------------------------------------------------------------------------
# Through the CLI
# --------------------------------------------------------------------------------------------


def test_cli_scan_prints_rightsizing_findings_and_the_opt_in_note(
    environ: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> None:
    from typer.testing import CliRunner

    from finops.cli import app

    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(
        app, ["scan", "--checks", "ec2-rightsize", "--regions", "us-east-1", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    expected = {key(r) for r in truth(environ) if r["expected"] and r["region"] == "us-east-1"}
    assert {(f["account_id"], f["region"], f["resource_id"]) for f in printed} == expected
    assert {f["check"] for f in printed} == {"ec2-rightsize"}
    off = environ.ground_truth["rightsizing"]["not_opted_in"][0]
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 2 and all(off in line and "opt in with" in line for line in notes)


# --------------------------------------------------------------------------------------------
# EBS volumes: Compute Optimizer's recommendations
# --------------------------------------------------------------------------------------------


def test_ebs_findings_match_the_ground_truth_and_dry_run_proves_the_modify(
    environ: SandboxHandle, advice: OptimizerAdvice
) -> None:
    from tasks.remediation.actions import ACTIONS, ActionContext
    from tasks.remediation.engine import carry_out

    settings = load_settings()
    access = AwsAccess(settings.aws)
    checks = select_checks(["ebs-rightsize"])
    scanner = AdvisedScanner(
        advice, access, checks, resolve_params(checks, {}), BundledPrices(), settings.idle,
        datetime.now(UTC),
    )  # fmt: skip
    out = fan_out(scanner.scan_target, access.targets(environ.accounts, environ.regions), 4)
    assert not out.errors
    found = [f for scan in out.results.values() for f in scan.findings]
    volumes = environ.ground_truth["rightsizing"]["volumes"]
    expected = {(v["account_id"], v["region"], v["volume_id"]) for v in volumes if v["expected"]}
    assert expected and {(f.account_id, f.region, f.resource_id) for f in found} == expected
    (finding,) = [
        f for f in found if (f.account_id, f.region) == (environ.accounts[0], "us-east-1")
    ]
    assert finding.evidence["recommended"]["volume_type"] == "gp3"
    # io1 100 GiB at 6,000 IOPS ($12.50 + $390.00) against gp3 at 3,000 IOPS ($8.00)
    assert finding.monthly_savings_usd == Decimal("394.50")
    assert finding.recommended_actions == ["modify_volume", "skip"]

    def client(service: str) -> Any:
        return access.client(service, finding.account_id, finding.region)

    outcome = carry_out(ACTIONS["modify_volume"], ActionContext(finding, client, dry_run=True))
    assert outcome.result == "dry_run"
    (volume,) = client("ec2").describe_volumes(VolumeIds=[finding.resource_id])["Volumes"]
    assert (volume["VolumeType"], volume["Iops"]) == ("io1", 6000)  # nothing changed
