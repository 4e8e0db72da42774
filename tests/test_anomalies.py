"""Cost anomaly detection: detector, monitors, grouping, root cause, store, score CLI, flow."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from finops.cli import app
from sandbox.ledger import Ledger, generate_ledger
from tasks.anomalies.detector import DetectorConfig, config_for_step, detect
from tasks.anomalies.grouping import Thresholds, anomaly_id, group_anomalies
from tasks.anomalies.monitors import (
    PAIR_SEPARATOR,
    Monitor,
    MonitorSettings,
    build_series,
    run_monitors,
)
from tasks.anomalies.pipeline import check_day, detect_cost_anomalies
from tasks.anomalies.scoring import score_csv
from tasks.anomalies.store import AnomalyStatus, AnomalyStore
from tasks.costs.store import CostStore
from tasks.settings import load_settings

ACCOUNTS = ["123456789012", "111111111111", "222222222222"]
REGIONS = ["us-east-1", "eu-west-1"]
LEDGER_END = date(2026, 11, 26)


def weekly_series(days: int, seed: int = 0, level: float = 100.0) -> np.ndarray:
    """Weekdays at ``level``, weekends at 40 %, 3 % noise."""
    rng = np.random.default_rng(seed)
    profile = np.array([1, 1, 1, 1, 1, 0.4, 0.4])
    return level * profile[np.arange(days) % 7] * (1 + rng.normal(0, 0.03, days))


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return generate_ledger(7, ACCOUNTS, REGIONS, LEDGER_END, 400)


def _monitor_id(truth: dict[str, str]) -> str:
    value = {
        "service": truth["service"],
        "account": truth["account_id"],
        "account_service": truth["account_id"] + PAIR_SEPARATOR + truth["service"],
    }[truth["monitor"]]
    return f"{truth['monitor']}:{value}"


# -- detector ------------------------------------------------------------------------------------
def test_detector_flags_a_spike_on_a_weekly_series_and_nothing_else() -> None:
    values = weekly_series(140)
    values[120] += 60.0
    result = detect(values)
    assert result.is_anomaly[0, 120]
    assert result.direction[0, 120] == 1
    assert result.is_anomaly[0].sum() == 1
    assert 0.5 <= result.score[0, 120] <= 1.0
    assert np.all((result.score >= 0) & (result.score <= 1))
    assert result.impact[0, 120] == pytest.approx(60.0, abs=8.0)
    assert result.lower[0, 120] < result.expected[0, 120] < result.upper[0, 120]


def test_weekend_dips_are_expected_not_anomalous() -> None:
    result = detect(weekly_series(200, seed=3))
    weekend = (np.arange(200) % 7) >= 5
    assert not result.is_anomaly[0].any()
    assert np.nanmean(result.expected[0, 28:][weekend[28:]]) < 50


def test_detector_is_causal_future_points_never_change_a_judgement() -> None:
    values = weekly_series(120, seed=5)
    changed = values.copy()
    changed[80:] = changed[80:] * 3 + 500  # wreck the future
    a, b = detect(values), detect(changed)
    for name in ("expected", "lower", "upper", "score", "is_anomaly"):
        np.testing.assert_array_equal(getattr(a, name)[0, :80], getattr(b, name)[0, :80])


def test_no_alert_before_min_history() -> None:
    values = weekly_series(60)
    values[10] += 500.0
    result = detect(values, DetectorConfig(min_history=14))
    assert not result.is_anomaly[0, :14].any()
    assert not result.judged[0, :14].any()


def test_growth_is_not_an_anomaly_but_a_jump_on_top_of_it_is() -> None:
    days = 400
    flat = np.vstack([weekly_series(days, seed=s) for s in range(20)])
    grown = flat * np.exp(0.5 * np.arange(days) / 365)  # +65 % a year
    # Growth adds no anomalies beyond the rare noise outliers the flat series already has.
    assert detect(grown).is_anomaly.sum() <= detect(flat).is_anomaly.sum() + 1
    grown[0, 350] *= 1.6
    assert detect(grown).is_anomaly[0, 350]


def test_missing_days_are_not_judged_and_do_not_break_the_baseline() -> None:
    values = weekly_series(120, seed=2)
    values[[40, 41, 42, 90]] = np.nan
    values[100] += 70
    result = detect(values)
    assert not result.judged[0, [40, 41, 42, 90]].any()
    assert result.is_anomaly[0, 100]
    assert result.is_anomaly[0].sum() == 1


def test_credits_and_refunds_negative_values_are_handled() -> None:
    values = weekly_series(120, seed=4) - 150.0  # a series that is net negative (credits)
    values[100] -= 80.0  # a refund
    result = detect(values)
    assert result.is_anomaly[0, 100] and result.direction[0, 100] == -1
    assert result.is_anomaly[0].sum() == 1


def test_new_spend_from_nothing_is_flagged_on_its_first_day() -> None:
    values = np.zeros(100)
    values[70:] = weekly_series(30, seed=9)
    result = detect(values)
    assert result.is_anomaly[0, 70]
    assert np.isnan(result.impact_pct[0, 70])  # nothing was expected
    assert not result.is_anomaly[0, :70].any()


def test_many_series_at_once_match_one_at_a_time() -> None:
    batch = np.vstack([weekly_series(90, seed=s) for s in range(5)])
    together = detect(batch)
    for i in range(5):
        alone = detect(batch[i])
        np.testing.assert_allclose(together.expected[i], alone.expected[0], equal_nan=True)
        np.testing.assert_array_equal(together.is_anomaly[i], alone.is_anomaly[0])


def test_season_follows_the_sampling_step() -> None:
    assert config_for_step(timedelta(days=1)).period == 7
    assert config_for_step(timedelta(hours=1)).period == 168  # a week of hours
    five_minutes = config_for_step(timedelta(minutes=5))
    assert (five_minutes.period, five_minutes.refresh, five_minutes.min_history) == (2016, 12, 576)
    assert config_for_step(timedelta(days=7)).period == 1
    assert config_for_step(timedelta(days=1)).min_history == 14


# -- monitors ------------------------------------------------------------------------------------
def _row(day: date, account: str, service: str, cost: float, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "charge_date": day,
        "sub_account_id": account,
        "service": service,
        "region": "us-east-1",
        "usage_type": "Use",
        "charge_category": "Usage",
        "effective_cost": cost,
        "billed_cost": cost,
        "tags": "{}",
        "source": "export",
    }
    row.update(extra)
    return row


def test_monitors_cover_org_accounts_services_pairs_and_tag_values() -> None:
    d1, d2, d3 = date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 4)
    frame = pd.DataFrame(
        [
            _row(d1, "1", "EC2", 10.0, tags='{"team": "web"}'),
            _row(d1, "2", "S3", 5.0, tags='{"team": "data"}'),
            _row(d2, "1", "EC2", 11.0, tags='{"team": "web"}'),
            _row(d2, "1", "EC2", 99.0, charge_category="Tax"),
            _row(d2, "1", "EC2", 50.0, charge_category="Purchase", effective_cost=0.0),
            _row(d3, "2", "S3", 7.0),
        ]
    )
    series = build_series(frame, MonitorSettings(tag_key="team"))
    ids = [m.monitor_id for m in series.monitors]
    assert ids == [
        "organization:all",
        "account:1",
        "account:2",
        "service:EC2",
        "service:S3",
        "account_service:1 / EC2",
        "account_service:2 / S3",
        "tag:(untagged)",
        "tag:data",
        "tag:web",
    ]
    assert series.days == [d1, d2, date(2026, 1, 3), d3]
    org = series.values[series.index_of("organization:all")]
    # Tax and purchases are not judged; 3 January is absent from the frame: missing, not 0.
    assert org[:2].tolist() == [15.0, 11.0]
    assert np.isnan(org[2])
    assert series.values[series.index_of("account:2"), 1] == 0.0  # present day, nothing spent
    assert series.values[series.index_of("tag:web")].tolist()[:2] == [10.0, 11.0]


def test_the_export_wins_when_a_day_is_stored_from_both_sources() -> None:
    day = date(2026, 1, 1)
    frame = pd.DataFrame(
        [_row(day, "1", "EC2", 10.0, source="ce"), _row(day, "1", "EC2", 12.0, source="export")]
    )
    assert build_series(frame).values[0].tolist() == [12.0]


def test_monitors_on_billed_cost_when_asked() -> None:
    day = date(2026, 1, 1)
    frame = pd.DataFrame([_row(day, "1", "EC2", 10.0, billed_cost=0.0)])
    billed = build_series(frame, MonitorSettings(cost_metric="billed_cost"))
    assert billed.values[0].tolist() == [0.0]


# -- grouping ------------------------------------------------------------------------------------
def _single_monitor(values: np.ndarray) -> tuple[object, object]:
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(len(values))]
    frame = pd.DataFrame([_row(d, "1", "EC2", float(v)) for d, v in zip(days, values, strict=True)])
    settings = MonitorSettings(monitor_types=("service",))
    return run_monitors(frame, settings)


def test_consecutive_anomalous_days_are_one_anomaly_with_its_total_impact() -> None:
    values = weekly_series(120, seed=1) * 10
    values[100:103] += 600.0
    series, detection = _single_monitor(values)
    anomalies = group_anomalies(series, detection, Thresholds(100, 20))  # type: ignore[arg-type]
    assert len(anomalies) == 1
    (anomaly,) = anomalies
    assert anomaly.monitor_id == "service:EC2"
    assert (anomaly.start, anomaly.end) == (date(2026, 4, 11), date(2026, 4, 13))
    assert anomaly.days == 3
    assert anomaly.total_impact == pytest.approx(1800.0, rel=0.05)
    assert anomaly.alert and anomaly.meets_threshold and not anomaly.ongoing
    assert anomaly.anomaly_id == anomaly_id("service:EC2", date(2026, 4, 11))


def test_two_spikes_two_in_band_days_apart_are_two_anomalies_and_do_not_overlap() -> None:
    values = weekly_series(120, seed=1) * 10
    values[100:102] += 600.0
    values[104:106] += 600.0
    series, detection = _single_monitor(values)
    found = sorted(
        (a.start, a.end)
        for a in group_anomalies(series, detection)  # type: ignore[arg-type]
        if a.direction == "increase"
    )
    assert found == [
        (date(2026, 4, 11), date(2026, 4, 12)),
        (date(2026, 4, 15), date(2026, 4, 16)),
    ]
    one = group_anomalies(series, detection, merge_gap=2)  # type: ignore[arg-type]
    assert [(a.start, a.end) for a in one if a.direction == "increase"] == [
        (date(2026, 4, 11), date(2026, 4, 16))
    ]


def test_thresholds_need_both_amount_and_percentage_with_per_monitor_overrides() -> None:
    values = weekly_series(120, seed=1) * 10
    values[100] += 600.0
    series, detection = _single_monitor(values)
    high_amount = group_anomalies(series, detection, Thresholds(1000, 20))  # type: ignore[arg-type]
    high_pct = group_anomalies(series, detection, Thresholds(100, 90))  # type: ignore[arg-type]
    assert not high_amount[0].alert and not high_pct[0].alert
    override = Thresholds(1000, 20, overrides={"service": {"min_impact_usd": 50}})
    assert group_anomalies(series, detection, override)[0].alert  # type: ignore[arg-type]
    either = Thresholds(1000, 20, match="any")
    assert group_anomalies(series, detection, either)[0].alert  # type: ignore[arg-type]
    pct_off = Thresholds(1000, 0, match="any")
    assert not group_anomalies(series, detection, pct_off)[0].alert  # type: ignore[arg-type]


def test_an_anomaly_on_the_last_day_is_ongoing_and_drops_do_not_alert_by_default() -> None:
    values = weekly_series(100, seed=1) * 10
    values[-2:] += 700.0
    values[60] -= 800.0
    series, detection = _single_monitor(values)
    anomalies = {a.direction: a for a in group_anomalies(series, detection)}  # type: ignore[arg-type]
    assert anomalies["increase"].ongoing
    assert anomalies["decrease"].meets_threshold and not anomalies["decrease"].alert
    drops = group_anomalies(series, detection, Thresholds(alert_drops=True))  # type: ignore[arg-type]
    assert all(a.alert for a in drops)


def test_a_slow_ramp_is_dated_from_where_it_began_and_costed_against_the_old_baseline() -> None:
    values = weekly_series(150, seed=6) * 10
    # +$60 a day from day 100 (two noise sigmas a day on a $1,000 weekday), up to +$900.
    ramp = np.clip((np.arange(150) - 99) / 15.0, 0.0, 1.0) * 900.0
    series, detection = _single_monitor(values + ramp)
    increases = [a for a in group_anomalies(series, detection) if a.direction == "increase"]  # type: ignore[arg-type]
    first = min(increases, key=lambda a: a.start)
    assert abs((first.start - date(2026, 4, 11)).days) <= 1  # day 100
    held = first.total_impact
    in_window = ramp[
        (first.start - date(2026, 1, 1)).days : (first.end - date(2026, 1, 1)).days + 1
    ]
    assert held == pytest.approx(in_window.sum(), rel=0.15)


# -- acceptance on the sandbox ledger --------------------------------------------------------
@pytest.mark.parametrize("seed", [7, 21, 33])
def test_every_injected_anomaly_is_reported_on_its_monitor_and_nothing_else_alerts(
    seed: int,
) -> None:
    ledger = generate_ledger(seed, ACCOUNTS, REGIONS, LEDGER_END, 400)
    settings = load_settings(anomalies={"lookback_days": 1000})  # judge the whole ledger
    run = detect_cost_anomalies(ledger.frame, ledger.last_day, settings.anomalies, since=date.min)
    threshold = settings.anomalies.alert_min_impact_usd
    windows = []
    for truth in ledger.anomalies:
        start = date.fromisoformat(truth["start"])
        end = date.fromisoformat(truth["end"])
        windows.append((start, start + timedelta(days=30) if truth["persistent"] else end))
        if abs(truth["impact_usd"]) < threshold:
            continue
        matches = [
            a
            for a in run.anomalies
            if a.monitor_id == _monitor_id(truth) and abs((a.start - start).days) <= 1
        ]
        assert matches, f"{truth['kind']} on {_monitor_id(truth)} from {start} not reported"
        if truth["kind"] == "drop":
            assert matches[0].direction == "decrease" and not matches[0].alert
        else:
            assert matches[0].alert, f"{truth['kind']} reported but not alerted"
        if truth["kind"] == "new_service":
            assert matches[0].kind == "new_spend"
    for anomaly in run.alerts:
        assert any(s - timedelta(days=1) <= anomaly.start <= e for s, e in windows), (
            f"alert on {anomaly.monitor_id} {anomaly.start} matches no injected anomaly"
        )
        assert anomaly.start.day != 1 or anomaly.start.isoformat() in {
            t["start"] for t in ledger.anomalies
        }


def test_on_billed_cost_month_start_fees_would_alert_which_is_why_effective_is_default(
    ledger: Ledger,
) -> None:
    billed = load_settings(
        anomalies={
            "cost_metric": "billed_cost",
            "charge_categories": ["Usage", "Purchase", "Tax"],
            "lookback_days": 1000,
        }
    )
    run = detect_cost_anomalies(
        ledger.frame, ledger.last_day, billed.anomalies, since=date.min, with_root_causes=False
    )
    assert any(a.start.day == 1 and a.alert for a in run.anomalies)
    default = load_settings(anomalies={"lookback_days": 1000})
    effective = detect_cost_anomalies(
        ledger.frame, ledger.last_day, default.anomalies, since=date.min, with_root_causes=False
    )
    assert not any(a.start.day == 1 and a.alert for a in effective.anomalies)


def test_support_and_tax_seen_as_usage_billed_on_the_1st_never_alert(ledger: Ledger) -> None:
    # Cost Explorer without RECORD_TYPE detail calls support and tax 'Usage'; real AWS bills
    # support once a month even in amortized cost.  Neither may raise an alert on the 1st.
    frame = ledger.frame.copy()
    monthly = frame["service"].str.startswith("AWS Support") | (frame["service"] == "Tax")
    frame.loc[monthly, "charge_category"] = "Usage"
    frame.loc[monthly, "effective_cost"] = frame.loc[monthly, "billed_cost"]
    settings = load_settings(anomalies={"lookback_days": 1000})
    run = detect_cost_anomalies(
        frame, ledger.last_day, settings.anomalies, since=date.min, with_root_causes=False
    )
    assert not [a for a in run.alerts if a.start.day == 1]
    assert not [m for m in run.series.monitors if "Support" in m.value or m.value == "Tax"]


def test_tag_monitors_see_the_spike_on_its_team(ledger: Ledger) -> None:
    spike = next(t for t in ledger.anomalies if t["kind"] == "spike")
    settings = load_settings(anomalies={"tag_key": "team"})
    run = detect_cost_anomalies(ledger.frame, date.fromisoformat(spike["end"]), settings.anomalies)
    tagged = [a for a in run.alerts if a.monitor.type == "tag"]
    assert tagged and tagged[0].start.isoformat() == spike["start"]
    rows = run.series.frame
    m5 = rows[rows["usage_type"] == "USE1-BoxUsage:m5.large"]
    assert tagged[0].monitor.value in set(m5["tag"])


def test_root_cause_of_the_spike_is_member_a_m5_usage(ledger: Ledger) -> None:
    spike = next(t for t in ledger.anomalies if t["kind"] == "spike")
    end = date.fromisoformat(spike["end"])
    run = detect_cost_anomalies(ledger.frame, end, load_settings().anomalies)
    org = next(a for a in run.anomalies if a.monitor_id == "organization:all")
    top = {c["dimension"]: c for c in org.root_causes if c["share_pct"] > 50}
    assert top["account"]["value"] == spike["account_id"]
    assert top["service"]["value"] == spike["service"]
    assert top["usage_type"]["value"] == "USE1-BoxUsage:m5.large"
    assert top["usage_type"]["change_usd"] == pytest.approx(spike["impact_usd"], rel=0.1)


# -- daily replay: causal, alerted once, closed when back in the band -------------------------
def test_daily_runs_alert_the_spike_once_on_its_first_day_and_then_resolve_it(
    ledger: Ledger, tmp_path: Path
) -> None:
    settings = load_settings(data_dir=tmp_path)
    spike = next(t for t in ledger.anomalies if t["kind"] == "spike")
    start = date.fromisoformat(spike["start"])
    account_monitor = f"account:{spike['account_id']}"
    alerted_on: dict[str, list[date]] = {}
    now = datetime(2026, 11, 1, tzinfo=UTC)
    for offset in range(-3, 6):
        day = start + timedelta(days=offset)
        result = check_day(settings, day, frame=ledger.frame, now=now + timedelta(days=offset))
        assert result.recorded is not None
        by_id = {a.anomaly_id: a for a in result.run.anomalies}
        for anomaly_key in result.recorded.to_alert:
            alerted_on.setdefault(by_id[anomaly_key].monitor_id, []).append(day)
    assert alerted_on[account_monitor] == [start]  # on its first day, exactly once
    stored = [
        s for s in AnomalyStore(settings.findings_url).list() if s.monitor_id == account_monitor
    ]
    assert len(stored) == 1
    assert stored[0].status is AnomalyStatus.RESOLVED
    assert stored[0].start_date == start
    assert float(stored[0].total_impact_usd) == pytest.approx(spike["impact_usd"], rel=0.1)


def test_store_lifecycle_false_positive_is_never_alerted_again(
    ledger: Ledger, tmp_path: Path
) -> None:
    store = AnomalyStore(f"sqlite:///{tmp_path / 'f.db'}")
    spike = next(t for t in ledger.anomalies if t["kind"] == "spike")
    run = detect_cost_anomalies(
        ledger.frame, date.fromisoformat(spike["start"]), load_settings().anomalies
    )
    first = store.record(run.anomalies)
    assert first.to_alert and set(first.to_alert) <= set(first.new)
    again = store.record(run.anomalies)
    assert again.to_alert == [] and set(again.updated) == set(first.new)
    target = first.to_alert[0]
    store.set_status(target[:8], "false_positive", actor="alice", reason="planned load test")
    later = [replace(a, ongoing=False) for a in run.anomalies]
    outcome = store.record(later)
    assert target not in outcome.resolved
    assert store.get(target).status is AnomalyStatus.FALSE_POSITIVE
    assert [h["to"] for h in store.history(target)] == ["open", "false_positive"]
    with pytest.raises(ValueError, match="set by the detector"):
        store.set_status(target, "resolved", actor="alice")
    with pytest.raises(KeyError, match="no anomaly"):
        store.get("does-not-exist")


# -- score CLI -----------------------------------------------------------------------------------
SPIKE_AT = 288 * 19 + 100


def _five_minute_csv(path: Path, points: int = 288 * 21, spike_at: int = SPIKE_AT) -> None:
    rng = np.random.default_rng(1)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    phase = np.arange(points) % 288
    values = 50 + 20 * np.sin(2 * np.pi * phase / 288) + rng.normal(0, 1.0, points)
    values[spike_at] += 40
    stamps = [
        (start + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S") for i in range(points)
    ]
    pd.DataFrame({"timestamp": stamps, "value": np.round(values, 4)}).to_csv(path, index=False)


def test_score_cli_round_trip_is_causal_and_flags_the_spike(tmp_path: Path) -> None:
    series = tmp_path / "series.csv"
    _five_minute_csv(series)
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(
        app, ["anomalies", "score", "--input", str(series), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "season 2016 points" in result.output
    given = pd.read_csv(series)
    scored = pd.read_csv(out)
    assert list(scored.columns) == [
        "timestamp",
        "value",
        "expected",
        "lower",
        "upper",
        "score",
        "is_anomaly",
    ]
    assert scored["timestamp"].tolist() == given["timestamp"].tolist()
    np.testing.assert_allclose(scored["value"], given["value"])
    assert scored.loc[SPIKE_AT, "is_anomaly"] == 1
    assert scored["is_anomaly"].sum() <= 3
    assert scored["score"].between(0, 1).all()
    # Causal: scoring only the first part gives the same figures for that part.
    head = tmp_path / "head.csv"
    given.iloc[:SPIKE_AT].to_csv(head, index=False)
    score_csv(head, tmp_path / "head_scores.csv")
    head_scored = pd.read_csv(tmp_path / "head_scores.csv")
    pd.testing.assert_frame_equal(head_scored, scored.iloc[:SPIKE_AT].reset_index(drop=True))


def test_score_cli_refuses_an_output_in_a_missing_folder(tmp_path: Path) -> None:
    series = tmp_path / "series.csv"
    series.write_text("timestamp,value\n2026-01-01,1\n2026-01-02,2\n2026-01-03,3\n")
    missing = tmp_path / "nope" / "scores.csv"
    result = CliRunner().invoke(
        app, ["anomalies", "score", "--input", str(series), "--output", str(missing)]
    )
    assert result.exit_code == 2 and "does not exist" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a,b\n1,2\n3,4\n5,6\n", "needs the columns timestamp,value"),
        ("timestamp,value\n2026-01-01,1\n2026-01-02,x\n2026-01-03,2\n", "row 3: value 'x'"),
        ("timestamp,value\nyesterday,1\n2026-01-02,1\n2026-01-03,2\n", "row 2: timestamp"),
        ("timestamp,value\n2026-01-01,1\n", "at least 3"),
        (
            "timestamp,value\n2026-01-01 00:00,1\n2026-01-01 01:00,1\n2026-01-01 01:20,1\n"
            "2026-01-01 02:00,1\n",
            "off the regular",
        ),
        ("", "empty"),
    ],
)
def test_score_cli_refuses_bad_csv_in_one_line(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    result = CliRunner().invoke(
        app, ["anomalies", "score", "--input", str(bad), "--output", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


# -- CLI table and flow over a real cost store ------------------------------------------------
@pytest.fixture
def cost_store(ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path / "finops"))
    store_dir = tmp_path / "finops" / "costs"
    spike = next(t for t in ledger.anomalies if t["kind"] == "spike")
    end = date.fromisoformat(spike["end"])
    start = end - timedelta(days=130)
    days = pd.to_datetime(ledger.frame["charge_date"]).dt.date
    window = ledger.frame[(days >= start) & (days <= end)]
    CostStore(str(store_dir)).replace_window(window, start, end, "export")
    return store_dir


def test_finops_anomalies_prints_the_table_for_a_day(ledger: Ledger, cost_store: Path) -> None:
    spike = next(t for t in ledger.anomalies if t["kind"] == "spike")
    result = CliRunner().invoke(app, ["anomalies", "--date", spike["end"]])
    assert result.exit_code == 0, result.output
    assert f"account:{spike['account_id']}" in result.output
    assert f"{spike['start']} to {spike['end']}" in result.output
    assert "daily total" in result.output and "actual >= 100% of budget" in result.output
    empty = CliRunner().invoke(app, ["anomalies", "--date", "2020-01-31"])
    assert empty.exit_code == 0 and "No cost data through 2020-01-31" in empty.output
    bad = CliRunner().invoke(app, ["anomalies", "--date", "25/11/2026"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


def test_set_status_from_the_cli(ledger: Ledger, cost_store: Path) -> None:
    spike = next(t for t in ledger.anomalies if t["kind"] == "spike")
    settings = load_settings()
    check_day(settings, date.fromisoformat(spike["end"]))
    stored = AnomalyStore(settings.findings_url).list()
    target = next(s for s in stored if s.monitor_id == f"account:{spike['account_id']}")
    runner = CliRunner()
    done = runner.invoke(
        app, ["anomalies", "set-status", target.anomaly_id[:8], "acknowledged", "--actor", "bob"]
    )
    assert done.exit_code == 0, done.output
    assert "acknowledged" in done.output
    assert AnomalyStore(settings.findings_url).history(target.anomaly_id)[-1]["actor"] == "bob"
    table = runner.invoke(app, ["anomalies", "--date", spike["end"]])
    assert "acknowledged" in table.output
    wrong = runner.invoke(app, ["anomalies", "set-status", target.anomaly_id, "resolved"])
    assert wrong.exit_code == 2 and "set by the detector" in wrong.output


def test_flow_returns_anomalies_and_budgets_and_publishes_artifacts(
    ledger: Ledger, cost_store: Path, tmp_path: Path, prefect_harness: None
) -> None:
    from prefect.client.orchestration import get_client

    from flows.check_cost_anomalies import check_cost_anomalies

    spike = next(t for t in ledger.anomalies if t["kind"] == "spike")
    day = date.fromisoformat(spike["end"])
    database = f"sqlite:///{tmp_path / 'findings.db'}"
    result = check_cost_anomalies(date=day, cost_store_url=str(cost_store), findings_url=database)
    monitors = {a.monitor for a in result.anomalies}
    assert f"account: {spike['account_id']}" in monitors
    assert result.new_alerts
    daily = next(b for b in result.budgets if b.period == "daily")
    assert "actual >= 100% of budget" in daily.alerts
    assert result.charts and all(Path(p).read_bytes()[:4] == b"\x89PNG" for p in result.charts)
    again = check_cost_anomalies(date=day, cost_store_url=str(cost_store), findings_url=database)
    assert again.new_alerts == []  # alerted once
    with get_client(sync_client=True) as client:
        table = client.read_latest_artifacts()
    keys = {a.key for a in table}
    assert "cost-anomalies" in keys
    assert any(k and k.startswith("cost-anomaly-") for k in keys)
    stored_table = next(a for a in table if a.key == "cost-anomalies")
    rows = (
        stored_table.data if isinstance(stored_table.data, list) else json.loads(stored_table.data)
    )
    assert any(r["monitor"] == f"account:{spike['account_id']}" for r in rows)


def test_monitor_value_for_pairs_round_trips() -> None:
    monitor = Monitor("account_service", "111111111111" + PAIR_SEPARATOR + "Amazon EC2")
    assert monitor.filters == {"sub_account_id": "111111111111", "service": "Amazon EC2"}
