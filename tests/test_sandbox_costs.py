"""The sandbox's cost data: ledger, Cost Explorer answers and the FOCUS export agree and hold the
injected truth (directly, against moto's S3, and through plain boto3 against a running sandbox)."""

from __future__ import annotations

import io
import itertools
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from sandbox.cost_explorer import ESTIMATED_DAYS, PAGE_SIZE, handle_cost_explorer
from sandbox.export import FOCUS_SCHEMA, write_export
from sandbox.ledger import (
    DAILY_BUDGET_USD,
    SAVINGS_PLANS,
    SUPPORT,
    Ledger,
    costs_ground_truth,
    generate_ledger,
)
from tasks.costs.schema import COST_SCHEMA, KEY_COLUMNS

ACCOUNTS = ["123456789012", "210987654321", "345678901234"]
REGIONS = ["us-east-1", "eu-west-1"]
END = date(2026, 3, 15)  # the ledger runs to 2026-03-14; "today" is END
SEED = 11


def make_ledger(seed: int = SEED) -> Ledger:
    return generate_ledger(seed, ACCOUNTS, REGIONS, END, 400)


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    """A default-size ledger shared by read-only tests."""
    return make_ledger()


def ce(ledger: Ledger, body: dict[str, Any], today: date = END) -> tuple[int, dict[str, Any]]:
    # Round-trip through JSON so the answers are exactly what travels on the wire.
    status, response = handle_cost_explorer(ledger, "GetCostAndUsage", body, today)
    return status, json.loads(json.dumps(response))


def all_pages(ledger: Ledger, body: dict[str, Any], today: date = END) -> list[dict[str, Any]]:
    pages = []
    token = None
    while True:
        request = dict(body, NextPageToken=token) if token else dict(body)
        status, page = ce(ledger, request, today)
        assert status == 200, page
        pages.append(page)
        token = page.get("NextPageToken")
        if not token:
            return pages


def per_period(pages: list[dict[str, Any]], metric: str) -> dict[str, float]:
    """Sum a metric per period start over pages, whether grouped (merging split periods) or not."""
    totals: dict[str, float] = defaultdict(float)
    for page in pages:
        for result in page["ResultsByTime"]:
            start = result["TimePeriod"]["Start"]
            if result["Groups"]:
                for group in result["Groups"]:
                    totals[start] += float(group["Metrics"][metric]["Amount"])
            elif result["Total"]:
                totals[start] += float(result["Total"][metric]["Amount"])
            else:
                totals[start] += 0.0
    return dict(totals)


def ledger_daily(ledger: Ledger) -> pd.DataFrame:
    totals = ledger.daily_totals()
    totals.index = [d.isoformat() for d in totals["date"]]
    return totals


def whole_history(ledger: Ledger, **extra: Any) -> dict[str, Any]:
    return {
        "TimePeriod": {
            "Start": ledger.first_day.isoformat(),
            "End": (ledger.last_day + timedelta(days=1)).isoformat(),
        },
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost", "AmortizedCost"],
        **extra,
    }


# --- the ledger ----------------------------------------------------------------------------


def test_same_seed_gives_the_same_ledger_and_another_seed_does_not(ledger: Ledger) -> None:
    again = make_ledger()
    pd.testing.assert_frame_equal(ledger.frame, again.frame)
    assert ledger.anomalies == again.anomalies
    other = make_ledger(seed=SEED + 1)
    assert not np.allclose(
        ledger.daily_totals()["billed_cost"], other.daily_totals()["billed_cost"]
    )


def test_ledger_rows_fit_the_cost_schema_with_unique_keys(ledger: Ledger) -> None:
    frame = ledger.frame
    table = pa.Table.from_pandas(frame, schema=COST_SCHEMA, preserve_index=False)
    assert table.num_rows == len(frame)
    assert not frame.duplicated(KEY_COLUMNS).any()
    assert frame["charge_date"].min() == END - timedelta(days=400)
    assert frame["charge_date"].max() == END - timedelta(days=1)
    negative = frame[(frame["billed_cost"] < 0) | (frame["effective_cost"] < 0)]
    assert set(negative["charge_category"]) == {"Credit", "Adjustment"}
    assert set(frame["charge_category"]) == {"Usage", "Purchase", "Tax", "Credit", "Adjustment"}
    assert (frame["source"] == "export").all() and not frame["estimated"].any()
    assert frame["usage_type"].str.startswith(("USE1-", "EU-")).sum() > 0.9 * len(frame)


