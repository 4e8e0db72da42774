"""The demo's auto-approval and summary: what it approves, and how it judges findings."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from finops.demo import findings_vs_truth, safe_fingerprints, timing_lines
from tasks.findings.model import Finding
from tasks.findings.store import FindingsStore


def _finding(check: str, resource_id: str, actions: list[str], **evidence: object) -> Finding:
    return Finding(
        check=check,
        account_id="111111111111",
        region="us-east-1",
        resource_id=resource_id,
        resource_arn=f"arn:aws:ec2:us-east-1:111111111111:thing/{resource_id}",
        resource_type="ec2:volume" if resource_id.startswith("vol-") else "ec2:instance",
        monthly_savings_usd=Decimal("5.00"),
        evidence=dict(evidence),
        recommended_actions=actions,
    )


def test_auto_approval_leaves_protected_and_unsafe_findings_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'findings.db'}"
    safe = _finding("ebs-unattached", "vol-0aaa", ["snapshot_and_delete"])
    protected = _finding("ebs-unattached", "vol-0bbb", ["snapshot_and_delete"], protected=True)
    # terminate is not a safe action: the demo never approves it on its own
    unsafe = _finding("ec2-idle", "i-0ccc", ["terminate"])
    FindingsStore(url).record_scan([safe, protected, unsafe])

    chosen = safe_fingerprints(url)

    assert chosen == [safe.fingerprint]


def test_findings_are_judged_against_flagged_resources_by_id_or_arn() -> None:
    truth = {
        "resources": [
            {
                "account_id": "1",
                "region": "r",
                "resource_id": "lb-a",
                "arn": "arn:aws:elasticloadbalancing:r:1:loadbalancer/app/lb-a/1",
                "expected": {"elb-idle": True},
            },
            {
                "account_id": "1",
                "region": "r",
                "resource_id": "lb-b",
                "expected": {"elb-idle": True},
            },
            {
                "account_id": "1",
                "region": "r",
                "resource_id": "lb-c",
                "expected": {"elb-idle": False},
            },
        ]
    }
    found = [
        ("elb-idle", "1", "r", "arn:aws:elasticloadbalancing:r:1:loadbalancer/app/lb-a/1"),
        ("elb-idle", "1", "r", "lb-c"),
    ]

    judged = findings_vs_truth(found, truth)

    assert judged == {"elb-idle": {"expected": 2, "found": 1, "unexpected": 1}}


def test_time_table_nests_the_daily_stages_and_totals_only_the_demo_stages() -> None:
    lines = timing_lines(
        {"start": 10.0, "finops-daily": 30.0, "remediation": 5.0},
        {"ingest": 20.0, "scan": 18.0},
    )

    assert lines[2].split() == ["finops-daily", "30.0"]
    assert lines[3].startswith("    ingest") and lines[4].startswith("    scan")
    assert lines[-1].split() == ["total", "45.0"]
