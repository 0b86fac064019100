"""Gift cards as a tender, over HTTP: redeeming pays the order and debits the card through
its ledger; refused cards write nothing; refunds load the card again; concurrent
redemptions never take a card below zero, on both databases."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.db.types import utc_now
from fynlo.models import GiftCard, GiftCardEntry, Order, Payment, PaymentRefund, Restaurant
from tests.conftest import make_client
from tests.payments.support import Till, error_of, fields_of, open_order, priced_product
from tests.world import World, login

REDEEM = "giftcard/process"


@pytest.fixture
async def till(client: httpx.AsyncClient, session: AsyncSession, world: World) -> Till:
    return await Till.build(client, session, world)


async def issue(
    client: httpx.AsyncClient, headers: dict[str, str], amount: float, **body: Any
) -> dict[str, Any]:
    """A card issued over HTTP; the only response that carries its full code."""
    response = await client.post(
        "/api/gift-cards", json={"initialAmount": amount, **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def card_row(session: AsyncSession, card_id: str) -> GiftCard:
    await session.commit()  # end the read snapshot (SQLite WAL): see what the app committed
    return (
        await session.execute(
            select(GiftCard)
            .where(GiftCard.id == uuid.UUID(card_id))
            .execution_options(populate_existing=True)
        )
    ).scalar_one()


async def entries(session: AsyncSession, card_id: str) -> list[GiftCardEntry]:
    await session.commit()
    rows = await session.scalars(
        select(GiftCardEntry)
        .where(GiftCardEntry.gift_card_id == uuid.UUID(card_id))
        .order_by(GiftCardEntry.balance_after_minor.desc(), GiftCardEntry.created_at)
    )
    return list(rows)


async def assert_ledger_matches(session: AsyncSession, card_id: str, balance: int) -> None:
    """The card's balance is exactly what its append-only ledger adds up to."""
    card = await card_row(session, card_id)
    assert card.balance_minor == balance
    total = await session.scalar(
        select(func.sum(GiftCardEntry.amount_minor)).where(
            GiftCardEntry.gift_card_id == uuid.UUID(card_id)
        )
    )
    assert total == balance


async def payment_count(session: AsyncSession) -> int:
    await session.commit()
    return int(await session.scalar(select(func.count()).select_from(Payment)) or 0)


async def redeem(
    till: Till, order_id: str, code: str, amount: float | None = None, **extra: Any
) -> httpx.Response:
    body: dict[str, Any] = {"orderId": order_id, "code": code, **extra}
    if amount is not None:
        body["amount"] = amount
    return await till.pay(REDEEM, body)


# --- redeeming --------------------------------------------------------------------------


async def test_redeeming_pays_the_order_and_debits_the_card_through_its_ledger(
    till: Till, session: AsyncSession
) -> None:
    card = await issue(till.client, till.headers, 50.00, code="ABCD-EFGH-2345")
    order = await till.order()  # 2 x 12.50

    # Typed as the customer reads it off the card: spaces, lower case.
    response = await redeem(till, order["id"], "abcd efgh 2345", 25.00, tipAmount=2.00)

    assert response.status_code == 201, response.text
    paid = response.json()["data"]
    assert (paid["method"], paid["provider"], paid["status"]) == (
        "giftCard",
        "gift_card",
        "completed",
    )
    assert (paid["amount"], paid["tipAmount"], paid["feeAmount"], paid["netAmount"]) == (
        25.0,
        2.0,
        0.0,
        27.0,
    )
    assert (paid["orderPaymentStatus"], paid["orderAmountDue"]) == ("paid", 0.0)
    assert paid["transactionId"] == "2345"  # the last four, never the code
    assert "ABCDEFGH2345" not in response.text

    payment = await session.get(Payment, uuid.UUID(paid["id"]))
    assert payment is not None
    assert payment.gift_card_id == uuid.UUID(card["id"])
    assert (payment.amount_minor, payment.tip_minor, payment.net_minor) == (2_500, 200, 2_700)

    ledger = await entries(session, card["id"])
    assert [(e.kind, e.amount_minor, e.balance_after_minor) for e in ledger] == [
        ("issue", 5_000, 5_000),
        ("redeem", -2_700, 2_300),  # amount and tip, exactly
    ]
    assert ledger[1].payment_id == payment.id
    assert ledger[1].user_id == till.world.users["manager"].id
    await assert_ledger_matches(session, card["id"], 2_300)

    balance = await till.client.post(
        "/api/gift-cards/balance", json={"code": "ABCDEFGH2345"}, headers=till.headers
    )
    assert balance.json()["data"]["balance"] == 23.0