def test_daily_spend_is_near_the_budget_and_only_the_spike_breaches_it(ledger: Ledger) -> None:
    truth = costs_ground_truth(ledger)
    effective = pd.Series({d["date"]: d["effective_cost"] for d in truth["daily_totals"]})
    assert 600 <= effective.median() <= 900
    (spike,) = [a for a in truth["anomalies"] if a["kind"] == "spike"]
    spike_days = [d.isoformat() for d in pd.date_range(spike["start"], spike["end"]).date.tolist()]
    assert truth["budget"]["effective_breach_dates"] == spike_days
    assert (effective[spike_days] > DAILY_BUDGET_USD).all()
    billed = pd.Series({d["date"]: d["billed_cost"] for d in truth["daily_totals"]})
    assert (billed[spike_days] > DAILY_BUDGET_USD).all()


def test_commitment_fees_spike_billed_cost_on_the_first_while_effective_stays_smooth(
    ledger: Ledger,
) -> None:
    daily = ledger_daily(ledger)
    firsts = [d for d in daily["date"] if d.day == 1]
    assert len(firsts) >= 13
    checked = 0
    for first in firsts:
        day = first.isoformat()
        if first - timedelta(days=7) < ledger.first_day:
            continue
        week_before = daily.loc[[(first - timedelta(days=k)).isoformat() for k in range(1, 8)]]
        checked += 1
        assert daily.at[day, "billed_cost"] > 3 * week_before["billed_cost"].median(), day
        ratio = daily.at[day, "effective_cost"] / week_before["effective_cost"].median()
        assert 0.85 < ratio < 1.15, (day, ratio)
    assert checked >= 12
    frame = ledger.frame
    purchases = frame[frame["charge_category"] == "Purchase"]
    fees = purchases[purchases["billed_cost"] > 0]
    # Fees fall on the 1st, or on the day a commitment bought mid-month starts.
    starts = {plan.start for plan in ledger.commitments}
    assert {d for d in fees["charge_date"] if d.day != 1} <= starts
    assert (fees[fees["service"] != SUPPORT]["effective_cost"] == 0).all()
    # Over a whole month, the amortised Savings Plan usage equals the fee billed on the 1st.
    month = frame[frame["billing_period"] == "2025-12"]
    records = ledger.attributes.loc[month.index, "record_type"]
    sp_fee = month[records == "SavingsPlanRecurringFee"]["billed_cost"].sum()
    # ... with the unused share of an under-used plan amortised beside its covered usage.
    sp_covered = month[records.isin(["SavingsPlanCoveredUsage", "SavingsPlanRecurringFee"])][
        "effective_cost"
    ].sum()
    assert sp_fee == pytest.approx(sp_covered, abs=0.01)
    # The fee rows themselves carry no effective cost; only the unused share does.
    plan_rows = month[month["service"] == SAVINGS_PLANS]
    unused = plan_rows["commitment_discount_status"].eq("Unused")
    assert plan_rows[~unused]["effective_cost"].sum() == 0


def series_effective(ledger: Ledger, account_id: str, service: str) -> pd.Series:
    frame = ledger.frame
    rows = frame[(frame["sub_account_id"] == account_id) & (frame["service"] == service)]
    values = rows.groupby("charge_date")["effective_cost"].sum()
    days = pd.date_range(ledger.first_day, ledger.last_day).date
    return values.reindex(days, fill_value=0.0)


