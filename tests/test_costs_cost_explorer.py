"""Cost Explorer adapter: pages, Estimated rows, categories and faults (botocore Stubber).

Stubber is used for what the sandbox cannot do on demand (throttling, DataUnavailable for a
valid range, AccessDenied); the response shapes are Cost Explorer's own, validated by botocore
against its service model.  The sandbox tests cover the same code over the real protocol.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tasks.costs.cost_explorer import (
    CostExplorerError,
    RequestCounter,
    get_cost_and_usage,
    sync_cost_explorer,
    transform_pages,
)
from tasks.costs.window import DayRange

PAYER = "123456789012"
WINDOW = DayRange(date(2026, 3, 1), date(2026, 3, 3))
METRIC_NAMES = ("UnblendedCost", "AmortizedCost", "NetAmortizedCost", "UsageQuantity")


def metrics(billed: float, effective: float, quantity: float = 1.0) -> dict[str, Any]:
    return {
        "UnblendedCost": {"Amount": str(billed), "Unit": "USD"},
        "AmortizedCost": {"Amount": str(effective), "Unit": "USD"},
        "NetAmortizedCost": {"Amount": str(effective), "Unit": "USD"},
        "UsageQuantity": {"Amount": str(quantity), "Unit": "N/A"},
    }


def period(day: str, end: str, groups: list[dict[str, Any]], estimated: bool) -> dict[str, Any]:
    return {
        "TimePeriod": {"Start": day, "End": end},
        "Total": {},
        "Groups": groups,
        "Estimated": estimated,
    }


def group(account: str, service: str, billed: float, effective: float) -> dict[str, Any]:
    return {"Keys": [account, service], "Metrics": metrics(billed, effective)}


@pytest.fixture
def ce() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "ce", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def expected_params(token: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "TimePeriod": {"Start": "2026-03-01", "End": "2026-03-03"},
        "Granularity": "DAILY",
        "Metrics": list(METRIC_NAMES),
        "GroupBy": [
            {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
            {"Type": "DIMENSION", "Key": "SERVICE"},
        ],
    }
    if token:
        params["NextPageToken"] = token
    return params


def no_sleep(_: float) -> None:
    return None


def test_pages_are_followed_and_a_split_period_is_merged(ce: tuple[Any, Stubber]) -> None:
    client, stubber = ce
    # The second day's groups continue on the next page under the same TimePeriod, as AWS does.
    stubber.add_response(
        "get_cost_and_usage",
        {
            "ResultsByTime": [
                period(
                    "2026-03-01", "2026-03-02", [group("111111111111", "Amazon S3", 1, 1)], False
                ),
                period(
                    "2026-03-02", "2026-03-03", [group("111111111111", "Amazon S3", 2, 2)], True
                ),
            ],
            "NextPageToken": "page-2",
        },
        expected_params(),
    )
    stubber.add_response(
        "get_cost_and_usage",
        {
            "ResultsByTime": [
                period(
                    "2026-03-02",
                    "2026-03-03",
                    [
                        group("222222222222", "Tax", 0.5, 0.5),
                        group("222222222222", "AWS Lambda", -3, -3),
                    ],
                    True,
                ),
            ]
        },
        expected_params("page-2"),
    )
    counter = RequestCounter()
    frame = sync_cost_explorer(client, WINDOW, PAYER, counter=counter, sleep=no_sleep)
    assert counter.requests == 2 and counter.cost_usd == 0.02
    assert len(frame) == 4
    assert frame["source"].eq("ce").all() and frame["billing_account_id"].eq(PAYER).all()
    by_day = frame.groupby("charge_date")["billed_cost"].sum()
    assert by_day[date(2026, 3, 1)] == 1 and by_day[date(2026, 3, 2)] == pytest.approx(-0.5)
    # Estimated is kept per row: only the second day is an estimate.
    assert frame.set_index("charge_date")["estimated"].groupby(level=0).all().to_dict() == {
        date(2026, 3, 1): False,
        date(2026, 3, 2): True,
    }
    categories = dict(zip(frame["service"], frame["charge_category"], strict=True))
    assert categories["Tax"] == "Tax" and categories["AWS Lambda"] == "Credit"
    assert categories["Amazon S3"] == "Usage"


def test_record_type_and_region_values_map_to_the_schema() -> None:
    page = {
        "ResultsByTime": [
            period(
                "2026-03-01",
                "2026-03-02",
                [
                    {"Keys": ["111111111111", "Usage"], "Metrics": metrics(1, 1)},
                    {"Keys": ["111111111111", "DiscountedUsage"], "Metrics": metrics(0, 2)},
                    {"Keys": ["111111111111", "RIFee"], "Metrics": metrics(30, 0)},
                    {"Keys": ["111111111111", "Refund"], "Metrics": metrics(-4, -4)},
                ],
                False,
            )
        ]
    }
    frame = transform_pages(
        [page], ["LINKED_ACCOUNT", "RECORD_TYPE"], PAYER, fixed={"region": "NoRegion"}
    )
    totals = frame.groupby("charge_category")["effective_cost"].sum().to_dict()
    # Usage and DiscountedUsage are both FOCUS Usage, kept apart by their commitment status.
    assert totals == {"Adjustment": -4.0, "Purchase": 0.0, "Usage": 3.0}
    covered = frame[frame["commitment_discount_status"].eq("Used")]
    assert covered[["effective_cost", "commitment_discount_type"]].values.tolist() == [
        [2.0, "Reserved Instance"]
    ]
    page_regions = {
        "ResultsByTime": [
            period(
                "2026-03-01",
                "2026-03-02",
                [{"Keys": ["111111111111", "NoRegion"], "Metrics": metrics(1, 1)}],
                False,
            )
        ]
    }
    regions = transform_pages([page_regions], ["LINKED_ACCOUNT", "REGION"], PAYER)
    assert regions["region"].tolist() == [""]


@pytest.mark.parametrize("code", ["LimitExceededException", "ThrottlingException"])
def test_throttling_is_retried_with_backoff(ce: tuple[Any, Stubber], code: str) -> None:
    client, stubber = ce
    stubber.add_client_error("get_cost_and_usage", code, "Rate exceeded", 400)
    stubber.add_client_error("get_cost_and_usage", code, "Rate exceeded", 400)
    stubber.add_response(
        "get_cost_and_usage",
        {"ResultsByTime": [period("2026-03-01", "2026-03-02", [group("1", "S", 1, 1)], False)]},
        None,
    )
    waits: list[float] = []
    counter = RequestCounter()
    pages = list(
        get_cost_and_usage(
            client,
            WINDOW,
            ["LINKED_ACCOUNT", "SERVICE"],
            counter,
            base_delay_s=0.5,
            sleep=waits.append,
        )
    )
    assert len(pages) == 1
    assert waits == [0.5, 1.0]  # exponential backoff
    assert counter.requests == 3 and counter.throttled == 2


def test_throttling_that_never_ends_gives_a_clear_error(ce: tuple[Any, Stubber]) -> None:
    client, stubber = ce
    for _ in range(3):
        stubber.add_client_error("get_cost_and_usage", "LimitExceededException", "slow down", 400)
    with pytest.raises(CostExplorerError, match=r"still throttling .* after 3 attempts"):
        sync_cost_explorer(client, WINDOW, PAYER, max_attempts=3, sleep=no_sleep)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("DataUnavailableException", "no data for this range yet"),
        ("AccessDeniedException", "may not call ce:GetCostAndUsage"),
    ],
)
def test_fatal_errors_are_one_line(ce: tuple[Any, Stubber], code: str, words: str) -> None:
    client, stubber = ce
    stubber.add_client_error("get_cost_and_usage", code, "denied or unavailable", 400)
    with pytest.raises(CostExplorerError) as caught:
        sync_cost_explorer(client, WINDOW, PAYER, sleep=no_sleep)
    message = str(caught.value)
    assert words in message and code in message and "\n" not in message


def test_an_empty_range_says_so(ce: tuple[Any, Stubber]) -> None:
    client, stubber = ce
    stubber.add_response(
        "get_cost_and_usage",
        {"ResultsByTime": [period("2026-03-01", "2026-03-02", [], False)]},
        None,
    )
    with pytest.raises(CostExplorerError, match=r"returned no cost for 2026-03-01\.\.2026-03-02"):
        sync_cost_explorer(client, WINDOW, PAYER, sleep=no_sleep)


def test_unsupported_group_by_is_refused_before_any_request() -> None:
    client = boto3.client(
        "ce", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client), pytest.raises(ValueError, match="GroupBy 'TAG:team' is not supported"):
        sync_cost_explorer(client, WINDOW, PAYER, group_by=("LINKED_ACCOUNT", "TAG:team"))
