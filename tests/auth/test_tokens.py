"""Access tokens (forgery, expiry, revocation), refresh rotation with reuse detection, logout."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.config import Settings
from fynlo.models import Restaurant, User
from tests.auth.support import (
    assert_error,
    assert_unauthorized,
    audit_rows,
    bearer,
    forge,
    fresh_client,
    fresh_user,
    login_ok,
    refresh_rows,
    unsigned_token,
    unverified_claims,
    validation_fields,
)
from tests.factories import create_restaurant, create_user

# A read-only endpoint that needs a valid manager token (devices.manage).
PROBE = "/api/devices"


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with fresh_client(app) as c:
        yield c


@pytest.fixture
async def restaurant(session: AsyncSession) -> Restaurant:
    return await create_restaurant(session)


@pytest.fixture
async def manager(session: AsyncSession, restaurant: Restaurant) -> User:
    user = await create_user(session, role="manager", restaurant=restaurant)
    await session.commit()
    return user


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/auth/refresh", json={"refreshToken": token})


async def refresh_ok(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await refresh(client, token)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


# --- access tokens -------------------------------------------------------------------------


async def test_forged_token_with_valid_claims_is_accepted(
    client: httpx.AsyncClient, manager: User, settings: Settings
) -> None:
    """Control for the refusals below: the forging helper itself builds acceptable tokens."""
    response = await client.get(PROBE, headers=bearer(forge(settings, manager.id)))

    assert response.status_code == 200, response.text


async def test_missing_authorization_is_401_with_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get(PROBE)

    error = assert_unauthorized(response, "unauthorized")
    assert "Bearer" in error["message"]


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc.def.ghi", "bearer-token"],
)
async def test_malformed_authorization_header_is_401(
    client: httpx.AsyncClient, header: str
) -> None:
    response = await client.get(PROBE, headers={"Authorization": header})

    assert_unauthorized(response, "unauthorized")


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "e30.e30.", "x" * 500])
async def test_garbage_bearer_token_is_401(client: httpx.AsyncClient, token: str) -> None:
    assert_unauthorized(await client.get(PROBE, headers=bearer(token)))


async def test_tampered_signature_is_refused(
    client: httpx.AsyncClient, manager: User, settings: Settings
) -> None:
    token = (await login_ok(client, manager.email))["tokens"]["access"]
    head, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    response = await client.get(PROBE, headers=bearer(f"{head}.{payload}.{flipped}"))

    error = assert_unauthorized(response)
    assert "signature" in error["message"].lower()


async def test_tampered_payload_is_refused(
    client: httpx.AsyncClient, manager: User, settings: Settings, session: AsyncSession
) -> None:
    """Another user's id swapped into a genuine token does not pass the signature."""
    other = await create_user(session, role="platform_owner")
    await session.commit()
    token = (await login_ok(client, manager.email))["tokens"]["access"]
    head, _, signature = token.split(".")
    _, evil_payload, _ = forge(settings, other.id).split(".")

    response = await client.get(PROBE, headers=bearer(f"{head}.{evil_payload}.{signature}"))

    assert_unauthorized(response)


async def test_alg_none_token_is_refused(
    client: httpx.AsyncClient, manager: User, settings: Settings
) -> None:
    token = unsigned_token(settings, manager.id)
    assert unverified_claims(token)["sub"] == str(manager.id)
    assert jwt.get_unverified_header(token)["alg"] == "none"

    assert_unauthorized(await client.get(PROBE, headers=bearer(token)))


async def test_other_hmac_algorithm_with_the_right_secret_is_refused(
    client: httpx.AsyncClient, manager: User, settings: Settings
) -> None:
    token = forge(settings, manager.id, algorithm="HS384")

    assert_unauthorized(await client.get(PROBE, headers=bearer(token)))


