"""The time clock over HTTP: who may clock whom, breaks, timesheets, corrections, races."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.db.types import utc_now
from fynlo.models import AuditLog, Restaurant, RestaurantSettings, TimeEntry, User
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
    restaurant: Restaurant | None = None,
) -> TimeEntry:
    entry = TimeEntry(
        restaurant_id=(restaurant or world.a1).id,
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


async def audits_of(session: AsyncSession, entry: TimeEntry, action: str) -> int:
    """Audit rows of the entry, read in a transaction of its own (ended before returning,
    so the test's next write does not upgrade a stale SQLite snapshot)."""
    await session.commit()
    found = await session.scalar(
        select(func.count())
        .select_from(AuditLog)
        .where(AuditLog.resource_id == str(entry.id), AuditLog.action == action)
    )
    await session.commit()
    return int(found or 0)


async def test_a_correction_may_not_make_entries_of_one_person_overlap(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    waiter = world.users["waiter"]
    morning = await add_entry(session, world, waiter, utc(2026, 6, 8, 9), utc(2026, 6, 8, 12))
    afternoon = await add_entry(session, world, waiter, utc(2026, 6, 8, 12), utc(2026, 6, 8, 16))
    headers = await login(client, world.users["manager"])

    async def correct(entry: TimeEntry, **times: str) -> httpx.Response:
        body = {**times, "reason": "fix the times", "version": 1}
        return await client.patch(f"/api/time-entries/{entry.id}", json=body, headers=headers)

    # Moving the clock-out to 13:00 would pay 12:00-13:00 twice.
    error = error_of(
        await correct(morning, clockOut="2026-06-08T13:00:00Z"), 409, "time_entries_overlap"
    )
    assert error["details"]["timeEntryId"] == str(morning.id)
    assert error["details"]["overlapsTimeEntryId"] == str(afternoon.id)
    assert error["details"]["restaurantId"] == str(world.a1.id)
    assert error["details"]["clockIn"].startswith("2026-06-08T12:00:00")
    assert str(afternoon.id) in error["message"]
    assert "2026-06-08 12:00 to 2026-06-08 16:00 UTC" in error["message"]
    # Moving the other entry's clock-in back, or swallowing it whole, is the same conflict.
    error = error_of(
        await correct(afternoon, clockIn="2026-06-08T11:59:00Z"), 409, "time_entries_overlap"
    )
    assert error["details"]["overlapsTimeEntryId"] == str(morning.id)
    error_of(
        await correct(morning, clockIn="2026-06-08T08:00:00Z", clockOut="2026-06-08T17:00:00Z"),
        409,
        "time_entries_overlap",
    )
    # Nothing was written by the refusals.
    assert await audits_of(session, morning, "time_entry.corrected") == 0
    assert await audits_of(session, afternoon, "time_entry.corrected") == 0
    # Back to back is fine; so is another person at the same time.
    response = await correct(morning, clockIn="2026-06-08T08:00:00Z")
    assert response.status_code == 200, response.text
    other = await add_entry(
        session, world, world.users["cashier"], utc(2026, 6, 8, 9), utc(2026, 6, 8, 12)
    )
    assert (await correct(other, clockOut="2026-06-08T15:00:00Z")).status_code == 200
    sheet = await client.get(
        url(waiter, "timesheet"), params={"from": "2026-06-08", "to": "2026-06-08"}, headers=headers
    )
    assert sheet.json()["data"]["totalHours"] == "8.00"


async def test_an_open_entry_runs_on_for_the_overlap_check(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    cook = world.users["kitchen_staff"]
    now = utc_now().replace(microsecond=0)
    earlier = await add_entry(
        session, world, cook, now - timedelta(hours=6), now - timedelta(hours=4)
    )
    running = await add_entry(session, world, cook, now - timedelta(hours=3), None)
    headers = await login(client, world.users["manager"])
    # The closed entry may not be stretched into the running one...
    body = {
        "clockOut": (now - timedelta(hours=1)).isoformat(),
        "reason": "left later",
        "version": 1,
    }
    response = await client.patch(f"/api/time-entries/{earlier.id}", json=body, headers=headers)
    error = error_of(response, 409, "time_entries_overlap")
    assert error["details"]["overlapsTimeEntryId"] == str(running.id)
    assert error["details"]["clockOut"] is None
    assert "still open" in error["message"]
    # ... nor the running one moved back over the closed one.
    body = {"clockIn": (now - timedelta(hours=5)).isoformat(), "reason": "came early", "version": 1}
    response = await client.patch(f"/api/time-entries/{running.id}", json=body, headers=headers)
    assert error_of(response, 409, "time_entries_overlap")["details"]["overlapsTimeEntryId"] == (
        str(earlier.id)
    )
    body["clockIn"] = (now - timedelta(hours=4)).isoformat()
    response = await client.patch(f"/api/time-entries/{running.id}", json=body, headers=headers)
    assert response.status_code == 200, response.text


async def test_an_owners_entries_overlap_across_their_restaurants(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    owner = world.owner_a
    here = await add_entry(session, world, owner, utc(2026, 6, 8, 9), utc(2026, 6, 8, 12))
    there = await add_entry(
        session, world, owner, utc(2026, 6, 8, 13), utc(2026, 6, 8, 17), restaurant=world.a2
    )
    body = {"clockOut": "2026-06-08T14:00:00Z", "reason": "stayed on", "version": 1}
    response = await client.patch(
        f"/api/time-entries/{here.id}",
        json=body,
        params={"restaurantId": str(world.a1.id)},
        headers=await login(client, owner),
    )
    error = error_of(response, 409, "time_entries_overlap")
    assert error["details"]["overlapsTimeEntryId"] == str(there.id)
    assert error["details"]["restaurantId"] == str(world.a2.id)


async def test_concurrent_corrections_cannot_make_entries_overlap(
    app: FastAPI, client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    # Each correction alone is fine (09-13 against 14-16, 12-16 against 09-11); together
    # they would share 12:00-13:00. The person's lock lets one through.
    waiter = world.users["waiter"]
    first = await add_entry(session, world, waiter, utc(2026, 6, 8, 9), utc(2026, 6, 8, 11))
    second = await add_entry(session, world, waiter, utc(2026, 6, 8, 14), utc(2026, 6, 8, 16))
    headers = await login(client, world.users["manager"])
    async with make_client(app) as other:
        responses = await asyncio.gather(
            client.patch(
                f"/api/time-entries/{first.id}",
                json={"clockOut": "2026-06-08T13:00:00Z", "reason": "stayed", "version": 1},
                headers=headers,
            ),
            other.patch(
                f"/api/time-entries/{second.id}",
                json={"clockIn": "2026-06-08T12:00:00Z", "reason": "came early", "version": 1},
                headers=headers,
            ),
        )
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    refused = next(r for r in responses if r.status_code == 409)
    assert refused.json()["error"]["code"] == "time_entries_overlap"


@pytest.mark.parametrize(("hours_open", "refused"), [(15, False), (17, True), (72, True)])
async def test_a_forgotten_clock_out_is_closed_by_a_manager_only(
    client: httpx.AsyncClient, world: World, session: AsyncSession, hours_open: int, refused: bool
) -> None:
    waiter = world.users["waiter"]
    clock_in = utc_now() - timedelta(hours=hours_open)
    entry = await add_entry(session, world, waiter, clock_in, None)
    mine = await login(client, waiter)
    response = await client.post(url(waiter, "clock-out"), headers=mine)
    if not refused:
        assert response.status_code == 200, response.text
        assert Decimal(response.json()["data"]["totalHours"]) == hours_open
        return
    error = error_of(response, 409, "forgotten_clock_out")
    assert error["details"]["timeEntryId"] == str(entry.id)
    assert error["details"]["correction"] == f"/api/time-entries/{entry.id}"
    assert f"PATCH /api/time-entries/{entry.id}" in error["message"]
    manager = await login(client, world.users["manager"])
    # Nobody closes it with "now": not the manager through clock-out either; no breaks, and
    # no new clock-in while it is open.
    response = await client.post(url(waiter, "clock-out"), headers=manager)
    error_of(response, 409, "forgotten_clock_out")
    for action in ("breaks/start", "breaks/end", "clock-in"):
        error_of(await client.post(url(waiter, action), headers=mine), 409, "forgotten_clock_out")
    await session.commit()
    stored = await session.get(TimeEntry, entry.id, populate_existing=True)
    assert stored is not None
    assert (stored.clock_out, stored.version, stored.breaks) == (None, 1, [])
    # The manager corrects it with the real time; then the person clocks in again.
    body = {
        "clockOut": (clock_in + timedelta(hours=8)).isoformat(),
        "reason": "forgot to clock out",
        "version": 1,
    }
    response = await client.patch(f"/api/time-entries/{entry.id}", json=body, headers=manager)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["totalHours"] == "8.00"
    assert (await client.post(url(waiter, "clock-in"), headers=mine)).status_code == 201


async def test_entry_gross_pay_adds_up_to_the_total(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    # 20 minutes at 10.01/h is 3.33666..: three of them are 10.01 exactly, rounded once.
    # Rounding each apart would show 3.34 three times (10.02); the largest-remainder split
    # gives the odd pennies to the earlier entries.
    waiter = world.users["waiter"]
    for hour in (9, 11, 13):
        await add_entry(
            session, world, waiter, utc(2026, 6, 8, hour), utc(2026, 6, 8, hour, 20), rate=1001
        )
    response = await client.get(
        url(waiter, "timesheet"),
        params={"from": "2026-06-08", "to": "2026-06-08"},
        headers=await login(client, world.users["manager"]),
    )
    sheet = response.json()["data"]
    assert [e["grossPay"] for e in sheet["entries"]] == [3.34, 3.34, 3.33]
    assert sheet["grossPay"] == 10.01


@pytest.mark.parametrize(
    "pos",
    [
        {"overtimeDailyHours": "1e999999"},
        {"overtimeWeeklyHours": "1e999999"},
        {"overtimeMultiplier": "1e5000", "overtimeDailyHours": 1},
        {"overtimeDailyHours": 25, "overtimeWeeklyHours": 169, "overtimeMultiplier": 0.5},
    ],
)
async def test_out_of_range_overtime_settings_fall_back_to_the_defaults(
    client: httpx.AsyncClient, world: World, session: AsyncSession, pos: dict[str, Any]
) -> None:
    await set_pos(session, world, **pos)
    waiter = world.users["waiter"]
    # 10 hours on a Monday: 2 of them daily overtime under the default rule.
    await add_entry(session, world, waiter, utc(2026, 6, 8, 8), utc(2026, 6, 8, 18))
    response = await client.get(
        url(waiter, "timesheet"),
        params={"from": "2026-06-08", "to": "2026-06-08"},
        headers=await login(client, world.users["manager"]),
    )
    assert response.status_code == 200, response.text
    sheet = response.json()["data"]
    rules = sheet["rules"]
    daily = "1" if pos.get("overtimeDailyHours") == 1 else "8"
    assert (rules["overtimeDailyHours"], rules["overtimeWeeklyHours"]) == (daily, "40")
    assert rules["overtimeMultiplier"] == "1.5"
    assert sheet["overtimeHours"] == ("9.00" if daily == "1" else "2.00")


@pytest.mark.parametrize(
    ("setting", "rate"),
    [
        ("1e20", 0),
        ("1e999999", 0),
        ("1e-999999", 0),
        (-5, 0),
        ("1000000.01", 0),
        ("11.445", 0),  # finer than a penny
        ("1000000", 1_000_000),
        (9.5, 9.5),
    ],
)
async def test_default_hourly_rate_is_bounded(
    client: httpx.AsyncClient,
    world: World,
    session: AsyncSession,
    setting: object,
    rate: float,
) -> None:
    await set_pos(session, world, defaultHourlyRate=setting)
    waiter = world.users["waiter"]
    response = await client.post(url(waiter, "clock-in"), headers=await login(client, waiter))
    assert response.status_code == 201, response.text
    assert response.json()["data"]["hourlyRate"] == rate
