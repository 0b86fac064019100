"""Money under concurrency, on both databases (row locks on PostgreSQL, the write lock on
SQLite): one payment per Idempotency-Key, no overpaid order, no over-refund, one final state
for a QR confirmation racing its expiry."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.db.types import utc_now
from fynlo.models import Order, Payment, PaymentRefund, QrPayment
from fynlo.payments.providers.sandbox_bank import SandboxBank
from fynlo.payments.tasks import sweep_qr_payments
from tests.conftest import make_client
from tests.payments.support import Till
from tests.world import World


@pytest.fixture
async def till(client: httpx.AsyncClient, session: AsyncSession, world: World) -> Till:
    return await Till.build(client, session, world)


async def test_fifty_identical_requests_with_one_key_make_one_payment(
    app: FastAPI, till: Till, session: AsyncSession
) -> None:
    order = await till.order()
    body = {"orderId": order["id"], "amount": 25.00, "cashReceived": 30.00}
    headers = {**till.headers, "Idempotency-Key": "till-3-pay-1"}
    async with make_client(app) as other:
        responses = await asyncio.gather(
            *(
                (other if n % 2 else till.client).post(
                    "/api/payments/cash/process", json=body, headers=headers
                )
                for n in range(50)
            )
        )
    codes = [r.status_code for r in responses]
    assert set(codes) <= {201, 409}, codes
    ids = {r.json()["data"]["id"] for r in responses if r.status_code == 201}
    assert len(ids) == 1
    busy = [r.json()["error"]["code"] for r in responses if r.status_code == 409]
    assert set(busy) <= {"idempotency_key_in_progress"}
    assert await session.scalar(select(func.count()).select_from(Payment)) == 1
    replay = await till.client.post("/api/payments/cash/process", json=body, headers=headers)
    assert replay.status_code == 201
    assert replay.json()["data"]["id"] in ids
    assert replay.headers["Idempotent-Replayed"] == "true"


async def test_twenty_different_payments_never_overpay_the_order(
    app: FastAPI, till: Till, session: AsyncSession
) -> None:
    order = await till.order()  # 25.00; twenty tenders of 5.00 race for it
    body = {"orderId": order["id"], "amount": 5.00, "cashReceived": 5.00}
    async with make_client(app) as other:
        responses = await asyncio.gather(
            *(
                (other if n % 2 else till.client).post(
                    "/api/payments/cash/process", json=body, headers=till.headers
                )
                for n in range(20)
            )
        )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 5, codes
    refused = {r.json()["error"]["code"] for r in responses if r.status_code != 201}
    assert refused <= {"overpayment", "order_not_payable"}, refused
    paid = await session.scalar(
        select(func.sum(Payment.amount_minor)).where(Payment.status == "completed")
    )
    assert paid == 2500
    stored = await session.scalar(select(Order).where(Order.id == uuid.UUID(order["id"])))
    assert stored is not None
    await session.refresh(stored)
    assert (stored.paid_minor, stored.payment_status) == (2500, "paid")


async def test_concurrent_refunds_never_return_more_than_was_paid(
    app: FastAPI, till: Till, session: AsyncSession
) -> None:
    order = await till.order()
    paid = await till.cash(order["id"], 25.00, 25.00)
    body = {"amount": 4.00, "reason": "race"}
    async with make_client(app) as other:
        responses = await asyncio.gather(
            *(
                (other if n % 2 else till.client).post(
                    f"/api/payments/{paid['id']}/refund", json=body, headers=till.headers
                )
                for n in range(10)
            )
        )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 6, codes  # 6 x 4.00 = 24.00 of 25.00; the rest refused
    refused = {r.json()["error"]["code"] for r in responses if r.status_code != 201}
    assert refused == {"refund_exceeds_payment"}
    refunded = await session.scalar(select(func.sum(PaymentRefund.amount_minor)))
    assert refunded == 2400
    payment = await session.get(Payment, uuid.UUID(paid["id"]))
    assert payment is not None
    await session.refresh(payment)
    assert payment.refunded_minor == 2400


async def test_a_qr_confirmation_racing_its_expiry_ends_in_one_state(
    app: FastAPI, till: Till, session: AsyncSession
) -> None:
    runtime = app.state.runtime
    bank = runtime.payment_providers.bank
    assert isinstance(bank, SandboxBank)
    for _ in range(5):
        order = await till.order()
        response = await till.pay("qr/generate", {"orderId": order["id"]})
        qr_id = response.json()["data"]["qrPaymentId"]
        await session.commit()  # a fresh snapshot on SQLite
        qr = await session.get(QrPayment, uuid.UUID(qr_id))
        assert qr is not None
        assert qr.provider_payment_id is not None
        await session.execute(
            update(QrPayment)
            .where(QrPayment.id == qr.id)
            .values(expires_at=utc_now() - timedelta(milliseconds=1))
        )
        await session.commit()
        body, headers = bank.decide(qr.provider_payment_id, approve=True)
        webhook, _ = await asyncio.gather(
            till.client.post("/api/payments/webhooks/bank", content=body, headers=headers),
            sweep_qr_payments(runtime.sessionmaker, runtime.settings, runtime.payment_providers),
        )
        assert webhook.status_code == 200, webhook.text
        await session.commit()  # a fresh snapshot on SQLite
        await session.refresh(qr)
        payments = (
            await session.scalars(select(Payment).where(Payment.qr_payment_id == qr.id))
        ).all()
        assert len(payments) == 1  # confirmed once, whichever came first
        # Expired first then accepted late, or confirmed first: either way completed, paid.
        assert qr.status == "completed"
        assert payments[0].status == "completed"
        stored = await session.get(Order, uuid.UUID(order["id"]))
        assert stored is not None
        await session.refresh(stored)
        assert stored.paid_minor == 2500