def test_injected_anomalies_have_the_recorded_kind_size_and_dates(ledger: Ledger) -> None:
    kinds = {a["kind"]: a for a in ledger.anomalies}
    assert set(kinds) == {"spike", "level_shift", "drift", "new_service", "drop"}
    for anomaly in ledger.anomalies:
        assert anomaly["monitor"] in ("service", "account", "account_service")
        assert anomaly["account_id"] in ACCOUNTS
        assert date.fromisoformat(anomaly["start"]).day != 1  # never confused with monthly fees

    def window(series: pd.Series, start: date, offset: int, length: int) -> pd.Series:
        first = start + timedelta(days=offset)
        return series[[first + timedelta(days=k) for k in range(length)]]

    spike = kinds["spike"]
    start = date.fromisoformat(spike["start"])
    series = series_effective(ledger, spike["account_id"], spike["service"])
    baseline = window(series, start, -14, 14).median()
    excess = window(series, start, 0, 2) - baseline
    assert excess.sum() == pytest.approx(spike["impact_usd"], rel=0.2)

    shift = kinds["level_shift"]
    start = date.fromisoformat(shift["start"])
    series = series_effective(ledger, shift["account_id"], shift["service"])
    jump = window(series, start, 0, 14).mean() - window(series, start, -14, 14).mean()
    assert jump == pytest.approx(shift["peak_impact_usd"], rel=0.25)

    drift = kinds["drift"]
    start = date.fromisoformat(drift["start"])
    series = series_effective(ledger, drift["account_id"], drift["service"])
    rise = window(series, start, 45, 7).mean() - window(series, start, -7, 7).mean()
    assert rise == pytest.approx(drift["peak_impact_usd"], rel=0.25)
    assert window(series, start, 5, 7).mean() - window(series, start, -7, 7).mean() < rise / 3

    new = kinds["new_service"]
    start = date.fromisoformat(new["start"])
    series = series_effective(ledger, new["account_id"], new["service"])
    frame = ledger.frame
    assert frame[frame["service"] == new["service"]]["charge_date"].min() == start
    assert series[[d for d in series.index if d >= start]].sum() == pytest.approx(
        new["impact_usd"], abs=0.01
    )

    drop = kinds["drop"]
    start = date.fromisoformat(drop["start"])
    series = series_effective(ledger, drop["account_id"], drop["service"])
    same_days_week_before = window(series, start, -7, 4)
    assert window(series, start, 0, 4).sum() < 0.7 * same_days_week_before.sum()
    assert drop["impact_usd"] < 0


def test_restate_changes_exactly_one_day_and_bumps_that_period(ledger: Ledger) -> None:
    restated = make_ledger()
    day = date(2025, 12, 9)
    before = ledger_daily(restated)
    assert restated.restate(day, 1.1) == "2025-12"
    after = ledger_daily(restated)
    changed = after.index[~np.isclose(after["billed_cost"], before["billed_cost"], atol=1e-6)]
    assert list(changed) == [day.isoformat()]
    assert after.at[day.isoformat(), "billed_cost"] > before.at[day.isoformat(), "billed_cost"]
    assert restated.versions["2025-12"] == 2
    assert {p: v for p, v in restated.versions.items() if p != "2025-12"} == {
        p: 1 for p in ledger.versions if p != "2025-12"
    }
    assert costs_ground_truth(restated)["restatements"] == [
        {"date": "2025-12-09", "factor": 1.1, "billing_period": "2025-12"}
    ]
    with pytest.raises(ValueError, match="outside the ledger"):
        restated.restate(END, 1.1)
    with pytest.raises(ValueError, match="positive"):
        restated.restate(day, 0)


def test_bad_generation_arguments_say_what_to_fix() -> None:
    with pytest.raises(ValueError, match="at least 30"):
        generate_ledger(1, ACCOUNTS, REGIONS, END, 20)
    with pytest.raises(ValueError, match="usage-type prefix"):
        generate_ledger(1, ACCOUNTS, ["mars-north-1"], END, 400)
    with pytest.raises(ValueError, match="unique"):
        generate_ledger(1, [ACCOUNTS[0], ACCOUNTS[0]], REGIONS, END, 400)


# --- Cost Explorer, called directly ----------------------------------------------------------


def test_daily_by_service_over_the_whole_history_pages_and_matches_the_ledger(
    ledger: Ledger,
) -> None:
    body = whole_history(ledger, GroupBy=[{"Type": "DIMENSION", "Key": "SERVICE"}])
    pages = all_pages(ledger, body)
    assert len(pages) >= 4
    assert all(sum(len(r["Groups"]) for r in p["ResultsByTime"]) <= PAGE_SIZE for p in pages)
    # As in AWS, a period cut by the page size continues on the next page.
    starts = [[r["TimePeriod"]["Start"] for r in page["ResultsByTime"]] for page in pages]
    assert any(a[-1] == b[0] for a, b in itertools.pairwise(starts))
    daily = ledger_daily(ledger)
    billed = per_period(pages, "UnblendedCost")
    effective = per_period(pages, "AmortizedCost")
    assert list(billed) == list(daily.index)
    for day in daily.index:
        assert billed[day] == pytest.approx(daily.at[day, "billed_cost"], abs=0.005)
        assert effective[day] == pytest.approx(daily.at[day, "effective_cost"], abs=0.005)
    assert pages[0]["GroupDefinitions"] == [{"Type": "DIMENSION", "Key": "SERVICE"}]
    first = pages[0]["ResultsByTime"][0]
    assert first["Total"] == {}
    assert first["Groups"][0]["Metrics"]["UnblendedCost"]["Unit"] == "USD"


