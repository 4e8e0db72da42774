"""Honest savings: where Savings Plans or RIs cover EC2 usage, rightsizing savings use the effective
rate from the cost store (real Parquet, DuckDB), and the evidence says so; without cost data they
stay at list price and say that instead."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd

from tasks.aws.records import Instance, Inventory, MetricSeries
from tasks.costs.schema import COMMITMENT_COLUMNS, COST_COLUMNS
from tasks.costs.store import CostStore
from tasks.idle.checks import CHECKS
from tasks.pricing.book import BundledPrices
from tasks.rightsizing.model import AdvisedContext
from tasks.rightsizing.rates import EC2_COMPUTE, get_effective_rates
from tasks.rightsizing.rules import ec2_rightsize

TODAY = date(2026, 12, 4)
COVERED, ON_DEMAND = "111111111111", "222222222222"


def usage_rows(account: str, effective: float, listed: float) -> list[dict[str, object]]:
    rows = []
    for back in range(1, 11):
        day = TODAY - timedelta(days=back)
        rows.append(
            {
                "charge_date": day,
                "billing_period": day.strftime("%Y-%m"),
                "billing_account_id": COVERED,
                "sub_account_id": account,
                "service": EC2_COMPUTE,
                "region": "us-east-1",
                "charge_category": "Usage",
                "usage_type": "BoxUsage:m5.2xlarge",
                "billed_cost": 0.0 if effective < listed else listed,
                "effective_cost": effective,
                "list_cost": listed,
                "usage_quantity": 24.0,
                "usage_unit": "Hrs",
                "currency": "USD",
                "tags": "{}",
                "source": "export",
                "estimated": False,
                # usage a Savings Plan covers carries its commitment (FOCUS columns)
                **(
                    {
                        "commitment_discount_id": f"arn:aws:savingsplans::{account}:savingsplan/sp",
                        "commitment_discount_category": "Spend",
                        "commitment_discount_type": "Savings Plan",
                        "commitment_discount_status": "Used",
                    }
                    if effective < listed
                    else dict.fromkeys(COMMITMENT_COLUMNS)
                ),
            }
        )
    return rows


def test_effective_rates_come_from_the_cost_store(tmp_path: Path) -> None:
    store = CostStore(str(tmp_path / "costs"))
    assert get_effective_rates(store, TODAY) == {}
    frame = pd.DataFrame(usage_rows(COVERED, 6.0, 9.216) + usage_rows(ON_DEMAND, 9.216, 9.216))
    store.replace_window(frame[COST_COLUMNS], TODAY - timedelta(days=10), TODAY, "export")
    rates = get_effective_rates(store, TODAY)
    assert rates == {
        (COVERED, "us-east-1"): Decimal("0.651"),
        (ON_DEMAND, "us-east-1"): Decimal("1"),
    }


def over_provisioned(account: str) -> tuple[Inventory, dict[tuple[str, str], MetricSeries]]:
    now = datetime(2026, 12, 4, tzinfo=UTC)
    days = tuple(now - timedelta(days=d) for d in range(14, 0, -1))
    instance = Instance(account, "us-east-1", "i-1", "m5.2xlarge", "running", now)
    inventory = Inventory(account, "us-east-1", instances=[instance])

    def series(value: float) -> MetricSeries:
        return MetricSeries(timestamps=days, values=tuple(value for _ in days))

    metrics = {
        ("i-1", "cpu"): series(9.0),
        ("i-1", "cpu_p95"): series(13.0),
        ("i-1", "cpu_max"): series(14.0),
        ("i-1", "mem_max"): series(15.0),
        ("i-1", "net_in"): series(5e9),
        ("i-1", "net_out"): series(5e9),
    }
    return inventory, metrics


def test_savings_use_the_effective_rate_and_say_so() -> None:
    check = CHECKS["ec2-rightsize"]
    params = check.validate({})
    list_savings = (Decimal("0.384") - Decimal("0.096")) * 730  # m5.2xlarge -> m5.large
    for rates, expected, basis in (
        ({}, list_savings, "before any RI/SP discount"),
        ({(COVERED, "us-east-1"): Decimal("0.651")}, list_savings * Decimal("0.651"), "0.651"),
    ):
        inventory, metrics = over_provisioned(COVERED)
        ctx = AdvisedContext(
            account_id=COVERED,
            region="us-east-1",
            now=datetime(2026, 12, 4, tzinfo=UTC),
            prices=BundledPrices(),
            effective_rates=rates,
        )
        (finding,) = ec2_rightsize(inventory, metrics, params, ctx).findings
        assert finding.evidence["recommended_type"] == "m5.large"
        assert finding.monthly_savings_usd == expected.quantize(Decimal("0.01"))
        assert basis in finding.evidence["savings_basis"]
