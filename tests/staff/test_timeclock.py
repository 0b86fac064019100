"""The time clock over HTTP: who may clock whom, breaks, timesheets, corrections, races."""

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
from fynlo.models import AuditLog, RestaurantSettings, TimeEntry, User
from tests.conftest import make_client
from tests.world import World, login

STAFF = ("manager", "captain", "cashier", "waiter", "kitchen_staff", "employee")


def url(user: User | uuid.UUID | str, action: str) -> str:
    user_id = user.id if isinstance(user, User) else user
    return f"/api/users/{user_id}/{action}"


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def add_entry(
    session: AsyncSession,
    world: World,
    user: User,
    clock_in: datetime,
    clock_out: datetime | None,
    rate: int = 1000,
    breaks: list[dict[str, Any]] | None = None,
) -> TimeEntry:
    entry = TimeEntry(
        restaurant_id=world.a1.id,
        user_id=user.id,
        clock_in=clock_in,
        clock_out=clock_out,
        breaks=breaks or [],
        hourly_rate_minor=rate,
    )
    session.add(entry)
    await session.commit()
    return entry


async def set_pos(session: AsyncSession, world: World, **pos: Any) -> None:
    await session.execute(
        update(RestaurantSettings)
        .where(RestaurantSettings.restaurant_id == world.a1.id)
        .values(pos_settings=pos)
    )
    await session.commit()


