"""Cards and wallets through Stripe end to end: our endpoints with the real adapter (the
official SDK) against the local fake of Stripe's API. Success, decline, 3-D Secure, a
timeout then a retry (one charge), webhooks: bad signature, redelivered, out of order."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models import Payment, PaymentProviderEvent
from fynlo.payments.providers.stripe import StripeProvider
from tests.payments.fakes.stripe_api import StripeFake, running_stripe_fake, webhook_headers
from tests.payments.support import Till, error_of, fields_of, order_of
from tests.world import World

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

API_KEY = "sk_test_fynlo_flow"
WEBHOOK_SECRET = "whsec_test_fynlo_flow"


@pytest.fixture
async def fake(app: Any) -> AsyncIterator[StripeFake]:
    providers = app.state.runtime.payment_providers
    previous = providers.card
    async with running_stripe_fake(API_KEY) as server:
        provider = StripeProvider(API_KEY, WEBHOOK_SECRET, base_url=server.url, timeout=1.0)
        providers.card = provider
        try:
            yield server
        finally:
            providers.card = previous
            await provider.aclose()


@pytest.fixture
async def till(
    client: httpx.AsyncClient, session: AsyncSession, world: World, fake: StripeFake
) -> Till:
    return await Till.build(client, session, world, role="cashier")


def card(order_id: str, method: str = "pm_card_visa", **extra: Any) -> dict[str, Any]:
    return {"orderId": order_id, "paymentMethodId": method, **extra}


async def test_a_card_payment_pays_the_order_with_fee_and_card_details(
    till: Till, fake: StripeFake
) -> None:
    order = await till.order()  # 25.00
    response = await till.pay("stripe/process", card(order["id"], tipAmount=2.00))
    assert response.status_code == 201, response.text
    paid = response.json()["data"]
    assert (paid["status"], paid["orderPaymentStatus"]) == ("completed", "paid")
    assert (paid["cardBrand"], paid["last4Digits"]) == ("visa", "4242")
    # 2.9 % of 27.00 = 0.783 -> 0.78, plus 0.30
    assert (paid["feeAmount"], paid["netAmount"]) == (1.08, 25.92)
    (intent,) = fake.payment_intents.values()
    assert (intent["amount"], intent["currency"]) == (2700, "gbp")
    assert intent["metadata"]["orderId"] == order["id"]
    assert paid["transactionId"] == intent["id"]


async def test_a_decline_is_402_and_the_attempt_is_kept(till: Till, session: AsyncSession) -> None:
    order = await till.order()
    response = await till.pay("stripe/process", card(order["id"], "pm_card_chargeDeclined"))
    error = error_of(response, 402, "payment_declined")
    assert error["details"]["declineCode"] == "card_declined"
    await session.commit()
    failed = await session.scalar(select(Payment))
    assert failed is not None
    assert (failed.status, failed.failure_code, failed.is_refundable) == (
        "failed",
        "card_declined",
        False,
    )
    assert (await order_of(till.client, till.headers, order["id"]))["paymentStatus"] == "unpaid"
    # The order can still be paid another way.
    retry = await till.pay("stripe/process", card(order["id"]))
    assert retry.json()["data"]["orderPaymentStatus"] == "paid"


async def test_three_d_secure_is_handed_back_then_completed_by_refresh(
    till: Till, fake: StripeFake
) -> None:
    order = await till.order()
    response = await till.pay("stripe/process", card(order["id"], "pm_card_threeDSecure2Required"))
    assert response.status_code == 201, response.text
    pending = response.json()["data"]
    assert pending["status"] == "requires_action"
    assert pending["requiresAction"] is True
    assert pending["clientSecret"].startswith("pi_")
    assert pending["nextAction"]["type"] == "use_stripe_sdk"
    # While 3-D Secure is pending its amount is held: no second full tender.
    held = await till.pay("cash/process", {"orderId": order["id"], "cashReceived": 30})
    assert error_of(held, 409, "overpayment")["details"]["heldByPaymentsInProgress"] == 25.0
    fake.authenticate(pending["transactionId"])
    refreshed = await till.pay(f"{pending['id']}/refresh", {})
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["data"]["status"] == "completed"
    assert refreshed.json()["data"]["clientSecret"] is None
    assert (await order_of(till.client, till.headers, order["id"]))["paymentStatus"] == "paid"


async def test_three_d_secure_completed_by_the_webhook_three_times_one_effect(
    till: Till, fake: StripeFake, session: AsyncSession
) -> None:
    order = await till.order()
    pending = (
        await till.pay("stripe/process", card(order["id"], "pm_card_authenticationRequired"))
    ).json()["data"]
    intent = fake.authenticate(pending["transactionId"])
    body, headers = fake.webhook("payment_intent.succeeded", intent, secret=WEBHOOK_SECRET)
    outcomes = []
    for _ in range(3):
        hook = await till.client.post(
            "/api/payments/webhooks/stripe", content=body, headers=headers
        )
        assert hook.status_code == 200, hook.text
        outcomes.append(hook.json()["data"]["outcome"])
    assert outcomes == ["applied", "duplicate", "duplicate"]
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(PaymentProviderEvent)) == 1
    payment = await session.scalar(select(Payment))
    assert payment is not None
    assert (payment.status, payment.amount_minor) == ("completed", 2500)
    assert (await order_of(till.client, till.headers, order["id"]))["paymentStatus"] == "paid"


async def test_a_timeout_then_a_retry_with_the_same_key_charges_once(
    till: Till, fake: StripeFake, session: AsyncSession
) -> None:
    order = await till.order()
    fake.delay_next(2.5)  # Stripe charges, but answers after our 1 s timeout
    first = await till.pay("stripe/process", card(order["id"]), key="till-1-card-1")
    error = error_of(first, 503, "payment_provider_unavailable")
    assert "Idempotency-Key" in error["message"]
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(Payment)) == 0
    retry = await till.pay("stripe/process", card(order["id"]), key="till-1-card-1")
    assert retry.status_code == 201, retry.text
    assert retry.json()["data"]["status"] == "completed"
    assert fake.created_count == 1
    assert fake.replayed >= 1


async def test_a_provider_error_answers_503_and_leaves_nothing(
    till: Till, fake: StripeFake, session: AsyncSession
) -> None:
    order = await till.order()
    fake.fail_next(500)
    response = await till.pay("stripe/process", card(order["id"]))
    error_of(response, 503, "payment_provider_unavailable")
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(Payment)) == 0


async def test_a_webhook_with_a_bad_signature_is_400_and_changes_nothing(
    till: Till, fake: StripeFake, session: AsyncSession
) -> None:
    order = await till.order()
    pending = (
        await till.pay("stripe/process", card(order["id"], "pm_card_threeDSecure2Required"))
    ).json()["data"]
    intent = fake.authenticate(pending["transactionId"])
    body, _ = fake.webhook("payment_intent.succeeded", intent, secret=WEBHOOK_SECRET)
    forged = webhook_headers(body, "whsec_someone_else")
    response = await till.client.post("/api/payments/webhooks/stripe", content=body, headers=forged)
    error_of(response, 400, "invalid_signature")
    tampered_body = body.replace(b'"amount": 2500', b'"amount": 1')
    _, good_headers = fake.webhook("payment_intent.succeeded", intent, secret=WEBHOOK_SECRET)
    response = await till.client.post(
        "/api/payments/webhooks/stripe", content=tampered_body, headers=good_headers
    )
    error_of(response, 400, "invalid_signature")
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(PaymentProviderEvent)) == 0
    payment = await session.scalar(select(Payment))
    assert payment is not None
    assert payment.status == "requires_action"


async def test_an_out_of_order_failure_after_success_is_stale(
    till: Till, fake: StripeFake, session: AsyncSession
) -> None:
    order = await till.order()
    pending = (
        await till.pay("stripe/process", card(order["id"], "pm_card_threeDSecure2Required"))
    ).json()["data"]
    intent_id = pending["transactionId"]
    # The failure of the first authentication attempt, sent earlier but delivered last.
    failed_event = fake.event("payment_intent.payment_failed", fake.payment_intents[intent_id])
    failed_event["created"] -= 60
    intent = fake.authenticate(intent_id)
    body, headers = fake.webhook("payment_intent.succeeded", intent, secret=WEBHOOK_SECRET)
    applied = await till.client.post("/api/payments/webhooks/stripe", content=body, headers=headers)
    assert applied.json()["data"]["outcome"] == "applied"
    late_body = json.dumps(failed_event).encode()
    late = await till.client.post(
        "/api/payments/webhooks/stripe",
        content=late_body,
        headers=webhook_headers(late_body, WEBHOOK_SECRET),
    )
    assert late.json()["data"]["outcome"] == "stale"
    await session.commit()
    payment = await session.scalar(select(Payment))
    assert payment is not None
    assert payment.status == "completed"


async def test_card_refund_goes_back_through_stripe_once_per_key(
    till: Till, fake: StripeFake, client: httpx.AsyncClient, world: World
) -> None:
    order = await till.order()
    paid = (await till.pay("stripe/process", card(order["id"]))).json()["data"]
    manager = Till(client, world, till.burger)
    from tests.world import login

    manager.headers = await login(client, world.users["manager"])
    body = {"amount": 5.00, "reason": "requested_by_customer"}
    first = await manager.pay(f"{paid['id']}/refund", body, key="refund-1")
    assert first.status_code == 201, first.text
    again = await manager.pay(f"{paid['id']}/refund", body, key="refund-1")
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    assert len(fake.refunds) == 1
    assert first.json()["data"]["providerRefundId"].startswith("re_")
    # Stripe reports the refund by webhook too: already booked, nothing more.
    charge = fake.charge_of(paid["transactionId"])
    hook_body, headers = fake.webhook("charge.refunded", charge, secret=WEBHOOK_SECRET)
    hook = await till.client.post(
        "/api/payments/webhooks/stripe", content=hook_body, headers=headers
    )
    assert hook.json()["data"]["outcome"] == "already_applied"


async def test_apple_pay_and_google_pay_go_through_stripe(till: Till) -> None:
    order = await till.order()
    apple = await till.pay(
        "applepay/process", {"orderId": order["id"], "amount": 10, "paymentData": "tok_visa"}
    )
    assert apple.status_code == 201, apple.text
    assert (apple.json()["data"]["method"], apple.json()["data"]["wallet"]) == (
        "applePay",
        "apple_pay",
    )
    google = await till.pay(
        "googlepay/process", {"orderId": order["id"], "paymentData": "tok_mastercard"}
    )
    assert google.status_code == 201, google.text
    assert google.json()["data"]["orderPaymentStatus"] == "paid"
    both = await till.pay(
        "applepay/process",
        {"orderId": order["id"], "paymentData": "tok_visa", "paymentMethodId": "pm_card_visa"},
    )
    error_of(both, 422, "validation_error")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"paymentMethodId": "card_123"}, "paymentMethodId"),
        ({}, "paymentMethodId"),
        ({"paymentMethodId": "pm_card_visa", "amount": "x"}, "amount"),
        ({"paymentMethodId": "pm_card_visa", "amount": 99999999}, "amount"),
    ],
)
async def test_bad_card_bodies_name_the_field(till: Till, body: dict[str, Any], field: str) -> None:
    order = await till.order()
    response = await till.pay("stripe/process", {"orderId": order["id"], **body})
    assert field in fields_of(error_of(response, 422, "validation_error"))


async def test_no_card_number_reaches_the_tables(till: Till, session: AsyncSession) -> None:
    order = await till.order()
    await till.pay("stripe/process", card(order["id"]))
    await session.commit()
    payment = await session.scalar(select(Payment))
    assert payment is not None
    stored = json.dumps([str(v) for v in payment.__dict__.values()])
    assert "4242424242424242" not in stored
    assert payment.last_4_digits == "4242"


async def test_a_given_up_card_payment_frees_the_balance_and_a_late_success_is_held(
    till: Till, fake: StripeFake, session: AsyncSession
) -> None:
    order = await till.order()
    pending = (
        await till.pay("stripe/process", card(order["id"], "pm_card_threeDSecure2Required"))
    ).json()["data"]
    cancelled = await till.pay(f"{pending['id']}/cancel", {})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["data"]["status"] == "cancelled"
    again = await till.pay(f"{pending['id']}/cancel", {})
    error_of(again, 409, "invalid_state_transition")
    # No longer held: cash can pay the whole order.
    cash = await till.pay(
        "cash/process", {"orderId": order["id"], "amount": 25.00, "cashReceived": 25.00}
    )
    assert cash.json()["data"]["orderPaymentStatus"] == "paid"
    # The customer finishes 3-D Secure anyway: the money is held for refund, not applied.
    intent = fake.authenticate(pending["transactionId"])
    body, headers = fake.webhook("payment_intent.succeeded", intent, secret=WEBHOOK_SECRET)
    hook = await till.client.post("/api/payments/webhooks/stripe", content=body, headers=headers)
    assert hook.json()["data"]["outcome"] == "held"
    await session.commit()
    late = await session.get(Payment, uuid.UUID(pending["id"]))
    assert late is not None
    assert late.status == "held"
    final = await order_of(till.client, till.headers, order["id"])
    assert final["paymentStatus"] == "paid"
