"""Daily cost as a bill behaves: the sandbox ledger's traps are reported, the quiet days are not."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from sandbox.ledger import costs_ground_truth, generate_ledger
from tasks.anomalies.backtest import backtest, monitor_id_of
from tasks.anomalies.pipeline import detect_cost_anomalies
from tasks.settings import load_settings

ACCOUNTS = ["123456789012", "111111111111", "222222222222"]
REGIONS = ["us-east-1", "eu-west-1"]
END = date(2026, 11, 26)


@pytest.fixture(scope="module", params=[0, 5])
def trapped(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return generate_ledger(request.param, ACCOUNTS, REGIONS, END, 400, traps=True)


def test_every_trap_is_reported_on_its_own_monitor(trapped) -> None:  # type: ignore[no-untyped-def]
    truth = costs_ground_truth(trapped)["ledger_traps"]
    kinds = sorted(t["kind"] for t in truth["traps"])
    assert kinds == ["slow_climb", "stop", "two_day_dip", "week_drop"]
    score = backtest(trapped.frame, truth["traps"], load_settings().anomalies)
    assert score.injected == 4, "every trap is sized over the USD 100 alert threshold"
    assert score.recall == 1.0, score.missed
    # With the ledger's own anomalies too: nothing alerts outside what was injected.
    both = backtest(trapped.frame, trapped.anomalies + truth["traps"], load_settings().anomalies)
    assert both.false_alerts == 0, both.unexpected


def test_the_stop_to_near_zero_is_open_on_the_last_day(trapped) -> None:  # type: ignore[no-untyped-def]
    stop = next(t for t in trapped.traps["traps"] if t["kind"] == "stop")
    settings = load_settings().anomalies.model_copy(update={"lookback_days": 1000})
    run = detect_cost_anomalies(trapped.frame, trapped.last_day, settings, with_root_causes=False)
    found = [a for a in run.anomalies if a.monitor_id == monitor_id_of(stop)]
    assert found and found[0].direction == "decrease" and found[0].ongoing
    assert found[0].end == trapped.last_day


def test_nothing_alerts_on_the_must_not_alert_days(trapped) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings().anomalies.model_copy(update={"lookback_days": 1000})
    run = detect_cost_anomalies(
        trapped.frame, trapped.last_day, settings, since=date.min, with_root_causes=False
    )
    quiet = {date.fromisoformat(d["date"]) for d in trapped.traps["must_not_alert"]}
    assert len(quiet) >= 13  # the small move and every 1st of the month
    alerted_on = {a.start for a in run.alerts}
    assert not (alerted_on & quiet), sorted(alerted_on & quiet)
    # The small move itself is in the data (USD 40 on one day) and reported nowhere.
    small = date.fromisoformat(trapped.traps["must_not_alert"][0]["date"])
    assert not [
        a for a in run.anomalies if a.start <= small <= a.end and "CloudWatch" in a.monitor_id
    ]


def test_the_traps_leave_the_rest_of_the_ledger_as_it_was() -> None:
    plain = generate_ledger(0, ACCOUNTS, REGIONS, END, 120)
    trapped = generate_ledger(0, ACCOUNTS, REGIONS, END, 120, traps=True)
    assert plain.anomalies == trapped.anomalies and not plain.traps
    assert "ledger_traps" not in costs_ground_truth(plain)
    key = ["charge_date", "sub_account_id", "service", "region", "usage_type", "charge_category"]
    merged = plain.frame.merge(trapped.frame, on=key, suffixes=("", "_t"))
    touched = {(t["account_id"], t["service"]) for t in trapped.traps["traps"]}
    member_a = ACCOUNTS[1]  # the two-day dip touches the whole account
    untouched = merged[
        [
            (a, s) not in touched and a != member_a and s != "Amazon CloudWatch"
            for a, s in zip(merged["sub_account_id"], merged["service"], strict=True)
        ]
    ]
    untouched = untouched[untouched["charge_category"] == "Usage"]
    assert len(untouched) > 1000
    np.testing.assert_allclose(untouched["effective_cost"], untouched["effective_cost_t"])
    assert pd.api.types.is_float_dtype(merged["effective_cost"])
    assert min(pd.to_datetime(trapped.frame["charge_date"]).dt.date) == END - timedelta(days=120)
