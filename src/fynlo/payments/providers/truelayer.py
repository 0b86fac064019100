"""TrueLayer (Payments API v3, open-banking payment initiation) behind QR payments.

How it talks to TrueLayer
    Plain HTTP over one :class:`httpx.AsyncClient` with the configured timeout and no
    automatic retries (a retry is the caller's decision, made with the same idempotency
    key). An access token comes from ``POST {auth_base}/connect/token``
    (``client_credentials``, scope ``payments``) and is cached until shortly before it
    expires; a 401 from the API drops it and the request is sent once more with a new one.

Request signing
    Every ``POST`` carries ``Idempotency-Key`` and a ``Tl-Signature``: TrueLayer's "v2"
    scheme, a JWS with detached content signed ES512 (P-521 key, raw ``r||s`` signature)
    whose protected header is ``{"alg": "ES512", "kid": ..., "tl_version": "2",
    "tl_headers": "Idempotency-Key"}`` and whose payload is ``"POST /v3/payments\\n"``,
    one ``"Name: value\\n"`` line per signed header, then the exact body bytes sent.
    Implemented here with ``cryptography`` (no ``truelayer-signing`` dependency); the
    signed path is the one actually requested, so an ``api_base`` with a path prefix is
    signed with that prefix.

Payments
    ``POST /v3/payments``: ``bank_transfer`` into the merchant account, the user picks the
    bank (``user_selected``) on TrueLayer's hosted page, whose URL is built from the id
    and ``resource_token`` TrueLayer answers. ``status`` maps ``authorization_required``,
    ``authorizing``, ``authorized`` and ``attempt_failed`` to ``pending``; ``executed`` and
    ``settled`` to ``completed`` (``paid_at`` from ``settled_at``/``executed_at``,
    ``bank_reference`` the payment id, which TrueLayer shows on the merchant account
    transaction); ``failed`` to ``failed``, or ``cancelled`` when the failure reason is
    ``canceled`` (the merchant cancelled it).
    ``cancel`` is ``POST /v3/payments/{id}/actions/cancel``; a refusal because the payment
    is past cancelling (a 4xx whose problem mentions cancelling) is ignored.

Refunds
    ``POST /v3/payments/{id}/refunds`` with the caller's idempotency key; TrueLayer settles
    refunds asynchronously, so the answer is always ``pending``. The refund ``reference``
    (shown on the payer's statement, at most 18 characters) is the reason, trimmed, or
    ``"Fynlo refund"``.

Errors
    Timeouts, connection errors, 5xx, 408, 409 (a concurrent request with the same key)
    and 429 raise :class:`ProviderUnavailable`: the outcome is unknown, retry with the same
    key. Any other 4xx raises :class:`ProviderError` from TrueLayer's ``problem+json``: the
    message is ``title: detail`` and the code the last segment of ``type``
    (``.../error-types#invalid-parameters`` -> ``invalid-parameters``), else ``http_NNN``.

Webhooks
    TrueLayer signs each webhook with the same scheme, by its own key, with a ``jku``
    header naming its JWKS. Only the configured JWKS URL is accepted (``webhook_jwks_url``;
    by default the production or sandbox URL matching ``api_base``), and the keys are NOT
    fetched during ``parse_webhook`` (it is synchronous): either pass ``webhook_keys`` (a
    JWKS dict) to the constructor, or ``await provider.load_webhook_keys()`` once at
    start-up (it fetches the allow-listed URL and caches the keys; a later key id it does
    not know refuses the webhook until it is called again). The signature must cover
    ``X-Tl-Webhook-Timestamp``, which must be within 5 minutes of now. The signed path is
    the path the webhook was delivered to: ``webhook_paths`` lists the accepted ones
    (by default Fynlo's two bank webhook routes). ``payment_executed`` and
    ``payment_settled`` become ``payment_succeeded`` (``payload`` adds ``bankReference``,
    ``paidAt`` in epoch seconds and ``amount`` when the event carries ``amount_in_minor``),
    ``payment_failed`` becomes ``payment_failed``, all else ``other``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Literal
from urllib.parse import urlencode

import httpx
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from fynlo.payments.providers.base import (
    BankPayment,
    EventKind,
    InvalidSignature,
    ProviderError,
    ProviderEvent,
    ProviderUnavailable,
    RefundResult,
)

SIGNATURE_HEADER: Final = "Tl-Signature"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
WEBHOOK_TIMESTAMP_HEADER: Final = "X-Tl-Webhook-Timestamp"
WEBHOOK_TOLERANCE_SECONDS: Final = 300
PRODUCTION_JWKS_URL: Final = "https://webhooks.truelayer.com/.well-known/jwks"
SANDBOX_JWKS_URL: Final = "https://webhooks.truelayer-sandbox.com/.well-known/jwks"
DEFAULT_WEBHOOK_PATHS: Final = ("/api/payments/webhooks/bank", "/api/payments/qr/webhook")

_P521_BYTES: Final = 66
_TOKEN_MARGIN_SECONDS: Final = 60
_REFUND_REFERENCE_MAX: Final = 18
_RETRYABLE_STATUSES: Final = frozenset({408, 409, 425, 429})
_PENDING: Final = frozenset(
    {"authorization_required", "authorizing", "authorized", "attempt_failed"}
)
_COMPLETED: Final = frozenset({"executed", "settled"})
_EVENT_KINDS: Final[dict[str, EventKind]] = {
    "payment_executed": "payment_succeeded",
    "payment_settled": "payment_succeeded",
    "payment_failed": "payment_failed",
}
_FRACTION: Final = re.compile(r"(\.\d{1,6})\d*")
_REFERENCE_CHARS: Final = re.compile(r"[^A-Za-z0-9 \-.&/]")


# --------------------------------------------------------------------- signing


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_payload(
    method: str, path: str, headers: Sequence[tuple[str, str]], body: bytes
) -> bytes:
    """What a ``Tl-Signature`` (v2) signs: ``"METHOD /path\\n"``, one ``"Name: value\\n"``
    per signed header in ``tl_headers`` order, then the body."""
    lines = f"{method.upper()} {path}\n" + "".join(f"{k}: {v}\n" for k, v in headers)
    return lines.encode() + body


def sign_request(
    private_key: ec.EllipticCurvePrivateKey,
    kid: str,
    method: str,
    path: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    *,
    jku: str | None = None,
) -> str:
    """A ``Tl-Signature`` value: ``<b64url(header)>..<b64url(r||s)>``."""
    jose: dict[str, str] = {
        "alg": "ES512",
        "kid": kid,
        "tl_version": "2",
        "tl_headers": ",".join(name for name, _ in headers),
    }
    if jku is not None:
        jose["jku"] = jku
    header_b64 = _b64url(json.dumps(jose, separators=(",", ":")).encode())
    payload = signing_payload(method, path, headers, body)
    signing_input = f"{header_b64}.{_b64url(payload)}".encode()
    der = private_key.sign(signing_input, ec.ECDSA(hashes.SHA512()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(_P521_BYTES, "big") + s.to_bytes(_P521_BYTES, "big")
    return f"{header_b64}..{_b64url(raw)}"


def jws_header(signature: str) -> dict[str, Any]:
    """The protected header of a detached JWS (unverified); ``ValueError`` if malformed."""
    parts = signature.strip().split(".")
    if len(parts) != 3 or parts[1] != "" or not parts[0] or not parts[2]:
        raise ValueError("not a detached JWS")
    header = json.loads(_b64url_decode(parts[0]))
    if not isinstance(header, dict):
        raise ValueError("JWS header is not an object")
    return header


def verify_request(
    public_key: ec.EllipticCurvePublicKey,
    signature: str,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    required_headers: Sequence[str] = (),
) -> dict[str, Any]:
    """Check a ``Tl-Signature`` over a request; returns its JOSE header, raises
    ``ValueError`` when it does not verify. Header lookup ignores case; the path is tried
    as given and with/without a trailing slash, as TrueLayer's libraries do."""
    header = jws_header(signature)
    if header.get("alg") != "ES512":
        raise ValueError("only ES512 signatures are accepted")
    if str(header.get("tl_version", "")) != "2":
        raise ValueError("only tl_version 2 signatures are accepted")
    names = [n.strip() for n in str(header.get("tl_headers") or "").split(",") if n.strip()]
    lowered = {k.lower(): v for k, v in headers.items()}
    signed_lower = {n.lower() for n in names}
    for required in required_headers:
        if required.lower() not in signed_lower:
            raise ValueError(f"signature does not cover {required}")
    signed: list[tuple[str, str]] = []
    for name in names:
        if name.lower() not in lowered:
            raise ValueError(f"signed header {name} is missing")
        signed.append((name, lowered[name.lower()]))
    header_b64, _, sig_b64 = signature.strip().split(".")
    raw = _b64url_decode(sig_b64)
    if len(raw) != 2 * _P521_BYTES:
        raise ValueError("bad ES512 signature length")
    der = encode_dss_signature(
        int.from_bytes(raw[:_P521_BYTES], "big"), int.from_bytes(raw[_P521_BYTES:], "big")
    )
    stripped = path.rstrip("/") or "/"
    for candidate in dict.fromkeys((path, stripped, stripped + "/")):
        payload = signing_payload(method, candidate, signed, body)
        try:
            public_key.verify(
                der, f"{header_b64}.{_b64url(payload)}".encode(), ec.ECDSA(hashes.SHA512())
            )
        except CryptoInvalidSignature:
            continue
        return header
    raise ValueError("signature does not verify")


