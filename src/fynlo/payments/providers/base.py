"""The one interface every payment provider adapter implements.

Amounts are integer minor units and currencies ISO 4217 upper case, as everywhere in
Fynlo. Adapters never see or return a card number: only the provider's ids, the card
brand and its last four digits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

ChargeStatus = Literal["succeeded", "requires_action", "processing", "failed", "canceled"]
EventKind = Literal["payment_succeeded", "payment_failed", "refunded", "dispute", "other"]


class ProviderError(Exception):
    """The provider answered with a refusal that a retry will not change (bad request)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ProviderUnavailable(ProviderError):
    """No answer (timeout, connection refused) or a 5xx: the outcome is unknown, so the
    caller retries with the same idempotency key, which the provider de-duplicates."""


class InvalidSignature(Exception):
    """A webhook whose signature does not verify: answered 400, nothing changes."""


@dataclass(frozen=True)
class CardChargeRequest:
    amount_minor: int
    currency: str
    idempotency_key: str
    metadata: Mapping[str, str]
    payment_method_id: str | None = None  # "pm_..." from Stripe.js / the mobile SDK
    wallet: Literal["apple_pay", "google_pay"] | None = None
    wallet_token: str | None = None  # a wallet's one-time token ("tok_..."), when no pm
    confirm: bool = True
    return_url: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class ChargeResult:
    status: ChargeStatus
    provider_payment_id: str | None
    raw_status: str
    client_secret: str | None = None
    next_action: dict[str, Any] | None = None
    card_brand: str | None = None
    last4: str | None = None
    wallet: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    amount_minor: int | None = None
    currency: str | None = None


@dataclass(frozen=True)
class RefundResult:
    provider_refund_id: str
    status: Literal["succeeded", "pending", "failed"]
    amount_minor: int


@dataclass(frozen=True)
class ProviderEvent:
    """A verified webhook, reduced to what Fynlo acts on. ``payload`` keeps the provider's
    object for the record (the providers never put a full card number in one)."""

    provider: str
    event_id: str
    event_type: str
    kind: EventKind
    created: int  # the provider's own timestamp (seconds), for ordering
    provider_payment_id: str | None = None
    provider_order_id: str | None = None
    amount_minor: int | None = None
    amount_refunded_minor: int | None = None
    currency: str | None = None
    card_brand: str | None = None
    last4: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


class CardProvider(Protocol):
    """Stripe, or its sandbox."""

    name: str

    async def charge(self, request: CardChargeRequest) -> ChargeResult: ...

    async def retrieve(self, provider_payment_id: str) -> ChargeResult: ...

    async def refund(
        self,
        provider_payment_id: str,
        amount_minor: int,
        *,
        idempotency_key: str,
        reason: str | None = None,
    ) -> RefundResult: ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Verify the signature on the raw body, else raise :class:`InvalidSignature`."""
        ...


@dataclass(frozen=True)
class ProviderOrder:
    """Razorpay's order: what the checkout on the customer's phone pays."""

    provider_order_id: str
    amount_minor: int
    currency: str
    status: str


class UpiProvider(Protocol):
    """Razorpay (UPI, cards, netbanking in India), or its sandbox."""

    name: str
    key_id: str  # public: the checkout on the client needs it

    async def create_order(
        self,
        amount_minor: int,
        currency: str,
        *,
        receipt: str,
        notes: Mapping[str, str],
        idempotency_key: str,
    ) -> ProviderOrder: ...

    def verify_payment_signature(
        self, provider_order_id: str, provider_payment_id: str, signature: str
    ) -> bool: ...

    async def retrieve(self, provider_payment_id: str) -> ChargeResult: ...

    async def refund(
        self,
        provider_payment_id: str,
        amount_minor: int,
        *,
        idempotency_key: str,
        reason: str | None = None,
    ) -> RefundResult: ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent: ...


@dataclass(frozen=True)
class BankPayment:
    """A payment request at the open-banking (payment-initiation) provider."""

    provider_payment_id: str
    status: Literal["pending", "completed", "failed", "cancelled"]
    authorisation_url: str | None = None
    bank_reference: str | None = None
    paid_at: int | None = None  # seconds since the epoch
    amount_minor: int | None = None
    currency: str | None = None


class BankProvider(Protocol):
    """The open-banking provider behind QR payments: the customer's bank app pays the
    request, the provider confirms by webhook (and answers status polls)."""

    name: str

    async def create_payment(
        self,
        amount_minor: int,
        currency: str,
        *,
        reference: str,
        description: str,
        idempotency_key: str,
    ) -> BankPayment: ...

    async def status(self, provider_payment_id: str) -> BankPayment: ...

    async def cancel(self, provider_payment_id: str) -> None: ...

    async def refund(
        self,
        provider_payment_id: str,
        amount_minor: int,
        *,
        idempotency_key: str,
        reason: str | None = None,
    ) -> RefundResult: ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent: ...
