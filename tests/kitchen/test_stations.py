"""Kitchen stations (set up, opened, paused, closed) and the ticket log with reprints."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models import (
    AuditLog,
    HardwareDevice,
    KitchenStation,
    KitchenTicket,
    OutboxEvent,
    PrintJob,
)
from tests.conftest import make_client
from tests.kitchen.test_display import placed
from tests.kitchen.test_tickets import line, menu
from tests.world import World, login

STATIONS = "/api/kitchen/stations"
TICKETS = "/api/kitchen/tickets"


async def make_station(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    created = await client.post(STATIONS, json=body, headers=headers)
    assert created.status_code == 201, created.text
    data: dict[str, Any] = created.json()["data"]
    return data


async def station_events(session: AsyncSession) -> list[dict[str, Any]]:
    await session.commit()
    rows = await session.scalars(
        select(OutboxEvent).where(OutboxEvent.event_type == "kitchen_station_updated")
    )
    return [e.payload for e in rows.all()]


async def test_a_manager_sets_up_stations_and_the_kitchen_opens_and_closes_them(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    manager = await login(client, world.users["manager"])
    cook = await login(client, world.users["kitchen_staff"])
    grill = await make_station(client, manager, code="grill", name="Grill", sortOrder=2)
    assert grill["status"] == "open"
    assert grill["isDefault"] is False
    assert grill["activeItems"] == 0
    kitchen = await make_station(client, manager, code="kitchen", name="Kitchen", isDefault=True)
    cold = await make_station(client, manager, code="cold", name="Cold", sortOrder=1)

    listed = await client.get(STATIONS, headers=cook)
    assert listed.status_code == 200
    assert [s["code"] for s in listed.json()["data"]] == ["kitchen", "cold", "grill"]

    # The default moves: one default station at a time.
    moved = await client.put(f"{STATIONS}/{cold['id']}", json={"isDefault": True}, headers=manager)
    assert moved.status_code == 200, moved.text
    assert moved.json()["data"]["isDefault"] is True
    await session.commit()
    defaults = (
        await session.scalars(
            select(KitchenStation.code).where(
                KitchenStation.restaurant_id == world.a1.id, KitchenStation.is_default.is_(True)
            )
        )
    ).all()
    assert defaults == ["cold"]
    listed = {s["code"]: s for s in (await client.get(STATIONS, headers=cook)).json()["data"]}
    assert listed["kitchen"]["isDefault"] is False
    assert listed["kitchen"]["version"] == kitchen["version"] + 1
    # The station that gave up the default says so too: an event and an audit row.
    gave_up = [e for e in await station_events(session) if e["code"] == "kitchen"]
    assert {e["isDefault"] for e in gave_up} == {True, False}  # made default, gave it up
    audits = (
        await session.scalars(
            select(AuditLog).where(
                AuditLog.action == "kitchen_station.updated",
                AuditLog.resource_id == kitchen["id"],
            )
        )
    ).all()
    assert [
        ((a.old_values or {})["isDefault"], (a.new_values or {})["isDefault"]) for a in audits
    ] == [(True, False)]

    paused = await client.post(
        f"{STATIONS}/{grill['id']}/status",
        json={"status": "paused", "reason": "gas engineer"},
        headers=cook,
    )
    assert paused.status_code == 200, paused.text
    assert paused.json()["data"]["status"] == "paused"
    assert paused.json()["data"]["statusReason"] == "gas engineer"
    closed = await client.post(
        f"{STATIONS}/{grill['id']}/status", json={"status": "closed"}, headers=cook
    )
    assert closed.json()["data"]["status"] == "closed"
    events = await station_events(session)
    # Each event names the status it left, so the pair shows the order of the changes.
    assert {(e["code"], e["status"], e["previousStatus"]) for e in events} >= {
        ("grill", "paused", "open"),
        ("grill", "closed", "paused"),
    }

    # A closed grill: burgers go to the default station (cold).
    m = await menu(session, world)
    waiter = await login(client, world.users["waiter"])
    order = await placed(client, waiter, [line(m["burger"])])
    assert {i["kitchenStation"] for i in order["items"]} == {"grill"}  # as taken
    board = await client.get("/api/kitchen/orders", params={"station": "cold"}, headers=cook)
    assert [o["orderId"] for o in board.json()["data"]["activeOrders"]] == [order["id"]]
    counts = {
        s["code"]: s["activeItems"]
        for s in (await client.get(STATIONS, headers=cook)).json()["data"]
    }
    assert counts == {"kitchen": 0, "cold": 1, "grill": 0}

    busy = await client.delete(f"{STATIONS}/{cold['id']}", headers=manager)
    assert busy.status_code == 409
    assert "1 item(s) to cook" in busy.json()["error"]["message"]
    removed = await client.delete(f"{STATIONS}/{grill['id']}", headers=manager)
    assert removed.status_code == 200, removed.text
    assert [e["code"] for e in await station_events(session) if e["deleted"]] == ["grill"]
    assert [s["code"] for s in (await client.get(STATIONS, headers=cook)).json()["data"]] == [
        "kitchen",
        "cold",
    ]
    # The grill is gone: burgers still reach a screen, the default station's.
    later = await placed(client, waiter, [line(m["burger"])])
    detail = await client.get(f"/api/orders/{later['id']}", headers=waiter)
    assert {i["kitchenStation"] for i in detail.json()["data"]["items"]} == {"cold"}


async def default_history(session: AsyncSession, station_id: str) -> list[tuple[Any, Any]]:
    """A station's ``isDefault`` changes as its audit rows tell them, in commit order."""
    await session.commit()
    rows = await session.scalars(
        select(AuditLog)
        .where(AuditLog.resource_type == "kitchen_station", AuditLog.resource_id == station_id)
        .order_by(AuditLog.seq)
    )
    return [
        ((a.old_values or {}).get("isDefault"), (a.new_values or {}).get("isDefault"))
        for a in rows.all()
    ]


