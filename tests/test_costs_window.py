"""Incremental windows: what a run fetches, and the user's --start/--end."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from tasks.costs.store import CostStore
from tasks.costs.sync import plan_ce_windows, requested_window
from tasks.costs.window import (
    DayRange,
    clip_windows,
    incremental_windows,
    merge_days,
    parse_day,
)
from tasks.settings import load_settings


def days_from(start: date, count: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(count)]


def test_first_run_fetches_the_whole_history() -> None:
    windows = incremental_windows([], date(2026, 3, 20), history_days=30)
    assert windows == [DayRange(date(2026, 2, 18), date(2026, 3, 20))]


def test_a_stored_history_refetches_only_the_restatement_window() -> None:
    stored = days_from(date(2026, 2, 18), 30)  # up to 2026-03-19, i.e. everything
    windows = incremental_windows(stored, date(2026, 3, 20), 30, restatement_days=3)
    assert windows == [DayRange(date(2026, 3, 17), date(2026, 3, 20))]


def test_gaps_are_fetched_besides_the_restatement_window() -> None:
    stored = [d for d in days_from(date(2026, 2, 18), 30) if d != date(2026, 3, 1)]
    windows = incremental_windows(stored, date(2026, 3, 20), 30, restatement_days=2)
    assert [str(w) for w in windows] == ["2026-03-01..2026-03-01", "2026-03-18..2026-03-19"]


def test_early_in_a_month_the_whole_previous_month_is_refetched() -> None:
    stored = days_from(date(2026, 1, 1), 62)  # through 2026-03-03
    windows = incremental_windows(stored, date(2026, 3, 3), 61, 3, previous_month_until_day=5)
    assert windows == [DayRange(date(2026, 2, 1), date(2026, 3, 3))]
    later = incremental_windows(stored, date(2026, 3, 6), 64, 3, previous_month_until_day=5)
    assert later[-1] == DayRange(date(2026, 3, 3), date(2026, 3, 6))
    assert all(w.start >= date(2026, 3, 1) for w in later)


def test_merge_days_and_range_errors() -> None:
    assert merge_days([]) == []
    assert merge_days([date(2026, 1, 2), date(2026, 1, 1)]) == [
        DayRange(date(2026, 1, 1), date(2026, 1, 3))
    ]
    with pytest.raises(ValueError, match="empty date range"):
        DayRange(date(2026, 1, 2), date(2026, 1, 2))


def test_user_window_is_inclusive_and_checked() -> None:
    assert requested_window(None, None) is None
    window = requested_window(date(2026, 1, 1), date(2026, 1, 31))
    assert window is not None and window.days == 31
    with pytest.raises(ValueError, match="both --start and --end"):
        requested_window(date(2026, 1, 1), None)
    with pytest.raises(ValueError, match="before --start"):
        requested_window(date(2026, 1, 2), date(2026, 1, 1))
    with pytest.raises(ValueError, match="use YYYY-MM-DD"):
        parse_day("01/02/2026", "--start")


def test_cost_explorer_windows_stay_within_its_13_months(tmp_path: Path) -> None:
    settings = load_settings(costs={"history_days": 400, "store_url": str(tmp_path)})
    store = CostStore(str(tmp_path))
    # 400 days before 2026-12-02 is 2025-10-28; Cost Explorer reaches back to 2025-11-01.
    (window,) = plan_ce_windows(store, settings, date(2026, 12, 2), None)
    assert window == DayRange(date(2025, 11, 1), date(2026, 12, 2))
    asked = DayRange(date(2025, 1, 1), date(2025, 2, 1))
    assert plan_ce_windows(store, settings, date(2026, 12, 2), asked) == []
    assert clip_windows([asked], date(2025, 1, 15)) == [DayRange(date(2025, 1, 15), asked.end)]