def public_key_from_jwk(jwk: Mapping[str, Any]) -> ec.EllipticCurvePublicKey:
    """An EC P-521 public key from its JWK; ``ValueError`` for anything else."""
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-521":
        raise ValueError("only EC P-521 keys are accepted")
    x = int.from_bytes(_b64url_decode(str(jwk["x"])), "big")
    y = int.from_bytes(_b64url_decode(str(jwk["y"])), "big")
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP521R1()).public_key()


def load_private_key(pem: str | bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(
        pem.encode() if isinstance(pem, str) else pem, password=None
    )
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP521R1):
        raise ValueError("the TrueLayer signing key must be an EC P-521 (secp521r1) key")
    return key


# --------------------------------------------------------------------- helpers


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_time(value: Any) -> int | None:
    """RFC 3339 (``2024-01-02T03:04:05.1234567Z``) to epoch seconds; None if unreadable."""
    text = _str(value)
    if text is None:
        return None
    text = _FRACTION.sub(r"\1", text.strip()).replace("z", "Z")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return int(parsed.timestamp())


def default_jwks_url(api_base: str) -> str:
    return SANDBOX_JWKS_URL if "truelayer-sandbox.com" in api_base else PRODUCTION_JWKS_URL


def bank_payment(payment: Mapping[str, Any]) -> BankPayment:
    """A TrueLayer v3 payment (``GET /v3/payments/{id}``) as Fynlo reads it."""
    payment_id = str(payment.get("id") or "")
    raw = str(payment.get("status") or "")
    status: Literal["pending", "completed", "failed", "cancelled"] = "pending"
    paid_at: int | None = None
    reference: str | None = None
    if raw in _COMPLETED:
        status = "completed"
        paid_at = parse_time(payment.get("settled_at")) or parse_time(payment.get("executed_at"))
        reference = payment_id
    elif raw == "failed":
        status = "cancelled" if payment.get("failure_reason") == "canceled" else "failed"
    return BankPayment(
        provider_payment_id=payment_id,
        status=status,
        bank_reference=reference,
        paid_at=paid_at,
        amount_minor=_int(payment.get("amount_in_minor")),
        currency=_str(payment.get("currency")),
    )


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        return _dict(response.json())
    except ValueError:
        return {}