async def test_concurrent_default_moves_queue_and_the_later_one_wins(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    manager = await login(client, world.users["manager"])

    async def defaults() -> list[str]:
        await session.commit()
        rows = await session.scalars(
            select(KitchenStation.code).where(
                KitchenStation.restaurant_id == world.a1.id, KitchenStation.is_default.is_(True)
            )
        )
        return list(rows.all())

    async def race(*calls: Any, codes: tuple[int, int] = (201, 201)) -> list[dict[str, Any]]:
        responses = await asyncio.gather(*calls)
        assert tuple(r.status_code for r in responses) == codes, [r.text for r in responses]
        return [r.json()["data"] for r in responses]

    def create(c: httpx.AsyncClient, code: str) -> Any:
        body = {"code": code, "name": code.title(), "isDefault": True}
        return c.post(STATIONS, json=body, headers=manager)

    def move(c: httpx.AsyncClient, station: dict[str, Any]) -> Any:
        return c.put(f"{STATIONS}/{station['id']}", json={"isDefault": True}, headers=manager)

    async def one_winner(*contenders: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Exactly one default, one of the two; the other got it first and gave it up."""
        (default,) = await defaults()
        winner = next(s for s in contenders if s["code"] == default)
        loser = next(s for s in contenders if s["code"] != default)
        history = await default_history(session, loser["id"])
        assert history[-2][1] is True, history
        assert history[-1] == (True, False), history
        return winner, loser

    async with make_client(app) as other:
        # A restaurant without stations: both first stations ask to be the default.
        grill, cold = await race(create(client, "grill"), create(other, "cold"))
        first, earlier = await one_winner(grill, cold)
        assert (await default_history(session, earlier["id"])) == [(None, True), (True, False)]
        assert (await default_history(session, first["id"])) == [(None, True)]

        # With a default in place: it gives it up once, to whichever came first.
        bar, fry = await race(create(client, "bar"), create(other, "fry"))
        second, earlier = await one_winner(bar, fry)
        assert (await default_history(session, earlier["id"])) == [(None, True), (True, False)]
        assert (await default_history(session, first["id"]))[1:] == [(True, False)]

        # Moving the default by update, twice at once, to two stations that do not have it.
        await race(move(client, grill), move(other, cold), codes=(200, 200))
        _, earlier = await one_winner(grill, cold)
        assert (await default_history(session, earlier["id"]))[-2:] == [
            (False, True),
            (True, False),
        ]
        assert (await default_history(session, second["id"]))[1:] == [(True, False)]

        # A create and a move at once.
        created, _ = await race(create(client, "pass"), move(other, bar), codes=(201, 200))
        await one_winner(created, bar)

        # Two creates of one code at once: the later one is told why, naming `code`.
        twice = await asyncio.gather(
            client.post(STATIONS, json={"code": "wok", "name": "Wok"}, headers=manager),
            other.post(STATIONS, json={"code": "wok", "name": "Wok 2"}, headers=manager),
        )
        assert sorted(r.status_code for r in twice) == [201, 409], [r.text for r in twice]
        refused = next(r for r in twice if r.status_code == 409).json()["error"]
        assert "already has a station with code 'wok'" in refused["message"]
        assert refused["details"]["field"] == "code"

    listed = (await client.get(STATIONS, headers=manager)).json()["data"]
    assert [s["code"] for s in listed if s["isDefault"]] == await defaults()
    # Every change said so: one event per audit row, the version counting them.
    events = await station_events(session)
    for station in listed:
        history = await default_history(session, station["id"])
        assert len([e for e in events if e["stationId"] == station["id"]]) == len(history)
        assert station["version"] == len(history)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Grill"}, "code"),
        ({"code": "grill"}, "name"),
        ({"code": "g" * 51, "name": "Grill"}, "code"),
        ({"code": "grill", "name": ""}, "name"),
        ({"code": "grill", "name": "Grill", "status": "broken"}, "status"),
        ({"code": "grill", "name": "Grill", "sortOrder": -1}, "sortOrder"),
        ({"code": "grill", "name": "Grill", "sortOrder": "first"}, "sortOrder"),
        ({"code": "grill", "name": "Grill", "isDefault": "yes please"}, "isDefault"),
        ({"code": "grill", "name": "Grill", "colour": "red"}, "colour"),
    ],
)
async def test_bad_stations_are_refused_naming_the_field(
    client: httpx.AsyncClient, world: World, body: dict[str, Any], field: str
) -> None:
    manager = await login(client, world.users["manager"])
    response = await client.post(STATIONS, json=body, headers=manager)
    assert response.status_code == 422, response.text
    assert field in response.text


async def test_station_conflicts_permissions_and_other_restaurants(
    client: httpx.AsyncClient, world: World
) -> None:
    manager = await login(client, world.users["manager"])
    cook = await login(client, world.users["kitchen_staff"])
    waiter = await login(client, world.users["waiter"])
    employee = await login(client, world.users["employee"])
    stranger = await login(client, world.other_manager)
    grill = await make_station(client, manager, code="grill", name="Grill")

    twice = await client.post(STATIONS, json={"code": "grill", "name": "Other"}, headers=manager)
    assert twice.status_code == 409
    assert "already has a station with code 'grill'" in twice.json()["error"]["message"]
    # Another restaurant may use the same code.
    assert (
        await client.post(STATIONS, json={"code": "grill", "name": "G"}, headers=stranger)
    ).status_code == 201

    setup = await client.post(STATIONS, json={"code": "bar", "name": "Bar"}, headers=cook)
    assert setup.status_code == 403
    assert setup.json()["error"]["details"]["permission"] == "kitchen.manage"
    assert (
        await client.put(f"{STATIONS}/{grill['id']}", json={"name": "X"}, headers=cook)
    ).status_code == 403
    assert (await client.delete(f"{STATIONS}/{grill['id']}", headers=cook)).status_code == 403
    status_url = f"{STATIONS}/{grill['id']}/status"
    assert (
        await client.post(status_url, json={"status": "paused"}, headers=waiter)
    ).status_code == 403
    assert (await client.get(STATIONS, headers=employee)).status_code == 403

    for call in (
        client.put(f"{STATIONS}/{grill['id']}", json={"name": "Mine"}, headers=stranger),
        client.delete(f"{STATIONS}/{grill['id']}", headers=stranger),
        client.post(status_url, json={"status": "closed"}, headers=stranger),
    ):
        assert (await call).status_code == 404
    assert [s["code"] for s in (await client.get(STATIONS, headers=stranger)).json()["data"]] == [
        "grill"
    ]

    bad = await client.post(status_url, json={"status": "shut"}, headers=cook)
    assert bad.status_code == 422
    assert "status" in bad.text
    missing = await client.post(status_url, json={}, headers=cook)
    assert missing.status_code == 422
    assert "status" in missing.text
    long_reason = await client.post(
        status_url, json={"status": "paused", "reason": "x" * 501}, headers=cook
    )
    assert long_reason.status_code == 422
    assert "reason" in long_reason.text
    stale = await client.post(status_url, json={"status": "paused", "version": 7}, headers=cook)
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "stale_version"
    renamed = await client.put(
        f"{STATIONS}/{grill['id']}", json={"name": "Char grill", "version": 1}, headers=manager
    )
    assert renamed.status_code == 200
    assert renamed.json()["data"]["version"] == 2
    code_change = await client.put(
        f"{STATIONS}/{grill['id']}", json={"code": "char"}, headers=manager
    )
    assert code_change.status_code == 422
    assert "code" in code_change.text
    assert (
        await client.post(
            f"{STATIONS}/{uuid.uuid4()}/status", json={"status": "open"}, headers=cook
        )
    ).status_code == 404


async def test_the_ticket_log_and_reprints(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    m = await menu(session, world)
    waiter = await login(client, world.users["waiter"])
    cook = await login(client, world.users["kitchen_staff"])
    stranger = await login(client, world.other_manager)
    order = await placed(client, waiter, [line(m["burger"]), line(m["salad"])])

    listed = await client.get(TICKETS, params={"orderId": order["id"]}, headers=cook)
    assert listed.status_code == 200, listed.text
    tickets = listed.json()["data"]["items"]
    assert sorted(t["station"] for t in tickets) == ["cold", "grill"]
    assert listed.json()["data"]["pagination"]["total"] == 2
    grill = next(t for t in tickets if t["station"] == "grill")
    assert grill["items"][0]["name"] == "Burger"
    assert grill["kind"] == "new"
    only_grill = await client.get(TICKETS, params={"station": "grill", "kind": "new"}, headers=cook)
    assert [t["ticketId"] for t in only_grill.json()["data"]["items"]] == [grill["ticketId"]]
    one = (await client.get(f"{TICKETS}/{grill['ticketId']}", headers=cook)).json()["data"]
    assert one == grill
    stored = await session.get(KitchenTicket, uuid.UUID(grill["ticketId"]))
    assert stored is not None
    assert one["orderId"] == order["id"] == str(stored.order_id)
    assert (one["printCount"], one["lastPrintedAt"]) == (0, None)
    assert datetime.fromisoformat(one["createdAt"]) == stored.created_at
    assert one["businessDate"] == stored.business_date.isoformat()
    by_day = await client.get(TICKETS, params={"date": grill["businessDate"]}, headers=cook)
    assert by_day.json()["data"]["pagination"]["total"] == 2
    assert (
        await client.get(TICKETS, params={"kind": "cancelled"}, headers=cook)
    ).status_code == 422
    assert (
        await client.get(TICKETS, params={"date": "yesterday"}, headers=cook)
    ).status_code == 422

    url = f"{TICKETS}/{grill['ticketId']}/reprint"
    no_printer = await client.post(url, headers=cook)
    assert no_printer.status_code == 409
    assert "station 'grill'" in no_printer.json()["error"]["message"]
    assert no_printer.json()["error"]["code"] == "no_printer"

    printer = HardwareDevice(
        restaurant_id=world.a1.id,
        device_type="printer",
        device_name="Grill printer",
        connection_type="ethernet",
        configuration={"host": "127.0.0.1", "port": 9, "stations": ["grill"]},
    )
    session.add(printer)
    await session.commit()
    reprinted = await client.post(url, headers=cook)
    assert reprinted.status_code == 201, reprinted.text
    assert reprinted.json()["data"]["printJobs"] == 1
    await session.commit()
    jobs = (
        await session.scalars(
            select(PrintJob).where(PrintJob.source_id == uuid.UUID(grill["ticketId"]))
        )
    ).all()
    assert [j.device_id for j in jobs][-1] == printer.id
    assert b"REPRINT" in jobs[-1].payload
    # The displays hear of it, and the reprint is audited (the refused one was not).
    reprints = [
        e.payload
        for e in (
            await session.scalars(
                select(OutboxEvent).where(OutboxEvent.event_type == "kitchen_ticket")
            )
        ).all()
        if e.payload.get("reprint") is True
    ]
    assert [(e["ticketId"], e["station"]) for e in reprints] == [(grill["ticketId"], "grill")]
    audit = (
        await session.scalars(
            select(AuditLog).where(
                AuditLog.action == "kitchen_ticket.reprinted",
                AuditLog.resource_id == grill["ticketId"],
            )
        )
    ).all()
    assert [(a.user_id, a.new_values["printJobs"]) for a in audit] == [
        (world.users["kitchen_staff"].id, 1)
    ]

    assert (await client.post(url, headers=waiter)).status_code == 403  # no kots.manage
    assert (await client.get(f"{TICKETS}/{grill['ticketId']}", headers=stranger)).status_code == 404
    assert (await client.post(url, headers=stranger)).status_code == 404
    assert (await client.get(TICKETS, headers=stranger)).json()["data"]["items"] == []
    assert (
        await client.get(TICKETS, headers=await login(client, world.users["employee"]))
    ).status_code == 403
