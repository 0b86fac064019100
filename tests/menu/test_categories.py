"""Categories: CRUD, unique names, archiving rules, validation and tenancy."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.menu.factories import (
    audit_actions,
    create_category,
    create_product,
    menu_events,
)
from tests.world import World, login

URL = "/api/categories"


async def test_manager_creates_a_category(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    headers = await login(client, world.users["manager"])
    body = {
        "name": "Hot Drinks",
        "description": "Coffee and tea",
        "imageUrl": "https://cdn.example.com/hot.png",
        "color": "#A0522D",
        "sortOrder": 2,
        "kitchenStation": "bar",
    }
    response = await client.post(URL, json=body, headers=headers)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert {k: data[k] for k in body} == body
    assert data["isActive"] is True
    assert data["restaurantId"] == str(world.a1.id)
    assert await audit_actions(session, data["id"]) == ["category.create"]
    assert await menu_events(session, world.a1.id) == [
        {"categoryId": data["id"], "action": "created"}
    ]
    fetched = await client.get(f"{URL}/{data['id']}", headers=headers)
    assert fetched.json()["data"] == data


async def test_names_are_unique_among_active_categories(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    await create_category(session, world.a1, name="Desserts")
    await create_category(session, world.a1, name="Old Specials", is_active=False)
    await create_category(session, world.b, name="Starters")
    await session.commit()
    headers = await login(client, world.users["manager"])
    clash = await client.post(URL, json={"name": "DESSERTS"}, headers=headers)
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "already_exists"
    assert clash.json()["error"]["details"] == {"fields": ["name"]}
    # an archived category's name, and another restaurant's, are free
    assert (
        await client.post(URL, json={"name": "Old Specials"}, headers=headers)
    ).status_code == 201
    assert (await client.post(URL, json={"name": "Starters"}, headers=headers)).status_code == 201


async def test_list_is_sorted_and_hides_archived(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    await create_category(session, world.a1, name="Zebra", sort_order=0)
    await create_category(session, world.a1, name="Apple", sort_order=1)
    await create_category(session, world.a1, name="Mango", sort_order=0)
    await create_category(session, world.a1, name="Gone", is_active=False)
    await create_category(session, world.b, name="Elsewhere")
    await session.commit()
    headers = await login(client, world.users["waiter"])
    page = (await client.get(URL, headers=headers)).json()["data"]
    assert [c["name"] for c in page["items"]] == ["Mango", "Zebra", "Apple"]
    assert page["pagination"] == {"limit": 50, "offset": 0, "total": 3, "hasMore": False}
    everything = await client.get(URL, params={"includeArchived": "true"}, headers=headers)
    assert [c["name"] for c in everything.json()["data"]["items"]] == [
        "Gone",
        "Mango",
        "Zebra",
        "Apple",
    ]
    second = await client.get(URL, params={"limit": 1, "offset": 1}, headers=headers)
    assert [c["name"] for c in second.json()["data"]["items"]] == ["Zebra"]
    assert second.json()["data"]["pagination"]["hasMore"] is True


async def test_update_renames_clears_and_refuses_nulls(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    category = await create_category(session, world.a1, name="Mains", description="Big plates")
    await create_category(session, world.a1, name="Sides")
    await session.commit()
    headers = await login(client, world.users["manager"])
    url = f"{URL}/{category.id}"
    response = await client.put(
        url,
        json={"name": "Main Courses", "description": None, "kitchenStation": "grill"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["name"], data["description"], data["kitchenStation"]) == (
        "Main Courses",
        None,
        "grill",
    )
    assert await audit_actions(session, str(category.id)) == ["category.update"]
    taken = await client.put(url, json={"name": "sides"}, headers=headers)
    assert taken.status_code == 409
    assert taken.json()["error"]["details"] == {"fields": ["name"]}
    # only the case changes: its own name never clashes
    assert (
        await client.put(url, json={"name": "MAIN COURSES"}, headers=headers)
    ).status_code == 200
    for field in ("name", "sortOrder", "isActive"):
        bad = await client.put(url, json={field: None}, headers=headers)
        assert bad.status_code == 422, field
        assert bad.json()["error"]["details"][0]["field"] == field
    unchanged = await client.put(url, json={}, headers=headers)
    assert unchanged.status_code == 200
    assert await audit_actions(session, str(category.id)) == ["category.update"] * 2


async def test_archiving_is_refused_while_products_are_active(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    category = await create_category(session, world.a1, name="Breakfast")
    await create_product(session, world.a1, category, name="Eggs")
    await create_product(session, world.a1, category, name="Toast")
    await create_product(session, world.a1, category, name="Old Muffin", is_archived=True)
    await session.commit()
    headers = await login(client, world.users["manager"])
    url = f"{URL}/{category.id}"
    refused = await client.delete(url, headers=headers)
    assert refused.status_code == 409
    assert refused.json()["error"]["details"] == {"activeProducts": 2}
    assert "2 active product" in refused.json()["error"]["message"]
    via_put = await client.put(url, json={"isActive": False}, headers=headers)
    assert via_put.status_code == 409


async def test_delete_archives_and_put_restores(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    category = await create_category(session, world.a1, name="Seasonal")
    await session.commit()
    headers = await login(client, world.users["manager"])
    url = f"{URL}/{category.id}"
    archived = await client.delete(url, headers=headers)
    assert archived.status_code == 200
    assert archived.json()["data"]["isActive"] is False
    again = await client.delete(url, headers=headers)
    assert again.status_code == 200
    assert await audit_actions(session, str(category.id)) == ["category.archive"]
    assert (await client.get(url, headers=headers)).json()["data"]["isActive"] is False
    # a new active category took the name meanwhile: restoring would clash
    await create_category(session, world.a1, name="seasonal")
    await session.commit()
    clash = await client.put(url, json={"isActive": True}, headers=headers)
    assert clash.status_code == 409
    restored = await client.put(url, json={"isActive": True, "name": "Seasonal 2"}, headers=headers)
    assert restored.status_code == 200
    assert restored.json()["data"]["isActive"] is True
    actions = [e["action"] for e in await menu_events(session, world.a1.id)]
    assert actions == ["archived", "restored"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": 42}, "name"),
        ({"name": "Ok", "sortOrder": -1}, "sortOrder"),
        ({"name": "Ok", "sortOrder": "first"}, "sortOrder"),
        ({"name": "Ok", "sortOrder": 1_000_001}, "sortOrder"),
        ({"name": "Ok", "color": "not a colour!"}, "color"),
        ({"name": "Ok", "imageUrl": "not-a-url"}, "imageUrl"),
        ({"name": "Ok", "imageUrl": "ftp://example.com/x.png"}, "imageUrl"),
        ({"name": "Ok", "kitchenStation": "k" * 51}, "kitchenStation"),
        ({"name": "Ok", "isActive": "perhaps"}, "isActive"),
        ({"name": "Ok", "restaurantId": "00000000-0000-0000-0000-000000000000"}, "restaurantId"),
        ({"name": "Ok", "status": "live"}, "status"),
    ],
)
async def test_create_validation_names_the_field(
    client: httpx.AsyncClient, world: World, body: dict[str, Any], field: str
) -> None:
    response = await client.post(
        URL, json=body, headers=await login(client, world.users["manager"])
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"sortOrder": -5}, "sortOrder"),
        ({"color": "#12"}, "color"),
        ({"imageUrl": "nope"}, "imageUrl"),
        ({"version": 1}, "version"),
    ],
)
async def test_update_validation_names_the_field(
    client: httpx.AsyncClient,
    world: World,
    session: AsyncSession,
    body: dict[str, Any],
    field: str,
) -> None:
    category = await create_category(session, world.a1)
    await session.commit()
    response = await client.put(
        f"{URL}/{category.id}", json=body, headers=await login(client, world.users["manager"])
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == field


async def test_another_tenants_category_is_not_found(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    theirs = await create_category(session, world.b, name="Theirs")
    await session.commit()
    headers = await login(client, world.users["manager"])
    url = f"{URL}/{theirs.id}"
    assert (await client.get(url, headers=headers)).status_code == 404
    assert (await client.put(url, json={"name": "Mine"}, headers=headers)).status_code == 404
    assert (await client.delete(url, headers=headers)).status_code == 404
    missing = await client.get(f"{URL}/6b0f6c1e-8a38-4c86-9a84-0f5c1f8d3e11", headers=headers)
    assert missing.status_code == 404
    assert (await client.get(f"{URL}/not-a-uuid", headers=headers)).json()["error"]["details"][0][
        "field"
    ] == "category_id"
    other = await client.get(URL, params={"restaurantId": str(world.b.id)}, headers=headers)
    assert other.status_code == 404


async def test_owner_picks_the_restaurant(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    headers = await login(client, world.owner_a)
    home = await client.post(URL, json={"name": "Wine"}, headers=headers)
    assert home.json()["data"]["restaurantId"] == str(world.a1.id)  # their own by default
    created = await client.post(
        URL, params={"restaurantId": str(world.a2.id)}, json={"name": "Wine"}, headers=headers
    )
    assert created.status_code == 201
    assert created.json()["data"]["restaurantId"] == str(world.a2.id)
    in_a2 = await client.get(URL, params={"restaurantId": str(world.a2.id)}, headers=headers)
    assert [c["name"] for c in in_a2.json()["data"]["items"]] == ["Wine"]
    not_theirs = await client.post(
        URL, params={"restaurantId": str(world.b.id)}, json={"name": "Wine"}, headers=headers
    )
    assert not_theirs.status_code == 404
