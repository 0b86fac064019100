"""A local fake of Razorpay's HTTP API (https://razorpay.com/docs/api/), close enough for
the official ``razorpay`` SDK to talk to it over a real socket.

It runs on 127.0.0.1 with ``aiohttp.web`` inside the test's own event loop, so the SDK
(synchronous, on ``requests``) must be called from a worker thread, as the adapter does.

Usage::

    async with running_razorpay_fake("rzp_test_key", "key-secret") as fake:
        provider = RazorpayProvider("rzp_test_key", "key-secret", "wh-secret", base_url=fake.url)
        order = await provider.create_order(...)
        paid = fake.pay(order.provider_order_id)            # the customer completes Checkout
        body = json.dumps(fake.event("payment.captured", fake.payments[pid])).encode()
        provider.parse_webhook(body, webhook_headers(body, "wh-secret"))

What it models: Basic auth (401 otherwise); orders (create, fetch, list by ``receipt``, an
order's payments); payments (fetch with ``expand[]=card``, capture, refund, list refunds);
refunds (fetch); Razorpay's error shape and its 400s for the validations the adapter can
trip (minimum amount, missing currency, extra fields, receipt length and uniqueness,
over-refund, refunding an uncaptured payment, capturing twice); the ``X-Refund-Idempotency``
header (same key and body: the same refund; same key, other body: 400); empty ``notes``
answered as ``[]`` as Razorpay does. Not modelled: payment links, QR codes, instant
refunds' speed, settlements, offers, customers, rate limits, the 409 for a retry that
arrives while the first request is still being processed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import hashlib
import hmac
import json
import re
import secrets
import string
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_ALPHABET = string.ascii_letters + string.digits
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{10,}")
_CURRENCY = re.compile(r"[A-Z]{3}")
ORDER_FIELDS = frozenset(
    {
        "amount",
        "currency",
        "receipt",
        "notes",
        "partial_payment",
        "first_payment_min_amount",
        "payment_capture",
        "payment",
    }
)
CAPTURE_FIELDS = frozenset({"amount", "currency"})
REFUND_FIELDS = frozenset({"amount", "speed", "notes", "receipt"})
SERVER_ERROR_DESCRIPTION = "The server encountered an error. The incident has been reported."


def new_id(prefix: str | None = None) -> str:
    """Razorpay's ids: a prefix and 14 base62 characters (``order_EKwxwAgItmmXdp``)."""
    tail = "".join(secrets.choice(_ALPHABET) for _ in range(14))
    return f"{prefix}_{tail}" if prefix else tail


def sign_webhook(body: bytes, secret: str) -> str:
    """``X-Razorpay-Signature``: hex HMAC-SHA256 of the raw body with the webhook secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sign_payment(order_id: str, payment_id: str, key_secret: str) -> str:
    """What Checkout hands the client: hex HMAC-SHA256(key_secret, "order_id|payment_id")."""
    message = f"{order_id}|{payment_id}".encode()
    return hmac.new(key_secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_headers(body: bytes, secret: str, *, event_id: str | None = None) -> dict[str, str]:
    """The headers of one webhook delivery. Razorpay sends a fresh ``x-razorpay-event-id``
    per event (the same one on every retry of that event), for de-duplication."""
    return {
        "Content-Type": "application/json",
        "X-Razorpay-Signature": sign_webhook(body, secret),
        "x-razorpay-event-id": event_id or new_id(),
    }


class RazorpayApiError(Exception):
    """Raised inside a handler; the middleware answers it in Razorpay's error shape."""

    def __init__(
        self,
        description: str,
        *,
        status: int = 400,
        code: str = "BAD_REQUEST_ERROR",
        field: str | None = None,
        source: str = "business",
        step: str = "payment_initiation",
        reason: str = "input_validation_failed",
    ) -> None:
        super().__init__(description)
        self.status = status
        self.body = error_body(
            code, description, field=field, source=source, step=step, reason=reason
        )


def error_body(
    code: str,
    description: str,
    *,
    field: str | None = None,
    source: str = "NA",
    step: str = "NA",
    reason: str = "NA",
) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "description": description,
            "field": field,
            "source": source,
            "step": step,
            "reason": reason,
            "metadata": {},
        }
    }


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it, for asserting what the client sent."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


def _notes_out(notes: Mapping[str, Any]) -> dict[str, Any] | list[Any]:
    """Razorpay (PHP underneath) answers empty notes as ``[]``, not ``{}``."""
    return dict(notes) if notes else []


