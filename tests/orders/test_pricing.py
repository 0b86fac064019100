"""The pricing rules, by example and by property (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fynlo.orders.pricing import Discount, LineInput, price

RATES = st.sampled_from([0, 500, 2000, 1250, 1500, 2500])


@st.composite
def discounts(draw: st.DrawFn) -> Discount | None:
    kind = draw(st.sampled_from([None, "percent", "amount"]))
    if kind is None:
        return None
    if kind == "percent":
        return Discount("percent", draw(st.integers(0, 10_000)))
    return Discount("amount", draw(st.integers(0, 50_000)))


@st.composite
def lines(draw: st.DrawFn) -> LineInput:
    return LineInput(
        unit_price=draw(st.integers(0, 100_000)),
        modifiers_price=draw(st.integers(0, 2_000)),
        quantity=draw(st.integers(1, 50)),
        tax_rate_bp=draw(RATES),
        discount=draw(discounts()),
    )


@settings(max_examples=400, deadline=None)
@given(
    items=st.lists(lines(), min_size=1, max_size=12),
    inclusive=st.booleans(),
    order_discount=discounts(),
    service=st.sampled_from([0, 1000, 1250]),
    tip=st.integers(0, 10_000),
)
def test_totals_always_equal_the_sum_of_their_parts(
    items: list[LineInput],
    inclusive: bool,
    order_discount: Discount | None,
    service: int,
    tip: int,
) -> None:
    t = price(
        items,
        prices_include_vat=inclusive,
        order_discount=order_discount,
        service_charge_bp=service,
        tip=tip,
    )
    assert t.subtotal == sum(p.gross for p in t.lines)
    assert t.discount == sum(p.discount for p in t.lines)
    assert t.tax == sum(p.tax for p in t.lines)
    assert t.tax == sum(vat for _, vat in t.tax_breakdown.values())
    items_total = t.subtotal - t.discount + (0 if inclusive else t.tax)
    assert items_total == sum(p.total for p in t.lines)
    assert t.total == items_total + t.service_charge + t.tip
    assert sum(net + vat for net, vat in t.tax_breakdown.values()) == items_total
    for value in (t.subtotal, t.discount, t.tax, t.service_charge, t.tip, t.total):
        assert value >= 0
    for p in t.lines:
        assert 0 <= p.discount <= p.gross
        assert p.tax >= 0
        assert p.total >= 0
    assert t.discount <= t.subtotal


def test_vat_inclusive_example() -> None:
    # Two flat whites at 3.50 with a 0.50 oat milk, 20 % VAT included.
    t = price(
        [LineInput(unit_price=350, modifiers_price=50, quantity=2, tax_rate_bp=2000)],
        prices_include_vat=True,
        service_charge_bp=1250,
    )
    assert (t.subtotal, t.tax, t.service_charge, t.total) == (800, 133, 100, 900)


def test_vat_exclusive_example_with_a_zero_rated_line() -> None:
    t = price(
        [
            LineInput(unit_price=1000, modifiers_price=0, quantity=1, tax_rate_bp=2000),
            LineInput(unit_price=250, modifiers_price=0, quantity=2, tax_rate_bp=0),
        ],
        prices_include_vat=False,
    )
    assert (t.subtotal, t.tax, t.total) == (1500, 200, 1700)
    assert t.tax_breakdown == {2000: (1000, 200), 0: (500, 0)}


def test_order_discount_is_spread_exactly_and_half_pennies_round_up() -> None:
    t = price(
        [LineInput(333, 0, 1, 2000), LineInput(333, 0, 1, 2000), LineInput(334, 0, 1, 2000)],
        prices_include_vat=True,
        order_discount=Discount("amount", 100),
    )
    assert [p.order_discount_share for p in t.lines] == [33, 33, 34]
    assert t.total == 900
    # 10 % of 1.05 is 0.105: half up to 0.11.
    half = price([LineInput(105, 0, 1, 0, Discount("percent", 1000))], prices_include_vat=True)
    assert half.discount == 11


def test_an_amount_discount_never_makes_a_line_negative() -> None:
    t = price(
        [LineInput(500, 0, 1, 2000, Discount("amount", 9_999))],
        prices_include_vat=False,
        order_discount=Discount("amount", 9_999),
    )
    assert (t.discount, t.tax, t.total) == (500, 0, 0)
