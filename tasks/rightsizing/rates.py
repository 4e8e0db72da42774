"""Effective EC2 compute rates from the cost store, so savings reflect Savings Plans and RIs.

Where usage is covered by a Savings Plan or a Reserved Instance, a smaller instance saves the
effective (amortised) rate, not the list price.  For each account x region this reads the cost
store's EC2 compute usage of the last ``days`` days and returns ``EffectiveCost / ListCost``
(FOCUS columns; covered usage has its amortised share as effective cost, uncovered usage its
on-demand price), a blended rate the rightsizing rule multiplies list-price savings by.  No
rows, or no list cost, means no rate: the finding then says its savings are at list price.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from tasks.costs.store import CostStore

#: The cost-store service name of EC2 instance usage (Cost Explorer's SERVICE, the export's).
EC2_COMPUTE = "Amazon Elastic Compute Cloud - Compute"


def get_effective_rates(
    store: CostStore, today: date, days: int = 30
) -> dict[tuple[str, str], Decimal]:
    """(account, region) -> effective / list cost of EC2 compute usage in [today - days, today).

    Example:
        >>> get_effective_rates(CostStore(".finops/costs"), date(2026, 12, 4))  # doctest: +SKIP
        {('123456789012', 'us-east-1'): Decimal('0.8123')}
    """
    if not store.stored_days():
        return {}
    first, until = (today - timedelta(days=days)).isoformat(), today.isoformat()
    frame = store.query(
        f"""
        select sub_account_id, region,
               sum(effective_cost) as effective, sum(list_cost) as listed
        from costs
        where service = '{EC2_COMPUTE}' and charge_category = 'Usage'
          and list_cost is not null and list_cost > 0
          and charge_date >= date '{first}' and charge_date < date '{until}'
        group by 1, 2
        """
    )
    rates: dict[tuple[str, str], Decimal] = {}
    for row in frame.to_dict("records"):
        listed, effective = float(row["listed"] or 0), float(row["effective"] or 0)
        if listed > 0:
            ratio = Decimal(str(round(effective / listed, 4)))
            rates[(str(row["sub_account_id"]), str(row["region"]))] = min(
                Decimal(1), max(Decimal(0), ratio)
            )
    return rates
