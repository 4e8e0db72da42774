"""The handle-aws-event flow: an EBS volume event re-runs only the affected checks, in only that
account and region, against the sandbox; an event that affects no check starts nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tasks.events.classify import classify
from tests.plugins.sandbox import SandboxHandle


def volume_event(account: str, region: str, state: str = "createVolume") -> dict[str, object]:
    body = json.dumps(
        {
            "version": "0",
            "detail-type": "EBS Volume Notification",
            "source": "aws.ec2",
            "account": account,
            "time": "2026-11-26T09:13:00Z",
            "region": region,
            "resources": [f"arn:aws:ec2:{region}:{account}:volume/vol-0123abcd"],
            "detail": {"event": state, "result": "available"},
        }
    )
    payload = classify(body, datetime.now(UTC)).model_dump(mode="json")
    return {**payload, "sqs_message_id": "m-1"}


def test_volume_event_rescans_that_target_for_the_affected_checks(
    prefect_harness: None,
    sandbox_env: SandboxHandle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.handle_aws_event import handle_aws_event

    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path))
    account, region = sandbox_env.member_accounts[0], sandbox_env.regions[-1]
    result = handle_aws_event(volume_event(account, region))
    assert result["flow"] == "scan-idle-resources"
    assert result["parameters"] == {
        "checks": ["ebs-unattached", "ebs-gp2"],
        "accounts": [account],
        "regions": [region],
    }
    from tasks.findings.store import FindingsStore

    stored = FindingsStore(f"sqlite:///{tmp_path / 'findings.db'}").list()
    truth = {
        r["resource_id"]
        for r in sandbox_env.ground_truth["resources"]
        if r["account_id"] == account
        and r["region"] == region
        and (r["expected"].get("ebs-unattached") or r["expected"].get("ebs-gp2"))
    }
    assert truth, "the sandbox target should hold unattached or gp2 volumes"
    assert {s.finding.resource_id for s in stored} == truth
    assert {(s.finding.account_id, s.finding.region) for s in stored} == {(account, region)}
    assert {s.finding.check for s in stored} <= {"ebs-unattached", "ebs-gp2"}


def test_event_affecting_no_check_starts_nothing(prefect_harness: None) -> None:
    from flows.handle_aws_event import handle_aws_event

    result = handle_aws_event(volume_event("444455556666", "us-east-1", state="copyVolume"))
    assert result["flow"] == ""
    assert "no check affected" in result["reason"]