async def test_token_signed_with_another_secret_is_refused(
    client: httpx.AsyncClient, manager: User, settings: Settings
) -> None:
    token = forge(settings, manager.id, secret="some-other-secret-" + "k" * 40)

    assert_unauthorized(await client.get(PROBE, headers=bearer(token)))


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"aud": "someone-else"}, "audience"),
        ({"aud": None}, "aud"),
        ({"iss": "evil-issuer"}, "issuer"),
        ({"iss": None}, "iss"),
        ({"exp": None}, "exp"),
        ({"iat": None}, "iat"),
        ({"jti": None}, "jti"),
        ({"typ": None}, "typ"),
        ({"typ": "refresh"}, "access"),
        ({"typ": "2fa_challenge"}, "access"),
        ({"sub": "not-a-uuid"}, "malformed"),
    ],
)
async def test_tokens_with_wrong_or_missing_claims_are_refused(
    client: httpx.AsyncClient,
    manager: User,
    settings: Settings,
    claims: dict[str, Any],
    message: str,
) -> None:
    token = forge(settings, manager.id, **claims)

    error = assert_unauthorized(await client.get(PROBE, headers=bearer(token)))
    assert message in error["message"].lower()


async def test_expired_token_is_refused(
    client: httpx.AsyncClient, manager: User, settings: Settings
) -> None:
    past = datetime.now(UTC) - timedelta(hours=1)
    token = forge(settings, manager.id, iat=past, exp=past + timedelta(minutes=15))

    error = assert_unauthorized(await client.get(PROBE, headers=bearer(token)))
    assert error["message"] == "Token has expired"


async def test_token_of_an_unknown_user_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    token = forge(settings, uuid.uuid4())

    assert_unauthorized(await client.get(PROBE, headers=bearer(token)))


async def test_token_with_an_old_token_version_is_refused(
    client: httpx.AsyncClient, manager: User, settings: Settings, session: AsyncSession
) -> None:
    stored = await fresh_user(session, manager.id)
    stored.token_version = 3
    await session.commit()

    assert_unauthorized(await client.get(PROBE, headers=bearer(forge(settings, manager.id))))
    ok = await client.get(PROBE, headers=bearer(forge(settings, manager.id, tv=3)))
    assert ok.status_code == 200, ok.text


async def test_refresh_token_cannot_be_used_as_access_token(
    client: httpx.AsyncClient, manager: User
) -> None:
    tokens = (await login_ok(client, manager.email))["tokens"]

    assert_unauthorized(await client.get(PROBE, headers=bearer(tokens["refresh"])))
    assert_unauthorized(await client.get("/api/auth/logout", headers=bearer(tokens["refresh"])))


async def test_access_token_cannot_be_used_as_refresh_token(
    client: httpx.AsyncClient, manager: User
) -> None:
    tokens = (await login_ok(client, manager.email))["tokens"]

    assert_unauthorized(await refresh(client, tokens["access"]))


async def test_login_tokens_carry_the_expected_claims(
    client: httpx.AsyncClient, manager: User, settings: Settings
) -> None:
    tokens = (await login_ok(client, manager.email))["tokens"]
    access = unverified_claims(tokens["access"])
    refresh_claims = unverified_claims(tokens["refresh"])

    assert jwt.get_unverified_header(tokens["access"])["alg"] == "HS256"
    assert access["sub"] == refresh_claims["sub"] == str(manager.id)
    assert access["typ"] == "access"
    assert refresh_claims["typ"] == "refresh"
    assert access["iss"] == settings.jwt_issuer
    assert access["aud"] == settings.jwt_audience
    assert access["exp"] - access["iat"] == 15 * 60
    assert refresh_claims["exp"] - refresh_claims["iat"] == 7 * 24 * 3600
    assert access["fam"] == refresh_claims["fam"]
    assert "pin" not in access


# --- refresh ---------------------------------------------------------------------------------


