"""The budget guardrail: daily threshold, monthly forecast, and AWS Budgets (recorded and moto)."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
from botocore.stub import Stubber

from sandbox.ledger import generate_ledger
from tasks.anomalies.budget import (
    check_aws_budgets,
    check_configured_budgets,
    daily_totals,
    describe_state,
    forecast_days,
    get_budgets,
)
from tasks.anomalies.pipeline import check_day
from tasks.settings import load_settings

RECORDED = (
    Path(__file__).resolve().parents[1].parent
    / "shared/data/aws-responses/test_budget_query/budgets.DescribeBudgets_1.json"
)


def _decode(value: Any) -> Any:
    """Recorded responses encode datetimes as {"__class__": "datetime", "year": ...}."""
    if isinstance(value, dict):
        if value.get("__class__") == "datetime":
            fields = {k: v for k, v in value.items() if k != "__class__"}
            return datetime(**fields)
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _weekly_totals(first: date, days: int, weekday: float, weekend: float) -> pd.Series:
    index = [first + timedelta(days=i) for i in range(days)]
    values = [weekend if d.weekday() >= 5 else weekday for d in index]
    return pd.Series(values, index=index, dtype=float)


def test_daily_threshold_alerts_at_80_and_100_percent() -> None:
    day = date(2026, 11, 25)
    states = {
        spend: check_configured_budgets(pd.Series([spend], index=[day]), day, 1000.0, None)[0]
        for spend in (500.0, 850.0, 1250.0)
    }
    assert states[500.0].alerts == ()
    assert states[850.0].alerts == ("actual >= 80% of budget",)
    assert states[1250.0].alerts == ("actual >= 100% of budget",)
    assert states[1250.0].breached and states[1250.0].actual_usd == Decimal("1250.00")
    assert states[1250.0].period_label == "2026-11-25"
    assert "USD 1250.00 of USD 1000.00" in describe_state(states[1250.0])


def test_monthly_forecast_knows_weekends_and_alerts_before_the_money_is_spent() -> None:
    # $100 on weekdays, $20 on weekends; judged on 10 November 2026 (a Tuesday).
    totals = _weekly_totals(date(2026, 9, 1), 71, 100.0, 20.0)
    day = date(2026, 11, 10)
    rest = [day + timedelta(days=i) for i in range(1, 21)]
    assert forecast_days(totals, rest).tolist() == [
        20.0 if d.weekday() >= 5 else 100.0 for d in rest
    ]
    month_to_date = sum(v for d, v in totals.items() if d >= date(2026, 11, 1))
    exact = month_to_date + sum(20.0 if d.weekday() >= 5 else 100.0 for d in rest)
    (monthly,) = check_configured_budgets(totals, day, None, 2200.0)
    assert monthly.period == "monthly" and monthly.period_label == "2026-11"
    assert float(monthly.actual_usd) == pytest.approx(month_to_date)
    assert float(monthly.forecast_usd or 0) == pytest.approx(exact)
    assert monthly.alerts == ("forecast >= 100% of budget",)  # actual is only ~28 %
    (roomy,) = check_configured_budgets(totals, day, None, 2700.0)  # forecast 2,280: 84 %
    assert roomy.alerts == ("forecast >= 80% of budget",)


def test_one_odd_day_does_not_move_the_forecast() -> None:
    totals = _weekly_totals(date(2026, 9, 1), 71, 100.0, 20.0)
    totals[date(2026, 11, 3)] = 5000.0  # a spike on a Tuesday
    assert forecast_days(totals, [date(2026, 11, 17)]).tolist() == [100.0]


def test_sandbox_ledger_spike_days_breach_the_daily_budget_and_month_starts_do_not() -> None:
    ledger = generate_ledger(
        7,
        ["123456789012", "111111111111", "222222222222"],
        ["us-east-1", "eu-west-1"],
        date(2026, 11, 26),
        400,
    )
    spike = next(t for t in ledger.anomalies if t["kind"] == "spike")
    effective = daily_totals(ledger.frame)
    breaches = [
        d
        for d in effective.index
        if check_configured_budgets(effective, d, 1000.0, None)[0].breached
    ]
    assert [d.isoformat() for d in breaches] == [spike["start"], spike["end"]]
    # Billed cost puts the month's commitments, support and tax on the 1st: it would breach.
    billed = daily_totals(ledger.frame, "billed_cost")
    first = date(2026, 11, 1)
    assert check_configured_budgets(billed, first, 1000.0, None)[0].breached
    assert not check_configured_budgets(effective, first, 1000.0, None)[0].breached


def _budgets_client() -> Any:
    return boto3.client(
        "budgets", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_describe_budgets_recorded_response_across_pages() -> None:
    recorded = _decode(json.loads(RECORDED.read_text()))["data"]
    recorded.pop("ResponseMetadata", None)
    usage_budget = {
        "BudgetName": "ec2-hours",
        "BudgetLimit": {"Amount": "100", "Unit": "HOURS"},
        "TimeUnit": "MONTHLY",
        "BudgetType": "USAGE",
    }
    client = _budgets_client()
    with Stubber(client) as stub:
        stub.add_response(
            "describe_budgets",
            {"Budgets": [usage_budget], "NextToken": "page-2"},
            {"AccountId": "123456789012"},
        )
        stub.add_response(
            "describe_budgets", recorded, {"AccountId": "123456789012", "NextToken": "page-2"}
        )
        budgets = get_budgets(client, "123456789012")
        stub.assert_no_pending_responses()
    assert [b.name for b in budgets] == ["ec2-hours", "budget-ec2-monthly"]
    ec2 = budgets[1]
    assert ec2.limit == Decimal("1200.0") and ec2.unit == "USD" and ec2.time_unit == "MONTHLY"
    assert ec2.actual == Decimal("55.096") and ec2.forecast == Decimal("242.421")
    assert ec2.cost_filters == {"Service": ["Amazon Elastic Compute Cloud - Compute"]}
    (state,) = check_aws_budgets(budgets, date(2026, 11, 25))  # the usage budget is skipped
    assert state.source == "aws" and state.name == "budget-ec2-monthly"
    assert state.actual_pct == pytest.approx(4.6) and state.forecast_pct == pytest.approx(20.2)
    assert state.alerts == ()
    tight = check_aws_budgets(budgets, date(2026, 11, 25), thresholds_pct=[4.0, 20.0])
    assert tight[0].alerts == ("actual >= 4% of budget", "forecast >= 20% of budget")


def test_describe_budgets_access_denied_is_raised_not_swallowed() -> None:
    client = _budgets_client()
    with Stubber(client) as stub:
        stub.add_client_error("describe_budgets", "AccessDeniedException", "not allowed")
        with pytest.raises(client.exceptions.AccessDeniedException):
            get_budgets(client, "123456789012")


def test_aws_budgets_from_the_sandbox_moto_budgets(sandbox_env: Any, tmp_path: Path) -> None:
    account = sandbox_env.management_account_id
    client = sandbox_env.client("budgets", account, "us-east-1")
    name = f"pytest-{uuid.uuid4().hex[:8]}"
    client.create_budget(
        AccountId=account,
        Budget={
            "BudgetName": name,
            "BudgetLimit": {"Amount": "100", "Unit": "USD"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
            "CalculatedSpend": {
                "ActualSpend": {"Amount": "90", "Unit": "USD"},
                "ForecastedSpend": {"Amount": "130", "Unit": "USD"},
            },
        },
    )
    try:
        mine = [b for b in get_budgets(client, account) if b.name == name]
        assert len(mine) == 1 and mine[0].limit == Decimal("100")
        (state,) = check_aws_budgets(mine, date(2026, 11, 25))
        assert state.alerts == ("actual >= 80% of budget", "forecast >= 100% of budget")
        # The daily check reads them itself when asked (through the project's AWS access).
        settings = load_settings(data_dir=tmp_path, budget={"use_aws_budgets": True})
        frame = pd.DataFrame(
            {
                "charge_date": [date(2026, 11, 25)],
                "sub_account_id": [account],
                "service": ["Amazon S3"],
                "region": ["us-east-1"],
                "usage_type": ["Storage"],
                "charge_category": ["Usage"],
                "billed_cost": [1.0],
                "effective_cost": [1.0],
                "tags": ["{}"],
                "source": ["export"],
            }
        )
        result = check_day(settings, date(2026, 11, 25), record=False, frame=frame)
        names = {s.name: s for s in result.budgets}
        assert names[name].source == "aws" and names[name].alerts == state.alerts
    finally:
        client.delete_budget(AccountId=account, BudgetName=name)


def test_forecast_with_no_history_is_zero() -> None:
    assert forecast_days(pd.Series(dtype=float), [date(2026, 1, 1)]).tolist() == [0.0]
    assert np.all(
        forecast_days(_weekly_totals(date(2026, 1, 1), 3, 5.0, 5.0), [date(2026, 1, 9)]) == 5.0
    )