@pytest.mark.parametrize("role", STAFF)
async def test_everyone_clocks_themselves_in_and_out(
    client: httpx.AsyncClient, world: World, role: str
) -> None:
    me = world.users[role]
    headers = await login(client, me)
    response = await client.post(url(me, "clock-in"), headers=headers)
    assert response.status_code == 201, response.text
    entry = response.json()["data"]
    assert entry["userId"] == str(me.id)
    assert entry["clockOut"] is None
    assert entry["forgottenClockOut"] is False
    response = await client.post(url(me, "clock-out"), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["clockOut"] is not None
    assert response.json()["data"]["version"] == 2


@pytest.mark.parametrize("role", ["captain", "cashier", "waiter", "kitchen_staff", "employee"])
async def test_staff_cannot_clock_someone_else(
    client: httpx.AsyncClient, world: World, role: str
) -> None:
    headers = await login(client, world.users[role])
    other = world.users["manager"]
    for action in ("clock-in", "clock-out", "breaks/start", "breaks/end"):
        error_of(await client.post(url(other, action), headers=headers), 403, "permission_denied")
    response = await client.get(
        url(other, "timesheet"), params={"from": "2026-01-01", "to": "2026-01-02"}, headers=headers
    )
    error_of(response, 403, "permission_denied")


@pytest.mark.parametrize("who", ["manager", "owner_a"])
async def test_managers_and_owners_clock_anyone_of_their_restaurant(
    client: httpx.AsyncClient, world: World, who: str
) -> None:
    user = world.owner_a if who == "owner_a" else world.users[who]
    headers = await login(client, user)
    params = {"restaurantId": str(world.a1.id)}
    waiter = world.users["waiter"]
    response = await client.post(url(waiter, "clock-in"), headers=headers, params=params)
    assert response.status_code == 201, response.text
    response = await client.post(url(waiter, "clock-out"), headers=headers, params=params)
    assert response.status_code == 200, response.text


async def test_a_role_without_timeclock_is_refused(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    waiter = world.users["waiter"]
    await session.execute(
        update(User).where(User.id == waiter.id).values(permissions={"revoke": ["staff.timeclock"]})
    )
    await session.commit()
    headers = await login(client, waiter)
    error_of(await client.post(url(waiter, "clock-in"), headers=headers), 403, "permission_denied")


async def test_another_tenants_people_and_unknown_ids_are_404(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = await login(client, world.other_manager)
    for action in ("clock-in", "clock-out", "breaks/start", "breaks/end"):
        response = await client.post(url(world.users["waiter"], action), headers=headers)
        error_of(response, 404, "not_found")
    response = await client.get(
        url(world.users["waiter"], "timesheet"),
        params={"from": "2026-01-01", "to": "2026-01-02"},
        headers=headers,
    )
    error_of(response, 404, "not_found")
    error_of(await client.post(url(uuid.uuid4(), "clock-in"), headers=headers), 404, "not_found")
    response = await client.post(url("not-a-uuid", "clock-in"), headers=headers)
    error_of(response, 422, "validation_error")
    error_of(await client.post(url(world.users["waiter"], "clock-in")), 401, "unauthorized")


async def test_one_open_entry_per_person(client: httpx.AsyncClient, world: World) -> None:
    me = world.users["cashier"]
    headers = await login(client, me)
    error_of(await client.post(url(me, "clock-out"), headers=headers), 409, "not_clocked_in")
    error_of(await client.post(url(me, "breaks/start"), headers=headers), 409, "not_clocked_in")
    assert (await client.post(url(me, "clock-in"), headers=headers)).status_code == 201
    error_of(await client.post(url(me, "clock-in"), headers=headers), 409, "already_clocked_in")


async def test_clock_in_is_idempotent_with_a_key(client: httpx.AsyncClient, world: World) -> None:
    me = world.users["waiter"]
    headers = {**await login(client, me), "Idempotency-Key": "till-1-clock-in"}
    first = await client.post(url(me, "clock-in"), headers=headers)
    again = await client.post(url(me, "clock-in"), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["data"]["id"] == again.json()["data"]["id"]


async def test_concurrent_clock_ins_make_one_entry(
    app: FastAPI, client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    me = world.users["employee"]
    headers = await login(client, me)
    async with make_client(app) as other:
        responses = await asyncio.gather(
            client.post(url(me, "clock-in"), headers=headers),
            other.post(url(me, "clock-in"), headers=headers),
        )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201, 409], [r.text for r in responses]
    refused = next(r for r in responses if r.status_code == 409)
    assert refused.json()["error"]["code"] == "already_clocked_in"
    count = await session.scalar(
        select(func.count()).select_from(TimeEntry).where(TimeEntry.user_id == me.id)
    )
    assert count == 1


async def test_breaks_one_at_a_time_unpaid_by_default(
    client: httpx.AsyncClient, world: World
) -> None:
    me = world.users["waiter"]
    headers = await login(client, me)
    await client.post(url(me, "clock-in"), headers=headers)
    error_of(await client.post(url(me, "breaks/end"), headers=headers), 409, "not_on_break")
    response = await client.post(url(me, "breaks/start"), headers=headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["onBreak"] is True
    assert data["breaks"][0]["paid"] is False
    error_of(await client.post(url(me, "breaks/start"), headers=headers), 409, "already_on_break")
    response = await client.post(url(me, "breaks/end"), headers=headers)
    assert response.json()["data"]["onBreak"] is False
    assert response.json()["data"]["breaks"][0]["end"] is not None
    # A break left running is ended by the clock-out.
    await client.post(url(me, "breaks/start"), headers=headers)
    data = (await client.post(url(me, "clock-out"), headers=headers)).json()["data"]
    assert data["onBreak"] is False
    assert len(data["breaks"]) == 2


async def test_breaks_are_paid_when_the_restaurant_says_so(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    await set_pos(session, world, paidBreaks=True)
    me = world.users["waiter"]
    headers = await login(client, me)
    await client.post(url(me, "clock-in"), headers=headers)
    response = await client.post(url(me, "breaks/start"), headers=headers)
    assert response.json()["data"]["breaks"][0]["paid"] is True


async def test_hourly_rate_comes_from_the_user_then_the_pos_default(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    me = world.users["waiter"]
    headers = await login(client, me)
    data = (await client.post(url(me, "clock-in"), headers=headers)).json()["data"]
    assert data["hourlyRate"] == 0
    await client.post(url(me, "clock-out"), headers=headers)
    await set_pos(session, world, defaultHourlyRate=11.44)
    data = (await client.post(url(me, "clock-in"), headers=headers)).json()["data"]
    assert data["hourlyRate"] == 11.44
    await client.post(url(me, "clock-out"), headers=headers)
    await session.execute(update(User).where(User.id == me.id).values(hourly_rate_minor=1275))
    await session.commit()
    data = (await client.post(url(me, "clock-in"), headers=headers)).json()["data"]
    assert data["hourlyRate"] == 12.75


async def test_timesheet_across_the_autumn_change_with_overtime(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    waiter = world.users["waiter"]
    # 24 Oct 18:00 BST to 25 Oct 08:00 GMT: 15 h; the 25th has 9 h, 1 over the daily 8.
    await add_entry(session, world, waiter, utc(2026, 10, 24, 17), utc(2026, 10, 25, 8), 1200)
    headers = await login(client, world.users["manager"])
    response = await client.get(
        url(waiter, "timesheet"), params={"from": "2026-10-24", "to": "2026-10-25"}, headers=headers
    )
    assert response.status_code == 200, response.text
    sheet = response.json()["data"]
    assert sheet["timezone"] == "Europe/London"
    assert sheet["from"] == "2026-10-24"
    assert sheet["totalHours"] == "15.00"
    assert sheet["overtimeHours"] == "1.00"
    assert sheet["regularHours"] == "14.00"
    assert sheet["grossPay"] == 186.00  # 14 * 12.00 + 1 * 18.00
    assert [(d["date"], d["hours"], d["overtimeHours"]) for d in sheet["days"]] == [
        ("2026-10-24", "6.00", "0.00"),
        ("2026-10-25", "9.00", "1.00"),
    ]
    assert sheet["entries"][0]["grossPay"] == 186.00
    assert sheet["rules"] == {
        "overtimeDailyHours": "8",
        "overtimeWeeklyHours": "40",
        "overtimeMultiplier": "1.5",
        "paidBreaks": False,
        "tipPooling": False,
    }
    assert sheet["tips"] == 0
    assert all(d["tips"] == 0 for d in sheet["days"])


async def test_own_timesheet_across_the_spring_change_with_an_unpaid_break(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    waiter = world.users["waiter"]
    # 28 Mar 20:00 GMT to 29 Mar 07:00 BST is 10 real hours, less 30 minutes of break.
    await add_entry(
        session,
        world,
        waiter,
        utc(2026, 3, 28, 20),
        utc(2026, 3, 29, 6),
        1000,
        breaks=[{"start": "2026-03-29T00:30:00+00:00", "end": "2026-03-29T01:00:00+00:00"}],
    )
    headers = await login(client, waiter)
    response = await client.get(
        url(waiter, "timesheet"), params={"from": "2026-03-28", "to": "2026-03-29"}, headers=headers
    )
    sheet = response.json()["data"]
    assert sheet["totalHours"] == "9.50"
    assert sheet["overtimeHours"] == "0.00"
    assert sheet["grossPay"] == 95.00
    assert [(d["date"], d["hours"]) for d in sheet["days"]] == [
        ("2026-03-28", "4.00"),
        ("2026-03-29", "5.50"),
    ]


async def test_forgotten_clock_out_is_flagged_not_closed(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    cook = world.users["kitchen_staff"]
    entry = await add_entry(session, world, cook, utc_now() - timedelta(hours=17), None)
    headers = await login(client, world.users["manager"])
    today = utc_now().date()
    response = await client.get(
        url(cook, "timesheet"),
        params={"from": str(today - timedelta(days=2)), "to": str(today + timedelta(days=1))},
        headers=headers,
    )
    (shown,) = response.json()["data"]["entries"]
    assert shown["forgottenClockOut"] is True
    assert shown["clockOut"] is None
    assert response.json()["data"]["totalHours"] == "0.00"
    await session.commit()
    stored = await session.get(TimeEntry, entry.id, populate_existing=True)
    assert stored is not None
    assert stored.clock_out is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"to": "2026-01-02"}, "from"),
        ({"from": "2026-13-01", "to": "2026-01-02"}, "from"),
        ({"from": "2026-01-05", "to": "2026-01-02"}, "to"),
        ({"from": "2026-01-01", "to": "2026-06-01"}, "to"),
        ({"from": "0001-01-01", "to": "0001-01-02"}, "from"),
        ({"from": "2099-12-30", "to": "2100-01-01"}, "to"),
    ],
)
async def test_timesheet_range_is_validated(
    client: httpx.AsyncClient, world: World, params: dict[str, str], field: str
) -> None:
    waiter = world.users["waiter"]
    headers = await login(client, waiter)
    response = await client.get(url(waiter, "timesheet"), params=params, headers=headers)
    error = error_of(response, 422, "validation_error")
    assert field in str(error["details"])


async def test_manager_corrects_an_entry_with_a_reason_and_an_audit_row(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    cook = world.users["kitchen_staff"]
    entry = await add_entry(session, world, cook, utc(2026, 5, 4, 8), None)
    headers = await login(client, world.users["manager"])
    body = {"clockOut": "2026-05-04T16:30:00+01:00", "reason": "forgot to clock out", "version": 1}
    response = await client.patch(f"/api/time-entries/{entry.id}", json=body, headers=headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["clockOut"].startswith("2026-05-04T15:30:00")
    assert data["totalHours"] == "7.50"
    assert data["version"] == 2
    assert data["correctionReason"] == "forgot to clock out"
    error_of(
        await client.patch(f"/api/time-entries/{entry.id}", json=body, headers=headers),
        409,
        "stale_version",
    )
    await session.commit()
    audit = (
        await session.scalars(
            select(AuditLog).where(
                AuditLog.resource_id == str(entry.id), AuditLog.action == "time_entry.corrected"
            )
        )
    ).one()
    assert audit.old_values is not None
    assert audit.new_values is not None
    assert audit.old_values["clockOut"] is None
    assert audit.new_values["clockOut"].startswith("2026-05-04T15:30:00")
    assert audit.new_values["reason"] == "forgot to clock out"


async def test_corrections_are_for_managers_of_the_restaurant(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    cook = world.users["kitchen_staff"]
    entry = await add_entry(session, world, cook, utc(2026, 5, 4, 8), utc(2026, 5, 4, 16))
    body = {"clockIn": "2026-05-04T07:00:00Z", "reason": "came early", "version": 1}
    path = f"/api/time-entries/{entry.id}"
    response = await client.patch(path, json=body, headers=await login(client, cook))
    error_of(response, 403, "permission_denied")
    response = await client.patch(path, json=body, headers=await login(client, world.other_manager))
    error_of(response, 404, "not_found")
    response = await client.patch(
        f"/api/time-entries/{uuid.uuid4()}",
        json=body,
        headers=await login(client, world.users["manager"]),
    )
    error_of(response, 404, "not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"clockOut": "2026-05-04T16:00:00Z", "version": 1}, "reason"),
        ({"clockOut": "2026-05-04T16:00:00Z", "reason": "x" * 3}, "version"),
        ({"clockOut": "2026-05-04T16:00:00", "reason": "naive", "version": 1}, "clockOut"),
        ({"clockOut": "yesterday", "reason": "words", "version": 1}, "clockOut"),
        ({"clockOut": "2026-05-04T07:00:00Z", "reason": "before", "version": 1}, "clockOut"),
        ({"clockOut": "2026-05-05T09:00:00Z", "reason": "too long", "version": 1}, "clockOut"),
        ({"clockOut": "2099-01-01T00:00:00Z", "reason": "future", "version": 1}, "clockOut"),
        ({"reason": "ok reason", "version": 0}, "version"),
        ({"reason": "ok reason", "version": "one"}, "version"),
        ({"reason": "ok reason", "version": 1, "userId": str(uuid.uuid4())}, "userId"),
        (
            {
                "breaks": [{"start": "2026-05-04T07:00:00Z", "end": "2026-05-04T07:30:00Z"}],
                "reason": "outside",
                "version": 1,
            },
            "breaks.0",
        ),
    ],
)
async def test_correction_bodies_are_validated(
    client: httpx.AsyncClient,
    world: World,
    session: AsyncSession,
    body: dict[str, Any],
    field: str,
) -> None:
    cook = world.users["kitchen_staff"]
    entry = await add_entry(session, world, cook, utc(2026, 5, 4, 8), None)
    headers = await login(client, world.users["manager"])
    response = await client.patch(f"/api/time-entries/{entry.id}", json=body, headers=headers)
    error = error_of(response, 422, "validation_error")
    assert field in str(error["details"]), error
