"""Kitchen item status over HTTP: the item machine, and the order following its items."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.config import Settings
from fynlo.models import OrderItem, OutboxEvent
from tests.kitchen.test_tickets import confirm, line, menu, open_order
from tests.realtime.support import listening, live_server, token_of
from tests.world import World, login


@pytest.fixture
async def server(settings: Settings, engine: object) -> Any:
    async with live_server(settings) as live:
        yield live


def item_url(order: dict[str, Any], name: str) -> str:
    item = next(i for i in order["items"] if i["productName"] == name)
    return f"/api/kitchen/orders/{order['id']}/items/{item['id']}/status"


async def test_order_becomes_ready_when_its_last_item_is_ready_then_served(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    m = await menu(session, world)
    waiter = await login(client, world.users["waiter"])
    cook = await login(client, world.users["kitchen_staff"])
    order = await open_order(client, waiter, [line(m["burger"]), line(m["salad"])])
    await confirm(client, waiter, order["id"])

    started = await client.patch(
        item_url(order, "Burger"), json={"status": "preparing"}, headers=cook
    )
    assert started.status_code == 200, started.text
    assert started.json()["data"]["status"] == "preparing"
    burger = await client.patch(
        item_url(order, "Burger"), json={"status": "completed", "actualTime": 8}, headers=cook
    )
    assert burger.json()["data"]["status"] == "preparing"  # the salad is not ready yet
    salad = await client.patch(item_url(order, "Salad"), json={"status": "ready"}, headers=cook)
    assert salad.status_code == 200, salad.text
    assert salad.json()["data"]["status"] == "ready"
    again = await client.patch(item_url(order, "Salad"), json={"status": "ready"}, headers=cook)
    assert again.status_code == 200  # a retry changes nothing

    await session.commit()
    rows = {
        i.product_name: i
        for i in (
            await session.scalars(
                select(OrderItem).where(OrderItem.order_id == uuid.UUID(order["id"]))
            )
        ).all()
    }
    assert rows["Burger"].prep_seconds == 480
    assert rows["Burger"].was_late is False  # 8 minutes against 12
    assert rows["Salad"].ready_at is not None
    ready_events = (
        await session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == "order_item_ready")
        )
    ).all()
    assert sorted(e.payload["name"] for e in ready_events) == ["Burger", "Salad"]

    for name in ("Burger", "Salad"):
        served = await client.patch(item_url(order, name), json={"status": "served"}, headers=cook)
        assert served.status_code == 200, served.text
    assert served.json()["data"]["status"] == "served"


async def test_illegal_moves_recall_and_held_items(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    m = await menu(session, world)
    waiter = await login(client, world.users["waiter"])
    cook = await login(client, world.users["kitchen_staff"])
    order = await open_order(client, waiter, [line(m["burger"]), line(m["cola"], hold=True)])
    early = await client.patch(item_url(order, "Burger"), json={"status": "ready"}, headers=cook)
    assert early.status_code == 409  # still pending: the kitchen does not have it
    await confirm(client, waiter, order["id"])

    served = await client.patch(item_url(order, "Burger"), json={"status": "served"}, headers=cook)
    assert served.status_code == 409, served.text
    error = served.json()["error"]
    assert error["code"] == "invalid_state_transition"
    assert error["details"]["allowed"] == ["preparing", "ready"]
    held = await client.patch(item_url(order, "Cola"), json={"status": "ready"}, headers=cook)
    assert held.status_code == 409
    assert "fire it first" in held.json()["error"]["message"]

    ready = await client.patch(item_url(order, "Burger"), json={"status": "ready"}, headers=cook)
    assert ready.json()["data"]["status"] == "preparing"  # not ready: the held cola is to come
    fired = await client.post(f"/api/kitchen/orders/{order['id']}/fire", json={}, headers=waiter)
    assert fired.status_code == 200
    cola = await client.patch(item_url(order, "Cola"), json={"status": "ready"}, headers=cook)
    assert cola.json()["data"]["status"] == "ready"
    recalled = await client.patch(
        item_url(order, "Cola"), json={"status": "preparing"}, headers=cook
    )
    assert recalled.status_code == 200, recalled.text
    assert recalled.json()["data"]["status"] == "preparing"


async def test_item_status_validation_permission_and_tenancy(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    m = await menu(session, world)
    waiter = await login(client, world.users["waiter"])
    cook = await login(client, world.users["kitchen_staff"])
    order = await open_order(client, waiter, [line(m["burger"])])
    await confirm(client, waiter, order["id"])
    url = item_url(order, "Burger")
    for body, field in (
        ({}, "status"),
        ({"status": "burnt"}, "status"),
        ({"status": "ready", "actualTime": -1}, "actualTime"),
        ({"status": "ready", "actualTime": 2000}, "actualTime"),
        ({"status": "ready", "actualTime": "soon"}, "actualTime"),
        ({"status": "ready", "version": 0}, "version"),
    ):
        response = await client.patch(url, json=body, headers=cook)
        assert response.status_code == 422, (body, response.text)
        assert field in [d["field"] for d in response.json()["error"]["details"]], body
    timed = await client.patch(url, json={"status": "preparing", "actualTime": 3}, headers=cook)
    assert timed.status_code == 422
    assert timed.json()["error"]["details"][0]["field"] == "actualTime"
    stale = await client.patch(url, json={"status": "preparing", "version": 1}, headers=cook)
    assert stale.json()["error"]["code"] == "stale_version"

    refused = await client.patch(url, json={"status": "preparing"}, headers=waiter)
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["permission"] == "kitchen.update"
    other = await login(client, world.other_manager)
    hidden = await client.patch(url, json={"status": "preparing"}, headers=other)
    assert hidden.status_code == 404
    unknown = await client.patch(
        f"/api/kitchen/orders/{order['id']}/items/{uuid.uuid4()}/status",
        json={"status": "preparing"},
        headers=cook,
    )
    assert unknown.status_code == 404


async def test_item_ready_over_socketio_goes_through_the_same_service(
    server: Any, session: AsyncSession, world: World
) -> None:
    m = await menu(session, world)
    waiter_token = await token_of(server.http, world.users["waiter"])
    cook_token = await token_of(server.http, world.users["kitchen_staff"])
    waiter = {"Authorization": f"Bearer {waiter_token}"}
    order = await open_order(server.http, waiter, [line(m["burger"])])
    await confirm(server.http, waiter, order["id"])
    item_id = order["items"][0]["id"]
    async with (
        listening(server.url, {"token": cook_token}) as kitchen,
        listening(server.url, {"token": waiter_token}) as floor,
    ):
        denied = await floor.client.call(
            "item_ready", {"orderId": order["id"], "itemId": item_id}, timeout=5
        )
        assert denied["error"]["code"] == "permission_denied"
        invalid = await kitchen.client.call("item_ready", {"orderId": "x"}, timeout=5)
        assert invalid["error"]["code"] == "validation_error"
        assert {"orderId", "itemId"} <= {d["field"] for d in invalid["error"]["details"]}
        done = await kitchen.client.call(
            "item_ready", {"orderId": order["id"], "itemId": item_id, "actualTime": 5}, timeout=5
        )
        assert done["success"] is True, done
        assert done["data"]["status"] == "ready"
        ready = await floor.next("order_item_ready")
        assert (ready["itemId"], ready["prepSeconds"]) == (item_id, 300)
