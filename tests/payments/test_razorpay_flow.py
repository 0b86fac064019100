"""UPI through Razorpay end to end: our endpoints with the real adapter (the official SDK)
against the local fake of Razorpay's API, for an INR restaurant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models import Payment
from fynlo.payments.providers.razorpay import RazorpayProvider
from tests.payments.fakes.razorpay_api import RazorpayFake, running_razorpay_fake
from tests.payments.support import Till, error_of, order_of
from tests.world import World

KEY_ID = "rzp_test_FynloKey00001"
KEY_SECRET = "test-razorpay-key-secret"
WEBHOOK_SECRET = "test-razorpay-webhook-secret"


@pytest.fixture
async def fake(app: Any) -> AsyncIterator[RazorpayFake]:
    providers = app.state.runtime.payment_providers
    previous = providers.upi
    async with running_razorpay_fake(KEY_ID, KEY_SECRET) as server:
        providers.upi = RazorpayProvider(
            KEY_ID, KEY_SECRET, WEBHOOK_SECRET, base_url=server.url, timeout=2.0
        )
        try:
            yield server
        finally:
            providers.upi = previous


@pytest.fixture
async def till(
    client: httpx.AsyncClient, session: AsyncSession, world: World, fake: RazorpayFake
) -> Till:
    world.a1.currency = "INR"
    await session.commit()
    return await Till.build(client, session, world)


async def checkout(till: Till, order_id: str) -> dict[str, Any]:
    response = await till.pay("razorpay/order", {"orderId": order_id})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def test_upi_order_checkout_verify_pays_the_order(
    till: Till, fake: RazorpayFake, session: AsyncSession
) -> None:
    order = await till.order()  # 2 x 12.50 INR
    created = await checkout(till, order["id"])
    assert (created["amountMinor"], created["currency"], created["keyId"]) == (2500, "INR", KEY_ID)
    assert created["payment"]["status"] == "processing"
    assert created["payment"]["feeAmount"] == 0.5  # 2 % of 25.00
    paid = fake.pay(created["razorpayOrderId"])
    response = await till.pay(
        "razorpay/verify",
        {
            "paymentId": created["payment"]["id"],
            "razorpayOrderId": paid["razorpay_order_id"],
            "razorpayPaymentId": paid["razorpay_payment_id"],
            "razorpaySignature": paid["razorpay_signature"],
        },
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["status"], data["orderPaymentStatus"]) == ("completed", "paid")
    assert (await order_of(till.client, till.headers, order["id"]))["paymentStatus"] == "paid"
    # The webhook for the same capture arrives afterwards: one effect only.
    payment = fake.payments[paid["razorpay_payment_id"]]
    body, headers = fake.webhook("payment.captured", payment, secret=WEBHOOK_SECRET)
    hook = await till.client.post("/api/payments/webhooks/razorpay", content=body, headers=headers)
    assert hook.json()["data"]["outcome"] == "already_applied"
    assert await session.scalar(select(func.count()).select_from(Payment)) == 1


async def test_a_forged_checkout_signature_is_refused(till: Till, fake: RazorpayFake) -> None:
    order = await till.order()
    created = await checkout(till, order["id"])
    paid = fake.pay(created["razorpayOrderId"])
    response = await till.pay(
        "razorpay/verify",
        {
            "paymentId": created["payment"]["id"],
            "razorpayOrderId": paid["razorpay_order_id"],
            "razorpayPaymentId": paid["razorpay_payment_id"],
            "razorpaySignature": "0" * 64,
        },
    )
    assert error_of(response, 422, "validation_error")["details"][0]["field"] == (
        "razorpaySignature"
    )
    assert (await order_of(till.client, till.headers, order["id"]))["paymentStatus"] == "unpaid"


async def test_the_webhook_alone_completes_a_payment_and_refunds_go_back(
    till: Till, fake: RazorpayFake
) -> None:
    order = await till.order()
    created = await checkout(till, order["id"])
    paid = fake.pay(created["razorpayOrderId"])
    payment = fake.payments[paid["razorpay_payment_id"]]
    body, headers = fake.webhook("payment.captured", payment, secret=WEBHOOK_SECRET)
    hook = await till.client.post("/api/payments/webhooks/razorpay", content=body, headers=headers)
    assert hook.json()["data"]["outcome"] == "applied", hook.text
    refund = await till.pay(
        f"{created['payment']['id']}/refund", {"amount": 5.00, "reason": "short"}
    )
    assert refund.status_code == 201, refund.text
    assert refund.json()["data"]["providerRefundId"].startswith("rfnd_")
    assert len(fake.refunds) == 1
    bad = await till.client.post(
        "/api/payments/webhooks/razorpay",
        content=body,
        headers={**headers, "X-Razorpay-Signature": "0" * 64},
    )
    error_of(bad, 400, "invalid_signature")


async def test_upi_is_refused_for_a_gbp_restaurant(
    client: httpx.AsyncClient, session: AsyncSession, world: World, fake: RazorpayFake
) -> None:
    till = await Till.build(client, session, world)
    order = await till.order()
    response = await till.pay("razorpay/order", {"orderId": order["id"]})
    error_of(response, 422, "payment_method_not_accepted")
