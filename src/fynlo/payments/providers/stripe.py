"""Stripe (cards, Apple Pay, Google Pay) over the official ``stripe`` SDK.

How it talks to Stripe
    One :class:`stripe.StripeClient` per provider, on the SDK's httpx client (the one with
    real ``*_async`` methods, so no worker threads) with the configured timeout and no
    automatic retries: a retry is the caller's decision, made with the same idempotency
    key. ``base_url`` points the client at another Stripe-compatible API (a local fake,
    stripe-mock).

Charges
    One PaymentIntent per charge, ``payment_method_types=["card"]`` (Apple Pay and Google
    Pay payment methods are cards with a ``wallet``), so Stripe never asks for a
    ``return_url`` unless 3-D Secure wants a redirect and the caller gave one. The
    payment method comes back expanded, for the brand and last four digits.
    A wallet's one-time token (``tok_...``) first becomes a PaymentMethod, under its own
    idempotency key (the charge's key + ``":pm"``), tagged ``metadata.wallet`` with the
    wallet the caller named. Stripe derives ``card.wallet`` from a real wallet token by
    itself; the tag keeps the record explicit, and the local fake fills ``card.wallet``
    from it since its test tokens carry no wallet.

Errors
    A decline (``stripe.CardError``, HTTP 402) is an answer, not an exception: a
    ``failed`` :class:`ChargeResult` with the PaymentIntent Stripe left behind (if any)
    and the failure code. Timeouts, connection errors, 5xx, 409 (a concurrent request
    with the same key) and 429 raise :class:`ProviderUnavailable`: the outcome is unknown,
    retry with the same key. Anything else raises :class:`ProviderError` with Stripe's
    ``error.code`` (else ``error.type``; ``authentication_failed`` for a bad API key,
    ``idempotency_error`` for a key reused with other parameters).
    The failure code is Stripe's ``decline_code`` when it helps the customer
    (``insufficient_funds``, ``expired_card``...) and ``error.code`` otherwise, so
    ``fraudulent``, ``lost_card`` or ``stolen_card`` read as a plain ``card_declined``, as
    Stripe advises. Messages never carry a token: ``tok_...`` ids are masked.

Refunds
    ``POST /v1/refunds`` by PaymentIntent, with the caller's idempotency key. Stripe only
    accepts ``duplicate``, ``fraudulent`` or ``requested_by_customer`` as ``reason``; any
    other text goes to ``metadata.reason`` (always set when a reason is given).

Webhooks
    Verified by the SDK's own ``WebhookSignature.verify_header`` on the raw body (300 s
    tolerance), then reduced to a :class:`ProviderEvent`: ``payment_intent.succeeded`` /
    ``payment_intent.payment_failed`` (by PaymentIntent id), ``charge.refunded`` (the
    charge's PaymentIntent, and ``amount_refunded`` as the running total) and
    ``charge.dispute.created``/``updated``/``closed`` (the dispute's PaymentIntent); all
    else is ``other``. Event handlers must not rely on ``charge.succeeded``: the
    PaymentIntent events are the ones acted on.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Final, Literal

import stripe
from stripe.params import (
    PaymentIntentCreateParams,
    PaymentIntentRetrieveParams,
    PaymentMethodCreateParams,
    RefundCreateParams,
)

from fynlo.payments.providers.base import (
    CardChargeRequest,
    ChargeResult,
    ChargeStatus,
    EventKind,
    InvalidSignature,
    ProviderError,
    ProviderEvent,
    ProviderUnavailable,
    RefundResult,
)

SIGNATURE_HEADER: Final = "stripe-signature"
WEBHOOK_TOLERANCE_SECONDS: Final = 300
REFUND_REASONS: Final = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
WALLET_TOKEN: Final = re.compile(r"tok_[A-Za-z0-9_]+")

_MAX_KEY_LENGTH: Final = 255
_RETRYABLE_STATUSES: Final = frozenset({408, 409, 425, 429})
_CHARGE_STATUS: Final[dict[str, ChargeStatus]] = {
    "succeeded": "succeeded",
    "processing": "processing",
    "requires_capture": "processing",
    "requires_action": "requires_action",
    "requires_confirmation": "requires_action",
    "canceled": "canceled",
}
_REFUND_STATUS: Final[dict[str, Literal["succeeded", "pending", "failed"]]] = {
    "succeeded": "succeeded",
    "pending": "pending",
    "requires_action": "pending",
    "failed": "failed",
    "canceled": "failed",
}
_EVENT_KINDS: Final[dict[str, EventKind]] = {
    "payment_intent.succeeded": "payment_succeeded",
    "payment_intent.payment_failed": "payment_failed",
    "charge.refunded": "refunded",
    "charge.dispute.created": "dispute",
    "charge.dispute.updated": "dispute",
    "charge.dispute.closed": "dispute",
}
# Decline codes worth telling the customer; the rest read as "card_declined".
_SHOWN_DECLINE_CODES: Final = frozenset(
    {
        "insufficient_funds",
        "expired_card",
        "incorrect_cvc",
        "invalid_cvc",
        "incorrect_number",
        "invalid_expiry_month",
        "invalid_expiry_year",
        "incorrect_zip",
        "card_not_supported",
        "currency_not_supported",
        "processing_error",
        "try_again_later",
        "authentication_required",
        "card_velocity_exceeded",
        "withdrawal_count_limit_exceeded",
        "invalid_amount",
    }
)


def stripe_key(idempotency_key: str) -> str:
    """The key as Stripe accepts it (at most 255 characters), else a stable digest, so one
    Fynlo key always maps to one Stripe key."""
    if len(idempotency_key) <= _MAX_KEY_LENGTH:
        return idempotency_key
    return "fynlo-sha256:" + hashlib.sha256(idempotency_key.encode()).hexdigest()


def mask_tokens(text: str) -> str:
    """Stripe echoes a bad token in its message ("No such token: 'tok_...'")."""
    return WALLET_TOKEN.sub("tok_***", text)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _upper(value: Any) -> str | None:
    text = _str(value)
    return text.upper() if text else None


def _card_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The card details of a PaymentIntent (expanded ``payment_method`` or
    ``latest_charge``, or ``last_payment_error.payment_method``), a Charge or a
    PaymentMethod; empty when none is there."""
    candidates = [
        _dict(obj.get("card")),
        _dict(_dict(obj.get("payment_method_details")).get("card")),
        _dict(_dict(obj.get("payment_method")).get("card")),
        _dict(_dict(_dict(obj.get("latest_charge")).get("payment_method_details")).get("card")),
        _dict(_dict(_dict(obj.get("last_payment_error")).get("payment_method")).get("card")),
    ]
    return next((card for card in candidates if card), {})


