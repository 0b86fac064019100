"""POST /api/inventory/waste, POST /api/inventory/reorder and GET /api/inventory/reorders."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models import AuditLog, ReorderRequest
from fynlo.models.inventory import MILLI
from tests.inventory.factories import create_product, level, set_pos, track
from tests.world import World, login


async def test_waste_records_a_movement_and_audit(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1, name="Croissant")
    await track(session, product, stock=10)
    await session.commit()
    manager = world.users["manager"]
    headers = await login(client, manager)
    response = await client.post(
        "/api/inventory/waste",
        json={"productId": str(product.id), "quantity": 2.5, "reason": "burnt"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["movement"]["kind"] == "waste"
    assert data["movement"]["quantity"] == -2.5
    assert data["movement"]["balanceAfter"] == 7.5
    assert data["movement"]["reason"] == "burnt"
    assert data["movement"]["userId"] == str(manager.id)
    assert data["inventory"]["currentStock"] == 7.5
    assert await level(session, product) == 7500
    audit = await session.scalar(select(AuditLog).where(AuditLog.action == "inventory.waste"))
    assert audit is not None
    assert audit.old_values == {"currentStock": "10.000"}
    assert audit.new_values == {"currentStock": "7.500", "wasted": "2.5", "reason": "burnt"}


async def test_waste_beyond_stock_is_refused_unless_negative_stock_is_allowed(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1, name="Bagel")
    await track(session, product, stock=2)
    await session.commit()
    headers = await login(client, world.users["manager"])
    body = {"productId": str(product.id), "quantity": 3, "reason": "mould"}

    refused = await client.post("/api/inventory/waste", json=body, headers=headers)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "out_of_stock"
    assert error["details"] == {"productId": str(product.id), "requested": 3, "available": 2}
    assert "Bagel" in error["message"]
    assert await level(session, product) == 2 * MILLI
    assert (
        await session.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == "inventory.waste")
        )
        == 0
    )

    await set_pos(session, world.a1, allowNegativeStock=True)
    allowed = await client.post("/api/inventory/waste", json=body, headers=headers)
    assert allowed.status_code == 201, allowed.text
    assert allowed.json()["data"]["inventory"]["currentStock"] == -1
    assert allowed.json()["data"]["inventory"]["status"] == "out_of_stock"
    assert allowed.json()["data"]["inventory"]["stockValue"] == 0
    assert await level(session, product) == -MILLI


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"productId": None}, "productId"),
        ({"productId": "nope"}, "productId"),
        ({"quantity": None}, "quantity"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": -1}, "quantity"),
        ({"quantity": 0.0001}, "quantity"),
        ({"quantity": "two"}, "quantity"),
        ({"reason": None}, "reason"),
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"reason": 5}, "reason"),
        ({"kind": "sale"}, "kind"),
    ],
)
async def test_waste_validation(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    patch: dict[str, Any],
    field: str,
) -> None:
    product = await create_product(session, world.a1)
    await track(session, product, stock=5)
    await session.commit()
    body: dict[str, Any] = {"productId": str(product.id), "quantity": 1, "reason": "spilt"}
    body.update(patch)
    body = {k: v for k, v in body.items() if v is not None}
    headers = await login(client, world.users["manager"])
    response = await client.post("/api/inventory/waste", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert [d["field"] for d in response.json()["error"]["details"]] == [field]
    assert await level(session, product) == 5 * MILLI


async def test_waste_of_another_tenant_or_untracked_product_is_404(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    theirs = await create_product(session, world.b)
    await track(session, theirs, stock=5)
    untracked = await create_product(session, world.a1)
    await session.commit()
    headers = await login(client, world.users["manager"])
    for product in (theirs, untracked):
        response = await client.post(
            "/api/inventory/waste",
            json={"productId": str(product.id), "quantity": 1, "reason": "x"},
            headers=headers,
        )
        assert response.status_code == 404
    assert await level(session, theirs) == 5 * MILLI


async def test_waste_role_checks(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1)
    await track(session, product, stock=5)
    await session.commit()
    body = {"productId": str(product.id), "quantity": 1, "reason": "x"}
    waiter = await client.post(
        "/api/inventory/waste", json=body, headers=await login(client, world.users["waiter"])
    )
    assert waiter.status_code == 403
    assert "inventory.manage" in waiter.json()["error"]["message"]
    owner = await client.post(
        f"/api/inventory/waste?restaurantId={world.a1.id}",
        json=body,
        headers=await login(client, world.owner_a),
    )
    assert owner.status_code == 201


async def test_waste_is_idempotent(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1)
    await track(session, product, stock=5)
    await session.commit()
    headers = {**await login(client, world.users["manager"]), "Idempotency-Key": "waste-1"}
    body = {"productId": str(product.id), "quantity": 1, "reason": "x"}
    first = await client.post("/api/inventory/waste", json=body, headers=headers)
    second = await client.post("/api/inventory/waste", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert await level(session, product) == 4 * MILLI


async def test_reorder_to_the_supplier_on_file(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1, name="Oat Milk")
    await track(
        session,
        product,
        stock=4,
        maximum_stock_milli=24 * MILLI,
        cost_per_unit_minor=150,
        unit="carton",
        supplier_name="Oatly Ltd",
        supplier_contact={"email": "orders@oatly.example"},
    )
    await session.commit()
    manager = world.users["manager"]
    headers = await login(client, manager)
    default = await client.post(
        "/api/inventory/reorder", json={"productId": str(product.id)}, headers=headers
    )
    assert default.status_code == 201, default.text
    data = default.json()["data"]
    assert data["quantity"] == 20  # refills to the maximum
    assert data["supplier"] == "Oatly Ltd"
    assert data["supplierContact"] == {"email": "orders@oatly.example"}
    assert data["estimatedCost"] == 30.0
    assert data["unit"] == "carton"
    assert data["status"] == "requested"
    assert data["automatic"] is False
    assert data["requestedBy"] == str(manager.id)

    explicit = await client.post(
        "/api/inventory/reorder",
        json={"productId": str(product.id), "quantity": 6.5, "notes": "before Friday"},
        headers=headers,
    )
    assert explicit.json()["data"]["quantity"] == 6.5
    assert explicit.json()["data"]["notes"] == "before Friday"

    listing = await client.get("/api/inventory/reorders", headers=headers)
    items = listing.json()["data"]["items"]
    assert [i["quantity"] for i in items] == [6.5, 20]
    assert listing.json()["data"]["pagination"]["total"] == 2
    none = await client.get("/api/inventory/reorders?status=received", headers=headers)
    assert none.json()["data"]["items"] == []
    by_product = await client.get(
        f"/api/inventory/reorders?status=requested&productId={product.id}", headers=headers
    )
    assert by_product.json()["data"]["pagination"]["total"] == 2
    assert (
        await client.get("/api/inventory/reorders?status=lost", headers=headers)
    ).status_code == 422
    audits = await session.scalar(
        select(func.count()).select_from(AuditLog).where(AuditLog.action == "inventory.reorder")
    )
    assert audits == 2
    # Asking changes no stock.
    assert await level(session, product) == 4 * MILLI


async def test_reorder_needs_a_supplier_and_a_live_tracked_product(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    nobody = await create_product(session, world.a1)
    await track(session, nobody, stock=1)
    untracked = await create_product(session, world.a1)
    archived = await create_product(session, world.a1, is_archived=True)
    await track(session, archived, supplier_name="Acme")
    theirs = await create_product(session, world.b)
    await track(session, theirs, supplier_name="Acme")
    await session.commit()
    headers = await login(client, world.users["manager"])

    async def reorder(product_id: object) -> httpx.Response:
        return await client.post(
            "/api/inventory/reorder", json={"productId": str(product_id)}, headers=headers
        )

    no_supplier = await reorder(nobody.id)
    assert no_supplier.status_code == 409
    assert no_supplier.json()["error"]["code"] == "no_supplier"
    assert no_supplier.json()["error"]["details"]["field"] == "supplier"
    assert (await reorder(untracked.id)).status_code == 404
    assert (await reorder(theirs.id)).status_code == 404
    assert (await reorder(archived.id)).status_code == 409
    assert (await session.scalars(select(ReorderRequest))).all() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "productId"),
        ({"productId": 12}, "productId"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": 1.2345}, "quantity"),
        ({"quantity": "many"}, "quantity"),
        ({"notes": "x" * 1001}, "notes"),
        ({"supplier": "Someone Else"}, "supplier"),
    ],
)
async def test_reorder_validation(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    body: dict[str, Any],
    field: str,
) -> None:
    product = await create_product(session, world.a1)
    await track(session, product, supplier_name="Acme")
    await session.commit()
    full: dict[str, Any] = {"productId": str(product.id), **body} if body else {}
    headers = await login(client, world.users["manager"])
    response = await client.post("/api/inventory/reorder", json=full, headers=headers)
    assert response.status_code == 422, response.text
    assert [d["field"] for d in response.json()["error"]["details"]] == [field]


async def test_reorder_role_checks(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1)
    await track(session, product, supplier_name="Acme")
    await session.commit()
    body = {"productId": str(product.id)}
    kitchen = await login(client, world.users["kitchen_staff"])
    refused = await client.post("/api/inventory/reorder", json=body, headers=kitchen)
    assert refused.status_code == 403
    assert "inventory.manage" in refused.json()["error"]["message"]
    assert (await client.get("/api/inventory/reorders", headers=kitchen)).status_code == 200
    other = await login(client, world.other_manager)
    assert (
        await client.post("/api/inventory/reorder", json=body, headers=other)
    ).status_code == 404
    await session.commit()
    assert (await session.scalars(select(ReorderRequest))).all() == []