def _refusal(response: httpx.Response) -> ProviderError:
    """A non-2xx answer as the exception the caller acts on (see the module docstring)."""
    problem = _problem(response)
    title = _str(problem.get("title")) or response.reason_phrase or "error"
    detail = _str(problem.get("detail"))
    message = f"{title}: {detail}" if detail else title
    type_uri = _str(problem.get("type"))
    code = re.split(r"[#/]", type_uri.rstrip("/#"))[-1] if type_uri else None
    code = code or _str(problem.get("error"))  # the auth server answers OAuth errors
    status = response.status_code
    if status >= 500 or status in _RETRYABLE_STATUSES:
        return ProviderUnavailable(
            f"TrueLayer is unavailable (HTTP {status}): {message}", code=code or "unavailable"
        )
    if status in (401, 403) and code is None:
        code = "authentication_failed"
    return ProviderError(message, code=code or f"http_{status}")


def _refund_reference(reason: str | None) -> str:
    text = _REFERENCE_CHARS.sub("", reason or "").strip()[:_REFUND_REFERENCE_MAX].strip()
    return text or "Fynlo refund"


# --------------------------------------------------------------------- provider


class TrueLayerBank:
    """The :class:`~fynlo.payments.providers.base.BankProvider` for TrueLayer. See the
    module's docstring for signing, errors and webhooks."""

    name: str = "truelayer"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        signing_key_pem: str | bytes,
        signing_key_id: str,
        merchant_account_id: str,
        *,
        api_base: str = "https://api.truelayer.com",
        auth_base: str = "https://auth.truelayer.com",
        hpp_base: str = "https://payment.truelayer.com",
        return_uri: str,
        webhook_jwks_url: str | None = None,
        webhook_keys: Mapping[str, Any] | None = None,
        webhook_paths: Sequence[str] = DEFAULT_WEBHOOK_PATHS,
        timeout: float = 10.0,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._signing_key = load_private_key(signing_key_pem)
        self._signing_key_id = signing_key_id
        self._merchant_account_id = merchant_account_id
        self._api_base = api_base.rstrip("/")
        self._api_path = httpx.URL(self._api_base).path.rstrip("/")
        self._auth_base = auth_base.rstrip("/")
        self._hpp_base = hpp_base.rstrip("/")
        self._return_uri = return_uri
        self._jwks_url = webhook_jwks_url or default_jwks_url(self._api_base)
        self._webhook_paths = tuple(webhook_paths)
        self._webhook_keys: dict[str, ec.EllipticCurvePublicKey] = {}
        if webhook_keys is not None:
            self._webhook_keys = self._keys_of(webhook_keys)
        self._http = httpx.AsyncClient(timeout=timeout)
        self._token: tuple[str, float] | None = None
        self._token_lock = asyncio.Lock()

    async def aclose(self) -> None:
        """Close the connection pool (on shutdown, or at the end of a test)."""
        await self._http.aclose()

    # ----------------------------------------------------------------- transport

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable("TrueLayer did not answer in time", code="timeout") from exc
        except httpx.TransportError as exc:
            raise ProviderUnavailable(
                f"TrueLayer is unreachable: {type(exc).__name__}", code="connection_error"
            ) from exc

    async def _access_token(self) -> str:
        async with self._token_lock:
            if self._token is not None and self._token[1] > time.monotonic():
                return self._token[0]
            response = await self._send(
                "POST",
                f"{self._auth_base}/connect/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._client_id,
                    "client_secret": self._client_secret,
                    "scope": "payments",
                },
            )
            if response.status_code != 200:
                raise _refusal(response)
            try:
                answer = _dict(response.json())
            except ValueError:
                answer = {}
            token = _str(answer.get("access_token"))
            if token is None:
                raise ProviderUnavailable("TrueLayer gave no access token", code="auth_error")
            expires_in = _int(answer.get("expires_in")) or 3600
            lifetime = max(expires_in - _TOKEN_MARGIN_SECONDS, expires_in // 2)
            self._token = (token, time.monotonic() + lifetime)
            return token

    async def _call(
        self,
        method: Literal["GET", "POST"],
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """One API call (signed when it is a POST); answers any status, raises only when
        there was no answer."""
        content = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        for attempt in range(2):
            headers = {
                "Authorization": f"Bearer {await self._access_token()}",
                "Accept": "application/json",
            }
            if method == "POST":
                key = idempotency_key or ""
                headers[IDEMPOTENCY_HEADER] = key
                headers[SIGNATURE_HEADER] = sign_request(
                    self._signing_key,
                    self._signing_key_id,
                    method,
                    self._api_path + path,
                    [(IDEMPOTENCY_HEADER, key)],
                    content,
                )
                if body is not None:
                    headers["Content-Type"] = "application/json"
            response = await self._send(
                method, self._api_base + path, headers=headers, content=content or None
            )
            if response.status_code == 401 and attempt == 0:
                self._token = None  # revoked or expired early: one more try, new token
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def _json(self, response: httpx.Response) -> dict[str, Any]:
        if not response.is_success:
            raise _refusal(response)
        try:
            return _dict(response.json())
        except ValueError as exc:
            raise ProviderUnavailable("TrueLayer answered non-JSON", code="bad_response") from exc

    # ----------------------------------------------------------------- payments

    async def create_payment(
        self,
        amount_minor: int,
        currency: str,
        *,
        reference: str,
        description: str,
        idempotency_key: str,
    ) -> BankPayment:
        body = {
            "amount_in_minor": amount_minor,
            "currency": currency.upper(),
            "payment_method": {
                "type": "bank_transfer",
                "provider_selection": {"type": "user_selected"},
                "beneficiary": {
                    "type": "merchant_account",
                    "merchant_account_id": self._merchant_account_id,
                    "reference": reference,
                },
            },
            "user": {"name": description},
        }
        answer = await self._json(
            await self._call("POST", "/v3/payments", body=body, idempotency_key=idempotency_key)
        )
        payment_id = _str(answer.get("id"))
        token = _str(answer.get("resource_token"))
        if payment_id is None or token is None:
            raise ProviderUnavailable("TrueLayer's answer has no payment id", code="bad_response")
        query = urlencode(
            {"payment_id": payment_id, "resource_token": token, "return_uri": self._return_uri}
        )
        return BankPayment(
            provider_payment_id=payment_id,
            status="pending",
            authorisation_url=f"{self._hpp_base}/?{query}",
            amount_minor=amount_minor,
            currency=currency.upper(),
        )

    async def status(self, provider_payment_id: str) -> BankPayment:
        answer = await self._json(await self._call("GET", f"/v3/payments/{provider_payment_id}"))
        return bank_payment(answer)

    async def cancel(self, provider_payment_id: str) -> None:
        response = await self._call(
            "POST",
            f"/v3/payments/{provider_payment_id}/actions/cancel",
            idempotency_key=f"cancel-{provider_payment_id}",
        )
        if response.is_success:
            return
        if response.status_code in (400, 409, 422):
            problem = _problem(response)
            text = " ".join(str(problem.get(k) or "") for k in ("type", "title", "detail")).lower()
            if "cancel" in text:
                return  # already executed, failed or cancelled: nothing left to cancel
        raise _refusal(response)

    async def refund(
        self,
        provider_payment_id: str,
        amount_minor: int,
        *,
        idempotency_key: str,
        reason: str | None = None,
    ) -> RefundResult:
        answer = await self._json(
            await self._call(
                "POST",
                f"/v3/payments/{provider_payment_id}/refunds",
                body={"amount_in_minor": amount_minor, "reference": _refund_reference(reason)},
                idempotency_key=idempotency_key,
            )
        )
        refund_id = _str(answer.get("id"))
        if refund_id is None:
            raise ProviderUnavailable("TrueLayer's answer has no refund id", code="bad_response")
        return RefundResult(
            provider_refund_id=refund_id, status="pending", amount_minor=amount_minor
        )

    # ----------------------------------------------------------------- webhooks

    @staticmethod
    def _keys_of(jwks: Mapping[str, Any]) -> dict[str, ec.EllipticCurvePublicKey]:
        keys: dict[str, ec.EllipticCurvePublicKey] = {}
        for jwk in jwks.get("keys") or []:
            if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
                continue
            try:
                keys[jwk["kid"]] = public_key_from_jwk(jwk)
            except (ValueError, KeyError, TypeError):
                continue  # a key of another type: never used for ES512
        return keys

    async def load_webhook_keys(self) -> int:
        """Fetch TrueLayer's webhook JWKS from the allow-listed URL and cache it (call at
        start-up; again after TrueLayer rotates its keys). Returns the number of keys."""
        response = await self._send("GET", self._jwks_url, headers={"Accept": "application/json"})
        if not response.is_success:
            raise _refusal(response)
        try:
            jwks = _dict(response.json())
        except ValueError as exc:
            raise ProviderUnavailable("TrueLayer's JWKS is not JSON", code="bad_jwks") from exc
        self._webhook_keys = self._keys_of(jwks)
        return len(self._webhook_keys)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        lowered = {k.lower(): v for k, v in headers.items()}
        signature = lowered.get(SIGNATURE_HEADER.lower(), "")
        if not signature.strip():
            raise InvalidSignature("missing Tl-Signature")
        try:
            header = jws_header(signature)
        except ValueError as exc:
            raise InvalidSignature("malformed Tl-Signature") from exc
        if header.get("jku") != self._jwks_url:
            raise InvalidSignature("webhook signed with keys from a URL that is not allowed")
        key = self._webhook_keys.get(str(header.get("kid")))
        if key is None:
            raise InvalidSignature("webhook signed with an unknown key")
        verified = False
        for path in self._webhook_paths:
            try:
                verify_request(
                    key,
                    signature,
                    "POST",
                    path,
                    headers,
                    body,
                    required_headers=(WEBHOOK_TIMESTAMP_HEADER,),
                )
            except ValueError:
                continue
            verified = True
            break
        if not verified:
            raise InvalidSignature("Tl-Signature does not verify")
        sent_at = parse_time(lowered.get(WEBHOOK_TIMESTAMP_HEADER.lower()))
        if sent_at is None or abs(time.time() - sent_at) > WEBHOOK_TOLERANCE_SECONDS:
            raise InvalidSignature("webhook timestamp is missing or too old")
        try:
            event = json.loads(body)
        except ValueError as exc:
            raise InvalidSignature("webhook body is not JSON") from exc
        if (
            not isinstance(event, dict)
            or not isinstance(event.get("type"), str)
            or not isinstance(event.get("event_id"), str)
        ):
            raise InvalidSignature("webhook body is not a TrueLayer event")
        event_type: str = event["type"]
        kind = _EVENT_KINDS.get(event_type, "other")
        payment_id = _str(event.get("payment_id"))
        amount = _int(event.get("amount_in_minor"))
        payload = dict(event)
        failure_code: str | None = None
        if kind == "payment_succeeded":
            paid_at = parse_time(event.get("settled_at")) or parse_time(event.get("executed_at"))
            payload["bankReference"] = payment_id
            payload["paidAt"] = paid_at
            if amount is not None:
                payload["amount"] = amount
        elif kind == "payment_failed":
            failure_code = _str(event.get("failure_reason")) or "failed"
        return ProviderEvent(
            provider=self.name,
            event_id=event["event_id"],
            event_type=event_type,
            kind=kind,
            created=sent_at,
            provider_payment_id=payment_id,
            amount_minor=amount,
            currency=_str(event.get("currency")),
            failure_code=failure_code,
            failure_message=_str(event.get("failure_stage")),
            payload=payload,
        )
