"""Approving a purchase recommendation: a purchase plan (Jira issue + audit record), and the
purchase itself only behind its own explicit setting.

:func:`plan_purchase` takes a stored ``commitment-purchase`` finding:

1. moves it to ``approved`` (the findings store's lifecycle, with who and why);
2. enqueues the purchase plan as a Jira issue (outbox key per finding: a rerun does not open a
   second one) and appends an ``approval`` audit record;
3. only when ``commitments.purchase_enabled`` is true (never the default): checks the offering,
   then calls ``CreateSavingsPlan`` with a client token derived from the finding and the amount,
   so a retry buys nothing more; the outcome is an ``action`` audit record and the finding
   becomes ``remediated`` (or ``failed``, with the reason).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from tasks.aws.session import AwsAccess
from tasks.commitments.aws import PurchaseError, apply_savings_plan_purchase, purchase_token
from tasks.commitments.findings import PURCHASE_CHECK
from tasks.commitments.models import Recommendation
from tasks.findings.model import FindingStatus
from tasks.findings.store import FindingsStore
from tasks.notify.issues import IssueSpec, label_for
from tasks.notify.outbox import NewMessage, Outbox
from tasks.remediation.audit import AuditLog, AuditRecord
from tasks.settings import CommitmentSettings

TERM_YEARS = {"ONE_YEAR": 1, "THREE_YEARS": 3}
PAYMENT = {
    "NO_UPFRONT": "No Upfront",
    "PARTIAL_UPFRONT": "Partial Upfront",
    "ALL_UPFRONT": "All Upfront",
}


class PurchaseOutcome(BaseModel):
    """What approving did."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    result: Literal["planned", "purchased", "failed"]
    hourly_commitment_usd: Decimal
    jira_key: str | None
    savings_plan_id: str | None = None
    reason: str = ""


def plan_text(recommendation: Recommendation) -> str:
    """The Jira description of a purchase plan.

    Example:
        >>> rec = Recommendation(source="ours", hourly_commitment_usd=Decimal("6.727"),
        ...     term="ONE_YEAR", payment_option="NO_UPFRONT", lookback_days=30)
        >>> plan_text(rec).splitlines()[0]
        'Buy a Compute Savings Plan: $6.727/hour, ONE_YEAR, NO_UPFRONT.'
    """
    lines = [
        f"Buy a Compute Savings Plan: ${recommendation.hourly_commitment_usd}/hour, "
        f"{recommendation.term}, {recommendation.payment_option}.",
        f"Estimated savings: ${recommendation.estimated_monthly_savings_usd}/month "
        f"(look-back {recommendation.lookback_days} days).",
    ]
    if recommendation.break_even_fall_pct is not None:
        lines.append(f"Break-even: usage may fall {recommendation.break_even_fall_pct}%.")
    lines += [
        f"If {name}: net ${value} over the look-back."
        for name, value in recommendation.scenarios.items()
    ]
    lines += [f"Assumption: {text}" for text in recommendation.assumptions]
    return "\n".join(lines)


def plan_purchase(
    fingerprint: str,
    approver: str,
    settings: CommitmentSettings,
    findings: FindingsStore,
    outbox: Outbox,
    audit: AuditLog,
    enabled: set[str],
    access: AwsAccess | None = None,
) -> PurchaseOutcome:
    """Approve one purchase recommendation (see the module docstring).

    Raises:
        KeyError: no finding has that fingerprint.
        ValueError: the finding is not a purchase recommendation.
        tasks.findings.store.TransitionError: the finding cannot be approved from its state.
    """
    stored = findings.get(fingerprint)
    finding = stored.finding
    if finding.check != PURCHASE_CHECK:
        raise ValueError(
            f"finding {fingerprint} is a {finding.check} finding; only {PURCHASE_CHECK} "
            "findings are purchase plans (list them with finops findings --json)"
        )
    ours = Recommendation.model_validate(finding.evidence["ours"])
    if stored.status is not FindingStatus.APPROVED:
        findings.transition(fingerprint, FindingStatus.APPROVED, approver, "purchase plan approved")
    run_id = str(uuid.uuid4())
    key = f"jira|commitment-purchase|{fingerprint}"
    spec = IssueSpec(
        label=label_for(fingerprint),
        summary=finding.title,
        description=plan_text(ours),
        comment=f"Purchase plan approved again by {approver}.",
        impact="medium",
    )
    outbox.enqueue(
        [
            NewMessage(
                key=key,
                channel="jira",
                kind="commitment-purchase",
                op="upsert",
                payload=spec.model_dump(),
            )
        ],
        enabled=enabled,
    )
    buy = settings.purchase_enabled
    audit.append(
        AuditRecord(
            kind="approval",
            run_id=run_id,
            approver=approver,
            decision="purchase_plan",
            fingerprint=fingerprint,
            check=finding.check,
            account_id=finding.account_id,
            region=finding.region,
            resource_id=finding.resource_id,
            action="create_savings_plan",
            dry_run=not buy,
            after={
                "hourly_commitment_usd": str(ours.hourly_commitment_usd),
                "term": ours.term,
                "payment_option": ours.payment_option,
                "offering_id": ours.offering_id,
            },
        )
    )
    message = outbox.get(key)
    jira_key = (message.result or {}).get("issue") if message else None
    if not buy:
        return PurchaseOutcome(
            fingerprint=fingerprint,
            result="planned",
            hourly_commitment_usd=ours.hourly_commitment_usd,
            jira_key=jira_key,
            reason="commitments.purchase_enabled is off: nothing was bought",
        )
    if access is None:
        raise ValueError("purchasing needs AWS access")
    client = access.client("savingsplans", finding.account_id, "us-east-1")
    token = purchase_token(fingerprint, ours.hourly_commitment_usd)
    try:
        plan_id = apply_savings_plan_purchase(
            client,
            ours.offering_id,
            ours.hourly_commitment_usd,
            token,
            TERM_YEARS[ours.term],
            PAYMENT[ours.payment_option],
        )
    except PurchaseError as error:
        audit.append(
            AuditRecord(
                kind="action",
                run_id=run_id,
                approver=approver,
                fingerprint=fingerprint,
                check=finding.check,
                account_id=finding.account_id,
                region=finding.region,
                resource_id=finding.resource_id,
                action="create_savings_plan",
                dry_run=False,
                result="failed",
                reason=str(error),
            )
        )
        findings.transition(fingerprint, FindingStatus.FAILED, approver, str(error))
        return PurchaseOutcome(
            fingerprint=fingerprint,
            result="failed",
            hourly_commitment_usd=ours.hourly_commitment_usd,
            jira_key=jira_key,
            reason=str(error),
        )
    audit.append(
        AuditRecord(
            kind="action",
            run_id=run_id,
            approver=approver,
            fingerprint=fingerprint,
            check=finding.check,
            account_id=finding.account_id,
            region=finding.region,
            resource_id=finding.resource_id,
            action="create_savings_plan",
            dry_run=False,
            result="purchased",
            after={"savingsPlanId": plan_id, "client_token": token},
        )
    )
    findings.transition(fingerprint, FindingStatus.REMEDIATED, approver, f"bought {plan_id}")
    return PurchaseOutcome(
        fingerprint=fingerprint,
        result="purchased",
        hourly_commitment_usd=ours.hourly_commitment_usd,
        jira_key=jira_key,
        savings_plan_id=plan_id,
    )
