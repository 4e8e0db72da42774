"""The Savings Plan purchase simulator (pure): replay a commitment over the look-back window.

A commitment of ``c`` USD an hour costs ``24 c`` a day and covers ``24 c / rate`` USD of on-demand
usage (``rate`` = the plan's price relative to on-demand).  Over the window's daily on-demand
spend ``u_d`` its net savings are ``sum_d(min(u_d, 24 c / rate)) - 24 c n``.  The simulator tries
every commitment in $0.001 steps (AWS's precision for hourly commitments) plus the exact break
points ``u_d rate / 24`` and keeps the one that saves most; it reports what the choice would save
if usage fell by 10, 25 or 50 %, and by how much usage can fall before the commitment costs more
than it saves (the break-even).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Usage falls the scenarios replay.
FALLS: tuple[float, ...] = (0.10, 0.25, 0.50)
#: Daily on-demand spend, USD, oldest first.
Usage = Sequence[float] | np.ndarray
STEP = 0.001


@dataclass(frozen=True)
class Simulation:
    """One commitment replayed over the window (USD over the whole window)."""

    hourly_commitment_usd: float
    rate: float
    days: int
    commitment_cost_usd: float
    covered_on_demand_usd: float
    on_demand_usd: float
    net_savings_usd: float

    @property
    def utilisation(self) -> float:
        """Share of the commitment's coverage the usage used."""
        capacity = self.commitment_cost_usd / self.rate
        return 0.0 if capacity <= 0 else self.covered_on_demand_usd / capacity

    @property
    def monthly_net_savings_usd(self) -> float:
        """Net savings scaled to a 30-day month."""
        return self.net_savings_usd / max(self.days, 1) * 30


def simulate(daily_on_demand: Usage, rate: float, hourly: float) -> Simulation:
    """Replay ``hourly`` USD/hour of commitment over the days.

    Example:
        >>> run = simulate([240.0, 240.0], 0.72, 7.2)
        >>> round(run.net_savings_usd, 2), round(run.utilisation, 2)
        (134.4, 1.0)
    """
    usage = np.asarray(daily_on_demand, dtype=float)
    capacity = 24.0 * hourly / rate
    covered = float(np.minimum(usage, capacity).sum())
    cost = 24.0 * hourly * len(usage)
    return Simulation(
        hourly_commitment_usd=hourly,
        rate=rate,
        days=len(usage),
        commitment_cost_usd=cost,
        covered_on_demand_usd=covered,
        on_demand_usd=float(usage.sum()),
        net_savings_usd=covered - cost,
    )


def best_commitment(daily_on_demand: Usage, rate: float) -> Simulation:
    """The hourly commitment that maximises net savings over the days (ties: the smaller).

    Example:
        >>> best_commitment([100.0, 240.0, 240.0, 240.0], 0.72).hourly_commitment_usd
        7.2
    """
    usage = np.asarray(daily_on_demand, dtype=float)
    if usage.size == 0 or float(usage.max()) <= 0:
        return simulate(usage, rate, 0.0)
    top = float(usage.max()) * rate / 24.0
    candidates = np.unique(
        np.concatenate([np.arange(0.0, top + STEP, STEP), np.round(usage * rate / 24.0, 6)])
    )
    capacity = 24.0 * candidates / rate  # (C,)
    covered = np.minimum(usage[None, :], capacity[:, None]).sum(axis=1)
    net = covered - 24.0 * candidates * usage.size
    best = int(np.argmax(net))  # first maximum: the smallest commitment among equals
    return simulate(usage, rate, round(float(candidates[best]), 6))


def scenarios(
    daily_on_demand: Usage, rate: float, hourly: float, falls: Sequence[float] = FALLS
) -> dict[float, Simulation]:
    """The commitment replayed with usage cut by each fall (``0.25`` = 25 % less every day)."""
    usage = np.asarray(daily_on_demand, dtype=float)
    return {fall: simulate(usage * (1.0 - fall), rate, hourly) for fall in falls}


def break_even_fall(daily_on_demand: Usage, rate: float, hourly: float) -> float | None:
    """The uniform usage fall at which the commitment stops saving (0..1), by bisection.

    None when it does not save even at today's usage.

    Example:
        >>> round(break_even_fall([240.0] * 4, 0.72, 7.2), 3)
        0.28
    """
    usage = np.asarray(daily_on_demand, dtype=float)
    if hourly <= 0 or simulate(usage, rate, hourly).net_savings_usd <= 0:
        return None
    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        if simulate(usage * (1 - middle), rate, hourly).net_savings_usd > 0:
            low = middle
        else:
            high = middle
    return low