def _card_fields(obj: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(brand, last4, wallet type)."""
    card = _card_of(obj)
    wallet = _str(_dict(card.get("wallet")).get("type"))
    return _str(card.get("brand")), _str(card.get("last4")), wallet


def failure_code(error: Mapping[str, Any]) -> str | None:
    """See the module's docstring: the decline code when it helps, else the error code."""
    decline = _str(error.get("decline_code"))
    if decline in _SHOWN_DECLINE_CODES:
        return decline
    return _str(error.get("code")) or decline or _str(error.get("type"))


def _failure(error: Mapping[str, Any]) -> tuple[str | None, str | None]:
    message = _str(error.get("message"))
    return failure_code(error), mask_tokens(message) if message else None


def charge_result(intent: Mapping[str, Any], *, wallet: str | None = None) -> ChargeResult:
    """A Stripe PaymentIntent (a plain dict) as Fynlo reads it. ``wallet`` is the caller's
    word for it, used when Stripe's card carries none."""
    raw_status = str(intent.get("status") or "")
    last_error = _dict(intent.get("last_payment_error"))
    status: ChargeStatus
    if raw_status == "requires_payment_method":
        # after a failed attempt it is a failure; before any, the client must still pay
        status = "failed" if last_error else "requires_action"
    else:
        status = _CHARGE_STATUS.get(raw_status, "processing")
    code: str | None = None
    message: str | None = None
    if status == "failed":
        code, message = _failure(last_error)
    elif status == "canceled":
        code = _str(intent.get("cancellation_reason")) or "canceled"
        message = "The payment was canceled"
    brand, last4, card_wallet = _card_fields(intent)
    next_action = intent.get("next_action")
    return ChargeResult(
        status=status,
        provider_payment_id=_str(intent.get("id")),
        raw_status=raw_status,
        client_secret=_str(intent.get("client_secret")) if status == "requires_action" else None,
        next_action=next_action if status == "requires_action" and next_action else None,
        card_brand=brand,
        last4=last4,
        wallet=card_wallet or wallet,
        failure_code=code,
        failure_message=message,
        amount_minor=_int(intent.get("amount")),
        currency=_upper(intent.get("currency")),
    )


def refund_result(refund: Mapping[str, Any]) -> RefundResult:
    return RefundResult(
        provider_refund_id=str(refund.get("id") or ""),
        status=_REFUND_STATUS.get(str(refund.get("status")), "pending"),
        amount_minor=_int(refund.get("amount")) or 0,
    )


def parse_stripe_webhook(
    body: bytes, headers: Mapping[str, str], webhook_secret: str, *, provider: str
) -> ProviderEvent:
    """Verify ``Stripe-Signature`` on the raw body with the SDK (HMAC-SHA256 of
    ``"{t}.{body}"``, timestamp no older than 300 s) before reading anything, then reduce
    the event to a :class:`ProviderEvent`."""
    signature = next(
        (value for key, value in headers.items() if key.lower() == SIGNATURE_HEADER), ""
    )
    if not signature.strip():
        raise InvalidSignature("missing Stripe-Signature")
    if not webhook_secret:
        raise InvalidSignature("no Stripe webhook secret is configured")
    try:
        stripe.WebhookSignature.verify_header(
            body, signature, webhook_secret, WEBHOOK_TOLERANCE_SECONDS
        )
        event = json.loads(body)
    except stripe.SignatureVerificationError as exc:
        raise InvalidSignature(exc.user_message or "signature does not verify") from exc
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
        raise InvalidSignature("webhook body is not JSON") from exc
    data = _dict(event).get("data")
    obj = _dict(data).get("object")
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("type"), str)
        or not isinstance(event.get("id"), str)
        or not isinstance(obj, dict)
    ):
        raise InvalidSignature("webhook body is not a Stripe event")
    event_type: str = event["type"]
    kind = _EVENT_KINDS.get(event_type, "other")
    if obj.get("object") == "payment_intent":
        payment_id = _str(obj.get("id"))
    else:
        payment_id = _str(obj.get("payment_intent"))
    code: str | None = None
    message: str | None = None
    if kind == "payment_failed":
        code, message = _failure(_dict(obj.get("last_payment_error")))
    brand, last4, _ = _card_fields(obj)
    amount = _int(obj.get("amount_received")) if kind == "payment_succeeded" else None
    return ProviderEvent(
        provider=provider,
        event_id=event["id"],
        event_type=event_type,
        kind=kind,
        created=_int(event.get("created")) or 0,
        provider_payment_id=payment_id,
        amount_minor=amount or _int(obj.get("amount")),
        amount_refunded_minor=_int(obj.get("amount_refunded")) if kind == "refunded" else None,
        currency=_upper(obj.get("currency")),
        card_brand=brand,
        last4=last4,
        failure_code=code,
        failure_message=message,
        payload=obj,
    )


