"""Two-factor authentication: enrolment, sign-in with TOTP or recovery codes, replay, lockout."""

from __future__ import annotations

import base64
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pyotp
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fynlo.app import create_app
from fynlo.auth import two_factor
from fynlo.auth.crypto import decrypt, random_token, sha256_hex
from fynlo.auth.two_factor import two_factor_router
from fynlo.config import Settings
from fynlo.models import AuditLog, PosDevice, RecoveryCode, User
from tests.conftest import make_client
from tests.factories import DEFAULT_PASSWORD, create_restaurant, create_user

BASE = "/api/auth/2fa"
_addresses = itertools.count(1)


@pytest.fixture(scope="module")
async def two_factor_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    if not any(getattr(r, "path", "").startswith(BASE) for r in application.routes):
        application.include_router(two_factor_router)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(two_factor_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Each test from its own address: sign-in is rate limited per client address."""
    n = next(_addresses)
    async with make_client(two_factor_app, client=(f"10.42.{n // 250}.{n % 250 + 1}", 40000)) as c:
        yield c


class Clock:
    """The time the 2FA service sees; tests step it forward one TOTP period at a time."""

    def __init__(self) -> None:
        self.now = float(int(time.time()) // 30 * 30 + 5)

    def __call__(self) -> float:
        return self.now

    def tick(self, steps: int = 1) -> None:
        self.now += 30 * steps

    def code(self, secret: str, steps_ahead: int = 0) -> str:
        code: str = pyotp.TOTP(secret).at(int(self.now) + 30 * steps_ahead)
        return code


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(two_factor, "_clock", c)
    return c


@dataclass
class Person:
    user: User
    email: str
    headers: dict[str, str]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client: httpx.AsyncClient, email: str) -> dict[str, Any]:
    response = await client.post(
        "/api/auth/login", json={"email": email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def person(session: AsyncSession, client: httpx.AsyncClient, **values: Any) -> Person:
    restaurant = await create_restaurant(session)
    user = await create_user(session, restaurant=restaurant, **values)
    await session.commit()
    data = await login(client, user.email)
    return Person(user, user.email, bearer(data["tokens"]["access"]))


async def reload(session: AsyncSession, user_id: uuid.UUID) -> User:
    await session.commit()
    user = await session.get(User, user_id, populate_existing=True)
    assert user is not None
    return user


async def recovery_rows(session: AsyncSession, user_id: uuid.UUID) -> list[RecoveryCode]:
    await session.commit()
    return list(
        await session.scalars(
            select(RecoveryCode)
            .where(RecoveryCode.user_id == user_id)
            .execution_options(populate_existing=True)
        )
    )


async def actions(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    await session.commit()
    rows = await session.scalars(
        select(AuditLog.action).where(AuditLog.user_id == user_id).order_by(AuditLog.seq)
    )
    return list(rows)


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code, body
    err: dict[str, Any] = body["error"]
    return err


async def enable(client: httpx.AsyncClient, p: Person, clock: Clock) -> tuple[str, list[str]]:
    """Set up and confirm 2FA; returns the seed and the recovery codes."""
    setup = await client.post(f"{BASE}/setup", headers=p.headers)
    assert setup.status_code == 200, setup.text
    secret: str = setup.json()["data"]["secret"]
    confirm = await client.post(
        f"{BASE}/confirm", headers=p.headers, json={"code": clock.code(secret)}
    )
    assert confirm.status_code == 200, confirm.text
    codes: list[str] = confirm.json()["data"]["recoveryCodes"]
    return secret, codes


async def challenge(client: httpx.AsyncClient, email: str) -> str:
    data = await login(client, email)
    assert data["twoFactorRequired"] is True
    assert "tokens" not in data
    token: str = data["challengeToken"]
    return token


async def test_enrol_confirm_and_sign_in_with_totp(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, clock: Clock
) -> None:
    p = await person(session, client)

    setup = await client.post(f"{BASE}/setup", headers=p.headers)
    assert setup.status_code == 200, setup.text
    body = setup.json()
    assert body["success"] is True
    data = body["data"]
    assert set(data) == {"secret", "otpauthUri", "qrSvg", "qrPngBase64"}
    secret = data["secret"]
    assert data["otpauthUri"].startswith("otpauth://totp/")
    assert "issuer=Fynlo" in data["otpauthUri"]
    assert p.email.replace("@", "%40") in data["otpauthUri"]
    assert f"secret={secret}" in data["otpauthUri"]
    assert "<svg" in data["qrSvg"]
    assert base64.b64decode(data["qrPngBase64"]).startswith(b"\x89PNG")

    user = await reload(session, p.user.id)
    assert user.two_factor_enabled is False
    assert user.two_factor_secret is not None
    assert secret not in user.two_factor_secret  # encrypted at rest
    assert decrypt(settings.data_encryption_key.get_secret_value(), user.two_factor_secret) == (
        secret
    )
    # Pending only: sign-in still needs no code.
    assert "tokens" in await login(client, p.email)

    confirm = await client.post(
        f"{BASE}/confirm", headers=p.headers, json={"code": clock.code(secret)}
    )
    assert confirm.status_code == 200, confirm.text
    confirmed = confirm.json()["data"]
    assert confirmed["enabled"] is True
    codes = confirmed["recoveryCodes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert "secret" not in confirmed
    rows = await recovery_rows(session, p.user.id)
    assert len(rows) == 10
    assert {r.code_hash for r in rows} == {sha256_hex(c.replace("-", "")) for c in codes}
    assert all(r.used_at is None for r in rows)
    user = await reload(session, p.user.id)
    assert user.two_factor_enabled is True

    token = await challenge(client, p.email)
    clock.tick()
    verify = await client.post(
        f"{BASE}/verify", json={"challengeToken": token, "code": clock.code(secret)}
    )
    assert verify.status_code == 200, verify.text
    signed_in = verify.json()["data"]
    assert signed_in["user"]["id"] == str(p.user.id)
    assert signed_in["tokens"]["access"]
    assert signed_in["tokens"]["refresh"]
    assert signed_in["restaurant"]["id"] == str(p.user.restaurant_id)
    # The new access token works; the seed is never shown again.
    again = await client.post(f"{BASE}/setup", headers=bearer(signed_in["tokens"]["access"]))
    error(again, 409, "two_factor_already_enabled")
    assert secret not in again.text

    recorded = await actions(session, p.user.id)
    for action in (
        "auth.2fa_setup_started",
        "auth.2fa_enabled",
        "auth.login_2fa_challenge",
        "auth.2fa_login_succeeded",
        "auth.login",
    ):
        assert action in recorded
    audit_text = " ".join(
        str(r.new_values)
        for r in await session.scalars(select(AuditLog).where(AuditLog.user_id == p.user.id))
    )
    assert secret not in audit_text


async def test_a_code_cannot_be_replayed(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    p = await person(session, client)
    secret, _ = await enable(client, p, clock)
    used = clock.code(secret)  # spent by confirm

    token = await challenge(client, p.email)
    replay = await client.post(f"{BASE}/verify", json={"challengeToken": token, "code": used})
    error(replay, 401, "invalid_two_factor_code")
    assert (await reload(session, p.user.id)).failed_login_count == 1
    assert "auth.2fa_login_failed" in await actions(session, p.user.id)

    clock.tick()
    fresh = clock.code(secret)
    first = await client.post(f"{BASE}/verify", json={"challengeToken": token, "code": fresh})
    assert first.status_code == 200, first.text
    assert (await reload(session, p.user.id)).failed_login_count == 0
    # The used challenge is spent, even within its five minutes.
    again = await client.post(f"{BASE}/verify", json={"challengeToken": token, "code": fresh})
    assert "no longer valid" in error(again, 401, "invalid_token")["message"]
    # The same code once more, on a fresh challenge, is refused.
    token = await challenge(client, p.email)
    second = await client.post(f"{BASE}/verify", json={"challengeToken": token, "code": fresh})
    error(second, 401, "invalid_two_factor_code")
    # An unused step inside the window is refused once a later step was used.
    clock.tick()
    ahead = await client.post(
        f"{BASE}/recovery-codes", headers=p.headers, json={"code": clock.code(secret, 1)}
    )
    assert ahead.status_code == 200, ahead.text
    older = await client.post(
        f"{BASE}/recovery-codes", headers=p.headers, json={"code": clock.code(secret)}
    )
    error(older, 403, "invalid_two_factor_code")
    # A code far outside the window is refused.
    late = await client.post(
        f"{BASE}/recovery-codes", headers=p.headers, json={"code": clock.code(secret, 3)}
    )
    error(late, 403, "invalid_two_factor_code")


async def test_recovery_code_works_once(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    p = await person(session, client)
    _, codes = await enable(client, p, clock)

    token = await challenge(client, p.email)
    typed = codes[0].replace("-", " ").upper()  # as typed from paper
    ok = await client.post(f"{BASE}/verify", json={"challengeToken": token, "recoveryCode": typed})
    assert ok.status_code == 200, ok.text
    assert ok.json()["data"]["tokens"]["access"]
    rows = await recovery_rows(session, p.user.id)
    assert sum(r.used_at is not None for r in rows) == 1

    token = await challenge(client, p.email)
    reused = await client.post(
        f"{BASE}/verify", json={"challengeToken": token, "recoveryCode": codes[0]}
    )
    error(reused, 401, "invalid_two_factor_code")
    other = await client.post(
        f"{BASE}/verify", json={"challengeToken": token, "recoveryCode": codes[1]}
    )
    assert other.status_code == 200, other.text
    assert "auth.2fa_login_succeeded" in await actions(session, p.user.id)


async def test_regenerate_recovery_codes(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    p = await person(session, client)
    secret, old = await enable(client, p, clock)
    clock.tick()
    response = await client.post(
        f"{BASE}/recovery-codes", headers=p.headers, json={"code": clock.code(secret)}
    )
    assert response.status_code == 200, response.text
    new = response.json()["data"]["recoveryCodes"]
    assert len(new) == 10
    assert not set(new) & set(old)
    assert len(await recovery_rows(session, p.user.id)) == 10
    assert "auth.2fa_recovery_codes_regenerated" in await actions(session, p.user.id)

    token = await challenge(client, p.email)
    stale = await client.post(
        f"{BASE}/verify", json={"challengeToken": token, "recoveryCode": old[0]}
    )
    error(stale, 401, "invalid_two_factor_code")
    fresh = await client.post(
        f"{BASE}/verify", json={"challengeToken": token, "recoveryCode": new[0]}
    )
    assert fresh.status_code == 200, fresh.text


async def test_disable_with_password(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    p = await person(session, client)
    await enable(client, p, clock)

    wrong = await client.post(f"{BASE}/disable", headers=p.headers, json={"password": "nope"})
    error(wrong, 403, "invalid_credentials")
    user = await reload(session, p.user.id)
    assert user.two_factor_enabled is True
    assert user.failed_login_count == 1  # persisted although the request failed

    response = await client.post(
        f"{BASE}/disable", headers=p.headers, json={"password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"enabled": False}
    user = await reload(session, p.user.id)
    assert user.two_factor_enabled is False
    assert user.two_factor_secret is None
    assert user.failed_login_count == 0
    assert await recovery_rows(session, p.user.id) == []
    assert "auth.2fa_disabled" in await actions(session, p.user.id)
    assert "tokens" in await login(client, p.email)

    again = await client.post(
        f"{BASE}/disable", headers=p.headers, json={"password": DEFAULT_PASSWORD}
    )
    error(again, 409, "two_factor_not_enabled")


async def test_disable_with_code(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    p = await person(session, client)
    secret, _ = await enable(client, p, clock)

    replay = await client.post(
        f"{BASE}/disable", headers=p.headers, json={"code": clock.code(secret)}
    )
    error(replay, 403, "invalid_two_factor_code")
    assert (await reload(session, p.user.id)).two_factor_enabled is True

    clock.tick()
    response = await client.post(
        f"{BASE}/disable", headers=p.headers, json={"code": clock.code(secret)}
    )
    assert response.status_code == 200, response.text
    user = await reload(session, p.user.id)
    assert user.two_factor_enabled is False
    assert user.two_factor_secret is None
    assert await recovery_rows(session, p.user.id) == []


async def test_state_conflicts_and_wrong_confirmation(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    p = await person(session, client)
    error(
        await client.post(f"{BASE}/confirm", headers=p.headers, json={"code": "123456"}),
        409,
        "two_factor_not_set_up",
    )
    error(
        await client.post(f"{BASE}/recovery-codes", headers=p.headers, json={"code": "123456"}),
        409,
        "two_factor_not_enabled",
    )
    setup = await client.post(f"{BASE}/setup", headers=p.headers)
    secret = setup.json()["data"]["secret"]
    wrong = str((int(clock.code(secret)) + 1) % 1_000_000).zfill(6)
    error(
        await client.post(f"{BASE}/confirm", headers=p.headers, json={"code": wrong}),
        403,
        "invalid_two_factor_code",
    )
    user = await reload(session, p.user.id)
    assert user.two_factor_enabled is False
    assert user.failed_login_count == 1
    assert "auth.2fa_confirm_failed" in await actions(session, p.user.id)
    # Setting up again replaces the pending seed: the first one no longer confirms.
    second = (await client.post(f"{BASE}/setup", headers=p.headers)).json()["data"]["secret"]
    assert second != secret
    error(
        await client.post(f"{BASE}/confirm", headers=p.headers, json={"code": clock.code(secret)}),
        403,
        "invalid_two_factor_code",
    )
    confirm = await client.post(
        f"{BASE}/confirm", headers=p.headers, json={"code": clock.code(second)}
    )
    assert confirm.status_code == 200, confirm.text
    error(
        await client.post(f"{BASE}/confirm", headers=p.headers, json={"code": "123456"}),
        409,
        "two_factor_already_enabled",
    )


async def test_wrong_codes_lock_the_account(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    p = await person(session, client)
    secret, _ = await enable(client, p, clock)
    token = await challenge(client, p.email)
    clock.tick()
    good = clock.code(secret)
    bad = str((int(good) + 1) % 1_000_000).zfill(6)
    for _ in range(4):
        error(
            await client.post(f"{BASE}/verify", json={"challengeToken": token, "code": bad}),
            401,
            "invalid_two_factor_code",
        )
    error(
        await client.post(
            f"{BASE}/verify", json={"challengeToken": token, "recoveryCode": "wrong-codes"}
        ),
        401,
        "invalid_two_factor_code",
    )
    locked = await client.post(f"{BASE}/verify", json={"challengeToken": token, "code": good})
    error(locked, 429, "account_locked")
    assert "retry-after" in locked.headers
    user = await reload(session, p.user.id)
    assert user.locked_until is not None
    assert user.two_factor_last_step is not None
    assert "auth.lockout" in await actions(session, p.user.id)


@pytest.mark.parametrize(
    ("path", "payload", "fields"),
    [
        ("confirm", {}, {"code"}),
        ("confirm", {"code": 123456}, {"code"}),
        ("confirm", {"code": "12345a"}, {"code"}),
        ("confirm", {"code": "\uff11\uff12\uff13\uff14\uff15\uff16"}, {"code"}),
        ("confirm", {"code": "123456", "enabled": True}, {"enabled"}),
        ("recovery-codes", {"code": ["123456"]}, {"code"}),
        ("disable", {}, {""}),
        ("disable", {"password": 42}, {"password"}),
    ],
)
async def test_bad_bodies_are_422(
    client: httpx.AsyncClient,
    session: AsyncSession,
    path: str,
    payload: dict[str, Any],
    fields: set[str],
) -> None:
    p = await person(session, client)
    response = await client.post(f"{BASE}/{path}", headers=p.headers, json=payload)
    err = error(response, 422, "validation_error")
    assert {d["field"].removeprefix("body").lstrip(".") for d in err["details"]} == fields


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"challengeToken"}),
        ({"challengeToken": "x"}, {""}),
        ({"challengeToken": "x", "code": "123456", "recoveryCode": "abcde-fghjk"}, {""}),
        ({"challengeToken": 1, "code": "123456"}, {"challengeToken"}),
        ({"challengeToken": "x", "code": 123456}, {"code"}),
        ({"challengeToken": "x", "code": "123456", "userId": str(uuid.uuid4())}, {"userId"}),
    ],
)
async def test_bad_verify_bodies_are_422(
    client: httpx.AsyncClient, payload: dict[str, Any], fields: set[str]
) -> None:
    response = await client.post(f"{BASE}/verify", json=payload)
    err = error(response, 422, "validation_error")
    assert {d["field"].removeprefix("body").lstrip(".") for d in err["details"]} == fields


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("setup", None),
        ("confirm", {"code": "123456"}),
        ("disable", {"password": DEFAULT_PASSWORD}),
        ("recovery-codes", {"code": "123456"}),
    ],
)
async def test_signed_in_endpoints_need_a_token(
    client: httpx.AsyncClient, path: str, payload: dict[str, Any] | None
) -> None:
    response = await client.post(f"{BASE}/{path}", json=payload)
    error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    bad = await client.post(f"{BASE}/{path}", json=payload, headers=bearer("not-a-jwt"))
    error(bad, 401, "invalid_token")


async def test_verify_needs_a_real_challenge(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    p = await person(session, client)
    secret, _ = await enable(client, p, clock)
    clock.tick()
    code = clock.code(secret)
    garbage = await client.post(f"{BASE}/verify", json={"challengeToken": "junk", "code": code})
    error(garbage, 401, "invalid_token")
    # An access token is not a challenge token.
    access = p.headers["Authorization"].removeprefix("Bearer ")
    wrong_kind = await client.post(f"{BASE}/verify", json={"challengeToken": access, "code": code})
    error(wrong_kind, 401, "invalid_token")
    assert (await reload(session, p.user.id)).two_factor_last_step is not None
    # The code was not spent by those refusals.
    token = await challenge(client, p.email)
    accepted = await client.post(f"{BASE}/verify", json={"challengeToken": token, "code": code})
    assert accepted.status_code == 200, accepted.text


async def test_pin_sessions_cannot_manage_two_factor(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    restaurant = await create_restaurant(session)
    user = await create_user(session, restaurant=restaurant, role="waiter", pin="4321")
    token = random_token()
    session.add(
        PosDevice(
            id=uuid.uuid4(), restaurant_id=restaurant.id, name="Till", token_hash=sha256_hex(token)
        )
    )
    await session.commit()
    pin = await client.post(
        "/api/auth/pin-login",
        json={"userId": str(user.id), "pin": "4321"},
        headers={"X-Device-Token": token},
    )
    assert pin.status_code == 200, pin.text
    headers = bearer(pin.json()["data"]["tokens"]["access"])
    for path, payload in (
        ("setup", None),
        ("confirm", {"code": "123456"}),
        ("disable", {"password": DEFAULT_PASSWORD}),
        ("recovery-codes", {"code": "123456"}),
    ):
        response = await client.post(f"{BASE}/{path}", headers=headers, json=payload)
        error(response, 403, "pin_session_not_allowed")
    fresh = await reload(session, user.id)
    assert fresh.two_factor_secret is None
    assert fresh.two_factor_enabled is False
    assert fresh.failed_login_count == 0


async def test_another_users_codes_and_data_are_untouched(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    alice = await person(session, client)
    bob = await person(session, client)
    alice_secret, alice_codes = await enable(client, alice, clock)

    untouched = await reload(session, bob.user.id)
    assert untouched.two_factor_enabled is False
    assert untouched.two_factor_secret is None
    assert await recovery_rows(session, bob.user.id) == []
    assert "tokens" in await login(client, bob.email)

    bob_secret, _bob_codes = await enable(client, bob, clock)
    assert bob_secret != alice_secret
    clock.tick()
    token = await challenge(client, bob.email)
    for payload in ({"code": clock.code(alice_secret)}, {"recoveryCode": alice_codes[0]}):
        response = await client.post(f"{BASE}/verify", json={"challengeToken": token, **payload})
        error(response, 401, "invalid_two_factor_code")

    # Bob disabling his 2FA leaves Alice's alone.
    off = await client.post(
        f"{BASE}/disable", headers=bob.headers, json={"password": DEFAULT_PASSWORD}
    )
    assert off.status_code == 200, off.text
    assert (await reload(session, alice.user.id)).two_factor_enabled is True
    assert len(await recovery_rows(session, alice.user.id)) == 10
    await session.commit()
    alice_unused = await session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == alice.user.id, RecoveryCode.used_at.is_(None))
    )
    assert alice_unused == 10
    alice_token = await challenge(client, alice.email)
    ok = await client.post(
        f"{BASE}/verify",
        json={"challengeToken": alice_token, "code": clock.code(alice_secret)},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["data"]["user"]["id"] == str(alice.user.id)


async def test_a_right_password_does_not_reset_failed_code_guesses(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    """Each code guess counts towards the lockout, however often the password is re-entered."""
    p = await person(session, client)
    await enable(client, p, clock)
    for attempt in range(1, 4):
        token = await challenge(client, p.email)
        wrong = await client.post(
            f"{BASE}/verify", json={"challengeToken": token, "code": "000000"}
        )
        error(wrong, 401, "invalid_two_factor_code")
        assert (await reload(session, p.user.id)).failed_login_count == attempt
