"""The providers one process uses, chosen from the settings once at start-up.

A provider with keys configured is the real one; without keys, development and test get the
sandbox, and staging or production get none (that method then answers 503, never a fake
success).
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from fynlo.config import Settings
from fynlo.kit.errors import ServiceUnavailable
from fynlo.payments.providers.base import BankProvider, CardProvider, UpiProvider
from fynlo.payments.providers.sandbox_bank import SandboxBank

log = structlog.get_logger(__name__)

SANDBOX_ENVIRONMENTS = ("development", "test")


class ProviderNotConfigured(ServiceUnavailable):
    code = "payment_provider_not_configured"

    def __init__(self, what: str, setting: str) -> None:
        super().__init__(
            f"{what} payments are not configured on this server (set {setting})",
            details={"setting": setting},
        )


@dataclass
class PaymentProviders:
    card: CardProvider | None
    upi: UpiProvider | None
    bank: BankProvider | None

    def require_card(self) -> CardProvider:
        if self.card is None:
            raise ProviderNotConfigured("Card", "FYNLO_STRIPE_SECRET_KEY")
        return self.card

    def require_upi(self) -> UpiProvider:
        if self.upi is None:
            raise ProviderNotConfigured("UPI", "FYNLO_RAZORPAY_KEY_ID")
        return self.upi

    def require_bank(self) -> BankProvider:
        if self.bank is None:
            raise ProviderNotConfigured("QR", "FYNLO_QR_PROVIDER")
        return self.bank

    def by_name(self, name: str) -> CardProvider | UpiProvider | BankProvider | None:
        for provider in (self.card, self.upi, self.bank):
            if provider is not None and provider.name == name:
                return provider
        return None


def build_providers(settings: Settings) -> PaymentProviders:
    sandbox = settings.environment in SANDBOX_ENVIRONMENTS
    timeout = settings.payment_provider_timeout_seconds
    card: CardProvider | None = None
    if settings.stripe_secret_key is not None:
        from fynlo.payments.providers.stripe import StripeProvider

        card = StripeProvider(
            settings.stripe_secret_key.get_secret_value(),
            settings.stripe_webhook_secret.get_secret_value()
            if settings.stripe_webhook_secret
            else "",
            base_url=settings.stripe_api_base,
            timeout=timeout,
        )
    elif sandbox:
        from fynlo.payments.providers.sandbox_card import SandboxCardProvider

        card = SandboxCardProvider(settings.bank_webhook_secret.get_secret_value())
    upi: UpiProvider | None = None
    if settings.razorpay_key_id and settings.razorpay_key_secret is not None:
        from fynlo.payments.providers.razorpay import RazorpayProvider

        upi = RazorpayProvider(
            settings.razorpay_key_id,
            settings.razorpay_key_secret.get_secret_value(),
            settings.razorpay_webhook_secret.get_secret_value()
            if settings.razorpay_webhook_secret
            else "",
            base_url=settings.razorpay_api_base,
            timeout=timeout,
        )
    elif sandbox:
        from fynlo.payments.providers.sandbox_upi import SandboxUpiProvider

        upi = SandboxUpiProvider(settings.bank_webhook_secret.get_secret_value())
    bank: BankProvider | None = None
    if settings.qr_provider == "truelayer":
        bank = _truelayer(settings)
    elif sandbox:
        bank = SandboxBank(
            settings.bank_webhook_secret.get_secret_value(), settings.public_base_url
        )
    return PaymentProviders(card=card, upi=upi, bank=bank)


def _truelayer(settings: Settings) -> BankProvider:
    from fynlo.payments.providers.truelayer import TrueLayerBank

    required = {
        "FYNLO_TRUELAYER_CLIENT_ID": settings.truelayer_client_id,
        "FYNLO_TRUELAYER_CLIENT_SECRET": settings.truelayer_client_secret,
        "FYNLO_TRUELAYER_SIGNING_KEY_PEM": settings.truelayer_signing_key_pem,
        "FYNLO_TRUELAYER_SIGNING_KEY_ID": settings.truelayer_signing_key_id,
        "FYNLO_TRUELAYER_MERCHANT_ACCOUNT_ID": settings.truelayer_merchant_account_id,
    }
    missing = [name for name, value in required.items() if not value]
    if missing:
        raise ValueError(f"FYNLO_QR_PROVIDER=truelayer needs {', '.join(missing)}")
    assert settings.truelayer_client_secret is not None
    assert settings.truelayer_signing_key_pem is not None
    return TrueLayerBank(
        str(settings.truelayer_client_id),
        settings.truelayer_client_secret.get_secret_value(),
        settings.truelayer_signing_key_pem.get_secret_value(),
        str(settings.truelayer_signing_key_id),
        str(settings.truelayer_merchant_account_id),
        api_base=settings.truelayer_api_base,
        auth_base=settings.truelayer_auth_base,
        hpp_base=settings.truelayer_hpp_base,
        return_uri=settings.truelayer_return_uri or settings.public_base_url,
        webhook_jwks_url=settings.truelayer_webhook_jwks_url,
        timeout=settings.payment_provider_timeout_seconds,
    )


async def start_providers(providers: PaymentProviders) -> None:
    """What a provider needs once per process: TrueLayer's webhook signing keys. A failure
    is logged, not fatal: webhooks then wait for the keys, and the poll job still confirms."""
    loader = getattr(providers.bank, "load_webhook_keys", None)
    if loader is not None:
        try:
            await loader()
        except Exception:
            log.exception("provider_start_failed", provider=getattr(providers.bank, "name", ""))


async def close_providers(providers: PaymentProviders) -> None:
    for provider in (providers.card, providers.upi, providers.bank):
        closer = getattr(provider, "aclose", None)
        if closer is not None:
            await closer()
