"""Pure rendering of Jira issues: one per anomaly, one per account x check finding group.

Each issue carries a fingerprint label (``finops-<fingerprint>``) that the Jira adapter searches
for before creating, so reruns comment on the open issue instead of opening a duplicate.  The
description is Jira wiki markup (REST API v2), with a table of resources for finding groups.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tasks.anomalies.models import AnomalySummary
from tasks.iac.ownership import ownership_from_evidence
from tasks.money import usd
from tasks.notify.models import FindingGroup
from tasks.notify.texts import anomaly_period, pct

ImpactLevel = Literal["high", "medium", "low"]

#: Jira rejects labels with spaces; ours are hex fingerprints behind a fixed prefix.
LABEL_PREFIX = "finops-"
MAX_SUMMARY = 250
MAX_TABLE_ROWS = 200


class IssueSpec(BaseModel):
    """What the Jira adapter creates, or comments with when the issue is already open.

    Example:
        >>> IssueSpec(label="finops-a1", summary="s", description="d", comment="c",
        ...           impact="low").impact
        'low'
    """

    model_config = ConfigDict(frozen=True)

    label: str = Field(description="Fingerprint label: the deduplication key in Jira.")
    summary: str
    description: str
    comment: str = Field(description="Posted on the open issue instead of creating another.")
    impact: ImpactLevel


def label_for(fingerprint: str) -> str:
    """The Jira label carrying a fingerprint.

    Example:
        >>> label_for("ab12")
        'finops-ab12'
    """
    return f"{LABEL_PREFIX}{fingerprint}"


def impact_level(amount_usd: Decimal, high_usd: float, medium_usd: float) -> ImpactLevel:
    """Map a dollar impact onto high / medium / low.

    Example:
        >>> impact_level(Decimal("150"), 1000, 100)
        'medium'
    """
    magnitude = abs(amount_usd)
    if magnitude >= Decimal(str(high_usd)):
        return "high"
    if magnitude >= Decimal(str(medium_usd)):
        return "medium"
    return "low"


def _cell(text: str) -> str:
    # Pipes and braces are table/macro syntax in wiki markup.
    return text.replace("|", "\\|").replace("{", "\\{").replace("}", "\\}") or " "


def anomaly_issue(
    anomaly: AnomalySummary, explanation: str, high_usd: float, medium_usd: float
) -> IssueSpec:
    """The Jira issue for one anomaly.

    Example:
        >>> from datetime import date
        >>> a = AnomalySummary(id="a1", monitor="service: EC2", start=date(2026, 11, 20),
        ...     actual_usd=Decimal("900"), expected_usd=Decimal("500"),
        ...     impact_usd=Decimal("400"), impact_pct=80.0)
        >>> anomaly_issue(a, "why", 1000, 100).label
        'finops-a1'
    """
    summary = (
        f"Cost anomaly: {anomaly.monitor} {usd(anomaly.impact_usd, signed=True)} USD "
        f"{anomaly_period(anomaly)}"
    )
    rows = "\n".join(
        f"|{_cell(c.dimension)}|{_cell(c.value)}|{usd(c.impact_usd, signed=True)}|"
        f"{pct(c.share * 100)}|"
        for c in sorted(anomaly.causes, key=lambda c: -abs(c.share))
    )
    description = (
        f"h3. {anomaly.monitor}\n"
        f"* Period: {anomaly_period(anomaly)}\n"
        f"* Actual: {usd(anomaly.actual_usd)} USD over the anomaly's days\n"
        f"* Expected: {usd(anomaly.expected_usd)} USD\n"
        f"* Impact: {usd(anomaly.impact_usd, signed=True)} USD "
        f"({pct(anomaly.impact_pct, signed=True)})\n"
        f"* Status: {anomaly.status}\n\n{explanation}\n"
    )
    if rows:
        description += f"\nh4. What moved\n||Dimension||Value||Impact (USD)||Share||\n{rows}\n"
    comment = (
        f"Still {anomaly.status} {anomaly_period(anomaly)}: impact now "
        f"{usd(anomaly.impact_usd, signed=True)} USD ({pct(anomaly.impact_pct, signed=True)})."
    )
    return IssueSpec(
        label=label_for(anomaly.id),
        summary=summary[:MAX_SUMMARY],
        description=description,
        comment=comment,
        impact=impact_level(anomaly.impact_usd, high_usd, medium_usd),
    )


def group_issue(group: FindingGroup, high_usd: float, medium_usd: float) -> IssueSpec:
    """The Jira issue for one account x check group, with a table of its resources.

    Example:
        >>> from tasks.findings.model import Finding
        >>> f = Finding(check="ebs-unattached", account_id="111111111111", region="us-east-1",
        ...     resource_id="vol-1", resource_arn="arn:vol-1", resource_type="ebs-volume",
        ...     monthly_savings_usd=Decimal("8"))
        >>> spec = group_issue(FindingGroup(account_id="111111111111", check="ebs-unattached",
        ...     findings=[f]), 1000, 100)
        >>> "|vol-1|" in spec.description
        True
    """
    total = group.monthly_savings_usd
    unknown = sum(1 for f in group.findings if f.monthly_savings_usd is None)
    noun = "resource" if len(group.findings) == 1 else "resources"
    summary = (
        f"{group.check}: {len(group.findings)} {noun} in account {group.account_id}, "
        f"{usd(total)} USD/month"
    )
    rows = []
    for finding in group.findings[:MAX_TABLE_ROWS]:
        savings = (
            usd(finding.monthly_savings_usd) if finding.monthly_savings_usd is not None else "?"
        )
        actions = ", ".join(finding.recommended_actions) or "-"
        code = ownership_from_evidence(finding.evidence, finding.tags)
        if code is not None:
            actions = f"in code: {code.describe()} (pull request only)"
        rows.append(
            f"|{_cell(finding.resource_id)}|{_cell(finding.region)}|{savings}|"
            f"{_cell(finding.owner or '-')}|{_cell(actions)}|"
        )
    description = (
        f"h3. {group.check} in account {group.account_id}\n"
        f"{len(group.findings)} {noun}; savings available {usd(total)} USD per month"
        + (f" ({unknown} with an unknown price)" if unknown else "")
        + ".\n\n||Resource||Region||Savings (USD/month)||Owner||Recommended actions||\n"
        + "\n".join(rows)
        + "\n"
    )
    if len(group.findings) > MAX_TABLE_ROWS:
        description += f"\nand {len(group.findings) - MAX_TABLE_ROWS} more resources\n"
    comment = (
        f"Scan update: {len(group.findings)} {noun}, {usd(total)} USD/month.\n\n"
        "||Resource||Region||Savings (USD/month)||Owner||Recommended actions||\n" + "\n".join(rows)
    )
    return IssueSpec(
        label=label_for(group.fingerprint),
        summary=summary[:MAX_SUMMARY],
        description=description,
        comment=comment,
        impact=impact_level(total, high_usd, medium_usd),
    )