class RazorpayFake:
    """The fake's state and its test-only controls. ``orders``, ``payments`` and
    ``refunds`` hold every entity really created (id -> entity), so a test can assert that
    a retried request created one refund, not two."""

    def __init__(self, key_id: str, key_secret: str, *, account_id: str = "acc_FynloFake00001"):
        self.key_id = key_id
        self.key_secret = key_secret
        self.account_id = account_id
        self.url = ""
        self.orders: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.requests: list[RecordedRequest] = []
        # Razorpay can reject a receipt already used on the account ("Order receipt should
        # be unique."); the adapter relies on it to make order creation retry-safe.
        self.unique_receipts = True
        self._auto_capture: dict[str, bool] = {}
        self._refund_keys: dict[str, tuple[str, str]] = {}  # key -> (fingerprint, refund id)
        self._delays: list[float] = []
        self._failures: list[int] = []
        self.app = web.Application(middlewares=[self._middleware])
        self.app.router.add_post("/v1/orders", self._create_order)
        self.app.router.add_get("/v1/orders", self._list_orders)
        self.app.router.add_get("/v1/orders/{id}", self._fetch_order)
        self.app.router.add_get("/v1/orders/{id}/payments", self._order_payments)
        self.app.router.add_get("/v1/payments/{id}", self._fetch_payment)
        self.app.router.add_post("/v1/payments/{id}/capture", self._capture)
        self.app.router.add_post("/v1/payments/{id}/refund", self._refund)
        self.app.router.add_get("/v1/payments/{id}/refunds", self._payment_refunds)
        self.app.router.add_get("/v1/refunds/{id}", self._fetch_refund)

    # ----------------------------------------------------------------- test controls

    def delay_next(self, seconds: float) -> None:
        """The next request is carried out, then answered ``seconds`` late (so a client
        with a shorter timeout gives up on a request that did take effect)."""
        self._delays.append(seconds)

    def fail_next(self, status: int = 500) -> None:
        """The next request is answered ``status`` without doing anything."""
        self._failures.append(status)

    def pay(
        self, order_id: str, method: str = "upi", fail: bool = False, capture: bool = True
    ) -> dict[str, str]:
        """The customer completes Razorpay Checkout for ``order_id``.

        Success: a payment ``captured`` (or ``authorized`` when ``capture`` is false or the
        order was created with ``payment_capture: 0``), and what Checkout's handler gets:
        ``razorpay_payment_id``, ``razorpay_order_id``, ``razorpay_signature``. Failure:
        a ``failed`` payment, and the ids with ``error_code``/``error_description``/
        ``error_reason`` instead of a signature (Checkout signs only successes).
        """
        order = self.orders[order_id]
        if order["status"] == "paid":
            raise ValueError(f"{order_id} is already paid")
        if method not in ("upi", "card"):
            raise ValueError("the fake pays by 'upi' or 'card'")
        payment_id = new_id("pay")
        payment: dict[str, Any] = {
            "id": payment_id,
            "entity": "payment",
            "amount": order["amount_due"],
            "currency": order["currency"],
            "status": "created",
            "order_id": order_id,
            "invoice_id": None,
            "international": False,
            "method": method,
            "amount_refunded": 0,
            "refund_status": None,
            "captured": False,
            "description": None,
            "card_id": None,
            "bank": None,
            "wallet": None,
            "vpa": None,
            "email": "void@razorpay.com",
            "contact": "+919000090000",
            "notes": [],
            "fee": None,
            "tax": None,
            "error_code": None,
            "error_description": None,
            "error_source": None,
            "error_step": None,
            "error_reason": None,
            "acquirer_data": {},
            "created_at": int(time.time()),
        }
        if method == "upi":
            payment["vpa"] = "failure@razorpay" if fail else "success@razorpay"
            payment["acquirer_data"] = {"rrn": str(secrets.randbelow(10**12)).zfill(12)}
        else:
            card_id = new_id("card")
            payment["card_id"] = card_id
            payment["card"] = {
                "id": card_id,
                "entity": "card",
                "name": "Fynlo Test",
                "last4": "1111",
                "network": "Visa",
                "type": "credit",
                "issuer": None,
                "international": False,
                "emi": False,
                "sub_type": "consumer",
            }
            payment["acquirer_data"] = {"auth_code": str(secrets.randbelow(10**6)).zfill(6)}
        order["attempts"] += 1
        order["status"] = "attempted"
        self.payments[payment_id] = payment
        if fail:
            if method == "upi":
                description = "Payment was unsuccessful as the UPI PIN entered was incorrect."
                reason = "incorrect_pin"
            else:
                description = "Payment was unsuccessful as the card was declined by the bank."
                reason = "card_declined"
            payment.update(
                status="failed",
                error_code="BAD_REQUEST_ERROR",
                error_description=description,
                error_source="customer",
                error_step="payment_authorization",
                error_reason=reason,
            )
            return {
                "razorpay_payment_id": payment_id,
                "razorpay_order_id": order_id,
                "error_code": "BAD_REQUEST_ERROR",
                "error_description": description,
                "error_reason": reason,
            }
        payment["status"] = "authorized"
        if capture and self._auto_capture.get(order_id, True):
            self._mark_captured(payment)
        return {
            "razorpay_payment_id": payment_id,
            "razorpay_order_id": order_id,
            "razorpay_signature": sign_payment(order_id, payment_id, self.key_secret),
        }

    def event(
        self, event: str, payment: Mapping[str, Any], refund: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Razorpay's webhook JSON for ``event`` (``payment.captured``, ``payment.failed``,
        ``refund.processed``, ``order.paid``...), with copies of the entities as they are now.
        Serialise it, then sign the bytes with :func:`webhook_headers`."""
        payload: dict[str, Any] = {}
        contains: list[str] = []
        if refund is not None:
            payload["refund"] = {"entity": copy.deepcopy(dict(refund))}
            contains.append("refund")
        payload["payment"] = {"entity": copy.deepcopy(dict(payment))}
        contains.append("payment")
        if event.startswith("order."):
            order = self.orders.get(str(payment.get("order_id")))
            if order is not None:
                payload["order"] = {"entity": copy.deepcopy(order)}
                contains.append("order")
        return {
            "entity": "event",
            "account_id": self.account_id,
            "event": event,
            "contains": contains,
            "payload": payload,
            "created_at": int(time.time()),
        }

    def webhook(
        self,
        event: str,
        payment: Mapping[str, Any],
        refund: Mapping[str, Any] | None = None,
        *,
        secret: str,
        event_id: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """One signed delivery: the raw body and its headers."""
        body = json.dumps(self.event(event, payment, refund)).encode()
        return body, webhook_headers(body, secret, event_id=event_id)

    # ----------------------------------------------------------------- plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        self.requests.append(
            RecordedRequest(
                request.method, request.path, dict(request.query), dict(request.headers), body
            )
        )
        if self._failures:
            status = self._failures.pop(0)
            code = "SERVER_ERROR" if status >= 500 else "BAD_REQUEST_ERROR"
            return web.json_response(error_body(code, SERVER_ERROR_DESCRIPTION), status=status)
        if not self._authorized(request.headers.get("Authorization", "")):
            return web.json_response(
                error_body("BAD_REQUEST_ERROR", "Authentication failed"), status=401
            )
        try:
            response = await handler(request)
        except RazorpayApiError as exc:
            response = web.json_response(exc.body, status=exc.status)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            response = web.json_response(
                error_body("BAD_REQUEST_ERROR", "The requested URL was not found on the server."),
                status=400,
            )
        if self._delays:
            await asyncio.sleep(self._delays.pop(0))
        return response

    def _authorized(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        if scheme != "Basic":
            return False
        try:
            decoded = base64.b64decode(token, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        key_id, _, key_secret = decoded.partition(":")
        return hmac.compare_digest(key_id.encode(), self.key_id.encode()) and (
            hmac.compare_digest(key_secret.encode(), self.key_secret.encode())
        )

    @staticmethod
    async def _json(request: web.Request, allowed: frozenset[str]) -> dict[str, Any]:
        raw = await request.read()
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            raise RazorpayApiError("The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise RazorpayApiError("The request body must be a JSON object.")
        extra = sorted(set(data) - allowed)
        if extra:
            raise RazorpayApiError(
                f"{', '.join(extra)} is/are not required and should not be sent",
                reason="extra_field_sent",
            )
        return data

    @staticmethod
    def _amount(value: Any, currency: str, *, required: bool = True) -> int | None:
        if value is None:
            if required:
                raise RazorpayApiError("The amount field is required.", field="amount")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise RazorpayApiError("The amount must be an integer.", field="amount")
        if value < 100:
            raise RazorpayApiError(
                f"The amount must be at least {currency} 1.00",
                field="amount",
                reason="amount_less_than_minimum_amount",
            )
        return value

    @staticmethod
    def _notes(value: Any) -> dict[str, str]:
        if value is None or value == []:
            return {}
        if not isinstance(value, dict):
            raise RazorpayApiError("The notes must be an object.", field="notes")
        if len(value) > 15:
            raise RazorpayApiError("Number of fields in notes should be 15 or less", field="notes")
        for key, item in value.items():
            if len(str(item)) > 256:
                raise RazorpayApiError(
                    f"notes.{key} may not be greater than 256 characters.", field="notes"
                )
        return {str(key): str(item) for key, item in value.items()}

    def _order(self, order_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise RazorpayApiError("The id provided does not exist", field="id")
        return order

    def _payment(self, payment_id: str) -> dict[str, Any]:
        payment = self.payments.get(payment_id)
        if payment is None:
            raise RazorpayApiError("The id provided does not exist", field="id")
        return payment

    @staticmethod
    def _public_payment(payment: Mapping[str, Any], expand: list[str]) -> dict[str, Any]:
        """``card`` only when the client asked for ``expand[]=card``, as the API does."""
        out = {key: value for key, value in payment.items() if key != "card"}
        if "card" in expand and "card" in payment:
            out["card"] = payment["card"]
        return out

    @staticmethod
    def _collection(items: list[dict[str, Any]]) -> web.Response:
        return web.json_response({"entity": "collection", "count": len(items), "items": items})

    def _mark_captured(self, payment: dict[str, Any]) -> None:
        amount = int(payment["amount"])
        fee = amount * 2 // 100
        payment.update(status="captured", captured=True, fee=fee, tax=fee * 18 // 118)
        order = self.orders.get(str(payment["order_id"]))
        if order is not None:
            order["amount_paid"] += amount
            order["amount_due"] = max(order["amount"] - order["amount_paid"], 0)
            if order["amount_due"] == 0:
                order["status"] = "paid"

    # ----------------------------------------------------------------- orders

    async def _create_order(self, request: web.Request) -> web.Response:
        data = await self._json(request, ORDER_FIELDS)
        currency = data.get("currency")
        if currency is None or currency == "":
            raise RazorpayApiError("The currency field is required.", field="currency")
        if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
            raise RazorpayApiError("The currency provided is invalid.", field="currency")
        amount = self._amount(data.get("amount"), currency)
        assert amount is not None
        receipt = data.get("receipt")
        if receipt is not None:
            if not isinstance(receipt, str):
                raise RazorpayApiError("The receipt must be a string.", field="receipt")
            if len(receipt) > 40:
                raise RazorpayApiError(
                    "The receipt may not be greater than 40 characters.", field="receipt"
                )
            if self.unique_receipts and any(o["receipt"] == receipt for o in self.orders.values()):
                raise RazorpayApiError("Order receipt should be unique.", field="receipt")
        notes = self._notes(data.get("notes"))
        order_id = new_id("order")
        order: dict[str, Any] = {
            "id": order_id,
            "entity": "order",
            "amount": amount,
            "amount_paid": 0,
            "amount_due": amount,
            "currency": currency,
            "receipt": receipt,
            "offer_id": None,
            "status": "created",
            "attempts": 0,
            "notes": _notes_out(notes),
            "created_at": int(time.time()),
        }
        if data.get("partial_payment"):
            order["partial_payment"] = True
        capture = data.get("payment_capture")
        self._auto_capture[order_id] = capture is None or bool(capture)
        self.orders[order_id] = order
        return web.json_response(order)

    async def _list_orders(self, request: web.Request) -> web.Response:
        items = sorted(self.orders.values(), key=lambda o: o["created_at"], reverse=True)
        receipt = request.query.get("receipt")
        if receipt is not None:
            items = [o for o in items if o["receipt"] == receipt]
        skip = int(request.query.get("skip", "0"))
        count = int(request.query.get("count", "10"))
        return self._collection(items[skip : skip + count])

    async def _fetch_order(self, request: web.Request) -> web.Response:
        return web.json_response(self._order(request.match_info["id"]))

    async def _order_payments(self, request: web.Request) -> web.Response:
        order = self._order(request.match_info["id"])
        expand = request.query.getall("expand[]", [])
        items = [
            self._public_payment(p, expand)
            for p in self.payments.values()
            if p["order_id"] == order["id"]
        ]
        return self._collection(items)

    # ----------------------------------------------------------------- payments

    async def _fetch_payment(self, request: web.Request) -> web.Response:
        payment = self._payment(request.match_info["id"])
        return web.json_response(
            self._public_payment(payment, request.query.getall("expand[]", []))
        )

    async def _capture(self, request: web.Request) -> web.Response:
        payment = self._payment(request.match_info["id"])
        data = await self._json(request, CAPTURE_FIELDS)
        if payment["status"] in ("captured", "refunded"):
            raise RazorpayApiError("This payment has already been captured", reason="NA")
        if payment["status"] != "authorized":
            raise RazorpayApiError(
                "Only payments which have been authorized and not yet captured can be captured"
            )
        if not data.get("currency"):
            raise RazorpayApiError("The currency field is required.", field="currency")
        if data.get("currency") != payment["currency"]:
            raise RazorpayApiError("Currency should be same as payment currency.", field="currency")
        if self._amount(data.get("amount"), payment["currency"]) != payment["amount"]:
            raise RazorpayApiError(
                "Capture amount must be equal to the amount authorized", field="amount"
            )
        self._mark_captured(payment)
        return web.json_response(self._public_payment(payment, []))

    async def _refund(self, request: web.Request) -> web.Response:
        payment = self._payment(request.match_info["id"])
        data = await self._json(request, REFUND_FIELDS)
        key = request.headers.get("X-Refund-Idempotency")
        fingerprint = f"{payment['id']}|{json.dumps(data, sort_keys=True)}"
        if key is not None:
            if not _IDEMPOTENCY_KEY.fullmatch(key):
                raise RazorpayApiError(
                    "The idempotency key must be at least 10 characters of letters, "
                    "digits, hyphens and underscores."
                )
            seen = self._refund_keys.get(key)
            if seen is not None:
                if seen[0] != fingerprint:
                    raise RazorpayApiError(
                        "Different request with the same idempotency key has already "
                        "been processed.",
                        source="NA",
                        step="NA",
                        reason="NA",
                    )
                return web.json_response(self.refunds[seen[1]])
        if not payment["captured"]:
            raise RazorpayApiError("The payment has not been captured", reason="invalid_state")
        remaining = int(payment["amount"]) - int(payment["amount_refunded"])
        if remaining <= 0:
            raise RazorpayApiError("The payment has been fully refunded already")
        amount = self._amount(data.get("amount"), payment["currency"], required=False)
        amount = remaining if amount is None else amount
        if amount > remaining:
            raise RazorpayApiError(
                "The refund amount provided is greater than amount captured", field="amount"
            )
        receipt = data.get("receipt")
        if receipt is not None and (not isinstance(receipt, str) or len(receipt) > 40):
            raise RazorpayApiError(
                "The receipt may not be greater than 40 characters.", field="receipt"
            )
        refund_id = new_id("rfnd")
        refund: dict[str, Any] = {
            "id": refund_id,
            "entity": "refund",
            "amount": amount,
            "currency": payment["currency"],
            "payment_id": payment["id"],
            "notes": _notes_out(self._notes(data.get("notes"))),
            "receipt": receipt,
            "acquirer_data": {"arn": None},
            "created_at": int(time.time()),
            "batch_id": None,
            "status": "processed",
            "speed_processed": "normal",
            "speed_requested": str(data.get("speed") or "normal"),
        }
        self.refunds[refund_id] = refund
        if key is not None:
            self._refund_keys[key] = (fingerprint, refund_id)
        payment["amount_refunded"] += amount
        full = payment["amount_refunded"] >= payment["amount"]
        payment["refund_status"] = "full" if full else "partial"
        if full:
            payment["status"] = "refunded"
        return web.json_response(refund)

    async def _payment_refunds(self, request: web.Request) -> web.Response:
        payment = self._payment(request.match_info["id"])
        return self._collection(
            [r for r in self.refunds.values() if r["payment_id"] == payment["id"]]
        )

    async def _fetch_refund(self, request: web.Request) -> web.Response:
        refund = self.refunds.get(request.match_info["id"])
        if refund is None:
            raise RazorpayApiError("The id provided does not exist", field="id")
        return web.json_response(refund)


@asynccontextmanager
async def running_razorpay_fake(key_id: str, key_secret: str) -> AsyncIterator[RazorpayFake]:
    """Serve a fresh :class:`RazorpayFake` on a free loopback port for the ``with`` block;
    ``fake.url`` is the base URL to give the SDK (``http://127.0.0.1:PORT``)."""
    fake = RazorpayFake(key_id, key_secret)
    runner = web.AppRunner(fake.app, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        fake.url = f"http://{host}:{port}"
        yield fake
    finally:
        await runner.cleanup()
