"""Money: integer minor units inside, decimal major units (``54.50``) on the wire.

Every conversion between the two goes through here. Rounding of computed amounts (tax,
percent discounts, service charge) is :func:`round_half_up` on an exact fraction, never a
float; see :mod:`fynlo.orders.pricing` for where each rounding happens.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Annotated

from pydantic import Field, PlainSerializer

from fynlo.kit.errors import Unprocessable

# ISO 4217 currencies whose minor unit is not a hundredth.
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def to_minor(amount: Decimal | int, currency: str = "GBP", *, field: str = "amount") -> int:
    """Exact conversion; an amount finer than the currency's minor unit is refused."""
    scaled = Decimal(amount).scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise Unprocessable(
            f"{field} has more decimal places than {currency} allows",
            details=[{"field": field, "message": f"at most {exponent(currency)} decimal places"}],
        )
    return int(scaled)


def to_major(minor: int, currency: str = "GBP") -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency))


def round_half_up(value: Fraction) -> int:
    """Nearest integer, halves away from zero (the rounding tills and tax offices use)."""
    sign = -1 if value < 0 else 1
    magnitude = abs(value)
    whole, remainder = divmod(magnitude.numerator, magnitude.denominator)
    if remainder * 2 >= magnitude.denominator:
        whole += 1
    return sign * whole


def percent_to_bp(rate: Decimal | float | int | str) -> int:
    """A percentage (``12.5``) as basis points (``1250``), exactly."""
    return int((Decimal(str(rate)) * 100).to_integral_value())


def _json_number(value: Decimal) -> float:
    return float(value)


# Amount on the wire: a JSON number in major units, never a string and never a float inside.
MoneyOut = Annotated[Decimal, PlainSerializer(_json_number, return_type=float, when_used="json")]
MoneyIn = Annotated[Decimal, Field(ge=0, le=Decimal("9999999.99"), max_digits=12, decimal_places=3)]

# A percentage on the wire (``20``, ``12.5``), a JSON number like the amounts.
PercentOut = MoneyOut
