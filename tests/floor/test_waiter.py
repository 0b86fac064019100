"""Assigning a waiter: only working floor staff of the same restaurant."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import create_user
from tests.floor.factories import create_table
from tests.floor.support import Auth, audit_actions, events
from tests.world import World


def url(table_id: uuid.UUID) -> str:
    return f"/api/tables/{table_id}/waiter"


@pytest.mark.parametrize("role", ["waiter", "captain", "manager"])
async def test_assign_and_unassign(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession, role: str
) -> None:
    table = await create_table(session, world.a1)
    await session.commit()
    headers = await auth("waiter")
    person = world.users[role]
    assigned = await client.put(
        url(table.id), json={"waiterId": str(person.id), "version": 1}, headers=headers
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["data"]["waiterId"] == str(person.id)
    assert assigned.json()["data"]["version"] == 2
    same = await client.put(url(table.id), json={"waiterId": str(person.id)}, headers=headers)
    assert same.json()["data"]["version"] == 2
    listed = await client.get("/api/tables", params={"waiterId": str(person.id)}, headers=headers)
    assert [t["id"] for t in listed.json()["data"]["items"]] == [str(table.id)]
    cleared = await client.put(url(table.id), json={"waiterId": None}, headers=headers)
    assert cleared.status_code == 200
    assert cleared.json()["data"]["waiterId"] is None
    assert await audit_actions(session, table.id) == ["table.waiter_assigned"] * 2
    assert [e["waiterId"] for e in await events(session, "table_updated")] == [
        str(person.id),
        None,
    ]


async def test_an_owner_of_the_restaurant_may_serve(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    table = await create_table(session, world.a2)
    await session.commit()
    response = await client.put(
        url(table.id),
        params={"restaurantId": str(world.a2.id)},
        json={"waiterId": str(world.owner_a.id)},
        headers=await auth("owner_a"),
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("who", ["cashier", "kitchen_staff", "employee", "inactive", "elsewhere"])
async def test_who_cannot_serve_tables(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession, who: str
) -> None:
    table = await create_table(session, world.a1)
    if who == "inactive":
        person = await create_user(session, role="waiter", restaurant=world.a1, is_active=False)
    elif who == "elsewhere":
        person = world.other_manager
    else:
        person = world.users[who]
    await session.commit()
    response = await client.put(
        url(table.id), json={"waiterId": str(person.id)}, headers=await auth("manager")
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == "waiterId"


async def test_unknown_waiter(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    table = await create_table(session, world.a1)
    await session.commit()
    response = await client.put(
        url(table.id), json={"waiterId": str(uuid.uuid4())}, headers=await auth("manager")
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "waiterId"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "waiterId"),
        ({"waiterId": "bob"}, "waiterId"),
        ({"waiterId": 7}, "waiterId"),
        ({"waiterId": None, "version": -1}, "version"),
        ({"waiterId": None, "tableId": None}, "tableId"),
    ],
)
async def test_waiter_validation_names_the_field(
    client: httpx.AsyncClient,
    world: World,
    auth: Auth,
    session: AsyncSession,
    body: dict[str, Any],
    field: str,
) -> None:
    table = await create_table(session, world.a1)
    await session.commit()
    response = await client.put(url(table.id), json=body, headers=await auth("manager"))
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["error"]["details"]] == [field]


async def test_stale_version(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    table = await create_table(session, world.a1, version=2)
    await session.commit()
    response = await client.put(
        url(table.id), json={"waiterId": None, "version": 1}, headers=await auth("waiter")
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "stale_version"


async def test_assigning_needs_tables_manage(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    table = await create_table(session, world.a1)
    await session.commit()
    response = await client.put(
        url(table.id),
        json={"waiterId": str(world.users["waiter"].id)},
        headers=await auth("cashier"),
    )
    assert response.status_code == 403
    assert response.json()["error"]["details"] == {"permission": "tables.manage"}


async def test_another_restaurants_table_is_not_found(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    theirs = await create_table(session, world.b)
    await session.commit()
    response = await client.put(
        url(theirs.id),
        json={"waiterId": str(world.users["waiter"].id)},
        headers=await auth("manager"),
    )
    assert response.status_code == 404
