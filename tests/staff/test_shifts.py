"""Shifts over HTTP: planning, the published rota, publishing a week, copying one, upcoming
shifts, planned versus worked hours; who may do what, other tenants, validation, conflicts."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.db.types import utc_now
from fynlo.models import AuditLog, OutboxEvent, Shift, User
from tests.conftest import make_client
from tests.staff.test_timeclock import add_entry, error_of
from tests.world import World, login

STAFF = ("captain", "cashier", "waiter", "kitchen_staff", "employee")
WEEK = "2026-06-08"  # a Monday in BST (UTC+1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def body_of(user: User, start: datetime, end: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "userId": str(user.id),
        "startsAt": start.isoformat(),
        "endsAt": end.isoformat(),
        **extra,
    }


async def plan(
    client: httpx.AsyncClient, headers: dict[str, str], *shifts: dict[str, Any], **params: str
) -> httpx.Response:
    return await client.post(
        "/api/shifts", json={"shifts": list(shifts)}, headers=headers, params=params
    )


async def planned(
    client: httpx.AsyncClient, headers: dict[str, str], *shifts: dict[str, Any]
) -> list[dict[str, Any]]:
    response = await plan(client, headers, *shifts)
    assert response.status_code == 201, response.text
    created: list[dict[str, Any]] = response.json()["data"]
    return created


async def publish(client: httpx.AsyncClient, headers: dict[str, str], week: str) -> httpx.Response:
    return await client.post("/api/shifts/publish", json={"weekStart": week}, headers=headers)


async def rota(
    client: httpx.AsyncClient, headers: dict[str, str], **params: str
) -> list[dict[str, Any]]:
    response = await client.get(
        "/api/shifts", params={"from": "2026-06-08", "to": "2026-06-14", **params}, headers=headers
    )
    assert response.status_code == 200, response.text
    shifts: list[dict[str, Any]] = response.json()["data"]
    return shifts


async def count(session: AsyncSession, statement: Any) -> int:
    await session.commit()
    return int(await session.scalar(statement) or 0)


# --- planning --------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["manager", "owner_a"])
async def test_managers_and_owners_plan_a_batch_of_drafts(
    client: httpx.AsyncClient, world: World, session: AsyncSession, who: str
) -> None:
    planner = world.owner_a if who == "owner_a" else world.users["manager"]
    headers = await login(client, planner)
    waiter, cook = world.users["waiter"], world.users["kitchen_staff"]
    response = await plan(
        client,
        headers,
        body_of(waiter, utc(2026, 6, 8, 9), utc(2026, 6, 8, 17), station="bar", notes="float"),
        body_of(cook, utc(2026, 6, 8, 10), utc(2026, 6, 8, 18), role="employee"),
        restaurantId=str(world.a1.id),
    )
    assert response.status_code == 201, response.text
    first, second = response.json()["data"]
    assert first["status"] == "draft"
    assert first["publishedAt"] is None
    assert first["role"] == "waiter"  # the person's own role by default
    assert first["station"] == "bar"
    assert first["hours"] == "8.00"
    assert first["userName"] == f"{waiter.first_name} {waiter.last_name}"
    assert first["createdBy"] == str(planner.id)
    assert first["version"] == 1
    assert second["role"] == "employee"
    audits = await count(
        session,
        select(func.count()).select_from(AuditLog).where(AuditLog.action == "shift.created"),
    )
    assert audits == 2


@pytest.mark.parametrize("role", STAFF)
async def test_staff_cannot_plan_change_or_publish(
    client: httpx.AsyncClient, world: World, role: str
) -> None:
    manager = await login(client, world.users["manager"])
    (shift,) = await planned(
        client, manager, body_of(world.users[role], utc(2026, 6, 8, 9), utc(2026, 6, 8, 17))
    )
    headers = await login(client, world.users[role])
    me = world.users[role]
    body = body_of(me, utc(2026, 6, 9, 9), utc(2026, 6, 9, 17))
    error_of(await plan(client, headers, body), 403, "permission_denied")
    put = await client.put(
        f"/api/shifts/{shift['id']}", json={**body, "version": 1}, headers=headers
    )
    error_of(put, 403, "permission_denied")
    error_of(
        await client.delete(f"/api/shifts/{shift['id']}", headers=headers), 403, "permission_denied"
    )
    error_of(await publish(client, headers, WEEK), 403, "permission_denied")
    copy = await client.post(
        "/api/shifts/copy-week",
        json={"fromWeek": WEEK, "toWeek": "2026-06-15"},
        headers=headers,
    )
    error_of(copy, 403, "permission_denied")
    response = await client.get(
        "/api/shifts/planned-vs-worked",
        params={"from": "2026-06-08", "to": "2026-06-14"},
        headers=headers,
    )
    error_of(response, 403, "permission_denied")


async def test_a_role_without_timeclock_or_schedule_cannot_read_the_rota(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    waiter = world.users["waiter"]
    await session.execute(
        update(User).where(User.id == waiter.id).values(permissions={"revoke": ["staff.timeclock"]})
    )
    await session.commit()
    response = await client.get(
        "/api/shifts",
        params={"from": "2026-06-08", "to": "2026-06-14"},
        headers=await login(client, waiter),
    )
    error_of(response, 403, "permission_denied")


async def test_staff_see_the_published_rota_of_everyone_but_no_drafts(
    client: httpx.AsyncClient, world: World
) -> None:
    manager = await login(client, world.users["manager"])
    waiter, cook = world.users["waiter"], world.users["kitchen_staff"]
    await planned(
        client,
        manager,
        body_of(waiter, utc(2026, 6, 8, 9), utc(2026, 6, 8, 17)),
        body_of(cook, utc(2026, 6, 9, 9), utc(2026, 6, 9, 17)),
    )
    assert (await publish(client, manager, WEEK)).json()["data"]["published"] == 2
    # A draft of the same week, planned after publishing.
    await planned(client, manager, body_of(waiter, utc(2026, 6, 10, 9), utc(2026, 6, 10, 17)))
    headers = await login(client, waiter)
    seen = await rota(client, headers)
    assert [(s["userId"], s["status"]) for s in seen] == [
        (str(waiter.id), "published"),
        (str(cook.id), "published"),
    ]
    assert [s["userId"] for s in await rota(client, headers, userId=str(cook.id))] == [str(cook.id)]
    error_of(
        await client.get(
            "/api/shifts",
            params={"from": "2026-06-08", "to": "2026-06-14", "status": "draft"},
            headers=headers,
        ),
        403,
        "permission_denied",
    )
    assert len(await rota(client, manager)) == 3
    drafts = await rota(client, manager, status="draft")
    assert [s["startsAt"][:10] for s in drafts] == ["2026-06-10"]
    assert len(await rota(client, manager, status="published")) == 2


async def test_another_restaurant_neither_sees_nor_touches_the_rota(
    client: httpx.AsyncClient, world: World
) -> None:
    manager = await login(client, world.users["manager"])
    waiter = world.users["waiter"]
    (shift,) = await planned(
        client, manager, body_of(waiter, utc(2026, 6, 8, 9), utc(2026, 6, 8, 17))
    )
    other = await login(client, world.other_manager)
    response = await plan(client, other, body_of(waiter, utc(2026, 6, 8, 9), utc(2026, 6, 8, 17)))
    error = error_of(response, 422, "validation_error")
    assert error["details"][0]["field"] == "shifts.0.userId"
    body = {**body_of(world.other_manager, utc(2026, 6, 8, 9), utc(2026, 6, 8, 17)), "version": 1}
    put = await client.put(f"/api/shifts/{shift['id']}", json=body, headers=other)
    error_of(put, 404, "not_found")
    error_of(await client.delete(f"/api/shifts/{shift['id']}", headers=other), 404, "not_found")
    assert await rota(client, other) == []
    response = await client.get(
        "/api/shifts",
        params={"from": "2026-06-08", "to": "2026-06-14", "restaurantId": str(world.a1.id)},
        headers=other,
    )
    error_of(response, 404, "not_found")
    error_of(await client.get(f"/api/users/{waiter.id}/shifts", headers=other), 404, "not_found")
    response = await client.get(
        "/api/shifts/planned-vs-worked",
        params={"from": "2026-06-08", "to": "2026-06-14", "userId": str(waiter.id)},
        headers=other,
    )
    error_of(response, 404, "not_found")
    # B's publish and copy find nothing of A's.
    assert (await publish(client, other, WEEK)).json()["data"]["published"] == 0
    copy = await client.post(
        "/api/shifts/copy-week", json={"fromWeek": WEEK, "toWeek": "2026-06-15"}, headers=other
    )
    assert copy.json()["data"] == {"created": [], "skipped": []}
    assert (await rota(client, manager))[0]["status"] == "draft"
    unknown = {**body_of(waiter, utc(2026, 6, 8, 9), utc(2026, 6, 8, 17)), "version": 1}
    error_of(
        await client.put(f"/api/shifts/{uuid.uuid4()}", json=unknown, headers=manager),
        404,
        "not_found",
    )
    error_of(
        await client.get("/api/shifts", params={"from": WEEK, "to": WEEK}), 401, "unauthorized"
    )


def _valid() -> dict[str, Any]:
    return {"startsAt": "2026-06-08T09:00:00+01:00", "endsAt": "2026-06-08T17:00:00+01:00"}


@pytest.mark.parametrize(
    ("shift", "field"),
    [
        (_valid(), "shifts.0.userId"),
        ({"userId": "waiter", **_valid()}, "shifts.0.userId"),
        ({"userId": "WAITER_ID", "endsAt": "2026-06-08T17:00:00Z"}, "shifts.0.startsAt"),
        (
            {"userId": "WAITER_ID", **_valid(), "startsAt": "2026-06-08T09:00:00"},
            "shifts.0.startsAt",
        ),
        ({"userId": "WAITER_ID", **_valid(), "endsAt": "tomorrow"}, "shifts.0.endsAt"),
        (
            {"userId": "WAITER_ID", **_valid(), "endsAt": "2026-06-08T09:00:00+01:00"},
            "shifts.0.endsAt",
        ),
        (
            {"userId": "WAITER_ID", **_valid(), "endsAt": "2026-06-09T01:00:01+01:00"},
            "shifts.0.endsAt",
        ),
        ({"userId": "WAITER_ID", **_valid(), "role": "chef"}, "shifts.0.role"),
        ({"userId": "WAITER_ID", **_valid(), "role": "platform_owner"}, "shifts.0.role"),
        ({"userId": "WAITER_ID", **_valid(), "station": "x" * 51}, "shifts.0.station"),
        ({"userId": "WAITER_ID", **_valid(), "station": 5}, "shifts.0.station"),
        ({"userId": "WAITER_ID", **_valid(), "notes": "n" * 501}, "shifts.0.notes"),
        ({"userId": "WAITER_ID", **_valid(), "notes": "a\u0000b"}, "shifts.0.notes"),
        ({"userId": "WAITER_ID", **_valid(), "station": "\u0000"}, "shifts.0.station"),
        (
            {
                "userId": "WAITER_ID",
                "startsAt": "0001-01-01T00:00:00+01:00",
                "endsAt": "0001-01-01T05:00:00+01:00",
            },
            "shifts.0.startsAt",
        ),
        (
            {
                "userId": "WAITER_ID",
                "startsAt": "2026-06-08T09:00:00+01:00",
                "endsAt": "9999-12-31T23:00:00-05:00",
            },
            "shifts.0.endsAt",
        ),
        (
            {"userId": "WAITER_ID", **_valid(), "publishedAt": "2026-06-01T00:00:00Z"},
            "shifts.0.publishedAt",
        ),
        ({"userId": "INACTIVE_ID", **_valid()}, "shifts.0.userId"),
        ({"userId": "UNKNOWN_ID", **_valid()}, "shifts.0.userId"),
    ],
)
async def test_shift_bodies_are_validated(
    client: httpx.AsyncClient,
    world: World,
    session: AsyncSession,
    shift: dict[str, Any],
    field: str,
) -> None:
    waiter, employee = world.users["waiter"], world.users["employee"]
    await session.execute(update(User).where(User.id == employee.id).values(is_active=False))
    await session.commit()
    ids = {
        "WAITER_ID": str(waiter.id),
        "INACTIVE_ID": str(employee.id),
        "UNKNOWN_ID": str(uuid.uuid4()),
    }
    shift = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in shift.items()}
    response = await plan(client, await login(client, world.users["manager"]), shift)
    error = error_of(response, 422, "validation_error")
    assert field in [d["field"] for d in error["details"]], error


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "shifts"),
        ({"shifts": []}, "shifts"),
        ({"shifts": "all of them"}, "shifts"),
        ({"shift": {}}, "shift"),
    ],
)
async def test_batch_envelope_is_validated(
    client: httpx.AsyncClient, world: World, body: dict[str, Any], field: str
) -> None:
    headers = await login(client, world.users["manager"])
    response = await client.post("/api/shifts", json=body, headers=headers)
    error = error_of(response, 422, "validation_error")
    assert field in [d["field"] for d in error["details"]], error


async def test_at_most_100_shifts_a_request(client: httpx.AsyncClient, world: World) -> None:
    waiter = world.users["waiter"]
    start = utc(2026, 1, 1, 9)
    shifts = [
        body_of(waiter, start + timedelta(days=i), start + timedelta(days=i, hours=1))
        for i in range(101)
    ]
    response = await plan(client, await login(client, world.users["manager"]), *shifts)
    error = error_of(response, 422, "validation_error")
    assert error["details"][0]["field"] == "shifts"


async def test_overlapping_shifts_of_one_person_are_a_409(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    headers = await login(client, world.users["manager"])
    waiter, cook = world.users["waiter"], world.users["kitchen_staff"]
    (first,) = await planned(
        client, headers, body_of(waiter, utc(2026, 6, 8, 9), utc(2026, 6, 8, 17))
    )
    response = await plan(
        client, headers, body_of(waiter, utc(2026, 6, 8, 16), utc(2026, 6, 8, 20))
    )
    error = error_of(response, 409, "shift_overlap")
    assert error["details"]["overlapsShiftId"] == first["id"]
    assert error["details"]["field"] == "shifts.0"
    assert "Mon 08 Jun 10:00 to Mon 08 Jun 18:00 Europe/London" in error["message"]
    # Within one batch: nothing is created.
    response = await plan(
        client,
        headers,
        body_of(cook, utc(2026, 6, 9, 9), utc(2026, 6, 9, 17)),
        body_of(cook, utc(2026, 6, 9, 12), utc(2026, 6, 9, 13)),
    )
    error = error_of(response, 409, "shift_overlap")
    assert error["details"]["field"] == "shifts.1"
    assert error["details"]["overlapsField"] == "shifts.0"
    assert await rota(client, headers, userId=str(cook.id)) == []
    audits = await count(
        session,
        select(func.count()).select_from(AuditLog).where(AuditLog.action == "shift.created"),
    )
    assert audits == 1  # the first shift's only: a refused batch leaves nothing behind
    # Back to back is fine, and two people may work at once.
    await planned(
        client,
        headers,
        body_of(waiter, utc(2026, 6, 8, 17), utc(2026, 6, 8, 21)),
        body_of(cook, utc(2026, 6, 8, 9), utc(2026, 6, 8, 17)),
    )


async def test_concurrent_overlapping_plans_make_one_shift(
    app: FastAPI, client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    headers = await login(client, world.users["manager"])
    waiter = world.users["waiter"]
    async with make_client(app) as other:
        responses = await asyncio.gather(
            plan(client, headers, body_of(waiter, utc(2026, 6, 8, 9), utc(2026, 6, 8, 17))),
            plan(other, headers, body_of(waiter, utc(2026, 6, 8, 12), utc(2026, 6, 8, 20))),
        )
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    total = await count(
        session, select(func.count()).select_from(Shift).where(Shift.user_id == waiter.id)
    )
    assert total == 1


async def test_planning_is_idempotent_with_a_key(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    headers = {**await login(client, world.users["manager"]), "Idempotency-Key": "plan-week-24"}
    body = body_of(world.users["waiter"], utc(2026, 6, 8, 9), utc(2026, 6, 8, 17))
    first, again = await plan(client, headers, body), await plan(client, headers, body)
    assert first.status_code == again.status_code == 201
    assert first.json()["data"][0]["id"] == again.json()["data"][0]["id"]
    assert await count(session, select(func.count()).select_from(Shift)) == 1


# --- changing and removing -------------------------------------------------------------------


async def test_update_with_version_and_audit_even_when_published(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    headers = await login(client, world.users["manager"])
    waiter, cook = world.users["waiter"], world.users["kitchen_staff"]
    (shift,) = await planned(
        client, headers, body_of(waiter, utc(2026, 6, 8, 9), utc(2026, 6, 8, 17))
    )
    await publish(client, headers, WEEK)
    path = f"/api/shifts/{shift['id']}"
    body = {
        **body_of(cook, utc(2026, 6, 8, 10), utc(2026, 6, 8, 18), station="grill"),
        "version": 2,
    }
    response = await client.put(path, json=body, headers=headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["userId"], data["role"], data["station"]) == (
        str(cook.id),
        "kitchen_staff",
        "grill",
    )
    assert data["status"] == "published"
    assert data["version"] == 3
    error = error_of(await client.put(path, json=body, headers=headers), 409, "stale_version")
    assert error["details"] == {"expectedVersion": 2, "currentVersion": 3}
    await session.commit()
    audit = (
        await session.scalars(
            select(AuditLog).where(
                AuditLog.action == "shift.updated", AuditLog.resource_id == shift["id"]
            )
        )
    ).one()
    assert audit.old_values is not None
    assert audit.new_values is not None
    assert audit.old_values["userId"] == str(waiter.id)
    assert audit.new_values["userId"] == str(cook.id)
    assert audit.new_values["published"] is True


async def test_update_is_validated_and_checked_for_overlaps(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = await login(client, world.users["manager"])
    waiter = world.users["waiter"]
    one, two = await planned(
        client,
        headers,
        body_of(waiter, utc(2026, 6, 8, 9), utc(2026, 6, 8, 13)),
        body_of(waiter, utc(2026, 6, 8, 14), utc(2026, 6, 8, 18)),
    )
    path = f"/api/shifts/{two['id']}"
    moved = body_of(waiter, utc(2026, 6, 8, 12), utc(2026, 6, 8, 18))
    error = error_of(
        await client.put(path, json={**moved, "version": 1}, headers=headers), 409, "shift_overlap"
    )
    assert error["details"]["overlapsShiftId"] == one["id"]
    # Moving a shift within its own old time is no overlap with itself.
    inside = body_of(waiter, utc(2026, 6, 8, 15), utc(2026, 6, 8, 17))
    response = await client.put(path, json={**inside, "version": 1}, headers=headers)
    assert response.status_code == 200, response.text
    for body, field in [
        (inside, "version"),
        ({**inside, "version": 0}, "version"),
        ({**inside, "version": "two"}, "version"),
        ({**inside, "endsAt": "2026-06-08T14:00:00Z", "version": 2}, "endsAt"),
        ({**inside, "userId": str(uuid.uuid4()), "version": 2}, "userId"),
        ({**inside, "role": 3, "version": 2}, "role"),
    ]:
        response = await client.put(path, json=body, headers=headers)
        error = error_of(response, 422, "validation_error")
        assert field in [d["field"] for d in error["details"]], (field, error)
    error_of(
        await client.put("/api/shifts/nope", json=inside, headers=headers), 422, "validation_error"
    )


async def test_delete_with_an_optional_version(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    headers = await login(client, world.users["manager"])
    (shift,) = await planned(
        client, headers, body_of(world.users["waiter"], utc(2026, 6, 8, 9), utc(2026, 6, 8, 17))
    )
    path = f"/api/shifts/{shift['id']}"
    error_of(
        await client.delete(path, params={"version": 5}, headers=headers), 409, "stale_version"
    )
    error_of(
        await client.delete(path, params={"version": 0}, headers=headers), 422, "validation_error"
    )
    response = await client.delete(path, params={"version": 1}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"id": shift["id"], "deleted": True}
    error_of(await client.delete(path, headers=headers), 404, "not_found")
    audits = await count(
        session,
        select(func.count())
        .select_from(AuditLog)
        .where(AuditLog.action == "shift.deleted", AuditLog.resource_id == shift["id"]),
    )
    assert audits == 1


# --- publishing and copying ------------------------------------------------------------------


async def test_publish_a_local_week_once_with_one_notification(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    headers = await login(client, world.users["manager"])
    waiter = world.users["waiter"]
    await planned(
        client,
        headers,
        # Monday 00:30 BST is Sunday 23:30 UTC: in the week.
        body_of(waiter, utc(2026, 6, 7, 23, 30), utc(2026, 6, 8, 6)),
        # Sunday 23:00 BST: the last hour of the week.
        body_of(waiter, utc(2026, 6, 14, 22), utc(2026, 6, 14, 23)),
        # Next Monday 00:30 BST: the next week.
        body_of(waiter, utc(2026, 6, 14, 23, 30), utc(2026, 6, 15, 3)),
    )
    response = await publish(client, headers, WEEK)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"weekStart": WEEK, "published": 2, "alreadyPublished": 0}
    again = (await publish(client, headers, WEEK)).json()["data"]
    assert again == {"weekStart": WEEK, "published": 0, "alreadyPublished": 2}
    statuses = [s["status"] for s in await rota(client, headers, to="2026-06-15")]
    assert statuses == ["published", "published", "draft"]
    await session.commit()
    events = list(
        await session.scalars(
            select(OutboxEvent).where(
                OutboxEvent.restaurant_id == world.a1.id, OutboxEvent.event_type == "notification"
            )
        )
    )
    assert len(events) == 1
    payload = events[0].payload
    assert payload["kind"] == "rota_published"
    assert payload["weekStart"] == WEEK
    assert payload["shifts"] == 2
    assert payload["userIds"] == [str(waiter.id)]
    assert payload["level"] == "info"
    audits = await count(
        session,
        select(func.count()).select_from(AuditLog).where(AuditLog.action == "rota.published"),
    )
    assert audits == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"weekStart": "2026-06-09"}, "weekStart"),
        ({"weekStart": "9999-12-27"}, "weekStart"),
        ({"weekStart": "0001-01-01"}, "weekStart"),
        ({"weekStart": "next week"}, "weekStart"),
        ({"weekStart": 20260608}, "weekStart"),
        ({}, "weekStart"),
        ({"weekStart": WEEK, "force": True}, "force"),
    ],
)
async def test_publish_body_is_validated(
    client: httpx.AsyncClient, world: World, body: dict[str, Any], field: str
) -> None:
    headers = await login(client, world.users["manager"])
    response = await client.post("/api/shifts/publish", json=body, headers=headers)
    error = error_of(response, 422, "validation_error")
    assert field in [d["field"] for d in error["details"]], error


async def test_copy_a_week_keeps_local_times_across_the_clock_change(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    headers = await login(client, world.users["manager"])
    waiter, employee = world.users["waiter"], world.users["employee"]
    # Week of 23 Mar 2026 is GMT; 30 Mar is BST. 09:00-17:00 local both times.
    source, gone = await planned(
        client,
        headers,
        body_of(waiter, utc(2026, 3, 24, 9), utc(2026, 3, 24, 17), station="bar"),
        body_of(employee, utc(2026, 3, 25, 9), utc(2026, 3, 25, 17)),
    )
    await publish(client, headers, "2026-03-23")
    await session.execute(update(User).where(User.id == employee.id).values(is_active=False))
    await session.commit()
    body = {"fromWeek": "2026-03-23", "toWeek": "2026-03-30"}
    response = await client.post("/api/shifts/copy-week", json=body, headers=headers)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    (copy,) = data["created"]
    assert copy["startsAt"].startswith("2026-03-31T08:00:00")  # 09:00 BST
    assert copy["endsAt"].startswith("2026-03-31T16:00:00")
    assert (copy["status"], copy["station"], copy["userId"]) == ("draft", "bar", str(waiter.id))
    assert data["skipped"] == [
        {
            "shiftId": gone["id"],
            "userId": str(employee.id),
            "reason": "no longer an active staff member",
        }
    ]
    assert source["id"] != copy["id"]
    # Copying again would double-book the waiter: 409, nothing copied.
    response = await client.post("/api/shifts/copy-week", json=body, headers=headers)
    error = error_of(response, 409, "shift_overlap")
    assert error["details"]["overlapsShiftId"] == copy["id"]
    assert await count(session, select(func.count()).select_from(Shift)) == 3
    for wrong, field in [
        ({"fromWeek": "2026-03-23", "toWeek": "2026-03-23"}, "toWeek"),
        ({"fromWeek": "2026-03-24", "toWeek": "2026-03-30"}, "fromWeek"),
        ({"fromWeek": "2026-03-23"}, "toWeek"),
        ({"fromWeek": "2026-03-23", "toWeek": "2026-03-31"}, "toWeek"),
        ({"fromWeek": "9999-12-27", "toWeek": "2026-03-30"}, "fromWeek"),
    ]:
        response = await client.post("/api/shifts/copy-week", json=wrong, headers=headers)
        error = error_of(response, 422, "validation_error")
        assert field in [d["field"] for d in error["details"]], error


# --- reading ---------------------------------------------------------------------------------


async def test_upcoming_shifts_of_a_person(client: httpx.AsyncClient, world: World) -> None:
    manager = await login(client, world.users["manager"])
    waiter, cook = world.users["waiter"], world.users["kitchen_staff"]
    now = utc_now().replace(microsecond=0)
    monday = (now - timedelta(days=now.weekday())).date()
    soon = now + timedelta(hours=1)
    await planned(
        client,
        manager,
        body_of(waiter, now - timedelta(hours=10), now - timedelta(hours=9)),  # over
        body_of(waiter, now - timedelta(hours=1), now + timedelta(minutes=30)),  # under way
        body_of(waiter, soon, soon + timedelta(hours=2)),
        body_of(waiter, now + timedelta(days=20), now + timedelta(days=20, hours=2)),
    )
    for week in range(4):
        await publish(client, manager, str(monday + timedelta(weeks=week)))
    # A draft is never shown to staff.
    await planned(
        client, manager, body_of(waiter, soon + timedelta(hours=3), soon + timedelta(hours=4))
    )
    headers = await login(client, waiter)
    response = await client.get(f"/api/users/{waiter.id}/shifts", headers=headers)
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 2
    response = await client.get(
        f"/api/users/{waiter.id}/shifts", params={"days": 30}, headers=headers
    )
    assert len(response.json()["data"]) == 3
    response = await client.get(f"/api/users/{waiter.id}/shifts", headers=manager)
    assert len(response.json()["data"]) == 2
    cook_headers = await login(client, cook)
    error_of(
        await client.get(f"/api/users/{waiter.id}/shifts", headers=cook_headers),
        403,
        "permission_denied",
    )
    assert (await client.get(f"/api/users/{cook.id}/shifts", headers=cook_headers)).json()[
        "data"
    ] == []
    for days in ("0", "63", "soon"):
        response = await client.get(
            f"/api/users/{waiter.id}/shifts", params={"days": days}, headers=headers
        )
        error = error_of(response, 422, "validation_error")
        assert error["details"][0]["field"] == "days"
    error_of(
        await client.get(f"/api/users/{uuid.uuid4()}/shifts", headers=manager), 404, "not_found"
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"to": "2026-06-14"}, "from"),
        ({"from": "2026-06-08"}, "to"),
        ({"from": "8 June", "to": "2026-06-14"}, "from"),
        ({"from": "2026-06-08", "to": "2026-06-01"}, "to"),
        ({"from": "2026-01-01", "to": "2026-06-14"}, "to"),
        ({"from": "2026-06-08", "to": "2026-06-14", "userId": "me"}, "userId"),
        ({"from": "2026-06-08", "to": "2026-06-14", "status": "cancelled"}, "status"),
        ({"from": "0001-01-01", "to": "0001-01-07"}, "from"),
        ({"from": "2099-12-28", "to": "2100-01-03"}, "to"),
    ],
)
async def test_rota_query_is_validated(
    client: httpx.AsyncClient, world: World, params: dict[str, str], field: str
) -> None:
    headers = await login(client, world.users["manager"])
    for path in ("/api/shifts", "/api/shifts/planned-vs-worked"):
        if field == "status" and path.endswith("worked"):
            continue
        response = await client.get(path, params=params, headers=headers)
        error = error_of(response, 422, "validation_error")
        assert field in [d["field"] for d in error["details"]], (path, error)


async def test_planned_versus_worked_agrees_with_the_timesheet(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    headers = await login(client, world.users["manager"])
    waiter, cook = world.users["waiter"], world.users["kitchen_staff"]
    await planned(
        client,
        headers,
        body_of(waiter, utc(2026, 6, 8, 9), utc(2026, 6, 8, 17)),
        body_of(waiter, utc(2026, 6, 9, 9), utc(2026, 6, 9, 13)),
        # the last evening of the range runs past midnight: only 1 h falls in it
        body_of(cook, utc(2026, 6, 14, 22), utc(2026, 6, 15, 2)),
    )
    await publish(client, headers, WEEK)
    await planned(client, headers, body_of(waiter, utc(2026, 6, 10, 9), utc(2026, 6, 10, 11)))
    await add_entry(
        session,
        world,
        waiter,
        utc(2026, 6, 8, 9),
        utc(2026, 6, 8, 17, 30),
        breaks=[{"start": "2026-06-08T12:00:00+00:00", "end": "2026-06-08T12:30:00+00:00"}],
    )
    await add_entry(session, world, waiter, utc(2026, 6, 9, 9), utc(2026, 6, 9, 12, 45))
    await add_entry(
        session, world, world.users["cashier"], utc(2026, 6, 12, 9), utc(2026, 6, 12, 10)
    )
    params = {"from": "2026-06-08", "to": "2026-06-14"}
    response = await client.get("/api/shifts/planned-vs-worked", params=params, headers=headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    people = {p["userId"]: p for p in data["people"]}
    assert set(people) == {str(waiter.id), str(cook.id), str(world.users["cashier"].id)}
    mine = people[str(waiter.id)]
    assert (mine["shifts"], mine["plannedHours"], mine["draftHours"]) == (2, "12.00", "2.00")
    assert (mine["workedHours"], mine["differenceHours"]) == ("11.75", "-0.25")
    assert people[str(cook.id)]["plannedHours"] == "1.00"
    assert people[str(cook.id)]["workedHours"] == "0.00"
    assert people[str(world.users["cashier"].id)]["plannedHours"] == "0.00"
    assert data["totals"] == {
        "plannedHours": "13.00",
        "draftHours": "2.00",
        "workedHours": "12.75",
        "differenceHours": "-0.25",
    }
    sheet = await client.get(f"/api/users/{waiter.id}/timesheet", params=params, headers=headers)
    assert sheet.json()["data"]["totalHours"] == mine["workedHours"]
    only = await client.get(
        "/api/shifts/planned-vs-worked",
        params={**params, "userId": str(world.users["employee"].id)},
        headers=headers,
    )
    assert [(p["plannedHours"], p["workedHours"]) for p in only.json()["data"]["people"]] == [
        ("0.00", "0.00")
    ]
    owner = await client.get(
        "/api/shifts/planned-vs-worked",
        params={**params, "restaurantId": str(world.a1.id)},
        headers=await login(client, world.owner_a),
    )
    assert owner.json()["data"]["totals"] == data["totals"]


async def test_planned_versus_worked_in_the_week_the_clocks_go_back(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    # Week of Mon 19 Oct 2026 (BST) to Sun 25 Oct (GMT from 02:00, a 25-hour day).
    headers = await login(client, world.users["manager"])
    waiter, cook = world.users["waiter"], world.users["kitchen_staff"]
    night, early, late, next_week = await planned(
        client,
        headers,
        # Sat 22:00 BST to Sun 06:00 GMT: 8 hours on the wall clock, 9 really.
        body_of(waiter, utc(2026, 10, 24, 21), utc(2026, 10, 25, 6)),
        # Mon 00:30 BST is Sun 18 Oct 23:30 UTC: the first shift of the week.
        body_of(waiter, utc(2026, 10, 18, 23, 30), utc(2026, 10, 19, 3, 30)),
        # Sun 23:00 GMT to Mon 02:00: in the week; 1 hour before the range ends.
        body_of(cook, utc(2026, 10, 25, 23), utc(2026, 10, 26, 2)),
        # Mon 26 Oct 00:30 GMT: the next week, left a draft.
        body_of(waiter, utc(2026, 10, 26, 0, 30), utc(2026, 10, 26, 4)),
    )
    assert night["hours"] == "9.00"
    published = (await publish(client, headers, "2026-10-19")).json()["data"]
    assert (published["published"], published["alreadyPublished"]) == (3, 0)
    shown = await client.get(
        "/api/shifts", params={"from": "2026-10-19", "to": "2026-10-26"}, headers=headers
    )
    assert [(s["id"], s["status"]) for s in shown.json()["data"]] == [
        (early["id"], "published"),
        (night["id"], "published"),
        (late["id"], "published"),
        (next_week["id"], "draft"),
    ]
    # Worked the night exactly as planned, and 1 hour of an unplanned Monday.
    await add_entry(session, world, waiter, utc(2026, 10, 24, 21), utc(2026, 10, 25, 6))
    await add_entry(session, world, waiter, utc(2026, 10, 19, 8), utc(2026, 10, 19, 9))
    params = {"from": "2026-10-19", "to": "2026-10-25"}
    response = await client.get("/api/shifts/planned-vs-worked", params=params, headers=headers)
    assert response.status_code == 200, response.text
    people = {p["userId"]: p for p in response.json()["data"]["people"]}
    mine = people[str(waiter.id)]
    assert (mine["shifts"], mine["plannedHours"], mine["workedHours"]) == (2, "13.00", "10.00")
    assert mine["draftHours"] == "0.00"  # next week's draft is outside the range
    assert mine["differenceHours"] == "-3.00"
    assert (people[str(cook.id)]["plannedHours"], people[str(cook.id)]["draftHours"]) == (
        "1.00",
        "0.00",
    )
    sheet = await client.get(f"/api/users/{waiter.id}/timesheet", params=params, headers=headers)
    days = {d["date"]: d["hours"] for d in sheet.json()["data"]["days"]}
    # 23:00 UTC on the 24th is local midnight (BST): 2 hours on the 24th, 7 on the 25th.
    assert days == {"2026-10-19": "1.00", "2026-10-24": "2.00", "2026-10-25": "7.00"}


async def test_changing_a_published_shift_tells_the_people_concerned(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    headers = await login(client, world.users["manager"])
    waiter, cook = world.users["waiter"], world.users["kitchen_staff"]
    draft, shift = await planned(
        client,
        headers,
        body_of(cook, utc(2026, 6, 15, 9), utc(2026, 6, 15, 17)),  # next week: stays a draft
        body_of(waiter, utc(2026, 6, 8, 9), utc(2026, 6, 8, 17)),
    )
    await publish(client, headers, WEEK)

    async def changes() -> list[dict[str, Any]]:
        await session.commit()
        events = await session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.event_type == "notification")
            .order_by(OutboxEvent.created_at)
        )
        return [e.payload for e in events if e.payload.get("kind") == "rota_changed"]

    moved = body_of(waiter, utc(2026, 6, 15, 8), utc(2026, 6, 15, 12))
    response = await client.put(
        f"/api/shifts/{draft['id']}", json={**moved, "version": 1}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["status"] == "draft"
    assert await changes() == []  # nobody was told of a draft, so nobody is told it moved
    body = {**body_of(cook, utc(2026, 6, 8, 10), utc(2026, 6, 8, 18)), "version": 2}
    response = await client.put(f"/api/shifts/{shift['id']}", json=body, headers=headers)
    assert response.json()["data"]["status"] == "published"
    (changed,) = await changes()
    assert (changed["change"], changed["shiftId"]) == ("updated", shift["id"])
    assert changed["userIds"] == sorted([str(waiter.id), str(cook.id)])
    assert "Mon 08 Jun 11:00 to Mon 08 Jun 19:00 Europe/London" in changed["message"]
    assert changed["from"]["userId"] == str(world.users["manager"].id)
    response = await client.delete(f"/api/shifts/{shift['id']}", headers=headers)
    assert response.status_code == 200, response.text
    assert [(c["change"], c["userIds"]) for c in await changes()] == [
        ("updated", sorted([str(waiter.id), str(cook.id)])),
        ("deleted", [str(cook.id)]),
    ]
    await client.delete(f"/api/shifts/{draft['id']}", headers=headers)
    assert len(await changes()) == 2


async def test_the_owner_plans_changes_publishes_and_copies_with_a_restaurant_id(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    headers = await login(client, world.owner_a)
    params = {"restaurantId": str(world.a1.id)}
    waiter = world.users["waiter"]
    response = await plan(
        client, headers, body_of(waiter, utc(2026, 6, 8, 9), utc(2026, 6, 8, 17)), **params
    )
    assert response.status_code == 201, response.text
    (shift,) = response.json()["data"]
    # Publishing the owner's other restaurant's week leaves A1's draft alone.
    response = await client.post(
        "/api/shifts/publish",
        json={"weekStart": WEEK},
        params={"restaurantId": str(world.a2.id)},
        headers=headers,
    )
    assert response.json()["data"]["published"] == 0
    response = await client.post(
        "/api/shifts/publish", json={"weekStart": WEEK}, params=params, headers=headers
    )
    assert response.json()["data"]["published"] == 1
    body = {**body_of(waiter, utc(2026, 6, 8, 10), utc(2026, 6, 8, 18)), "version": 2}
    response = await client.put(
        f"/api/shifts/{shift['id']}", json=body, params=params, headers=headers
    )
    assert response.status_code == 200, response.text
    response = await client.post(
        "/api/shifts/copy-week",
        json={"fromWeek": WEEK, "toWeek": "2026-06-15"},
        params=params,
        headers=headers,
    )
    assert response.status_code == 201, response.text
    (copy,) = response.json()["data"]["created"]
    response = await client.delete(f"/api/shifts/{copy['id']}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    # A2, the owner's other restaurant, has none of A1's rota.
    response = await client.get(
        "/api/shifts",
        params={"from": "2026-06-08", "to": "2026-06-21", "restaurantId": str(world.a2.id)},
        headers=headers,
    )
    assert response.json()["data"] == []
    assert await count(session, select(func.count()).select_from(Shift)) == 1


async def test_worked_hours_are_the_sum_of_the_timesheet_days(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    # 1 h 0 min 20 s on each of three days: every day shows 1.01 on the timesheet, so the
    # worked hours are 3.03 (rounding the 3 h 1 min once would give 3.02).
    waiter = world.users["waiter"]
    for day in (8, 9, 10):
        await add_entry(session, world, waiter, utc(2026, 6, day, 9), utc(2026, 6, day, 10, 0, 20))
    headers = await login(client, world.users["manager"])
    params = {"from": "2026-06-08", "to": "2026-06-10"}
    sheet = (
        await client.get(f"/api/users/{waiter.id}/timesheet", params=params, headers=headers)
    ).json()["data"]
    mine = {**params, "userId": str(waiter.id)}
    response = await client.get("/api/shifts/planned-vs-worked", params=mine, headers=headers)
    (person,) = response.json()["data"]["people"]
    assert [d["hours"] for d in sheet["days"]] == ["1.01", "1.01", "1.01"]
    assert person["workedHours"] == "3.03"
    assert response.json()["data"]["totals"]["workedHours"] == "3.03"
    assert sheet["totalHours"] == "3.02"  # the entries' own total, rounded once


async def test_an_owner_is_not_booked_twice_across_their_restaurants(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    owner = world.owner_a
    headers = await login(client, owner)
    a1, a2 = {"restaurantId": str(world.a1.id)}, {"restaurantId": str(world.a2.id)}
    response = await plan(
        client, headers, body_of(owner, utc(2026, 6, 8, 8), utc(2026, 6, 8, 16)), **a1
    )
    assert response.status_code == 201, response.text
    (first,) = response.json()["data"]
    response = await plan(
        client, headers, body_of(owner, utc(2026, 6, 8, 15), utc(2026, 6, 8, 20)), **a2
    )
    error = error_of(response, 409, "shift_overlap")
    assert error["details"]["overlapsShiftId"] == first["id"]
    assert error["details"]["overlapsRestaurantId"] == str(world.a1.id)
    assert f" at {world.a1.name} (" in error["message"]
    # Back to back in the other restaurant is fine; moving it over the first is not.
    response = await plan(
        client, headers, body_of(owner, utc(2026, 6, 8, 16), utc(2026, 6, 8, 20)), **a2
    )
    assert response.status_code == 201, response.text
    (second,) = response.json()["data"]
    body = {**body_of(owner, utc(2026, 6, 8, 14), utc(2026, 6, 8, 20)), "version": 1}
    path = f"/api/shifts/{second['id']}"
    response = await client.put(path, json=body, headers=headers, params=a2)
    error = error_of(response, 409, "shift_overlap")
    assert error["details"]["overlapsRestaurantId"] == str(world.a1.id)
    # Within one restaurant the answer names no other restaurant.
    response = await plan(
        client, headers, body_of(owner, utc(2026, 6, 8, 9), utc(2026, 6, 8, 10)), **a1
    )
    assert error_of(response, 409, "shift_overlap")["details"]["overlapsRestaurantId"] is None


async def test_concurrent_plans_in_two_restaurants_book_an_owner_once(
    app: FastAPI, client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    # Each restaurant's rota lock covers that restaurant only; the person's lock makes the
    # second planner wait and then see the first shift.
    owner = world.owner_a
    headers = await login(client, owner)
    async with make_client(app) as other:
        responses = await asyncio.gather(
            plan(
                client,
                headers,
                body_of(owner, utc(2026, 6, 8, 9), utc(2026, 6, 8, 17)),
                restaurantId=str(world.a1.id),
            ),
            plan(
                other,
                headers,
                body_of(owner, utc(2026, 6, 8, 12), utc(2026, 6, 8, 20)),
                restaurantId=str(world.a2.id),
            ),
        )
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    total = await count(
        session, select(func.count()).select_from(Shift).where(Shift.user_id == owner.id)
    )
    assert total == 1
