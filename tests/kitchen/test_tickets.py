"""Kitchen order tickets: one per station when an order is confirmed, more for items added
or fired later, void tickets for items taken back, numbers unique per day."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models import KitchenStation, KitchenTicket, OutboxEvent, Product, RestaurantSettings
from tests.conftest import make_client
from tests.orders.factories import product
from tests.world import World, login


async def menu(session: AsyncSession, world: World) -> dict[str, Product]:
    rows = {
        "burger": await product(session, world.a1, name="Burger", kitchen_station="grill"),
        "salad": await product(session, world.a1, name="Salad", kitchen_station="cold"),
        "cola": await product(session, world.a1, name="Cola", kitchen_station="bar"),
        "bread": await product(session, world.a1, name="Bread", kitchen_station=None),
    }
    await session.commit()
    return rows


def line(item: Product, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return {"productId": str(item.id), "quantity": quantity, **extra}


async def tickets_of(session: AsyncSession, order_id: str) -> list[KitchenTicket]:
    await session.commit()
    rows = await session.scalars(
        select(KitchenTicket)
        .where(KitchenTicket.order_id == uuid.UUID(order_id))
        .order_by(KitchenTicket.ticket_number)
    )
    return list(rows.all())


async def open_order(client: httpx.AsyncClient, headers: dict[str, str], items: list[Any]) -> Any:
    created = await client.post(
        "/api/orders", json={"orderType": "dine_in", "items": items}, headers=headers
    )
    assert created.status_code == 201, created.text
    return created.json()["data"]


async def confirm(client: httpx.AsyncClient, headers: dict[str, str], order_id: str) -> None:
    done = await client.patch(
        f"/api/orders/{order_id}/status", json={"status": "confirmed"}, headers=headers
    )
    assert done.status_code == 200, done.text


async def test_grill_and_cold_items_give_two_tickets_and_a_drink_added_later_a_third(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    m = await menu(session, world)
    waiter = await login(client, world.users["waiter"])
    order = await open_order(client, waiter, [line(m["burger"], 2), line(m["salad"])])
    assert await tickets_of(session, order["id"]) == []  # nothing until confirmed

    await confirm(client, waiter, order["id"])
    first = await tickets_of(session, order["id"])
    assert [(t.station, t.kind) for t in first] == [("cold", "new"), ("grill", "new")]
    grill = next(t for t in first if t.station == "grill")
    assert [(i["name"], i["quantity"]) for i in grill.items] == [("Burger", 2)]
    assert grill.order_number == order["orderNumber"]

    added = await client.post(
        f"/api/orders/{order['id']}/items", json={"items": [line(m["cola"])]}, headers=waiter
    )
    assert added.status_code == 201, added.text
    every = await tickets_of(session, order["id"])
    assert len(every) == 3
    assert (every[-1].station, every[-1].kind) == ("bar", "addition")
    assert [i["name"] for i in every[-1].items] == ["Cola"]
    assert len({t.ticket_number for t in every}) == 3

    events = (
        await session.scalars(select(OutboxEvent).where(OutboxEvent.event_type == "kitchen_ticket"))
    ).all()
    assert sorted(e.payload["station"] for e in events) == ["bar", "cold", "grill"]


async def test_items_without_a_station_go_to_the_default_station_and_closed_stations_reroute(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    m = await menu(session, world)
    session.add_all(
        [
            KitchenStation(restaurant_id=world.a1.id, code="pass", name="Pass", is_default=True),
            KitchenStation(restaurant_id=world.a1.id, code="cold", name="Cold", status="closed"),
        ]
    )
    await session.commit()
    waiter = await login(client, world.users["waiter"])
    order = await open_order(client, waiter, [line(m["bread"]), line(m["salad"])])
    await confirm(client, waiter, order["id"])
    tickets = await tickets_of(session, order["id"])
    assert [t.station for t in tickets] == ["pass"]
    assert sorted(i["name"] for i in tickets[0].items) == ["Bread", "Salad"]
    detail = await client.get(f"/api/orders/{order['id']}", headers=waiter)
    assert {i["kitchenStation"] for i in detail.json()["data"]["items"]} == {"pass"}


async def test_a_voided_item_and_a_voided_order_make_void_tickets(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    m = await menu(session, world)
    waiter = await login(client, world.users["waiter"])
    manager = await login(client, world.users["manager"])
    order = await open_order(client, waiter, [line(m["burger"]), line(m["salad"])])
    await confirm(client, waiter, order["id"])
    salad_id = next(i["id"] for i in order["items"] if i["productName"] == "Salad")
    removed = await client.request(
        "DELETE",
        f"/api/orders/{order['id']}/items/{salad_id}",
        params={"reason": "Customer changed mind"},
        headers=manager,
    )
    assert removed.status_code == 200, removed.text
    tickets = await tickets_of(session, order["id"])
    void = [t for t in tickets if t.kind == "void"]
    assert [(t.station, [i["name"] for i in t.items]) for t in void] == [("cold", ["Salad"])]

    cancelled = await client.post(
        f"/api/orders/{order['id']}/cancel", json={"reason": "Walked out"}, headers=manager
    )
    assert cancelled.status_code == 200, cancelled.text
    void = [t for t in await tickets_of(session, order["id"]) if t.kind == "void"]
    assert [(t.station, [i["name"] for i in t.items]) for t in void] == [
        ("cold", ["Salad"]),
        ("grill", ["Burger"]),
    ]


async def test_held_items_stay_out_of_the_kitchen(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    m = await menu(session, world)
    await session.execute(
        RestaurantSettings.__table__.update()
        .where(RestaurantSettings.restaurant_id == world.a1.id)
        .values(kitchen_settings={"holdLaterCourses": True})
    )
    await session.commit()
    waiter = await login(client, world.users["waiter"])
    order = await open_order(
        client,
        waiter,
        [line(m["salad"], course=1), line(m["burger"], course=2), line(m["cola"], hold=False)],
    )
    held = {i["productName"]: i["held"] for i in order["items"]}
    assert held == {"Salad": False, "Burger": True, "Cola": False}
    await confirm(client, waiter, order["id"])
    tickets = await tickets_of(session, order["id"])
    assert sorted(t.station for t in tickets) == ["bar", "cold"]
    detail = (await client.get(f"/api/orders/{order['id']}", headers=waiter)).json()["data"]
    burger = next(i for i in detail["items"] if i["productName"] == "Burger")
    assert burger["sentToKitchenAt"] is None


async def test_course_and_hold_are_validated(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    m = await menu(session, world)
    waiter = await login(client, world.users["waiter"])
    for bad, field in (
        ({"course": 0}, "items.0.course"),
        ({"course": 10}, "items.0.course"),
        ({"course": "first"}, "items.0.course"),
        ({"hold": "maybe"}, "items.0.hold"),
    ):
        response = await client.post(
            "/api/orders", json={"items": [line(m["burger"], **bad)]}, headers=waiter
        )
        assert response.status_code == 422, response.text
        fields = [d["field"] for d in response.json()["error"]["details"]]
        assert field in fields, (bad, fields)


async def test_ticket_numbers_stay_unique_under_concurrent_confirmations(
    app: Any, client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    m = await menu(session, world)
    waiter = await login(client, world.users["waiter"])
    orders = [
        await open_order(client, waiter, [line(m["burger"]), line(m["salad"])]) for _ in range(8)
    ]

    async def confirm_one(order_id: str) -> int:
        async with make_client(app) as own:
            response = await own.patch(
                f"/api/orders/{order_id}/status", json={"status": "confirmed"}, headers=waiter
            )
            return response.status_code

    codes = await asyncio.gather(*(confirm_one(o["id"]) for o in orders))
    assert codes == [200] * 8
    await session.commit()
    numbers = (
        await session.scalars(
            select(KitchenTicket.ticket_number).where(KitchenTicket.restaurant_id == world.a1.id)
        )
    ).all()
    assert sorted(numbers) == list(range(1, 17))


async def test_firing_a_held_course_makes_its_tickets(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    m = await menu(session, world)
    waiter = await login(client, world.users["waiter"])
    order = await open_order(
        client,
        waiter,
        [
            line(m["salad"]),
            line(m["burger"], course=2, hold=True),
            line(m["cola"], course=3, hold=True),
        ],
    )
    url = f"/api/kitchen/orders/{order['id']}/fire"
    early = await client.post(url, json={"course": 2}, headers=waiter)
    assert early.status_code == 409, early.text
    assert "pending" in early.json()["error"]["message"]
    await confirm(client, waiter, order["id"])

    fired = await client.post(url, json={"course": 2}, headers=waiter)
    assert fired.status_code == 200, fired.text
    items = {i["productName"]: i for i in fired.json()["data"]["items"]}
    assert items["Burger"]["held"] is False
    assert items["Burger"]["sentToKitchenAt"] is not None
    assert items["Cola"]["held"] is True
    assert items["Cola"]["sentToKitchenAt"] is None
    tickets = await tickets_of(session, order["id"])
    assert [(t.station, t.kind) for t in tickets] == [("cold", "new"), ("grill", "addition")]

    again = await client.post(url, json={"course": 2}, headers=waiter)
    assert again.status_code == 409
    assert "no held items to fire in course 2" in again.json()["error"]["message"]
    stranger = await client.post(url, json={"itemIds": [str(uuid.uuid4())]}, headers=waiter)
    assert stranger.status_code == 409
    rest = await client.post(url, json={}, headers=waiter)
    assert rest.status_code == 200
    assert len(await tickets_of(session, order["id"])) == 3


async def test_fire_validation_permission_and_tenancy(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    m = await menu(session, world)
    waiter = await login(client, world.users["waiter"])
    order = await open_order(client, waiter, [line(m["burger"], hold=True)])
    await confirm(client, waiter, order["id"])
    url = f"/api/kitchen/orders/{order['id']}/fire"
    for body, field in (
        ({"course": 0}, "course"),
        ({"course": "two"}, "course"),
        ({"itemIds": []}, "itemIds"),
        ({"itemIds": ["not-a-uuid"]}, "itemIds.0"),
        ({"version": 0}, "version"),
    ):
        response = await client.post(url, json=body, headers=waiter)
        assert response.status_code == 422, (body, response.text)
        assert field in [d["field"] for d in response.json()["error"]["details"]], body
    both = await client.post(
        url, json={"course": 1, "itemIds": [str(uuid.uuid4())]}, headers=waiter
    )
    assert both.status_code == 422
    stale = await client.post(url, json={"version": 1}, headers=waiter)
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "stale_version"

    kitchen = await login(client, world.users["kitchen_staff"])
    refused = await client.post(url, json={}, headers=kitchen)
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["permission"] == "orders.update"
    other = await login(client, world.other_manager)
    hidden = await client.post(url, json={}, headers=other)
    assert hidden.status_code == 404
    fired = await client.post(url, json={}, headers=waiter)
    assert fired.status_code == 200, fired.text