def _error_object(exc: stripe.StripeError) -> dict[str, Any]:
    return _dict(_dict(exc.json_body).get("error"))


def _refusal(exc: stripe.StripeError) -> ProviderError:
    """Classify an SDK exception: unknown outcome (retry with the key) or a refusal."""
    error = _error_object(exc)
    status = exc.http_status
    message = mask_tokens(_str(error.get("message")) or exc.user_message or type(exc).__name__)
    if (
        isinstance(exc, (stripe.APIConnectionError, stripe.RateLimitError))
        or status is None
        or status >= 500
        or status in _RETRYABLE_STATUSES
    ):
        return ProviderUnavailable(
            f"Stripe is unavailable: {message}", code=_str(error.get("code")) or "unavailable"
        )
    if isinstance(exc, stripe.AuthenticationError):
        return ProviderError(message, code="authentication_failed")
    code = _str(error.get("code")) or _str(error.get("type")) or f"http_{status}"
    return ProviderError(message, code=code)


def _declined(exc: stripe.CardError, *, wallet: str | None) -> ChargeResult:
    """A 402: the PaymentIntent in the error (when Stripe made one) read as failed."""
    error = _error_object(exc)
    code, message = _failure(error)
    intent = _dict(error.get("payment_intent"))
    base = charge_result(intent, wallet=wallet) if intent else None
    return ChargeResult(
        status="failed",
        provider_payment_id=base.provider_payment_id if base else None,
        raw_status=base.raw_status if base else "card_error",
        card_brand=base.card_brand if base else None,
        last4=base.last4 if base else None,
        wallet=base.wallet if base else wallet,
        failure_code=code or "card_declined",
        failure_message=message,
        amount_minor=base.amount_minor if base else None,
        currency=base.currency if base else None,
    )