async def test_refresh_rotates_the_tokens(
    client: httpx.AsyncClient, manager: User, session: AsyncSession
) -> None:
    first = (await login_ok(client, manager.email))["tokens"]

    second = await refresh_ok(client, first["refresh"])

    assert set(second) == {"access", "refresh"}
    assert second["refresh"] != first["refresh"]
    assert second["access"] != first["access"]
    assert unverified_claims(second["refresh"])["fam"] == unverified_claims(first["refresh"])["fam"]
    assert (await client.get(PROBE, headers=bearer(second["access"]))).status_code == 200
    third = await refresh_ok(client, second["refresh"])
    assert (await client.get(PROBE, headers=bearer(third["access"]))).status_code == 200

    rows = await refresh_rows(session, manager.id)
    assert len(rows) == 3
    assert len({row.family_id for row in rows}) == 1
    assert [row.rotated_at is not None for row in rows] == [True, True, False]
    assert all(row.revoked_at is None for row in rows)
    assert len(await audit_rows(session, action="auth.refresh", user_id=manager.id)) == 2


async def test_reusing_a_rotated_refresh_token_revokes_the_family(
    client: httpx.AsyncClient, manager: User, session: AsyncSession
) -> None:
    first = (await login_ok(client, manager.email))["tokens"]
    stolen = first["refresh"]
    renewed = await refresh_ok(client, stolen)
    newest = renewed["refresh"]
    assert (await client.get(PROBE, headers=bearer(renewed["access"]))).status_code == 200

    reused = await refresh(client, stolen)

    error = assert_unauthorized(reused, "refresh_token_reused")
    assert "access" not in reused.json()["error"]
    # The legitimate holder's newest token died with the family.
    assert_unauthorized(await refresh(client, newest))
    assert_unauthorized(await refresh(client, stolen))
    assert "revoked" in error["message"]
    # So did every access token of the family, at once rather than after 15 minutes.
    for access in (first["access"], renewed["access"]):
        dead = await client.get(PROBE, headers=bearer(access))
        assert "signed out" in assert_unauthorized(dead)["message"]

    rows = await refresh_rows(session, manager.id)
    assert len(rows) == 2
    assert all(row.revoked_at is not None for row in rows)
    assert {row.revoked_reason for row in rows} == {"reuse_detected"}
    audits = await audit_rows(session, action="auth.refresh_reuse", user_id=manager.id)
    assert len(audits) == 1
    assert audits[0].new_values == {"family": str(rows[0].family_id)}


async def test_reuse_in_one_family_leaves_other_sign_ins_alone(
    client: httpx.AsyncClient, manager: User
) -> None:
    phone = (await login_ok(client, manager.email))["tokens"]
    till = (await login_ok(client, manager.email))["tokens"]
    await refresh_ok(client, phone["refresh"])

    assert_unauthorized(await refresh(client, phone["refresh"]), "refresh_token_reused")

    renewed = await refresh_ok(client, till["refresh"])
    assert (await client.get(PROBE, headers=bearer(renewed["access"]))).status_code == 200


@pytest.mark.parametrize("token", ["garbage", "a.b.c"])
async def test_refresh_with_garbage_is_401(client: httpx.AsyncClient, token: str) -> None:
    assert_unauthorized(await refresh(client, token))


async def test_refresh_token_for_an_unknown_row_is_401(
    client: httpx.AsyncClient, manager: User, settings: Settings
) -> None:
    now = datetime.now(UTC)
    token = jwt.encode(
        {
            "sub": str(manager.id),
            "typ": "refresh",
            "jti": str(uuid.uuid4()),
            "fam": str(uuid.uuid4()),
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "iat": now,
            "exp": now + timedelta(days=1),
        },
        settings.jwt_refresh_secret.get_secret_value(),
        algorithm="HS256",
    )

    assert_unauthorized(await refresh(client, token))