def test_monthly_periods_are_clipped_to_the_request_and_sum_the_days(ledger: Ledger) -> None:
    body = {
        "TimePeriod": {"Start": "2025-11-10", "End": "2026-02-01"},
        "Granularity": "MONTHLY",
        "Metrics": ["UnblendedCost", "UsageQuantity"],
    }
    status, page = ce(ledger, body)
    assert status == 200 and "NextPageToken" not in page
    periods = [r["TimePeriod"] for r in page["ResultsByTime"]]
    assert periods == [
        {"Start": "2025-11-10", "End": "2025-12-01"},
        {"Start": "2025-12-01", "End": "2026-01-01"},
        {"Start": "2026-01-01", "End": "2026-02-01"},
    ]
    daily = ledger_daily(ledger)
    days = [d.isoformat() for d in pd.date_range("2025-11-10", "2025-11-30").date]
    first = page["ResultsByTime"][0]
    assert float(first["Total"]["UnblendedCost"]["Amount"]) == pytest.approx(
        daily.loc[days, "billed_cost"].sum(), abs=0.005
    )
    assert first["Total"]["UsageQuantity"]["Unit"] == "N/A"
    assert first["Groups"] == [] and first["Estimated"] is False


def test_two_group_bys_with_account_names_and_tag_groups(ledger: Ledger) -> None:
    body = {
        "TimePeriod": {"Start": "2026-01-01", "End": "2026-02-01"},
        "Granularity": "MONTHLY",
        "Metrics": ["AmortizedCost"],
        "GroupBy": [
            {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
            {"Type": "TAG", "Key": "env"},
        ],
    }
    status, page = ce(ledger, body)
    assert status == 200
    groups = page["ResultsByTime"][0]["Groups"]
    keys = [tuple(g["Keys"]) for g in groups]
    assert keys == sorted(keys)
    assert {k[0] for k in keys} == set(ACCOUNTS)
    assert all(k[1].startswith("env$") for k in keys)
    assert (ACCOUNTS[0], "env$") in keys  # tax and support carry no tags
    assert (ACCOUNTS[1], "env$prod") in keys
    assert page["DimensionValueAttributes"] == [
        {"Value": account, "Attributes": {"description": name}}
        for account, name in sorted(ledger.account_names.items())
    ]
    frame = ledger.frame
    january = frame[frame["billing_period"] == "2026-01"]
    total = sum(float(g["Metrics"]["AmortizedCost"]["Amount"]) for g in groups)
    assert total == pytest.approx(january["effective_cost"].sum(), abs=0.01)


def month_total(ledger: Ledger, expression: dict[str, Any] | None, month: str = "2026-01") -> float:
    start = date.fromisoformat(f"{month}-01")
    end = (start + timedelta(days=32)).replace(day=1)
    body: dict[str, Any] = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "MONTHLY",
        "Metrics": ["UnblendedCost"],
    }
    if expression is not None:
        body["Filter"] = expression
    status, page = ce(ledger, body)
    assert status == 200, page
    return float(page["ResultsByTime"][0]["Total"]["UnblendedCost"]["Amount"])


