"""The Great Expectations suite: a good batch passes; each kind of bad batch is rejected by name."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pandas as pd
import pytest

from tasks.costs.quality import QualityError, QualityPolicy, check_batch, validate_batch
from tests.plugins.costs import make_cost_frame

START = date(2026, 1, 1)
DAYS = 40
TODAY = START + timedelta(days=DAYS)
POLICY = QualityPolicy(START, TODAY - timedelta(days=1), TODAY, estimated_recent_days=5)


def good_batch() -> pd.DataFrame:
    return make_cost_frame(START, DAYS, estimated_last=3)


def test_a_good_batch_passes() -> None:
    report = check_batch(good_batch(), POLICY)
    assert report.success and report.rows == DAYS * 4
    assert report.result["results"] and all(r["success"] for r in report.result["results"])
    assert "passed" in report.markdown()


def drop_column(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["currency"])


def text_cost(frame: pd.DataFrame) -> pd.DataFrame:
    frame["billed_cost"] = frame["billed_cost"].astype(str)
    return frame


def garbage_cost(frame: pd.DataFrame) -> pd.DataFrame:
    frame["billed_cost"] = frame["billed_cost"].astype(object)
    frame.loc[4, "billed_cost"] = "ten dollars"
    return frame


def unreadable_date(frame: pd.DataFrame) -> pd.DataFrame:
    frame["charge_date"] = frame["charge_date"].astype(object)
    frame.loc[6, "charge_date"] = "someday"
    return frame


def null_key(frame: pd.DataFrame) -> pd.DataFrame:
    frame["service"] = frame["service"].astype(object)
    frame.loc[5, "service"] = None
    return frame


def two_currencies(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[7, "currency"] = "EUR"
    return frame


def outside_window(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[0, "charge_date"] = START - timedelta(days=1)
    return frame


def duplicate_key(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame.iloc[[10]]], ignore_index=True)


def negative_usage(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[12, "billed_cost"] = -2.0
    return frame


def spike_day(frame: pd.DataFrame) -> pd.DataFrame:
    day = START + timedelta(days=30)
    frame.loc[frame["charge_date"] == day, "effective_cost"] *= 50
    return frame


def old_estimate(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[frame["charge_date"] == START + timedelta(days=10), "estimated"] = True
    return frame


def unknown_category(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[3, "charge_category"] = "Discount"
    return frame


BAD_BATCHES: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame], str, str]] = {
    "missing column": (drop_column, "expect_table_columns_to_match_set", "currency"),
    "wrong type": (text_cost, "expect_column_values_to_be_in_type_list", "billed_cost"),
    "text in a cost": (garbage_cost, "expect_column_values_to_be_in_type_list", "billed_cost"),
    "unreadable date": (unreadable_date, "expect_column_values_to_not_be_null", "charge_date"),
    "null key": (null_key, "expect_column_values_to_not_be_null", "service"),
    "two currencies": (
        two_currencies,
        "expect_column_unique_value_count_to_be_between",
        "currency",
    ),
    "date outside window": (outside_window, "expect_column_values_to_be_between", "charge_date"),
    "duplicate key": (duplicate_key, "expect_compound_columns_to_be_unique", "charge_date+"),
    "negative usage cost": (
        negative_usage,
        "expect_column_values_to_be_between",
        "check_cost_sign",
    ),
    "day out of band": (spike_day, "expect_column_values_to_be_between", "check_day_total_ratio"),
    "old estimated row": (
        old_estimate,
        "expect_column_values_to_be_between",
        "check_estimated_age_days",
    ),
    "unknown category": (unknown_category, "expect_column_values_to_be_in_set", "charge_category"),
}


@pytest.mark.parametrize("case", sorted(BAD_BATCHES))
def test_each_bad_batch_is_rejected_naming_the_expectation(case: str) -> None:
    spoil, expectation, column = BAD_BATCHES[case]
    with pytest.raises(QualityError) as caught:
        check_batch(spoil(good_batch()), POLICY)
    failed = {(f["expectation"], f["column"]) for f in caught.value.report.failures}
    assert any(e == expectation and c.startswith(column) for e, c in failed), failed
    message = str(caught.value)
    assert expectation in message and "\n" not in message


def test_offending_rows_are_shown() -> None:
    with pytest.raises(QualityError) as caught:
        check_batch(negative_usage(good_batch()), POLICY)
    (failure,) = caught.value.report.failures
    assert failure["unexpected_count"] == 1
    assert "check_cost_sign=-2.0" in failure["examples"][0]
    assert "charge_date=2026-01" in failure["examples"][0]


def test_credits_adjustments_and_refunds_may_be_negative() -> None:
    frame = good_batch()
    frame.loc[1, ["charge_category", "billed_cost", "effective_cost"]] = ["Credit", -5.0, -5.0]
    frame.loc[2, ["charge_category", "billed_cost", "effective_cost"]] = ["Adjustment", -1.0, -1.0]
    frame.loc[3, ["usage_type", "billed_cost", "effective_cost"]] = ["Refund", -0.5, -0.5]
    assert validate_batch(frame, POLICY).success


def test_the_band_uses_stored_history_before_the_batch() -> None:
    # A one-day batch has no history of its own; the stored days before it judge it.
    day = TODAY - timedelta(days=1)
    history = pd.Series({START + timedelta(days=i): 40.0 for i in range(DAYS - 1)})
    normal = make_cost_frame(day, 1)
    policy = QualityPolicy(day, day, TODAY)
    assert validate_batch(normal, policy, history).success
    spiked = make_cost_frame(day, 1, daily_cost=500.0)
    report = validate_batch(spiked, policy, history)
    assert not report.success
    assert report.failures[0]["column"] == "check_day_total_ratio"
