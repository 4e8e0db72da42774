"""Money for people, written once: US dollars rounded half up to the cent, and said as such.

Detectors compute in floats; every figure a person reads (Slack, Jira, artifacts, the CLI, the
demo's summary) goes through here, so the same amount is written the same way everywhere.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def to_cents(amount: Decimal | float | int | str) -> Decimal:
    """The amount as a Decimal rounded half up to the cent (floats through their shortest repr).

    Example:
        >>> to_cents(1234.5678), to_cents("0.005")
        (Decimal('1234.57'), Decimal('0.01'))
    """
    return Decimal(str(amount)).quantize(CENT, rounding=ROUND_HALF_UP)


def usd(amount: Decimal | float | int, signed: bool = False) -> str:
    """Format an amount as ``$1,234.56`` (``+$`` / ``-$`` when signed).

    Example:
        >>> usd(Decimal("-1234.5"))
        '-$1,234.50'
        >>> usd(Decimal("12"), signed=True)
        '+$12.00'
    """
    value = to_cents(amount)
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    return f"{sign}${abs(value):,.2f}"


def usd_or_unknown(amount: Decimal | float | None, unknown: str = "unknown") -> str:
    """``usd(amount)``, or the word for an amount nobody knows (never shown as $0).

    Example:
        >>> usd_or_unknown(Decimal("3")), usd_or_unknown(None)
        ('$3.00', 'unknown')
    """
    return unknown if amount is None else usd(amount)


def usd_per_month(amount: Decimal | float | None) -> str:
    """A monthly amount with its currency and period, or why it is unknown.

    Example:
        >>> usd_per_month(Decimal("1234.5")), usd_per_month(None)
        ('$1,234.50 USD/month', 'unknown (price not in the price book)')
    """
    if amount is None:
        return "unknown (price not in the price book)"
    return f"{usd(amount)} USD/month"


def cents(amount: Decimal | float | int) -> str:
    """An amount as a decimal string with exactly two places, for machine-read JSON.

    Example:
        >>> cents(Decimal("400"))
        '400.00'
    """
    return str(to_cents(amount))