async def test_a_card_can_pay_part_and_cash_the_rest(till: Till, session: AsyncSession) -> None:
    card = await issue(till.client, till.headers, 10.00)
    order = await till.order()  # 25.00

    part = await redeem(till, order["id"], card["code"], 10.00)
    assert part.status_code == 201, part.text
    assert (part.json()["data"]["orderPaymentStatus"], part.json()["data"]["orderAmountDue"]) == (
        "partially_paid",
        15.0,
    )
    rest = await till.cash(order["id"], 15.00, 20.00)
    assert (rest["orderPaymentStatus"], rest["change"]) == ("paid", 5.0)
    await assert_ledger_matches(session, card["id"], 0)


async def test_without_an_amount_the_card_pays_what_the_order_owes(
    till: Till, session: AsyncSession
) -> None:
    card = await issue(till.client, till.headers, 40.00)
    order = await till.order()
    response = await redeem(till, order["id"], card["code"])
    assert response.status_code == 201, response.text
    assert response.json()["data"]["amount"] == 25.0
    await assert_ledger_matches(session, card["id"], 1_500)


async def test_a_cashier_can_redeem(till: Till, session: AsyncSession) -> None:
    card = await issue(till.client, till.headers, 30.00)
    order = await till.order()
    response = await till.pay(
        REDEEM, {"orderId": order["id"], "code": card["code"], "amount": 25.00}, as_="cashier"
    )
    assert response.status_code == 201, response.text
    await assert_ledger_matches(session, card["id"], 500)


