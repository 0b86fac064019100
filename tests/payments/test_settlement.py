"""The daily settlement over HTTP: per method and in total it matches the stored Payment and
PaymentRefund rows to the penny, counts a business day in the restaurant's own time zone,
and is refused to roles that may not read payments."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.kit.money import to_minor
from fynlo.models import Payment, PaymentRefund, QrPayment
from fynlo.payments import state
from fynlo.payments.providers.sandbox_bank import SandboxBank
from tests.payments.support import Till, error_of, fields_of, open_order, priced_product
from tests.world import World, login

SETTLEMENT = "/api/payments/settlement"
FIELDS = ("count", "gross", "tips", "fees", "refunds", "net")


@pytest.fixture
async def till(client: httpx.AsyncClient, session: AsyncSession, world: World) -> Till:
    return await Till.build(client, session, world)


def bank(app: FastAPI) -> SandboxBank:
    provider = app.state.runtime.payment_providers.bank
    assert isinstance(provider, SandboxBank)
    return provider


async def settle(till: Till, day: date | str, headers: dict[str, str] | None = None) -> Any:
    response = await till.client.get(
        SETTLEMENT, params={"date": str(day)}, headers=headers or till.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def minor(line: dict[str, Any]) -> dict[str, int]:
    """A settlement line with its amounts back in pence (exactly, via Decimal)."""
    return {
        "count": line["count"],
        **{k: to_minor(Decimal(str(line[k])), "GBP") for k in FIELDS if k != "count"},
    }


async def pay_by_qr(
    till: Till, app: FastAPI, session: AsyncSession, order_id: str, **body: Any
) -> str:
    """Generate a QR code, approve it at the sandbox bank and deliver the bank's webhook."""
    response = await till.pay("qr/generate", {"orderId": order_id, **body})
    assert response.status_code == 201, response.text
    qr_id = response.json()["data"]["qrPaymentId"]
    await session.commit()  # a fresh snapshot on SQLite
    early = await session.scalar(
        select(Payment.id).where(Payment.qr_payment_id == uuid.UUID(qr_id))
    )
    assert early is None  # nothing is received until the bank says so
    qr = await session.get(QrPayment, uuid.UUID(qr_id))
    assert qr is not None
    assert qr.provider_payment_id is not None
    payload, headers = bank(app).decide(qr.provider_payment_id, approve=True)
    hook = await till.client.post("/api/payments/webhooks/bank", content=payload, headers=headers)
    assert hook.status_code == 200, hook.text
    assert hook.json()["data"]["outcome"] == "applied"
    await session.commit()
    payment_id = await session.scalar(
        select(Payment.id).where(Payment.qr_payment_id == uuid.UUID(qr_id))
    )
    assert payment_id is not None
    return str(payment_id)


async def refund(till: Till, payment_id: str, amount: float | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"reason": "settlement test"}
    if amount is not None:
        body["amount"] = amount
    response = await till.pay(f"{payment_id}/refund", body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def expected_from_rows(
    session: AsyncSession, restaurant_id: uuid.UUID, day: date, zone: str
) -> dict[str, dict[str, int]]:
    """The settlement recomputed independently from the stored rows: money received on the
    local day (completed, or held for refund) and refunds made on it."""
    await session.commit()
    tz = ZoneInfo(zone)
    lines: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))
    for p in await session.scalars(select(Payment).where(Payment.restaurant_id == restaurant_id)):
        received = p.completed_at or p.created_at
        if p.status not in state.CAPTURED | state.APPLIED or received.astimezone(tz).date() != day:
            continue
        line = lines[p.method]
        line["count"] += 1
        line["gross"] += p.amount_minor + p.tip_minor
        line["tips"] += p.tip_minor
        line["fees"] += p.fee_minor
    for r in await session.scalars(
        select(PaymentRefund).where(PaymentRefund.restaurant_id == restaurant_id)
    ):
        if r.status == "completed" and r.created_at.astimezone(tz).date() == day:
            lines[r.method]["refunds"] += r.amount_minor
    for line in lines.values():
        line["net"] = line["gross"] - line["fees"] - line["refunds"]
    return dict(lines)


def assert_matches_rows(data: dict[str, Any], expected: dict[str, dict[str, int]]) -> None:
    assert [m["method"] for m in data["methods"]] == sorted(expected)
    assert {m["method"]: minor(m) for m in data["methods"]} == expected
    totals = {k: sum(line[k] for line in expected.values()) for k in FIELDS}
    assert data["totals"]["method"] == "all"
    assert minor(data["totals"]) == totals


