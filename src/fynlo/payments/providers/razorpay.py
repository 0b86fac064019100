"""Razorpay (UPI, cards, netbanking in India) over the official ``razorpay`` SDK.

How it talks to Razorpay
    The SDK is synchronous (``requests``), so every call runs in a worker thread through
    :func:`asyncio.to_thread`, on one ``razorpay.Client`` (one ``requests.Session``, one
    connection pool) per provider. The timeout goes with every request as the ``timeout``
    keyword the SDK passes through to ``requests`` (``requests`` has no session-wide
    timeout); a response hook, also per request, keeps the HTTP status and body, which the
    SDK's exceptions drop, so errors can be classified by status.

Errors
    ``requests`` exceptions (timeout, connection refused, an unreadable body), the SDK's
    ``ServerError``/``GatewayError``, any 5xx and 408/409/425/429 raise
    :class:`ProviderUnavailable`: the outcome is unknown or transient, retry with the same
    idempotency key. Other refusals (the SDK's ``BadRequestError``) raise
    :class:`ProviderError` with Razorpay's description as the message and as ``code``
    Razorpay's ``error.reason`` when it says something (``input_validation_failed``,
    ``amount_less_than_minimum_amount``...), else ``error.code`` (``BAD_REQUEST_ERROR``);
    a 401 (bad key id or secret) is ``code="authentication_failed"``.

Idempotency
    Refunds: Razorpay documents the ``X-Refund-Idempotency`` header (same key and same
    body: the original refund; same key, another body: 400). The SDK forwards ``headers=``
    on ``payment.refund``, so the key goes there (and into the refund's ``receipt``, for
    reconciliation). A retry must send the same body, so the body is built only from the
    arguments (amount, receipt, ``notes.reason``).
    Orders: Razorpay has no idempotency header for orders. The key becomes the order's
    ``receipt`` (the caller's ``receipt`` moves to ``notes["receipt"]``): Razorpay can
    refuse a receipt already used ("Order receipt should be unique."), and then the order
    is looked up by receipt and returned, so a retry yields the same order. On an account
    that does not enforce unique receipts a retry after a timeout may create a second,
    unpaid order: harmless, since only the returned id reaches Checkout.
    Razorpay accepts 10 to 40 characters of ``[A-Za-z0-9_-]``; another key is replaced by
    a stable digest of it (:func:`razorpay_key`).

Capture
    Orders are created with ``payment_capture: 1``, so Razorpay captures a payment as soon
    as it is authorized. A payment can still be ``authorized`` (late authorisation, or an
    account set to manual capture), and Razorpay refunds uncaptured payments after a few
    days; so :meth:`RazorpayProvider.retrieve` captures an authorized payment of one of
    our orders for its full amount (``capture_authorized=False`` turns this off; then
    ``authorized`` reads ``processing``). The customer already approved that amount, the
    signature check ties the payment to our order, and a capture that loses a race with
    Razorpay's own is answered by fetching the payment again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

import razorpay
import requests
from razorpay.errors import BadRequestError, GatewayError, ServerError

from fynlo.payments.providers.base import (
    ChargeResult,
    ChargeStatus,
    EventKind,
    InvalidSignature,
    ProviderError,
    ProviderEvent,
    ProviderOrder,
    ProviderUnavailable,
    RefundResult,
)

SIGNATURE_HEADER: Final = "x-razorpay-signature"
EVENT_ID_HEADER: Final = "x-razorpay-event-id"
REFUND_IDEMPOTENCY_HEADER: Final = "X-Refund-Idempotency"

_KEY_SHAPE: Final = re.compile(r"[A-Za-z0-9_-]{10,40}")
_RETRYABLE_STATUSES: Final = frozenset({408, 409, 425, 429})
_CHARGE_STATUS: Final[dict[str, ChargeStatus]] = {
    "created": "processing",
    "authorized": "processing",
    "captured": "succeeded",
    "refunded": "succeeded",  # it was paid; the refunds are recorded on their own
    "failed": "failed",
}
_REFUND_STATUS: Final[dict[str, Literal["succeeded", "pending", "failed"]]] = {
    "processed": "succeeded",
    "pending": "pending",
    "failed": "failed",
}
_EVENT_KINDS: Final[dict[str, EventKind]] = {
    "payment.captured": "payment_succeeded",
    "order.paid": "payment_succeeded",
    "payment.failed": "payment_failed",
    "refund.processed": "refunded",
}
_BRANDS: Final = {
    "visa": "visa",
    "mastercard": "mastercard",
    "rupay": "rupay",
    "american express": "amex",
    "amex": "amex",
    "diners club": "diners",
    "diners": "diners",
    "maestro": "maestro",
    "jcb": "jcb",
    "unionpay": "unionpay",
}


def razorpay_key(idempotency_key: str) -> str:
    """The key as Razorpay accepts it (10-40 of ``[A-Za-z0-9_-]``), else a stable digest,
    so the same Fynlo key always maps to the same Razorpay key."""
    if _KEY_SHAPE.fullmatch(idempotency_key):
        return idempotency_key
    return "fy" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:38]


def payment_signature(order_id: str, payment_id: str, key_secret: str) -> str:
    """What Checkout hands the client: hex HMAC-SHA256(key_secret, "order_id|payment_id")."""
    message = f"{order_id}|{payment_id}".encode()
    return hmac.new(key_secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_signature(body: bytes, webhook_secret: str) -> str:
    """``X-Razorpay-Signature``: hex HMAC-SHA256(webhook_secret, raw body)."""
    return hmac.new(webhook_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_payment_signature(
    order_id: str, payment_id: str, signature: str, key_secret: str
) -> bool:
    """The SDK's ``utility.verify_payment_signature`` as a bool, in constant time."""
    expected = payment_signature(order_id, payment_id, key_secret)
    return hmac.compare_digest(expected.encode(), signature.encode())


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _entity(payload: Mapping[str, Any], name: str) -> dict[str, Any]:
    wrapper = payload.get(name)
    entity = wrapper.get("entity") if isinstance(wrapper, dict) else None
    return entity if isinstance(entity, dict) else {}


