"""The ledger behind the levels: movements, sums, alerts, auto-reorder and the oversell policy."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.inventory import ledger
from fynlo.inventory.service import allows_negative_stock, ledger_balance, stock_deducted_on
from fynlo.models import OutboxEvent, Product, ReorderRequest
from fynlo.models.inventory import MILLI
from tests.inventory.factories import create_product, level, set_pos, track
from tests.world import World, login


async def alerts_of(session: AsyncSession, product: Product) -> list[dict[str, Any]]:
    await session.commit()
    rows = await session.scalars(
        select(OutboxEvent.payload)
        .where(OutboxEvent.event_type == "inventory_alert")
        .order_by(OutboxEvent.created_at)
    )
    return [p for p in rows if p["productId"] == str(product.id)]


async def reorders_of(session: AsyncSession, product: Product) -> list[ReorderRequest]:
    await session.commit()
    return list(
        await session.scalars(
            select(ReorderRequest)
            .where(ReorderRequest.product_id == product.id)
            .order_by(ReorderRequest.created_at)
        )
    )


async def waste(
    client: httpx.AsyncClient, headers: dict[str, str], product: Product, quantity: float
) -> httpx.Response:
    return await client.post(
        "/api/inventory/waste",
        json={"productId": str(product.id), "quantity": quantity, "reason": "test"},
        headers=headers,
    )


async def test_movements_newest_first_and_the_ledger_sums_to_the_level(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1)
    await session.commit()
    manager = world.users["manager"]
    headers = await login(client, manager)
    url = f"/api/inventory/{product.id}"
    assert (await client.put(url, json={"currentStock": 25}, headers=headers)).status_code == 201
    await client.put(url, json={"restockQuantity": 5.5}, headers=headers)
    await client.put(url, json={"currentStock": 20, "reason": "stocktake"}, headers=headers)
    await waste(client, headers, product, 1.25)

    response = await client.get(f"{url}/movements", headers=headers)
    assert response.status_code == 200
    page = response.json()["data"]
    assert page["pagination"]["total"] == 4
    items = page["items"]
    assert [(m["kind"], m["quantity"], m["balanceAfter"]) for m in items] == [
        ("waste", -1.25, 18.75),
        ("count", -10.5, 20),
        ("restock", 5.5, 30.5),
        ("count", 25, 25),
    ]
    assert items[1]["reason"] == "stocktake"
    assert all(m["userId"] == str(manager.id) and m["orderId"] is None for m in items)
    for newer, older in itertools.pairwise(items):
        assert newer["balanceAfter"] == older["balanceAfter"] + newer["quantity"]

    second = await client.get(f"{url}/movements?limit=3&offset=3", headers=headers)
    assert [m["kind"] for m in second.json()["data"]["items"]] == ["count"]
    assert second.json()["data"]["pagination"]["hasMore"] is False

    current = await level(session, product)
    assert current == 18750
    assert await ledger_balance(session, world.a1.id, product.id) == current


async def test_movements_of_untracked_or_foreign_products_are_404(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    untracked = await create_product(session, world.a1)
    await session.commit()
    headers = await login(client, world.users["manager"])
    for product_id in (untracked.id, uuid.uuid4()):
        response = await client.get(f"/api/inventory/{product_id}/movements", headers=headers)
        assert response.status_code == 404


async def test_low_stock_alert_once_per_crossing_cleared_by_restock(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1, name="Milk")
    await track(session, product, stock=10, reorder_point_milli=3 * MILLI, unit="litre")
    await session.commit()
    headers = await login(client, world.users["manager"])

    await waste(client, headers, product, 5)  # 5: above the point
    assert await alerts_of(session, product) == []
    assert (await client.get("/api/inventory/alerts", headers=headers)).json()["data"][
        "items"
    ] == []

    await waste(client, headers, product, 2)  # 3: at the point, crossing
    await waste(client, headers, product, 1)  # 2: still low, no second alert
    alerts = await alerts_of(session, product)
    assert alerts == [
        {
            "productId": str(product.id),
            "productName": "Milk",
            "currentStock": 3,
            "reorderPoint": 3,
            "unit": "litre",
            "level": "low_stock",
        }
    ]
    listed = (await client.get("/api/inventory/alerts", headers=headers)).json()["data"]
    assert listed["items"] == [
        {
            "productId": str(product.id),
            "productName": "Milk",
            "level": "low_stock",
            "currentStock": 2,
            "minimumStock": 0,
            "reorderPoint": 3,
            "unit": "litre",
            "supplier": None,
            "autoReorder": False,
            "reorderPending": False,
        }
    ]
    assert await reorders_of(session, product) == []  # auto-reorder is off

    url = f"/api/inventory/{product.id}"
    await client.put(url, json={"restockQuantity": 10}, headers=headers)  # 12: cleared
    assert (await client.get("/api/inventory/alerts", headers=headers)).json()["data"][
        "items"
    ] == []
    await waste(client, headers, product, 12)  # 0: a new crossing, out of stock
    alerts = await alerts_of(session, product)
    assert [a["level"] for a in alerts] == ["low_stock", "out_of_stock"]
    listed = (await client.get("/api/inventory/alerts", headers=headers)).json()["data"]
    assert [a["level"] for a in listed["items"]] == ["out_of_stock"]


async def test_raising_the_reorder_point_over_the_level_alerts(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1)
    await track(session, product, stock=4)
    await session.commit()
    headers = await login(client, world.users["manager"])
    url = f"/api/inventory/{product.id}"
    await client.put(url, json={"reorderPoint": 5}, headers=headers)
    await client.put(url, json={"reorderPoint": 6}, headers=headers)
    assert [a["level"] for a in await alerts_of(session, product)] == ["low_stock"]
    await client.put(url, json={"reorderPoint": 2}, headers=headers)  # above it again
    await client.put(url, json={"reorderPoint": 4}, headers=headers)
    assert len(await alerts_of(session, product)) == 2


async def test_minimum_stock_is_the_threshold_without_a_reorder_point(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1)
    await track(session, product, stock=6, minimum_stock_milli=4 * MILLI)
    await session.commit()
    headers = await login(client, world.users["kitchen_staff"])
    manager = await login(client, world.users["manager"])
    await waste(client, manager, product, 2)
    items = (await client.get("/api/inventory/alerts", headers=headers)).json()["data"]["items"]
    assert [(a["level"], a["reorderPoint"]) for a in items] == [("low_stock", 4)]


async def test_auto_reorder_on_crossing(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1, name="Beans")
    await track(
        session,
        product,
        stock=10,
        reorder_point_milli=4 * MILLI,
        reorder_quantity_milli=12 * MILLI,
        auto_reorder=True,
        supplier_name="Coffee Supplier Co",
        supplier_contact={"email": "orders@coffee.example"},
        cost_per_unit_minor=800,
    )
    await session.commit()
    headers = await login(client, world.users["manager"])
    await waste(client, headers, product, 6)
    await waste(client, headers, product, 1)
    requests = await reorders_of(session, product)
    assert len(requests) == 1
    request = requests[0]
    assert (request.quantity_milli, request.supplier_name, request.automatic) == (
        12 * MILLI,
        "Coffee Supplier Co",
        True,
    )
    assert request.supplier_contact == {"email": "orders@coffee.example"}
    assert request.status == "requested"
    listed = (await client.get("/api/inventory/reorders", headers=headers)).json()["data"]
    assert listed["items"][0]["automatic"] is True
    assert listed["items"][0]["estimatedCost"] == 96.0
    alerts = (await client.get("/api/inventory/alerts", headers=headers)).json()["data"]
    assert alerts["items"][0]["reorderPending"] is True


async def test_ledger_apply_directly(session: AsyncSession, world: World) -> None:
    """What orders rely on: a sale refused past zero, allowed when overselling is on,
    untracked products ignored, cancels put stock back."""
    product = await create_product(session, world.a1, name="Scone")
    untracked = await create_product(session, world.a1)
    await track(session, product, stock=2)
    await session.commit()
    restaurant_id, product_id, untracked_id = world.a1.id, product.id, untracked.id
    order_free = ledger.Movement(product_id, -3 * MILLI, "sale")
    with pytest.raises(ledger.OutOfStock) as refused:
        await ledger.apply(
            session, restaurant_id, order_free, allow_negative=False, product_name="Scone"
        )
    assert refused.value.details == {
        "productId": str(product_id),
        "requested": 3,
        "available": 2,
    }
    await session.rollback()
    sold = await ledger.apply(session, restaurant_id, order_free, allow_negative=True)
    assert sold is not None
    assert sold.balance_after_milli == -MILLI
    back = await ledger.apply(
        session,
        restaurant_id,
        ledger.Movement(product_id, 3 * MILLI, "cancel"),
        allow_negative=False,
    )
    assert back is not None
    assert back.balance_after_milli == 2 * MILLI
    assert (
        await ledger.apply(
            session,
            restaurant_id,
            ledger.Movement(untracked_id, -MILLI, "sale"),
            allow_negative=False,
        )
        is None
    )
    await session.commit()
    assert await ledger_balance(session, restaurant_id, product_id) == await level(
        session, product_id
    )


async def test_restaurant_stock_settings(session: AsyncSession, world: World) -> None:
    assert await allows_negative_stock(session, world.a1.id) is False
    assert await stock_deducted_on(session, world.a1.id) == "confirm"
    await set_pos(session, world.a1, allowNegativeStock=True, stockDeductOn="create")
    assert await allows_negative_stock(session, world.a1.id) is True
    assert await stock_deducted_on(session, world.a1.id) == "create"
    assert await allows_negative_stock(session, world.a2.id) is False
    await set_pos(session, world.a1, allowNegativeStock="yes", stockDeductOn="sometimes")
    assert await allows_negative_stock(session, world.a1.id) is False
    assert await stock_deducted_on(session, world.a1.id) == "confirm"
    assert await allows_negative_stock(session, uuid.uuid4()) is False


async def test_two_movements_in_one_transaction_alert_once(
    session: AsyncSession, world: World
) -> None:
    """An order that sells the same product twice in one transaction crosses once."""
    product = await create_product(session, world.a1)
    await track(session, product, stock=5, reorder_point_milli=3 * MILLI)
    await session.commit()
    for _ in range(2):
        await ledger.apply(
            session,
            world.a1.id,
            ledger.Movement(product.id, -MILLI * 2, "sale"),
            allow_negative=False,
        )
    await session.commit()
    assert len(await alerts_of(session, product)) == 1


async def test_several_products_move_in_one_statement_or_not_at_all(
    session: AsyncSession, world: World
) -> None:
    """An order's lines move together: one short product refuses them all (nothing
    half-applied once the transaction rolls back); untracked products are skipped; a
    product allowed past zero is not held to the floor of the others."""
    chips = await create_product(session, world.a1, name="Chips")
    cola = await create_product(session, world.a1, name="Cola")
    napkin = await create_product(session, world.a1, name="Napkin")  # not stock-tracked
    other_tenant = await create_product(session, world.a2, name="Chips")
    await track(session, chips, stock=5)
    await track(session, cola, stock=1)
    await track(session, other_tenant, stock=5)
    await session.commit()
    ids = {"chips": chips.id, "cola": cola.id, "napkin": napkin.id, "foreign": other_tenant.id}
    restaurant_id = world.a1.id

    def sale(**quantities: int) -> list[ledger.Movement]:
        return [ledger.Movement(ids[n], -q * MILLI, "sale") for n, q in quantities.items()]

    with pytest.raises(ledger.OutOfStock) as refused:
        await ledger.apply_many(
            session,
            restaurant_id,
            sale(chips=2, cola=2, napkin=1),
            allow_negative=False,
            names={ids["cola"]: "Cola"},
        )
    assert refused.value.details["productId"] == str(ids["cola"])
    assert "Not enough stock of 'Cola'" in refused.value.message
    await session.rollback()
    assert await level(session, ids["chips"]) == 5 * MILLI

    entries = await ledger.apply_many(
        session, restaurant_id, sale(chips=2, cola=1, napkin=1), allow_negative=False, names={}
    )
    assert sorted(e.product_id for e in entries) == sorted([ids["chips"], ids["cola"]])
    assert {e.product_id: e.balance_after_milli for e in entries} == {
        ids["chips"]: 3 * MILLI,
        ids["cola"]: 0,
    }
    # A restaurant's movement never reaches another tenant's row of the same product name.
    assert (
        await ledger.apply_many(
            session, restaurant_id, sale(foreign=1), allow_negative=False, names={}
        )
        == []
    )
    oversold = await ledger.apply_many(
        session, restaurant_id, sale(chips=1, cola=3), allow_negative=True, names={}
    )
    assert {e.product_id: e.balance_after_milli for e in oversold} == {
        ids["chips"]: 2 * MILLI,
        ids["cola"]: -3 * MILLI,
    }
    # Back from below zero: a return is never refused for leaving the level negative.
    back = await ledger.apply_many(
        session,
        restaurant_id,
        [
            ledger.Movement(ids["cola"], MILLI, "cancel"),
            ledger.Movement(ids["chips"], MILLI, "cancel"),
        ],
        allow_negative=False,
        names={},
    )
    assert {e.product_id: e.balance_after_milli for e in back} == {
        ids["chips"]: 3 * MILLI,
        ids["cola"]: -2 * MILLI,
    }
    await session.commit()
    assert await level(session, ids["foreign"]) == 5 * MILLI
    for name in ("chips", "cola"):
        assert await ledger_balance(session, restaurant_id, ids[name]) == await level(
            session, ids[name]
        )


async def test_apply_many_takes_one_movement_per_product_of_one_kind(
    session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1)
    with pytest.raises(ValueError, match="one movement per product"):
        await ledger.apply_many(
            session,
            world.a1.id,
            [ledger.Movement(product.id, -MILLI, "sale")] * 2,
            allow_negative=False,
            names={},
        )
    with pytest.raises(ValueError, match="all of one kind"):
        await ledger.apply_many(
            session,
            world.a1.id,
            [
                ledger.Movement(product.id, -MILLI, "sale"),
                ledger.Movement(uuid.uuid4(), MILLI, "restock"),
            ],
            allow_negative=False,
            names={},
        )
