"""The floor plan: creating, listing, reading, changing and deactivating tables."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import verify_all
from tests.floor.factories import create_order, create_table
from tests.floor.support import Auth, audit_actions, events, reload_order, reload_table
from tests.world import World

URL = "/api/tables"


async def test_manager_creates_a_table(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    response = await client.post(
        URL,
        json={"number": " 5 ", "seats": 6, "section": "Terrace"},
        headers=await auth("manager"),
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["number"] == "5"
    assert data["seats"] == 6
    assert data["section"] == "Terrace"
    assert data["status"] == "available"
    assert data["waiterId"] is None
    assert data["isActive"] is True
    assert data["version"] == 1
    assert data["restaurantId"] == str(world.a1.id)
    table_id = uuid.UUID(data["id"])

    detail = await client.get(f"{URL}/{table_id}", headers=await auth("waiter"))
    assert detail.status_code == 200
    assert detail.json()["data"]["openOrders"] == []

    assert await audit_actions(session, table_id) == ["table.created"]
    assert [e["tableId"] for e in await events(session, "table_updated")] == [str(table_id)]
    assert all(report.ok for report in await verify_all(session))


@pytest.mark.parametrize("role", ["captain", "waiter", "cashier", "kitchen_staff", "employee"])
async def test_creating_tables_needs_settings_update(
    client: httpx.AsyncClient, auth: Auth, role: str
) -> None:
    response = await client.post(URL, json={"number": "1", "seats": 2}, headers=await auth(role))
    assert response.status_code == 403
    assert response.json()["error"]["details"] == {"permission": "settings.update"}


async def test_create_without_signing_in(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(URL, json={"number": "1", "seats": 2})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"seats": 4}, "number"),
        ({"number": "1"}, "seats"),
        ({"number": "", "seats": 4}, "number"),
        ({"number": "x" * 21, "seats": 4}, "number"),
        ({"number": 5, "seats": 4}, "number"),
        ({"number": "1", "seats": 0}, "seats"),
        ({"number": "1", "seats": 51}, "seats"),
        ({"number": "1", "seats": "many"}, "seats"),
        ({"number": "1", "seats": 2.5}, "seats"),
        ({"number": "1", "seats": 4, "section": ""}, "section"),
        ({"number": "1", "seats": 4, "section": "s" * 51}, "section"),
        ({"number": "1", "seats": 4, "status": "occupied"}, "status"),
        ({"number": "1", "seats": 4, "restaurantId": str(uuid.uuid4())}, "restaurantId"),
    ],
)
async def test_create_validation_names_the_field(
    client: httpx.AsyncClient, auth: Auth, body: dict[str, Any], field: str
) -> None:
    response = await client.post(URL, json=body, headers=await auth("manager"))
    assert response.status_code == 422, response.text
    assert [d["field"] for d in response.json()["error"]["details"]] == [field]


async def test_numbers_are_unique_per_restaurant(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    await create_table(session, world.a1, "7")
    await create_table(session, world.a1, "8", is_active=False)
    await session.commit()
    headers = await auth("manager")
    taken = await client.post(URL, json={"number": "7", "seats": 2}, headers=headers)
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "already_exists"
    assert taken.json()["error"]["details"] == {"fields": ["number"]}
    retired = await client.post(URL, json={"number": "8", "seats": 2}, headers=headers)
    assert retired.status_code == 409
    assert "reactivate" in retired.json()["error"]["message"]
    # The same number in another restaurant is fine.
    owner = await auth("owner_a")
    elsewhere = await client.post(
        URL,
        params={"restaurantId": str(world.a2.id)},
        json={"number": "7", "seats": 2},
        headers=owner,
    )
    assert elsewhere.status_code == 201, elsewhere.text
    assert elsewhere.json()["data"]["restaurantId"] == str(world.a2.id)


async def test_which_restaurant(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    await create_table(session, world.a1, "1")
    await create_table(session, world.a2, "2")
    await session.commit()
    owner = await auth("owner_a")

    async def numbers(headers: dict[str, str], **params: str) -> list[str]:
        response = await client.get(URL, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [t["number"] for t in response.json()["data"]["items"]]

    assert await numbers(owner) == ["1"]  # their own restaurant by default
    assert await numbers(owner, restaurantId=str(world.a2.id)) == ["2"]
    other = await client.get(URL, params={"restaurantId": str(world.b.id)}, headers=owner)
    assert other.status_code == 404
    platform = await auth("platform_owner")
    unnamed = await client.get(URL, headers=platform)
    assert unnamed.status_code == 422
    assert unnamed.json()["error"]["details"][0]["field"] == "restaurantId"
    assert await numbers(platform, restaurantId=str(world.a2.id)) == ["2"]


async def test_list_filters_and_orders_by_number(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    waiter = world.users["waiter"]
    await create_table(session, world.a1, "10", section="Terrace", status="occupied")
    await create_table(session, world.a1, "2", section="Terrace", waiter_id=waiter.id)
    await create_table(session, world.a1, "1", section="Bar", status="reserved")
    await create_table(session, world.a1, "B1", section="Bar")
    await create_table(session, world.a1, "9", is_active=False)
    await create_table(session, world.b, "3")
    await session.commit()
    headers = await auth("cashier")

    async def numbers(**params: str) -> list[str]:
        response = await client.get(URL, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [t["number"] for t in response.json()["data"]["items"]]

    assert await numbers() == ["1", "2", "10", "B1"]
    assert await numbers(section="Terrace") == ["2", "10"]
    assert await numbers(status="reserved") == ["1"]
    assert await numbers(waiterId=str(waiter.id)) == ["2"]
    assert await numbers(isActive="false") == ["9"]
    page = (await client.get(URL, params={"limit": 2, "offset": 1}, headers=headers)).json()
    assert [t["number"] for t in page["data"]["items"]] == ["2", "10"]
    assert page["data"]["pagination"] == {"limit": 2, "offset": 1, "total": 4, "hasMore": True}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "dirty"}, "status"),
        ({"waiterId": "nobody"}, "waiterId"),
        ({"isActive": "maybe"}, "isActive"),
        ({"limit": "0"}, "limit"),
        ({"section": "s" * 51}, "section"),
    ],
)
async def test_list_validation(
    client: httpx.AsyncClient, auth: Auth, params: dict[str, str], field: str
) -> None:
    response = await client.get(URL, params=params, headers=await auth("waiter"))
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == field


@pytest.mark.parametrize("role", ["employee", "kitchen_staff"])
async def test_reading_tables_needs_tables_read(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession, role: str
) -> None:
    table = await create_table(session, world.a1)
    await session.commit()
    headers = await auth(role)
    for response in (
        await client.get(URL, headers=headers),
        await client.get(f"{URL}/{table.id}", headers=headers),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["details"] == {"permission": "tables.read"}


async def test_table_detail_lists_open_orders_only(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    table = await create_table(session, world.a1, "4", status="occupied")
    first = await create_order(session, world.a1, table, total_minor=2450, status="preparing")
    second = await create_order(session, world.a1, table, total_minor=1000)
    await create_order(session, world.a1, table, total_minor=999, status="completed")
    await create_order(session, world.a1, table, total_minor=999, status="cancelled")
    await session.commit()
    response = await client.get(f"{URL}/{table.id}", headers=await auth("waiter"))
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "occupied"
    assert data["openOrders"] == [
        {
            "id": str(first.id),
            "orderNumber": first.order_number,
            "status": "preparing",
            "total": 24.5,
        },
        {
            "id": str(second.id),
            "orderNumber": second.order_number,
            "status": "confirmed",
            "total": 10,
        },
    ]


async def test_another_restaurants_table_is_not_found(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    theirs = await create_table(session, world.b, "1")
    await session.commit()
    manager = await auth("manager")
    url = f"{URL}/{theirs.id}"
    for response in (
        await client.get(url, headers=manager),
        await client.put(url, json={"seats": 2}, headers=manager),
        await client.delete(url, headers=manager),
        await client.get(f"{URL}/{uuid.uuid4()}", headers=manager),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    owner = await auth("owner_a")
    a2_table = await create_table(session, world.a2, "1")
    await session.commit()
    wrong_restaurant = await client.get(
        f"{URL}/{a2_table.id}", params={"restaurantId": str(world.a1.id)}, headers=owner
    )
    assert wrong_restaurant.status_code == 404
    right = await client.get(
        f"{URL}/{a2_table.id}", params={"restaurantId": str(world.a2.id)}, headers=owner
    )
    assert right.status_code == 200


async def test_bad_table_id_is_a_validation_error(client: httpx.AsyncClient, auth: Auth) -> None:
    response = await client.get(f"{URL}/not-a-uuid", headers=await auth("waiter"))
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "table_id"


async def test_update_table(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    table = await create_table(session, world.a1, "5", section="Bar", status="occupied")
    order = await create_order(session, world.a1, table)
    await session.commit()
    headers = await auth("manager")
    url = f"{URL}/{table.id}"
    response = await client.put(
        url, json={"number": "15", "seats": 8, "section": None, "version": 1}, headers=headers
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["number"], data["seats"], data["section"], data["version"]) == ("15", 8, None, 2)
    moved = await reload_order(session, order.id)
    assert (moved.table_number, moved.version) == ("15", 2)

    stale = await client.put(url, json={"seats": 2, "version": 1}, headers=headers)
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "stale_version"
    assert stale.json()["error"]["details"] == {"expectedVersion": 1, "currentVersion": 2}

    unchanged = await client.put(url, json={"seats": 8}, headers=headers)
    assert unchanged.json()["data"]["version"] == 2
    assert await audit_actions(session, table.id) == ["table.updated"]


async def test_rename_to_a_taken_number(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    await create_table(session, world.a1, "1")
    table = await create_table(session, world.a1, "2")
    await session.commit()
    response = await client.put(
        f"{URL}/{table.id}", json={"number": "1"}, headers=await auth("manager")
    )
    assert response.status_code == 409
    assert response.json()["error"]["details"] == {"fields": ["number"]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"number": None}, "number"),
        ({"seats": None}, "seats"),
        ({"isActive": None}, "isActive"),
        ({"seats": 0}, "seats"),
        ({"seats": 51}, "seats"),
        ({"seats": "four"}, "seats"),
        ({"number": ""}, "number"),
        ({"isActive": "perhaps"}, "isActive"),
        ({"version": 0}, "version"),
        ({"version": "latest"}, "version"),
        ({"status": "occupied"}, "status"),
    ],
)
async def test_update_validation_names_the_field(
    client: httpx.AsyncClient,
    world: World,
    auth: Auth,
    session: AsyncSession,
    body: dict[str, Any],
    field: str,
) -> None:
    table = await create_table(session, world.a1)
    await session.commit()
    response = await client.put(f"{URL}/{table.id}", json=body, headers=await auth("manager"))
    assert response.status_code == 422, response.text
    assert [d["field"] for d in response.json()["error"]["details"]] == [field]


@pytest.mark.parametrize("role", ["captain", "waiter", "cashier"])
async def test_changing_the_floor_plan_needs_settings_update(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession, role: str
) -> None:
    table = await create_table(session, world.a1)
    await session.commit()
    headers = await auth(role)
    for response in (
        await client.put(f"{URL}/{table.id}", json={"seats": 2}, headers=headers),
        await client.delete(f"{URL}/{table.id}", headers=headers),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["details"] == {"permission": "settings.update"}


async def test_deactivate_and_reactivate(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    table = await create_table(session, world.a1, "3")
    await session.commit()
    headers = await auth("owner_a")
    params = {"restaurantId": str(world.a1.id)}
    url = f"{URL}/{table.id}"
    gone = await client.delete(url, params=params, headers=headers)
    assert gone.status_code == 200, gone.text
    assert gone.json()["data"]["isActive"] is False
    again = await client.delete(url, params=params, headers=headers)
    assert again.status_code == 200
    assert again.json()["data"]["version"] == gone.json()["data"]["version"]
    listed = await client.get(URL, params=params, headers=headers)
    assert listed.json()["data"]["items"] == []
    back = await client.put(url, params=params, json={"isActive": True}, headers=headers)
    assert back.json()["data"]["isActive"] is True
    assert (await reload_table(session, table.id)).is_active
    assert await audit_actions(session, table.id) == ["table.deactivated", "table.updated"]


async def test_a_table_with_open_orders_cannot_be_deactivated(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    table = await create_table(session, world.a1, "3", status="occupied")
    order = await create_order(session, world.a1, table)
    await session.commit()
    headers = await auth("manager")
    url = f"{URL}/{table.id}"
    for response in (
        await client.delete(url, headers=headers),
        await client.put(url, json={"isActive": False}, headers=headers),
    ):
        assert response.status_code == 409
        error = response.json()["error"]
        assert order.order_number in error["message"]
        assert error["details"]["openOrders"] == [
            {"id": str(order.id), "orderNumber": order.order_number}
        ]
    assert (await reload_table(session, table.id)).is_active
