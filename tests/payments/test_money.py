"""Fees, net amounts, change and equal splits in minor units, for GBP and INR (two decimals)
and JPY (none): hand-checked examples, properties (hypothesis), and one HTTP case each."""

from __future__ import annotations

import uuid
from collections.abc import Coroutine
from decimal import Decimal
from fractions import Fraction
from typing import Any

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.kit.errors import Unprocessable
from fynlo.kit.money import exponent, round_half_up, to_major, to_minor
from fynlo.models import Order, Payment, Restaurant
from fynlo.payments import core
from fynlo.payments.fees import FeeRule, amounts, change_due
from fynlo.payments.methods import method_config
from tests.payments.support import Till, error_of, fields_of, open_order, order_of, priced_product
from tests.world import World

QR = {"feePercentage": 1.2}
CARD = {"feePercentage": 2.9, "feeFixed": 0.30}
CURRENCIES = ["GBP", "INR", "JPY"]


# --- fees by hand -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "currency", "gross", "fee"),
    [
        # The spec's QR example: 1.2 % of 54.50 is 0.654, so 0.65; net 53.85.
        (QR, "GBP", 5_450, 65),
        # Card: 2.9 % of 10.00 is 0.29, plus 0.30.
        (CARD, "GBP", 1_000, 59),
        # 2.9 % of 0.20 is 0.0058 (1p) + 30p = 31p, capped at the 20p charged.
        (CARD, "GBP", 20, 20),
        # 2.9 % of 0.01 rounds to nothing; the fixed 30p is capped at the penny.
        (CARD, "GBP", 1, 1),
        # 2 % of 449.99 INR is 8.9998, so 9.00.
        ({"feePercentage": 2.0}, "INR", 44_999, 900),
        ({"feePercentage": 1.2}, "INR", 44_999, 540),  # 5.39988 -> 5.40
        # JPY has no minor unit: 2.9 % of 1,000 yen is 29, plus a fixed 30 yen.
        ({"feePercentage": 2.9, "feeFixed": 30}, "JPY", 1_000, 59),
        # A fixed 0.30 means nothing in yen: it rounds to 0; only the 29 yen remains.
        (CARD, "JPY", 1_000, 29),
        # 1.2 % of 4,321 yen is 51.852, so 52.
        (QR, "JPY", 4_321, 52),
        # Exactly half a minor unit rounds up: 1.2 % of 125 is 1.5, so 2.
        (QR, "GBP", 125, 2),
        (QR, "JPY", 125, 2),
        (QR, "GBP", 375, 5),  # 4.5 -> 5, not to the even 4
        (QR, "GBP", 124, 1),  # 1.488 -> 1
        # Rounded once per payment, on the whole: 1.2 % of 0.40 is 0.48, so 0.
        (QR, "GBP", 40, 0),
        (QR, "GBP", 42, 1),  # 0.504 -> 1
        # No fee configured, and a zero gross, cost nothing.
        ({}, "GBP", 2_500, 0),
        (CARD, "GBP", 0, 0),
    ],
)
def test_fees_by_hand(config: dict[str, Any], currency: str, gross: int, fee: int) -> None:
    rule = FeeRule.from_config(config, currency)
    assert rule.fee(gross) == fee
    result = amounts(gross, rule)
    assert (result.gross, result.fee, result.net) == (gross, fee, gross - fee)


def test_the_spec_example_net() -> None:
    result = amounts(5_450, FeeRule.from_config(QR, "GBP"))
    assert (to_major(result.fee, "GBP"), to_major(result.net, "GBP")) == (
        Decimal("0.65"),
        Decimal("53.85"),
    )


@pytest.mark.parametrize(
    ("config", "currency", "percent_bp", "fixed_minor"),
    [
        (CARD, "GBP", 290, 30),
        (CARD, "INR", 290, 30),
        (CARD, "JPY", 290, 0),  # 0.30 yen rounds half up to 0
        ({"feePercentage": 1.2, "feeFixed": 0.5}, "JPY", 120, 1),  # half a yen rounds up
        ({"feePercentage": 1.2, "feeFixed": 30}, "JPY", 120, 30),
        ({"feePercentage": 1.2, "feeFixed": 0.305}, "GBP", 120, 31),  # 30.5p -> 31p
        ({"feePercentage": 12.5, "feeFixed": "0.20"}, "GBP", 1_250, 20),
        ({"feePercentage": None, "feeFixed": None}, "GBP", 0, 0),
        ({}, "JPY", 0, 0),
    ],
)
def test_a_fee_config_in_major_units_becomes_minor_units(
    config: dict[str, Any], currency: str, percent_bp: int, fixed_minor: int
) -> None:
    assert FeeRule.from_config(config, currency) == FeeRule(percent_bp, fixed_minor)


