"""The sandbox serves commitments as boto3 speaks: CE commitment calls and savingsplans."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from botocore.exceptions import ClientError


def test_inventory_holds_several_terms_one_expiring_and_one_under_used(sandbox) -> None:
    truth = sandbox.ground_truth["commitments"]
    inventory = truth["inventory"]
    assert {item["term_years"] for item in inventory} == {1, 3}
    assert {item["kind"] for item in inventory} == {"Savings Plan", "Reserved Instance"}
    expiring = [item for item in inventory if item["days_left"] <= 30]
    under = [item for item in inventory if item["used_fraction"] < 1]
    assert len(expiring) == 1 and expiring[0]["kind"] == "Reserved Instance"
    assert len(under) == 1 and under[0]["kind"] == "Savings Plan"
    assert truth["expiring_within_30_days"] == [expiring[0]["commitment_id"]]


def test_describe_savings_plans_pages_per_account(sandbox) -> None:
    inventory = sandbox.ground_truth["commitments"]["inventory"]
    for account in sandbox.accounts:
        client = sandbox.client("savingsplans", account, "us-east-1")
        pages = []
        token = None
        while True:
            kwargs = {"maxResults": 1, **({"nextToken": token} if token else {})}
            page = client.describe_savings_plans(**kwargs)
            pages.append(page)
            token = page.get("nextToken")
            if not token:
                break
        plans = [plan for page in pages for plan in page["savingsPlans"]]
        expected = {
            item["commitment_id"]
            for item in inventory
            if item["account_id"] == account and item["kind"] == "Savings Plan"
        }
        assert {plan["savingsPlanArn"] for plan in plans} == expected
        assert all(plan["state"] == "active" and float(plan["commitment"]) > 0 for plan in plans)
    one_year = client.describe_savings_plans(filters=[{"name": "term", "values": ["1"]}])
    assert [p["termDurationInSeconds"] for p in one_year["savingsPlans"]] == [365 * 24 * 3600]


def test_savings_plans_utilisation_matches_the_ledger_per_day(sandbox) -> None:
    ce = sandbox.client("ce", sandbox.management_account_id, "us-east-1")
    truth = {
        entry["date"]: entry
        for entry in sandbox.ground_truth["commitments"]["daily"]
        if entry["kind"] == "Savings Plan"
    }
    last = date.fromisoformat(sandbox.ground_truth["last_day"])
    answer = ce.get_savings_plans_utilization(
        TimePeriod={
            "Start": (last - timedelta(days=6)).isoformat(),
            "End": (last + timedelta(days=1)).isoformat(),
        },
        Granularity="DAILY",
    )
    days = answer["SavingsPlansUtilizationsByTime"]
    assert len(days) == 7
    for day in days:
        expected = truth[day["TimePeriod"]["Start"]]
        used = float(day["Utilization"]["UsedCommitment"])
        unused = float(day["Utilization"]["UnusedCommitment"])
        assert round(used, 2) == expected["used_usd"]
        assert round(unused, 2) == expected["unused_usd"] > 0


def test_coverage_pages_and_reservation_groups_name_each_lease(sandbox) -> None:
    ce = sandbox.client("ce", sandbox.management_account_id, "us-east-1")
    last = date.fromisoformat(sandbox.ground_truth["last_day"])
    period = {"Start": (last - timedelta(days=2)).isoformat(), "End": last.isoformat()}
    first = ce.get_savings_plans_coverage(
        TimePeriod=period,
        Granularity="DAILY",
        GroupBy=[{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}],
        MaxResults=2,
    )
    assert len(first["SavingsPlansCoverages"]) == 2 and first["NextToken"]
    rest = ce.get_savings_plans_coverage(
        TimePeriod=period,
        Granularity="DAILY",
        GroupBy=[{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}],
        NextToken=first["NextToken"],
        MaxResults=100,
    )
    assert len(first["SavingsPlansCoverages"]) + len(rest["SavingsPlansCoverages"]) == 6
    assert "NextToken" not in rest
    rds = "Amazon Relational Database Service"
    ri = ce.get_reservation_utilization(
        TimePeriod=period,
        Granularity="MONTHLY",
        GroupBy=[{"Type": "DIMENSION", "Key": "SUBSCRIPTION_ID"}],
    )
    leases = {g["Attributes"]["leaseId"] for t in ri["UtilizationsByTime"] for g in t["Groups"]}
    expected = {
        item["id"]
        for item in sandbox.ground_truth["commitments"]["inventory"]
        if item["kind"] == "Reserved Instance"
    }
    assert leases == expected
    coverage = ce.get_reservation_coverage(
        TimePeriod=period, Filter={"Dimensions": {"Key": "SERVICE", "Values": [rds]}}
    )
    hours = coverage["Total"]["CoverageHours"]
    assert 0 < float(hours["CoverageHoursPercentage"]) < 100


def test_recommendations_parse_and_bad_input_is_an_aws_error(sandbox) -> None:
    ce = sandbox.client("ce", sandbox.management_account_id, "us-east-1")
    answer = ce.get_savings_plans_purchase_recommendation(
        SavingsPlansType="COMPUTE_SP",
        TermInYears="ONE_YEAR",
        PaymentOption="NO_UPFRONT",
        LookbackPeriodInDays="THIRTY_DAYS",
    )
    summary = answer["SavingsPlansPurchaseRecommendation"][
        "SavingsPlansPurchaseRecommendationSummary"
    ]
    best = sandbox.ground_truth["commitments"]["recommendation"]["best_hourly_commitment_usd"]
    assert float(summary["HourlyCommitmentToPurchase"]) == pytest.approx(best, abs=0.0005)
    ri = ce.get_reservation_purchase_recommendation(
        Service="Amazon Relational Database Service", LookbackPeriodInDays="THIRTY_DAYS"
    )
    details = ri["Recommendations"][0]["RecommendationDetails"]
    assert all(int(d["RecommendedNumberOfInstancesToPurchase"]) >= 1 for d in details)
    with pytest.raises(ClientError) as caught:
        ce.get_savings_plans_utilization(TimePeriod={"Start": "2026-01-02", "End": "2026-01-01"})
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    # GetCostAndUsage still goes to the ledger's Cost Explorer
    assert ce.get_cost_and_usage(
        TimePeriod={
            "Start": (date.fromisoformat(sandbox.ground_truth["last_day"])).isoformat(),
            "End": (
                date.fromisoformat(sandbox.ground_truth["last_day"]) + timedelta(days=1)
            ).isoformat(),
        },
        Granularity="DAILY",
        Metrics=["UnblendedCost"],
    )["ResultsByTime"]


def test_create_savings_plan_records_one_purchase_per_client_token(fresh_sandbox) -> None:
    box = fresh_sandbox(accounts=2, instances=2, volumes=2)
    client = box.client("savingsplans", box.management_account_id, "us-east-1")
    offerings = client.describe_savings_plans_offerings(
        planTypes=["Compute"], paymentOptions=["No Upfront"], durations=[365 * 24 * 3600]
    )["searchResults"]
    assert len(offerings) == 1
    bought = client.create_savings_plan(
        savingsPlanOfferingId=offerings[0]["offeringId"], commitment="1.5", clientToken="t-1"
    )
    again = client.create_savings_plan(
        savingsPlanOfferingId=offerings[0]["offeringId"], commitment="1.5", clientToken="t-1"
    )
    assert bought["savingsPlanId"] == again["savingsPlanId"]
    purchases = box.control("GET", "ground-truth")["savings_plan_purchases"]
    assert [p["savingsPlanId"] for p in purchases] == [bought["savingsPlanId"]]
    with pytest.raises(ClientError) as caught:
        client.create_savings_plan(savingsPlanOfferingId="nope", commitment="1", clientToken="t-2")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_period_without_commitments_reads_as_none(sandbox) -> None:
    from tasks.commitments.aws import get_reservation_utilization, get_savings_plans_utilization

    ce = sandbox.client("ce", sandbox.management_account_id, "us-east-1")
    future = date.fromisoformat(sandbox.ground_truth["last_day"]) + timedelta(days=40)
    with pytest.raises(ClientError) as caught:
        ce.get_savings_plans_utilization(
            TimePeriod={"Start": future.isoformat(), "End": (future + timedelta(1)).isoformat()}
        )
    assert caught.value.response["Error"]["Code"] == "DataUnavailableException"
    assert get_savings_plans_utilization(ce, future, future) == []
    assert get_reservation_utilization(ce, future, future) == []
