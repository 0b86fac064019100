"""Fees, net amounts and change, in minor units. Rounding: a percentage fee is rounded half
up to the minor unit once per payment, then the fixed part is added; a fee never exceeds the
gross it is charged on. Written once here and used by every method."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from fynlo.kit.money import exponent, percent_to_bp, round_half_up


@dataclass(frozen=True)
class FeeRule:
    percent_bp: int = 0  # 120 = 1.2 %
    fixed_minor: int = 0

    @classmethod
    def from_config(cls, config: dict[str, Any] | None, currency: str) -> FeeRule:
        """The restaurant's ``paymentMethods`` entry: ``feePercentage`` (1.2) and
        ``feeFixed`` in major units (0.30), rounded half up to the currency's minor unit."""
        config = config or {}
        fixed = Fraction(Decimal(str(config.get("feeFixed") or 0))) * 10 ** exponent(currency)
        return cls(
            percent_bp=percent_to_bp(config.get("feePercentage") or 0),
            fixed_minor=round_half_up(fixed),
        )

    def fee(self, gross_minor: int) -> int:
        if gross_minor <= 0:
            return 0
        percent = round_half_up(Fraction(gross_minor * self.percent_bp, 10_000))
        return min(gross_minor, percent + self.fixed_minor)


@dataclass(frozen=True)
class Amounts:
    gross: int
    fee: int

    @property
    def net(self) -> int:
        return self.gross - self.fee


def amounts(gross_minor: int, rule: FeeRule) -> Amounts:
    return Amounts(gross=gross_minor, fee=rule.fee(gross_minor))


def change_due(cash_received_minor: int, due_minor: int) -> int:
    """Change to hand back; negative means too little cash (the caller refuses it)."""
    return cash_received_minor - due_minor
