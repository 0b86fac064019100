"""Order pricing: the one place that turns lines, tax rules and adjustments into totals.

All amounts are integer minor units; rates are basis points (2000 = 20 %). The rules:

1. A line's gross is ``(unit price + modifier prices) x quantity`` (exact).
2. A line discount is taken off its line: a percentage is rounded half-up per line; an
   amount is capped at the line's gross.
3. An order discount is spread over the lines in proportion to what remains of each, by
   largest remainder, so the shares add up to the discount exactly. A percentage is
   rounded half-up once, on the order; an amount is capped at what the lines still cost.
4. VAT is computed per line on what the line costs after discounts, rounded half-up per line.
   With VAT-inclusive prices the VAT is the part of that amount above ``amount / (1 + rate)``;
   with VAT-exclusive prices it is added on top. The order's VAT is the sum of its lines'.
5. The service charge is a percentage of what the items cost after discounts, VAT included,
   rounded half-up once. It is treated as discretionary, so carries no VAT.
6. A tip is added as given and carries no VAT.
7. ``total = subtotal - discount + (VAT if prices exclude it) + service charge + tip``;
   nothing is ever negative.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from fynlo.kit.money import round_half_up

BP = 10_000

DiscountKind = Literal["percent", "amount"]


@dataclass(frozen=True)
class Discount:
    kind: DiscountKind
    value: int  # basis points for "percent" (1000 = 10 %), minor units for "amount"

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ValueError("a discount cannot be negative")
        if self.kind == "percent" and self.value > BP:
            raise ValueError("a percentage discount cannot exceed 100 %")

    def off(self, amount: int) -> int:
        if self.kind == "percent":
            return round_half_up(Fraction(amount * self.value, BP))
        return min(self.value, amount)


@dataclass(frozen=True)
class LineInput:
    unit_price: int
    modifiers_price: int
    quantity: int
    tax_rate_bp: int
    discount: Discount | None = None


@dataclass(frozen=True)
class PricedLine:
    gross: int
    line_discount: int
    order_discount_share: int
    tax: int
    tax_rate_bp: int
    total: int  # what the line costs after discounts, VAT included

    @property
    def discount(self) -> int:
        return self.line_discount + self.order_discount_share


@dataclass(frozen=True)
class Totals:
    lines: list[PricedLine]
    subtotal: int
    discount: int
    tax: int
    service_charge: int
    tip: int
    total: int
    prices_include_vat: bool
    tax_breakdown: dict[int, tuple[int, int]] = field(default_factory=dict)
    """Per VAT rate (bp): (net amount, VAT)."""


def _allocate(amount: int, weights: list[int]) -> list[int]:
    """Split ``amount`` over ``weights`` proportionally; shares sum to ``amount`` exactly."""
    total = sum(weights)
    if amount == 0 or total == 0:
        return [0] * len(weights)
    exact = [Fraction(amount * w, total) for w in weights]
    shares = [int(x) for x in exact]  # floor: all values are non-negative
    short = amount - sum(shares)
    by_remainder = sorted(
        range(len(weights)), key=lambda i: (exact[i] - shares[i], -i), reverse=True
    )
    for i in by_remainder[:short]:
        shares[i] += 1
    return shares


def _vat(amount: int, rate_bp: int, inclusive: bool) -> int:
    if rate_bp == 0 or amount == 0:
        return 0
    if inclusive:
        return round_half_up(Fraction(amount * rate_bp, BP + rate_bp))
    return round_half_up(Fraction(amount * rate_bp, BP))


def price(
    lines: list[LineInput],
    *,
    prices_include_vat: bool,
    order_discount: Discount | None = None,
    service_charge_bp: int = 0,
    tip: int = 0,
) -> Totals:
    if tip < 0 or service_charge_bp < 0:
        raise ValueError("tip and service charge cannot be negative")
    grosses = [(ln.unit_price + ln.modifiers_price) * ln.quantity for ln in lines]
    if any(g < 0 for g in grosses) or any(ln.quantity <= 0 for ln in lines):
        raise ValueError("line amounts and quantities must be positive")
    line_discounts = [
        ln.discount.off(gross) if ln.discount else 0
        for ln, gross in zip(lines, grosses, strict=True)
    ]
    after_line = [g - d for g, d in zip(grosses, line_discounts, strict=True)]
    remaining = sum(after_line)
    whole_order = order_discount.off(remaining) if order_discount else 0
    shares = _allocate(whole_order, after_line)

    priced: list[PricedLine] = []
    breakdown: dict[int, tuple[int, int]] = defaultdict(lambda: (0, 0))
    for ln, gross, line_discount, share in zip(lines, grosses, line_discounts, shares, strict=True):
        net_of_discounts = gross - line_discount - share
        tax = _vat(net_of_discounts, ln.tax_rate_bp, prices_include_vat)
        line_total = net_of_discounts if prices_include_vat else net_of_discounts + tax
        priced.append(
            PricedLine(
                gross=gross,
                line_discount=line_discount,
                order_discount_share=share,
                tax=tax,
                tax_rate_bp=ln.tax_rate_bp,
                total=line_total,
            )
        )
        net, vat = breakdown[ln.tax_rate_bp]
        breakdown[ln.tax_rate_bp] = (net + line_total - tax, vat + tax)

    subtotal = sum(grosses)
    discount = sum(line_discounts) + whole_order
    tax = sum(p.tax for p in priced)
    items_total = sum(p.total for p in priced)
    service_charge = round_half_up(Fraction(items_total * service_charge_bp, BP))
    total = items_total + service_charge + tip
    return Totals(
        lines=priced,
        subtotal=subtotal,
        discount=discount,
        tax=tax,
        service_charge=service_charge,
        tip=tip,
        total=total,
        prices_include_vat=prices_include_vat,
        tax_breakdown=dict(breakdown),
    )
