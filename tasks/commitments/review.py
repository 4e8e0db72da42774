"""One commitments review over the cost store and AWS, and how it is recorded.

:func:`review_commitments` reads the inventory (Savings Plans per account, RIs from the payer's
Cost Explorer), computes coverage and utilisation twice (from the store's FOCUS columns and from
Cost Explorer) and compares them day by day, simulates a Savings Plan purchase over the
look-back window beside AWS's recommendation, and lists the expiry alerts due.
:func:`record_review` writes the findings (unused commitment, the purchase recommendation) to the
findings store with the idle checks' lifecycle, and the expiry alerts to the outbox under one
idempotency key per commitment and threshold.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tasks.aws.session import AwsAccess
from tasks.commitments import aws, usage
from tasks.commitments.expiry import alert_text, due_alerts
from tasks.commitments.findings import (
    PURCHASE_CHECK,
    UNUSED_CHECK,
    purchase_finding,
    unused_findings,
)
from tasks.commitments.models import Commitment, DayFigures, ExpiryAlert, Recommendation, cents
from tasks.commitments.simulate import best_commitment, break_even_fall, scenarios
from tasks.costs.store import CostStore
from tasks.findings.model import Finding
from tasks.findings.store import FindingsStore
from tasks.notify.outbox import NewMessage, Outbox
from tasks.settings import CommitmentSettings

LOOKBACK_NAMES = {7: "SEVEN_DAYS", 30: "THIRTY_DAYS", 60: "SIXTY_DAYS"}


class Disagreement(BaseModel):
    """A day on which the store and Cost Explorer differ by a cent or more."""

    model_config = ConfigDict(frozen=True)

    day: date
    kind: str
    figure: str
    store_usd: Decimal
    ce_usd: Decimal


class CommitmentReview(BaseModel):
    """Everything ``finops commitments`` shows, and what gets recorded."""

    model_config = ConfigDict(frozen=True)

    today: date
    payer_account_id: str
    first_day: date
    last_day: date
    inventory: list[Commitment]
    inventory_errors: list[str] = Field(default_factory=list)
    store_days: list[DayFigures]
    ce_days: list[DayFigures]
    disagreements: list[Disagreement]
    store_totals: dict[str, dict[str, Any]]
    ri_coverage: dict[str, dict[str, float]] = Field(default_factory=dict)  # source -> hours
    ours: Recommendation
    aws: Recommendation | None
    ri_recommendations: list[dict[str, Any]] = Field(default_factory=list)
    alerts: list[ExpiryAlert]
    findings: list[Finding]


def compare(
    store_days: list[DayFigures],
    ce_days: list[DayFigures],
    ce_coverage: dict[date, tuple[Decimal, Decimal]] | None = None,
) -> list[Disagreement]:
    """Days where used or unused commitment, or Savings Plan coverage (covered spend, on-demand
    cost), differ by a cent or more (a day only one side has counts against zero).

    Example:
        >>> d = date(2026, 12, 1)
        >>> a = DayFigures(day=d, kind="Savings Plan", used_usd=Decimal("1.00"),
        ...                unused_usd=Decimal("0.50"))
        >>> compare([a], [a])
        []
    """
    zero = cents(0)
    ours = {(f.day, f.kind): f for f in store_days}
    theirs = {(f.day, f.kind): f for f in ce_days}
    out = []
    for key in sorted(set(ours) | set(theirs)):
        for figure in ("used_usd", "unused_usd"):
            mine = getattr(ours[key], figure) if key in ours else zero
            other = getattr(theirs[key], figure) if key in theirs else zero
            if mine != other:
                out.append(
                    Disagreement(
                        day=key[0], kind=key[1], figure=figure, store_usd=mine, ce_usd=other
                    )
                )
    if ce_coverage is not None:
        plans = {f.day: f for f in store_days if f.kind == "Savings Plan"}
        for day in sorted(set(plans) | set(ce_coverage)):
            covered, on_demand = ce_coverage.get(day, (zero, zero))
            mine_covered = plans[day].covered_usd or zero if day in plans else zero
            mine_on_demand = plans[day].on_demand_usd or zero if day in plans else zero
            for figure, mine, other in (
                ("covered_usd", mine_covered, covered),
                ("on_demand_usd", mine_on_demand, on_demand),
            ):
                if mine != other:
                    out.append(
                        Disagreement(
                            day=day,
                            kind="Savings Plan",
                            figure=figure,
                            store_usd=mine,
                            ce_usd=other,
                        )
                    )
    return out


def our_recommendation(
    frame: Any, settings: CommitmentSettings, first: date, last: date
) -> Recommendation:
    """The simulator's Savings Plan recommendation over the store's on-demand usage."""
    daily = usage.eligible_on_demand(frame, first, last)
    learned = usage.learned_rate(frame)
    rate = learned or settings.savings_plan_rate
    best = best_commitment(daily, rate)
    hourly = Decimal(str(best.hourly_commitment_usd)).quantize(Decimal("0.001"))
    fall = break_even_fall(daily, rate, best.hourly_commitment_usd)
    return Recommendation(
        source="ours",
        hourly_commitment_usd=hourly,
        term=settings.term,
        payment_option=settings.payment_option,
        lookback_days=len(daily),
        first_day=first,
        last_day=last,
        rate=rate,
        estimated_savings_usd=cents(best.net_savings_usd),
        estimated_monthly_savings_usd=cents(best.monthly_net_savings_usd),
        estimated_utilisation_pct=cents(100 * best.utilisation),
        break_even_fall_pct=None if fall is None else cents(100 * fall),
        scenarios={
            f"usage -{round(100 * f)}%": cents(run.net_savings_usd)
            for f, run in scenarios(daily, rate, best.hourly_commitment_usd).items()
        },
        assumptions=[
            f"uncovered EC2 instance usage in the cost store, {first}..{last}",
            (
                f"plan rate {rate:.4f} of on-demand, learned from the stored covered usage"
                if learned
                else f"plan rate {rate:.4f} of on-demand (setting commitments.savings_plan_rate)"
            ),
            "daily usage replayed as is; the chosen commitment maximises net savings",
        ],
    )


def review_commitments(
    access: AwsAccess, store: CostStore, settings: CommitmentSettings, today: date
) -> CommitmentReview:
    """Read and compute one review (no writes).

    Args:
        access: AWS sessions (the caller is the payer / management account).
        store: the cost store (export rows carry the commitment ids).
        settings: the ``commitments`` section.
        today: the UTC day; the window ends yesterday.
    """
    last = today - timedelta(days=1)
    first = last - timedelta(days=settings.lookback_days - 1)
    frame = store.read(first, last, usage.COLUMNS)
    inventory, errors = aws.get_inventory(access, today)
    ce = access.client("ce", access.caller_account_id, "us-east-1")
    store_days = usage.daily_figures(frame, first, last)
    ce_days = aws.get_savings_plans_utilization(ce, first, last)
    ce_days += aws.get_reservation_utilization(ce, first, last)
    ours = our_recommendation(frame, settings, first, last)
    theirs = aws.get_savings_plans_recommendation(
        ce, settings.term, settings.payment_option, settings.lookback_days
    )
    ri_recommendations = [
        {"service": service, **detail}
        for service in ("Amazon Relational Database Service",)
        for detail in aws.get_reservation_recommendations(ce, service, settings.lookback_days)
    ]
    if theirs is not None:
        ours = ours.model_copy(update={"offering_id": theirs.offering_id})
    rds = "Amazon Relational Database Service"
    ce_hours = aws.get_reservation_coverage(ce, first, last, rds)
    ri_coverage = {
        "store": usage.reservation_hours(frame, first, last, rds),
        "ce": {
            "reserved_hours": round(float(ce_hours.get("ReservedHours", 0)), 2),
            "on_demand_hours": round(float(ce_hours.get("OnDemandHours", 0)), 2),
        },
    }
    disagreements = compare(store_days, ce_days, aws.get_savings_plans_coverage(ce, first, last))
    for figure in ("reserved_hours", "on_demand_hours"):
        mine, other = ri_coverage["store"][figure], ri_coverage["ce"][figure]
        if abs(mine - other) >= 0.01:
            disagreements.append(
                Disagreement(
                    day=last,
                    kind="Reserved Instance",
                    figure=f"{figure} (window)",
                    store_usd=Decimal(str(mine)),
                    ce_usd=Decimal(str(other)),
                )
            )
    unused = usage.unused_by_commitment(frame, first, last)
    findings = unused_findings(inventory, unused, first, last, settings.min_unused_usd_per_day)
    purchase = purchase_finding(ours, theirs, access.caller_account_id)
    return CommitmentReview(
        today=today,
        payer_account_id=access.caller_account_id,
        first_day=first,
        last_day=last,
        inventory=inventory,
        inventory_errors=errors,
        store_days=store_days,
        ce_days=ce_days,
        disagreements=disagreements,
        ri_coverage=ri_coverage,
        store_totals={
            kind: usage.totals(store_days, kind)  # type: ignore[arg-type]
            for kind in ("Savings Plan", "Reserved Instance")
        },
        ours=ours,
        aws=theirs,
        ri_recommendations=ri_recommendations,
        alerts=due_alerts(inventory, today, settings.expiry_alert_days),
        findings=[*findings, *([purchase] if purchase else [])],
    )


def expiry_messages(alerts: list[ExpiryAlert]) -> list[NewMessage]:
    """One Slack post per due alert, keyed by commitment and threshold (Block Kit)."""
    from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

    messages = []
    for alert in alerts:
        text = alert_text(alert)
        block = SectionBlock(text=MarkdownTextObject(text=text)).to_dict()
        messages.append(
            NewMessage(
                key=f"slack|{alert.key}",
                channel="slack",
                kind="commitment-expiry",
                op="post",
                payload={"text": text, "blocks": [block]},
            )
        )
    return messages


def record_review(
    review: CommitmentReview, findings: FindingsStore, outbox: Outbox, enabled: set[str]
) -> dict[str, list[str]]:
    """Store the review's findings and enqueue its expiry alerts.

    Every commitment of the inventory is in the unused check's scope, so a commitment that is
    fully used again resolves its finding; the purchase finding's scope is the payer's.

    Returns:
        ``new``, ``resolved`` finding fingerprints and ``alerts`` (outbox keys newly enqueued).
    """
    scope = {(UNUSED_CHECK, c.account_id, c.region or "global") for c in review.inventory}
    # a recommendation that is no longer made resolves
    scope.add((PURCHASE_CHECK, review.payer_account_id, "global"))
    outcome = findings.record_scan(review.findings, scope=scope, actor="commitments")
    alerts = outbox.enqueue(expiry_messages(review.alerts), enabled=enabled)
    return {"new": outcome.new, "resolved": outcome.resolved, "alerts": alerts}
