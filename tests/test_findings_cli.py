"""`finops findings`, `dismiss`, `snooze` and `audit` on a real findings store and audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finops.cli import app
from tasks.findings.model import Finding, FindingStatus
from tasks.findings.store import FindingsStore
from tasks.remediation.audit import AuditLog, AuditRecord
from tasks.settings import load_settings

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FindingsStore:
    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path / "finops"))
    store = FindingsStore(load_settings().findings_url)
    store.record_scan(
        [
            Finding(
                check=check,
                account_id="111111111111",
                region="us-east-1",
                resource_id=resource,
                resource_arn=f"arn:aws:ec2:us-east-1:111111111111:{resource}",
                resource_type="x",
                monthly_savings_usd=Decimal(savings),
                owner="team-a",
            )
            for check, resource, savings in [
                ("ebs-unattached", "vol-1", "40.00"),
                ("ec2-idle", "i-1", "1200.50"),
            ]
        ]
    )
    return store


def fp(store: FindingsStore, resource: str) -> str:
    return next(s.fingerprint for s in store.list() if s.finding.resource_id == resource)


def test_findings_lists_largest_savings_first_with_total(store: FindingsStore) -> None:
    result = runner.invoke(app, ["findings"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "i-1" in lines[1] and "$1,200.50" in lines[1] and "vol-1" in lines[2]
    assert lines[-1] == "2 findings, $1,240.50 per month (USD) in total"
    only_idle = runner.invoke(app, ["findings", "--check", "ec2-idle", "--json"])
    assert only_idle.output.count("\n") == 1 and '"resource_id": "i-1"' in only_idle.output
    bad = runner.invoke(app, ["findings", "--status", "closed"])
    assert bad.exit_code == 2 and "is not a state" in bad.output


def test_dismiss_and_snooze_by_prefix(store: FindingsStore) -> None:
    volume = fp(store, "vol-1")
    result = runner.invoke(app, ["dismiss", volume[:6], "--reason", "kept for DR", "--as", "ana"])
    assert result.exit_code == 0, result.output
    assert store.get(volume).status is FindingStatus.DISMISSED
    assert store.history(volume)[-1]["actor"] == "ana"
    assert runner.invoke(app, ["findings", "--status", "dismissed"]).output.count("vol-1") == 1

    instance = fp(store, "i-1")
    until = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    result = runner.invoke(app, ["snooze", instance[:8], "--until", until, "--as", "bo"])
    assert result.exit_code == 0, result.output
    assert store.get(instance).status is FindingStatus.SNOOZED
    bad_date = runner.invoke(app, ["snooze", instance[:8], "--until", "next week"])
    assert bad_date.exit_code == 2 and "YYYY-MM-DD" in bad_date.output
    unknown = runner.invoke(app, ["dismiss", "ffffffff"])
    assert unknown.exit_code == 2 and "no finding" in unknown.output


def test_audit_lists_approvals_and_actions(store: FindingsStore) -> None:
    log = AuditLog(load_settings().audit_log_url)
    log.append(AuditRecord(kind="approval", run_id="r1", approver="Ana", decision="approved"))
    log.append(
        AuditRecord(
            kind="action",
            run_id="r1",
            approver="Ana",
            fingerprint=fp(store, "vol-1"),
            resource_id="vol-1",
            action="snapshot_and_delete",
            result="succeeded",
            dry_run=False,
            backup_ids={"snapshot_id": "snap-1"},
        )
    )
    result = runner.invoke(app, ["audit"])
    assert result.exit_code == 0, result.output
    approval, action = result.output.splitlines()
    assert "approval  run=r1  approved by Ana" in approval
    assert "snapshot_and_delete vol-1" in action and "[live]  by Ana" in action
    assert "backups: snapshot_id=snap-1" in action
    assert runner.invoke(app, ["audit", "--run", "r2"]).output.strip() == "no audit records"
