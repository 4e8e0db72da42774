"""What a ``scan-idle-resources`` run returns: typed, frozen, JSON-ready (no Prefect, no AWS)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tasks.findings.model import Finding


class IdleScanResult(BaseModel):
    """The findings of one scan and what it covered.

    Example:
        >>> IdleScanResult(targets=0).total_monthly_savings_usd
        Decimal('0')
    """

    model_config = ConfigDict(frozen=True)

    findings: list[Finding] = Field(
        default_factory=list, description="Idle or wasted resources found, largest savings first."
    )
    errors: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Targets not scanned: account_id, region, checks, code, message, hint.",
    )
    skipped: list[dict[str, str]] = Field(
        default_factory=list, description="Resources left alone (e.g. excluded by tag) and why."
    )
    scanned: list[tuple[str, str, str]] = Field(
        default_factory=list,
        description="(check, account, region) scanned completely; only these resolve findings.",
    )
    lifecycle: dict[str, int] = Field(
        default_factory=dict, description="What changed in the findings store (new, resolved...)."
    )
    resources: int = Field(0, description="Resources looked at.")
    targets: int = Field(description="Account x region targets planned.")
    total_monthly_savings_usd: Decimal = Field(
        Decimal("0"), description="Sum of the findings' known monthly savings, USD."
    )
    unknown_savings: int = Field(0, description="Findings whose savings are not known.")
    notes: list[str] = Field(
        default_factory=list,
        description="One line each: an AWS optimiser not opted in (how to opt in) or not read.",
    )
    aws_usage: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The scan's own AWS requests: service, operation, requests, metrics, "
        "cost_usd (tasks.aws.usage prices; a sharded scan includes its shards').",
    )
