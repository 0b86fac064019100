"""QR payments through TrueLayer end to end: our endpoints with the real adapter against the
local fake of TrueLayer's Payments API v3 (request signing, webhooks signed with its JWKS);
and how the registry picks and refuses providers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.config import Settings
from fynlo.payments.providers.registry import build_providers
from fynlo.payments.providers.sandbox_bank import SandboxBank
from fynlo.payments.providers.truelayer import TrueLayerBank
from tests.payments.fakes.truelayer_api import TrueLayerFake, running_truelayer_fake
from tests.payments.support import Till, error_of, order_of
from tests.payments.test_truelayer_adapter import KID, SIGNING_KEY, SIGNING_PEM, make_bank
from tests.world import World


@pytest.fixture
async def fake(app: Any) -> AsyncIterator[TrueLayerFake]:
    providers = app.state.runtime.payment_providers
    previous = providers.bank
    async with running_truelayer_fake() as server:
        server.register_signing_key(KID, SIGNING_KEY.public_key())
        bank = make_bank(server)
        assert await bank.load_webhook_keys() == 1
        providers.bank = bank
        try:
            yield server
        finally:
            providers.bank = previous
            await bank.aclose()


@pytest.fixture
async def till(
    client: httpx.AsyncClient, session: AsyncSession, world: World, fake: TrueLayerFake
) -> Till:
    return await Till.build(client, session, world)


async def test_qr_through_truelayer_generate_execute_webhook_paid(
    till: Till, fake: TrueLayerFake
) -> None:
    order = await till.order()
    response = await till.pay("qr/generate", {"orderId": order["id"]})
    assert response.status_code == 201, response.text
    qr = response.json()["data"]
    (payment_id,) = fake.payments
    assert fake.payments[payment_id]["amount_in_minor"] == 2500
    page = await till.client.get(qr["paymentUrl"].replace("http://127.0.0.1:8000", ""))
    assert f"payment_id={payment_id}" in page.text  # the button goes to TrueLayer's page
    fake.execute(payment_id)
    body, headers = fake.webhook("payment_executed", payment_id)
    hook = await till.client.post("/api/payments/webhooks/bank", content=body, headers=headers)
    assert hook.status_code == 200, hook.text
    assert hook.json()["data"]["outcome"] == "applied"
    again = await till.client.post("/api/payments/webhooks/bank", content=body, headers=headers)
    assert again.json()["data"]["outcome"] == "duplicate"
    status = await till.client.get(
        f"/api/payments/qr/{qr['qrPaymentId']}/status", headers=till.headers
    )
    assert status.json()["data"]["status"] == "completed"
    assert (await order_of(till.client, till.headers, order["id"]))["paymentStatus"] == "paid"


async def test_a_forged_truelayer_webhook_is_refused(till: Till, fake: TrueLayerFake) -> None:
    order = await till.order()
    await till.pay("qr/generate", {"orderId": order["id"]})
    (payment_id,) = fake.payments
    fake.execute(payment_id)
    body, headers = fake.webhook("payment_executed", payment_id)
    forged = body.replace(b"payment_executed", b"payment_executed ")
    response = await till.client.post(
        "/api/payments/webhooks/bank", content=forged, headers=headers
    )
    error_of(response, 400, "invalid_signature")
    assert (await order_of(till.client, till.headers, order["id"]))["paymentStatus"] == "unpaid"


def test_the_registry_builds_truelayer_and_names_missing_settings(settings: Settings) -> None:
    configured = settings.model_copy(
        update={
            "qr_provider": "truelayer",
            "truelayer_client_id": "client",
            "truelayer_client_secret": SecretStr("secret"),
            "truelayer_signing_key_pem": SecretStr(SIGNING_PEM),
            "truelayer_signing_key_id": KID,
            "truelayer_merchant_account_id": "merchant",
        }
    )
    assert isinstance(build_providers(configured).bank, TrueLayerBank)
    missing = settings.model_copy(update={"qr_provider": "truelayer"})
    with pytest.raises(ValueError, match="FYNLO_TRUELAYER_CLIENT_ID"):
        build_providers(missing)


def test_no_sandbox_outside_development_and_test(settings: Settings) -> None:
    assert isinstance(build_providers(settings).bank, SandboxBank)
    production = settings.model_copy(update={"environment": "production"})
    providers = build_providers(production)
    assert (providers.card, providers.upi, providers.bank) == (None, None, None)


async def test_an_unconfigured_provider_answers_503(
    app: Any, client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    till = await Till.build(client, session, world)
    providers = app.state.runtime.payment_providers
    previous = providers.card
    providers.card = None
    try:
        order = await till.order()
        response = await till.pay(
            "stripe/process", {"orderId": order["id"], "paymentMethodId": "pm_card_visa"}
        )
        error = error_of(response, 503, "payment_provider_not_configured")
        assert "FYNLO_STRIPE_SECRET_KEY" in error["message"]
    finally:
        providers.card = previous
