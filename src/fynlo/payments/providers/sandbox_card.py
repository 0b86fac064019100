"""An in-process stand-in for Stripe, for the demo: no network and no account needed.

It implements :class:`~fynlo.payments.providers.base.CardProvider` over Stripe-shaped
PaymentIntents kept in memory, read by the Stripe adapter's own readers
(:func:`charge_result`, :func:`parse_stripe_webhook`), so the demo runs the production
code paths. It knows Stripe's test payment methods (``pm_card_visa``,
``pm_card_chargeDeclined``, ``pm_card_threeDSecure2Required``...) and their ``tok_...``
twins for wallets, with the outcomes Stripe documents. :meth:`SandboxCardProvider.authenticate`
plays the customer completing 3-D Secure; :meth:`SandboxCardProvider.webhook` builds the
signed delivery Stripe would send.
"""

from __future__ import annotations

import copy
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any, Literal

import stripe

from fynlo.payments.providers.base import (
    CardChargeRequest,
    ChargeResult,
    ProviderError,
    ProviderEvent,
    RefundResult,
)
from fynlo.payments.providers.stripe import charge_result, mask_tokens, parse_stripe_webhook

Outcome = Literal["succeed", "decline", "authenticate"]

# name -> (brand, last4, outcome, error code, decline code, message); as Stripe's test cards
TEST_CARDS: dict[str, tuple[str, str, Outcome, str | None, str | None, str | None]] = {
    "visa": ("visa", "4242", "succeed", None, None, None),
    "mastercard": ("mastercard", "4444", "succeed", None, None, None),
    "amex": ("amex", "0005", "succeed", None, None, None),
    "chargeDeclined": (
        "visa",
        "0002",
        "decline",
        "card_declined",
        "generic_decline",
        "Your card was declined.",
    ),
    "chargeDeclinedInsufficientFunds": (
        "visa",
        "9995",
        "decline",
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "chargeDeclinedExpiredCard": (
        "visa",
        "0069",
        "decline",
        "expired_card",
        "expired_card",
        "Your card has expired.",
    ),
    "threeDSecure2Required": ("visa", "3220", "authenticate", None, None, None),
    "authenticationRequired": ("visa", "3184", "authenticate", None, None, None),
}


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class SandboxCardProvider:
    """Stripe's card behaviour in miniature: charges confirmed at once, 3-D Secure held
    until :meth:`authenticate`, refunds up to what is left, idempotency keys honoured."""

    name: str = "sandbox_card"

    def __init__(self, webhook_secret: str | None = None) -> None:
        """A secret not given is random: the sandbox signs and verifies with its own."""
        self.webhook_secret = webhook_secret or secrets.token_hex(16)
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self._charge_keys: dict[str, tuple[tuple[Any, ...], str]] = {}
        self._refund_keys: dict[str, tuple[tuple[Any, ...], RefundResult]] = {}
        self._outcomes: dict[str, tuple[Outcome, str | None, str | None, str | None]] = {}

    def _payment_method(self, request: CardChargeRequest) -> dict[str, Any] | None:
        source = request.payment_method_id or request.wallet_token
        if source is None:
            return None
        prefix = "pm_card_" if request.payment_method_id else "tok_"
        card = TEST_CARDS.get(source.removeprefix(prefix)) if source.startswith(prefix) else None
        if card is None:
            kind = "PaymentMethod" if request.payment_method_id else "token"
            raise ProviderError(mask_tokens(f"No such {kind}: '{source}'"), code="resource_missing")
        wallet = {"type": request.wallet} if request.wallet and request.wallet_token else None
        method_id = _id("pm")
        self._outcomes[method_id] = card[2:]
        details = {"brand": card[0], "last4": card[1], "wallet": wallet}
        return {"id": method_id, "object": "payment_method", "type": "card", "card": details}

    async def charge(self, request: CardChargeRequest) -> ChargeResult:
        currency = request.currency.lower()
        fingerprint = (
            request.amount_minor,
            currency,
            request.payment_method_id,
            request.wallet_token,
            request.confirm,
        )
        seen = self._charge_keys.get(request.idempotency_key)
        if seen is not None:
            if seen[0] != fingerprint:
                raise ProviderError(
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                    code="idempotency_error",
                )
            return charge_result(self.payment_intents[seen[1]], wallet=request.wallet)
        method = self._payment_method(request)
        if method is None and request.confirm:
            raise ProviderError(
                "a payment method or a wallet token is needed to confirm a charge",
                code="parameter_missing",
            )
        intent_id = _id("pi")
        intent: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": request.amount_minor,
            "amount_received": 0,
            "currency": currency,
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
            "created": int(time.time()),
            "description": request.description,
            "metadata": dict(request.metadata),
            "payment_method": method,
            "latest_charge": None,
            "last_payment_error": None,
            "next_action": None,
            "status": "requires_confirmation" if method else "requires_payment_method",
        }
        if method is not None and request.confirm:
            self._confirm(intent, method)
        self.payment_intents[intent_id] = intent
        self._charge_keys[request.idempotency_key] = (fingerprint, intent_id)
        return charge_result(intent, wallet=request.wallet)

    def _confirm(self, intent: dict[str, Any], method: dict[str, Any]) -> None:
        outcome, code, decline_code, message = self._outcomes[method["id"]]
        if outcome == "authenticate":
            intent["status"] = "requires_action"
            intent["next_action"] = {
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {"type": "three_d_secure_redirect", "source": _id("src")},
            }
        elif outcome == "decline":
            self._new_charge(intent, method, failed=(code, message))
            intent.update(
                status="requires_payment_method",
                payment_method=None,
                last_payment_error={
                    "type": "card_error",
                    "code": code,
                    "decline_code": decline_code,
                    "message": message,
                    "payment_method": method,
                },
            )
        else:
            self._new_charge(intent, method)
            intent.update(status="succeeded", amount_received=intent["amount"], next_action=None)

    def _new_charge(
        self,
        intent: dict[str, Any],
        method: dict[str, Any],
        failed: tuple[str | None, str | None] | None = None,
    ) -> None:
        charge_id = _id("ch")
        card = dict(method["card"])
        self.charges[charge_id] = {
            "id": charge_id,
            "object": "charge",
            "amount": intent["amount"],
            "amount_refunded": 0,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "payment_method_details": {"type": "card", "card": card},
            "paid": failed is None,
            "refunded": False,
            "status": "failed" if failed else "succeeded",
            "failure_code": failed[0] if failed else None,
            "failure_message": failed[1] if failed else None,
            "created": int(time.time()),
        }
        intent["latest_charge"] = charge_id

    def _intent(self, provider_payment_id: str) -> dict[str, Any]:
        intent = self.payment_intents.get(provider_payment_id)
        if intent is None:
            raise ProviderError(
                f"No such payment_intent: '{provider_payment_id}'", code="resource_missing"
            )
        return intent

    def authenticate(self, provider_payment_id: str, *, succeed: bool = True) -> None:
        """The customer completes (or fails) 3-D Secure for a ``requires_action`` charge."""
        intent = self._intent(provider_payment_id)
        if intent["status"] != "requires_action":
            raise ValueError(f"{provider_payment_id} does not await authentication")
        if succeed:
            self._new_charge(intent, intent["payment_method"])
            intent.update(status="succeeded", amount_received=intent["amount"], next_action=None)
            return
        intent.update(
            status="requires_payment_method",
            next_action=None,
            last_payment_error={
                "type": "invalid_request_error",
                "code": "payment_intent_authentication_failure",
                "message": "The provided PaymentMethod has failed authentication.",
                "payment_method": intent["payment_method"],
            },
            payment_method=None,
        )

    async def retrieve(self, provider_payment_id: str) -> ChargeResult:
        return charge_result(self._intent(provider_payment_id))

    async def refund(
        self,
        provider_payment_id: str,
        amount_minor: int,
        *,
        idempotency_key: str,
        reason: str | None = None,
    ) -> RefundResult:
        fingerprint = (provider_payment_id, amount_minor, reason)
        seen = self._refund_keys.get(idempotency_key)
        if seen is not None:
            if seen[0] != fingerprint:
                raise ProviderError(
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                    code="idempotency_error",
                )
            return seen[1]
        intent = self._intent(provider_payment_id)
        if intent["status"] != "succeeded":
            raise ProviderError(
                "This PaymentIntent does not have a successful charge to refund.",
                code="invalid_request_error",
            )
        charge = self.charges[intent["latest_charge"]]
        left = charge["amount"] - charge["amount_refunded"]
        if left <= 0:
            raise ProviderError(
                f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
            )
        if not 0 < amount_minor <= left:
            raise ProviderError(
                f"Refund amount ({amount_minor}) is greater than unrefunded amount on charge "
                f"({left})",
                code="amount_too_large",
            )
        charge["amount_refunded"] += amount_minor
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        result = RefundResult(_id("re"), "succeeded", amount_minor)
        self._refund_keys[idempotency_key] = (fingerprint, result)
        return result

    def webhook(self, event_type: str, provider_payment_id: str) -> tuple[bytes, dict[str, str]]:
        """The raw body and headers Stripe would deliver for ``event_type``
        (``payment_intent.succeeded``, ``payment_intent.payment_failed``,
        ``charge.refunded``...) about this PaymentIntent, signed with the sandbox's secret."""
        intent = self._intent(provider_payment_id)
        if event_type.startswith("charge."):
            obj = copy.deepcopy(self.charges[intent["latest_charge"]])
        else:
            obj = copy.deepcopy(intent)
        body = json.dumps(
            {
                "id": _id("evt"),
                "object": "event",
                "api_version": stripe.api_version,
                "created": int(time.time()),
                "data": {"object": obj},
                "livemode": False,
                "type": event_type,
            }
        ).encode()
        signature = stripe.WebhookSignature.generate_signature_header(
            body.decode(), self.webhook_secret
        )
        return body, {"Content-Type": "application/json", "Stripe-Signature": signature}

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        return parse_stripe_webhook(body, headers, self.webhook_secret, provider=self.name)
