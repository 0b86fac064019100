"""The providers one process uses, chosen from the settings once at start-up.

A provider with keys configured is the real one; without keys, development and test get the
sandbox, and staging or production get none (that method then answers 503, never a fake
success).
"""

from __future__ import annotations

from dataclasses import dataclass

from fynlo.config import Settings
from fynlo.kit.errors import ServiceUnavailable
from fynlo.payments.providers.base import BankProvider, CardProvider, UpiProvider
from fynlo.payments.providers.sandbox_bank import SandboxBank

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
    if sandbox:
        bank = SandboxBank(
            settings.bank_webhook_secret.get_secret_value(), settings.public_base_url
        )
    return PaymentProviders(card=card, upi=upi, bank=bank)