async def test_a_retried_redemption_with_its_key_debits_the_card_once(
    till: Till, session: AsyncSession
) -> None:
    card = await issue(till.client, till.headers, 50.00)
    order = await till.order()
    body = {"orderId": order["id"], "code": card["code"], "amount": 10.00}
    first = await till.pay(REDEEM, body, key="till-1-gc-redeem-1")
    retry = await till.pay(REDEEM, body, key="till-1-gc-redeem-1")
    assert (first.status_code, retry.status_code) == (201, 201), retry.text
    assert retry.json()["data"]["id"] == first.json()["data"]["id"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert await payment_count(session) == 1
    await assert_ledger_matches(session, card["id"], 4_000)


# --- refused: nothing written -----------------------------------------------------------


async def assert_nothing_written(
    session: AsyncSession, card_id: str, balance: int, order_id: str
) -> None:
    assert await payment_count(session) == 0
    assert [e.kind for e in await entries(session, card_id)] == ["issue"]
    await assert_ledger_matches(session, card_id, balance)
    order = await session.get(Order, uuid.UUID(order_id))
    assert order is not None
    await session.refresh(order)
    assert (order.paid_minor, order.payment_status) == (0, "unpaid")


async def test_insufficient_balance_is_refused_and_nothing_is_written(
    till: Till, session: AsyncSession
) -> None:
    card = await issue(till.client, till.headers, 10.00)
    order = await till.order()

    response = await redeem(till, order["id"], card["code"], 25.00)

    error = error_of(response, 409, "insufficient_gift_card_balance")
    assert error["details"] == {"balance": 10.0}
    assert card["code"] not in response.text
    assert card["code"][-4:] in error["message"]
    await assert_nothing_written(session, card["id"], 1_000, order["id"])


async def test_the_tip_counts_against_the_balance(till: Till, session: AsyncSession) -> None:
    card = await issue(till.client, till.headers, 25.00)
    order = await till.order()  # exactly the card's balance, but a tip on top
    response = await redeem(till, order["id"], card["code"], 25.00, tipAmount=0.01)
    error_of(response, 409, "insufficient_gift_card_balance")
    await assert_nothing_written(session, card["id"], 2_500, order["id"])
    exact = await redeem(till, order["id"], card["code"], 25.00)
    assert exact.status_code == 201, exact.text
    await assert_ledger_matches(session, card["id"], 0)


async def test_a_disabled_card_is_unusable(till: Till, session: AsyncSession) -> None:
    card = await issue(till.client, till.headers, 50.00)
    disabled = await till.client.post(
        f"/api/gift-cards/{card['id']}/disable", json={"reason": "stolen"}, headers=till.headers
    )
    assert disabled.status_code == 200, disabled.text
    order = await till.order()

    response = await redeem(till, order["id"], card["code"], 25.00)

    error = error_of(response, 409, "gift_card_unusable")
    assert error["details"] == {"status": "disabled"}
    assert card["code"] not in response.text
    await assert_nothing_written(session, card["id"], 5_000, order["id"])


async def test_an_expired_card_is_unusable(till: Till, session: AsyncSession) -> None:
    expires = (utc_now() + timedelta(days=1)).isoformat()
    card = await issue(till.client, till.headers, 50.00, expiresAt=expires)
    await session.execute(
        update(GiftCard)
        .where(GiftCard.id == uuid.UUID(card["id"]))
        .values(expires_at=utc_now() - timedelta(minutes=1))
    )
    await session.commit()
    order = await till.order()

    response = await redeem(till, order["id"], card["code"], 25.00)

    error = error_of(response, 409, "gift_card_unusable")
    assert "expired" in error["message"]
    assert "expiresAt" in error["details"]
    await assert_nothing_written(session, card["id"], 5_000, order["id"])


async def test_an_unknown_code_is_not_found_and_not_echoed(
    till: Till, session: AsyncSession
) -> None:
    card = await issue(till.client, till.headers, 50.00, code="REALCODE2345")
    order = await till.order()

    response = await redeem(till, order["id"], "GUESS-CODE-9876", 25.00)

    error = error_of(response, 404, "not_found")
    assert "GUESSCODE9876" not in json.dumps(error)
    assert "GUESS-CODE-9876" not in response.text
    assert "GUESSCODE9876" not in response.text
    assert "9876" in error["message"]  # the last four only, masked
    await assert_nothing_written(session, card["id"], 5_000, order["id"])


async def test_another_restaurants_card_is_not_found(
    till: Till, client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    theirs = await issue(client, await login(client, world.other_manager), 50.00)
    order = await till.order()

    response = await redeem(till, order["id"], theirs["code"], 25.00)

    error = error_of(response, 404, "not_found")
    assert theirs["code"] not in response.text
    assert "Gift card" in error["message"]
    assert await payment_count(session) == 0
    await assert_ledger_matches(session, theirs["id"], 5_000)


async def test_a_card_in_another_currency_is_refused_naming_the_code(
    till: Till, session: AsyncSession
) -> None:
    card = await issue(till.client, till.headers, 50.00)  # GBP
    await session.execute(
        update(Restaurant).where(Restaurant.id == till.world.a1.id).values(currency="EUR")
    )
    await session.commit()
    order = await till.order()  # priced in EUR now

    response = await redeem(till, order["id"], card["code"], 25.00)

    assert fields_of(error_of(response, 422, "validation_error")) == ["code"]
    await assert_nothing_written(session, card["id"], 5_000, order["id"])


@pytest.mark.parametrize("role", ["waiter", "kitchen_staff", "employee"])
async def test_roles_without_payments_process_are_refused(
    till: Till, session: AsyncSession, role: str
) -> None:
    card = await issue(till.client, till.headers, 50.00)
    order = await till.order()

    response = await till.pay(
        REDEEM, {"orderId": order["id"], "code": card["code"], "amount": 25.00}, as_=role
    )

    error = error_of(response, 403, "permission_denied")
    assert error["details"]["permission"] == "payments.process"
    await assert_nothing_written(session, card["id"], 5_000, order["id"])


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"code": ""},
        {"code": "abc"},  # shorter than any code
        {"code": "A" * 33},
        {"code": None},
    ],
)
async def test_a_missing_or_malformed_code_is_named(
    till: Till, session: AsyncSession, body: dict[str, Any]
) -> None:
    card = await issue(till.client, till.headers, 50.00)
    order = await till.order()

    response = await till.pay(REDEEM, {"orderId": order["id"], "amount": 25.00, **body})

    assert "code" in fields_of(error_of(response, 422, "validation_error"))
    await assert_nothing_written(session, card["id"], 5_000, order["id"])


# --- refunds ----------------------------------------------------------------------------