def test_no_config_is_no_fee() -> None:
    assert FeeRule.from_config(None, "GBP") == FeeRule(0, 0)
    assert FeeRule(290, 30).fee(-100) == 0  # nothing charged on nothing


@pytest.mark.parametrize(
    ("currency", "card_fixed"),
    [("GBP", 30), ("INR", 30), ("JPY", 0)],
)
def test_the_default_methods_in_each_currency(currency: str, card_fixed: int) -> None:
    restaurant = Restaurant(currency=currency, payment_methods={})
    assert method_config(restaurant, "qrCode").fee == FeeRule(120, 0)
    assert method_config(restaurant, "card").fee == FeeRule(290, card_fixed)
    assert method_config(restaurant, "applePay").fee == FeeRule(290, card_fixed)
    assert method_config(restaurant, "cash").fee == FeeRule(0, 0)
    assert method_config(restaurant, "giftCard").fee == FeeRule(0, 0)
    assert method_config(restaurant, "upi").enabled is (currency == "INR")


def test_a_restaurants_own_fees_override_the_defaults() -> None:
    restaurant = Restaurant(
        currency="JPY", payment_methods={"card": {"feePercentage": 3.6, "feeFixed": 40}}
    )
    card = method_config(restaurant, "card").fee
    assert card == FeeRule(360, 40)
    assert card.fee(1_000) == 76  # 36 + 40 yen
    # Wallets fall back to the card's settings.
    assert method_config(restaurant, "googlePay").fee == card


# --- fees by property ---------------------------------------------------------------------

GROSS = st.integers(min_value=0, max_value=10**10)
PERCENT_BP = st.integers(min_value=0, max_value=10_000)  # 0 % to 100 %
FIXED = st.integers(min_value=0, max_value=10**6)


@settings(max_examples=500, deadline=None)
@given(gross=GROSS, percent_bp=PERCENT_BP, fixed=FIXED)
def test_a_fee_is_never_negative_nor_above_the_gross(
    gross: int, percent_bp: int, fixed: int
) -> None:
    rule = FeeRule(percent_bp, fixed)
    fee = rule.fee(gross)
    assert 0 <= fee <= gross
    result = amounts(gross, rule)
    assert result.net == gross - fee >= 0
    assert result.fee + result.net == gross


@settings(max_examples=500, deadline=None)
@given(gross=GROSS, more=st.integers(0, 10**6), percent_bp=PERCENT_BP, fixed=FIXED)
def test_a_fee_never_falls_as_the_gross_rises(
    gross: int, more: int, percent_bp: int, fixed: int
) -> None:
    rule = FeeRule(percent_bp, fixed)
    assert rule.fee(gross) <= rule.fee(gross + more)


@settings(max_examples=500, deadline=None)
@given(gross=st.integers(1, 10**10), percent_bp=PERCENT_BP, fixed=FIXED)
@example(gross=125, percent_bp=120, fixed=0)  # exactly 1.5
@example(gross=1, percent_bp=5_000, fixed=0)  # exactly 0.5
def test_the_percent_part_is_within_half_a_minor_unit_rounding_halves_up(
    gross: int, percent_bp: int, fixed: int
) -> None:
    exact = Fraction(gross * percent_bp, 10_000)
    percent = FeeRule(percent_bp, 0).fee(gross)
    assert abs(percent - exact) <= Fraction(1, 2)
    if exact - int(exact) == Fraction(1, 2):
        assert percent > exact  # a half goes up
    # The fixed part is added once, after rounding, and the sum capped at the gross.
    assert FeeRule(percent_bp, fixed).fee(gross) == min(gross, percent + fixed)


@settings(max_examples=300, deadline=None)
@given(
    currency=st.sampled_from([*CURRENCIES, "BHD"]),
    percent=st.decimals(min_value=0, max_value=100, places=2),
    fixed=st.decimals(min_value=0, max_value=1_000, places=2),
)
def test_config_in_major_units_is_converted_exactly(
    currency: str, percent: Decimal, fixed: Decimal
) -> None:
    # Settings arrive as JSON numbers, i.e. floats.
    rule = FeeRule.from_config(
        {"feePercentage": float(percent), "feeFixed": float(fixed)}, currency
    )
    assert rule.percent_bp == int(percent * 100)
    assert rule.fixed_minor == round_half_up(Fraction(fixed) * 10 ** exponent(currency))


# --- change -----------------------------------------------------------------------------


def test_change_by_hand() -> None:
    assert change_due(3_000, 2_500) == 500
    assert change_due(2_500, 2_500) == 0
    assert change_due(2_000, 2_500) == -500  # too little: the caller refuses it
    assert change_due(10_000, 1_250) == 8_750  # 10,000 yen for a 1,250 yen bill


