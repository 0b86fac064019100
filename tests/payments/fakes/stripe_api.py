"""A local fake of Stripe's HTTP API (https://docs.stripe.com/api), close enough for the
official ``stripe`` SDK to talk to it over a real socket.

It runs on 127.0.0.1 with ``aiohttp.web`` inside the test's own event loop, so the SDK's
async (httpx) client talks to it directly.

Usage::

    async with running_stripe_fake() as fake:
        provider = StripeProvider("sk_test_x", "whsec_x", base_url=fake.url, timeout=2.0)
        result = await provider.charge(request)       # pm_card_threeDSecure2Required
        fake.authenticate(result.provider_payment_id)  # the customer passes 3-D Secure
        body, headers = fake.webhook(
            "payment_intent.succeeded", fake.payment_intents[pi], secret="whsec_x"
        )
        provider.parse_webhook(body, headers)

Controls (Python, not HTTP): ``delay_next(seconds)``, ``fail_next(status)``,
``authenticate(pi, succeed=True)``, ``dispute(pi)``, ``charge_of(pi)``, ``event(type,
obj)``, ``webhook(type, obj, secret=...)``; state: ``payment_intents``, ``charges``,
``payment_methods``, ``refunds``, ``created_count``, ``replayed``, ``requests``.

What it models
    ``Authorization: Bearer sk_test_...`` (401 otherwise); form-encoded bodies with nested
    keys (``metadata[k]``, ``expand[0]``/``expand[]``, ``payment_method_data[card][token]``)
    and unknown parameters refused (``parameter_unknown``); ``Idempotency-Key`` on POSTs
    (same key and parameters: the stored answer replayed with ``Idempotent-Replayed:
    true``; other parameters or another endpoint: 400 ``idempotency_error``; only 200 and
    402 answers are stored, as Stripe stores only requests that ran).
    PaymentIntents (create, retrieve, confirm, cancel; ``expand`` of ``payment_method`` and
    ``latest_charge``), PaymentMethods from test tokens (``type=card&card[token]=tok_visa``),
    Charges (made by confirmation, never by their own endpoint), Refunds (create,
    retrieve; over-refund refused). Stripe's test payment methods and tokens (see
    :data:`TEST_CARDS`): each use of ``pm_card_visa`` materialises a fresh ``pm_...`` as
    Stripe does. A PaymentIntent with neither ``payment_method_types`` nor
    ``automatic_payment_methods`` gets automatic payment methods with redirects allowed,
    so confirming it without ``return_url`` is refused, as by Stripe.

Wallets
    Test tokens carry no wallet, so a PaymentMethod created with ``metadata[wallet]`` of
    ``apple_pay`` or ``google_pay`` gets ``card.wallet = {"type": ...}`` (the Stripe
    adapter sends that tag).

Not modelled
    Customers, manual capture, ``processing``, other payment-method types, Connect, the
    409 for a request still in flight with the same key (``delay_next`` stores the answer
    before waiting, so a retry replays it), rate limits, events over HTTP (build them with
    :meth:`StripeFake.event` and sign them with :func:`sign_payload`). There are no card
    numbers anywhere: raw ``card[number]`` is refused.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import re
import secrets
import string
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import stripe
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PARAMS = web.RequestKey("params", dict[str, Any])

_ALPHABET = string.ascii_letters + string.digits
_CURRENCY = re.compile(r"[a-zA-Z]{3}")
_KEY_PART = re.compile(r"\[([^\]]*)\]")
API_VERSION = stripe.api_version
MAX_AMOUNT = 99_999_999
MIN_AMOUNT = 50
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
CONFIRMABLE = ("requires_confirmation", "requires_action", "requires_payment_method")
CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)
EXPANDABLE = ("payment_method", "latest_charge")
PAYMENT_INTENT_FIELDS = frozenset(
    {
        "amount",
        "currency",
        "payment_method",
        "payment_method_data",
        "confirm",
        "metadata",
        "description",
        "return_url",
        "automatic_payment_methods",
        "payment_method_types",
        "expand",
        "receipt_email",
        "statement_descriptor_suffix",
    }
)
CONFIRM_FIELDS = frozenset({"payment_method", "payment_method_data", "return_url", "expand"})
CANCEL_FIELDS = frozenset({"cancellation_reason", "expand"})
PAYMENT_METHOD_FIELDS = frozenset({"type", "card", "metadata", "billing_details", "expand"})
REFUND_FIELDS = frozenset({"payment_intent", "charge", "amount", "reason", "metadata", "expand"})


@dataclass(frozen=True)
class TestCard:
    """One of Stripe's test cards, reachable as ``pm_card_<name>`` or ``tok_<name>``."""

    __test__ = False  # not a pytest class

    brand: str
    last4: str
    outcome: str = "succeed"  # "succeed", "decline" or "authenticate" (3-D Secure)
    code: str | None = None
    decline_code: str | None = None
    message: str | None = None
    funding: str = "credit"


