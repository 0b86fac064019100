"""Moving open orders to another table and merging two tables' orders."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fynlo.db.engine import create_sessionmaker
from fynlo.floor.service import release_if_free
from fynlo.models import Order
from tests.floor.factories import create_order, create_table
from tests.floor.support import Auth, audit_actions, events, reload_order, reload_table
from tests.world import World


def move_url(table_id: uuid.UUID) -> str:
    return f"/api/tables/{table_id}/move"


def merge_url(table_id: uuid.UUID) -> str:
    return f"/api/tables/{table_id}/merge"


async def test_move_every_open_order(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    source = await create_table(session, world.a1, "1", status="occupied")
    target = await create_table(session, world.a1, "2")
    first = await create_order(session, world.a1, source)
    second = await create_order(session, world.a1, source, status="served")
    done = await create_order(session, world.a1, source, status="completed")
    await session.commit()
    response = await client.post(
        move_url(source.id), json={"toTableId": str(target.id)}, headers=await auth("waiter")
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["movedOrderIds"] == [str(first.id), str(second.id)]
    assert (data["fromTable"]["status"], data["fromTable"]["version"]) == ("available", 2)
    assert (data["toTable"]["status"], data["toTable"]["version"]) == ("occupied", 2)

    for order_id in (first.id, second.id):
        moved = await reload_order(session, order_id)
        assert (moved.table_id, moved.table_number, moved.version) == (target.id, "2", 2)
    stayed = await reload_order(session, done.id)
    assert (stayed.table_id, stayed.table_number, stayed.version) == (source.id, "1", 1)
    assert (await reload_table(session, source.id)).status == "available"
    assert (await reload_table(session, target.id)).status == "occupied"

    order_events = await events(session, "order_updated")
    assert [(e["orderId"], e["tableNumber"]) for e in order_events] == [
        (str(first.id), "2"),
        (str(second.id), "2"),
    ]
    assert {e["tableId"] for e in await events(session, "table_updated")} == {
        str(source.id),
        str(target.id),
    }
    assert await audit_actions(session, source.id) == ["table.orders_moved"]

    detail = await client.get(f"/api/tables/{target.id}", headers=await auth("waiter"))
    assert [o["id"] for o in detail.json()["data"]["openOrders"]] == [
        str(first.id),
        str(second.id),
    ]


async def test_move_some_orders_keeps_the_source_occupied(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    source = await create_table(session, world.a1, status="occupied")
    target = await create_table(session, world.a1, status="occupied")
    staying = await create_order(session, world.a1, source)
    leaving = await create_order(session, world.a1, source)
    await session.commit()
    response = await client.post(
        move_url(source.id),
        json={"toTableId": str(target.id), "orderIds": [str(leaving.id), str(leaving.id)]},
        headers=await auth("captain"),
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["movedOrderIds"] == [str(leaving.id)]
    assert data["fromTable"]["status"] == "occupied"
    assert data["toTable"]["status"] == "occupied"
    assert (await reload_order(session, staying.id)).table_id == source.id
    assert (await reload_order(session, leaving.id)).table_id == target.id


@pytest.mark.parametrize("which", ["completed", "other_table", "other_restaurant", "unknown"])
async def test_order_ids_must_be_open_orders_of_the_table(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession, which: str
) -> None:
    source = await create_table(session, world.a1, status="occupied")
    target = await create_table(session, world.a1)
    mine = await create_order(session, world.a1, source)
    if which == "completed":
        other_id = (await create_order(session, world.a1, source, status="completed")).id
    elif which == "other_table":
        elsewhere = await create_table(session, world.a1, status="occupied")
        other_id = (await create_order(session, world.a1, elsewhere)).id
    elif which == "other_restaurant":
        other_id = (await create_order(session, world.b)).id
    else:
        other_id = uuid.uuid4()
    await session.commit()
    response = await client.post(
        move_url(source.id),
        json={"toTableId": str(target.id), "orderIds": [str(mine.id), str(other_id)]},
        headers=await auth("waiter"),
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "orderIds.1"
    assert (await reload_order(session, mine.id)).table_id == source.id


@pytest.mark.parametrize("status", ["reserved", "cleaning"])
async def test_cannot_move_to_a_reserved_or_cleaning_table(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession, status: str
) -> None:
    source = await create_table(session, world.a1, status="occupied")
    target = await create_table(session, world.a1, "9", status=status)
    order = await create_order(session, world.a1, source)
    await session.commit()
    response = await client.post(
        move_url(source.id), json={"toTableId": str(target.id)}, headers=await auth("waiter")
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["details"] == {"tableId": str(target.id), "status": status}
    assert status in error["message"]
    assert (await reload_order(session, order.id)).table_id == source.id


@pytest.mark.parametrize("which", ["itself", "inactive", "other_restaurant", "unknown"])
async def test_target_must_be_another_active_table_here(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession, which: str
) -> None:
    source = await create_table(session, world.a1, status="occupied")
    await create_order(session, world.a1, source)
    if which == "itself":
        target_id = source.id
    elif which == "inactive":
        target_id = (await create_table(session, world.a1, is_active=False)).id
    elif which == "other_restaurant":
        target_id = (await create_table(session, world.b)).id
    else:
        target_id = uuid.uuid4()
    await session.commit()
    response = await client.post(
        move_url(source.id), json={"toTableId": str(target_id)}, headers=await auth("waiter")
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "toTableId"


async def test_nothing_to_move(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    source = await create_table(session, world.a1)
    target = await create_table(session, world.a1)
    await create_order(session, world.a1, source, status="completed")
    await session.commit()
    response = await client.post(
        move_url(source.id), json={"toTableId": str(target.id)}, headers=await auth("waiter")
    )
    assert response.status_code == 409
    assert "no open orders" in response.json()["error"]["message"]
    assert (await reload_table(session, target.id)).status == "available"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "toTableId"),
        ({"toTableId": "table-2"}, "toTableId"),
        ({"toTableId": None}, "toTableId"),
        ({"toTableId": str(uuid.UUID(int=1)), "orderIds": []}, "orderIds"),
        ({"toTableId": str(uuid.UUID(int=1)), "orderIds": ["x"]}, "orderIds.0"),
        ({"toTableId": str(uuid.UUID(int=1)), "orderIds": "all"}, "orderIds"),
        ({"toTableId": str(uuid.UUID(int=1)), "fromTableId": None}, "fromTableId"),
    ],
)
async def test_move_validation_names_the_field(
    client: httpx.AsyncClient,
    world: World,
    auth: Auth,
    session: AsyncSession,
    body: dict[str, Any],
    field: str,
) -> None:
    source = await create_table(session, world.a1)
    await session.commit()
    response = await client.post(move_url(source.id), json=body, headers=await auth("waiter"))
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["error"]["details"]] == [field]


async def test_too_many_order_ids(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    source = await create_table(session, world.a1)
    await session.commit()
    body = {"toTableId": str(uuid.uuid4()), "orderIds": [str(uuid.uuid4()) for _ in range(101)]}
    response = await client.post(move_url(source.id), json=body, headers=await auth("waiter"))
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "orderIds"


@pytest.mark.parametrize("endpoint", ["move", "merge"])
@pytest.mark.parametrize("role", ["cashier", "employee"])
async def test_moving_needs_tables_manage(
    client: httpx.AsyncClient,
    world: World,
    auth: Auth,
    session: AsyncSession,
    endpoint: str,
    role: str,
) -> None:
    one = await create_table(session, world.a1, status="occupied")
    two = await create_table(session, world.a1)
    await create_order(session, world.a1, one)
    await session.commit()
    body = {"toTableId": str(two.id)} if endpoint == "move" else {"fromTableId": str(one.id)}
    path = move_url(one.id) if endpoint == "move" else merge_url(two.id)
    response = await client.post(path, json=body, headers=await auth(role))
    assert response.status_code == 403
    assert response.json()["error"]["details"] == {"permission": "tables.manage"}


@pytest.mark.parametrize("endpoint", ["move", "merge"])
async def test_another_restaurants_table_in_the_path_is_not_found(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession, endpoint: str
) -> None:
    theirs = await create_table(session, world.b, status="occupied")
    await create_order(session, world.b, theirs)
    mine = await create_table(session, world.a1, status="occupied")
    await create_order(session, world.a1, mine)
    await session.commit()
    if endpoint == "move":
        path, body = move_url(theirs.id), {"toTableId": str(mine.id)}
    else:
        path, body = merge_url(theirs.id), {"fromTableId": str(mine.id)}
    response = await client.post(path, json=body, headers=await auth("manager"))
    assert response.status_code == 404
    assert response.json()["error"]["details"]["id"] == str(theirs.id)


async def test_a_retried_move_replays_its_answer(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    source = await create_table(session, world.a1, status="occupied")
    target = await create_table(session, world.a1)
    await create_order(session, world.a1, source)
    await session.commit()
    headers = {**await auth("waiter"), "Idempotency-Key": str(uuid.uuid4())}
    body = {"toTableId": str(target.id)}
    first = await client.post(move_url(source.id), json=body, headers=headers)
    again = await client.post(move_url(source.id), json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert len(await events(session, "order_updated")) == 1


async def test_merge_brings_the_other_tables_orders_here(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    here = await create_table(session, world.a1, "1", status="occupied")
    there = await create_table(session, world.a1, "2", status="occupied")
    ours = await create_order(session, world.a1, here, total_minor=1500)
    theirs = await create_order(session, world.a1, there, total_minor=2000)
    also = await create_order(session, world.a1, there, total_minor=550)
    await session.commit()
    headers = await auth("waiter")
    response = await client.post(
        merge_url(here.id), json={"fromTableId": str(there.id)}, headers=headers
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["movedOrderIds"] == [str(theirs.id), str(also.id)]
    assert data["fromTable"]["id"] == str(there.id)
    assert data["fromTable"]["status"] == "available"
    assert data["toTable"]["status"] == "occupied"
    detail = (await client.get(f"/api/tables/{here.id}", headers=headers)).json()["data"]
    assert [(o["id"], o["total"]) for o in detail["openOrders"]] == [
        (str(ours.id), 15),
        (str(theirs.id), 20),
        (str(also.id), 5.5),
    ]
    assert (await reload_order(session, also.id)).table_number == "1"
    assert await audit_actions(session, here.id) == ["table.merged"]


async def test_merge_into_an_available_table_occupies_it(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    here = await create_table(session, world.a1)
    there = await create_table(session, world.a1, status="occupied")
    await create_order(session, world.a1, there)
    await session.commit()
    response = await client.post(
        merge_url(here.id), json={"fromTableId": str(there.id)}, headers=await auth("captain")
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["toTable"]["status"] == "occupied"


@pytest.mark.parametrize(
    ("here_values", "expected"),
    [({"status": "reserved"}, 409), ({"status": "cleaning"}, 409), ({"is_active": False}, 409)],
)
async def test_merge_into_a_table_that_cannot_take_orders(
    client: httpx.AsyncClient,
    world: World,
    auth: Auth,
    session: AsyncSession,
    here_values: dict[str, Any],
    expected: int,
) -> None:
    here = await create_table(session, world.a1, **here_values)
    there = await create_table(session, world.a1, status="occupied")
    order = await create_order(session, world.a1, there)
    await session.commit()
    response = await client.post(
        merge_url(here.id), json={"fromTableId": str(there.id)}, headers=await auth("waiter")
    )
    assert response.status_code == expected
    assert (await reload_order(session, order.id)).table_id == there.id


@pytest.mark.parametrize("which", ["itself", "inactive", "other_restaurant", "unknown"])
async def test_merge_source_must_be_another_active_table_here(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession, which: str
) -> None:
    here = await create_table(session, world.a1, status="occupied")
    if which == "itself":
        from_id = here.id
    elif which == "inactive":
        from_id = (await create_table(session, world.a1, is_active=False)).id
    elif which == "other_restaurant":
        theirs = await create_table(session, world.b, status="occupied")
        await create_order(session, world.b, theirs)
        from_id = theirs.id
    else:
        from_id = uuid.uuid4()
    await session.commit()
    response = await client.post(
        merge_url(here.id), json={"fromTableId": str(from_id)}, headers=await auth("waiter")
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "fromTableId"


async def test_merge_from_an_empty_table(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    here = await create_table(session, world.a1, status="occupied")
    there = await create_table(session, world.a1)
    await session.commit()
    response = await client.post(
        merge_url(here.id), json={"fromTableId": str(there.id)}, headers=await auth("waiter")
    )
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "fromTableId"),
        ({"fromTableId": 2}, "fromTableId"),
        ({"fromTableId": str(uuid.UUID(int=1)), "orderIds": []}, "orderIds"),
    ],
)
async def test_merge_validation_names_the_field(
    client: httpx.AsyncClient,
    world: World,
    auth: Auth,
    session: AsyncSession,
    body: dict[str, Any],
    field: str,
) -> None:
    here = await create_table(session, world.a1)
    await session.commit()
    response = await client.post(merge_url(here.id), json=body, headers=await auth("waiter"))
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["error"]["details"]] == [field]


async def test_opposite_moves_at_once_keep_the_floor_consistent(
    client: httpx.AsyncClient, world: World, auth: Auth, session: AsyncSession
) -> None:
    """Both tables are locked in one order, so crossing moves neither deadlock nor leave an
    order at a table whose status says it is free."""
    one = await create_table(session, world.a1, "1", status="occupied")
    two = await create_table(session, world.a1, "2", status="occupied")
    orders = [
        await create_order(session, world.a1, table) for table in (one, two, one, two, one, two)
    ]
    await session.commit()
    headers = await auth("waiter")
    responses = await asyncio.gather(
        *(
            client.post(move_url(a.id), json={"toTableId": str(b.id)}, headers=headers)
            for a, b in [(one, two), (two, one)] * 3
        )
    )
    assert {r.status_code for r in responses} <= {200, 409}, [r.text for r in responses]
    assert any(r.status_code == 200 for r in responses)
    tables = {t.id: await reload_table(session, t.id) for t in (one, two)}
    seated: dict[uuid.UUID, int] = {one.id: 0, two.id: 0}
    for order in orders:
        reloaded = await reload_order(session, order.id)
        assert reloaded.table_id is not None
        assert reloaded.table_number == tables[reloaded.table_id].number
        seated[reloaded.table_id] += 1
    for table_id, count in seated.items():
        assert tables[table_id].status == ("occupied" if count else "available")


@pytest.mark.postgres_only
async def test_a_move_waits_for_an_order_being_closed(
    client: httpx.AsyncClient,
    world: World,
    auth: Auth,
    session: AsyncSession,
    engine: AsyncEngine,
    backend: str,
) -> None:
    """The orders code locks an order, then its table, to close it; a move locks orders
    before tables, so the two wait for each other instead of deadlocking."""
    if backend != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises whole write transactions")
    source = await create_table(session, world.a1, status="occupied")
    target = await create_table(session, world.a1)
    closing = await create_order(session, world.a1, source)
    staying = await create_order(session, world.a1, source)
    await session.commit()
    headers = await auth("waiter")
    async with create_sessionmaker(engine)() as orders_code:
        order = (
            await orders_code.execute(select(Order).where(Order.id == closing.id).with_for_update())
        ).scalar_one()
        move = asyncio.create_task(
            client.post(move_url(source.id), json={"toTableId": str(target.id)}, headers=headers)
        )
        await asyncio.sleep(0.3)
        assert not move.done()
        order.status = "completed"
        await release_if_free(orders_code, world.a1.id, source.id)
        await orders_code.commit()
    response = await asyncio.wait_for(move, 10)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["movedOrderIds"] == [str(staying.id)]
    assert data["fromTable"]["status"] == "available"
    assert (await reload_order(session, closing.id)).table_id == source.id
