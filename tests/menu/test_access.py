"""Who may call each menu endpoint: menu.read to look, menu.manage to change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.menu.factories import create_category, create_product, product_body
from tests.world import World, login

READERS = ["manager", "captain", "cashier", "waiter", "kitchen_staff", "employee"]
NOT_MANAGERS = ["captain", "cashier", "waiter", "kitchen_staff", "employee"]


@dataclass
class Ids:
    category: str
    product: str


@pytest.fixture
async def ids(world: World, session: AsyncSession) -> Ids:
    category = await create_category(session, world.a1, name="Mains")
    product = await create_product(session, world.a1, category, name="Pie")
    await session.commit()
    return Ids(str(category.id), str(product.id))


def reads(ids: Ids) -> list[tuple[str, str]]:
    return [
        ("GET", "/api/categories"),
        ("GET", f"/api/categories/{ids.category}"),
        ("GET", "/api/products"),
        ("GET", f"/api/products/{ids.product}"),
    ]


def writes(ids: Ids) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("POST", "/api/categories", {"name": "Sides"}),
        ("PUT", f"/api/categories/{ids.category}", {"name": "Big Plates"}),
        ("DELETE", f"/api/categories/{ids.category}", None),
        ("POST", "/api/products", product_body(ids.category)),
        ("PUT", f"/api/products/{ids.product}", {"price": 9}),
        ("PATCH", f"/api/products/{ids.product}/availability", {"isAvailable": False}),
        ("DELETE", f"/api/products/{ids.product}", None),
    ]


@pytest.mark.parametrize("role", READERS)
async def test_every_staff_role_reads_the_menu(
    client: httpx.AsyncClient, world: World, ids: Ids, role: str
) -> None:
    headers = await login(client, world.users[role])
    for method, url in reads(ids):
        response = await client.request(method, url, headers=headers)
        assert response.status_code == 200, (role, url, response.text)


@pytest.mark.parametrize("role", NOT_MANAGERS)
async def test_only_menu_managers_change_it(
    client: httpx.AsyncClient, world: World, ids: Ids, role: str
) -> None:
    headers = await login(client, world.users[role])
    for method, url, body in writes(ids):
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status_code == 403, (role, method, url)
        error = response.json()["error"]
        assert error["code"] == "permission_denied"
        assert error["details"] == {"permission": "menu.manage"}
        assert "menu.manage" in error["message"]


@pytest.mark.parametrize("who", ["manager", "owner_a"])
async def test_managers_and_owners_change_it(
    client: httpx.AsyncClient, world: World, ids: Ids, who: str
) -> None:
    user = world.owner_a if who == "owner_a" else world.users["manager"]
    headers = await login(client, user)
    steps = writes(ids)
    archive_category = steps.pop(2)
    for method, url, body in steps:
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status_code in (200, 201), (method, url, response.text)
    # the product just created keeps the category active
    method, url, _ = archive_category
    assert (await client.request(method, url, headers=headers)).status_code == 409


async def test_revoked_permission_is_refused(
    client: httpx.AsyncClient, world: World, ids: Ids, session: AsyncSession
) -> None:
    manager = world.users["manager"]
    manager.permissions = {"grant": [], "revoke": ["menu.manage"]}
    waiter = world.users["waiter"]
    waiter.permissions = {"grant": ["menu.manage"], "revoke": []}
    session.add_all([manager, waiter])
    await session.commit()
    refused = await client.post(
        "/api/categories", json={"name": "X"}, headers=await login(client, manager)
    )
    assert refused.status_code == 403
    granted = await client.post(
        "/api/categories", json={"name": "X"}, headers=await login(client, waiter)
    )
    assert granted.status_code == 201


async def test_without_a_token(client: httpx.AsyncClient, ids: Ids) -> None:
    for method, url in reads(ids):
        assert (await client.request(method, url)).status_code == 401
    for method, url, body in writes(ids):
        assert (await client.request(method, url, json=body)).status_code == 401


async def test_platform_owner_names_the_restaurant(
    client: httpx.AsyncClient, world: World, ids: Ids
) -> None:
    headers = await login(client, world.platform_owner)
    needs = await client.get("/api/products", headers=headers)
    assert needs.status_code == 422
    assert needs.json()["error"]["details"][0]["field"] == "restaurantId"
    listed = await client.get(
        "/api/products", params={"restaurantId": str(world.a1.id)}, headers=headers
    )
    assert [p["name"] for p in listed.json()["data"]["items"]] == ["Pie"]
    assert (await client.get(f"/api/products/{ids.product}", headers=headers)).status_code == 200


async def test_other_restaurants_manager_gets_404_not_403(
    client: httpx.AsyncClient, world: World, ids: Ids
) -> None:
    headers = await login(client, world.other_manager)
    for method, url in reads(ids)[1::2]:
        assert (await client.request(method, url, headers=headers)).status_code == 404
    for method, url, body in writes(ids):
        if method == "POST":
            continue
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status_code == 404, (method, url)
    created = await client.post("/api/products", json=product_body(ids.category), headers=headers)
    assert created.status_code == 422
    assert created.json()["error"]["details"] == [
        {"field": "categoryId", "message": "no such category"}
    ]
