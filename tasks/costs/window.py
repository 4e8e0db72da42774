"""Which days a cost ingestion run fetches: the days not stored plus the restatement window.

Pure logic (no I/O).  AWS keeps revising recent cost data (estimated days become final, credits
and refunds land late, and a whole month is finalised only in the first days of the next one), so a
run always re-fetches a trailing window even when those days are already stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True, order=True)
class DayRange:
    """Days ``start`` (inclusive) to ``end`` (exclusive), as Cost Explorer's TimePeriod takes them.

    Example:
        >>> DayRange(date(2026, 1, 1), date(2026, 1, 4)).days
        3
    """

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(
                f"empty date range {self.start}..{self.end}: the end (exclusive) must be after "
                "the start"
            )

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def dates(self) -> list[date]:
        """Every day of the range, in order."""
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{(self.end - timedelta(days=1)).isoformat()}"


def merge_days(days: Iterable[date]) -> list[DayRange]:
    """Contiguous ranges covering exactly the given days.

    Example:
        >>> [str(r) for r in merge_days([date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 5)])]
        ['2026-01-01..2026-01-02', '2026-01-05..2026-01-05']
    """
    ranges: list[DayRange] = []
    for day in sorted(set(days)):
        if ranges and ranges[-1].end == day:
            ranges[-1] = DayRange(ranges[-1].start, day + timedelta(days=1))
        else:
            ranges.append(DayRange(day, day + timedelta(days=1)))
    return ranges


def restatement_start(today: date, restatement_days: int, previous_month_until_day: int) -> date:
    """First day that is re-fetched even when stored.

    The last ``restatement_days`` days before ``today``, reaching back to the first day of the
    previous month while ``today.day <= previous_month_until_day`` (AWS finalises a month late).

    Example:
        >>> restatement_start(date(2026, 3, 2), 3, 5)
        datetime.date(2026, 2, 1)
        >>> restatement_start(date(2026, 3, 20), 3, 5)
        datetime.date(2026, 3, 17)
    """
    start = today - timedelta(days=restatement_days)
    if today.day <= previous_month_until_day:
        first_of_month = today.replace(day=1)
        previous_month_start = (first_of_month - timedelta(days=1)).replace(day=1)
        start = min(start, previous_month_start)
    return start


def incremental_windows(
    stored_days: Iterable[date],
    today: date,
    history_days: int,
    restatement_days: int = 3,
    previous_month_until_day: int = 5,
) -> list[DayRange]:
    """The day ranges one incremental run fetches, ending before ``today`` (today is partial).

    Args:
        stored_days: days already present in the cost store.
        today: the current UTC day; fetched days end the day before.
        history_days: how far back the store should reach (the first run fetches all of it).
        restatement_days: trailing days always re-fetched.
        previous_month_until_day: until this day of a month the whole previous month is re-fetched.

    Returns:
        Disjoint, sorted ranges; empty when nothing is due.

    Example:
        >>> stored = [date(2026, 3, 1) + timedelta(days=i) for i in range(19)]
        >>> [str(r) for r in incremental_windows(stored, date(2026, 3, 25), 24, 3, 5)]
        ['2026-03-20..2026-03-24']
    """
    if history_days < 1:
        raise ValueError(f"history_days must be >= 1, got {history_days}")
    first_wanted = today - timedelta(days=history_days)
    wanted = {first_wanted + timedelta(days=i) for i in range(history_days)}
    missing = wanted - set(stored_days)
    restate_from = max(
        restatement_start(today, restatement_days, previous_month_until_day), first_wanted
    )
    restated = {d for d in wanted if d >= restate_from}
    return merge_days(missing | restated)


def parse_day(text: str, name: str = "date") -> date:
    """A YYYY-MM-DD day from user input, with a one-line error saying what to fix.

    Example:
        >>> parse_day("2026-02-03")
        datetime.date(2026, 2, 3)
    """
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a day; use YYYY-MM-DD, e.g. 2026-02-03") from None


def months_back_first(today: date, months: int) -> date:
    """The first day of the month ``months`` months before ``today``'s month.

    Example:
        >>> months_back_first(date(2026, 12, 2), 13)
        datetime.date(2025, 11, 1)
    """
    year, month = divmod(today.year * 12 + today.month - 1 - months, 12)
    return date(year, month + 1, 1)


def clip_windows(windows: list[DayRange], earliest: date) -> list[DayRange]:
    """The windows without the days before ``earliest`` (empty windows dropped).

    Cost Explorer answers at most 13 months back from the current month's start (further only
    from the 1st of a month with multi-year history enabled), so older days are not asked for.

    Example:
        >>> [str(w) for w in clip_windows([DayRange(date(2025, 10, 28), date(2025, 11, 3))],
        ...                                date(2025, 11, 1))]
        ['2025-11-01..2025-11-02']
    """
    clipped = []
    for window in windows:
        if window.end <= earliest:
            continue
        clipped.append(DayRange(max(window.start, earliest), window.end))
    return clipped
