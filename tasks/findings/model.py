"""The typed Finding every check produces and every notification and action is keyed on."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

Risk = Literal["low", "medium", "high"]


class FindingStatus(StrEnum):
    """Lifecycle of a finding in the findings store."""

    OPEN = "open"
    NOTIFIED = "notified"
    APPROVED = "approved"
    DISMISSED = "dismissed"
    SNOOZED = "snoozed"
    REMEDIATING = "remediating"
    REMEDIATED = "remediated"
    FAILED = "failed"
    RESOLVED = "resolved"


def fingerprint(account_id: str, region: str, resource_id: str, check: str) -> str:
    """Return the stable identity of a finding.

    Args:
        account_id: 12-digit AWS account id.
        region: AWS region (``global`` for global resources).
        resource_id: the resource's id (instance id, volume id, bucket name ...).
        check: the registered check name, e.g. ``ebs-unattached``.

    Returns:
        20 hex characters, the same for the same four values on every run.

    Example:
        >>> fingerprint("111111111111", "us-east-1", "vol-1", "ebs-unattached")[:4]
        '36a3'
    """
    key = "|".join((account_id, region, resource_id, check))
    return hashlib.sha256(key.encode()).hexdigest()[:20]


class Finding(BaseModel):
    """One wasted or idle resource, with the evidence and the money it wastes.

    ``monthly_savings_usd`` is ``None`` when the price is unknown: it is never guessed as 0.
    """

    model_config = ConfigDict(frozen=True)

    check: str
    account_id: str
    region: str
    resource_id: str
    resource_arn: str
    resource_type: str
    title: str = ""
    monthly_savings_usd: Decimal | None = None
    risk: Risk = "low"
    evidence: dict[str, Any] = Field(default_factory=dict)
    recommended_actions: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    owner: str | None = None
    detected_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fingerprint(self) -> str:
        return fingerprint(self.account_id, self.region, self.resource_id, self.check)