def test_filters_select_the_rows_a_user_asks_for(ledger: Ledger) -> None:
    frame = ledger.frame
    records = ledger.attributes["record_type"]
    january = frame["billing_period"] == "2026-01"

    def expected(mask: pd.Series) -> float:
        return float(frame[january & mask]["billed_cost"].sum())

    ec2 = "Amazon Elastic Compute Cloud - Compute"
    service = {"Dimensions": {"Key": "SERVICE", "Values": [ec2]}}
    account = {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [ACCOUNTS[1]]}}
    credits = {"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Credit", "Refund"]}}
    cases = [
        (service, frame["service"] == ec2),
        (
            {"And": [service, account]},
            (frame["service"] == ec2) & (frame["sub_account_id"] == ACCOUNTS[1]),
        ),
        (
            {"Or": [service, account]},
            (frame["service"] == ec2) | (frame["sub_account_id"] == ACCOUNTS[1]),
        ),
        ({"Not": credits}, ~records.isin(["Credit", "Refund"])),
        ({"Dimensions": {"Key": "REGION", "Values": ["NoRegion"]}}, frame["region"] == ""),
        ({"Tags": {"Key": "env", "Values": ["prod"]}}, frame["tags"].str.contains('"env": "prod"')),
        ({"Tags": {"Key": "env", "MatchOptions": ["ABSENT"]}}, frame["tags"] == "{}"),
        (
            {"Dimensions": {"Key": "USAGE_TYPE", "Values": ["USE1-BoxUsage:m5.large"]}},
            frame["usage_type"] == "USE1-BoxUsage:m5.large",
        ),
    ]
    for expression, mask in cases:
        assert month_total(ledger, expression) == pytest.approx(expected(mask), abs=0.005), (
            expression
        )
    # Leaving out credits and refunds raises a month that has them by exactly their amount.
    credit_month = ledger.credits[0]["start"][:7]
    in_month = frame["billing_period"] == credit_month
    negatives = frame[in_month & frame["charge_category"].isin(["Credit", "Adjustment"])]
    assert negatives["billed_cost"].sum() < -250
    assert month_total(ledger, {"Not": credits}, credit_month) == pytest.approx(
        month_total(ledger, None, credit_month) - negatives["billed_cost"].sum(), abs=0.01
    )
    # Dimension values match case-sensitively, as in AWS.
    lower = {"Dimensions": {"Key": "SERVICE", "Values": [ec2.lower()]}}
    assert month_total(ledger, lower) == 0


def test_estimated_marks_the_last_days_before_today(ledger: Ledger) -> None:
    body = {
        "TimePeriod": {"Start": "2026-03-05", "End": "2026-03-16"},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
    }
    status, page = ce(ledger, body)
    assert status == 200
    flags = {r["TimePeriod"]["Start"]: r["Estimated"] for r in page["ResultsByTime"]}
    estimated = {d for d, flag in flags.items() if flag}
    # the last ESTIMATED_DAYS days before today, and today itself (no data yet)
    assert estimated == {(END - timedelta(days=k)).isoformat() for k in range(ESTIMATED_DAYS + 1)}
    assert float(page["ResultsByTime"][-1]["Total"]["UnblendedCost"]["Amount"]) == 0  # today
    monthly = dict(
        body, Granularity="MONTHLY", TimePeriod={"Start": "2026-02-01", "End": "2026-03-16"}
    )
    status, page = ce(ledger, monthly)
    assert [r["Estimated"] for r in page["ResultsByTime"]] == [False, True]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"TimePeriod": {"Start": "2026-03-05", "End": "2026-03-01"}}, "ValidationException"),
        ({"TimePeriod": {"Start": "2026/03/01", "End": "2026-03-05"}}, "ValidationException"),
        ({"TimePeriod": {"Start": "2026-03-01", "End": "2026-05-01"}}, "ValidationException"),
        ({"TimePeriod": {"Start": "2026-03-20", "End": "2026-04-01"}}, "ValidationException"),
        ({"TimePeriod": {"Start": "2024-12-05", "End": "2026-03-01"}}, "ValidationException"),
        ({"TimePeriod": {"Start": "2025-01-01", "End": "2026-03-01"}}, "DataUnavailableException"),
        ({"Granularity": "HOURLY"}, "ValidationException"),
        ({"Granularity": "WEEKLY"}, "ValidationException"),
        ({"Metrics": []}, "ValidationException"),
        ({"Metrics": ["Cost"]}, "ValidationException"),
        ({"GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}] * 2}, "ValidationException"),
        (
            {
                "GroupBy": [
                    {"Type": "DIMENSION", "Key": k} for k in ("SERVICE", "REGION", "USAGE_TYPE")
                ]
            },
            "ValidationException",
        ),
        ({"GroupBy": [{"Type": "DIMENSION", "Key": "COLOUR"}]}, "ValidationException"),
        (
            {"Filter": {"Dimensions": {"Key": "SERVICE", "Values": ["x"]}, "Not": {}}},
            "ValidationException",
        ),
        ({"NextPageToken": "not-a-token"}, "InvalidNextTokenException"),
    ],
)
def test_invalid_requests_get_aws_shaped_errors(
    ledger: Ledger, change: dict[str, Any], error: str
) -> None:
    body = {
        "TimePeriod": {"Start": "2026-03-01", "End": "2026-03-05"},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
        **change,
    }
    status, response = ce(ledger, body)
    assert status == 400
    assert response["__type"] == error
    assert response["Message"]


