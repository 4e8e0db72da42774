"""Typed records of the commitments capability (frozen once they leave an adapter)."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["Savings Plan", "Reserved Instance"]
CENT = Decimal("0.01")


def cents(value: float | Decimal) -> Decimal:
    """USD rounded half-up to the cent, as people read it.

    Example:
        >>> cents(2.405)
        Decimal('2.41')
    """
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


class Commitment(BaseModel):
    """One Reserved Instance or Savings Plan of the organisation.

    Attributes:
        commitment_id: the ARN (FOCUS CommitmentDiscountId).
        short_id: the Savings Plan id or the reservation (lease) id.
        hourly_commitment_usd: the plan's hourly commitment; for an RI, its amortised fee per hour
            when known (None otherwise).
        end: the day it expires (the first day it no longer applies).
    """

    model_config = ConfigDict(frozen=True)

    commitment_id: str
    short_id: str
    kind: Kind
    account_id: str
    region: str = ""
    service: str = ""
    description: str = ""
    instance_type: str = ""
    instance_count: int | None = None
    term_years: int | None = None
    payment_option: str = ""
    hourly_commitment_usd: Decimal | None = None
    start: date | None = None
    end: date
    state: str = "active"

    def days_left(self, today: date) -> int:
        """Days from ``today`` until it expires (negative once expired)."""
        return (self.end - today).days


class DayFigures(BaseModel):
    """One day's commitment figures of one kind, in USD (cents).

    ``used_usd`` + ``unused_usd`` is the amortised commitment of the day; ``covered_usd`` the
    on-demand equivalent of the usage it covered; ``on_demand_usd`` the eligible usage it did not.
    """

    model_config = ConfigDict(frozen=True)

    day: date
    kind: Kind
    used_usd: Decimal
    unused_usd: Decimal
    covered_usd: Decimal | None = None
    on_demand_usd: Decimal | None = None

    @property
    def utilisation_pct(self) -> Decimal | None:
        total = self.used_usd + self.unused_usd
        return None if not total else (100 * self.used_usd / total).quantize(CENT)


class Recommendation(BaseModel):
    """A Savings Plan purchase recommendation with its assumptions (ours or AWS's)."""

    model_config = ConfigDict(frozen=True)

    source: Literal["ours", "aws"]
    hourly_commitment_usd: Decimal
    term: str
    payment_option: str
    lookback_days: int
    first_day: date | None = None
    last_day: date | None = None
    rate: float | None = None
    estimated_savings_usd: Decimal | None = None  # over the look-back window
    estimated_monthly_savings_usd: Decimal | None = None
    estimated_utilisation_pct: Decimal | None = None
    break_even_fall_pct: Decimal | None = None
    scenarios: dict[str, Decimal] = Field(default_factory=dict)  # "usage -25%" -> net savings
    assumptions: list[str] = Field(default_factory=list)
    offering_id: str = ""


class ExpiryAlert(BaseModel):
    """An expiry announcement that is due: ``threshold_days`` is the smallest threshold crossed."""

    model_config = ConfigDict(frozen=True)

    commitment: Commitment
    threshold_days: int
    days_left: int

    @property
    def key(self) -> str:
        """The outbox idempotency key: one message per commitment and threshold."""
        return f"commitment-expiry|{self.commitment.commitment_id}|{self.threshold_days}"
