"""An in-process stand-in for Razorpay, for the demo: no network and no account needed.

It implements the same :class:`~fynlo.payments.providers.base.UpiProvider` interface and
keeps Razorpay-shaped orders, payments and refunds in memory, so the Razorpay adapter's
readers (:func:`charge_result`, :func:`parse_razorpay_webhook`) serve both and the demo
exercises the same code paths as production. :meth:`SandboxUpiProvider.pay` plays the
customer completing Checkout; :meth:`SandboxUpiProvider.webhook` builds the signed
delivery Razorpay would send.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

from fynlo.payments.providers.base import (
    ChargeResult,
    ProviderError,
    ProviderEvent,
    ProviderOrder,
    RefundResult,
)
from fynlo.payments.providers.razorpay import (
    charge_result,
    parse_razorpay_webhook,
    payment_signature,
    verify_payment_signature,
    webhook_signature,
)


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(7)}"


class SandboxUpiProvider:
    """Razorpay's behaviour in miniature: orders of at least 1.00, payments captured at
    once, refunds up to what is left, idempotency keys honoured like the real adapter's."""

    name: str = "sandbox_upi"

    def __init__(
        self,
        webhook_secret: str | None = None,
        *,
        key_id: str = "rzp_test_fynlo_sandbox",
        key_secret: str | None = None,
    ) -> None:
        """Secrets not given are random: the sandbox signs and verifies with its own."""
        self.key_id = key_id
        self.key_secret = key_secret or secrets.token_hex(16)
        self.webhook_secret = webhook_secret or secrets.token_hex(16)
        self.orders: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self._order_keys: dict[str, str] = {}
        self._refund_keys: dict[str, tuple[str, int, str]] = {}  # key -> payment, amount, refund

    async def create_order(
        self,
        amount_minor: int,
        currency: str,
        *,
        receipt: str,
        notes: Mapping[str, str],
        idempotency_key: str,
    ) -> ProviderOrder:
        currency = currency.upper()
        existing = self._order_keys.get(idempotency_key)
        if existing is None:
            if amount_minor < 100:
                raise ProviderError(
                    f"The amount must be at least {currency} 1.00",
                    code="amount_less_than_minimum_amount",
                )
            existing = _id("order")
            self.orders[existing] = {
                "id": existing,
                "entity": "order",
                "amount": amount_minor,
                "amount_paid": 0,
                "amount_due": amount_minor,
                "currency": currency,
                "receipt": receipt,
                "status": "created",
                "attempts": 0,
                "notes": dict(notes),
                "created_at": int(time.time()),
            }
            self._order_keys[idempotency_key] = existing
        order = self.orders[existing]
        if (order["amount"], order["currency"]) != (amount_minor, currency):
            raise ProviderError(
                "the idempotency key was used for an order of another amount",
                code="idempotency_key_reused",
            )
        return ProviderOrder(existing, amount_minor, currency, str(order["status"]))

    def verify_payment_signature(
        self, provider_order_id: str, provider_payment_id: str, signature: str
    ) -> bool:
        return verify_payment_signature(
            provider_order_id, provider_payment_id, signature, self.key_secret
        )

    def pay(self, order_id: str, *, fail: bool = False) -> tuple[str, str]:
        """The customer pays ``order_id`` by UPI (or the payment fails): returns the
        ``(razorpay_payment_id, razorpay_signature)`` Checkout would hand the client."""
        order = self.orders.get(order_id)
        if order is None:
            raise ProviderError("The id provided does not exist", code="BAD_REQUEST_ERROR")
        if order["status"] == "paid":
            raise ProviderError("Order is already paid", code="order_already_paid")
        payment_id = _id("pay")
        payment: dict[str, Any] = {
            "id": payment_id,
            "entity": "payment",
            "amount": order["amount_due"],
            "currency": order["currency"],
            "status": "captured",
            "order_id": order_id,
            "method": "upi",
            "vpa": "success@razorpay",
            "captured": True,
            "amount_refunded": 0,
            "refund_status": None,
            "error_code": None,
            "error_description": None,
            "error_reason": None,
            "created_at": int(time.time()),
        }
        order["attempts"] += 1
        if fail:
            payment.update(
                status="failed",
                captured=False,
                vpa="failure@razorpay",
                error_code="BAD_REQUEST_ERROR",
                error_description="Payment was unsuccessful as the UPI PIN entered was incorrect.",
                error_reason="incorrect_pin",
            )
            order["status"] = "attempted"
        else:
            order.update(amount_paid=order["amount"], amount_due=0, status="paid")
        self.payments[payment_id] = payment
        return payment_id, payment_signature(order_id, payment_id, self.key_secret)

    def _payment(self, provider_payment_id: str) -> dict[str, Any]:
        payment = self.payments.get(provider_payment_id)
        if payment is None:
            raise ProviderError("The id provided does not exist", code="BAD_REQUEST_ERROR")
        return payment

    async def retrieve(self, provider_payment_id: str) -> ChargeResult:
        return charge_result(self._payment(provider_payment_id))

    async def refund(
        self,
        provider_payment_id: str,
        amount_minor: int,
        *,
        idempotency_key: str,
        reason: str | None = None,
    ) -> RefundResult:
        seen = self._refund_keys.get(idempotency_key)
        if seen is not None:
            if seen[:2] != (provider_payment_id, amount_minor):
                raise ProviderError(
                    "Different request with the same idempotency key has already been processed.",
                    code="idempotency_key_reused",
                )
            refund = self.refunds[seen[2]]
            return RefundResult(refund["id"], "succeeded", refund["amount"])
        payment = self._payment(provider_payment_id)
        if not payment["captured"]:
            raise ProviderError("The payment has not been captured", code="invalid_state")
        if not 0 < amount_minor <= payment["amount"] - payment["amount_refunded"]:
            raise ProviderError(
                "The refund amount provided is greater than amount captured",
                code="input_validation_failed",
            )
        refund_id = _id("rfnd")
        self.refunds[refund_id] = {
            "id": refund_id,
            "entity": "refund",
            "amount": amount_minor,
            "currency": payment["currency"],
            "payment_id": provider_payment_id,
            "notes": {"reason": reason} if reason else {},
            "status": "processed",
            "created_at": int(time.time()),
        }
        self._refund_keys[idempotency_key] = (provider_payment_id, amount_minor, refund_id)
        payment["amount_refunded"] += amount_minor
        full = payment["amount_refunded"] == payment["amount"]
        payment.update(refund_status="full" if full else "partial")
        if full:
            payment["status"] = "refunded"
        return RefundResult(refund_id, "succeeded", amount_minor)

    def webhook(
        self, event: str, provider_payment_id: str, provider_refund_id: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The raw body and headers of the delivery Razorpay would make for ``event``
        (``payment.captured``, ``payment.failed``, ``refund.processed``...), signed with
        this sandbox's webhook secret."""
        payload: dict[str, Any] = {"payment": {"entity": dict(self._payment(provider_payment_id))}}
        if provider_refund_id is not None:
            payload["refund"] = {"entity": dict(self.refunds[provider_refund_id])}
        body = json.dumps(
            {
                "entity": "event",
                "account_id": "acc_fynlo_sandbox",
                "event": event,
                "contains": list(payload),
                "payload": payload,
                "created_at": int(time.time()),
            }
        ).encode()
        return body, {
            "Content-Type": "application/json",
            "X-Razorpay-Signature": webhook_signature(body, self.webhook_secret),
            "x-razorpay-event-id": secrets.token_hex(7),
        }

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        return parse_razorpay_webhook(body, headers, self.webhook_secret, provider=self.name)
