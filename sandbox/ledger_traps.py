"""Daily-cost traps for the anomaly check: changes a bill really shows, with their ground truth.

:func:`inject_traps` adds, to the usage of a generated ledger (see :mod:`sandbox.ledger`):

* a **two-day dip**: one member account's whole usage falls by 60 % on two weekdays;
* a **week-long partial drop**: the other member's EC2 compute runs at half for seven days;
* a **stop to near zero**: the management account's RDS falls to 2 % and stays there (a
  database decommissioned: news, although a fall);
* a **slow climb**: a member's RDS grows 3 % a day for 30 days, then stays at that level;
* a **small-dollar move**: USD 40 more on one day of a small series; below the alert threshold,
  so it must raise nothing (a *must-not-alert* day).

Each trap is recorded like the ledger's injected anomalies (``kind``, ``monitor``,
``account_id``, ``service``, ``start``, ``end``, ``persistent``, ``impact_usd``) under the
ground-truth key ``ledger_traps``; the must-not-alert days (the small move, and every 1st of
the month, when fees, support and tax are billed) are listed beside them.  The traps are drawn
from their own random stream, so the rest of the ledger is the same with or without them.

Example:
    >>> from datetime import date
    >>> from sandbox.ledger import generate_ledger
    >>> ledger = generate_ledger(3, ["123456789012", "111111111111", "222222222222"],
    ...                          ["us-east-1"], date(2026, 11, 26), 400, traps=True)
    >>> sorted(t["kind"] for t in ledger.traps["traps"])
    ['slow_climb', 'stop', 'two_day_dip', 'week_drop']
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np

EC2_COMPUTE = "Amazon Elastic Compute Cloud - Compute"
RDS = "Amazon Relational Database Service"
CLOUDWATCH = "Amazon CloudWatch"


def _weekday_start(dates: Sequence[date], index: int, length: int) -> int:
    """The first index at or after ``index`` from which ``length`` days hold no weekend, no 1st."""
    while index < len(dates) - length:
        span = dates[index : index + length]
        if all(d.weekday() < 5 and d.day != 1 for d in span):
            return index
        index += 1
    raise ValueError("no room for a trap in the ledger")


def inject_traps(
    usage: np.ndarray,
    keys: Sequence[tuple[str, str]],
    dates: Sequence[date],
    accounts: Sequence[str],
    seed: int,
) -> dict[str, Any]:
    """Add the traps to ``usage`` (rows x days, changed in place) and return their ground truth.

    Args:
        usage: daily usage cost per row (effective = billed for usage rows).
        keys: ``(account_id, service)`` of each usage row.
        dates: the ledger's days.
        accounts: the account ids, management first (three or more for every trap to have its
            own account and service).
        seed: the ledger's seed (the traps draw from their own stream of it).

    Returns:
        ``{"traps": [...], "must_not_alert": [...]}``, JSON-ready.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x7A4B5]))
    days = len(dates)
    member_a = accounts[1] if len(accounts) > 1 else accounts[0]
    member_b = accounts[2] if len(accounts) > 2 else member_a
    traps: list[dict[str, Any]] = []

    def rows(account_id: str, service: str | None = None) -> np.ndarray:
        return np.array(
            [i for i, (a, s) in enumerate(keys) if a == account_id and service in (None, s)]
        )

    def at(fraction: float) -> int:
        return int(days * fraction) + int(rng.integers(-2, 3))

    def record(
        kind: str, monitor: str, account_id: str, service: str | None, delta: np.ndarray
    ) -> None:
        touched = np.flatnonzero(np.abs(delta) > 1e-9)
        start, stop = int(touched[0]), int(touched[-1])
        traps.append(
            {
                "kind": kind,
                "monitor": monitor,
                "account_id": account_id,
                "service": service,
                "start": dates[start].isoformat(),
                "end": dates[stop].isoformat(),
                "persistent": stop == days - 1,
                "impact_usd": round(float(delta.sum()), 2),
                "metric": "effective_cost",
            }
        )

    def change(picked: np.ndarray, factor: np.ndarray) -> np.ndarray:
        before = usage[picked].copy()
        usage[picked] = before * factor[None, :]
        return (usage[picked] - before).sum(axis=0)

    # Two-day dip: member A's whole account at 40 % on two weekdays.
    start = _weekday_start(dates, at(0.12), 2)
    factor = np.ones(days)
    factor[start : start + 2] = 0.4
    record("two_day_dip", "account", member_a, None, change(rows(member_a), factor))

    # Week-long partial drop: member B's EC2 compute at half for seven days.
    start = _weekday_start(dates, at(0.20), 1)
    factor = np.ones(days)
    factor[start : start + 7] = 0.5
    delta = change(rows(member_b, EC2_COMPUTE), factor)
    record("week_drop", "account_service", member_b, EC2_COMPUTE, delta)

    # Stop to near zero: the management account's RDS at 2 % from here on.
    start = _weekday_start(dates, at(0.80), 1)
    factor = np.ones(days)
    factor[start:] = 0.02
    delta = change(rows(accounts[0], RDS), factor)
    record("stop", "account_service", accounts[0], RDS, delta)

    # Slow climb: member A's RDS grows 3 % a day for 30 days, then holds.
    start = _weekday_start(dates, at(0.33), 1)
    factor = np.ones(days)
    steps = np.arange(days) - start + 1
    factor[start:] = 1.03 ** np.minimum(steps[start:], 30)
    delta = change(rows(member_a, RDS), factor)
    record("slow_climb", "account_service", member_a, RDS, delta)

    # Small-dollar move: USD 40 on one day of member B's CloudWatch (below the USD 100 threshold).
    small = _weekday_start(dates, at(0.65), 1)
    picked = rows(member_b, CLOUDWATCH)
    usage[picked[0], small] += 40.0
    must_not_alert = [
        {"date": dates[small].isoformat(), "why": "USD 40 move on one day (below the threshold)"}
    ] + [
        {"date": d.isoformat(), "why": "1st of the month: fees, support and tax billed"}
        for d in dates
        if d.day == 1
    ]
    return {"traps": traps, "must_not_alert": must_not_alert}