class StripeProvider:
    """The :class:`~fynlo.payments.providers.base.CardProvider` for Stripe. See the
    module's docstring for errors, wallets and webhooks."""

    name: str = "stripe"

    def __init__(
        self,
        api_key: str,
        webhook_secret: str,
        *,
        base_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._webhook_secret = webhook_secret
        self._http = stripe.HTTPXClient(timeout=timeout)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": base_url.rstrip("/")} if base_url else None,
            http_client=self._http,
            max_network_retries=0,
        )

    async def aclose(self) -> None:
        """Close the connection pool (on shutdown, or at the end of a test)."""
        await self._http.close_async()  # type: ignore[no-untyped-call]

    # ----------------------------------------------------------------- charges

    async def charge(self, request: CardChargeRequest) -> ChargeResult:
        """Create and (by default) confirm a PaymentIntent; a retry with the same
        idempotency key returns the same PaymentIntent, never a second charge."""
        payment_method = request.payment_method_id
        if payment_method is None and request.wallet_token is not None:
            try:
                payment_method = await self._wallet_payment_method(request, request.wallet_token)
            except stripe.CardError as exc:
                return _declined(exc, wallet=request.wallet)
            except stripe.StripeError as exc:
                raise _refusal(exc) from exc
        if payment_method is None and request.confirm:
            raise ProviderError(
                "a payment method or a wallet token is needed to confirm a charge",
                code="parameter_missing",
            )
        params: PaymentIntentCreateParams = {
            "amount": request.amount_minor,
            "currency": request.currency.lower(),
            "metadata": dict(request.metadata),
            "payment_method_types": ["card"],
            "confirm": request.confirm,
            "expand": ["payment_method"],
        }
        if payment_method is not None:
            params["payment_method"] = payment_method
        if request.description:
            params["description"] = request.description
        if request.return_url and request.confirm:
            params["return_url"] = request.return_url
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params, options={"idempotency_key": stripe_key(request.idempotency_key)}
            )
        except stripe.CardError as exc:
            return _declined(exc, wallet=request.wallet)
        except stripe.StripeError as exc:
            raise _refusal(exc) from exc
        return charge_result(intent.to_dict(), wallet=request.wallet)

    async def _wallet_payment_method(self, request: CardChargeRequest, token: str) -> str:
        if not WALLET_TOKEN.fullmatch(token):
            raise ProviderError(
                "the wallet token must be a Stripe token (tok_...)", code="invalid_wallet_token"
            )
        params: PaymentMethodCreateParams = {"type": "card", "card": {"token": token}}
        if request.wallet is not None:
            params["metadata"] = {"wallet": request.wallet}
        method = await self._client.v1.payment_methods.create_async(
            params, options={"idempotency_key": stripe_key(request.idempotency_key + ":pm")}
        )
        return str(method.id)

    async def retrieve(self, provider_payment_id: str) -> ChargeResult:
        """The PaymentIntent now (after 3-D Secure, say), card details included."""
        params: PaymentIntentRetrieveParams = {"expand": ["payment_method"]}
        try:
            intent = await self._client.v1.payment_intents.retrieve_async(
                provider_payment_id, params
            )
        except stripe.StripeError as exc:
            raise _refusal(exc) from exc
        return charge_result(intent.to_dict())

    # ----------------------------------------------------------------- refunds

    async def refund(
        self,
        provider_payment_id: str,
        amount_minor: int,
        *,
        idempotency_key: str,
        reason: str | None = None,
    ) -> RefundResult:
        """Refund ``amount_minor`` of a PaymentIntent's charge. The body is built from the
        arguments only, so a retry with the same key is the same request to Stripe."""
        params: RefundCreateParams = {"payment_intent": provider_payment_id, "amount": amount_minor}
        if reason:
            params["metadata"] = {"reason": reason[:500]}
            if reason in REFUND_REASONS:
                params["reason"] = reason
        try:
            refund = await self._client.v1.refunds.create_async(
                params, options={"idempotency_key": stripe_key(idempotency_key)}
            )
        except stripe.StripeError as exc:
            raise _refusal(exc) from exc
        return refund_result(refund.to_dict())

    # ----------------------------------------------------------------- webhooks

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Verify and read one webhook delivery; :class:`InvalidSignature` otherwise."""
        return parse_stripe_webhook(body, headers, self._webhook_secret, provider=self.name)
