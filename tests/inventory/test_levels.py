"""GET /api/inventory (list, filters, one product), roles and tenancy."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models.inventory import MILLI
from tests.inventory.factories import create_product, track
from tests.world import World, login


async def test_list_shows_tracked_products_with_status_and_value(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    milk = await create_product(session, world.a1, name="Milk")
    beans = await create_product(session, world.a1, name="Coffee Beans")
    await create_product(session, world.a1, name="Untracked Cake")
    await track(
        session,
        milk,
        stock=3,
        reorder_point_milli=5 * MILLI,
        cost_per_unit_minor=125,
        unit="litre",
        supplier_name="Dairy Co",
    )
    await track(session, beans, stock=20, minimum_stock_milli=2 * MILLI, cost_per_unit_minor=999)
    await session.commit()

    headers = await login(client, world.users["manager"])
    response = await client.get("/api/inventory", headers=headers)
    assert response.status_code == 200, response.text
    page = response.json()["data"]
    assert page["pagination"] == {"limit": 50, "offset": 0, "total": 2, "hasMore": False}
    by_name = {row["productName"]: row for row in page["items"]}
    assert set(by_name) == {"Milk", "Coffee Beans"}
    assert by_name["Milk"] | {"updatedAt": None} == {
        "productId": str(milk.id),
        "productName": "Milk",
        "currentStock": 3,
        "minimumStock": 0,
        "maximumStock": None,
        "reorderPoint": 5,
        "reorderQuantity": None,
        "unit": "litre",
        "costPerUnit": 1.25,
        "currency": "GBP",
        "supplier": "Dairy Co",
        "supplierContact": {},
        "lastRestocked": by_name["Milk"]["lastRestocked"],
        "autoReorder": False,
        "turnoverRate": "medium",
        "status": "low_stock",
        "stockValue": 3.75,
        "updatedAt": None,
    }
    assert by_name["Milk"]["lastRestocked"] is not None  # the opening delivery
    assert by_name["Coffee Beans"]["status"] == "in_stock"
    assert by_name["Coffee Beans"]["stockValue"] == 199.8


async def test_filters_and_pagination(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    empty = await create_product(session, world.a1, name="Oat Milk")
    low = await create_product(session, world.a1, name="Whole Milk")
    fine = await create_product(session, world.a1, name="Sugar")
    archived = await create_product(session, world.a1, name="Old Syrup", is_archived=True)
    await track(session, empty, stock=0, supplier_name="Oatly Ltd")
    await track(session, low, stock=2, minimum_stock_milli=2 * MILLI)
    await track(session, fine, stock=50, minimum_stock_milli=2 * MILLI)
    await track(session, archived, stock=1)
    await session.commit()
    headers = await login(client, world.users["manager"])

    async def names(query: str) -> list[str]:
        response = await client.get(f"/api/inventory{query}", headers=headers)
        assert response.status_code == 200, response.text
        return [row["productName"] for row in response.json()["data"]["items"]]

    assert await names("") == ["Oat Milk", "Sugar", "Whole Milk"]
    assert await names("?includeArchived=true") == ["Oat Milk", "Old Syrup", "Sugar", "Whole Milk"]
    assert await names("?status=out_of_stock") == ["Oat Milk"]
    assert await names("?status=low_stock") == ["Whole Milk"]
    assert await names("?status=in_stock") == ["Sugar"]
    assert await names("?search=MILK") == ["Oat Milk", "Whole Milk"]
    assert await names("?search=oatly") == ["Oat Milk"]
    second = await client.get("/api/inventory?limit=2&offset=2", headers=headers)
    assert second.json()["data"]["pagination"] == {
        "limit": 2,
        "offset": 2,
        "total": 3,
        "hasMore": False,
    }
    assert [r["productName"] for r in second.json()["data"]["items"]] == ["Whole Milk"]


@pytest.mark.parametrize(
    ("query", "field"),
    [("?status=plenty", "status"), ("?limit=0", "limit"), ("?search=" + "x" * 101, "search")],
)
async def test_list_query_validation(
    client: httpx.AsyncClient, world: World, query: str, field: str
) -> None:
    headers = await login(client, world.users["manager"])
    response = await client.get(f"/api/inventory{query}", headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == field


async def test_one_product(client: httpx.AsyncClient, session: AsyncSession, world: World) -> None:
    tracked = await create_product(session, world.a1)
    untracked = await create_product(session, world.a1)
    await track(session, tracked, stock=4)
    await session.commit()
    headers = await login(client, world.users["kitchen_staff"])
    response = await client.get(f"/api/inventory/{tracked.id}", headers=headers)
    assert response.status_code == 200
    assert response.json()["data"]["currentStock"] == 4
    missing = await client.get(f"/api/inventory/{untracked.id}", headers=headers)
    assert missing.status_code == 404
    bad = await client.get("/api/inventory/not-a-uuid", headers=headers)
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "product_id"


@pytest.mark.parametrize("role", ["waiter", "cashier", "captain", "employee"])
async def test_roles_without_inventory_read_get_403(
    client: httpx.AsyncClient, world: World, role: str
) -> None:
    headers = await login(client, world.users[role])
    for path in ("/api/inventory", "/api/inventory/alerts", "/api/inventory/reorders"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "permission_denied"
        assert "inventory.read" in response.json()["error"]["message"]


async def test_kitchen_staff_reads_but_cannot_manage(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1)
    await track(session, product, stock=5, supplier_name="Acme")
    await session.commit()
    headers = await login(client, world.users["kitchen_staff"])
    assert (await client.get("/api/inventory", headers=headers)).status_code == 200
    assert (await client.get("/api/inventory/alerts", headers=headers)).status_code == 200
    assert (
        await client.get(f"/api/inventory/{product.id}/movements", headers=headers)
    ).status_code == 200
    for method, path, body in (
        ("PUT", f"/api/inventory/{product.id}", {"currentStock": 1}),
        (
            "POST",
            "/api/inventory/waste",
            {"productId": str(product.id), "quantity": 1, "reason": "dropped"},
        ),
        ("POST", "/api/inventory/reorder", {"productId": str(product.id)}),
    ):
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, path
        assert "inventory.manage" in response.json()["error"]["message"]


async def test_unauthenticated_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/inventory")).status_code == 401


async def test_tenants_see_only_their_own_stock(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    mine = await create_product(session, world.a1, name="Mine")
    theirs = await create_product(session, world.b, name="Theirs")
    await track(session, mine, stock=1)
    await track(session, theirs, stock=1)
    await session.commit()

    manager = await login(client, world.users["manager"])
    items = (await client.get("/api/inventory", headers=manager)).json()["data"]["items"]
    assert [row["productName"] for row in items] == ["Mine"]
    for path in (f"/api/inventory/{theirs.id}", f"/api/inventory/{theirs.id}/movements"):
        response = await client.get(path, headers=manager)
        assert response.status_code == 404, path
    other = await client.get(f"/api/inventory?restaurantId={world.b.id}", headers=manager)
    assert other.status_code == 404

    owner = await login(client, world.owner_a)
    default = await client.get("/api/inventory", headers=owner)  # their home restaurant
    assert [row["productName"] for row in default.json()["data"]["items"]] == ["Mine"]
    a1 = await client.get(f"/api/inventory?restaurantId={world.a1.id}", headers=owner)
    assert [row["productName"] for row in a1.json()["data"]["items"]] == ["Mine"]
    a2 = await client.get(f"/api/inventory?restaurantId={world.a2.id}", headers=owner)
    assert a2.json()["data"]["items"] == []
    b = await client.get(f"/api/inventory?restaurantId={world.b.id}", headers=owner)
    assert b.status_code == 404
