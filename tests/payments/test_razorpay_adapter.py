"""The Razorpay adapter over the official SDK, against a local fake of Razorpay's HTTP API on
a real socket; and the in-process sandbox that stands in for Razorpay in the demo."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fynlo.payments.providers.base import (
    InvalidSignature,
    ProviderError,
    ProviderUnavailable,
    UpiProvider,
)
from fynlo.payments.providers.razorpay import RazorpayProvider, razorpay_key
from fynlo.payments.providers.sandbox_upi import SandboxUpiProvider
from tests.payments.fakes.razorpay_api import (
    RazorpayFake,
    running_razorpay_fake,
    sign_webhook,
    webhook_headers,
)

KEY_ID = "rzp_test_FynloKey00001"
KEY_SECRET = "test-razorpay-key-secret"
WEBHOOK_SECRET = "test-razorpay-webhook-secret"


@pytest.fixture
async def fake() -> AsyncIterator[RazorpayFake]:
    async with running_razorpay_fake(KEY_ID, KEY_SECRET) as server:
        yield server


@pytest.fixture
def provider(fake: RazorpayFake) -> RazorpayProvider:
    return RazorpayProvider(KEY_ID, KEY_SECRET, WEBHOOK_SECRET, base_url=fake.url, timeout=5.0)


async def new_order(provider: UpiProvider, amount: int = 45_000, key: str = "key-1") -> str:
    order = await provider.create_order(
        amount, "INR", receipt="bill-1042", notes={"orderNumber": "1042"}, idempotency_key=key
    )
    return order.provider_order_id


async def paid(
    provider: RazorpayProvider, fake: RazorpayFake, amount: int = 45_000, **pay: Any
) -> str:
    """An order paid through the fake's Checkout; returns the payment id."""
    order_id = await new_order(provider, amount, key=f"key-{time.monotonic_ns()}")
    return fake.pay(order_id, **pay)["razorpay_payment_id"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --------------------------------------------------------------------------- orders


async def test_create_order_sends_paise_receipt_and_notes(
    provider: RazorpayProvider, fake: RazorpayFake
) -> None:
    key = "fynlo:restaurant-1:client-key-7"  # not Razorpay's key shape: sent as a digest
    order = await provider.create_order(
        45_000, "inr", receipt="bill-1042", notes={"orderNumber": "1042"}, idempotency_key=key
    )

    assert order.provider_order_id.startswith("order_")
    assert (order.amount_minor, order.currency, order.status) == (45_000, "INR", "created")
    stored = fake.orders[order.provider_order_id]
    assert stored["amount"] == 45_000
    assert stored["amount_due"] == 45_000
    assert stored["currency"] == "INR"
    assert stored["receipt"] == razorpay_key(key)
    assert len(stored["receipt"]) <= 40
    assert stored["notes"] == {"orderNumber": "1042", "receipt": "bill-1042"}
    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/v1/orders")
    assert sent.body["payment_capture"] == 1
    assert sent.headers["Authorization"].startswith("Basic ")


async def test_create_order_retried_with_the_same_key_gives_the_same_order(
    provider: RazorpayProvider, fake: RazorpayFake
) -> None:
    first = await new_order(provider, key="retry-key-0001")
    second = await new_order(provider, key="retry-key-0001")
    other = await new_order(provider, key="retry-key-0002")

    assert first == second != other
    assert len(fake.orders) == 2


async def test_create_order_key_reused_for_another_amount_is_refused(
    provider: RazorpayProvider, fake: RazorpayFake
) -> None:
    await new_order(provider, 45_000, key="reused-key-001")
    with pytest.raises(ProviderError) as caught:
        await new_order(provider, 50_000, key="reused-key-001")
    assert caught.value.code == "idempotency_key_reused"
    assert len(fake.orders) == 1


async def test_create_order_below_one_rupee_is_refused(
    provider: RazorpayProvider, fake: RazorpayFake
) -> None:
    with pytest.raises(ProviderError) as caught:
        await new_order(provider, 99)
    assert not isinstance(caught.value, ProviderUnavailable)
    assert caught.value.code == "amount_less_than_minimum_amount"
    assert "at least INR 1.00" in caught.value.message
    assert fake.orders == {}


# --------------------------------------------------------------------------- checkout


async def test_paid_checkout_verifies_and_reads_succeeded(
    provider: RazorpayProvider, fake: RazorpayFake
) -> None:
    order_id = await new_order(provider)
    checkout = fake.pay(order_id)
    payment_id = checkout["razorpay_payment_id"]

    assert checkout["razorpay_order_id"] == order_id
    assert provider.verify_payment_signature(order_id, payment_id, checkout["razorpay_signature"])
    result = await provider.retrieve(payment_id)

    assert result.status == "succeeded"
    assert result.raw_status == "captured"
    assert result.provider_payment_id == payment_id
    assert (result.amount_minor, result.currency) == (45_000, "INR")
    assert result.card_brand is None
    assert result.last4 is None
    assert fake.payments[payment_id]["method"] == "upi"
    assert fake.requests[-1].query == {"expand[]": "card"}
    assert fake.orders[order_id]["status"] == "paid"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda o, p, s: (o, p, s[:-1] + ("0" if s[-1] != "0" else "1")),  # one hex digit
        lambda o, p, s: (o, "pay_SomeoneElse001", s),  # another payment
        lambda o, p, s: ("order_SomeoneElse1", p, s),  # another order
        lambda o, p, s: (o, p, s.upper()),  # not how Razorpay writes it
        lambda o, p, s: (o, p, ""),
        lambda o, p, s: (o, p, "é" * 64),  # not even ASCII: False, no exception
    ],
)
async def test_tampered_signature_does_not_verify(
    provider: RazorpayProvider, fake: RazorpayFake, tamper: Any
) -> None:
    order_id = await new_order(provider)
    checkout = fake.pay(order_id)
    args = (order_id, checkout["razorpay_payment_id"], checkout["razorpay_signature"])
    assert provider.verify_payment_signature(*args)
    assert provider.verify_payment_signature(*tamper(*args)) is False


