"""The TrueLayer (Payments API v3) adapter against a local fake of TrueLayer's HTTP API on a
real socket: request signing verified by the fake, status mapping, cancel, refunds, errors,
and webhook signature checks. No database."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fynlo.payments.providers.base import (
    BankProvider,
    InvalidSignature,
    ProviderError,
    ProviderUnavailable,
)
from fynlo.payments.providers.truelayer import TrueLayerBank, sign_request, verify_request
from tests.payments.fakes.truelayer_api import (
    CLIENT_ID,
    CLIENT_SECRET,
    TrueLayerFake,
    rfc3339,
    running_truelayer_fake,
)

KID = "9f2b7bd6-c055-40b5-b616-120ccfd33c49"
MERCHANT_ACCOUNT = "200552da-13da-43c5-a9ba-04ee1502ac57"
RETURN_URI = "https://pos.example.com/qr/return"
SIGNING_KEY = ec.generate_private_key(ec.SECP521R1())
SIGNING_PEM = SIGNING_KEY.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
).decode()


@pytest.fixture
async def fake() -> AsyncIterator[TrueLayerFake]:
    async with running_truelayer_fake() as server:
        server.register_signing_key(KID, SIGNING_KEY.public_key())
        yield server


def make_bank(fake: TrueLayerFake, **overrides: object) -> TrueLayerBank:
    options: dict[str, object] = {
        "api_base": fake.url,
        "auth_base": fake.url,
        "hpp_base": "https://payment.truelayer-sandbox.com",
        "return_uri": RETURN_URI,
        "webhook_jwks_url": fake.jwks_url,
        "timeout": 2.0,
    }
    options.update(overrides)
    return TrueLayerBank(
        CLIENT_ID,
        CLIENT_SECRET,
        SIGNING_PEM,
        KID,
        MERCHANT_ACCOUNT,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
async def bank(fake: TrueLayerFake) -> AsyncIterator[TrueLayerBank]:
    provider = make_bank(fake)
    assert await provider.load_webhook_keys() == 1
    yield provider
    await provider.aclose()


async def new_payment(bank: TrueLayerBank, key: str = "idem-1", amount: int = 2_450) -> str:
    payment = await bank.create_payment(
        amount, "GBP", reference="FYNLO-1042", description="Table 7", idempotency_key=key
    )
    return payment.provider_payment_id


def test_is_a_bank_provider(fake: TrueLayerFake) -> None:
    provider: BankProvider = make_bank(fake)
    assert provider.name == "truelayer"


def test_signature_round_trip_and_path_tolerance() -> None:
    body = b'{"currency":"GBP","amount_in_minor":100}'
    headers = [("Idempotency-Key", "619410b3")]
    signature = sign_request(SIGNING_KEY, KID, "POST", "/payouts", headers, body)
    assert signature.count(".") == 2
    assert ".." in signature
    public = SIGNING_KEY.public_key()
    verify_request(public, signature, "post", "/payouts/", {"idempotency-key": "619410b3"}, body)
    with pytest.raises(ValueError, match="does not verify"):
        verify_request(public, signature, "POST", "/payouts", dict(headers), body + b" ")
    with pytest.raises(ValueError, match="does not verify"):
        verify_request(public, signature, "POST", "/payouts", {"Idempotency-Key": "x"}, body)


async def test_create_builds_the_hosted_page_url(bank: TrueLayerBank, fake: TrueLayerFake) -> None:
    payment = await bank.create_payment(
        2_450, "gbp", reference="FYNLO-1042", description="Table 7", idempotency_key="idem-1"
    )
    assert payment.status == "pending"
    assert payment.amount_minor == 2_450
    assert payment.currency == "GBP"
    stored = fake.payments[payment.provider_payment_id]
    assert stored["payment_method"] == {
        "type": "bank_transfer",
        "provider_selection": {"type": "user_selected"},
        "beneficiary": {
            "type": "merchant_account",
            "merchant_account_id": MERCHANT_ACCOUNT,
            "reference": "FYNLO-1042",
        },
    }
    assert payment.authorisation_url is not None
    url = urlsplit(payment.authorisation_url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://payment.truelayer-sandbox.com/"
    query = parse_qs(url.query)
    assert query["payment_id"] == [payment.provider_payment_id]
    assert query["return_uri"] == [RETURN_URI]
    assert query["resource_token"][0]


async def test_idempotent_retry_makes_one_payment(bank: TrueLayerBank, fake: TrueLayerFake) -> None:
    first = await new_payment(bank, "idem-retry")
    second = await new_payment(bank, "idem-retry")
    assert first == second
    assert len(fake.payments) == 1
    assert fake.token_requests == 1  # the access token is cached
    with pytest.raises(ProviderError) as refused:
        await new_payment(bank, "idem-retry", amount=999)
    assert not isinstance(refused.value, ProviderUnavailable)
    assert refused.value.code == "idempotency-key-reuse"


async def test_wrong_signing_key_is_refused(fake: TrueLayerFake) -> None:
    fake.register_signing_key(KID, ec.generate_private_key(ec.SECP521R1()).public_key())
    provider = make_bank(fake)
    try:
        with pytest.raises(ProviderError) as refused:
            await new_payment(provider)
        assert refused.value.code == "invalid-signature"
        assert not fake.payments
    finally:
        await provider.aclose()


async def test_status_mapping(bank: TrueLayerBank, fake: TrueLayerFake) -> None:
    paid = await new_payment(bank, "idem-paid")
    assert (await bank.status(paid)).status == "pending"
    fake.authorize(paid)
    assert (await bank.status(paid)).status == "pending"
    fake.execute(paid)
    done = await bank.status(paid)
    assert done.status == "completed"
    assert done.bank_reference == paid
    assert done.paid_at is not None
    assert abs(done.paid_at - datetime.now(UTC).timestamp()) < 60
    assert done.amount_minor == 2_450
    assert done.currency == "GBP"
    fake.settle(paid)
    assert (await bank.status(paid)).status == "completed"

    failed = await new_payment(bank, "idem-failed")
    fake.fail(failed)
    result = await bank.status(failed)
    assert result.status == "failed"
    assert result.paid_at is None

    fake.payments[failed]["status"] = "attempt_failed"
    assert (await bank.status(failed)).status == "pending"


async def test_cancel(bank: TrueLayerBank, fake: TrueLayerFake) -> None:
    pending = await new_payment(bank, "idem-cancel")
    await bank.cancel(pending)
    assert fake.payments[pending]["failure_reason"] == "canceled"
    assert (await bank.status(pending)).status == "cancelled"

    executed = await new_payment(bank, "idem-too-late")
    fake.execute(executed)
    await bank.cancel(executed)  # too late: ignored, the payment stands
    assert (await bank.status(executed)).status == "completed"

    with pytest.raises(ProviderError) as missing:
        await bank.cancel("00000000-0000-0000-0000-000000000000")
    assert missing.value.code == "not-found"


async def test_refund(bank: TrueLayerBank, fake: TrueLayerFake) -> None:
    paid = await new_payment(bank, "idem-refund")
    fake.execute(paid)
    refund = await bank.refund(paid, 1_000, idempotency_key="ref-1", reason="Cold soup!")
    assert refund.status == "pending"
    assert refund.amount_minor == 1_000
    assert fake.refunds[refund.provider_refund_id]["reference"] == "Cold soup"
    again = await bank.refund(paid, 1_000, idempotency_key="ref-1", reason="Cold soup!")
    assert again.provider_refund_id == refund.provider_refund_id
    assert len(fake.refunds) == 1
    with pytest.raises(ProviderError) as too_much:
        await bank.refund(paid, 5_000, idempotency_key="ref-2")
    assert too_much.value.code == "invalid-parameters"
    assert "exceeds" in too_much.value.message


async def test_timeout_is_unavailable(fake: TrueLayerFake) -> None:
    # 1 s, not less: the warm-up's connect must fit in it on a loaded CI machine too.
    provider = make_bank(fake, timeout=1.0)
    try:
        await new_payment(provider, "idem-slow-warmup")  # token fetched first
        fake.delay_next(2.5)
        with pytest.raises(ProviderUnavailable) as slow:
            await provider.status(next(iter(fake.payments)))
        assert slow.value.code == "timeout"
    finally:
        await provider.aclose()


async def test_server_error_is_unavailable(bank: TrueLayerBank, fake: TrueLayerFake) -> None:
    fake.fail_next(500)
    with pytest.raises(ProviderUnavailable):
        await new_payment(bank, "idem-500")
    fake.fail_next(429)
    with pytest.raises(ProviderUnavailable):
        await new_payment(bank, "idem-500")
    assert await new_payment(bank, "idem-500")  # the retry with the same key goes through


async def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = TrueLayerBank(
        CLIENT_ID,
        CLIENT_SECRET,
        SIGNING_PEM,
        KID,
        MERCHANT_ACCOUNT,
        api_base=f"http://127.0.0.1:{port}",
        auth_base=f"http://127.0.0.1:{port}",
        return_uri=RETURN_URI,
        webhook_keys={"keys": []},
        timeout=2.0,
    )
    try:
        with pytest.raises(ProviderUnavailable):
            await new_payment(provider)
    finally:
        await provider.aclose()


async def test_client_errors(bank: TrueLayerBank, fake: TrueLayerFake) -> None:
    with pytest.raises(ProviderError) as bad:
        await bank.create_payment(
            0, "GBP", reference="R", description="D", idempotency_key="idem-zero"
        )
    assert not isinstance(bad.value, ProviderUnavailable)
    assert bad.value.code == "invalid-parameters"
    assert bad.value.message == "Invalid Parameters: amount_in_minor must be > 0"
    wrong = make_bank(fake)
    wrong._client_secret = "nope"
    try:
        with pytest.raises(ProviderError) as auth:
            await new_payment(wrong)
        assert auth.value.code == "invalid_client"
    finally:
        await wrong.aclose()


# ------------------------------------------------------------------------ webhooks


async def test_webhook_executed(bank: TrueLayerBank, fake: TrueLayerFake) -> None:
    paid = await new_payment(bank, "idem-wh")
    fake.execute(paid)
    body, headers = fake.webhook("payment_executed", paid)
    event = bank.parse_webhook(body, headers)
    assert event.provider == "truelayer"
    assert event.kind == "payment_succeeded"
    assert event.event_id == json.loads(body)["event_id"]
    assert event.provider_payment_id == paid
    assert event.payload["bankReference"] == paid
    assert isinstance(event.payload["paidAt"], int)
    assert abs(event.created - datetime.now(UTC).timestamp()) < 60

    # the other route Fynlo serves for the bank webhook verifies too
    body, headers = fake.webhook("payment_settled", paid, path="/api/payments/qr/webhook")
    assert bank.parse_webhook(body, headers).kind == "payment_succeeded"


async def test_webhook_failed_and_other(bank: TrueLayerBank, fake: TrueLayerFake) -> None:
    payment = await new_payment(bank, "idem-wh-fail")
    fake.fail(payment)
    event = bank.parse_webhook(*fake.webhook("payment_failed", payment))
    assert event.kind == "payment_failed"
    assert event.failure_code == "authorization_failed"
    other = bank.parse_webhook(*fake.webhook("payment_authorized", payment))
    assert other.kind == "other"


async def test_webhook_keys_given_to_the_constructor(fake: TrueLayerFake) -> None:
    jwks = json.loads(ec_jwk_json(fake))
    provider = make_bank(fake, webhook_keys=jwks)
    try:
        fake.payments["p1"] = {"id": "p1", "payment_method": {}, "status": "executed"}
        event = provider.parse_webhook(*fake.webhook("payment_executed", "p1"))
        assert event.kind == "payment_succeeded"
    finally:
        await provider.aclose()


def ec_jwk_json(fake: TrueLayerFake) -> str:
    from jwt.algorithms import ECAlgorithm

    jwk = json.loads(ECAlgorithm.to_jwk(fake.webhook_key.public_key()))
    jwk["kid"] = fake.webhook_kid
    return json.dumps({"keys": [jwk]})


async def test_webhook_rejections(bank: TrueLayerBank, fake: TrueLayerFake) -> None:
    paid = await new_payment(bank, "idem-wh-bad")
    fake.execute(paid)

    # signed by another key under TrueLayer's key id
    forged = ec.generate_private_key(ec.SECP521R1())
    with pytest.raises(InvalidSignature):
        bank.parse_webhook(*fake.webhook("payment_executed", paid, key=forged))

    # body changed after signing
    body, headers = fake.webhook("payment_executed", paid)
    tampered = body.replace(b"payment_executed", b"payment_settled")
    with pytest.raises(InvalidSignature):
        bank.parse_webhook(tampered, headers)

    # stale timestamp (signed, but 10 minutes old)
    old = rfc3339(datetime.now(UTC) - timedelta(minutes=10))
    with pytest.raises(InvalidSignature, match="timestamp"):
        bank.parse_webhook(*fake.webhook("payment_executed", paid, timestamp=old))

    # fresh timestamp swapped into an old delivery: the signature covers it
    body, headers = fake.webhook("payment_executed", paid, timestamp=old)
    headers["X-Tl-Webhook-Timestamp"] = rfc3339()
    with pytest.raises(InvalidSignature):
        bank.parse_webhook(body, headers)

    # keys from a URL that is not the allow-listed one (an attacker's JWKS)
    with pytest.raises(InvalidSignature, match="not allowed"):
        bank.parse_webhook(
            *fake.webhook(
                "payment_executed",
                paid,
                key=forged,
                jku="https://attacker.example/.well-known/jwks.json",
            )
        )

    # delivered to a path the signature was not made for
    with pytest.raises(InvalidSignature):
        bank.parse_webhook(*fake.webhook("payment_executed", paid, path="/elsewhere"))

    # missing or garbage signature
    body, headers = fake.webhook("payment_executed", paid)
    with pytest.raises(InvalidSignature):
        bank.parse_webhook(body, {k: v for k, v in headers.items() if k != "Tl-Signature"})
    with pytest.raises(InvalidSignature):
        bank.parse_webhook(body, {**headers, "Tl-Signature": "not-a-jws"})