def test_a_token_from_another_request_is_refused(ledger: Ledger) -> None:
    body = whole_history(ledger, GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}])
    status, page = ce(ledger, body)
    token = page["NextPageToken"]
    other = dict(whole_history(ledger, GroupBy=[{"Type": "DIMENSION", "Key": "SERVICE"}]))
    status, response = ce(ledger, dict(other, NextPageToken=token))
    assert (status, response["__type"]) == (400, "RequestChangedException")


def test_dimension_values_and_unknown_operations(ledger: Ledger) -> None:
    period = {"Start": "2026-01-01", "End": "2026-02-01"}
    status, response = handle_cost_explorer(
        ledger, "GetDimensionValues", {"TimePeriod": period, "Dimension": "LINKED_ACCOUNT"}, END
    )
    assert status == 200
    assert response["DimensionValues"] == [
        {"Value": a, "Attributes": {"description": ledger.account_names[a]}}
        for a in sorted(ACCOUNTS)
    ]
    status, response = handle_cost_explorer(
        ledger,
        "GetDimensionValues",
        {"TimePeriod": period, "Dimension": "SERVICE", "SearchString": "elastic"},
        END,
    )
    values = [v["Value"] for v in response["DimensionValues"]]
    assert "Amazon Elastic Compute Cloud - Compute" in values and "Tax" not in values
    assert response["ReturnSize"] == response["TotalSize"] == len(values)
    status, response = handle_cost_explorer(ledger, "GetReservationCoverage", {}, END)
    assert (status, response["__type"]) == (400, "UnknownOperationException")