@given(received=st.integers(0, 10**10), due=st.integers(0, 10**10))
def test_change_plus_what_is_due_is_what_was_handed_over(received: int, due: int) -> None:
    change = change_due(received, due)
    assert change + due == received
    assert (change < 0) == (received < due)


# --- conversions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("54.50", "GBP", 5_450),
        ("449.99", "INR", 44_999),
        ("1000", "JPY", 1_000),
        ("1000.0", "JPY", 1_000),  # a zero fraction is still a whole yen
        ("0.01", "GBP", 1),
        ("1.234", "BHD", 1_234),
    ],
)
def test_to_minor_exactly(amount: str, currency: str, minor: int) -> None:
    assert to_minor(Decimal(amount), currency) == minor
    assert to_major(minor, currency) == Decimal(amount)


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("12.5", "JPY"), ("0.1", "JPY"), ("12.345", "GBP"), ("449.999", "INR"), ("1.2345", "BHD")],
)
def test_to_minor_refuses_amounts_finer_than_the_minor_unit(amount: str, currency: str) -> None:
    with pytest.raises(Unprocessable) as refused:
        to_minor(Decimal(amount), currency, field="cashReceived")
    assert refused.value.details == [
        {"field": "cashReceived", "message": f"at most {exponent(currency)} decimal places"}
    ]


@given(minor=st.integers(0, 10**12), currency=st.sampled_from([*CURRENCIES, "BHD"]))
def test_minor_to_major_and_back_is_exact(minor: int, currency: str) -> None:
    major = to_major(minor, currency)
    assert to_minor(major, currency) == minor
    assert major * 10 ** exponent(currency) == minor
    # Half a minor unit more is never silently rounded.
    with pytest.raises(Unprocessable):
        to_minor(major + Decimal(5).scaleb(-exponent(currency) - 1), currency)


# --- equal splits -------------------------------------------------------------------------


class CountingSession:
    """Stands in for the database in split_amount: it answers how many tenders the order
    already has, which picks the share."""

    def __init__(self, taken: int) -> None:
        self.taken = taken

    async def scalar(self, statement: object) -> int:
        return self.taken


