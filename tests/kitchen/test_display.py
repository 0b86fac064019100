"""The kitchen display: the board (priority, lateness, station filter), bump, recall and
the rush flag."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.db.types import utc_now
from fynlo.models import AuditLog, OrderItem, OutboxEvent, RestaurantSettings
from tests.kitchen.test_tickets import confirm, line, menu
from tests.world import World, login

BOARD = "/api/kitchen/orders"


async def placed(
    client: httpx.AsyncClient, headers: dict[str, str], items: list[Any], **body: Any
) -> dict[str, Any]:
    created = await client.post(
        "/api/orders", json={"orderType": "dine_in", "items": items, **body}, headers=headers
    )
    assert created.status_code == 201, created.text
    order: dict[str, Any] = created.json()["data"]
    await confirm(client, headers, order["id"])
    return order


async def sent_minutes_ago(session: AsyncSession, order_id: str, minutes: int) -> None:
    """Pretend the kitchen got the order's items ``minutes`` ago."""
    await session.execute(
        update(OrderItem)
        .where(OrderItem.order_id == uuid.UUID(order_id))
        .values(sent_to_kitchen_at=utc_now() - timedelta(minutes=minutes))
    )
    await session.commit()


async def board(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    response = await client.get(BOARD, params=params, headers=headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def test_the_board_orders_by_priority_and_flags_late_items(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    m = await menu(session, world)  # burger: grill, 12 min; salad: cold, 12 min
    waiter = await login(client, world.users["waiter"])
    cook = await login(client, world.users["kitchen_staff"])
    calm = await placed(client, waiter, [line(m["burger"]), line(m["salad"])])
    delivery = await placed(client, waiter, [line(m["salad"])], orderType="delivery")
    rushed = await placed(client, waiter, [line(m["burger"])])
    held = await placed(client, waiter, [line(m["burger"]), line(m["salad"], course=2, hold=True)])
    await sent_minutes_ago(session, calm["id"], 25)  # past 12 min and past 20 min waiting
    assert (
        await client.post(f"{BOARD}/{rushed['id']}/rush", json={"rush": True}, headers=waiter)
    ).status_code == 200

    data = await board(client, cook)
    order_ids = [o["orderId"] for o in data["activeOrders"]]
    # urgent first; then the high ones, longest waiting first; then normal.
    assert order_ids == [rushed["id"], calm["id"], delivery["id"], held["id"]]
    by_id = {o["orderId"]: o for o in data["activeOrders"]}
    assert by_id[rushed["id"]]["priority"] == "urgent"
    assert by_id[rushed["id"]]["priorityReasons"] == ["rush"]
    assert by_id[calm["id"]]["priority"] == "high"
    assert by_id[calm["id"]]["priorityReasons"] == ["waiting", "late"]
    assert by_id[calm["id"]]["late"] is True
    assert all(i["late"] for i in by_id[calm["id"]]["items"])
    assert by_id[calm["id"]]["estimatedTime"] == 0  # overdue
    assert by_id[calm["id"]]["waitingMinutes"] >= 25
    assert by_id[calm["id"]]["station"] is None
    assert by_id[calm["id"]]["stations"] == ["cold", "grill"]
    assert by_id[delivery["id"]]["priorityReasons"] == ["orderType"]
    assert by_id[delivery["id"]]["estimatedTime"] == 12
    assert by_id[delivery["id"]]["station"] == "cold"
    assert by_id[held["id"]]["priority"] == "normal"
    assert by_id[held["id"]]["heldItems"] == 1
    assert [i["name"] for i in by_id[held["id"]]["items"]] == ["Burger"]
    item = by_id[delivery["id"]]["items"][0]
    assert item["name"] == "Salad"
    assert item["status"] == "pending"
    assert item["course"] == 1
    assert item["preparationTime"] == 12
    assert item["late"] is False
    assert data["completedToday"] == 0
    assert data["averageTime"] is None

    grill = await board(client, cook, station="grill")
    assert [o["orderId"] for o in grill["activeOrders"]] == [rushed["id"], calm["id"], held["id"]]
    assert all(o["station"] == "grill" for o in grill["activeOrders"])
    assert {i["station"] for o in grill["activeOrders"] for i in o["items"]} == {"grill"}


async def test_priority_rules_come_from_the_kitchen_settings(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    settings = await session.scalar(
        select(RestaurantSettings).where(RestaurantSettings.restaurant_id == world.a1.id)
    )
    assert settings is not None
    settings.kitchen_settings = {
        "highPriorityAfterMinutes": 5,
        "priorityOrderTypes": ["takeaway"],
        "lateGraceMinutes": 30,
    }
    await session.commit()
    m = await menu(session, world)
    waiter = await login(client, world.users["waiter"])
    delivery = await placed(client, waiter, [line(m["salad"])], orderType="delivery")
    takeaway = await placed(client, waiter, [line(m["salad"])], orderType="takeaway")
    await sent_minutes_ago(session, delivery["id"], 20)  # waiting, but within 12 + 30

    by_id = {o["orderId"]: o for o in (await board(client, waiter))["activeOrders"]}
    assert by_id[delivery["id"]]["priorityReasons"] == ["waiting"]
    assert by_id[delivery["id"]]["late"] is False
    assert by_id[takeaway["id"]]["priorityReasons"] == ["orderType"]


async def test_bump_recall_and_the_day_figures(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    m = await menu(session, world)
    waiter = await login(client, world.users["waiter"])
    cook = await login(client, world.users["kitchen_staff"])
    order = await placed(client, waiter, [line(m["burger"], 2), line(m["salad"])])
    await sent_minutes_ago(session, order["id"], 10)
    url = f"{BOARD}/{order['id']}"

    grill = await client.post(f"{url}/bump", json={"station": "grill"}, headers=cook)
    assert grill.status_code == 200, grill.text
    assert grill.json()["data"]["status"] == "preparing"  # the salad is still cooking
    again = await client.post(f"{url}/bump", json={"station": "grill"}, headers=cook)
    assert again.status_code == 409
    assert "nothing cooking at station 'grill'" in again.json()["error"]["message"]
    assert [
        o["orderId"] for o in (await board(client, cook, station="grill"))["activeOrders"]
    ] == []

    done = await client.post(f"{url}/bump", json={}, headers=cook)
    assert done.status_code == 200, done.text
    assert done.json()["data"]["status"] == "ready"
    assert done.json()["data"]["readyAt"] is not None
    figures = await board(client, cook)
    assert figures["activeOrders"] == []
    assert figures["completedToday"] == 1
    assert figures["averageTime"] == pytest.approx(10, abs=0.2)
    passing = await board(client, cook, includeReady="true")
    assert [o["orderId"] for o in passing["activeOrders"]] == [order["id"]]
    assert {i["status"] for i in passing["activeOrders"][0]["items"]} == {"ready"}

    await session.commit()
    ready_events = (
        await session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == "order_item_ready")
        )
    ).all()
    assert sorted(e.payload["name"] for e in ready_events) == ["Burger", "Salad"]

    salad = next(i["id"] for i in order["items"] if i["productName"] == "Salad")
    recalled = await client.post(f"{url}/recall", json={"itemIds": [salad]}, headers=cook)
    assert recalled.status_code == 200, recalled.text
    body = recalled.json()["data"]
    assert body["status"] == "preparing"
    assert {i["productName"]: i["kitchenStatus"] for i in body["items"]} == {
        "Burger": "ready",
        "Salad": "preparing",
    }
    assert (
        await client.post(f"{url}/recall", json={"itemIds": [salad]}, headers=cook)
    ).status_code == 409
    assert (await board(client, cook))["completedToday"] == 0  # back in the kitchen's hands
    assert (
        await client.post(f"{url}/recall", json={"station": "cold"}, headers=cook)
    ).status_code == 409
    whole = await client.post(f"{url}/recall", json={}, headers=cook)
    assert whole.status_code == 200
    assert {i["kitchenStatus"] for i in whole.json()["data"]["items"]} == {"preparing"}

    # Each bump and recall is announced to the displays and audited, with its station.
    await session.commit()
    changes = [
        (e.payload["change"], e.payload["station"], len(e.payload["itemIds"]))
        for e in (
            await session.scalars(
                select(OutboxEvent)
                .where(
                    OutboxEvent.event_type == "order_updated",
                    OutboxEvent.restaurant_id == world.a1.id,
                )
                .order_by(OutboxEvent.created_at)
            )
        ).all()
        if e.payload.get("change") in ("bumped", "items_recalled")
    ]
    assert changes == [
        ("bumped", "grill", 1),
        ("bumped", None, 1),
        ("items_recalled", None, 1),
        ("items_recalled", None, 1),
    ]
    audited = (
        await session.scalars(
            select(AuditLog.action)
            .where(
                AuditLog.resource_id == order["id"],
                AuditLog.action.in_(("order.bumped", "order.items_recalled")),
            )
            .order_by(AuditLog.seq)
        )
    ).all()
    assert audited == [
        "order.bumped",
        "order.bumped",
        "order.items_recalled",
        "order.items_recalled",
    ]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("bump", {"station": 5}, "station"),
        ("bump", {"station": ""}, "station"),
        ("bump", {"version": 0}, "version"),
        ("bump", {"stations": "grill"}, "stations"),
        ("recall", {"itemIds": []}, "itemIds"),
        ("recall", {"itemIds": ["not-a-uuid"]}, "itemIds"),
        ("rush", {"rush": "very"}, "rush"),
        ("rush", {"version": "two"}, "version"),
    ],
)
async def test_bad_bodies_are_refused_naming_the_field(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    m = await menu(session, world)
    manager = await login(client, world.users["manager"])
    order = await placed(client, manager, [line(m["burger"])])
    response = await client.post(f"{BOARD}/{order['id']}/{path}", json=body, headers=manager)
    assert response.status_code == 422, response.text
    assert field in response.text


async def test_who_may_bump_recall_and_rush_and_only_their_own_orders(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    m = await menu(session, world)
    waiter = await login(client, world.users["waiter"])
    employee = await login(client, world.users["employee"])
    cook = await login(client, world.users["kitchen_staff"])
    stranger = await login(client, world.other_manager)
    order = await placed(client, waiter, [line(m["burger"])])
    url = f"{BOARD}/{order['id']}"

    refused = await client.post(f"{url}/bump", json={}, headers=waiter)
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["permission"] == "kitchen.update"
    assert (await client.post(f"{url}/recall", json={}, headers=waiter)).status_code == 403
    assert (await client.get(BOARD, headers=employee)).status_code == 403
    no_rush = await client.post(f"{url}/rush", json={}, headers=employee)
    assert no_rush.status_code == 403
    assert no_rush.json()["error"]["details"]["anyOf"] == ["orders.update", "kitchen.update"]
    for path in ("bump", "recall", "rush"):
        assert (await client.post(f"{url}/{path}", json={}, headers=stranger)).status_code == 404
    assert (await board(client, stranger))["activeOrders"] == []

    stale = await client.post(f"{url}/bump", json={"version": 1}, headers=cook)
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "stale_version"
    rushed = await client.post(f"{url}/rush", json={}, headers=cook)
    assert rushed.status_code == 200
    assert rushed.json()["data"]["rush"] is True
    version = rushed.json()["data"]["version"]
    same = await client.post(f"{url}/rush", json={"rush": True}, headers=cook)
    assert same.json()["data"]["version"] == version  # already rushed: nothing changes
    off = await client.post(f"{url}/rush", json={"rush": False, "version": version}, headers=waiter)
    assert off.status_code == 200
    assert off.json()["data"]["rush"] is False

    await session.commit()
    audits = (await session.scalars(select(AuditLog).where(AuditLog.action == "order.rush"))).all()
    assert [(a.new_values or {})["rush"] for a in sorted(audits, key=lambda a: a.seq)] == [
        True,
        False,
    ]

    cancelled = await client.patch(
        f"/api/orders/{order['id']}/status",
        json={"status": "cancelled", "reason": "walked out"},
        headers=await login(client, world.users["manager"]),
    )
    assert cancelled.status_code == 200, cancelled.text
    late = await client.post(f"{url}/rush", json={}, headers=waiter)
    assert late.status_code == 409
    assert "cancelled" in late.json()["error"]["message"]
    assert (await client.post(f"{url}/bump", json={}, headers=cook)).status_code == 409
    missing = await client.post(f"{BOARD}/{uuid.uuid4()}/bump", json={}, headers=cook)
    assert missing.status_code == 404


async def test_board_query_parameters_are_validated(
    client: httpx.AsyncClient, world: World
) -> None:
    cook = await login(client, world.users["kitchen_staff"])
    bad = await client.get(BOARD, params={"station": "s" * 51}, headers=cook)
    assert bad.status_code == 422
    assert "station" in bad.text
    worse = await client.get(BOARD, params={"includeReady": "perhaps"}, headers=cook)
    assert worse.status_code == 422
    assert "includeReady" in worse.text


async def test_day_figures_leave_out_cancelled_orders_and_follow_the_station(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    m = await menu(session, world)
    waiter = await login(client, world.users["waiter"])
    cook = await login(client, world.users["kitchen_staff"])
    manager = await login(client, world.users["manager"])
    served = await placed(client, waiter, [line(m["burger"]), line(m["salad"])])
    dropped = await placed(client, waiter, [line(m["burger"])])
    await sent_minutes_ago(session, served["id"], 6)
    await sent_minutes_ago(session, dropped["id"], 30)
    for order in (served, dropped):
        bumped = await client.post(f"{BOARD}/{order['id']}/bump", json={}, headers=cook)
        assert bumped.status_code == 200, bumped.text
    cancelled = await client.patch(
        f"/api/orders/{dropped['id']}/status",
        json={"status": "cancelled", "reason": "table left"},
        headers=manager,
    )
    assert cancelled.status_code == 200, cancelled.text

    everything = await board(client, cook)
    assert everything["completedToday"] == 1
    assert everything["averageTime"] == pytest.approx(6, abs=0.2)  # not the cancelled 30
    grill = await board(client, cook, station="grill")
    assert grill["completedToday"] == 1
    assert grill["averageTime"] == pytest.approx(6, abs=0.2)
    bar = await board(client, cook, station="bar")
    assert bar["completedToday"] == 0
    assert bar["averageTime"] is None


async def test_estimated_time_from_staff_and_items_added_to_a_ready_order(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    m = await menu(session, world)
    waiter = await login(client, world.users["waiter"])
    cook = await login(client, world.users["kitchen_staff"])
    order = await placed(client, waiter, [line(m["burger"])])
    promised = (utc_now() + timedelta(minutes=25)).isoformat()
    moved = await client.patch(
        f"/api/orders/{order['id']}/status",
        json={"status": "preparing", "estimatedCompletion": promised},
        headers=waiter,
    )
    assert moved.status_code == 200, moved.text
    (shown,) = (await board(client, cook))["activeOrders"]
    assert shown["estimatedTime"] == 25  # the time staff promised, not the burger's 12

    ready = await client.post(f"{BOARD}/{order['id']}/bump", json={}, headers=cook)
    assert ready.json()["data"]["status"] == "ready"
    assert (await board(client, cook, includeReady="true"))["activeOrders"][0]["priority"] == (
        "normal"
    )
    added = await client.post(
        f"/api/orders/{order['id']}/items", json={"items": [line(m["salad"])]}, headers=waiter
    )
    assert added.status_code == 201, added.text
    body = added.json()["data"]
    assert body["status"] == "preparing"  # not ready until the salad is
    assert body["readyAt"] is None
    assert [o["orderId"] for o in (await board(client, cook))["activeOrders"]] == [order["id"]]
    assert (await board(client, cook))["completedToday"] == 0
    # Announced and audited as a status change, as a recall is.
    await session.commit()
    back = (
        await session.scalars(
            select(OutboxEvent).where(
                OutboxEvent.event_type == "order_updated",
                OutboxEvent.restaurant_id == world.a1.id,
            )
        )
    ).all()
    assert [
        e.payload["status"]
        for e in back
        if e.payload.get("previousStatus") == "ready" and e.payload["orderId"] == order["id"]
    ] == ["preparing"]
    changes = (
        await session.scalars(
            select(AuditLog.new_values).where(
                AuditLog.action == "order.status_changed",
                AuditLog.resource_id == order["id"],
            )
        )
    ).all()
    assert [(c["previous"], c["status"]) for c in changes if c.get("change") == "items_fired"] == [
        ("ready", "preparing")
    ]


async def test_the_pass_view_judges_priority_on_what_is_still_cooking(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    m = await menu(session, world)
    waiter = await login(client, world.users["waiter"])
    cook = await login(client, world.users["kitchen_staff"])
    done = await placed(client, waiter, [line(m["burger"])])
    await sent_minutes_ago(session, done["id"], 40)  # late and long waiting, but finished
    assert (
        await client.post(f"{BOARD}/{done['id']}/bump", json={}, headers=cook)
    ).status_code == 200
    cooking = await placed(client, waiter, [line(m["salad"])])

    passing = await board(client, cook, includeReady="true")
    assert [o["orderId"] for o in passing["activeOrders"]] == [done["id"], cooking["id"]]
    finished = passing["activeOrders"][0]
    assert finished["priority"] == "normal"
    assert finished["priorityReasons"] == []
    assert finished["late"] is False
    assert finished["items"][0]["late"] is True  # the dish itself was late