# --- the export against moto's S3 ------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_client() -> Iterator[Any]:
    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield boto3.client(
            "s3",
            endpoint_url=f"http://{host}:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    finally:
        server.stop()


def read_export(
    s3: Any, bucket: str, prefix: str, name: str
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Read an export as a consumer would: current manifests, then exactly the files they list."""
    manifests: dict[str, Any] = {}
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/{name}/metadata/"):
        for item in page.get("Contents", []):
            parts = item["Key"].split("/")
            # current manifests sit directly under BILLING_PERIOD=...; executions' one level down
            if len(parts) == 5 and parts[-1] == f"{name}-Manifest.json":
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                manifests[parts[3].removeprefix("BILLING_PERIOD=")] = json.loads(body)
    tables = []
    for manifest in manifests.values():
        for uri in manifest["dataFiles"]:
            key = uri.removeprefix(f"s3://{bucket}/")
            data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            tables.append(pq.read_table(io.BytesIO(data)))
    return manifests, pa.concat_tables(tables).to_pandas()


def export_daily(rows: pd.DataFrame) -> pd.DataFrame:
    days = rows["ChargePeriodStart"].dt.strftime("%Y-%m-%d")
    return rows.groupby(days)[["BilledCost", "EffectiveCost"]].sum()


def test_export_layout_manifest_and_totals_match_the_ledger(ledger: Ledger, s3_client: Any) -> None:
    now = datetime(2026, 3, 15, 6, tzinfo=UTC)
    info = write_export(s3_client, ledger, "export-layout", "cur", "focus", now)
    assert info["bucket"] == "export-layout" and info["export_name"] == "focus"
    assert set(info["periods"]) == set(ledger.billing_periods) and len(ledger.billing_periods) >= 14
    manifests, rows = read_export(s3_client, "export-layout", "cur", "focus")
    assert set(manifests) == set(ledger.billing_periods)
    december = manifests["2025-12"]
    assert len(december["dataFiles"]) >= 2
    execution = december["executionId"]
    assert all(
        uri.startswith(f"s3://export-layout/cur/focus/data/BILLING_PERIOD=2025-12/{execution}/")
        and uri.endswith(".snappy.parquet")
        for uri in december["dataFiles"]
    )
    assert december["billingPeriod"] == {
        "start": "2025-12-01T00:00:00.000Z",
        "end": "2026-01-01T00:00:00.000Z",
    }
    assert [c["name"] for c in december["columns"]] == FOCUS_SCHEMA.names
    assert december["exportArn"].startswith("arn:aws:bcm-data-exports:us-east-1:")
    assert len(rows) == len(ledger.frame)
    assert rows["Tags"].map(lambda tags: dict(tags).get("env") if tags else None).notna().any()
    assert rows[rows["RegionId"].isna()]["ServiceName"].isin(["Tax", SUPPORT, SAVINGS_PLANS]).all()
    daily = export_daily(rows)
    expected = ledger_daily(ledger)
    assert np.allclose(daily["BilledCost"], expected["billed_cost"], atol=0.005)
    assert np.allclose(daily["EffectiveCost"], expected["effective_cost"], atol=0.005)


def test_restatement_writes_a_new_version_of_just_that_period(s3_client: Any) -> None:
    ledger = make_ledger()
    now = datetime(2026, 3, 15, 6, tzinfo=UTC)
    first = write_export(s3_client, ledger, "export-restate", "cur", "focus", now)
    before_manifests, before_rows = read_export(s3_client, "export-restate", "cur", "focus")
    again = write_export(s3_client, ledger, "export-restate", "cur", "focus", now)
    assert not any(p["written"] for p in again["periods"].values())  # nothing changed

    ledger.restate(date(2026, 1, 20), 1.25)
    later = write_export(
        s3_client, ledger, "export-restate", "cur", "focus", now + timedelta(hours=1)
    )
    assert [p for p, v in later["periods"].items() if v["written"]] == ["2026-01"]
    manifests, rows = read_export(s3_client, "export-restate", "cur", "focus")
    assert manifests["2026-01"]["executionId"] != before_manifests["2026-01"]["executionId"]
    assert manifests["2026-01"]["version"] == 2
    assert manifests["2025-12"] == before_manifests["2025-12"]
    # the old version's files are still there (create-new delivery) but no longer listed
    old_key = first["periods"]["2026-01"]["data_files"][0]
    s3_client.head_object(Bucket="export-restate", Key=old_key)
    assert old_key not in {
        u.removeprefix("s3://export-restate/") for u in manifests["2026-01"]["dataFiles"]
    }
    before_daily, after_daily = export_daily(before_rows), export_daily(rows)
    changed = after_daily.index[~np.isclose(after_daily["BilledCost"], before_daily["BilledCost"])]
    assert list(changed) == ["2026-01-20"]


# --- through plain boto3 against the running sandbox ------------------------------------------


def boto_pages(client: Any, **request: Any) -> list[dict[str, Any]]:
    pages = []
    while True:
        page = client.get_cost_and_usage(**request)
        pages.append(page)
        if not page.get("NextPageToken"):
            return pages
        request["NextPageToken"] = page["NextPageToken"]


def test_boto3_daily_by_service_equals_the_parquet_export_to_the_cent(sandbox: Any) -> None:
    truth = sandbox.ground_truth
    ce_client = sandbox.client("ce")
    pages = boto_pages(
        ce_client,
        TimePeriod={
            "Start": truth["first_day"],
            "End": (date.fromisoformat(truth["last_day"]) + timedelta(days=1)).isoformat(),
        },
        Granularity="DAILY",
        Metrics=["UnblendedCost", "AmortizedCost"],
        GroupBy=[{"Type": "DIMENSION", "Key": "SERVICE"}],
    )
    assert len(pages) > 1
    billed = per_period(pages, "UnblendedCost")
    effective = per_period(pages, "AmortizedCost")
    export = truth["export"]
    _, rows = read_export(
        sandbox.client("s3"), export["bucket"], export["prefix"], export["export_name"]
    )
    daily = export_daily(rows)
    assert list(billed) == list(daily.index)
    assert len(daily) == sandbox.size.cost_days
    for day in daily.index:
        assert abs(billed[day] - daily.at[day, "BilledCost"]) < 0.005, day
        assert abs(effective[day] - daily.at[day, "EffectiveCost"]) < 0.005, day
    # and the ground truth file says the same: totals, budget breaches, the new service's start
    for entry in truth["daily_totals"]:
        assert abs(entry["billed_cost"] - billed[entry["date"]]) < 0.006
    over_budget = sorted(d for d, cost in effective.items() if cost > DAILY_BUDGET_USD)
    assert over_budget == truth["budget"]["effective_breach_dates"] != []
    (new,) = [a for a in truth["anomalies"] if a["kind"] == "new_service"]
    service_pages = boto_pages(
        ce_client,
        TimePeriod={
            "Start": truth["first_day"],
            "End": pages[-1]["ResultsByTime"][-1]["TimePeriod"]["End"],
        },
        Granularity="DAILY",
        Metrics=["AmortizedCost"],
        Filter={"Dimensions": {"Key": "SERVICE", "Values": [new["service"]]}},
        GroupBy=[{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}],
    )
    spend = {d: v for d, v in per_period(service_pages, "AmortizedCost").items() if v > 0}
    assert min(spend) == new["start"]
    accounts = {
        g["Keys"][0] for p in service_pages for r in p["ResultsByTime"] for g in r["Groups"]
    }
    assert accounts == {new["account_id"]}
    assert sum(spend.values()) == pytest.approx(new["impact_usd"], abs=0.05)


def test_boto3_sees_estimated_days_errors_and_dimension_values(sandbox: Any) -> None:
    ce_client = sandbox.client("ce")
    today = datetime.now(UTC).date()
    page = ce_client.get_cost_and_usage(
        TimePeriod={"Start": (today - timedelta(days=7)).isoformat(), "End": today.isoformat()},
        Granularity="DAILY",
        Metrics=["NetAmortizedCost"],
        Filter={"Not": {"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Credit"]}}},
    )
    flags = [r["Estimated"] for r in page["ResultsByTime"]]
    assert flags == [False] * (7 - ESTIMATED_DAYS) + [True] * ESTIMATED_DAYS
    with pytest.raises(ClientError) as caught:
        ce_client.get_cost_and_usage(
            TimePeriod={"Start": today.isoformat(), "End": today.isoformat()},
            Granularity="DAILY",
            Metrics=["UnblendedCost"],
        )
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    first = date.fromisoformat(sandbox.ground_truth["first_day"])
    with pytest.raises(ClientError) as caught:
        ce_client.get_cost_and_usage(
            TimePeriod={
                "Start": (first - timedelta(days=1)).isoformat(),
                "End": (first + timedelta(days=5)).isoformat(),
            },
            Granularity="DAILY",
            Metrics=["UnblendedCost"],
        )
    assert caught.value.response["Error"]["Code"] == "DataUnavailableException"
    accounts = ce_client.get_dimension_values(
        TimePeriod={"Start": (today - timedelta(days=7)).isoformat(), "End": today.isoformat()},
        Dimension="LINKED_ACCOUNT",
    )
    assert sorted(v["Value"] for v in accounts["DimensionValues"]) == sorted(sandbox.accounts)


def test_sandbox_restatement_changes_one_day_in_ce_and_the_export(fresh_sandbox: Any) -> None:
    box = fresh_sandbox(accounts=2, instances=0, volumes=0, regions=("us-east-1",))
    truth = box.ground_truth
    day = date.fromisoformat(truth["last_day"]) - timedelta(days=20)
    export = truth["export"]
    s3 = box.client("s3")
    manifests_before, _ = read_export(s3, export["bucket"], export["prefix"], export["export_name"])
    request = {
        "TimePeriod": {
            "Start": (day - timedelta(days=3)).isoformat(),
            "End": (day + timedelta(days=4)).isoformat(),
        },
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
    }
    before = per_period(boto_pages(box.client("ce"), **request), "UnblendedCost")
    answer = box.control("POST", "restate", {"date": day.isoformat(), "factor": 1.2})
    period = day.strftime("%Y-%m")
    assert answer["billing_period"] == period
    after = per_period(boto_pages(box.client("ce"), **request), "UnblendedCost")
    assert [d for d in before if abs(after[d] - before[d]) > 0.001] == [day.isoformat()]
    manifests, rows = read_export(s3, export["bucket"], export["prefix"], export["export_name"])
    assert manifests[period]["executionId"] != manifests_before[period]["executionId"]
    assert {p: m for p, m in manifests.items() if p != period} == {
        p: m for p, m in manifests_before.items() if p != period
    }
    daily = export_daily(rows)
    assert abs(daily.at[day.isoformat(), "BilledCost"] - after[day.isoformat()]) < 0.005
