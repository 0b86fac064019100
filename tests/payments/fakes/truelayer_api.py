"""A local fake of TrueLayer's Payments API v3 (https://docs.truelayer.com), close enough for
:class:`fynlo.payments.providers.truelayer.TrueLayerBank` to talk to it over a real socket.

Usage::

    async with running_truelayer_fake() as fake:
        fake.register_signing_key(KID, public_key)            # the key uploaded to Console
        bank = TrueLayerBank(..., api_base=fake.url, auth_base=fake.url,
                             webhook_jwks_url=fake.jwks_url)
        await bank.load_webhook_keys()
        payment = await bank.create_payment(...)
        fake.authorize(payment.provider_payment_id)
        fake.execute(payment.provider_payment_id)
        body, headers = fake.webhook("payment_executed", payment.provider_payment_id)
        bank.parse_webhook(body, headers)

What it models: ``POST /connect/token`` (client credentials, scope ``payments``; 400
``invalid_client`` otherwise); the bearer token on every API call (401); ``Idempotency-Key``
required on POSTs (same key and body: the first answer again; same key, other body: 422);
the ``Tl-Signature`` on POSTs, verified here independently of the adapter (with PyJWT's
ES512 primitive) against the registered public key, with ``Idempotency-Key`` required among
the signed headers (401 otherwise); payments create/get/cancel; refunds; TrueLayer's
``problem+json`` errors; webhooks signed by the fake's own P-521 key (``jku`` pointing at
``/.well-known/jwks.json``), covering ``X-Tl-Webhook-Timestamp``.
Not modelled: the hosted payment page itself, provider selection, payment sources, the
merchant-account ledger and settlement timing, refund status changes, mandates, payouts,
rate limits, the 409 for a concurrent request with the same key.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CLIENT_ID = "fynlo-sandbox-client"
CLIENT_SECRET = "fynlo-sandbox-secret"
ERROR_TYPES = "https://docs.truelayer.com/docs/error-types#"
_ES512 = ECAlgorithm(ECAlgorithm.SHA512)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rfc3339(at: datetime | None = None) -> str:
    """TrueLayer's timestamps: UTC with 7 fractional digits (``...T12:00:00.1234567Z``)."""
    moment = at or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _tl_payload(method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    lines = f"{method} {path}\n" + "".join(f"{k}: {v}\n" for k, v in headers)
    return lines.encode() + body


def tl_sign(
    key: ec.EllipticCurvePrivateKey,
    kid: str,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    jku: str | None = None,
) -> str:
    """Sign as TrueLayer does (the fake's own implementation, via PyJWT's ES512)."""
    jose: dict[str, str] = {
        "alg": "ES512",
        "kid": kid,
        "tl_version": "2",
        "tl_headers": ",".join(k for k, _ in headers),
    }
    if jku:
        jose["jku"] = jku
    header_b64 = _b64url(json.dumps(jose).encode())
    signing_input = f"{header_b64}.{_b64url(_tl_payload(method, path, headers, body))}"
    return f"{header_b64}..{_b64url(_ES512.sign(signing_input.encode(), key))}"


def tl_verify(
    key: ec.EllipticCurvePublicKey,
    signature: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
) -> str | None:
    """``None`` when the signature verifies, else why not."""
    parts = signature.split(".")
    if len(parts) != 3 or parts[1]:
        return "Tl-Signature is not a detached JWS"
    try:
        jose = json.loads(_b64url_decode(parts[0]))
    except ValueError:
        return "Tl-Signature header is not JSON"
    if jose.get("alg") != "ES512" or jose.get("tl_version") != "2":
        return "Tl-Signature must be ES512, tl_version 2"
    names = [n for n in str(jose.get("tl_headers", "")).split(",") if n]
    if "idempotency-key" not in {n.lower() for n in names}:
        return "Tl-Signature must sign the Idempotency-Key header"
    lowered = {k.lower(): v for k, v in headers.items()}
    signed = [(n, lowered.get(n.lower(), "")) for n in names]
    signing_input = f"{parts[0]}.{_b64url(_tl_payload(method, path, signed, body))}"
    if not _ES512.verify(signing_input.encode(), key, _b64url_decode(parts[2])):
        return "Tl-Signature does not verify"
    return None


class TrueLayerApiError(Exception):
    """Raised inside a handler; answered as ``application/problem+json``."""

    def __init__(self, status: int, error_type: str, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.body = {
            "type": ERROR_TYPES + error_type,
            "title": title,
            "status": status,
            "detail": detail,
            "trace_id": secrets.token_hex(16),
        }


class TrueLayerFake:
    def __init__(self, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.url = ""
        self.signing_keys: dict[str, ec.EllipticCurvePublicKey] = {}
        self.webhook_key = ec.generate_private_key(ec.SECP521R1())
        self.webhook_kid = str(uuid.uuid4())
        self.payments: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.requests: list[tuple[str, str]] = []
        self._idempotency: dict[tuple[str, str], tuple[bytes, int, dict[str, Any]]] = {}
        self._delay_next = 0.0
        self._fail_next: int | None = None
        self.app = web.Application(middlewares=[self._middleware])
        self.app.router.add_post("/connect/token", self._token)
        self.app.router.add_get("/.well-known/jwks.json", self._jwks)
        self.app.router.add_post("/v3/payments", self._create_payment)
        self.app.router.add_get("/v3/payments/{id}", self._get_payment)
        self.app.router.add_post("/v3/payments/{id}/actions/cancel", self._cancel)
        self.app.router.add_post("/v3/payments/{id}/refunds", self._refund)

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/.well-known/jwks.json"

    # ---------------------------------------------------------------- test controls

    def register_signing_key(self, kid: str, public_key: ec.EllipticCurvePublicKey) -> None:
        """The public key the merchant uploaded to Console under ``kid``."""
        self.signing_keys[kid] = public_key

    def delay_next(self, seconds: float) -> None:
        self._delay_next = seconds

    def fail_next(self, status: int = 500) -> None:
        self._fail_next = status

    def _payment(self, payment_id: str) -> dict[str, Any]:
        return self.payments[payment_id]

    def authorize(self, payment_id: str) -> None:
        payment = self._payment(payment_id)
        payment["status"] = "authorized"
        payment["authorized_at"] = rfc3339()

    def execute(self, payment_id: str) -> None:
        payment = self._payment(payment_id)
        payment["status"] = "executed"
        payment["executed_at"] = rfc3339()

    def settle(self, payment_id: str) -> None:
        payment = self._payment(payment_id)
        payment["status"] = "settled"
        payment["settled_at"] = rfc3339()

    def fail(self, payment_id: str, reason: str = "authorization_failed") -> None:
        payment = self._payment(payment_id)
        payment["status"] = "failed"
        payment["failed_at"] = rfc3339()
        payment["failure_stage"] = "authorizing"
        payment["failure_reason"] = reason

    def webhook(
        self,
        event_type: str,
        payment_id: str,
        *,
        path: str = "/api/payments/webhooks/bank",
        timestamp: str | None = None,
        key: ec.EllipticCurvePrivateKey | None = None,
        jku: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """One webhook delivery as TrueLayer would POST it to ``path``."""
        payment = self._payment(payment_id)
        event: dict[str, Any] = {
            "type": event_type,
            "event_version": 1,
            "event_id": str(uuid.uuid4()),
            "payment_id": payment_id,
            "payment_method": payment["payment_method"],
            "metadata": {},
        }
        for field in ("executed_at", "settled_at", "failed_at", "failure_stage"):
            if field in payment:
                event[field] = payment[field]
        if "failure_reason" in payment:
            event["failure_reason"] = payment["failure_reason"]
        body = json.dumps(event).encode()
        stamp = timestamp or rfc3339()
        signed = [("X-Tl-Webhook-Timestamp", stamp), ("Content-Type", "application/json")]
        headers = dict(signed)
        headers["Tl-Signature"] = tl_sign(
            key or self.webhook_key,
            self.webhook_kid,
            "POST",
            path,
            signed,
            body,
            jku=jku or self.jwks_url,
        )
        return body, headers

    # ---------------------------------------------------------------- plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if self._delay_next:
            delay, self._delay_next = self._delay_next, 0.0
            await asyncio.sleep(delay)
        if self._fail_next is not None and request.path.startswith("/v3/"):
            status, self._fail_next = self._fail_next, None
            error = TrueLayerApiError(status, "internal-server-error", "Server Error", "boom")
            return web.json_response(error.body, status=status, content_type="application/json")
        try:
            return await handler(request)
        except TrueLayerApiError as exc:
            return web.Response(
                text=json.dumps(exc.body),
                status=exc.status,
                content_type="application/problem+json",
            )

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return web.json_response({"error": "invalid_client"}, status=400)
        if "payments" not in str(form.get("scope", "")).split():
            return web.json_response({"error": "invalid_scope"}, status=400)
        self.token_requests += 1
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        return web.json_response(
            {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}
        )

    async def _jwks(self, request: web.Request) -> web.StreamResponse:
        jwk = json.loads(ECAlgorithm.to_jwk(self.webhook_key.public_key()))
        jwk["kid"] = self.webhook_kid
        return web.json_response({"keys": [jwk]})

    def _authenticate(self, request: web.Request) -> None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            raise TrueLayerApiError(401, "unauthenticated", "Unauthorized", "bad access token")

    async def _signed_body(self, request: web.Request) -> tuple[str, bytes]:
        """Check the bearer, the Idempotency-Key and the Tl-Signature of a POST."""
        self._authenticate(request)
        body = await request.read()
        key = request.headers.get("Idempotency-Key", "")
        if not key:
            raise TrueLayerApiError(
                400, "missing-idempotency-key", "Missing Idempotency-Key", "header required"
            )
        signature = request.headers.get("Tl-Signature", "")
        kid = ""
        with suppress(ValueError, AttributeError):
            kid = json.loads(_b64url_decode(signature.split(".")[0])).get("kid", "")
        public_key = self.signing_keys.get(kid)
        problem = (
            "unknown signing key"
            if public_key is None
            else tl_verify(
                public_key, signature, request.method, request.path, dict(request.headers), body
            )
        )
        if problem is not None:
            raise TrueLayerApiError(401, "invalid-signature", "Invalid Signature", problem)
        return key, body

    def _replay(self, scope: str, key: str, body: bytes) -> web.StreamResponse | None:
        seen = self._idempotency.get((scope, key))
        if seen is None:
            return None
        if seen[0] != body:
            raise TrueLayerApiError(
                422,
                "idempotency-key-reuse",
                "Idempotency-Key Reuse",
                "The Idempotency-Key was used with a different request body",
            )
        return web.json_response(seen[2], status=seen[1])

    async def _create_payment(self, request: web.Request) -> web.StreamResponse:
        key, body = await self._signed_body(request)
        replay = self._replay("create", key, body)
        if replay is not None:
            return replay
        data = json.loads(body)
        amount = data.get("amount_in_minor")
        if not isinstance(amount, int) or amount < 1:
            raise TrueLayerApiError(
                400, "invalid-parameters", "Invalid Parameters", "amount_in_minor must be > 0"
            )
        if data.get("currency") not in ("GBP", "EUR"):
            raise TrueLayerApiError(
                400, "invalid-parameters", "Invalid Parameters", "currency not supported"
            )
        payment_id = str(uuid.uuid4())
        user_id = str(uuid.uuid4())
        self.payments[payment_id] = {
            "id": payment_id,
            "amount_in_minor": amount,
            "currency": data["currency"],
            "user": {"id": user_id},
            "payment_method": data["payment_method"],
            "created_at": rfc3339(),
            "status": "authorization_required",
        }
        answer = {
            "id": payment_id,
            "user": {"id": user_id},
            "resource_token": secrets.token_urlsafe(32),
            "status": "authorization_required",
        }
        self._idempotency[("create", key)] = (body, 201, answer)
        return web.json_response(answer, status=201)

    def _find(self, request: web.Request) -> dict[str, Any]:
        payment = self.payments.get(request.match_info["id"])
        if payment is None:
            raise TrueLayerApiError(404, "not-found", "Not Found", "payment not found")
        return payment

    async def _get_payment(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request)
        return web.json_response(copy.deepcopy(self._find(request)))

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        await self._signed_body(request)
        payment = self._find(request)
        if payment["status"] not in ("authorization_required", "authorizing"):
            raise TrueLayerApiError(
                400,
                "payment-cannot-be-cancelled",
                "Payment Cannot Be Cancelled",
                f"a payment in status {payment['status']} cannot be cancelled",
            )
        self.fail(payment["id"], reason="canceled")
        return web.Response(status=202)

    async def _refund(self, request: web.Request) -> web.StreamResponse:
        key, body = await self._signed_body(request)
        payment = self._find(request)
        replay = self._replay("refund:" + payment["id"], key, body)
        if replay is not None:
            return replay
        data = json.loads(body)
        if payment["status"] not in ("executed", "settled"):
            raise TrueLayerApiError(
                400, "payment-not-settled", "Payment Not Settled", "cannot refund this payment"
            )
        amount = data.get("amount_in_minor")
        refunded = sum(
            r["amount_in_minor"] for r in self.refunds.values() if r["payment_id"] == payment["id"]
        )
        if (
            not isinstance(amount, int)
            or amount < 1
            or refunded + amount > payment["amount_in_minor"]
        ):
            raise TrueLayerApiError(
                400, "invalid-parameters", "Invalid Parameters", "refund amount exceeds payment"
            )
        reference = data.get("reference")
        if not isinstance(reference, str) or not 1 <= len(reference) <= 18:
            raise TrueLayerApiError(
                400, "invalid-parameters", "Invalid Parameters", "reference must be 1-18 chars"
            )
        refund_id = str(uuid.uuid4())
        self.refunds[refund_id] = {
            "id": refund_id,
            "payment_id": payment["id"],
            "amount_in_minor": amount,
            "reference": reference,
            "status": "pending",
        }
        answer = {"id": refund_id}
        self._idempotency[("refund:" + payment["id"], key)] = (body, 201, answer)
        return web.json_response(answer, status=201)


@asynccontextmanager
async def running_truelayer_fake(
    client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET
) -> AsyncIterator[TrueLayerFake]:
    """Serve a fresh :class:`TrueLayerFake` on a free loopback port for the block."""
    fake = TrueLayerFake(client_id, client_secret)
    runner = web.AppRunner(fake.app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        fake.url = f"http://{host}:{port}"
        yield fake
    finally:
        await runner.cleanup()
