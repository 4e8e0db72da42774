"""The idle scan against the sandbox organisation: every check agrees with the ground truth,
throttling is retried, a denied account is reported while the others' findings stay intact,
and the flow and the CLI deliver the findings."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from tasks.aws.records import MetricRequest
from tasks.aws.session import AwsAccess, Target, fan_out
from tasks.findings.store import FindingsStore
from tasks.idle import aws
from tasks.idle.checks import CHECKS, OPT_IN, select_checks
from tasks.idle.registry import resolve_params
from tasks.idle.scan import IdleScanner, TargetScan
from tasks.pricing.book import BundledPrices
from tasks.settings import load_settings
from tests.plugins.sandbox import SandboxHandle

Key = tuple[str, str, str]


@pytest.fixture(scope="module")
def sandbox_environ(sandbox: SandboxHandle) -> Iterator[SandboxHandle]:
    """The sandbox's AWS environment for the whole module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AWS_PROFILE", raising=False)
        for name, value in sandbox.env.items():
            patch.setenv(name, value)
        yield sandbox


def scan(
    box: SandboxHandle,
    checks: list[str] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    store: FindingsStore | None = None,
    access: AwsAccess | None = None,
) -> list[TargetScan]:
    settings = load_settings()
    access = access or AwsAccess(settings.aws)
    selected = select_checks(checks)
    scanner = IdleScanner(
        access,
        selected,
        resolve_params(selected, overrides or {}),
        BundledPrices(),
        settings.idle,
        datetime.now(UTC),
        store=store,
    )
    out = fan_out(scanner.scan_target, access.targets(box.accounts, box.regions), 4)
    assert not out.errors, out.errors
    return list(out.results.values())


def expected(box: SandboxHandle, key: str) -> set[Key]:
    return {
        (r["account_id"], r["region"], r["resource_id"])
        for r in box.ground_truth["resources"]
        if r["expected"].get(key)
    }


def found(scans: list[TargetScan], check: str) -> set[Key]:
    return {
        (f.account_id, f.region, f.resource_id)
        for s in scans
        for f in s.findings
        if f.check == check
    }


@pytest.fixture(scope="module")
def full_scan(sandbox_environ: SandboxHandle, tmp_path_factory: pytest.TempPathFactory):
    store = FindingsStore(f"sqlite:///{tmp_path_factory.mktemp('idle') / 'findings.db'}")
    return scan(sandbox_environ, store=store)


# ec2-rightsize runs only when asked for, and its ground truth is its own (test_rightsizing.py)
@pytest.mark.parametrize("check", [c for c in CHECKS if c not in OPT_IN])
def test_every_check_agrees_with_the_ground_truth(
    sandbox_environ: SandboxHandle, full_scan: list[TargetScan], check: str
) -> None:
    truth = expected(sandbox_environ, check)
    got = found(full_scan, check)
    assert truth, f"the sandbox seeds no positive case for {check}"
    assert got - truth == set(), "false positives (precision < 1)"
    assert truth - got == set(), "missed (recall < 1)"
    assert all(not s.errors for s in full_scan)


def test_findings_carry_evidence_savings_and_owner(full_scan: list[TargetScan]) -> None:
    findings = [f for s in full_scan for f in s.findings]
    records = {f.resource_id: f for f in findings}
    assert all(f.monthly_savings_usd is not None for f in findings)
    for finding in findings:
        if finding.check in {"ec2-idle", "ebs-idle", "elb-idle", "nat-idle", "rds-idle"}:
            assert {"window_days", "statistics", "datapoints_used", "thresholds"} <= set(
                finding.evidence
            )
        assert finding.resource_arn.startswith("arn:aws:")
        assert finding.owner == finding.tags.get("owner")
    assert any(f.evidence.get("protected") for f in records.values())


def test_peak_mode_spares_bursty_instances(sandbox_environ: SandboxHandle) -> None:
    scans = scan(sandbox_environ, ["ec2-idle"], {"ec2-idle": {"mode": "peak"}})
    assert found(scans, "ec2-idle") == expected(sandbox_environ, "ec2-idle:peak")
    bursty = {
        r["resource_id"]
        for r in sandbox_environ.ground_truth["resources"]
        if r["profile"] == "bursty"
    }
    assert bursty and not bursty & {k[2] for k in found(scans, "ec2-idle")}
    reasons = [s.reason for t in scans for s in t.skipped]
    assert any(r.startswith("too few datapoints") for r in reasons)


def test_get_metric_data_batches_500_queries_a_request(sandbox_environ: SandboxHandle) -> None:
    access = AwsAccess(load_settings().aws)
    cloudwatch = access.client("cloudwatch", sandbox_environ.management_account_id, "us-east-1")
    calls: list[int] = []
    cloudwatch.meta.events.register(
        "provide-client-params.cloudwatch.GetMetricData",
        lambda params, **_: calls.append(len(params["MetricDataQueries"])),
    )
    instance = next(
        r for r in sandbox_environ.ground_truth["resources"]
        if r["profile"] == "busy" and r["account_id"] == sandbox_environ.management_account_id
        and r["region"] == "us-east-1"
    )  # fmt: skip
    requests = [
        MetricRequest(f"i-{n:017x}", "cpu", "AWS/EC2", "CPUUtilization",
                      (("InstanceId", f"i-{n:017x}"),), "Average")
        for n in range(1000)
    ] + [
        MetricRequest(instance["resource_id"], "cpu", "AWS/EC2", "CPUUtilization",
                      (("InstanceId", instance["resource_id"]),), "Average")
    ]  # fmt: skip
    start, end = aws.metric_window(datetime.now(UTC), 14)
    frame = aws.get_metric_data(cloudwatch, requests, start, end)
    assert calls == [500, 500, 1]
    assert list(frame) == [(instance["resource_id"], "cpu")]
    assert len(frame[(instance["resource_id"], "cpu")]) == 14


