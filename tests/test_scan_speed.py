"""The scan's own cost: what the sandbox answers so that a scan pays only for its real work.

The sandbox answers the Pricing API from the bundled book (moto has none; every scan paid a 500
and its retries before falling back), the findings store writes a scan in bulk with the same
lifecycle as before, and the scan's AWS requests are counted by operation with their cost.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from tasks.aws.session import AwsAccess
from tasks.findings.model import FindingStatus
from tasks.findings.store import FindingsStore
from tasks.idle.tasks import make_prices
from tasks.pricing.book import BundledPrices
from tasks.settings import load_settings
from tests.plugins.sandbox import SandboxHandle
from tests.test_findings_store import ACCOUNT, volume_finding


def test_sandbox_pricing_api_answers_the_book_prices_through_boto3(
    sandbox_env: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path))
    settings = load_settings()
    prices = make_prices(settings, AwsAccess(settings.aws))
    book = BundledPrices()
    for region, instance_type in [("us-east-1", "t3.micro"), ("eu-west-1", "m5.large")]:
        expected = book.ec2_instance_hour(region, instance_type)
        assert expected is not None
        assert prices.ec2_instance_hour(region, instance_type) == expected
    assert prices.rds_instance_hour("us-east-1", "db.t3.micro", "postgres", True) == (
        book.rds_instance_hour("us-east-1", "db.t3.micro", "postgres", True)
    )
    # answered by the API (cached on disk), not by the fallback after a failure
    cached = json.loads((tmp_path / "pricing-cache.json").read_text())
    asked = [
        book.ec2_instance_hour("us-east-1", "t3.micro"),
        book.ec2_instance_hour("eu-west-1", "m5.large"),
        book.rds_instance_hour("us-east-1", "db.t3.micro", "postgres", True),
    ]
    assert sorted(Decimal(v) for v in cached.values() if v) == sorted(p for p in asked if p)
    assert None not in asked
    pricing = sandbox_env.client("pricing")
    empty = pricing.get_products(
        ServiceCode="AmazonEC2",
        Filters=[
            {"Type": "TERM_MATCH", "Field": "instanceType", "Value": "x99.mega"},
            {"Type": "TERM_MATCH", "Field": "location", "Value": "US East (N. Virginia)"},
        ],
    )
    assert empty["PriceList"] == []
    with pytest.raises(pricing.exceptions.ClientError):
        pricing.get_products(ServiceCode="")


def test_a_large_scan_is_written_in_a_bounded_number_of_statements(tmp_path: Path) -> None:
    """3,000 findings: new, seen again, re-raised, snooze-expired and resolved, in one pass."""
    store = FindingsStore(f"sqlite:///{tmp_path}/findings.db")
    t0 = datetime(2026, 11, 1, 6, tzinfo=UTC)
    scope = [("ebs-unattached", ACCOUNT, "us-east-1")]
    first = [volume_finding(f"vol-{i:05d}") for i in range(3000)]
    assert len(store.record_scan(first, scope=scope, now=t0).new) == 3000

    # a person's transitions in between: one snoozed until before the next scan, one resolved
    store.transition(
        first[0].fingerprint, "snoozed", "alice", snoozed_until=t0 + timedelta(1), now=t0
    )
    store.transition(first[1].fingerprint, "resolved", "alice", now=t0)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    t1 = t0 + timedelta(days=2)
    second = first[:2500] + [volume_finding(f"vol-new-{i}") for i in range(10)]
    outcome = store.record_scan(second, scope=scope, now=t1)
    event.remove(store.engine, "before_cursor_execute", count)

    assert sorted(outcome.reraised) == sorted([first[0].fingerprint, first[1].fingerprint])
    assert len(outcome.still_open) == 2498 and len(outcome.new) == 10
    assert sorted(outcome.resolved) == sorted(f.fingerprint for f in first[2500:])
    # bounded by the statement kinds and 500-fingerprint chunks, not by the number of findings
    assert len(statements) <= 20, statements[:25]
    assert store.get(first[0].fingerprint).status is FindingStatus.OPEN
    assert store.get(first[0].fingerprint).snoozed_until is None
    assert store.get(first[2999].fingerprint).status is FindingStatus.RESOLVED
    assert store.get(first[5].fingerprint).last_seen == t1
    assert store.get(first[5].fingerprint).first_seen == t0
    assert [h["reason"] for h in store.history(first[0].fingerprint)] == [
        "first seen",
        "",
        "snooze expired",
    ]
    assert [h["to"] for h in store.history(first[2999].fingerprint)] == ["open", "resolved"]
    # a finding outside the scanned scope is never resolved by this scan
    other = volume_finding("vol-elsewhere", region="eu-west-1")
    store.record_scan([other], scope=[("ebs-unattached", ACCOUNT, "eu-west-1")], now=t1)
    store.record_scan([], scope=scope, now=t1 + timedelta(1))
    assert store.get(other.fingerprint).status is FindingStatus.OPEN


def test_the_scan_states_its_own_aws_requests_and_their_cost(
    sandbox_env: SandboxHandle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prefect_harness: None,
) -> None:
    from typer.testing import CliRunner

    from finops.cli import app

    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path))
    account, regions = sandbox_env.management_account_id, ["us-east-1", "eu-west-1"]
    scanned = 0  # running instances without the exclude tag: three metrics each
    for region in regions:
        ec2 = sandbox_env.client("ec2", account, region)
        for page in ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": ["running"]}]
        ):
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
                    scanned += tags.get("finops:exclude") != "true"
    assert scanned > 0
    result = CliRunner().invoke(
        app,
        ["scan", "--checks", "ec2-idle", "--accounts", account, "--regions", ",".join(regions)],
    )
    assert result.exit_code == 0, result.output
    metrics = 3 * scanned
    cost = Decimal(metrics) / 1000 * Decimal("0.01")
    line = result.stderr.strip().splitlines()[-1]
    assert f"with {metrics:,} metrics" in line, line
    assert f"${cost.quantize(Decimal('0.0001'))}" in line, line
    assert "ec2 2" in line, line  # one DescribeInstances page per region


def test_the_daily_summary_says_what_the_scan_cost() -> None:
    from flows.finops_daily import AtStake, summary_markdown
    from flows.models import DailyResult
    from tasks.idle.models import IdleScanResult

    usage = [
        {"service": "ec2", "operation": "DescribeInstances", "requests": 2, "metrics": 0,
         "cost_usd": 0.0},
        {"service": "cloudwatch", "operation": "GetMetricData", "requests": 8, "metrics": 3996,
         "cost_usd": 0.03996},
    ]  # fmt: skip
    day = datetime(2026, 11, 25, tzinfo=UTC).date()
    summary = DailyResult(day=day, scan=IdleScanResult(targets=2, aws_usage=usage))
    text = summary_markdown(summary, AtStake(), "http://127.0.0.1:4200")
    assert "AWS requests of the scan: 10 (cloudwatch 8 with 3,996 metrics, ec2 2), $0.0400" in text