def _card(payment: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(brand, last4) of a card payment; ``card`` is there when fetched with
    ``expand[]=card`` and in webhooks."""
    card = payment.get("card")
    if payment.get("method") != "card" or not isinstance(card, dict):
        return None, None
    network = _str(card.get("network"))
    brand = None
    if network is not None:
        brand = _BRANDS.get(network.lower(), network.lower().replace(" ", "_"))
    return brand, _str(card.get("last4"))


def _failure(payment: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(code, message) of a failed payment. ``error_reason`` (``incorrect_pin``,
    ``card_declined``...) says more than ``error_code``, which is nearly always
    ``BAD_REQUEST_ERROR``; the latter is the fallback."""
    if payment.get("status") != "failed":
        return None, None
    code = _str(payment.get("error_reason")) or _str(payment.get("error_code"))
    return code, _str(payment.get("error_description"))


def charge_result(payment: Mapping[str, Any]) -> ChargeResult:
    """A Razorpay payment entity as Fynlo reads it."""
    raw_status = str(payment.get("status") or "")
    brand, last4 = _card(payment)
    failure_code, failure_message = _failure(payment)
    currency = _str(payment.get("currency"))
    return ChargeResult(
        status=_CHARGE_STATUS.get(raw_status, "processing"),
        provider_payment_id=_str(payment.get("id")),
        raw_status=raw_status,
        card_brand=brand,
        last4=last4,
        failure_code=failure_code,
        failure_message=failure_message,
        amount_minor=_int(payment.get("amount")),
        currency=currency.upper() if currency else None,
    )


def parse_razorpay_webhook(
    body: bytes, headers: Mapping[str, str], webhook_secret: str, *, provider: str
) -> ProviderEvent:
    """Verify ``X-Razorpay-Signature`` (hex HMAC-SHA256 of the raw body with the webhook
    secret) before reading anything, then reduce the event to a :class:`ProviderEvent`.

    The event id is Razorpay's ``x-razorpay-event-id`` (the same on every retry of one
    event), else a digest of the body, which is also stable across retries.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    signature = (lowered.get(SIGNATURE_HEADER) or "").strip()
    if not signature:
        raise InvalidSignature("missing X-Razorpay-Signature")
    expected = webhook_signature(body, webhook_secret)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise InvalidSignature("X-Razorpay-Signature does not match the body")
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidSignature("webhook body is not JSON") from exc
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        raise InvalidSignature("webhook body is not a Razorpay event")
    event_type: str = event["event"]
    event_id = (lowered.get(EVENT_ID_HEADER) or "").strip()
    if not event_id:
        event_id = "sha256:" + hashlib.sha256(body).hexdigest()
    payload = event.get("payload")
    payload = payload if isinstance(payload, dict) else {}
    payment = _entity(payload, "payment")
    refund = _entity(payload, "refund")
    order = _entity(payload, "order")
    brand, last4 = _card(payment)
    failure_code, failure_message = _failure(payment)
    kind = _EVENT_KINDS.get(event_type, "other")
    currency = _str(payment.get("currency")) or _str(order.get("currency"))
    return ProviderEvent(
        provider=provider,
        event_id=event_id,
        event_type=event_type,
        kind=kind,
        created=_int(event.get("created_at")) or 0,
        provider_payment_id=_str(payment.get("id")) or _str(refund.get("payment_id")),
        provider_order_id=_str(payment.get("order_id")) or _str(order.get("id")),
        amount_minor=_int(payment.get("amount")) or _int(order.get("amount")),
        amount_refunded_minor=_int(payment.get("amount_refunded")) if kind == "refunded" else None,
        currency=currency.upper() if currency else None,
        card_brand=brand,
        last4=last4,
        failure_code=failure_code,
        failure_message=failure_message,
        payload=event,
    )


def _error_object(response: Any) -> dict[str, Any]:
    try:
        body = response.json() if response is not None else None
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _refusal(exc: Exception, response: Any) -> ProviderError:
    """Classify an SDK exception with the HTTP status and body the SDK dropped."""
    status: int | None = getattr(response, "status_code", None)
    error = _error_object(response)
    message = _str(error.get("description")) or str(exc) or "Razorpay refused the request"
    code = _str(error.get("code")) or type(exc).__name__
    if (
        isinstance(exc, (ServerError, GatewayError))
        or (status is not None and status >= 500)
        or status in _RETRYABLE_STATUSES
    ):
        return ProviderUnavailable(message, code=code)
    reason = _str(error.get("reason"))
    if status == 401:
        code = "authentication_failed"
    elif reason is not None and reason != "NA":
        code = reason
    return ProviderError(message, code=code)


class RazorpayProvider:
    """The :class:`~fynlo.payments.providers.base.UpiProvider` for Razorpay. See the
    module's docstring for errors, idempotency and capture."""

    name: str = "razorpay"

    def __init__(
        self,
        key_id: str,
        key_secret: str,
        webhook_secret: str,
        *,
        base_url: str | None = None,
        timeout: float = 10.0,
        capture_authorized: bool = True,
    ) -> None:
        self.key_id = key_id
        self._key_secret = key_secret
        self._webhook_secret = webhook_secret
        self._timeout = timeout
        self._capture_authorized = capture_authorized
        options: dict[str, str] = {}
        if base_url is not None:
            options["base_url"] = base_url.rstrip("/")
        self._client: Any = razorpay.Client(auth=(key_id, key_secret), **options)
        self._client.set_app_details({"title": "Fynlo"})

    # ----------------------------------------------------------------- transport

    def _call_sync(self, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one SDK call (in a worker thread) and translate what can go wrong."""
        responses: list[Any] = []

        def remember(response: Any, *_: Any, **__: Any) -> None:
            responses.append(response)

        try:
            return operation(*args, timeout=self._timeout, hooks={"response": [remember]}, **kwargs)
        except requests.RequestException as exc:
            last = responses[-1] if responses else None
            status: int | None = getattr(last, "status_code", None)
            if status is not None and 400 <= status < 500 and status not in _RETRYABLE_STATUSES:
                # a refusal whose body was not JSON (a proxy's page, say): not transient
                raise ProviderError(
                    f"Razorpay answered {status} without a readable body", code=f"http_{status}"
                ) from exc
            raise ProviderUnavailable(
                f"Razorpay did not answer: {exc}", code="unavailable"
            ) from exc
        except (BadRequestError, GatewayError, ServerError) as exc:
            raise _refusal(exc, responses[-1] if responses else None) from exc

    async def _call(
        self, operation: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        result = await asyncio.to_thread(self._call_sync, operation, *args, **kwargs)
        if not isinstance(result, dict):
            raise ProviderUnavailable("Razorpay answered with something other than an object")
        return result

    # ----------------------------------------------------------------- orders

    async def create_order(
        self,
        amount_minor: int,
        currency: str,
        *,
        receipt: str,
        notes: Mapping[str, str],
        idempotency_key: str,
    ) -> ProviderOrder:
        """An order for Checkout to pay; a retry with the same key gives the same order
        where the account enforces unique receipts (see the module's docstring)."""
        key = razorpay_key(idempotency_key)
        data: dict[str, Any] = {
            "amount": amount_minor,
            "currency": currency.upper(),
            "receipt": key,
            "notes": {**notes, "receipt": receipt},
            "payment_capture": 1,
        }
        try:
            order = await self._call(self._client.order.create, data)
        except ProviderUnavailable:
            raise
        except ProviderError as exc:
            if "receipt" not in exc.message.lower() or "unique" not in exc.message.lower():
                raise
            order = await self._order_by_receipt(key, amount_minor, currency.upper(), exc)
        return ProviderOrder(
            provider_order_id=str(order["id"]),
            amount_minor=int(order["amount"]),
            currency=str(order["currency"]).upper(),
            status=str(order["status"]),
        )

    async def _order_by_receipt(
        self, receipt: str, amount_minor: int, currency: str, refusal: ProviderError
    ) -> dict[str, Any]:
        found = await self._call(self._client.order.all, {"receipt": receipt})
        items = found.get("items")
        orders = [o for o in items if isinstance(o, dict)] if isinstance(items, list) else []
        if not orders:
            raise refusal
        order = orders[0]
        if order.get("amount") != amount_minor or str(order.get("currency")).upper() != currency:
            raise ProviderError(
                "the idempotency key was used for an order of another amount",
                code="idempotency_key_reused",
            )
        return order

    def verify_payment_signature(
        self, provider_order_id: str, provider_payment_id: str, signature: str
    ) -> bool:
        """Checkout's ``razorpay_signature`` for this order and payment, checked with the key
        secret; only proves the client did not invent the ids: read the status with
        :meth:`retrieve`."""
        return verify_payment_signature(
            provider_order_id, provider_payment_id, signature, self._key_secret
        )

    # ----------------------------------------------------------------- payments

    async def retrieve(self, provider_payment_id: str) -> ChargeResult:
        """The payment now (card brand and last4 included); an ``authorized`` payment of an
        order is captured first unless ``capture_authorized`` is off."""
        payment = await self._fetch_payment(provider_payment_id)
        if (
            self._capture_authorized
            and payment.get("status") == "authorized"
            and payment.get("order_id")
        ):
            try:
                await self._call(
                    self._client.payment.capture,
                    provider_payment_id,
                    payment["amount"],
                    {"currency": payment["currency"]},
                )
            except ProviderUnavailable:
                raise
            except ProviderError:
                pass  # e.g. Razorpay captured it meanwhile: the fetch below tells
            payment = await self._fetch_payment(provider_payment_id)
        return charge_result(payment)

    async def _fetch_payment(self, provider_payment_id: str) -> dict[str, Any]:
        return await self._call(
            self._client.payment.fetch, provider_payment_id, {"expand[]": "card"}
        )

    async def refund(
        self,
        provider_payment_id: str,
        amount_minor: int,
        *,
        idempotency_key: str,
        reason: str | None = None,
    ) -> RefundResult:
        """Refund ``amount_minor`` of a captured payment; retrying with the same key and
        arguments returns the first refund (``X-Refund-Idempotency``)."""
        key = razorpay_key(idempotency_key)
        data: dict[str, Any] = {"amount": amount_minor, "receipt": key}
        if reason:
            data["notes"] = {"reason": reason[:256]}
        refund = await self._call(
            self._client.payment.refund,
            provider_payment_id,
            data,
            headers={REFUND_IDEMPOTENCY_HEADER: key},
        )
        return RefundResult(
            provider_refund_id=str(refund["id"]),
            status=_REFUND_STATUS.get(str(refund.get("status")), "pending"),
            amount_minor=int(refund["amount"]),
        )

    # ----------------------------------------------------------------- webhooks

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Verify and read one webhook delivery; :class:`InvalidSignature` otherwise."""
        return parse_razorpay_webhook(body, headers, self._webhook_secret, provider=self.name)
