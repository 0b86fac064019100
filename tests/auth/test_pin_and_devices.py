"""Till binding (``/api/devices``) and PIN sign-in at a bound till."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.auth.crypto import sha256_hex
from fynlo.models import PosDevice, Restaurant, User
from tests.auth.support import (
    assert_error,
    assert_unauthorized,
    audit_rows,
    bearer,
    bind_device,
    fresh_client,
    fresh_user,
    login,
    login_ok,
    refresh_rows,
    unverified_claims,
    validation_fields,
)
from tests.factories import create_restaurant, create_user

PIN = "1234"


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with fresh_client(app) as c:
        yield c


@pytest.fixture
async def restaurant(session: AsyncSession) -> Restaurant:
    return await create_restaurant(session)


@pytest.fixture
async def manager(session: AsyncSession, restaurant: Restaurant) -> User:
    user = await create_user(session, role="manager", restaurant=restaurant, pin="9876")
    await session.commit()
    return user


@pytest.fixture
async def manager_token(client: httpx.AsyncClient, manager: User) -> str:
    token: str = (await login_ok(client, manager.email))["tokens"]["access"]
    return token


async def pin_login(
    client: httpx.AsyncClient,
    device_token: str | None,
    user_id: uuid.UUID | str,
    pin: str = PIN,
) -> httpx.Response:
    headers = {"X-Device-Token": device_token} if device_token is not None else {}
    return await client.post(
        "/api/auth/pin-login", json={"userId": str(user_id), "pin": pin}, headers=headers
    )


async def pin_login_ok(
    client: httpx.AsyncClient, device_token: str, user_id: uuid.UUID, pin: str = PIN
) -> dict[str, Any]:
    response = await pin_login(client, device_token, user_id, pin)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


# --- binding tills ---------------------------------------------------------------------------


async def test_manager_binds_a_till_and_gets_its_token_once(
    client: httpx.AsyncClient,
    session: AsyncSession,
    restaurant: Restaurant,
    manager: User,
    manager_token: str,
) -> None:
    response = await client.post(
        "/api/devices", json={"name": "Bar till"}, headers=bearer(manager_token)
    )

    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert set(data) == {"id", "restaurantId", "name", "isActive", "deviceToken"}
    assert data["restaurantId"] == str(restaurant.id)
    assert data["name"] == "Bar till"
    assert data["isActive"] is True
    token = data["deviceToken"]
    assert isinstance(token, str)
    assert len(token) >= 32

    # Only a hash is stored; the list never shows the token again.
    await session.commit()
    device = await session.get(PosDevice, uuid.UUID(data["id"]))
    assert device is not None
    assert device.token_hash == sha256_hex(token)
    assert token not in device.token_hash
    assert device.created_by == manager.id
    listed = await client.get("/api/devices", headers=bearer(manager_token))
    assert listed.status_code == 200, listed.text
    assert listed.json()["data"] == [
        {"id": data["id"], "restaurantId": str(restaurant.id), "name": "Bar till", "isActive": True}
    ]
    assert token not in listed.text
    audits = await audit_rows(session, action="device.bound", user_id=manager.id)
    assert len(audits) == 1
    assert audits[0].resource_id == data["id"]
    assert audits[0].restaurant_id == restaurant.id

    # The new token works for PIN sign-in straight away.
    await pin_login_ok(client, token, manager.id, "9876")


async def test_each_till_gets_its_own_token(client: httpx.AsyncClient, manager_token: str) -> None:
    tokens = set()
    for name in ("Till 1", "Till 2"):
        response = await client.post(
            "/api/devices", json={"name": name}, headers=bearer(manager_token)
        )
        assert response.status_code == 201, response.text
        tokens.add(response.json()["data"]["deviceToken"])

    assert len(tokens) == 2


@pytest.mark.parametrize("role", ["waiter", "cashier", "kitchen_staff", "captain", "employee"])
async def test_floor_staff_cannot_manage_tills(
    client: httpx.AsyncClient,
    session: AsyncSession,
    restaurant: Restaurant,
    role: str,
) -> None:
    user = await create_user(session, role=role, restaurant=restaurant)
    device, _ = await bind_device(session, restaurant)
    await session.commit()
    access = (await login_ok(client, user.email))["tokens"]["access"]

    for response in (
        await client.post("/api/devices", json={"name": "Mine"}, headers=bearer(access)),
        await client.get("/api/devices", headers=bearer(access)),
        await client.delete(f"/api/devices/{device.id}", headers=bearer(access)),
    ):
        error = assert_error(response, 403, "permission_denied")
        assert error["details"] == {"permission": "devices.manage"}
        assert "devices.manage" in error["message"]

    await session.commit()
    assert await session.scalar(select(PosDevice).where(PosDevice.name == "Mine")) is None
    refreshed = await session.get(PosDevice, device.id, populate_existing=True)
    assert refreshed is not None
    assert refreshed.is_active is True


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/devices"),
        ("GET", "/api/devices"),
        ("DELETE", "/api/devices/00000000-0000-4000-8000-000000000001"),
    ],
)
async def test_device_endpoints_need_authentication(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, json={"name": "x"} if method == "POST" else None)

    assert_unauthorized(response, "unauthorized")


async def test_list_shows_only_my_restaurants_tills(
    client: httpx.AsyncClient,
    session: AsyncSession,
    restaurant: Restaurant,
    manager_token: str,
) -> None:
    elsewhere = await create_restaurant(session)
    await bind_device(session, restaurant, "B till")
    await bind_device(session, restaurant, "A till")
    await bind_device(session, elsewhere, "Their till")
    await session.commit()

    response = await client.get("/api/devices", headers=bearer(manager_token))

    assert response.status_code == 200, response.text
    items = response.json()["data"]
    assert [d["name"] for d in items] == ["A till", "B till"]
    assert {d["restaurantId"] for d in items} == {str(restaurant.id)}


async def test_cannot_bind_a_till_to_another_restaurant(
    client: httpx.AsyncClient, session: AsyncSession, manager_token: str
) -> None:
    elsewhere = await create_restaurant(session)
    await session.commit()

    response = await client.post(
        "/api/devices",
        json={"name": "Sneaky", "restaurantId": str(elsewhere.id)},
        headers=bearer(manager_token),
    )

    assert_error(response, 404, "not_found")
    await session.commit()
    assert await session.scalar(select(PosDevice)) is None


async def test_owner_binds_a_till_in_a_restaurant_they_own(
    client: httpx.AsyncClient, session: AsyncSession, restaurant: Restaurant
) -> None:
    second = await create_restaurant(session)
    owner = await create_user(
        session, role="restaurant_owner", restaurant=restaurant, owns=[restaurant, second]
    )
    await session.commit()
    access = (await login_ok(client, owner.email))["tokens"]["access"]

    response = await client.post(
        "/api/devices",
        json={"name": "Second site", "restaurantId": str(second.id)},
        headers=bearer(access),
    )

    assert response.status_code == 201, response.text
    assert response.json()["data"]["restaurantId"] == str(second.id)
    listed = await client.get("/api/devices", headers=bearer(access))
    assert [d["name"] for d in listed.json()["data"]] == ["Second site"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": 7}, "name"),
        ({"name": "Till", "restaurantId": "not-a-uuid"}, "restaurantId"),
        ({"name": "Till", "deviceToken": "mine"}, "deviceToken"),
        ({"name": "Till", "isActive": False}, "isActive"),
    ],
)
async def test_device_body_validation(
    client: httpx.AsyncClient, manager_token: str, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/devices", json=body, headers=bearer(manager_token))

    assert validation_fields(response) == {field}


async def test_unbinding_a_till_ends_its_pin_sign_in(
    client: httpx.AsyncClient,
    session: AsyncSession,
    restaurant: Restaurant,
    manager: User,
    manager_token: str,
) -> None:
    waiter = await create_user(session, role="waiter", restaurant=restaurant, pin=PIN)
    device, token = await bind_device(session, restaurant)
    await session.commit()
    pin_access = (await pin_login_ok(client, token, waiter.id))["tokens"]["access"]

    response = await client.delete(f"/api/devices/{device.id}", headers=bearer(manager_token))

    assert response.status_code == 200, response.text
    assert response.json()["data"] == {
        "id": str(device.id),
        "restaurantId": str(restaurant.id),
        "name": "Till",
        "isActive": False,
    }
    # The session opened at that till dies at once, and the till cannot sign anyone in.
    assert_unauthorized(await client.get("/api/auth/logout", headers=bearer(pin_access)))
    assert_unauthorized(await pin_login(client, token, waiter.id), "unauthorized")
    assert len(await audit_rows(session, action="device.unbound", user_id=manager.id)) == 1


async def test_cannot_unbind_another_restaurants_till(
    client: httpx.AsyncClient, session: AsyncSession, manager_token: str
) -> None:
    elsewhere = await create_restaurant(session)
    device, _ = await bind_device(session, elsewhere)
    await session.commit()

    response = await client.delete(f"/api/devices/{device.id}", headers=bearer(manager_token))

    error = assert_error(response, 404, "not_found")
    assert error["details"] == {"resource": "Device", "id": str(device.id)}
    unknown = await client.delete(f"/api/devices/{uuid.uuid4()}", headers=bearer(manager_token))
    # Their till answers exactly like one that does not exist.
    assert assert_error(unknown, 404, "not_found")["message"].split()[0] == "Device"
    await session.commit()
    stored = await session.get(PosDevice, device.id, populate_existing=True)
    assert stored is not None
    assert stored.is_active is True


async def test_unbind_with_a_malformed_id_is_422(
    client: httpx.AsyncClient, manager_token: str
) -> None:
    response = await client.delete("/api/devices/not-a-uuid", headers=bearer(manager_token))

    error = assert_error(response, 422, "validation_error")
    assert [d["location"] for d in error["details"]] == ["path"]


# --- PIN sign-in -----------------------------------------------------------------------------


async def test_pin_login_answers_the_spec_shape_without_refresh_token(
    client: httpx.AsyncClient, session: AsyncSession, restaurant: Restaurant
) -> None:
    waiter = await create_user(session, role="waiter", restaurant=restaurant, pin=PIN)
    device, token = await bind_device(session, restaurant)
    await session.commit()

    response = await pin_login(client, token, waiter.id)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert set(data) == {"user", "tokens", "restaurant"}
    assert data["tokens"]["refresh"] is None
    assert set(data["tokens"]) == {"access", "refresh"}
    assert data["user"]["id"] == str(waiter.id)
    assert data["user"]["role"] == "waiter"
    assert data["user"]["restaurantId"] == str(restaurant.id)
    assert set(data["user"]["permissions"]) == {"pos", "kitchen"}
    assert data["restaurant"]["id"] == str(restaurant.id)

    claims = unverified_claims(data["tokens"]["access"])
    assert claims["pin"] is True
    assert claims["rid"] == str(restaurant.id)
    assert claims["did"] == str(device.id)
    assert claims["exp"] - claims["iat"] == 30 * 60
    access = data["tokens"]["access"]
    logout = await client.get("/api/auth/logout", headers=bearer(access))
    assert logout.status_code == 200, logout.text

    assert await refresh_rows(session, waiter.id) == []
    stored_device = await session.get(PosDevice, device.id, populate_existing=True)
    assert stored_device is not None
    assert stored_device.last_seen_at is not None
    audits = await audit_rows(session, action="auth.pin_login", user_id=waiter.id)
    assert len(audits) == 1
    assert audits[0].new_values == {"device": str(device.id)}


async def test_manager_pin_session_has_only_floor_permissions(
    client: httpx.AsyncClient, session: AsyncSession, restaurant: Restaurant, manager: User
) -> None:
    _, token = await bind_device(session, restaurant)
    await session.commit()

    data = await pin_login_ok(client, token, manager.id, "9876")

    permissions = set(data["user"]["permissions"])
    assert {"pos", "payments", "kitchen", "inventory"} <= permissions
    assert not permissions & {"staff", "settings", "reports", "menu", "platform"}
    access = data["tokens"]["access"]
    for response in (
        await client.post("/api/devices", json={"name": "Mine"}, headers=bearer(access)),
        await client.get("/api/devices", headers=bearer(access)),
    ):
        error = assert_error(response, 403, "permission_denied")
        assert error["details"] == {"permission": "devices.manage"}

    # The same manager with a password keeps the full rights.
    full = await login_ok(client, manager.email)
    assert {"staff", "settings", "reports"} <= set(full["user"]["permissions"])
    listed = await client.get("/api/devices", headers=bearer(full["tokens"]["access"]))
    assert listed.status_code == 200, listed.text


async def test_pin_login_without_device_token_is_401(
    client: httpx.AsyncClient, session: AsyncSession, restaurant: Restaurant
) -> None:
    waiter = await create_user(session, role="waiter", restaurant=restaurant, pin=PIN)
    await session.commit()

    assert_unauthorized(await pin_login(client, None, waiter.id), "unauthorized")
    assert_unauthorized(await pin_login(client, "", waiter.id), "unauthorized")
    assert (await fresh_user(session, waiter.id)).failed_login_count == 0


async def test_pin_login_with_an_unknown_device_token_is_401(
    client: httpx.AsyncClient, session: AsyncSession, restaurant: Restaurant
) -> None:
    waiter = await create_user(session, role="waiter", restaurant=restaurant, pin=PIN)
    device, _ = await bind_device(session, restaurant)
    await session.commit()

    assert_unauthorized(await pin_login(client, "made-up-token", waiter.id), "unauthorized")
    # The stored hash is not a token either.
    assert_unauthorized(await pin_login(client, device.token_hash, waiter.id), "unauthorized")


async def test_pin_login_refuses_staff_of_another_restaurant(
    client: httpx.AsyncClient, session: AsyncSession, restaurant: Restaurant
) -> None:
    elsewhere = await create_restaurant(session)
    stranger = await create_user(session, role="manager", restaurant=elsewhere, pin=PIN)
    local = await create_user(session, role="waiter", restaurant=restaurant, pin="5555")
    _, token = await bind_device(session, restaurant)
    await session.commit()

    refused = await pin_login(client, token, stranger.id)
    unknown = await pin_login(client, token, uuid.uuid4())
    wrong = await pin_login(client, token, local.id, "5556")

    errors = [assert_unauthorized(r, "invalid_credentials") for r in (refused, unknown, wrong)]
    # Someone else's staff, nobody at all and a wrong PIN are indistinguishable.
    assert len({e["message"] for e in errors}) == 1
    assert (await fresh_user(session, stranger.id)).failed_login_count == 0


async def test_pin_login_refuses_a_user_without_pin(
    client: httpx.AsyncClient, session: AsyncSession, restaurant: Restaurant
) -> None:
    waiter = await create_user(session, role="waiter", restaurant=restaurant)
    _, token = await bind_device(session, restaurant)
    await session.commit()

    assert_unauthorized(await pin_login(client, token, waiter.id), "invalid_credentials")


async def test_pin_login_refuses_a_deactivated_user(
    client: httpx.AsyncClient, session: AsyncSession, restaurant: Restaurant
) -> None:
    waiter = await create_user(
        session, role="waiter", restaurant=restaurant, pin=PIN, is_active=False
    )
    _, token = await bind_device(session, restaurant)
    await session.commit()

    response = await pin_login(client, token, waiter.id)

    assert_unauthorized(response, "invalid_credentials")
    assert "access" not in response.text


async def test_deactivation_ends_a_pin_session(
    client: httpx.AsyncClient, session: AsyncSession, restaurant: Restaurant
) -> None:
    waiter = await create_user(session, role="waiter", restaurant=restaurant, pin=PIN)
    _, token = await bind_device(session, restaurant)
    await session.commit()
    access = (await pin_login_ok(client, token, waiter.id))["tokens"]["access"]

    stored = await fresh_user(session, waiter.id)
    stored.is_active = False
    await session.commit()

    assert_unauthorized(
        await client.get("/api/auth/logout", headers=bearer(access)), "unauthorized"
    )


async def test_pin_session_ends_when_the_user_moves_restaurant(
    client: httpx.AsyncClient, session: AsyncSession, restaurant: Restaurant
) -> None:
    elsewhere = await create_restaurant(session)
    waiter = await create_user(session, role="waiter", restaurant=restaurant, pin=PIN)
    _, token = await bind_device(session, restaurant)
    await session.commit()
    access = (await pin_login_ok(client, token, waiter.id))["tokens"]["access"]

    stored = await fresh_user(session, waiter.id)
    stored.restaurant_id = elsewhere.id
    await session.commit()

    assert_unauthorized(await client.get("/api/auth/logout", headers=bearer(access)))


async def test_wrong_pins_count_towards_the_lockout(
    client: httpx.AsyncClient, session: AsyncSession, restaurant: Restaurant
) -> None:
    waiter = await create_user(session, role="waiter", restaurant=restaurant, pin=PIN)
    _, token = await bind_device(session, restaurant)
    await session.commit()

    for attempt in range(1, 5):
        assert_unauthorized(
            await pin_login(client, token, waiter.id, "0000"), "invalid_credentials"
        )
        assert (await fresh_user(session, waiter.id)).failed_login_count == attempt
    assert_unauthorized(await pin_login(client, token, waiter.id, "0000"), "invalid_credentials")

    refused = await pin_login(client, token, waiter.id, PIN)

    error = assert_error(refused, 429, "account_locked")
    assert int(refused.headers["retry-after"]) > 14 * 60
    assert "lockedUntil" in error["details"]
    # The lock is on the person, so the password does not get round it either.
    assert_error(await login(client, waiter.email), 429, "account_locked")
    failed = await audit_rows(session, action="auth.pin_login_failed", user_id=waiter.id)
    assert len(failed) == 5
    assert len(await audit_rows(session, action="auth.lockout", user_id=waiter.id)) == 1
    assert await audit_rows(session, action="auth.pin_login", user_id=waiter.id) == []


async def test_wrong_passwords_and_pins_add_up(
    client: httpx.AsyncClient, session: AsyncSession, restaurant: Restaurant
) -> None:
    waiter = await create_user(session, role="waiter", restaurant=restaurant, pin=PIN)
    _, token = await bind_device(session, restaurant)
    await session.commit()
    for _ in range(3):
        await login(client, waiter.email, "Wrong-Password-1!")
    for _ in range(2):
        await pin_login(client, token, waiter.id, "0000")

    assert_error(await pin_login(client, token, waiter.id), 429, "account_locked")


async def test_correct_pin_resets_the_failure_counter(
    client: httpx.AsyncClient, session: AsyncSession, restaurant: Restaurant
) -> None:
    waiter = await create_user(session, role="waiter", restaurant=restaurant, pin=PIN)
    _, token = await bind_device(session, restaurant)
    await session.commit()
    for _ in range(3):
        await pin_login(client, token, waiter.id, "0000")

    await pin_login_ok(client, token, waiter.id)

    assert (await fresh_user(session, waiter.id)).failed_login_count == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"userId": "{user}", "pin": "12ab"}, "pin"),
        ({"userId": "{user}", "pin": "123"}, "pin"),
        ({"userId": "{user}", "pin": "1234567"}, "pin"),
        ({"userId": "{user}", "pin": 1234}, "pin"),
        ({"userId": "{user}"}, "pin"),
        ({"pin": "1234"}, "userId"),
        ({"userId": "not-a-uuid", "pin": "1234"}, "userId"),
        ({"userId": "{user}", "pin": "1234", "role": "manager"}, "role"),
        ({"userId": "{user}", "pin": "1234", "restaurantId": "{user}"}, "restaurantId"),
    ],
)
async def test_pin_login_body_validation(
    client: httpx.AsyncClient,
    session: AsyncSession,
    restaurant: Restaurant,
    body: dict[str, Any],
    field: str,
) -> None:
    waiter = await create_user(session, role="waiter", restaurant=restaurant, pin=PIN)
    _, token = await bind_device(session, restaurant)
    await session.commit()
    payload = {k: str(waiter.id) if v == "{user}" else v for k, v in body.items()}

    response = await client.post(
        "/api/auth/pin-login", json=payload, headers={"X-Device-Token": token}
    )

    assert validation_fields(response) == {field}
    # A malformed request is not a wrong PIN.
    assert (await fresh_user(session, waiter.id)).failed_login_count == 0


@pytest.mark.parametrize("pin", ["\uff11\uff12\uff13\uff14", "\u0661\u0662\u0663\u0664"])
async def test_pin_must_be_ascii_digits(
    client: httpx.AsyncClient, session: AsyncSession, restaurant: Restaurant, pin: str
) -> None:
    waiter = await create_user(session, role="waiter", restaurant=restaurant, pin=PIN)
    _, token = await bind_device(session, restaurant)
    await session.commit()

    response = await pin_login(client, token, waiter.id, pin)

    assert validation_fields(response) == {"pin"}
    assert (await fresh_user(session, waiter.id)).failed_login_count == 0