def finish(coroutine: Coroutine[Any, Any, int]) -> int:
    """Run a coroutine whose only awaits are on CountingSession (it never suspends)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        value: int = done.value
        return value
    coroutine.close()
    raise AssertionError("split_amount suspended: it awaited more than the counting stub")


def equal_shares(total: int, shares: int) -> list[int]:
    """Every share of an equal split, in the order the tenders take them, from the real
    core.split_amount."""
    order = Order(id=uuid.uuid4(), restaurant_id=uuid.uuid4(), total_minor=total)
    split = core.Split(type="equal", shares=shares)
    return [
        finish(core.split_amount(CountingSession(taken), order, split))  # type: ignore[arg-type]
        for taken in range(shares)
    ]


@pytest.mark.parametrize(
    ("total", "shares", "expected"),
    [
        (2_500, 3, [834, 833, 833]),
        (1_250, 3, [417, 417, 416]),  # yen
        (100, 7, [15, 15, 14, 14, 14, 14, 14]),
        (1, 2, [1, 0]),
        (44_999, 2, [22_500, 22_499]),
        (5_000, 50, [100] * 50),
    ],
)
def test_equal_split_by_hand(total: int, shares: int, expected: list[int]) -> None:
    assert equal_shares(total, shares) == expected


@settings(max_examples=300, deadline=None)
@given(total=st.integers(0, 10**9), shares=st.integers(2, 50))
def test_equal_shares_sum_to_the_total_and_differ_by_at_most_one(total: int, shares: int) -> None:
    parts = equal_shares(total, shares)
    assert len(parts) == shares
    assert sum(parts) == total
    assert max(parts) - min(parts) <= 1
    assert parts == sorted(parts, reverse=True)  # the odd minor units go to the first shares
    base, remainder = divmod(total, shares)
    assert parts == [base + 1] * remainder + [base] * (shares - remainder)


def test_a_split_in_more_than_fifty_or_fewer_than_two_is_refused() -> None:
    order = Order(id=uuid.uuid4(), restaurant_id=uuid.uuid4(), total_minor=1_000)
    for shares in (1, 51):
        with pytest.raises(Unprocessable) as refused:
            finish(
                core.split_amount(
                    CountingSession(0),  # type: ignore[arg-type]
                    order,
                    core.Split(type="equal", shares=shares),
                )
            )
        assert refused.value.details[0]["field"] == "split.shares"


# --- over HTTP, one restaurant per currency -----------------------------------------------


async def till_in(
    currency: str, client: httpx.AsyncClient, session: AsyncSession, world: World
) -> Till:
    world.a1.currency = currency
    await session.commit()
    return await Till.build(client, session, world)  # one product at 1,250 minor units


async def pay_in_three(till: Till, order_id: str, received: float) -> list[dict[str, Any]]:
    body = {"orderId": order_id, "cashReceived": received, "split": {"type": "equal", "shares": 3}}
    paid = []
    for _ in range(3):
        response = await till.pay("cash/process", body)
        assert response.status_code == 201, response.text
        paid.append(response.json()["data"])
    error_of(await till.pay("cash/process", body), 409, "overpayment")
    return paid


async def test_cash_split_in_three_in_pounds(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    till = await till_in("GBP", client, session, world)
    order = await till.order(quantity=1)  # 12.50
    paid = await pay_in_three(till, order["id"], 5.00)
    assert [p["amount"] for p in paid] == [4.17, 4.17, 4.16]
    assert [p["change"] for p in paid] == [0.83, 0.83, 0.84]
    assert {p["currency"] for p in paid} == {"GBP"}
    assert paid[-1]["orderPaymentStatus"] == "paid"
    await session.commit()
    stored = (await session.scalars(select(Payment.amount_minor))).all()
    assert sorted(stored) == [416, 417, 417]
    assert sum(stored) == 1_250


async def test_cash_split_in_three_in_yen(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    till = await till_in("JPY", client, session, world)
    order = await till.order(quantity=1)
    assert (order["totalAmount"], order["currency"]) == (1_250, "JPY")
    paid = await pay_in_three(till, order["id"], 1_000)
    assert [p["amount"] for p in paid] == [417, 417, 416]  # whole yen, the odd 2 first
    assert [p["change"] for p in paid] == [583, 583, 584]
    assert {p["currency"] for p in paid} == {"JPY"}
    assert paid[-1]["orderPaymentStatus"] == "paid"
    await session.commit()
    stored = (await session.scalars(select(Payment.amount_minor))).all()
    assert sorted(stored) == [416, 417, 417]
    assert (await order_of(till.client, till.headers, order["id"]))["paymentStatus"] == "paid"


@pytest.mark.parametrize(
    ("currency", "price", "shown", "fee", "net"),
    [
        ("GBP", 5_450, 54.50, 0.65, 53.85),  # the spec's example
        ("INR", 44_999, 449.99, 5.40, 444.59),  # 5.39988 -> 5.40
        ("JPY", 4_321, 4_321, 52, 4_269),  # 51.852 -> 52 yen
    ],
)
async def test_the_qr_fee_over_http_in_each_currency(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    currency: str,
    price: int,
    shown: float,
    fee: float,
    net: float,
) -> None:
    till = await till_in(currency, client, session, world)
    feast = await priced_product(session, world.a1, price=price, name="Feast")
    order = await open_order(till.client, till.headers, [(feast, 1)])
    response = await till.pay("qr/generate", {"orderId": order["id"]})
    assert response.status_code == 201, response.text
    qr = response.json()["data"]
    assert (qr["amount"], qr["feeAmount"], qr["netAmount"], qr["currency"]) == (
        shown,
        fee,
        net,
        currency,
    )


async def test_yen_cash_takes_whole_yen_and_gives_exact_change(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    till = await till_in("JPY", client, session, world)
    order = await till.order(quantity=1)
    paid = await till.cash(order["id"], 1_250, 10_000, tipAmount=50, change=8_700)
    assert (paid["amount"], paid["tipAmount"], paid["change"], paid["netAmount"]) == (
        1_250,
        50,
        8_700,
        1_300,
    )
    await session.commit()
    payment = await session.scalar(select(Payment))
    assert payment is not None
    assert (payment.amount_minor, payment.tip_minor, payment.change_minor) == (1_250, 50, 8_700)
    assert payment.cash_received_minor == 10_000


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"amount": 12.5, "cashReceived": 20}, "amount"),
        ({"amount": 1_250, "cashReceived": 1_250.5}, "cashReceived"),
        ({"amount": 1_250, "cashReceived": 2_000, "tipAmount": 0.5}, "tipAmount"),
        ({"amount": 1_250, "cashReceived": 2_000, "change": 750.25}, "change"),
    ],
)
async def test_yen_refuses_fractions_of_a_yen_naming_the_field(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    extra: dict[str, Any],
    field: str,
) -> None:
    till = await till_in("JPY", client, session, world)
    order = await till.order(quantity=1)
    response = await till.pay("cash/process", {"orderId": order["id"], **extra})
    error = error_of(response, 422, "validation_error")
    assert fields_of(error) == [field]
    assert "JPY" in error["message"]
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(Payment)) == 0
