"""Table status over HTTP: the machine, open orders keeping a table occupied, versions."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.floor.factories import create_order, create_table
from tests.floor.support import Auth, audit_actions, events, reload_table
from tests.world import World


def url(table_id: uuid.UUID) -> str:
    return f"/api/tables/{table_id}/status"


async def test_a_table_goes_round_the_floor(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    table = await create_table(session, world.a1)
    await session.commit()
    headers = await auth("waiter")
    for version, status in enumerate(["reserved", "occupied", "cleaning", "available"], start=1):
        response = await client.patch(
            url(table.id), json={"status": status, "version": version}, headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["data"]["status"] == status
        assert response.json()["data"]["version"] == version + 1
    assert (await reload_table(session, table.id)).status == "available"
    assert [e["status"] for e in await events(session, "table_updated")] == [
        "reserved",
        "occupied",
        "cleaning",
        "available",
    ]
    assert await audit_actions(session, table.id) == ["table.status_changed"] * 4


@pytest.mark.parametrize(
    ("current", "requested", "allowed"),
    [
        ("cleaning", "occupied", ["available"]),
        ("cleaning", "reserved", ["available"]),
        ("occupied", "reserved", ["available", "cleaning"]),
        ("available", "available", ["cleaning", "occupied", "reserved"]),
    ],
)
async def test_illegal_moves_list_the_allowed_ones(
    client: httpx.AsyncClient,
    world: World,
    auth: Auth,
    session: AsyncSession,
    current: str,
    requested: str,
    allowed: list[str],
) -> None:
    table = await create_table(session, world.a1, status=current)
    await session.commit()
    response = await client.patch(
        url(table.id), json={"status": requested}, headers=await auth("captain")
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "invalid_state_transition"
    assert error["details"] == {"current": current, "requested": requested, "allowed": allowed}
    assert (await reload_table(session, table.id)).status == current


@pytest.mark.parametrize("requested", ["available", "cleaning"])
async def test_open_orders_keep_a_table_occupied(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession, requested: str
) -> None:
    table = await create_table(session, world.a1, "12", status="occupied")
    first = await create_order(session, world.a1, table)
    second = await create_order(session, world.a1, table, status="served")
    await create_order(session, world.a1, table, status="completed")
    await session.commit()
    headers = await auth("waiter")
    refused = await client.patch(url(table.id), json={"status": requested}, headers=headers)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert first.order_number in error["message"]
    assert second.order_number in error["message"]
    assert [o["id"] for o in error["details"]["openOrders"]] == [str(first.id), str(second.id)]

    first.status = "completed"
    second.status = "cancelled"
    await session.commit()
    freed = await client.patch(url(table.id), json={"status": requested}, headers=headers)
    assert freed.status_code == 200, freed.text
    assert freed.json()["data"]["status"] == requested


async def test_stale_version_is_refused(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    table = await create_table(session, world.a1, version=3)
    await session.commit()
    response = await client.patch(
        url(table.id), json={"status": "reserved", "version": 2}, headers=await auth("waiter")
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "stale_version"
    assert (await reload_table(session, table.id)).status == "available"


async def test_a_deactivated_table_has_no_status_changes(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    table = await create_table(session, world.a1, is_active=False)
    await session.commit()
    response = await client.patch(
        url(table.id), json={"status": "reserved"}, headers=await auth("waiter")
    )
    assert response.status_code == 409
    assert "deactivated" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "status"),
        ({"status": "dirty"}, "status"),
        ({"status": 3}, "status"),
        ({"status": "reserved", "version": 0}, "version"),
        ({"status": "reserved", "version": "v1"}, "version"),
        ({"status": "reserved", "waiterId": None}, "waiterId"),
    ],
)
async def test_status_validation_names_the_field(
    client: httpx.AsyncClient,
    world: World,
    auth: Auth,
    session: AsyncSession,
    body: dict[str, Any],
    field: str,
) -> None:
    table = await create_table(session, world.a1)
    await session.commit()
    response = await client.patch(url(table.id), json=body, headers=await auth("waiter"))
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["error"]["details"]] == [field]


@pytest.mark.parametrize("role", ["cashier", "kitchen_staff", "employee"])
async def test_changing_status_needs_tables_manage(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession, role: str
) -> None:
    table = await create_table(session, world.a1)
    await session.commit()
    response = await client.patch(
        url(table.id), json={"status": "reserved"}, headers=await auth(role)
    )
    assert response.status_code == 403
    assert response.json()["error"]["details"] == {"permission": "tables.manage"}


async def test_another_restaurants_table_is_not_found(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    theirs = await create_table(session, world.b)
    await session.commit()
    response = await client.patch(
        url(theirs.id), json={"status": "reserved"}, headers=await auth("manager")
    )
    assert response.status_code == 404
    assert (await reload_table(session, theirs.id)).status == "available"
    mine = await client.patch(
        url(theirs.id), json={"status": "reserved"}, headers=await auth("other_manager")
    )
    assert mine.status_code == 200
