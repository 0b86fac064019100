"""PUT /api/inventory/:productId: start tracking, settings, counts and deliveries."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import verify_all
from fynlo.models import AuditLog, StockMovement
from fynlo.models.inventory import MILLI
from tests.inventory.factories import create_product, level, track
from tests.world import World, login


async def movements(session: AsyncSession, product_id: object) -> list[tuple[str, int, str | None]]:
    await session.commit()
    rows = await session.execute(
        select(StockMovement.kind, StockMovement.quantity_milli, StockMovement.reason)
        .where(StockMovement.product_id == product_id)
        .order_by(StockMovement.created_at)
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_spec_body_starts_tracking_with_a_count(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1, name="Espresso Beans")
    await session.commit()
    headers = await login(client, world.users["manager"])
    response = await client.put(
        f"/api/inventory/{product.id}",
        json={
            "currentStock": 25,
            "lastRestocked": "2025-06-17T09:00:00Z",
            "supplier": "Coffee Supplier Co",
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["currentStock"] == 25
    assert data["supplier"] == "Coffee Supplier Co"
    assert data["lastRestocked"] == "2025-06-17T09:00:00Z"
    assert data["status"] == "in_stock"
    assert await movements(session, product.id) == [("count", 25 * MILLI, None)]
    assert await level(session, product) == 25 * MILLI

    again = await client.put(
        f"/api/inventory/{product.id}", json={"currentStock": 25}, headers=headers
    )
    assert again.status_code == 200  # tracking already; the same count moves nothing
    assert len(await movements(session, product.id)) == 1


async def test_settings_count_and_restock(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1)
    await track(session, product, stock=10)
    await session.commit()
    headers = await login(client, world.users["manager"])
    url = f"/api/inventory/{product.id}"
    settings = {
        "minimumStock": 2,
        "maximumStock": 40.5,
        "reorderPoint": 5,
        "reorderQuantity": 24,
        "unit": "kg",
        "costPerUnit": 12.5,
        "supplier": "Beans Ltd",
        "supplierContact": {"name": "Ana", "email": "ana@beans.example", "phone": "+44 20 1"},
        "autoReorder": True,
        "turnoverRate": "high",
    }
    response = await client.put(url, json=settings, headers=headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    for key, value in settings.items():
        assert data[key] == value, key
    assert data["stockValue"] == 125.0

    count = await client.put(
        url, json={"currentStock": 7.25, "reason": "weekly count"}, headers=headers
    )
    assert count.json()["data"]["currentStock"] == 7.25
    restock = await client.put(
        url, json={"restockQuantity": 0.75, "reason": "delivery #18"}, headers=headers
    )
    restocked = restock.json()["data"]
    assert restocked["currentStock"] == 8
    assert restocked["lastRestocked"] is not None
    assert restocked["reorderPoint"] == 5  # settings untouched by a stock change
    assert await movements(session, product.id) == [
        ("restock", 10 * MILLI, "opening stock"),
        ("count", -2750, "weekly count"),
        ("restock", 750, "delivery #18"),
    ]

    cleared = await client.put(
        url,
        json={"maximumStock": None, "reorderPoint": None, "supplierContact": None},
        headers=headers,
    )
    body = cleared.json()["data"]
    assert (body["maximumStock"], body["reorderPoint"], body["supplierContact"]) == (None, None, {})


async def test_changes_are_audited(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1)
    await session.commit()
    manager = world.users["manager"]
    headers = await login(client, manager)
    url = f"/api/inventory/{product.id}"
    await client.put(url, json={"currentStock": 3, "unit": "box"}, headers=headers)
    await client.put(url, json={"minimumStock": 1, "costPerUnit": 2}, headers=headers)
    await session.commit()
    rows = list(
        await session.scalars(
            select(AuditLog).where(AuditLog.action == "inventory.update").order_by(AuditLog.seq)
        )
    )
    assert [r.resource_id for r in rows] == [str(product.id)] * 2
    assert rows[0].user_id == manager.id
    assert rows[0].old_values is None
    assert rows[0].new_values is not None
    assert rows[0].new_values["currentStock"] == "3.000"
    assert rows[0].new_values["unit"] == "box"
    assert rows[1].old_values is not None
    assert rows[1].new_values is not None
    assert (rows[1].old_values["minimumStock"], rows[1].new_values["minimumStock"]) == (
        "0.000",
        "1.000",
    )
    assert (rows[1].old_values["costPerUnitMinor"], rows[1].new_values["costPerUnitMinor"]) == (
        0,
        200,
    )
    assert all(report.ok for report in await verify_all(session))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"currentStock": -1}, "currentStock"),
        ({"currentStock": 1.0005}, "currentStock"),
        ({"currentStock": "lots"}, "currentStock"),
        ({"currentStock": [3]}, "currentStock"),
        ({"currentStock": 1e13}, "currentStock"),
        ({"minimumStock": True}, "minimumStock"),
        ({"minimumStock": None}, "minimumStock"),
        ({"maximumStock": -0.001}, "maximumStock"),
        ({"reorderQuantity": 0}, "reorderQuantity"),
        ({"restockQuantity": 0}, "restockQuantity"),
        ({"restockQuantity": -5}, "restockQuantity"),
        ({"costPerUnit": -1}, "costPerUnit"),
        ({"costPerUnit": 1.234}, "costPerUnit"),
        ({"costPerUnit": "free"}, "costPerUnit"),
        ({"unit": ""}, "unit"),
        ({"unit": None}, "unit"),
        ({"supplier": "x" * 256}, "supplier"),
        ({"supplierContact": {"email": "not-an-email"}}, "supplierContact.email"),
        ({"supplierContact": {"fax": "1"}}, "supplierContact.fax"),
        ({"turnoverRate": "weekly"}, "turnoverRate"),
        ({"autoReorder": "sometimes"}, "autoReorder"),
        ({"lastRestocked": "2025-06-17T09:00:00"}, "lastRestocked"),
        ({"lastRestocked": "2999-01-01T00:00:00Z"}, "lastRestocked"),
        ({"lastRestocked": "yesterday"}, "lastRestocked"),
        ({"minimumStock": 10, "maximumStock": 5}, "maximumStock"),
        ({"autoReorder": True}, "supplier"),
        ({"currentStock": 1, "restockQuantity": 1}, "restockQuantity"),
        ({"reason": "no change given"}, "reason"),
        ({"status": "in_stock"}, "status"),
        ({"productId": "00000000-0000-0000-0000-000000000000"}, "productId"),
    ],
)
async def test_validation_names_the_field(
    client: httpx.AsyncClient, session: AsyncSession, world: World, body: dict[str, Any], field: str
) -> None:
    product = await create_product(session, world.a1)
    await track(session, product, stock=1)
    await session.commit()
    headers = await login(client, world.users["manager"])
    response = await client.put(f"/api/inventory/{product.id}", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert [d["field"] for d in response.json()["error"]["details"]] == [field]
    assert await level(session, product) == MILLI


async def test_body_must_be_an_object(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1)
    await session.commit()
    headers = await login(client, world.users["manager"])
    bodies: list[object] = [[], 5, None]
    for body in bodies:
        response = await client.put(f"/api/inventory/{product.id}", json=body, headers=headers)
        assert response.status_code == 422, body


async def test_existing_max_below_new_min_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1)
    await track(session, product, maximum_stock_milli=5 * MILLI)
    await session.commit()
    headers = await login(client, world.users["manager"])
    response = await client.put(
        f"/api/inventory/{product.id}", json={"minimumStock": 6}, headers=headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "maximumStock"


async def test_another_tenants_product_is_404_and_archived_is_409(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    theirs = await create_product(session, world.b)
    archived = await create_product(session, world.a1, is_archived=True)
    await session.commit()
    headers = await login(client, world.users["manager"])
    response = await client.put(
        f"/api/inventory/{theirs.id}", json={"currentStock": 1}, headers=headers
    )
    assert response.status_code == 404
    assert response.json()["error"]["details"]["resource"] == "Product"
    unknown = await client.put(
        "/api/inventory/00000000-0000-4000-8000-000000000000",
        json={"currentStock": 1},
        headers=headers,
    )
    assert unknown.status_code == 404
    gone = await client.put(
        f"/api/inventory/{archived.id}", json={"currentStock": 1}, headers=headers
    )
    assert gone.status_code == 409
    assert gone.json()["error"]["code"] == "product_archived"
    await session.commit()
    assert (await session.scalars(select(StockMovement))).all() == []


async def test_other_manager_cannot_touch_mine(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1)
    await track(session, product, stock=2)
    await session.commit()
    headers = await login(client, world.other_manager)
    response = await client.put(
        f"/api/inventory/{product.id}", json={"currentStock": 99}, headers=headers
    )
    assert response.status_code == 404
    assert await level(session, product) == 2 * MILLI


async def test_waiter_cannot_put(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1)
    await session.commit()
    headers = await login(client, world.users["waiter"])
    response = await client.put(
        f"/api/inventory/{product.id}", json={"currentStock": 1}, headers=headers
    )
    assert response.status_code == 403
    assert "inventory.manage" in response.json()["error"]["message"]


async def test_a_retried_delivery_is_added_once(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1)
    await track(session, product, stock=1)
    await session.commit()
    headers = {**await login(client, world.users["manager"]), "Idempotency-Key": "delivery-7"}
    url = f"/api/inventory/{product.id}"
    first = await client.put(url, json={"restockQuantity": 6}, headers=headers)
    retry = await client.put(url, json={"restockQuantity": 6}, headers=headers)
    assert first.status_code == retry.status_code == 200
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.json() == first.json()
    assert await level(session, product) == 7 * MILLI
    other = await client.put(url, json={"restockQuantity": 5}, headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
