"""The Stripe adapter over the official SDK, against a local fake of Stripe's HTTP API on a
real socket; and the in-process sandbox that stands in for Stripe in the demo. No database."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import stripe

from fynlo.payments.providers.base import (
    CardChargeRequest,
    CardProvider,
    ChargeResult,
    InvalidSignature,
    ProviderError,
    ProviderUnavailable,
)
from fynlo.payments.providers.sandbox_card import SandboxCardProvider
from fynlo.payments.providers.stripe import StripeProvider, stripe_key
from tests.payments.fakes.stripe_api import (
    StripeFake,
    parse_form,
    running_stripe_fake,
    sign_payload,
    webhook_headers,
)

API_KEY = "sk_test_FynloFakeKey0001"
WEBHOOK_SECRET = "whsec_fynlo_test_secret"
# The SDK hands httpx its form body as a string (httpx 0.28 prefers ``content=``).
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

METADATA = {"orderId": "7d0c6a3e-1", "orderNumber": "1042", "restaurantId": "r-1"}


@pytest.fixture
async def fake() -> AsyncIterator[StripeFake]:
    async with running_stripe_fake() as server:
        yield server


@pytest.fixture
async def provider(fake: StripeFake) -> AsyncIterator[StripeProvider]:
    adapter = StripeProvider(API_KEY, WEBHOOK_SECRET, base_url=fake.url, timeout=5.0)
    yield adapter
    await adapter.aclose()


def card_request(
    payment_method: str | None = "pm_card_visa",
    *,
    amount: int = 2_450,
    key: str | None = None,
    **fields: Any,
) -> CardChargeRequest:
    return CardChargeRequest(
        amount_minor=amount,
        currency="GBP",
        idempotency_key=key or f"fynlo:r-1:{time.monotonic_ns()}",
        metadata=METADATA,
        payment_method_id=payment_method,
        description="Trattoria order 1042",
        **fields,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def requests_to(fake: StripeFake, path: str) -> list[Any]:
    return [r for r in fake.requests if r.path == path]


# --------------------------------------------------------------------------- charges


@pytest.mark.parametrize(
    ("payment_method", "brand", "last4"),
    [("pm_card_visa", "visa", "4242"), ("pm_card_mastercard", "mastercard", "4444")],
)
async def test_charge_succeeds_with_card_details_and_metadata(
    provider: StripeProvider, fake: StripeFake, payment_method: str, brand: str, last4: str
) -> None:
    key = "fynlo:r-1:client-key-1"
    result = await provider.charge(card_request(payment_method, key=key))

    assert result.status == "succeeded"
    assert (result.card_brand, result.last4, result.wallet) == (brand, last4, None)
    assert (result.amount_minor, result.currency) == (2_450, "GBP")
    assert result.client_secret is None
    assert result.failure_code is None
    stored = fake.payment_intents[str(result.provider_payment_id)]
    assert stored["metadata"] == METADATA
    assert (stored["amount"], stored["currency"], stored["status"]) == (2_450, "gbp", "succeeded")
    assert stored["description"] == "Trattoria order 1042"
    assert fake.charge_of(stored["id"])["paid"] is True
    (sent,) = requests_to(fake, "/v1/payment_intents")
    assert sent.headers["idempotency-key"] == key
    assert sent.params["payment_method_types"] == ["card"]
    assert sent.params["expand"] == ["payment_method"]
    assert sent.params["confirm"] == "true"
    assert fake.created_count == 1


async def test_decline_is_a_failed_result_not_an_exception(
    provider: StripeProvider, fake: StripeFake
) -> None:
    result = await provider.charge(card_request("pm_card_chargeDeclined"))

    assert result.status == "failed"
    assert result.failure_code == "card_declined"
    assert result.failure_message == "Your card was declined."
    assert result.provider_payment_id in fake.payment_intents
    assert (result.card_brand, result.last4) == ("visa", "0002")
    stored = fake.payment_intents[str(result.provider_payment_id)]
    assert stored["status"] == "requires_payment_method"
    assert fake.charge_of(stored["id"])["status"] == "failed"
    # read again later, the PaymentIntent still says why it failed
    again = await provider.retrieve(str(result.provider_payment_id))
    assert (again.status, again.failure_code) == ("failed", "card_declined")


@pytest.mark.parametrize(
    ("payment_method", "code", "words"),
    [
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds", "insufficient funds"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired"),
        # Stripe advises against telling the customer about suspected fraud
        ("pm_card_chargeDeclinedFraudulent", "card_declined", "declined"),
    ],
)
async def test_decline_reasons(
    provider: StripeProvider, payment_method: str, code: str, words: str
) -> None:
    result = await provider.charge(card_request(payment_method))

    assert result.status == "failed"
    assert result.failure_code == code
    assert words in str(result.failure_message)


@pytest.mark.parametrize(
    "payment_method", ["pm_card_threeDSecure2Required", "pm_card_authenticationRequired"]
)
async def test_three_d_secure_requires_action_then_succeeds(
    provider: StripeProvider, fake: StripeFake, payment_method: str
) -> None:
    result = await provider.charge(card_request(payment_method))

    assert result.status == "requires_action"
    payment_id = str(result.provider_payment_id)
    assert str(result.client_secret).startswith(f"{payment_id}_secret_")
    assert result.next_action is not None
    assert result.next_action["type"] == "use_stripe_sdk"
    assert fake.payment_intents[payment_id]["latest_charge"] is None
    assert (await provider.retrieve(payment_id)).status == "requires_action"

    fake.authenticate(payment_id)
    done = await provider.retrieve(payment_id)

    assert done.status == "succeeded"
    assert done.provider_payment_id == payment_id
    assert (done.card_brand, done.client_secret, done.next_action) == ("visa", None, None)
    assert fake.created_count == 1


async def test_three_d_secure_failed_authentication_reads_failed(
    provider: StripeProvider, fake: StripeFake
) -> None:
    result = await provider.charge(card_request("pm_card_threeDSecure2Required"))
    fake.authenticate(str(result.provider_payment_id), succeed=False)

    after = await provider.retrieve(str(result.provider_payment_id))

    assert after.status == "failed"
    assert after.failure_code == "payment_intent_authentication_failure"


async def test_return_url_gives_a_redirect(provider: StripeProvider, fake: StripeFake) -> None:
    result = await provider.charge(
        card_request("pm_card_threeDSecure2Required", return_url="https://pos.example/back")
    )

    assert result.status == "requires_action"
    assert result.next_action is not None
    assert result.next_action["redirect_to_url"]["return_url"] == "https://pos.example/back"


async def test_unconfirmed_charge_hands_the_client_secret(
    provider: StripeProvider, fake: StripeFake
) -> None:
    result = await provider.charge(card_request(confirm=False))

    assert (result.status, result.raw_status) == ("requires_action", "requires_confirmation")
    assert result.client_secret is not None
    assert result.next_action is None
    assert fake.charges == {}


async def test_confirming_without_a_payment_method_is_refused_locally(
    provider: StripeProvider, fake: StripeFake
) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.charge(card_request(None))

    assert caught.value.code == "parameter_missing"
    assert fake.requests == []


# --------------------------------------------------------------------------- wallets


@pytest.mark.parametrize(
    ("wallet", "token", "brand"),
    [("apple_pay", "tok_visa", "visa"), ("google_pay", "tok_mastercard", "mastercard")],
)
async def test_wallet_token_becomes_a_payment_method_then_a_charge(
    provider: StripeProvider, fake: StripeFake, wallet: str, token: str, brand: str
) -> None:
    key = "fynlo:r-1:wallet-1"
    result = await provider.charge(card_request(None, key=key, wallet=wallet, wallet_token=token))

    assert result.status == "succeeded"
    assert (result.wallet, result.card_brand) == (wallet, brand)
    (method,) = fake.payment_methods.values()
    assert method["card"]["wallet"]["type"] == wallet
    assert method["metadata"] == {"wallet": wallet}
    assert fake.payment_intents[str(result.provider_payment_id)]["payment_method"] == method["id"]
    (created,) = requests_to(fake, "/v1/payment_methods")
    assert created.headers["idempotency-key"] == f"{key}:pm"
    assert created.params["card"] == {"token": token}


async def test_declined_wallet_token(provider: StripeProvider, fake: StripeFake) -> None:
    result = await provider.charge(
        card_request(None, wallet="apple_pay", wallet_token="tok_chargeDeclined")
    )

    assert (result.status, result.failure_code, result.wallet) == (
        "failed",
        "card_declined",
        "apple_pay",
    )


async def test_unknown_wallet_token_is_refused_without_echoing_it(
    provider: StripeProvider, fake: StripeFake
) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.charge(card_request(None, wallet="apple_pay", wallet_token="tok_secret123"))

    assert caught.value.code == "resource_missing"
    assert "tok_secret123" not in caught.value.message
    assert fake.created_count == 0


async def test_wallet_token_that_is_not_a_stripe_token_never_leaves(
    provider: StripeProvider, fake: StripeFake
) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.charge(
            card_request(None, wallet="apple_pay", wallet_token='{"paymentData": "..."}')
        )

    assert caught.value.code == "invalid_wallet_token"
    assert fake.requests == []


# --------------------------------------------------------------------------- failures, retries


async def test_timeout_then_retry_with_the_same_key_charges_once(fake: StripeFake) -> None:
    adapter = StripeProvider(API_KEY, WEBHOOK_SECRET, base_url=fake.url, timeout=1.0)
    request = card_request(key="fynlo:r-1:timeout-1")
    fake.delay_next(2.5)
    try:
        with pytest.raises(ProviderUnavailable):
            await adapter.charge(request)
        assert fake.created_count == 1  # Stripe did charge; the answer was lost

        retried = await adapter.charge(request)
    finally:
        await adapter.aclose()

    assert retried.status == "succeeded"
    (only,) = fake.payment_intents
    assert retried.provider_payment_id == only
    assert fake.created_count == 1
    assert fake.replayed == 1
    assert len(fake.charges) == 1


async def test_wallet_timeout_then_retry_makes_one_payment_method(fake: StripeFake) -> None:
    adapter = StripeProvider(API_KEY, WEBHOOK_SECRET, base_url=fake.url, timeout=1.0)
    request = card_request(
        None, key="fynlo:r-1:timeout-2", wallet="google_pay", wallet_token="tok_visa"
    )
    fake.delay_next(2.5)  # the PaymentMethod's creation
    try:
        with pytest.raises(ProviderUnavailable):
            await adapter.charge(request)
        retried = await adapter.charge(request)
    finally:
        await adapter.aclose()

    assert retried.status == "succeeded"
    assert len(fake.payment_methods) == 1
    assert fake.created_count == 1


async def test_server_error_is_unavailable_and_changes_nothing(
    provider: StripeProvider, fake: StripeFake
) -> None:
    request = card_request(key="fynlo:r-1:500")
    fake.fail_next(500)

    with pytest.raises(ProviderUnavailable):
        await provider.charge(request)
    assert fake.created_count == 0

    retried = await provider.charge(request)
    assert retried.status == "succeeded"
    assert fake.created_count == 1


async def test_same_key_other_amount_is_refused(provider: StripeProvider, fake: StripeFake) -> None:
    first = await provider.charge(card_request(key="fynlo:r-1:same", amount=2_450))

    with pytest.raises(ProviderError) as caught:
        await provider.charge(card_request(key="fynlo:r-1:same", amount=9_999))

    assert not isinstance(caught.value, ProviderUnavailable)
    assert caught.value.code == "idempotency_error"
    assert first.status == "succeeded"
    assert fake.created_count == 1


async def test_same_key_replays_a_decline(provider: StripeProvider, fake: StripeFake) -> None:
    request = card_request("pm_card_chargeDeclined", key="fynlo:r-1:declined")
    first = await provider.charge(request)
    second = await provider.charge(request)

    assert first.provider_payment_id == second.provider_payment_id
    assert second.failure_code == "card_declined"
    assert (fake.created_count, fake.replayed) == (1, 1)


async def test_bad_api_key_is_an_authentication_failure(fake: StripeFake) -> None:
    adapter = StripeProvider("sk_live_nope", WEBHOOK_SECRET, base_url=fake.url)
    try:
        with pytest.raises(ProviderError) as caught:
            await adapter.charge(card_request())
    finally:
        await adapter.aclose()

    assert not isinstance(caught.value, ProviderUnavailable)
    assert caught.value.code == "authentication_failed"
    assert fake.created_count == 0


async def test_connection_refused_is_unavailable() -> None:
    adapter = StripeProvider(
        API_KEY, WEBHOOK_SECRET, base_url=f"http://127.0.0.1:{_free_port()}", timeout=2.0
    )
    try:
        with pytest.raises(ProviderUnavailable):
            await adapter.charge(card_request())
    finally:
        await adapter.aclose()


async def test_retrieve_unknown_payment_intent(provider: StripeProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.retrieve("pi_doesnotexist")

    assert caught.value.code == "resource_missing"


def test_long_idempotency_keys_become_a_stable_digest() -> None:
    long_key = "fynlo:r-1:" + "k" * 300
    assert stripe_key(long_key) == stripe_key(long_key)
    assert len(stripe_key(long_key)) <= 255
    assert stripe_key("short-key") == "short-key"


# --------------------------------------------------------------------------- refunds


async def paid_intent(provider: StripeProvider, amount: int = 5_000) -> str:
    result = await provider.charge(card_request(amount=amount))
    assert result.status == "succeeded"
    return str(result.provider_payment_id)


async def test_full_refund(provider: StripeProvider, fake: StripeFake) -> None:
    payment_id = await paid_intent(provider)

    refund = await provider.refund(
        payment_id, 5_000, idempotency_key="refund-1", reason="requested_by_customer"
    )

    assert refund.status == "succeeded"
    assert refund.provider_refund_id.startswith("re_")
    assert refund.amount_minor == 5_000
    stored = fake.refunds[refund.provider_refund_id]
    assert stored["reason"] == "requested_by_customer"
    assert stored["metadata"] == {"reason": "requested_by_customer"}
    charge = fake.charge_of(payment_id)
    assert (charge["amount_refunded"], charge["refunded"]) == (5_000, True)
    (sent,) = requests_to(fake, "/v1/refunds")
    assert sent.headers["idempotency-key"] == "refund-1"


async def test_partial_refunds_then_over_refund_refused(
    provider: StripeProvider, fake: StripeFake
) -> None:
    payment_id = await paid_intent(provider)

    first = await provider.refund(
        payment_id, 1_500, idempotency_key="refund-a", reason="wrong dish"
    )
    second = await provider.refund(payment_id, 2_000, idempotency_key="refund-b")
    with pytest.raises(ProviderError) as too_much:
        await provider.refund(payment_id, 1_501, idempotency_key="refund-c")
    rest = await provider.refund(payment_id, 1_500, idempotency_key="refund-d")
    with pytest.raises(ProviderError) as already:
        await provider.refund(payment_id, 1, idempotency_key="refund-e")

    assert (first.amount_minor, second.amount_minor, rest.amount_minor) == (1_500, 2_000, 1_500)
    # free text is not one of Stripe's reasons: it goes to the metadata only
    assert fake.refunds[first.provider_refund_id]["reason"] is None
    assert fake.refunds[first.provider_refund_id]["metadata"] == {"reason": "wrong dish"}
    assert too_much.value.code == "amount_too_large"
    assert not isinstance(too_much.value, ProviderUnavailable)
    assert already.value.code == "charge_already_refunded"
    assert fake.charge_of(payment_id)["amount_refunded"] == 5_000
    assert len(fake.refunds) == 3


async def test_refund_retry_with_the_same_key_refunds_once(
    provider: StripeProvider, fake: StripeFake
) -> None:
    payment_id = await paid_intent(provider)

    first = await provider.refund(payment_id, 1_000, idempotency_key="refund-same")
    again = await provider.refund(payment_id, 1_000, idempotency_key="refund-same")
    with pytest.raises(ProviderError) as other:
        await provider.refund(payment_id, 2_000, idempotency_key="refund-same")

    assert first.provider_refund_id == again.provider_refund_id
    assert len(fake.refunds) == 1
    assert fake.charge_of(payment_id)["amount_refunded"] == 1_000
    assert other.value.code == "idempotency_error"


async def test_refund_timeout_is_unavailable_and_retry_replays(fake: StripeFake) -> None:
    adapter = StripeProvider(API_KEY, WEBHOOK_SECRET, base_url=fake.url, timeout=1.0)
    try:
        payment_id = await paid_intent(adapter)
        fake.delay_next(2.5)
        with pytest.raises(ProviderUnavailable):
            await adapter.refund(payment_id, 700, idempotency_key="refund-timeout")
        retried = await adapter.refund(payment_id, 700, idempotency_key="refund-timeout")
    finally:
        await adapter.aclose()

    assert retried.amount_minor == 700
    assert list(fake.refunds) == [retried.provider_refund_id]


async def test_refunding_a_failed_payment_is_refused(provider: StripeProvider) -> None:
    declined = await provider.charge(card_request("pm_card_chargeDeclined"))

    with pytest.raises(ProviderError) as caught:
        await provider.refund(str(declined.provider_payment_id), 100, idempotency_key="r-x")

    assert not isinstance(caught.value, ProviderUnavailable)
    assert "successful charge" in caught.value.message


# --------------------------------------------------------------------------- webhooks


async def test_webhook_payment_succeeded(provider: StripeProvider, fake: StripeFake) -> None:
    payment_id = await paid_intent(provider, 3_200)
    event = fake.event("payment_intent.succeeded", fake.payment_intents[payment_id])
    body = json.dumps(event).encode()

    parsed = provider.parse_webhook(body, webhook_headers(body, WEBHOOK_SECRET))

    assert parsed.provider == "stripe"
    assert (parsed.event_id, parsed.event_type, parsed.kind) == (
        event["id"],
        "payment_intent.succeeded",
        "payment_succeeded",
    )
    assert parsed.provider_payment_id == payment_id
    assert (parsed.amount_minor, parsed.currency, parsed.created) == (
        3_200,
        "GBP",
        event["created"],
    )
    assert parsed.payload == fake.payment_intents[payment_id]
    assert parsed.payload["metadata"] == METADATA


async def test_webhook_payment_failed(provider: StripeProvider, fake: StripeFake) -> None:
    declined = await provider.charge(card_request("pm_card_chargeDeclinedInsufficientFunds"))
    intent = fake.payment_intents[str(declined.provider_payment_id)]
    body, headers = fake.webhook("payment_intent.payment_failed", intent, secret=WEBHOOK_SECRET)

    parsed = provider.parse_webhook(body, headers)

    assert parsed.kind == "payment_failed"
    assert parsed.provider_payment_id == intent["id"]
    assert parsed.failure_code == "insufficient_funds"
    assert (parsed.card_brand, parsed.last4) == ("visa", "9995")


async def test_webhook_charge_refunded(provider: StripeProvider, fake: StripeFake) -> None:
    payment_id = await paid_intent(provider)
    await provider.refund(payment_id, 1_200, idempotency_key="refund-wh")
    body, headers = fake.webhook(
        "charge.refunded", fake.charge_of(payment_id), secret=WEBHOOK_SECRET
    )

    parsed = provider.parse_webhook(body, headers)

    assert parsed.kind == "refunded"
    assert parsed.provider_payment_id == payment_id
    assert (parsed.amount_minor, parsed.amount_refunded_minor) == (5_000, 1_200)
    assert (parsed.card_brand, parsed.last4) == ("visa", "4242")
    assert parsed.payload["object"] == "charge"


async def test_webhook_dispute(provider: StripeProvider, fake: StripeFake) -> None:
    payment_id = await paid_intent(provider)
    dispute = fake.dispute(payment_id, reason="product_not_received")
    body, headers = fake.webhook("charge.dispute.created", dispute, secret=WEBHOOK_SECRET)

    parsed = provider.parse_webhook(body, headers)

    assert parsed.kind == "dispute"
    assert parsed.provider_payment_id == payment_id
    assert parsed.amount_minor == 5_000
    assert parsed.payload["reason"] == "product_not_received"
    assert parsed.payload["id"] == dispute["id"]


async def test_webhook_other_event_and_lower_case_header(
    provider: StripeProvider, fake: StripeFake
) -> None:
    body, headers = fake.webhook(
        "customer.created", {"id": "cus_1", "object": "customer"}, secret=WEBHOOK_SECRET
    )
    lowered = {key.lower(): value for key, value in headers.items()}

    parsed = provider.parse_webhook(body, lowered)

    assert (parsed.kind, parsed.event_type) == ("other", "customer.created")
    assert parsed.provider_payment_id is None


def _event_body() -> bytes:
    return json.dumps(
        {
            "id": "evt_1",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {"object": {"id": "pi_1", "object": "payment_intent", "amount": 100}},
        }
    ).encode()


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda body: (body, {"Stripe-Signature": sign_payload(body, "whsec_other")}),
            id="wrong-secret",
        ),
        pytest.param(lambda body: (body, {}), id="missing-header"),
        pytest.param(lambda body: (body, {"Stripe-Signature": ""}), id="empty-header"),
        pytest.param(lambda body: (body, {"Stripe-Signature": "garbage"}), id="malformed-header"),
        pytest.param(
            lambda body: (
                body,
                {"Stripe-Signature": sign_payload(body, WEBHOOK_SECRET, int(time.time()) - 301)},
            ),
            id="old-timestamp",
        ),
        pytest.param(
            lambda body: (
                body.replace(b'"amount": 100', b'"amount": 900'),
                {"Stripe-Signature": sign_payload(body, WEBHOOK_SECRET)},
            ),
            id="tampered-body",
        ),
        pytest.param(
            lambda body: (
                b"{not json",
                {"Stripe-Signature": sign_payload(b"{not json", WEBHOOK_SECRET)},
            ),
            id="signed-but-not-json",
        ),
        pytest.param(
            lambda body: (
                b"\xff\xfe",
                {"Stripe-Signature": sign_payload(b"\xff\xfe", WEBHOOK_SECRET)},
            ),
            id="not-utf8",
        ),
        pytest.param(
            lambda body: (b"[1, 2]", {"Stripe-Signature": sign_payload(b"[1, 2]", WEBHOOK_SECRET)}),
            id="signed-but-not-an-event",
        ),
    ],
)
def test_webhook_that_does_not_verify_is_refused(
    tamper: Callable[[bytes], tuple[bytes, dict[str, str]]],
) -> None:
    adapter = StripeProvider(API_KEY, WEBHOOK_SECRET)
    body, headers = tamper(_event_body())

    with pytest.raises(InvalidSignature):
        adapter.parse_webhook(body, headers)


def test_webhook_without_a_configured_secret_is_refused() -> None:
    body = _event_body()
    with pytest.raises(InvalidSignature):
        StripeProvider(API_KEY, "").parse_webhook(body, webhook_headers(body, ""))


def test_fake_signature_is_the_sdk_signature() -> None:
    body = _event_body()
    ours = sign_payload(body, WEBHOOK_SECRET, 1_700_000_000)
    sdk = stripe.WebhookSignature.generate_signature_header(
        body.decode(), WEBHOOK_SECRET, 1_700_000_000
    )
    assert ours == sdk


# --------------------------------------------------------------------------- the fake itself


def test_fake_parses_stripe_form_encoding() -> None:
    parsed = parse_form(
        [
            ("amount", "100"),
            ("metadata[orderId]", "o-1"),
            ("metadata[0]", "digit key stays a key"),
            ("expand[]", "payment_method"),
            ("expand[]", "latest_charge"),
            ("payment_method_types[0]", "card"),
            ("payment_method_data[card][token]", "tok_visa"),
        ]
    )
    assert parsed == {
        "amount": "100",
        "metadata": {"orderId": "o-1", "0": "digit key stays a key"},
        "expand": ["payment_method", "latest_charge"],
        "payment_method_types": ["card"],
        "payment_method_data": {"card": {"token": "tok_visa"}},
    }


async def test_fake_speaks_stripe_over_plain_http(fake: StripeFake) -> None:
    form = {
        "amount": "1000",
        "currency": "eur",
        "payment_method": "pm_card_visa",
        "confirm": "true",
        "payment_method_types[]": "card",
        "expand[]": "latest_charge",
    }
    async with httpx.AsyncClient(base_url=fake.url) as client:
        unauthenticated = await client.post("/v1/payment_intents", data=form)
        auth = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "raw-1"}
        first = await client.post("/v1/payment_intents", data=form, headers=auth)
        replay = await client.post("/v1/payment_intents", data=form, headers=auth)
        unknown = await client.post(
            "/v1/payment_intents",
            data={**form, "colour": "red"},
            headers={**auth, "Idempotency-Key": "raw-2"},
        )
        missing = await client.get("/v1/payment_intents/pi_nope", headers=auth)

    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"]["type"] == "invalid_request_error"
    assert first.status_code == 200
    assert first.json()["latest_charge"]["payment_method_details"]["card"]["last4"] == "4242"
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "parameter_unknown")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "resource_missing")
    assert fake.created_count == 1


async def test_fake_confirm_and_cancel(provider: StripeProvider, fake: StripeFake) -> None:
    """The endpoints the adapter does not call, through the SDK directly."""
    unconfirmed = await provider.charge(card_request(confirm=False))
    other = await provider.charge(card_request(confirm=False))
    http = stripe.HTTPXClient(timeout=5.0)
    client = stripe.StripeClient(
        API_KEY, base_addresses={"api": fake.url}, http_client=http, max_network_retries=0
    )
    payment_id = str(unconfirmed.provider_payment_id)
    try:
        confirmed = await client.v1.payment_intents.confirm_async(payment_id)
        with pytest.raises(stripe.InvalidRequestError) as caught:
            await client.v1.payment_intents.cancel_async(payment_id)
        canceled = await client.v1.payment_intents.cancel_async(
            str(other.provider_payment_id), {"cancellation_reason": "abandoned"}
        )
    finally:
        await http.close_async()
    after_cancel = await provider.retrieve(str(other.provider_payment_id))

    assert confirmed.status == "succeeded"
    assert caught.value.code == "payment_intent_unexpected_state"
    assert canceled.status == "canceled"
    assert (after_cancel.status, after_cancel.failure_code) == ("canceled", "abandoned")


# --------------------------------------------------------------------------- the sandbox


@pytest.fixture
def sandbox() -> SandboxCardProvider:
    return SandboxCardProvider("sandbox-webhook-secret")


async def test_sandbox_outcomes_match_stripe(
    sandbox: SandboxCardProvider, provider: StripeProvider, fake: StripeFake
) -> None:
    cases = [
        "pm_card_visa",
        "pm_card_chargeDeclined",
        "pm_card_chargeDeclinedInsufficientFunds",
        "pm_card_threeDSecure2Required",
        "pm_card_authenticationRequired",
    ]

    def summary(result: ChargeResult) -> tuple[Any, ...]:
        return (result.status, result.card_brand, result.last4, result.failure_code)

    for case in cases:
        ours = await sandbox.charge(card_request(case))
        real = await provider.charge(card_request(case))
        assert summary(ours) == summary(real), case


async def test_sandbox_three_d_secure_and_refunds(sandbox: SandboxCardProvider) -> None:
    card: CardProvider = sandbox
    result = await card.charge(card_request("pm_card_threeDSecure2Required", amount=4_000))
    assert result.status == "requires_action"
    assert result.client_secret is not None

    sandbox.authenticate(str(result.provider_payment_id))
    paid = await card.retrieve(str(result.provider_payment_id))
    partial = await card.refund(str(paid.provider_payment_id), 1_000, idempotency_key="s-r1")
    replay = await card.refund(str(paid.provider_payment_id), 1_000, idempotency_key="s-r1")
    with pytest.raises(ProviderError) as too_much:
        await card.refund(str(paid.provider_payment_id), 3_001, idempotency_key="s-r2")

    assert paid.status == "succeeded"
    assert partial == replay
    assert partial.status == "succeeded"
    assert too_much.value.code == "amount_too_large"


async def test_sandbox_idempotency_and_wallets(sandbox: SandboxCardProvider) -> None:
    request = card_request(None, key="s-k", wallet="apple_pay", wallet_token="tok_visa")
    first = await sandbox.charge(request)
    again = await sandbox.charge(request)
    with pytest.raises(ProviderError) as other:
        await sandbox.charge(card_request("pm_card_visa", key="s-k"))

    assert (first.status, first.wallet, first.last4) == ("succeeded", "apple_pay", "4242")
    assert again.provider_payment_id == first.provider_payment_id
    assert len(sandbox.payment_intents) == 1
    assert other.value.code == "idempotency_error"


async def test_sandbox_webhooks_verify_with_its_own_secret(sandbox: SandboxCardProvider) -> None:
    paid = await sandbox.charge(card_request())
    payment_id = str(paid.provider_payment_id)
    await sandbox.refund(payment_id, 500, idempotency_key="s-wh")
    body, headers = sandbox.webhook("charge.refunded", payment_id)

    event = sandbox.parse_webhook(body, headers)
    with pytest.raises(InvalidSignature):
        SandboxCardProvider("another-secret").parse_webhook(body, headers)

    assert (event.provider, event.kind, event.provider_payment_id) == (
        "sandbox_card",
        "refunded",
        payment_id,
    )
    assert event.amount_refunded_minor == 500