async def test_card_payment_reads_brand_and_last4(
    provider: RazorpayProvider, fake: RazorpayFake
) -> None:
    result = await provider.retrieve(await paid(provider, fake, method="card"))
    assert result.status == "succeeded"
    assert (result.card_brand, result.last4) == ("visa", "1111")


async def test_failed_payment_reads_failed_with_its_reason(
    provider: RazorpayProvider, fake: RazorpayFake
) -> None:
    order_id = await new_order(provider)
    checkout = fake.pay(order_id, fail=True)
    assert "razorpay_signature" not in checkout

    result = await provider.retrieve(checkout["razorpay_payment_id"])
    assert result.status == "failed"
    assert result.raw_status == "failed"
    assert result.failure_code == "incorrect_pin"
    assert result.failure_message is not None
    assert "UPI PIN" in result.failure_message


async def test_authorized_payment_is_captured_on_retrieve(
    provider: RazorpayProvider, fake: RazorpayFake
) -> None:
    payment_id = await paid(provider, fake, capture=False)
    assert fake.payments[payment_id]["status"] == "authorized"

    result = await provider.retrieve(payment_id)

    assert result.status == "succeeded"
    assert result.raw_status == "captured"
    assert fake.payments[payment_id]["captured"] is True
    capture = next(r for r in fake.requests if r.path.endswith("/capture"))
    assert capture.body == {"amount": 45_000, "currency": "INR"}


async def test_authorized_payment_stays_processing_without_auto_capture(
    fake: RazorpayFake,
) -> None:
    provider = RazorpayProvider(
        KEY_ID, KEY_SECRET, WEBHOOK_SECRET, base_url=fake.url, capture_authorized=False
    )
    payment_id = await paid(provider, fake, capture=False)

    result = await provider.retrieve(payment_id)

    assert result.status == "processing"
    assert result.raw_status == "authorized"
    assert fake.payments[payment_id]["captured"] is False
    assert not any(r.path.endswith("/capture") for r in fake.requests)