class _Body:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def test_throttling_is_retried(sandbox_environ: SandboxHandle) -> None:
    access = AwsAccess(load_settings().aws)
    account = sandbox_environ.management_account_id
    ec2 = access.client("ec2", account, "us-east-1")
    throttled: list[str] = []
    lock = threading.Lock()

    def throttle(request: Any, **_: Any) -> AWSResponse | None:
        with lock:
            if len(throttled) >= 2:
                return None
            throttled.append(request.url)
        body = (
            b"<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
            b"<Message>Request limit exceeded.</Message></Error></Errors>"
            b"<RequestID>t</RequestID></Response>"
        )
        return AWSResponse(request.url, 503, {}, _Body(body))

    ec2.meta.events.register("before-send.ec2.DescribeVolumes", throttle)
    scanner = IdleScanner(
        access,
        select_checks(["ebs-unattached"]),
        resolve_params(select_checks(["ebs-unattached"]), {}),
        BundledPrices(),
        load_settings().idle,
        datetime.now(UTC),
    )
    result = scanner.scan_target(Target(account, "us-east-1"))
    assert len(throttled) == 2
    assert result.errors == []
    truth = {
        k for k in expected(sandbox_environ, "ebs-unattached") if k[:2] == (account, "us-east-1")
    }
    assert {(f.account_id, f.region, f.resource_id) for f in result.findings} == truth


def test_denied_account_is_reported_and_others_stay_intact(
    sandbox_environ: SandboxHandle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prefect_harness: None,
) -> None:
    from prefect.artifacts import Artifact

    from flows.scan_idle_resources import scan_idle_resources

    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path))
    checks = ["eip-unassociated", "ebs-unattached", "snapshot-stale"]
    first = scan_idle_resources(
        checks=checks, accounts=sandbox_environ.accounts, regions=sandbox_environ.regions
    )
    keys = {(f.check, f.account_id, f.region, f.resource_id) for f in first.findings}
    truth = {(c, *k) for c in checks for k in expected(sandbox_environ, c)}
    assert keys == truth and first.errors == []
    assert first.lifecycle["new"] == len(truth)
    assert first.total_monthly_savings_usd == sum(
        f.monthly_savings_usd or 0 for f in first.findings
    )
    savings = [f.monthly_savings_usd for f in first.findings]
    assert savings == sorted(savings, reverse=True)  # type: ignore[type-var]

    denied = sandbox_environ.member_accounts[0]
    sandbox_environ.deny_role(sandbox_environ.role_arn(denied))
    try:
        second = scan_idle_resources(
            checks=checks, accounts=sandbox_environ.accounts, regions=sandbox_environ.regions
        )
    finally:
        sandbox_environ.allow_role(sandbox_environ.role_arn(denied))
    assert {(e["account_id"], e["code"]) for e in second.errors} == {(denied, "AccessDenied")}
    assert {e["region"] for e in second.errors} == set(sandbox_environ.regions)
    others = {k for k in keys if k[1] != denied}
    assert {(f.check, f.account_id, f.region, f.resource_id) for f in second.findings} == others
    # the denied account was not scanned: its findings stay open, nothing resolved
    assert second.lifecycle["resolved"] == 0
    store = FindingsStore(f"sqlite:///{tmp_path / 'findings.db'}")
    assert {s.finding.account_id for s in store.list(statuses=["open"])} >= {denied}

    table: Any = Artifact.get("idle-findings")
    errors: Any = Artifact.get("idle-scan-errors")
    assert table is not None and errors is not None
    assert denied in str(errors.data) and "AccessDenied" in str(errors.data)
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert rows[-1]["check"] == "TOTAL"
    progress: Any = Artifact.get("idle-scan-progress")
    assert progress is not None and float(progress.data) == 100.0


def test_cli_prints_findings_as_json(
    sandbox_environ: SandboxHandle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prefect_harness: None,
) -> None:
    from typer.testing import CliRunner

    from finops.cli import app

    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path))
    account = sandbox_environ.management_account_id
    result = CliRunner().invoke(
        app,
        ["scan", "--checks", "eip-unassociated", "--accounts", account, "--regions",
         "us-east-1,eu-west-1", "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    findings = json.loads(result.stdout)
    truth = {k for k in expected(sandbox_environ, "eip-unassociated") if k[0] == account}
    assert {(f["account_id"], f["region"], f["resource_id"]) for f in findings} == truth
    required = {
        "fingerprint", "check", "resource_id", "resource_arn", "account_id", "region",
        "monthly_savings_usd", "evidence", "recommended_actions",
    }  # fmt: skip
    assert all(required <= set(f) for f in findings)
    assert all(f["monthly_savings_usd"] == "3.65" for f in findings)

    bad = CliRunner().invoke(app, ["scan", "--checks", "ec2-idel"])
    assert bad.exit_code == 2 and "unknown check(s) ec2-idel" in bad.output
