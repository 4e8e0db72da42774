"""The daily digest shows rightsizing beside cleanup, each with its savings as a share of spend."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

from tasks.findings.model import Finding
from tasks.notify.models import DailyCost, DigestInput
from tasks.notify.render import render_digest
from tasks.notify.texts import template_summary

DAY = date(2026, 11, 30)


def finding(check: str, resource_id: str, savings: str) -> Finding:
    return Finding(
        check=check,
        account_id="123456789012",
        region="us-east-1",
        resource_id=resource_id,
        resource_arn=f"arn:aws:ec2:us-east-1:123456789012:instance/{resource_id}",
        resource_type="ec2:instance",
        monthly_savings_usd=Decimal(savings),
    )


def digest(findings: list[Finding]) -> DigestInput:
    costs = [DailyCost(day=DAY - timedelta(days=n), cost_usd=Decimal("200")) for n in range(30)]
    return DigestInput(day=DAY, spend_usd=Decimal("200"), findings=findings, daily_costs=costs)


def test_digest_splits_rightsizing_from_cleanup_with_shares_of_spend() -> None:
    both = digest(
        [
            finding("ec2-rightsize", "i-big", "210.24"),
            finding("ec2-idle", "i-idle", "70.08"),
            finding("ebs-unattached", "vol-1", "4.00"),
        ]
    )
    summary = template_summary(both)
    expected = (
        "Rightsizing: 1 instance could save $210.24 USD per month (3.5% of the last 30 days' "
        "spend); cleanup: 2 resources, $74.08 USD per month (1.2% of the last 30 days' spend)."
    )
    assert expected in summary
    message = render_digest(both, summary)
    assert expected in json.dumps(message.blocks, ensure_ascii=False).replace("\\'", "'")


def test_without_rightsizing_the_digest_reads_as_before() -> None:
    cleanup_only = digest([finding("ec2-idle", "i-idle", "70.08")])
    summary = template_summary(cleanup_only)
    assert "1 idle resource could save $70.08 USD per month." in summary
    assert "Rightsizing" not in summary