async def test_unknown_payment_is_a_refusal(provider: RazorpayProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.retrieve("pay_DoesNotExist01")
    assert not isinstance(caught.value, ProviderUnavailable)
    assert caught.value.message == "The id provided does not exist"


# --------------------------------------------------------------------------- refunds


async def test_full_refund(provider: RazorpayProvider, fake: RazorpayFake) -> None:
    payment_id = await paid(provider, fake)

    refund = await provider.refund(
        payment_id, 45_000, idempotency_key="refund-key-full", reason="guest left"
    )

    assert refund.provider_refund_id.startswith("rfnd_")
    assert (refund.status, refund.amount_minor) == ("succeeded", 45_000)
    payment = fake.payments[payment_id]
    assert (payment["status"], payment["amount_refunded"]) == ("refunded", 45_000)
    sent = fake.requests[-1]
    assert sent.headers["X-Refund-Idempotency"] == "refund-key-full"
    assert sent.body == {
        "amount": 45_000,
        "receipt": "refund-key-full",
        "notes": {"reason": "guest left"},
    }
    assert (await provider.retrieve(payment_id)).raw_status == "refunded"


async def test_partial_refunds_then_over_refund_is_refused(
    provider: RazorpayProvider, fake: RazorpayFake
) -> None:
    payment_id = await paid(provider, fake)
    first = await provider.refund(payment_id, 10_000, idempotency_key="refund-key-0001")
    second = await provider.refund(payment_id, 30_000, idempotency_key="refund-key-0002")
    assert first.provider_refund_id != second.provider_refund_id
    assert fake.payments[payment_id]["status"] == "captured"  # partly refunded stays captured
    assert fake.payments[payment_id]["refund_status"] == "partial"

    with pytest.raises(ProviderError) as caught:
        await provider.refund(payment_id, 5_001, idempotency_key="refund-key-0003")

    assert not isinstance(caught.value, ProviderUnavailable)
    assert "greater than amount captured" in caught.value.message
    assert len(fake.refunds) == 2
    assert fake.payments[payment_id]["amount_refunded"] == 40_000


async def test_refund_of_a_failed_payment_is_refused(
    provider: RazorpayProvider, fake: RazorpayFake
) -> None:
    payment_id = await paid(provider, fake, fail=True)
    with pytest.raises(ProviderError, match="not been captured"):
        await provider.refund(payment_id, 45_000, idempotency_key="refund-key-fail")
    assert fake.refunds == {}


async def test_refund_retried_with_the_same_key_makes_one_refund(
    provider: RazorpayProvider, fake: RazorpayFake
) -> None:
    payment_id = await paid(provider, fake)
    key = "fynlo:refund:7f9c"  # hashed to Razorpay's shape, the same way both times

    first = await provider.refund(payment_id, 20_000, idempotency_key=key)
    again = await provider.refund(payment_id, 20_000, idempotency_key=key)

    assert again == first
    assert len(fake.refunds) == 1
    assert fake.payments[payment_id]["amount_refunded"] == 20_000
    assert fake.requests[-1].headers["X-Refund-Idempotency"] == razorpay_key(key)


async def test_refund_key_reused_for_another_amount_is_refused(
    provider: RazorpayProvider, fake: RazorpayFake
) -> None:
    payment_id = await paid(provider, fake)
    await provider.refund(payment_id, 20_000, idempotency_key="refund-key-0001")
    with pytest.raises(ProviderError, match="same idempotency key"):
        await provider.refund(payment_id, 25_000, idempotency_key="refund-key-0001")
    assert len(fake.refunds) == 1


# --------------------------------------------------------------------------- failures


async def test_timeout_is_unavailable_and_the_retry_finds_the_refund(
    fake: RazorpayFake,
) -> None:
    provider = RazorpayProvider(KEY_ID, KEY_SECRET, WEBHOOK_SECRET, base_url=fake.url, timeout=1.0)
    payment_id = await paid(provider, fake)
    fake.delay_next(2.5)

    started = time.monotonic()
    with pytest.raises(ProviderUnavailable):
        await provider.refund(payment_id, 45_000, idempotency_key="refund-timeout-1")
    assert time.monotonic() - started < 2.0  # gave up at its own timeout, before the answer
    assert len(fake.refunds) == 1  # ... although Razorpay did refund

    retried = await provider.refund(payment_id, 45_000, idempotency_key="refund-timeout-1")

    assert retried.provider_refund_id == next(iter(fake.refunds))
    assert len(fake.refunds) == 1
    assert fake.payments[payment_id]["amount_refunded"] == 45_000


async def test_timeout_on_retrieve_is_unavailable(fake: RazorpayFake) -> None:
    provider = RazorpayProvider(KEY_ID, KEY_SECRET, WEBHOOK_SECRET, base_url=fake.url, timeout=1.0)
    payment_id = await paid(provider, fake)
    fake.delay_next(2.5)
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.retrieve(payment_id)
    assert caught.value.code == "unavailable"


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_server_errors_are_unavailable(
    provider: RazorpayProvider, fake: RazorpayFake, status: int
) -> None:
    fake.fail_next(status)
    with pytest.raises(ProviderUnavailable):
        await new_order(provider)
    assert fake.orders == {}
    assert (await new_order(provider)).startswith("order_")  # the next call goes through


async def test_bad_credentials_are_a_refusal(fake: RazorpayFake) -> None:
    provider = RazorpayProvider(KEY_ID, "not-the-secret", WEBHOOK_SECRET, base_url=fake.url)
    with pytest.raises(ProviderError) as caught:
        await new_order(provider)
    assert type(caught.value) is ProviderError  # not ProviderUnavailable: a retry won't help
    assert caught.value.code == "authentication_failed"
    assert caught.value.message == "Authentication failed"
    assert fake.orders == {}


async def test_connection_refused_is_unavailable() -> None:
    provider = RazorpayProvider(
        KEY_ID, KEY_SECRET, WEBHOOK_SECRET, base_url=f"http://127.0.0.1:{_free_port()}"
    )
    with pytest.raises(ProviderUnavailable):
        await provider.retrieve("pay_Anything00001")


# --------------------------------------------------------------------------- webhooks


async def test_webhook_payment_captured(provider: RazorpayProvider, fake: RazorpayFake) -> None:
    payment_id = await paid(provider, fake, method="card")
    payment = fake.payments[payment_id]
    body, headers = fake.webhook("payment.captured", payment, secret=WEBHOOK_SECRET)

    event = provider.parse_webhook(body, headers)

    assert event.provider == "razorpay"
    assert event.event_id == headers["x-razorpay-event-id"]
    assert (event.event_type, event.kind) == ("payment.captured", "payment_succeeded")
    assert event.provider_payment_id == payment_id
    assert event.provider_order_id == payment["order_id"]
    assert (event.amount_minor, event.currency) == (45_000, "INR")
    assert (event.card_brand, event.last4) == ("visa", "1111")
    assert event.created == json.loads(body)["created_at"]
    assert event.payload["payload"]["payment"]["entity"]["id"] == payment_id


async def test_webhook_order_paid(provider: RazorpayProvider, fake: RazorpayFake) -> None:
    payment_id = await paid(provider, fake)
    body, headers = fake.webhook("order.paid", fake.payments[payment_id], secret=WEBHOOK_SECRET)

    event = provider.parse_webhook(body, headers)

    assert event.kind == "payment_succeeded"
    assert event.provider_order_id == fake.payments[payment_id]["order_id"]
    assert json.loads(body)["contains"] == ["payment", "order"]


async def test_webhook_payment_failed(provider: RazorpayProvider, fake: RazorpayFake) -> None:
    payment_id = await paid(provider, fake, fail=True)
    body, headers = fake.webhook("payment.failed", fake.payments[payment_id], secret=WEBHOOK_SECRET)

    event = provider.parse_webhook(body, headers)

    assert (event.kind, event.provider_payment_id) == ("payment_failed", payment_id)
    assert event.failure_code == "incorrect_pin"
    assert event.failure_message is not None
    assert "UPI PIN" in event.failure_message


async def test_webhook_refund_processed(provider: RazorpayProvider, fake: RazorpayFake) -> None:
    payment_id = await paid(provider, fake)
    refund = await provider.refund(payment_id, 15_000, idempotency_key="refund-key-hook")
    body, headers = fake.webhook(
        "refund.processed",
        fake.payments[payment_id],
        fake.refunds[refund.provider_refund_id],
        secret=WEBHOOK_SECRET,
    )

    event = provider.parse_webhook(body, headers)

    assert event.kind == "refunded"
    assert event.provider_payment_id == payment_id
    assert (event.amount_minor, event.amount_refunded_minor) == (45_000, 15_000)


async def test_webhook_other_events_are_other(
    provider: RazorpayProvider, fake: RazorpayFake
) -> None:
    payment_id = await paid(provider, fake, capture=False)
    body, headers = fake.webhook(
        "payment.authorized", fake.payments[payment_id], secret=WEBHOOK_SECRET
    )
    event = provider.parse_webhook(body, headers)
    assert (event.kind, event.provider_payment_id) == ("other", payment_id)


async def test_webhook_headers_any_case_and_event_id_fallback(
    provider: RazorpayProvider, fake: RazorpayFake
) -> None:
    payment_id = await paid(provider, fake)
    body = json.dumps(fake.event("payment.captured", fake.payments[payment_id])).encode()

    shouted = {"X-RAZORPAY-SIGNATURE": sign_webhook(body, WEBHOOK_SECRET)}
    first = provider.parse_webhook(body, shouted)
    second = provider.parse_webhook(body, {"x-razorpay-signature": shouted["X-RAZORPAY-SIGNATURE"]})
    with_id = provider.parse_webhook(body, webhook_headers(body, WEBHOOK_SECRET, event_id="E1"))

    assert first.event_id.startswith("sha256:")
    assert first.event_id == second.event_id
    assert with_id.event_id == "E1"
    assert first.provider_payment_id == payment_id


async def test_webhook_bad_signatures_are_rejected(
    provider: RazorpayProvider, fake: RazorpayFake
) -> None:
    payment_id = await paid(provider, fake)
    body, headers = fake.webhook(
        "payment.captured", fake.payments[payment_id], secret=WEBHOOK_SECRET
    )
    tampered = body.replace(b'"amount": 45000', b'"amount": 4500000', 1)
    assert tampered != body
    missing = {k: v for k, v in headers.items() if k.lower() != "x-razorpay-signature"}
    not_json = b"{not json"

    cases = [
        (tampered, headers),  # body changed after signing
        (body, missing),  # no signature at all
        (body, {**headers, "X-Razorpay-Signature": ""}),
        (body, {**headers, "X-Razorpay-Signature": sign_webhook(body, "another-secret")}),
        (body, {**headers, "X-Razorpay-Signature": sign_webhook(body, KEY_SECRET)}),  # key != wh
        (not_json, webhook_headers(not_json, WEBHOOK_SECRET)),  # signed, but not an event
        (b"[1, 2]", webhook_headers(b"[1, 2]", WEBHOOK_SECRET)),
    ]
    for raw, hdrs in cases:
        with pytest.raises(InvalidSignature):
            provider.parse_webhook(raw, hdrs)
    assert provider.parse_webhook(body, headers).kind == "payment_succeeded"


# --------------------------------------------------------------------------- the sandbox


@pytest.fixture
def sandbox() -> SandboxUpiProvider:
    return SandboxUpiProvider("sandbox-webhook-secret")


async def test_sandbox_checkout_verifies_and_succeeds(sandbox: SandboxUpiProvider) -> None:
    provider: UpiProvider = sandbox  # the same interface as Razorpay's adapter
    order_id = await new_order(provider, key="sbx-key-1")
    assert await new_order(provider, key="sbx-key-1") == order_id  # idempotent

    payment_id, signature = sandbox.pay(order_id)

    assert provider.verify_payment_signature(order_id, payment_id, signature)
    assert not provider.verify_payment_signature(order_id, payment_id, signature[::-1])
    result = await provider.retrieve(payment_id)
    assert (result.status, result.amount_minor, result.currency) == ("succeeded", 45_000, "INR")
    with pytest.raises(ProviderError):
        sandbox.pay(order_id)  # already paid


async def test_sandbox_failed_payment_and_minimum(sandbox: SandboxUpiProvider) -> None:
    payment_id, _ = sandbox.pay(await new_order(sandbox), fail=True)
    result = await sandbox.retrieve(payment_id)
    assert (result.status, result.failure_code) == ("failed", "incorrect_pin")
    with pytest.raises(ProviderError) as caught:
        await new_order(sandbox, 50, key="sbx-small")
    assert caught.value.code == "amount_less_than_minimum_amount"


async def test_sandbox_refunds(sandbox: SandboxUpiProvider) -> None:
    payment_id, _ = sandbox.pay(await new_order(sandbox))

    first = await sandbox.refund(payment_id, 20_000, idempotency_key="r1")
    assert await sandbox.refund(payment_id, 20_000, idempotency_key="r1") == first
    with pytest.raises(ProviderError, match="greater than amount captured"):
        await sandbox.refund(payment_id, 25_001, idempotency_key="r2")
    rest = await sandbox.refund(payment_id, 25_000, idempotency_key="r3")

    assert (first.status, rest.amount_minor) == ("succeeded", 25_000)
    assert len(sandbox.refunds) == 2
    assert (await sandbox.retrieve(payment_id)).raw_status == "refunded"


async def test_sandbox_webhook_round_trip(sandbox: SandboxUpiProvider) -> None:
    payment_id, _ = sandbox.pay(await new_order(sandbox))
    refund = await sandbox.refund(payment_id, 5_000, idempotency_key="r1")

    body, headers = sandbox.webhook("refund.processed", payment_id, refund.provider_refund_id)
    event = sandbox.parse_webhook(body, headers)

    assert (event.provider, event.kind, event.provider_payment_id) == (
        "sandbox_upi",
        "refunded",
        payment_id,
    )
    assert event.amount_refunded_minor == 5_000
    with pytest.raises(InvalidSignature):
        sandbox.parse_webhook(body + b" ", headers)
