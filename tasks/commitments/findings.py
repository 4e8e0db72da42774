"""Unused commitment and purchase recommendations as findings (pure), in the findings store's terms.

Both use the same identity and lifecycle as the idle checks (``tasks.findings.model.fingerprint``
over account, region, resource and check; the store opens, keeps and resolves them):

* ``commitment-unused``: a commitment whose unused share over the window reached the threshold;
  the dollars wasted are its evidence, ``monthly_savings_usd`` the waste scaled to 30 days.
* ``commitment-purchase``: our Savings Plan recommendation, with AWS's beside it and the
  assumptions; approving it produces a purchase plan (:mod:`tasks.commitments.purchase`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal

from tasks.commitments.models import Commitment, Recommendation, cents
from tasks.findings.model import Finding

UNUSED_CHECK = "commitment-unused"
PURCHASE_CHECK = "commitment-purchase"
GLOBAL = "global"


def unused_findings(
    inventory: Iterable[Commitment],
    unused: Mapping[str, Mapping[str, object]],
    first: date,
    last: date,
    min_usd_per_day: float,
) -> list[Finding]:
    """One finding per commitment whose unused commitment averaged at least the threshold a day.

    Args:
        inventory: the commitments (for their names and terms).
        unused: :func:`tasks.commitments.usage.unused_by_commitment` over ``first``..``last``.
        min_usd_per_day: below this mean daily waste nothing is reported.

    Example:
        >>> from datetime import date
        >>> sp = Commitment(commitment_id="arn:aws:savingsplans::2:savingsplan/x", short_id="x",
        ...                 kind="Savings Plan", account_id="2", end=date(2027, 1, 1))
        >>> found = unused_findings([sp], {sp.commitment_id: {"account_id": "2",
        ...     "kind": "Savings Plan", "unused_usd": Decimal("72.00"), "used_usd":
        ...     Decimal("108.00"), "days": 30}}, date(2026, 11, 4), date(2026, 12, 3), 0.01)
        >>> found[0].monthly_savings_usd, found[0].evidence["utilisation_pct"]
        (Decimal('72.00'), '60.00')
    """
    by_id = {c.commitment_id: c for c in inventory}
    out = []
    for commitment_id, figures in sorted(unused.items()):
        wasted = Decimal(str(figures["unused_usd"]))
        used = Decimal(str(figures["used_usd"]))
        days = int(str(figures["days"]))
        if days <= 0 or wasted / days < Decimal(str(min_usd_per_day)):
            continue
        item = by_id.get(commitment_id)
        whole = wasted + used
        out.append(
            Finding(
                check=UNUSED_CHECK,
                account_id=str(figures["account_id"]),
                region=(item.region if item and item.region else GLOBAL),
                resource_id=item.short_id if item else commitment_id.rsplit("/", 1)[-1],
                resource_arn=commitment_id,
                resource_type=str(figures["kind"]),
                title=(
                    f"{figures['kind']} {item.short_id if item else commitment_id} left "
                    f"${wasted} unused over {days} days"
                ),
                monthly_savings_usd=cents(wasted / days * 30),
                risk="low",
                evidence={
                    "window": [first.isoformat(), last.isoformat()],
                    "days": days,
                    "unused_usd": str(wasted),
                    "used_usd": str(used),
                    "utilisation_pct": str(cents(100 * used / whole)) if whole else None,
                    "threshold_usd_per_day": min_usd_per_day,
                    "source": "cost store, FOCUS CommitmentDiscountStatus",
                    "expires": item.end.isoformat() if item else None,
                },
                recommended_actions=["skip"],
            )
        )
    return out


def purchase_finding(
    ours: Recommendation, theirs: Recommendation | None, payer_account_id: str
) -> Finding | None:
    """Our recommendation as a finding (None when it recommends nothing).

    Example:
        >>> rec = Recommendation(source="ours", hourly_commitment_usd=Decimal("6.727"),
        ...     term="ONE_YEAR", payment_option="NO_UPFRONT", lookback_days=30,
        ...     estimated_monthly_savings_usd=Decimal("1234.56"))
        >>> purchase_finding(rec, None, "123456789012").resource_id
        'compute-sp/ONE_YEAR/NO_UPFRONT'
    """
    if ours.hourly_commitment_usd <= 0:
        return None
    return Finding(
        check=PURCHASE_CHECK,
        account_id=payer_account_id,
        region=GLOBAL,
        resource_id=f"compute-sp/{ours.term}/{ours.payment_option}",
        resource_arn="",
        resource_type="Savings Plan purchase",
        title=(
            f"Buy a Compute Savings Plan of ${ours.hourly_commitment_usd}/hour "
            f"({ours.term}, {ours.payment_option})"
        ),
        monthly_savings_usd=ours.estimated_monthly_savings_usd,
        risk="medium",
        evidence={
            "ours": ours.model_dump(mode="json"),
            "aws": theirs.model_dump(mode="json") if theirs else None,
        },
        recommended_actions=["skip"],
    )
