"""Signing outgoing webhook requests, and the verification recipe documented for receivers.

``Fynlo-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``. While a
rotated-out secret is still valid the header carries a second ``v1=`` signed with it, so a
receiver that has not yet switched to the new secret keeps accepting deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from fynlo.auth import crypto
from fynlo.config import Settings

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SIGNATURE_HEADER = "Fynlo-Signature"
EVENT_ID_HEADER = "Fynlo-Event-Id"
EVENT_TYPE_HEADER = "Fynlo-Event-Type"
DELIVERY_ID_HEADER = "Fynlo-Delivery-Id"
USER_AGENT = "Fynlo-Webhooks/1"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


def generate_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def encrypt_secret(settings: Settings, secret: str) -> str:
    return crypto.encrypt(settings.data_encryption_key.get_secret_value(), secret)


def decrypt_secret(settings: Settings, ciphertext: str) -> str:
    return crypto.decrypt(settings.data_encryption_key.get_secret_value(), ciphertext)


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(signing_secrets: Sequence[str], body: bytes, timestamp: int | None = None) -> str:
    """The ``Fynlo-Signature`` value: one ``v1=`` per secret, the current secret first."""
    if not signing_secrets:
        raise ValueError("at least one secret is needed to sign")
    t = int(time.time()) if timestamp is None else timestamp
    return ",".join([f"t={t}", *(f"{SCHEME}={_digest(s, t, body)}" for s in signing_secrets)])


def delivery_headers(
    signing_secrets: Sequence[str],
    body: bytes,
    *,
    event_id: uuid.UUID | str,
    event_type: str,
    delivery_id: uuid.UUID | str,
    timestamp: int | None = None,
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(signing_secrets, body, timestamp),
        EVENT_ID_HEADER: str(event_id),
        EVENT_TYPE_HEADER: event_type,
        DELIVERY_ID_HEADER: str(delivery_id),
    }


def verify(
    secret: str,
    header: str,
    body: bytes | str,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    *,
    now: int | None = None,
) -> bool:
    """True when ``header`` holds a ``v1`` signature of ``body`` made with ``secret`` at a
    time within ``tolerance_seconds`` of ``now`` (which refuses replays of old requests).

    ``body`` must be the raw request body, before any JSON parsing.
    """
    raw = body.encode() if isinstance(body, str) else body
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == SCHEME:
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = _digest(secret, timestamp, raw)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)