_DECLINED = "Your card was declined."
TEST_CARDS: dict[str, TestCard] = {
    "visa": TestCard("visa", "4242"),
    "visa_debit": TestCard("visa", "5556", funding="debit"),
    "mastercard": TestCard("mastercard", "4444"),
    "amex": TestCard("amex", "0005"),
    "chargeDeclined": TestCard("visa", "0002", "decline", "card_declined", "generic_decline"),
    "chargeDeclinedInsufficientFunds": TestCard(
        "visa",
        "9995",
        "decline",
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "chargeDeclinedFraudulent": TestCard("visa", "0019", "decline", "card_declined", "fraudulent"),
    "chargeDeclinedLostCard": TestCard("visa", "9987", "decline", "card_declined", "lost_card"),
    "chargeDeclinedExpiredCard": TestCard(
        "visa", "0069", "decline", "expired_card", "expired_card", "Your card has expired."
    ),
    "chargeDeclinedIncorrectCvc": TestCard(
        "visa",
        "0127",
        "decline",
        "incorrect_cvc",
        "incorrect_cvc",
        "Your card's security code is incorrect.",
    ),
    "chargeDeclinedProcessingError": TestCard(
        "visa",
        "0119",
        "decline",
        "processing_error",
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    "threeDSecure2Required": TestCard("visa", "3220", "authenticate"),
    "authenticationRequired": TestCard("visa", "3184", "authenticate"),
}


def new_id(prefix: str, length: int = 24) -> str:
    """Stripe's ids: a prefix and base62 characters (``pi_3P2x...``)."""
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header for ``payload``:
    ``t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<payload>")>``."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256)
    return f"t={ts},v1={mac.hexdigest()}"


def webhook_headers(payload: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": sign_payload(payload, secret, timestamp),
    }


def _doc_url(code: str) -> str:
    return f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"


def error_body(
    type_: str,
    message: str,
    *,
    code: str | None = None,
    decline_code: str | None = None,
    param: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Stripe's error shape; ``extra`` carries ``payment_intent``, ``charge``,
    ``payment_method`` when the error concerns one."""
    error: dict[str, Any] = {"type": type_, "message": message}
    if code is not None:
        error["code"] = code
        error["doc_url"] = _doc_url(code)
    if decline_code is not None:
        error["decline_code"] = decline_code
    if param is not None:
        error["param"] = param
    error["request_log_url"] = "https://dashboard.stripe.com/test/logs"
    error.update(extra)
    return {"error": error}


class StripeApiError(Exception):
    """Raised inside a handler; the middleware answers it in Stripe's error shape."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type_: str = "invalid_request_error",
        code: str | None = None,
        decline_code: str | None = None,
        param: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(
            type_, message, code=code, decline_code=decline_code, param=param, **extra
        )


def _missing(param: str) -> StripeApiError:
    return StripeApiError(
        f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def _no_such(kind: str, object_id: str, param: str, *, status: int = 400) -> StripeApiError:
    return StripeApiError(
        f"No such {kind}: '{object_id}'", status=status, code="resource_missing", param=param
    )


def _split_key(key: str) -> list[str]:
    """``payment_method_data[card][token]`` -> ``[payment_method_data, card, token]``."""
    head, _, rest = key.partition("[")
    return [head, *_KEY_PART.findall("[" + rest)] if rest else [head]


def _listify(node: Any, parent: str = "") -> Any:
    if not isinstance(node, dict):
        return node
    children = {key: _listify(value, key) for key, value in node.items()}
    if children and parent != "metadata" and all(key.isdigit() for key in children):
        return [children[key] for key in sorted(children, key=int)]
    return children


def parse_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding into nested dicts and lists (``a[]`` appends, ``a[0]``
    indexes; under ``metadata`` digits stay keys)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _split_key(key)
        node = root
        for index, part in enumerate(parts):
            name = str(len(node)) if part == "" else part
            if index == len(parts) - 1:
                node[name] = value
            else:
                child = node.setdefault(name, {})
                if not isinstance(child, dict):
                    raise StripeApiError(f"Invalid hash: {parts[0]}", param=parts[0])
                node = child
    result: dict[str, Any] = _listify(root)
    return result


def _int(params: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    value = params.get(name)
    if value is None:
        if required:
            raise _missing(name)
        return None
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise StripeApiError(
            f"Invalid integer: {value}", code="parameter_invalid_integer", param=name
        )
    return int(value)


def _bool(params: dict[str, Any], name: str) -> bool:
    value = params.get(name, "false")
    if value not in ("true", "false"):
        raise StripeApiError(f"Invalid boolean: {value}", param=name)
    return bool(value == "true")


def _metadata(params: dict[str, Any]) -> dict[str, str]:
    value = params.get("metadata", {})
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise StripeApiError("Invalid object", param="metadata")
    if len(value) > 50:
        raise StripeApiError("Metadata can have at most 50 keys.", param="metadata")
    for key, item in value.items():
        if len(key) > 40 or not isinstance(item, str) or len(item) > 500:
            raise StripeApiError(
                "Metadata keys may be up to 40 characters and values up to 500.",
                param=f"metadata[{key}]",
            )
    return {key: item for key, item in value.items() if item != ""}


def _expand(params: dict[str, Any]) -> list[str]:
    value = params.get("expand", [])
    items = value if isinstance(value, list) else [value]
    for item in items:
        if item not in EXPANDABLE:
            raise StripeApiError(f"This property cannot be expanded ({item}).", param="expand")
    return [str(item) for item in items]


def _check_fields(params: dict[str, Any], allowed: frozenset[str]) -> None:
    for name in params:
        if name not in allowed:
            raise StripeApiError(
                f"Received unknown parameter: {name}", code="parameter_unknown", param=name
            )


def _money(amount: int, currency: str) -> str:
    return f"{currency.upper()} {amount / 100:.2f}"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it, for asserting what the client sent."""

    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]


@dataclass
class _Stored:
    fingerprint: str
    status: int
    body: dict[str, Any]


class StripeFake:
    """The fake's state and its test-only controls. ``payment_intents``, ``charges``,
    ``payment_methods`` and ``refunds`` hold every object really created (id -> object),
    ``created_count`` counts PaymentIntents really created, so a test can assert that a
    retried request made one charge, not two."""

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.url = ""
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.payment_methods: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}
        self.requests: list[RecordedRequest] = []
        self.replayed = 0
        self._cards: dict[str, TestCard] = {}  # pm id -> the test card behind it
        self._idempotency: dict[str, _Stored] = {}
        self._delays: list[float] = []
        self._failures: list[int] = []
        self._closing = asyncio.Event()
        self.app = web.Application(middlewares=[self._middleware])
        router = self.app.router
        router.add_post("/v1/payment_intents", self._create_intent)
        router.add_get("/v1/payment_intents/{id}", self._retrieve_intent)
        router.add_post("/v1/payment_intents/{id}/confirm", self._confirm_intent)
        router.add_post("/v1/payment_intents/{id}/cancel", self._cancel_intent)
        router.add_post("/v1/payment_methods", self._create_payment_method)
        router.add_get("/v1/payment_methods/{id}", self._retrieve_payment_method)
        router.add_post("/v1/refunds", self._create_refund)
        router.add_get("/v1/refunds/{id}", self._retrieve_refund)

    # ----------------------------------------------------------------- test controls

    @property
    def created_count(self) -> int:
        """PaymentIntents really created (replays not counted)."""
        return len(self.payment_intents)

    def delay_next(self, seconds: float) -> None:
        """The next request is carried out and its answer stored, then sent ``seconds``
        late (so a client with a shorter timeout gives up on a request that took effect)."""
        self._delays.append(seconds)

    def fail_next(self, status: int = 500) -> None:
        """The next request is answered ``status`` (Stripe's ``api_error``) without doing
        anything; nothing is stored under its idempotency key."""
        self._failures.append(status)

    def authenticate(self, payment_intent_id: str, *, succeed: bool = True) -> dict[str, Any]:
        """The customer completes 3-D Secure for a ``requires_action`` PaymentIntent: it
        succeeds (a charge is made), or with ``succeed=False`` fails authentication."""
        intent = self.payment_intents[payment_intent_id]
        if intent["status"] != "requires_action":
            raise ValueError(f"{payment_intent_id} is {intent['status']}, not requires_action")
        if succeed:
            self._succeed(intent, str(intent["payment_method"]))
        else:
            method = self.payment_methods[str(intent["payment_method"])]
            intent.update(
                status="requires_payment_method",
                next_action=None,
                payment_method=None,
                last_payment_error={
                    "type": "invalid_request_error",
                    "code": "payment_intent_authentication_failure",
                    "doc_url": _doc_url("payment_intent_authentication_failure"),
                    "message": "The provided PaymentMethod has failed authentication. You can "
                    "provide payment_method_data or a new PaymentMethod to attempt to fulfill "
                    "this PaymentIntent again.",
                    "payment_method": copy.deepcopy(method),
                },
            )
        return intent

    def charge_of(self, payment_intent_id: str) -> dict[str, Any]:
        """The PaymentIntent's latest Charge."""
        return self.charges[str(self.payment_intents[payment_intent_id]["latest_charge"])]

    def dispute(
        self, payment_intent_id: str, *, reason: str = "fraudulent", amount: int | None = None
    ) -> dict[str, Any]:
        """The cardholder disputes the PaymentIntent's charge: a Dispute object."""
        charge = self.charge_of(payment_intent_id)
        charge["disputed"] = True
        dispute_id = new_id("dp")
        now = int(time.time())
        dispute: dict[str, Any] = {
            "id": dispute_id,
            "object": "dispute",
            "amount": charge["amount"] if amount is None else amount,
            "balance_transactions": [],
            "charge": charge["id"],
            "created": now,
            "currency": charge["currency"],
            "evidence_details": {
                "due_by": now + 7 * 86_400,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            "is_charge_refundable": False,
            "livemode": False,
            "metadata": {},
            "payment_intent": payment_intent_id,
            "reason": reason,
            "status": "needs_response",
        }
        self.disputes[dispute_id] = dispute
        return dispute

    def event(self, event_type: str, data_object: dict[str, Any]) -> dict[str, Any]:
        """A Stripe event of ``event_type`` about a copy of ``data_object`` as it is now
        (a PaymentIntent, a Charge for ``charge.refunded``, a Dispute for
        ``charge.dispute.*``). Serialise it, then sign the bytes with :func:`sign_payload`."""
        return {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": copy.deepcopy(data_object)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }

    def webhook(
        self,
        event_type: str,
        data_object: dict[str, Any],
        *,
        secret: str,
        timestamp: int | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """One signed delivery: the raw body and its headers."""
        body = json.dumps(self.event(event_type, data_object)).encode()
        return body, webhook_headers(body, secret, timestamp)

    # ----------------------------------------------------------------- plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "POST":
            form = await request.post()
            pairs = [(key, str(value)) for key, value in form.items()]
        else:
            pairs = list(request.query.items())
        headers = {key.lower(): value for key, value in request.headers.items()}
        try:
            params = parse_form(pairs)
        except StripeApiError as exc:
            return web.json_response(exc.body, status=exc.status)
        self.requests.append(RecordedRequest(request.method, request.path, params, headers))
        request[PARAMS] = params
        response = await self._answer(request, handler, params, headers.get("idempotency-key"))
        if self._delays:
            delay = self._delays.pop(0)
            with suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delay)
        response.headers["Request-Id"] = new_id("req", 14)
        response.headers["Stripe-Version"] = API_VERSION
        return response

    async def _answer(
        self,
        request: web.Request,
        handler: Handler,
        params: dict[str, Any],
        key: str | None,
    ) -> web.Response:
        if self._failures:
            status = self._failures.pop(0)
            return web.json_response(
                error_body("api_error", "An unknown error occurred"), status=status
            )
        refusal = self._authenticate(request.headers.get("Authorization", ""))
        if refusal is not None:
            return web.json_response(refusal, status=401)
        fingerprint = json.dumps([request.method, request.path, params], sort_keys=True)
        if key is not None and request.method == "POST":
            stored = self._idempotency.get(key)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    return web.json_response(
                        error_body(
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other "
                            f"than '{key}' if you meant to execute a different request.",
                        ),
                        status=400,
                    )
                self.replayed += 1
                return web.json_response(
                    stored.body,
                    status=stored.status,
                    headers={"Idempotent-Replayed": "true", "Idempotency-Key": key},
                )
        try:
            response = await handler(request)
            assert isinstance(response, web.Response)
        except StripeApiError as exc:
            response = web.json_response(exc.body, status=exc.status)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            response = web.json_response(
                error_body(
                    "invalid_request_error",
                    f"Unrecognized request URL ({request.method}: {request.path}).",
                ),
                status=404,
            )
        if key is not None and request.method == "POST" and response.status in (200, 402):
            assert response.text is not None
            self._idempotency[key] = _Stored(
                fingerprint, response.status, json.loads(response.text)
            )
            response.headers["Idempotency-Key"] = key
        return response

    def _authenticate(self, header: str) -> dict[str, Any] | None:
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token:
            return error_body(
                "invalid_request_error",
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        expected = self.api_key
        valid = (
            hmac.compare_digest(token.encode(), expected.encode())
            if expected is not None
            else token.startswith("sk_test_") and len(token) > len("sk_test_")
        )
        if not valid:
            return error_body(
                "invalid_request_error", f"Invalid API Key provided: {token[:8]}****{token[-4:]}"
            )
        return None

    # ----------------------------------------------------------------- objects

    def _new_payment_method(
        self, card: TestCard, metadata: dict[str, str] | None = None
    ) -> dict[str, Any]:
        metadata = metadata or {}
        wallet_type = metadata.get("wallet")
        wallet: dict[str, Any] | None = None
        if wallet_type in ("apple_pay", "google_pay"):
            wallet = {"type": wallet_type, wallet_type: {}, "dynamic_last4": card.last4}
        method_id = new_id("pm")
        method: dict[str, Any] = {
            "id": method_id,
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "card": {
                "brand": card.brand,
                "checks": {
                    "address_line1_check": None,
                    "address_postal_code_check": None,
                    "cvc_check": "pass" if wallet is None else None,
                },
                "country": "US",
                "display_brand": card.brand,
                "exp_month": 12,
                "exp_year": time.gmtime().tm_year + 3,
                "fingerprint": hashlib.sha256(card.last4.encode()).hexdigest()[:16],
                "funding": card.funding,
                "last4": card.last4,
                "networks": {"available": [card.brand], "preferred": None},
                "wallet": wallet,
            },
            "created": int(time.time()),
            "customer": None,
            "livemode": False,
            "metadata": metadata,
            "type": "card",
        }
        self.payment_methods[method_id] = method
        self._cards[method_id] = card
        return method

    def _resolve_payment_method(self, value: Any, param: str) -> str:
        """A ``pm_...`` id the PaymentIntent can use: an existing one, or a fresh one
        materialised from a test payment method (``pm_card_visa``)."""
        if not isinstance(value, str) or not value:
            raise StripeApiError("Invalid string", param=param)
        if value in self.payment_methods:
            return value
        card = TEST_CARDS.get(value.removeprefix("pm_card_")) if value.startswith("pm_") else None
        if card is None:
            raise _no_such("PaymentMethod", value, param)
        return str(self._new_payment_method(card)["id"])

    def _payment_method_from_data(self, data: Any, param: str) -> str:
        if not isinstance(data, dict):
            raise StripeApiError("Invalid object", param=param)
        if data.get("type") != "card":
            raise StripeApiError(
                "Only `type=card` is supported by this fake.", param=f"{param}[type]"
            )
        token = data.get("card", {}).get("token") if isinstance(data.get("card"), dict) else None
        return str(self._method_from_token(token, _metadata(data), f"{param}[card][token]")["id"])

    def _method_from_token(
        self, token: Any, metadata: dict[str, str], param: str
    ) -> dict[str, Any]:
        if not isinstance(token, str) or not token:
            raise _missing(param)
        card = TEST_CARDS.get(token.removeprefix("tok_")) if token.startswith("tok_") else None
        if card is None:
            raise _no_such("token", token, param)
        return self._new_payment_method(card, metadata)

    def _public_intent(self, intent: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        out = copy.deepcopy(intent)
        if "payment_method" in expand and out["payment_method"]:
            out["payment_method"] = copy.deepcopy(self.payment_methods[out["payment_method"]])
        if "latest_charge" in expand and out["latest_charge"]:
            out["latest_charge"] = copy.deepcopy(self.charges[out["latest_charge"]])
        return out

    def _new_charge(
        self, intent: dict[str, Any], method_id: str, *, declined: TestCard | None = None
    ) -> dict[str, Any]:
        method = self.payment_methods[method_id]
        card = method["card"]
        charge_id = new_id("ch")
        paid = declined is None
        charge: dict[str, Any] = {
            "id": charge_id,
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": intent["amount"] if paid else 0,
            "amount_refunded": 0,
            "balance_transaction": new_id("txn") if paid else None,
            "billing_details": method["billing_details"],
            "captured": paid,
            "created": int(time.time()),
            "currency": intent["currency"],
            "description": intent["description"],
            "disputed": False,
            "failure_code": declined.code if declined else None,
            "failure_message": (declined.message or _DECLINED) if declined else None,
            "livemode": False,
            "metadata": dict(intent["metadata"]),
            "outcome": {
                "network_status": "approved_by_network" if paid else "declined_by_network",
                "reason": declined.decline_code if declined else None,
                "risk_level": "normal",
                "seller_message": "Payment complete."
                if paid
                else "The bank did not return any further details with this decline.",
                "type": "authorized" if paid else "issuer_declined",
            },
            "paid": paid,
            "payment_intent": intent["id"],
            "payment_method": method_id,
            "payment_method_details": {
                "type": "card",
                "card": {
                    "brand": card["brand"],
                    "checks": card["checks"],
                    "country": card["country"],
                    "exp_month": card["exp_month"],
                    "exp_year": card["exp_year"],
                    "funding": card["funding"],
                    "last4": card["last4"],
                    "network": card["brand"],
                    "three_d_secure": None,
                    "wallet": card["wallet"],
                },
            },
            "refunded": False,
            "status": "succeeded" if paid else "failed",
        }
        self.charges[charge_id] = charge
        intent["latest_charge"] = charge_id
        return charge

    def _succeed(self, intent: dict[str, Any], method_id: str) -> None:
        charge = self._new_charge(intent, method_id)
        if intent["next_action"] is not None:
            charge["payment_method_details"]["card"]["three_d_secure"] = {
                "authentication_flow": "challenge",
                "result": "authenticated",
                "version": "2.2.0",
            }
        intent.update(
            status="succeeded",
            amount_received=intent["amount"],
            next_action=None,
            last_payment_error=None,
        )

    @staticmethod
    def _check_confirmable(intent: dict[str, Any], return_url: str | None) -> None:
        """What Stripe refuses before it creates or confirms anything."""
        if not intent["payment_method"]:
            raise StripeApiError(
                "You cannot confirm this PaymentIntent because it's missing a payment method. "
                "Update the payment_method on this PaymentIntent and try again.",
                code="payment_intent_unexpected_state",
                payment_intent=copy.deepcopy(intent),
            )
        automatic = intent["automatic_payment_methods"]
        if automatic and automatic.get("allow_redirects") != "never" and not return_url:
            raise StripeApiError(
                "This PaymentIntent is configured to accept payment methods enabled in your "
                "Dashboard. Because some of these payment methods might redirect your "
                "customer off of your page, you must provide a `return_url`. If you don't "
                "want to accept redirect-based payment methods, set "
                "`automatic_payment_methods[enabled]` to `true` and "
                "`automatic_payment_methods[allow_redirects]` to `never` when creating Setup "
                "Intents and Payment Intents.",
                param="return_url",
            )

    def _confirm(self, intent: dict[str, Any], return_url: str | None) -> None:
        """Attempt the payment; a decline raises the 402 Stripe answers, with the
        PaymentIntent (left in ``requires_payment_method``) inside."""
        self._check_confirmable(intent, return_url)
        method_id = str(intent["payment_method"])
        card = self._cards[method_id]
        intent["last_payment_error"] = None
        if card.outcome == "authenticate":
            source = new_id("src")
            if return_url:
                next_action: dict[str, Any] = {
                    "type": "redirect_to_url",
                    "redirect_to_url": {
                        "url": f"{self.url}/3ds/{intent['id']}",
                        "return_url": return_url,
                    },
                }
            else:
                next_action = {
                    "type": "use_stripe_sdk",
                    "use_stripe_sdk": {
                        "type": "three_d_secure_redirect",
                        "stripe_js": f"{self.url}/3ds/{intent['id']}",
                        "source": source,
                    },
                }
            intent.update(status="requires_action", next_action=next_action)
            return
        if card.outcome == "decline":
            charge = self._new_charge(intent, method_id, declined=card)
            message = card.message or _DECLINED
            error = {
                "type": "card_error",
                "code": card.code,
                "decline_code": card.decline_code,
                "doc_url": _doc_url(str(card.code)),
                "message": message,
                "charge": charge["id"],
                "payment_method": copy.deepcopy(self.payment_methods[method_id]),
            }
            intent.update(
                status="requires_payment_method",
                payment_method=None,
                next_action=None,
                last_payment_error=error,
            )
            raise StripeApiError(
                message,
                status=402,
                type_="card_error",
                code=card.code,
                decline_code=card.decline_code,
                charge=charge["id"],
                payment_intent=copy.deepcopy(intent),
                payment_method=copy.deepcopy(self.payment_methods[method_id]),
            )
        self._succeed(intent, method_id)

    def _intent(self, intent_id: str) -> dict[str, Any]:
        intent = self.payment_intents.get(intent_id)
        if intent is None:
            raise _no_such("payment_intent", intent_id, "intent", status=404)
        return intent

    # ----------------------------------------------------------------- payment intents

    async def _create_intent(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        _check_fields(params, PAYMENT_INTENT_FIELDS)
        amount = _int(params, "amount", required=True)
        assert amount is not None
        if amount < MIN_AMOUNT:
            raise StripeApiError(
                f"Amount must be at least {MIN_AMOUNT} in the currency's minor unit",
                code="amount_too_small",
                param="amount",
            )
        if amount > MAX_AMOUNT:
            raise StripeApiError(
                f"Amount must be no more than {MAX_AMOUNT}", code="amount_too_large", param="amount"
            )
        currency = params.get("currency")
        if not currency:
            raise _missing("currency")
        if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
            raise StripeApiError(f"Invalid currency: {currency}", param="currency")
        if "automatic_payment_methods" in params and "payment_method_types" in params:
            raise StripeApiError(
                "You may only specify one of these parameters: automatic_payment_methods, "
                "payment_method_types.",
                param="automatic_payment_methods",
            )
        types = params.get("payment_method_types")
        automatic: dict[str, Any] | None = None
        if types is not None:
            if not isinstance(types, list) or not types or set(types) - {"card"}:
                raise StripeApiError(
                    f"The payment method type {types!r} is invalid (this fake takes 'card').",
                    param="payment_method_types",
                )
        else:
            raw = params.get("automatic_payment_methods", {"enabled": "true"})
            if not isinstance(raw, dict) or raw.get("enabled") != "true":
                raise StripeApiError(
                    "Either payment_method_types or automatic_payment_methods[enabled]=true "
                    "is needed.",
                    param="automatic_payment_methods",
                )
            redirects = raw.get("allow_redirects", "always")
            if redirects not in ("always", "never"):
                raise StripeApiError(
                    "Invalid allow_redirects", param="automatic_payment_methods[allow_redirects]"
                )
            automatic = {"enabled": True, "allow_redirects": redirects}
            types = ["card"]
        confirm = _bool(params, "confirm")
        return_url = params.get("return_url")
        if return_url is not None and not confirm:
            raise StripeApiError(
                "You can only pass return_url when confirm=true.", param="return_url"
            )
        metadata = _metadata(params)
        expand = _expand(params)
        if "payment_method" in params and "payment_method_data" in params:
            raise StripeApiError(
                "You may only specify one of these parameters: payment_method, "
                "payment_method_data.",
                param="payment_method",
            )
        method_id: str | None = None
        if "payment_method" in params:
            method_id = self._resolve_payment_method(params["payment_method"], "payment_method")
        elif "payment_method_data" in params:
            method_id = self._payment_method_from_data(
                params["payment_method_data"], "payment_method_data"
            )
        intent_id = new_id("pi")
        intent: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "automatic_payment_methods": automatic,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic_async",
            "client_secret": f"{intent_id}_secret_{new_id('x')[2:]}",
            "confirmation_method": "automatic",
            "created": int(time.time()),
            "currency": currency.lower(),
            "customer": None,
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": metadata,
            "next_action": None,
            "payment_method": method_id,
            "payment_method_types": types,
            "receipt_email": params.get("receipt_email"),
            "statement_descriptor_suffix": params.get("statement_descriptor_suffix"),
            "status": "requires_confirmation" if method_id else "requires_payment_method",
        }
        if confirm:
            self._check_confirmable(intent, return_url)
        self.payment_intents[intent_id] = intent
        if confirm:
            self._confirm(intent, return_url)
        return web.json_response(self._public_intent(intent, expand))

    async def _retrieve_intent(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        _check_fields(params, frozenset({"expand", "client_secret"}))
        intent = self._intent(request.match_info["id"])
        return web.json_response(self._public_intent(intent, _expand(params)))

    async def _confirm_intent(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        _check_fields(params, CONFIRM_FIELDS)
        intent = self._intent(request.match_info["id"])
        expand = _expand(params)
        if intent["status"] not in CONFIRMABLE:
            raise StripeApiError(
                "You cannot confirm this PaymentIntent because it has a status of "
                f"{intent['status']}. Only a PaymentIntent with one of the following statuses "
                f"may be confirmed: {', '.join(CONFIRMABLE)}.",
                code="payment_intent_unexpected_state",
                payment_intent=copy.deepcopy(intent),
            )
        if "payment_method" in params:
            intent["payment_method"] = self._resolve_payment_method(
                params["payment_method"], "payment_method"
            )
        elif "payment_method_data" in params:
            intent["payment_method"] = self._payment_method_from_data(
                params["payment_method_data"], "payment_method_data"
            )
        self._confirm(intent, params.get("return_url"))
        return web.json_response(self._public_intent(intent, expand))

    async def _cancel_intent(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        _check_fields(params, CANCEL_FIELDS)
        intent = self._intent(request.match_info["id"])
        reason = params.get("cancellation_reason")
        if reason is not None and reason not in CANCELLATION_REASONS:
            raise StripeApiError(
                f"Invalid cancellation_reason: must be one of {', '.join(CANCELLATION_REASONS)}",
                param="cancellation_reason",
            )
        if intent["status"] not in CANCELABLE:
            raise StripeApiError(
                "You cannot cancel this PaymentIntent because it has a status of "
                f"{intent['status']}. Only a PaymentIntent with one of the following statuses "
                f"may be canceled: {', '.join(CANCELABLE)}.",
                code="payment_intent_unexpected_state",
                payment_intent=copy.deepcopy(intent),
            )
        intent.update(
            status="canceled",
            canceled_at=int(time.time()),
            cancellation_reason=reason,
            next_action=None,
        )
        return web.json_response(self._public_intent(intent, _expand(params)))

    # ----------------------------------------------------------------- payment methods

    async def _create_payment_method(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        _check_fields(params, PAYMENT_METHOD_FIELDS)
        if params.get("type") is None:
            raise _missing("type")
        if params["type"] != "card":
            raise StripeApiError("Only `type=card` is supported by this fake.", param="type")
        card = params.get("card")
        if not isinstance(card, dict):
            raise _missing("card")
        if "number" in card:
            raise StripeApiError(
                "Sending credit card numbers directly to the Stripe API is generally unsafe. "
                "Use test tokens (tok_visa) or test payment methods (pm_card_visa).",
                param="card[number]",
            )
        method = self._method_from_token(card.get("token"), _metadata(params), "card[token]")
        return web.json_response(method)

    async def _retrieve_payment_method(self, request: web.Request) -> web.Response:
        method = self.payment_methods.get(request.match_info["id"])
        if method is None:
            raise _no_such("PaymentMethod", request.match_info["id"], "payment_method", status=404)
        return web.json_response(method)

    # ----------------------------------------------------------------- refunds

    async def _create_refund(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        _check_fields(params, REFUND_FIELDS)
        if "payment_intent" in params:
            intent = self.payment_intents.get(str(params["payment_intent"]))
            if intent is None:
                raise _no_such("payment_intent", str(params["payment_intent"]), "payment_intent")
            if intent["status"] != "succeeded" or not intent["latest_charge"]:
                raise StripeApiError(
                    "This PaymentIntent does not have a successful charge to refund.",
                    param="payment_intent",
                )
            charge = self.charges[intent["latest_charge"]]
        elif "charge" in params:
            found = self.charges.get(str(params["charge"]))
            if found is None:
                raise _no_such("charge", str(params["charge"]), "charge")
            charge = found
        else:
            raise StripeApiError(
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                code="parameter_missing",
            )
        reason = params.get("reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise StripeApiError(
                "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
                param="reason",
            )
        metadata = _metadata(params)
        if params.get("expand"):
            raise StripeApiError("This fake expands nothing on refunds.", param="expand")
        left = charge["amount"] - charge["amount_refunded"]
        if charge["refunded"] or left <= 0:
            raise StripeApiError(
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = _int(params, "amount")
        if amount is not None and amount <= 0:
            raise StripeApiError(
                "Invalid positive integer", code="parameter_invalid_integer", param="amount"
            )
        amount = left if amount is None else amount
        if amount > left:
            raise StripeApiError(
                f"Refund amount ({_money(amount, charge['currency'])}) is greater than "
                f"unrefunded amount on charge ({_money(left, charge['currency'])})",
                code="amount_too_large",
                param="amount",
            )
        refund_id = new_id("re")
        refund: dict[str, Any] = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "balance_transaction": new_id("txn"),
            "charge": charge["id"],
            "created": int(time.time()),
            "currency": charge["currency"],
            "destination_details": {
                "card": {
                    "reference_status": "pending",
                    "reference_type": "acquirer_reference_number",
                    "type": "refund",
                },
                "type": "card",
            },
            "metadata": metadata,
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        }
        self.refunds[refund_id] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        return web.json_response(refund)

    async def _retrieve_refund(self, request: web.Request) -> web.Response:
        refund = self.refunds.get(request.match_info["id"])
        if refund is None:
            raise _no_such("refund", request.match_info["id"], "id", status=404)
        return web.json_response(refund)


@asynccontextmanager
async def running_stripe_fake(api_key: str | None = None) -> AsyncIterator[StripeFake]:
    """Serve a fresh :class:`StripeFake` on a free loopback port for the ``with`` block;
    ``fake.url`` is the base URL to give the SDK (``http://127.0.0.1:PORT``). Without
    ``api_key`` any ``sk_test_...`` key is accepted."""
    fake = StripeFake(api_key)
    runner = web.AppRunner(fake.app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        fake.url = f"http://{host}:{port}"
        yield fake
    finally:
        fake._closing.set()
        await runner.cleanup()
