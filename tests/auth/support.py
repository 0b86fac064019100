"""Helpers shared by the auth tests (login, tokens, PIN sign-in and tills).

Sign-in is rate limited per client address (30/minute) in the app's memory limiter, which
lives as long as the session-scoped app. Each test therefore talks to the app from its own
address (:func:`fresh_client`), so the suite can sign in as often as it needs.
"""

from __future__ import annotations

import base64
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.auth.crypto import random_token, sha256_hex
from fynlo.config import Settings
from fynlo.models import AuditLog, PosDevice, RefreshToken, Restaurant, User
from tests.conftest import make_client
from tests.factories import DEFAULT_PASSWORD

_addresses = itertools.count(1)


@asynccontextmanager
async def fresh_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the app whose peer address no other test uses."""
    n = next(_addresses)
    address = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
    async with make_client(app, client=(address, 40000)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(
    client: httpx.AsyncClient, email: str, password: str = DEFAULT_PASSWORD
) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


async def login_ok(
    client: httpx.AsyncClient, email: str, password: str = DEFAULT_PASSWORD
) -> dict[str, Any]:
    """Sign in and return ``data`` (asserting success)."""
    response = await login(client, email, password)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The failure envelope with ``status`` and ``code``; returns ``error``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert set(body) == {"success", "error"}
    error: dict[str, Any] = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["requestId"] == response.headers["x-request-id"]
    return error


def assert_unauthorized(response: httpx.Response, code: str = "invalid_token") -> dict[str, Any]:
    error = assert_error(response, 401, code)
    assert response.headers["www-authenticate"] == "Bearer"
    return error


def validation_fields(response: httpx.Response) -> set[str]:
    """The ``field`` of every validation detail of a 422."""
    error = assert_error(response, 422, "validation_error")
    return {d["field"] for d in error["details"]}


async def fresh_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    """The user as the database has it now (ends the test session's snapshot first)."""
    await session.commit()
    user = await session.get(User, user_id, populate_existing=True)
    assert user is not None
    return user


async def audit_rows(
    session: AsyncSession, *, action: str, user_id: uuid.UUID | None = None
) -> list[AuditLog]:
    await session.commit()
    query = select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.created_at)
    if user_id is not None:
        query = query.where(AuditLog.user_id == user_id)
    return list(await session.scalars(query))


async def refresh_rows(session: AsyncSession, user_id: uuid.UUID) -> list[RefreshToken]:
    await session.commit()
    return list(
        await session.scalars(
            select(RefreshToken)
            .where(RefreshToken.user_id == user_id)
            .order_by(RefreshToken.created_at)
            .execution_options(populate_existing=True)
        )
    )


async def bind_device(
    session: AsyncSession, restaurant: Restaurant, name: str = "Till"
) -> tuple[PosDevice, str]:
    """A till bound straight in the database; returns it and its device token."""
    token = random_token()
    device = PosDevice(
        id=uuid.uuid4(), restaurant_id=restaurant.id, name=name, token_hash=sha256_hex(token)
    )
    session.add(device)
    await session.flush()
    return device, token


def unverified_claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def access_claims(settings: Settings, user_id: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    """Claims of a valid access token for ``user_id`` (``None`` overrides drop a claim)."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "typ": "access",
        "tv": 0,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def forge(
    settings: Settings,
    user_id: uuid.UUID,
    *,
    secret: str | None = None,
    algorithm: str = "HS256",
    **overrides: Any,
) -> str:
    """An access token signed with the access secret unless told otherwise."""
    key = secret if secret is not None else settings.jwt_secret.get_secret_value()
    return jwt.encode(access_claims(settings, user_id, **overrides), key, algorithm=algorithm)


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned_token(settings: Settings, user_id: uuid.UUID) -> str:
    """``alg: none``: well-formed claims and no signature at all."""
    claims = access_claims(settings, user_id)
    claims["iat"] = int(claims["iat"].timestamp())
    claims["exp"] = int(claims["exp"].timestamp())
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