async def test_refresh_token_signed_with_the_access_secret_is_401(
    client: httpx.AsyncClient, manager: User, settings: Settings
) -> None:
    tokens = (await login_ok(client, manager.email))["tokens"]
    claims = unverified_claims(tokens["refresh"])

    token = jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")

    assert_unauthorized(await refresh(client, token))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "refreshToken"),
        ({"refreshToken": ""}, "refreshToken"),
        ({"refreshToken": 42}, "refreshToken"),
        ({"refreshToken": "x" * 2049}, "refreshToken"),
        ({"refreshToken": "x", "userId": "u"}, "userId"),
    ],
)
async def test_refresh_body_validation(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/auth/refresh", json=body)

    assert field in validation_fields(response)


# --- logout ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_logout_revokes_this_sessions_refresh_token(
    client: httpx.AsyncClient, manager: User, session: AsyncSession, method: str
) -> None:
    this = (await login_ok(client, manager.email))["tokens"]
    other = (await login_ok(client, manager.email))["tokens"]

    response = await client.request(method, "/api/auth/logout", headers=bearer(this["access"]))

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "data": {"loggedOut": True, "allDevices": False}}
    assert_unauthorized(await refresh(client, this["refresh"]))
    assert_unauthorized(await client.get(PROBE, headers=bearer(this["access"])))
    assert (await client.get(PROBE, headers=bearer(other["access"]))).status_code == 200
    # Only this sign-in: the other device keeps its session.
    assert (await refresh(client, other["refresh"])).status_code == 200
    rows = await refresh_rows(session, manager.id)
    revoked = [row for row in rows if row.revoked_at is not None]
    assert len(revoked) == 1
    assert revoked[0].revoked_reason == "logout"
    assert (await fresh_user(session, manager.id)).token_version == 0
    assert len(await audit_rows(session, action="auth.logout", user_id=manager.id)) == 1


async def test_logout_after_refresh_revokes_the_rotated_family(
    client: httpx.AsyncClient, manager: User
) -> None:
    first = (await login_ok(client, manager.email))["tokens"]
    second = await refresh_ok(client, first["refresh"])

    response = await client.post("/api/auth/logout", headers=bearer(second["access"]))

    assert response.status_code == 200, response.text
    assert_unauthorized(await refresh(client, second["refresh"]))


async def test_logout_with_a_refresh_token_in_the_body(
    client: httpx.AsyncClient, manager: User
) -> None:
    this = (await login_ok(client, manager.email))["tokens"]
    other = (await login_ok(client, manager.email))["tokens"]

    response = await client.post(
        "/api/auth/logout",
        headers=bearer(this["access"]),
        json={"refreshToken": other["refresh"]},
    )

    assert response.status_code == 200, response.text
    assert_unauthorized(await refresh(client, other["refresh"]))


async def test_logout_refuses_someone_elses_refresh_token(
    client: httpx.AsyncClient, manager: User, session: AsyncSession, restaurant: Restaurant
) -> None:
    colleague = await create_user(session, role="waiter", restaurant=restaurant)
    await session.commit()
    mine = (await login_ok(client, manager.email))["tokens"]
    theirs = (await login_ok(client, colleague.email))["tokens"]

    response = await client.post(
        "/api/auth/logout",
        headers=bearer(mine["access"]),
        json={"refreshToken": theirs["refresh"]},
    )

    assert_unauthorized(response)
    assert (await refresh(client, theirs["refresh"])).status_code == 200
    assert (await refresh(client, mine["refresh"])).status_code == 200


async def _assert_signed_out_everywhere(
    client: httpx.AsyncClient,
    session: AsyncSession,
    user: User,
    response: httpx.Response,
    sessions: list[dict[str, Any]],
) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "data": {"loggedOut": True, "allDevices": True}}
    for tokens in sessions:
        assert_unauthorized(await client.get(PROBE, headers=bearer(tokens["access"])))
        assert_unauthorized(await refresh(client, tokens["refresh"]))
    stored = await fresh_user(session, user.id)
    assert stored.token_version == 1
    rows = await refresh_rows(session, user.id)
    assert len(rows) == len(sessions)
    assert {row.revoked_reason for row in rows} == {"logout_all"}
    assert len(await audit_rows(session, action="auth.logout_all", user_id=user.id)) == 1
    # A fresh sign-in works again, with the new token version.
    fresh = (await login_ok(client, user.email))["tokens"]
    assert unverified_claims(fresh["access"])["tv"] == 1
    assert (await client.get(PROBE, headers=bearer(fresh["access"]))).status_code == 200