async def test_refunds_load_the_card_again_through_its_ledger(
    till: Till, session: AsyncSession
) -> None:
    card = await issue(till.client, till.headers, 50.00)
    order = await till.order()
    paid = (await redeem(till, order["id"], card["code"], 25.00, tipAmount=2.00)).json()["data"]
    await assert_ledger_matches(session, card["id"], 2_300)

    partial = await till.pay(f"{paid['id']}/refund", {"amount": 10.00, "reason": "cold chips"})
    assert partial.status_code == 201, partial.text
    assert (partial.json()["data"]["method"], partial.json()["data"]["amount"]) == (
        "giftCard",
        10.0,
    )
    assert partial.json()["data"]["payment"]["status"] == "partially_refunded"
    await assert_ledger_matches(session, card["id"], 3_300)

    rest = await till.pay(f"{paid['id']}/refund", {"reason": "the rest"})
    assert rest.status_code == 201, rest.text
    assert rest.json()["data"]["amount"] == 17.0  # what was left, the tip included
    assert rest.json()["data"]["payment"]["status"] == "refunded"
    await assert_ledger_matches(session, card["id"], 5_000)  # restored exactly

    ledger = await entries(session, card["id"])
    assert sorted((e.kind, e.amount_minor, e.balance_after_minor) for e in ledger) == [
        ("issue", 5_000, 5_000),
        ("redeem", -2_700, 2_300),
        ("refund", 1_000, 3_300),
        ("refund", 1_700, 5_000),
    ]
    assert {e.payment_id for e in ledger if e.kind != "issue"} == {uuid.UUID(paid["id"])}
    refunded = await session.scalar(
        select(func.sum(PaymentRefund.amount_minor)).where(
            PaymentRefund.payment_id == uuid.UUID(paid["id"])
        )
    )
    assert refunded == 2_700
    error_of(await till.pay(f"{paid['id']}/refund", {"reason": "again"}), 409, "conflict")
    await assert_ledger_matches(session, card["id"], 5_000)


async def test_a_refund_reaches_a_card_disabled_since(till: Till, session: AsyncSession) -> None:
    """The money goes back to where it came from, even if the card was since disabled: it
    stays on the card's ledger (and can be reissued by staff), never lost."""
    card = await issue(till.client, till.headers, 30.00)
    order = await till.order()
    paid = (await redeem(till, order["id"], card["code"], 25.00)).json()["data"]
    await till.client.post(
        f"/api/gift-cards/{card['id']}/disable", json={"reason": "lost"}, headers=till.headers
    )
    response = await till.pay(f"{paid['id']}/refund", {"reason": "wrong order"})
    assert response.status_code == 201, response.text
    await assert_ledger_matches(session, card["id"], 3_000)


# --- concurrency ------------------------------------------------------------------------


async def test_concurrent_redemptions_never_take_the_card_below_zero(
    app: FastAPI, till: Till, session: AsyncSession
) -> None:
    card = await issue(till.client, till.headers, 30.00)
    side = await priced_product(session, till.world.a1, price=500, name="Side")
    orders = [await open_order(till.client, till.headers, [(side, 1)]) for _ in range(10)]

    async with make_client(app) as other:
        responses = await asyncio.gather(
            *(
                (other if n % 2 else till.client).post(
                    f"/api/payments/{REDEEM}",
                    json={"orderId": order["id"], "code": card["code"], "amount": 5.00},
                    headers=till.headers,
                )
                for n, order in enumerate(orders)
            )
        )

    codes = [r.status_code for r in responses]
    assert codes.count(201) == 6, [r.text for r in responses]  # 6 x 5.00 = 30.00
    refused = {r.json()["error"]["code"] for r in responses if r.status_code != 201}
    assert refused == {"insufficient_gift_card_balance"}, refused

    await assert_ledger_matches(session, card["id"], 0)
    ledger = await entries(session, card["id"])
    afters = sorted(e.balance_after_minor for e in ledger)
    assert afters == [0, 500, 1_000, 1_500, 2_000, 2_500, 3_000]  # each saw the one before
    assert all(e.amount_minor == -500 for e in ledger if e.kind == "redeem")
    payments = (await session.scalars(select(Payment))).all()
    assert len(payments) == 6
    assert {p.status for p in payments} == {"completed"}
    assert {e.payment_id for e in ledger if e.kind == "redeem"} == {p.id for p in payments}
    winners = {r.json()["data"]["orderId"] for r in responses if r.status_code == 201}
    stored = (
        await session.scalars(
            select(Order)
            .where(Order.id.in_([uuid.UUID(o["id"]) for o in orders]))
            .execution_options(populate_existing=True)
        )
    ).all()
    assert {str(o.id) for o in stored if o.payment_status == "paid"} == winners
    assert sum(o.paid_minor for o in stored) == 3_000
