"""POST /api/auth/login: the spec's answer, refusals, lockout and deactivation."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models import AuditLog
from tests.auth.support import (
    assert_error,
    assert_unauthorized,
    audit_rows,
    bearer,
    fresh_client,
    fresh_user,
    login,
    login_ok,
    refresh_rows,
    validation_fields,
)
from tests.factories import DEFAULT_PASSWORD, create_restaurant, create_user

WRONG = "Not-The-Password-1!"


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with fresh_client(app) as c:
        yield c


async def test_login_answers_exactly_the_spec_shape(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    restaurant = await create_restaurant(session, settings={"theme": "dark"})
    user = await create_user(session, role="manager", restaurant=restaurant)
    await session.commit()

    response = await login(client, user.email)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"success", "data"}
    assert body["success"] is True
    data = body["data"]
    assert set(data) == {"user", "tokens", "restaurant"}
    assert data["user"] == {
        "id": str(user.id),
        "email": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "role": "manager",
        "restaurantId": str(restaurant.id),
        "permissions": data["user"]["permissions"],
    }
    assert set(data["tokens"]) == {"access", "refresh"}
    assert isinstance(data["tokens"]["access"], str)
    assert isinstance(data["tokens"]["refresh"], str)
    assert data["tokens"]["access"] != data["tokens"]["refresh"]
    assert data["restaurant"] == {
        "id": str(restaurant.id),
        "name": restaurant.name,
        "timezone": "Europe/London",
        "currency": "GBP",
        "settings": {"theme": "dark"},
    }


async def test_login_tokens_work_and_are_recorded(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    restaurant = await create_restaurant(session)
    user = await create_user(session, role="manager", restaurant=restaurant)
    await session.commit()

    data = await login_ok(client, user.email)

    listed = await client.get("/api/devices", headers=bearer(data["tokens"]["access"]))
    assert listed.status_code == 200, listed.text
    stored = await fresh_user(session, user.id)
    assert stored.last_login is not None
    assert stored.failed_login_count == 0
    assert len(await refresh_rows(session, user.id)) == 1
    rows = await audit_rows(session, action="auth.login", user_id=user.id)
    assert len(rows) == 1
    assert rows[0].restaurant_id == restaurant.id
    assert rows[0].ip_address is not None


@pytest.mark.parametrize(
    ("role", "present", "absent"),
    [
        ("waiter", {"pos", "kitchen"}, {"reports", "staff", "settings", "menu", "payments"}),
        ("cashier", {"pos", "payments"}, {"reports", "staff", "settings", "kitchen"}),
        ("kitchen_staff", {"kitchen", "inventory"}, {"pos", "payments", "reports"}),
        (
            "manager",
            {"pos", "payments", "kitchen", "menu", "inventory", "reports", "staff", "settings"},
            {"platform"},
        ),
        (
            "restaurant_owner",
            {"pos", "payments", "reports", "staff", "settings"},
            {"platform"},
        ),
    ],
)
async def test_coarse_permissions_follow_the_role(
    client: httpx.AsyncClient,
    session: AsyncSession,
    role: str,
    present: set[str],
    absent: set[str],
) -> None:
    restaurant = await create_restaurant(session)
    user = await create_user(session, role=role, restaurant=restaurant)
    await session.commit()

    permissions = (await login_ok(client, user.email))["user"]["permissions"]

    assert present <= set(permissions), permissions
    assert not (absent & set(permissions)), permissions
    assert len(permissions) == len(set(permissions))


async def test_per_user_overrides_change_coarse_permissions(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    restaurant = await create_restaurant(session)
    user = await create_user(
        session,
        role="waiter",
        restaurant=restaurant,
        permissions={"grant": ["reports.read"], "revoke": ["orders.create"]},
    )
    await session.commit()

    permissions = (await login_ok(client, user.email))["user"]["permissions"]

    assert "reports" in permissions
    assert "pos" not in permissions


async def test_wrong_password_and_unknown_email_answer_alike(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    restaurant = await create_restaurant(session)
    user = await create_user(session, restaurant=restaurant)
    await session.commit()

    wrong = await login(client, user.email, WRONG)
    unknown = await login(client, "nobody-here@fynlo-test.com", DEFAULT_PASSWORD)

    wrong_error = assert_unauthorized(wrong, "invalid_credentials")
    unknown_error = assert_unauthorized(unknown, "invalid_credentials")
    assert wrong_error["message"] == unknown_error["message"]
    assert wrong_error["details"] == unknown_error["details"]
    assert "access" not in wrong.text
    failed = await audit_rows(session, action="auth.login_failed")
    assert {row.user_id for row in failed} == {user.id, None}
    anonymous = next(row for row in failed if row.user_id is None)
    assert anonymous.new_values == {
        "email": "nobody-here@fynlo-test.com",
        "reason": "unknown_email",
    }


@pytest.mark.parametrize("transform", [str.upper, str.title, lambda e: f"  {e.upper()}  "])
async def test_email_is_case_insensitive(
    client: httpx.AsyncClient, session: AsyncSession, transform: Any
) -> None:
    restaurant = await create_restaurant(session)
    user = await create_user(session, restaurant=restaurant)
    await session.commit()

    data = await login_ok(client, transform(user.email))

    assert data["user"]["id"] == str(user.id)
    assert data["user"]["email"] == user.email


async def test_password_is_case_sensitive(client: httpx.AsyncClient, session: AsyncSession) -> None:
    restaurant = await create_restaurant(session)
    user = await create_user(session, restaurant=restaurant)
    await session.commit()

    response = await login(client, user.email, DEFAULT_PASSWORD.upper())

    assert_unauthorized(response, "invalid_credentials")


@pytest.mark.parametrize(
    ("body", "field", "kind"),
    [
        ({"email": 12345, "password": "x"}, "email", None),
        ({"email": "not-an-email", "password": "x"}, "email", None),
        ({"email": ["a@fynlo-test.com"], "password": "x"}, "email", None),
        ({"email": "a@fynlo-test.com", "password": 12345}, "password", None),
        ({"email": "a@fynlo-test.com", "password": None}, "password", None),
        ({"email": "a@fynlo-test.com", "password": ""}, "password", None),
        ({"email": "a@fynlo-test.com", "password": "x" * 129}, "password", None),
        ({"email": "a@fynlo-test.com"}, "password", "missing"),
        ({"password": "x"}, "email", "missing"),
        (
            {"email": "a@fynlo-test.com", "password": "x", "role": "platform_owner"},
            "role",
            "extra_forbidden",
        ),
        (
            {"email": "a@fynlo-test.com", "password": "x", "restaurantId": "r"},
            "restaurantId",
            "extra_forbidden",
        ),
    ],
)
async def test_invalid_login_bodies_are_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str, kind: str | None
) -> None:
    response = await client.post("/api/auth/login", json=body)

    assert validation_fields(response) == {field}
    detail = response.json()["error"]["details"][0]
    assert detail["location"] == "body"
    assert field in response.json()["error"]["message"]
    if kind is not None:
        assert detail["type"] == kind
    if kind == "extra_forbidden":
        assert detail["message"] == f"Unknown field '{field}' is not allowed"
    if kind == "missing":
        assert detail["message"] == "Field required"


async def test_login_without_body_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login")

    assert_error(response, 422, "validation_error")


async def test_login_with_a_non_object_body_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login", json=["a@fynlo-test.com", "x"])

    assert_error(response, 422, "validation_error")


async def test_five_wrong_passwords_lock_the_account(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    restaurant = await create_restaurant(session)
    user = await create_user(session, restaurant=restaurant)
    await session.commit()

    for attempt in range(1, 5):
        assert_unauthorized(await login(client, user.email, WRONG), "invalid_credentials")
        # The counter is committed although the request failed.
        assert (await fresh_user(session, user.id)).failed_login_count == attempt
    fifth = await login(client, user.email, WRONG)
    assert_unauthorized(fifth, "invalid_credentials")
    locked = await fresh_user(session, user.id)
    assert locked.locked_until is not None
    expected_until = datetime.now(UTC) + timedelta(minutes=15)
    assert abs((locked.locked_until - expected_until).total_seconds()) < 60

    # Even the right password is refused now.
    refused = await login(client, user.email, DEFAULT_PASSWORD)

    error = assert_error(refused, 429, "account_locked")
    retry_after = int(refused.headers["retry-after"])
    assert 14 * 60 <= retry_after <= 15 * 60
    assert error["details"]["retryAfter"] == retry_after
    locked_until = datetime.fromisoformat(error["details"]["lockedUntil"])
    assert locked_until.tzinfo is not None
    assert abs((locked_until - locked.locked_until).total_seconds()) <= 1
    assert math.isclose((locked_until - datetime.now(UTC)).total_seconds(), retry_after, abs_tol=5)
    assert "access" not in refused.text

    failed = await audit_rows(session, action="auth.login_failed", user_id=user.id)
    assert [row.new_values for row in failed] == [{"attempts": n} for n in range(1, 6)]
    lockouts = await audit_rows(session, action="auth.lockout", user_id=user.id)
    assert len(lockouts) == 1
    assert lockouts[0].restaurant_id == restaurant.id
    refusals = await audit_rows(session, action="auth.login_refused_locked", user_id=user.id)
    assert len(refusals) == 1
    assert await audit_rows(session, action="auth.login", user_id=user.id) == []
    assert await refresh_rows(session, user.id) == []


async def test_lock_applies_to_wrong_passwords_too_and_expires(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    restaurant = await create_restaurant(session)
    user = await create_user(session, restaurant=restaurant)
    await session.commit()
    for _ in range(5):
        await login(client, user.email, WRONG)

    assert_error(await login(client, user.email, WRONG), 429, "account_locked")
    # A refused attempt while locked does not extend or count towards another lock.
    still = await fresh_user(session, user.id)
    assert still.failed_login_count == 0

    still.locked_until = datetime.now(UTC) - timedelta(seconds=1)
    await session.commit()

    data = await login_ok(client, user.email)
    assert data["user"]["id"] == str(user.id)
    unlocked = await fresh_user(session, user.id)
    assert unlocked.locked_until is None
    assert unlocked.failed_login_count == 0


async def test_successful_login_resets_the_failure_counter(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    restaurant = await create_restaurant(session)
    user = await create_user(session, restaurant=restaurant)
    await session.commit()
    for _ in range(4):
        await login(client, user.email, WRONG)
    assert (await fresh_user(session, user.id)).failed_login_count == 4

    await login_ok(client, user.email)
    assert (await fresh_user(session, user.id)).failed_login_count == 0

    # Four more wrong passwords do not lock: the earlier four were forgiven.
    for _ in range(4):
        assert_unauthorized(await login(client, user.email, WRONG), "invalid_credentials")
    assert (await fresh_user(session, user.id)).locked_until is None


async def test_lockout_of_one_account_leaves_others_alone(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    restaurant = await create_restaurant(session)
    victim = await create_user(session, restaurant=restaurant)
    colleague = await create_user(session, restaurant=restaurant)
    await session.commit()
    for _ in range(5):
        await login(client, victim.email, WRONG)

    await login_ok(client, colleague.email)


async def test_deactivated_user_cannot_log_in(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    restaurant = await create_restaurant(session)
    user = await create_user(session, restaurant=restaurant, is_active=False)
    await session.commit()

    response = await login(client, user.email)

    assert_unauthorized(response, "invalid_credentials")
    assert "tokens" not in response.text
    assert await refresh_rows(session, user.id) == []
    assert len(await audit_rows(session, action="auth.login_refused_inactive")) == 1


async def test_deactivation_kills_existing_tokens_at_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    restaurant = await create_restaurant(session)
    user = await create_user(session, role="manager", restaurant=restaurant)
    await session.commit()
    tokens = (await login_ok(client, user.email))["tokens"]
    assert (await client.get("/api/devices", headers=bearer(tokens["access"]))).status_code == 200

    stored = await fresh_user(session, user.id)
    stored.is_active = False
    await session.commit()

    assert_unauthorized(
        await client.get("/api/auth/logout", headers=bearer(tokens["access"])), "unauthorized"
    )
    assert_unauthorized(
        await client.post("/api/devices", json={"name": "Till"}, headers=bearer(tokens["access"])),
        "unauthorized",
    )
    assert_unauthorized(
        await client.post("/api/auth/refresh", json={"refreshToken": tokens["refresh"]}),
        "unauthorized",
    )
    assert_unauthorized(await login(client, user.email), "invalid_credentials")


async def test_failed_logins_never_leak_hashes_or_secrets(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    restaurant = await create_restaurant(session)
    user = await create_user(session, restaurant=restaurant, pin="1234")
    await session.commit()

    data = await login_ok(client, user.email)
    failed = await login(client, user.email, WRONG)

    for text in (str(data), failed.text):
        assert "argon2" not in text
        assert "passwordHash" not in text
        assert "pinCodeHash" not in text
        assert "pin_code_hash" not in text
    rows = list(await session.scalars(select(AuditLog).where(AuditLog.user_id == user.id)))
    assert all(DEFAULT_PASSWORD not in str(row.new_values) for row in rows)
    assert all(WRONG not in str(row.new_values) for row in rows)