@pytest.mark.parametrize(
    ("url", "body"),
    [("/api/auth/logout-all", None), ("/api/auth/logout", {"allDevices": True})],
)
async def test_logout_everywhere_kills_every_token_at_once(
    client: httpx.AsyncClient,
    manager: User,
    session: AsyncSession,
    url: str,
    body: dict[str, Any] | None,
) -> None:
    this = (await login_ok(client, manager.email))["tokens"]
    other = (await login_ok(client, manager.email))["tokens"]

    response = await client.post(url, headers=bearer(this["access"]), json=body)

    await _assert_signed_out_everywhere(client, session, manager, response, [this, other])


async def test_get_logout_with_all_devices_query_signs_out_everywhere(
    client: httpx.AsyncClient, manager: User, session: AsyncSession
) -> None:
    this = (await login_ok(client, manager.email))["tokens"]
    other = (await login_ok(client, manager.email))["tokens"]

    response = await client.get("/api/auth/logout?allDevices=true", headers=bearer(this["access"]))

    await _assert_signed_out_everywhere(client, session, manager, response, [this, other])


async def test_logout_all_leaves_other_users_alone(
    client: httpx.AsyncClient, manager: User, session: AsyncSession, restaurant: Restaurant
) -> None:
    colleague = await create_user(session, role="manager", restaurant=restaurant)
    await session.commit()
    mine = (await login_ok(client, manager.email))["tokens"]
    theirs = (await login_ok(client, colleague.email))["tokens"]

    assert (
        await client.post("/api/auth/logout-all", headers=bearer(mine["access"]))
    ).status_code == 200

    assert (await client.get(PROBE, headers=bearer(theirs["access"]))).status_code == 200
    assert (await refresh(client, theirs["refresh"])).status_code == 200


@pytest.mark.parametrize(
    ("method", "url"),
    [("GET", "/api/auth/logout"), ("POST", "/api/auth/logout"), ("POST", "/api/auth/logout-all")],
)
async def test_logout_needs_authentication(
    client: httpx.AsyncClient, method: str, url: str
) -> None:
    assert_unauthorized(await client.request(method, url), "unauthorized")


async def test_logout_body_refuses_unknown_fields(client: httpx.AsyncClient, manager: User) -> None:
    access = (await login_ok(client, manager.email))["tokens"]["access"]

    response = await client.post(
        "/api/auth/logout", headers=bearer(access), json={"everywhere": True}
    )

    assert validation_fields(response) == {"everywhere"}


async def test_logout_query_flag_must_be_boolean(client: httpx.AsyncClient, manager: User) -> None:
    access = (await login_ok(client, manager.email))["tokens"]["access"]

    response = await client.get("/api/auth/logout?allDevices=perhaps", headers=bearer(access))

    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["field"] == "allDevices"
    assert error["details"][0]["location"] == "query"


def test_a_verified_token_is_remembered_until_it_expires(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signature is checked once per token; its expiry is checked on every use."""
    from fynlo.auth import tokens as module

    service = module.TokenService(settings)
    user_id = uuid.uuid4()
    token = service.access_token(user_id, 4)
    first = service.read_access(token)
    decodes = 0
    original = module.TokenService._decode

    def counting(self: module.TokenService, *args: Any) -> dict[str, Any]:
        nonlocal decodes
        decodes += 1
        return original(self, *args)

    monkeypatch.setattr(module.TokenService, "_decode", counting)
    assert service.read_access(token) == first
    assert (first.user_id, first.token_version, decodes) == (user_id, 4, 0)

    later = datetime.now(UTC) + module.ACCESS_TTL + timedelta(seconds=1)
    monkeypatch.setattr(module.time, "time", later.timestamp)
    with pytest.raises(module.InvalidToken, match="Token has expired"):
        service.read_access(token)
    with pytest.raises(module.InvalidToken):  # forgotten, so checked (and refused) in full
        service.read_access(token[:-2] + "xx")