async def local_day(session: AsyncSession, payment_id: str, zone: str) -> date:
    await session.commit()
    completed = await session.scalar(
        select(Payment.completed_at).where(Payment.id == uuid.UUID(payment_id))
    )
    assert completed is not None
    return completed.astimezone(ZoneInfo(zone)).date()


# --- a day's takings --------------------------------------------------------------------


async def test_a_day_matches_the_stored_payments_to_the_penny(
    till: Till, app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    their_product = await priced_product(session, world.b)
    cash = await till.cash((await till.order())["id"], 25.00, 30.00, tipAmount=2.00)
    assert cash["change"] == 3.0
    qr_payment = await pay_by_qr(till, app, session, (await till.order())["id"], tipAmount=1.00)
    await refund(till, cash["id"], 10.00)
    await refund(till, qr_payment, 5.00)
    # Neither a QR code still waiting for the customer nor another restaurant's takings count.
    unpaid = await till.pay("qr/generate", {"orderId": (await till.order())["id"]})
    assert unpaid.status_code == 201, unpaid.text
    theirs = await login(client, world.other_manager)
    their_order = await open_order(client, theirs, [(their_product, 1)])
    their_cash = await client.post(
        "/api/payments/cash/process",
        json={"orderId": their_order["id"], "amount": 12.50, "cashReceived": 12.50},
        headers=theirs,
    )
    assert their_cash.status_code == 201, their_cash.text

    day = await local_day(session, cash["id"], "Europe/London")
    data = await settle(till, day)

    assert (data["date"], data["currency"], data["timeZone"]) == (
        day.isoformat(),
        "GBP",
        "Europe/London",
    )
    lines = {m["method"]: m for m in data["methods"]}
    # By hand: cash 25.00 + 2.00 tip, 10.00 refunded, no fee.
    assert {k: lines["cash"][k] for k in FIELDS} == {
        "count": 1,
        "gross": 27.0,
        "tips": 2.0,
        "fees": 0.0,
        "refunds": 10.0,
        "net": 17.0,
    }
    # QR 25.00 + 1.00 tip: 1.2 % of 26.00 = 0.312, so 0.31; 5.00 refunded.
    assert {k: lines["qrCode"][k] for k in FIELDS} == {
        "count": 1,
        "gross": 26.0,
        "tips": 1.0,
        "fees": 0.31,
        "refunds": 5.0,
        "net": 20.69,
    }
    assert {k: data["totals"][k] for k in FIELDS} == {
        "count": 2,
        "gross": 53.0,
        "tips": 3.0,
        "fees": 0.31,
        "refunds": 15.0,
        "net": 37.69,
    }
    # And the same figures summed independently from the stored rows.
    assert_matches_rows(data, await expected_from_rows(session, world.a1.id, day, "Europe/London"))

    their_day = await settle(till, day, headers=theirs)
    assert [(m["method"], m["count"], m["gross"]) for m in their_day["methods"]] == [
        ("cash", 1, 12.5)
    ]


async def test_every_penny_of_many_payments_is_accounted_for(
    till: Till, session: AsyncSession, world: World
) -> None:
    """Odd amounts, split bills, tips and refunds: the settlement still equals the rows."""
    odd = await priced_product(session, world.a1, price=1_001, name="Odd")
    for quantity, shares in ((1, 3), (2, 7), (3, 2)):
        order = await open_order(till.client, till.headers, [(odd, quantity)])
        for n in range(shares):
            response = await till.pay(
                "cash/process",
                {
                    "orderId": order["id"],
                    "cashReceived": 100,
                    "tipAmount": round(0.07 * n, 2),
                    "split": {"type": "equal", "shares": shares},
                },
            )
            assert response.status_code == 201, response.text
            if n == 1:
                await refund(till, response.json()["data"]["id"], 0.01)
    await session.commit()
    first = await session.scalar(select(Payment.id).order_by(Payment.created_at))
    day = await local_day(session, str(first), "Europe/London")

    data = await settle(till, day)

    expected = await expected_from_rows(session, world.a1.id, day, "Europe/London")
    assert_matches_rows(data, expected)
    assert expected["cash"]["count"] == 12
    assert expected["cash"]["gross"] - expected["cash"]["tips"] == 1_001 * 6  # the orders
    assert expected["cash"]["refunds"] == 3


async def test_another_day_is_empty(till: Till, session: AsyncSession) -> None:
    paid = await till.cash((await till.order())["id"], 25.00, 25.00)
    day = await local_day(session, paid["id"], "Europe/London")
    assert (await settle(till, day))["totals"]["count"] == 1

    for other in (day - timedelta(days=1), day + timedelta(days=1), date(2000, 1, 1)):
        data = await settle(till, other)
        assert data["date"] == other.isoformat()
        assert data["methods"] == []
        assert {k: data["totals"][k] for k in FIELDS} == dict.fromkeys(FIELDS, 0)


async def test_a_payment_held_for_refund_counts_as_received(
    till: Till, app: FastAPI, session: AsyncSession, world: World
) -> None:
    """Paid twice (QR approved late, cash meanwhile): both sums reached the restaurant, so
    both are settled, and the refund of the held one shows on its method."""
    order = await till.order()
    response = await till.pay("qr/generate", {"orderId": order["id"]})
    qr_id = uuid.UUID(response.json()["data"]["qrPaymentId"])
    await session.commit()
    qr = await session.get(QrPayment, qr_id)
    assert qr is not None
    assert qr.provider_payment_id is not None
    payload, headers = bank(app).decide(qr.provider_payment_id, approve=True)
    await till.pay(f"qr/{qr_id}/cancel", {})
    cash = await till.cash(order["id"], 25.00, 25.00)
    hook = await till.client.post("/api/payments/webhooks/bank", content=payload, headers=headers)
    assert hook.json()["data"]["outcome"] == "held"
    day = await local_day(session, cash["id"], "Europe/London")

    held = await settle(till, day)
    assert [(m["method"], m["count"], m["gross"], m["refunds"]) for m in held["methods"]] == [
        ("cash", 1, 25.0, 0.0),
        ("qrCode", 1, 25.0, 0.0),
    ]
    assert_matches_rows(held, await expected_from_rows(session, world.a1.id, day, "Europe/London"))

    held_id = await session.scalar(select(Payment.id).where(Payment.status == "held"))
    await refund(till, str(held_id))
    after = await settle(till, day)
    lines = {m["method"]: m for m in after["methods"]}
    assert (lines["qrCode"]["refunds"], lines["qrCode"]["net"]) == (25.0, -0.3)  # its fee stays
    assert after["totals"]["net"] == 24.7
    assert_matches_rows(after, await expected_from_rows(session, world.a1.id, day, "Europe/London"))


# --- the restaurant's time zone ---------------------------------------------------------


async def pin(
    session: AsyncSession, payment_id: str, completed_at: datetime, *, refund_at: datetime | None
) -> None:
    """Move a payment (and its refunds) to a chosen instant, to test the day's edges."""
    await session.execute(
        update(Payment).where(Payment.id == uuid.UUID(payment_id)).values(completed_at=completed_at)
    )
    if refund_at is not None:
        await session.execute(
            update(PaymentRefund)
            .where(PaymentRefund.payment_id == uuid.UUID(payment_id))
            .values(created_at=refund_at)
        )
    await session.commit()


async def test_a_payment_lands_on_the_restaurants_local_date(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    world.a1.timezone = "Pacific/Auckland"
    await session.commit()
    till = await Till.build(client, session, world)
    paid = await till.cash((await till.order())["id"], 25.00, 25.00)

    today = await local_day(session, paid["id"], "Pacific/Auckland")
    data = await settle(till, today)
    assert data["timeZone"] == "Pacific/Auckland"
    assert data["totals"]["count"] == 1
    assert_matches_rows(
        data, await expected_from_rows(session, world.a1.id, today, "Pacific/Auckland")
    )
    for other in (today - timedelta(days=1), today + timedelta(days=1)):
        assert (await settle(till, other))["methods"] == []


async def test_the_days_edges_are_local_midnights(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    world.a1.timezone = "Pacific/Auckland"  # UTC+13 in January
    await session.commit()
    till = await Till.build(client, session, world)
    late = await till.cash((await till.order())["id"], 25.00, 25.00)
    early = await till.cash((await till.order(quantity=1))["id"], 12.50, 12.50)
    await refund(till, early["id"], 5.00)
    # 23:59:59.999999 on the 15th and 00:00:00 on the 16th, Auckland time; both on the
    # 15th in UTC. The refund is made at 00:30 on the 17th, Auckland time.
    await pin(session, late["id"], datetime(2025, 1, 15, 10, 59, 59, 999_999, UTC), refund_at=None)
    await pin(
        session,
        early["id"],
        datetime(2025, 1, 15, 11, 0, tzinfo=UTC),
        refund_at=datetime(2025, 1, 16, 11, 30, tzinfo=UTC),
    )

    fifteenth = await settle(till, "2025-01-15")
    assert [(m["method"], m["count"], m["gross"]) for m in fifteenth["methods"]] == [
        ("cash", 1, 25.0)
    ]
    sixteenth = await settle(till, "2025-01-16")
    assert [(m["method"], m["count"], m["gross"], m["refunds"]) for m in sixteenth["methods"]] == [
        ("cash", 1, 12.5, 0.0)
    ]
    seventeenth = await settle(till, "2025-01-17")  # money out, none in: a negative net
    assert [(m["count"], m["gross"], m["refunds"], m["net"]) for m in seventeenth["methods"]] == [
        (0, 0.0, 5.0, -5.0)
    ]
    assert (await settle(till, "2025-01-14"))["methods"] == []
    for day in (date(2025, 1, 15), date(2025, 1, 16), date(2025, 1, 17)):
        data = await settle(till, day)
        assert_matches_rows(
            data, await expected_from_rows(session, world.a1.id, day, "Pacific/Auckland")
        )


async def test_a_day_when_the_clocks_go_back_has_twenty_five_hours(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    """New Zealand summer time ended at 03:00 on Sunday 6 April 2025: that local day ran from
    11:00 UTC on the 5th to 12:00 UTC on the 6th."""
    world.a1.timezone = "Pacific/Auckland"
    await session.commit()
    till = await Till.build(client, session, world)
    last_hour = await till.cash((await till.order())["id"], 25.00, 25.00)
    next_day = await till.cash((await till.order(quantity=1))["id"], 12.50, 12.50)
    await pin(session, last_hour["id"], datetime(2025, 4, 6, 11, 30, tzinfo=UTC), refund_at=None)
    await pin(session, next_day["id"], datetime(2025, 4, 6, 12, 0, tzinfo=UTC), refund_at=None)

    sixth = await settle(till, "2025-04-06")
    assert [(m["count"], m["gross"]) for m in sixth["methods"]] == [(1, 25.0)]  # 23:30 NZST
    seventh = await settle(till, "2025-04-07")
    assert [(m["count"], m["gross"]) for m in seventh["methods"]] == [(1, 12.5)]  # 00:00 NZST


async def test_london_summer_time_moves_a_late_payment_to_the_next_day(
    till: Till, session: AsyncSession
) -> None:
    paid = await till.cash((await till.order())["id"], 25.00, 25.00)
    await pin(session, paid["id"], datetime(2025, 6, 30, 23, 30, tzinfo=UTC), refund_at=None)
    assert (await settle(till, "2025-06-30"))["methods"] == []
    assert (await settle(till, "2025-07-01"))["totals"]["gross"] == 25.0  # 00:30 BST


# --- access and validation --------------------------------------------------------------


@pytest.mark.parametrize("role", ["waiter", "kitchen_staff", "employee"])
async def test_roles_without_payments_read_are_refused(till: Till, role: str) -> None:
    await till.cash((await till.order())["id"], 25.00, 25.00)
    headers = await login(till.client, till.world.users[role])
    response = await till.client.get(SETTLEMENT, params={"date": "2025-01-15"}, headers=headers)
    error = error_of(response, 403, "permission_denied")
    assert error["details"]["permission"] == "payments.read"
    assert "methods" not in response.text


@pytest.mark.parametrize("role", ["cashier", "captain"])
async def test_roles_that_read_payments_may_settle(till: Till, role: str) -> None:
    headers = await login(till.client, till.world.users[role])
    data = await settle(till, "2025-01-15", headers=headers)
    assert data["methods"] == []


async def test_without_a_token_it_is_401(till: Till) -> None:
    response = await till.client.get(SETTLEMENT, params={"date": "2025-01-15"})
    assert response.status_code == 401, response.text


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"date": ""},
        {"date": "yesterday"},
        {"date": "2025-13-01"},
        {"date": "2025-02-30"},
        {"date": "15/01/2025"},
        {"date": "2025-01-15T10:00:00Z"},
    ],
)
async def test_a_missing_or_invalid_date_is_named(till: Till, params: dict[str, str]) -> None:
    response = await till.client.get(SETTLEMENT, params=params, headers=till.headers)
    assert "date" in fields_of(error_of(response, 422, "validation_error"))
