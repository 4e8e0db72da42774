"""Rendering of idle findings: savings order (unknown last), the total, failed targets."""

from __future__ import annotations

from decimal import Decimal

from tasks.findings.model import Finding
from tasks.idle.report import errors_markdown, findings_table, savings_summary, text_table
from tasks.idle.scan import ScanError


def finding(resource_id: str, savings: str | None) -> Finding:
    return Finding(
        check="ebs-unattached",
        account_id="111111111111",
        region="us-east-1",
        resource_id=resource_id,
        resource_arn=f"arn:aws:ec2:us-east-1:111111111111:volume/{resource_id}",
        resource_type="ec2:volume",
        monthly_savings_usd=None if savings is None else Decimal(savings),
        recommended_actions=["snapshot_and_delete", "delete", "skip"],
        owner="alice" if resource_id == "vol-b" else None,
    )


def test_table_is_sorted_by_savings_with_unknown_last_and_a_total() -> None:
    rows = findings_table(
        [finding("vol-a", "4.00"), finding("vol-u", None), finding("vol-b", "10.50")]
    )
    assert [r["resource"] for r in rows] == ["vol-b", "vol-a", "vol-u", "3 findings"]
    assert rows[0]["savings (USD/month)"] == "10.50" and rows[2]["savings (USD/month)"] == "unknown"
    assert rows[-1]["check"] == "TOTAL" and rows[-1]["savings (USD/month)"] == "14.50"
    assert rows[-1]["title"] == "1 with unknown price"
    assert rows[0]["actions"] == "snapshot_and_delete | delete | skip"


def test_summary_and_terminal_table_say_currency_and_period() -> None:
    findings = [finding("vol-a", "1234.5"), finding("vol-u", None)]
    summary = savings_summary(findings)
    assert "$1,234.50 USD/month" in summary and "1 finding(s) with unknown price" in summary
    text = text_table(findings)
    assert text.splitlines()[2].startswith("   1234.50  ebs-unattached")
    assert "unknown" in text.splitlines()[3]


def test_failed_targets_are_listed() -> None:
    error = ScanError("222222222222", "eu-west-1", ("ec2-idle",), "AccessDenied", "denied")
    text = errors_markdown([error])
    assert "`222222222222/eu-west-1` (ec2-idle): **AccessDenied**: denied" in text
    assert "lacks permission" in str(error)
