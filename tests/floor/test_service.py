"""The functions the orders code calls: seating an order, freeing a table, finding by number."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import AuditActor
from fynlo.floor.service import occupy_for_order, release_if_free, table_by_number
from fynlo.kit.errors import Conflict, Unprocessable
from tests.floor.factories import create_order, create_table
from tests.floor.support import audit_actions, events, reload_table
from tests.world import World


@pytest.mark.parametrize("status", ["available", "reserved"])
async def test_an_order_occupies_the_table(
    session: AsyncSession, world: World, status: str
) -> None:
    table = await create_table(session, world.a1, "5", status=status)
    await session.commit()
    seated = await occupy_for_order(session, world.a1.id, table.id)
    await session.commit()
    assert (seated.status, seated.version) == ("occupied", 2)
    assert (await reload_table(session, table.id)).status == "occupied"
    payloads = await events(session, "table_updated")
    assert [(e["tableId"], e["status"]) for e in payloads] == [(str(table.id), "occupied")]
    assert await audit_actions(session, table.id) == []


async def test_a_second_order_at_an_occupied_table_changes_nothing(
    session: AsyncSession, world: World
) -> None:
    table = await create_table(session, world.a1, status="occupied", version=4)
    await session.commit()
    seated = await occupy_for_order(session, world.a1.id, table.id)
    await session.commit()
    assert (seated.status, seated.version) == ("occupied", 4)
    assert await events(session, "table_updated") == []


async def test_an_actor_gets_an_audit_row(session: AsyncSession, world: World) -> None:
    table = await create_table(session, world.a1)
    await session.commit()
    actor = AuditActor(user_id=world.users["waiter"].id)
    await occupy_for_order(session, world.a1.id, table.id, actor=actor)
    await session.commit()
    assert await audit_actions(session, table.id) == ["table.status_changed"]


async def test_a_table_being_cleaned_takes_no_order(session: AsyncSession, world: World) -> None:
    table = await create_table(session, world.a1, "6", status="cleaning")
    await session.commit()
    with pytest.raises(Conflict) as caught:
        await occupy_for_order(session, world.a1.id, table.id)
    assert caught.value.status_code == 409
    assert caught.value.details == {"tableId": str(table.id), "status": "cleaning"}
    await session.rollback()


@pytest.mark.parametrize("which", ["inactive", "other_restaurant", "unknown"])
async def test_occupy_needs_an_active_table_of_the_restaurant(
    session: AsyncSession, world: World, which: str
) -> None:
    if which == "inactive":
        table_id = (await create_table(session, world.a1, is_active=False)).id
    elif which == "other_restaurant":
        table_id = (await create_table(session, world.b)).id
    else:
        table_id = uuid.uuid4()
    await session.commit()
    with pytest.raises(Unprocessable) as caught:
        await occupy_for_order(session, world.a1.id, table_id)
    assert caught.value.status_code == 422
    assert caught.value.details[0]["field"] == "tableId"
    await session.rollback()


async def test_paying_the_last_open_order_frees_the_table(
    session: AsyncSession, world: World
) -> None:
    table = await create_table(session, world.a1, status="occupied")
    first = await create_order(session, world.a1, table)
    second = await create_order(session, world.a1, table)
    await session.commit()

    first.status = "completed"
    await release_if_free(session, world.a1.id, table.id)  # flushes the change itself
    await session.commit()
    assert (await reload_table(session, table.id)).status == "occupied"

    second.status = "cancelled"
    await release_if_free(session, world.a1.id, table.id)
    await session.commit()
    freed = await reload_table(session, table.id)
    assert (freed.status, freed.version) == ("available", 2)
    assert [e["status"] for e in await events(session, "table_updated")] == ["available"]


@pytest.mark.parametrize("status", ["reserved", "cleaning", "available"])
async def test_release_leaves_other_statuses_alone(
    session: AsyncSession, world: World, status: str
) -> None:
    table = await create_table(session, world.a1, status=status)
    await session.commit()
    await release_if_free(session, world.a1.id, table.id)
    await session.commit()
    assert (await reload_table(session, table.id)).status == status
    assert await events(session, "table_updated") == []


async def test_release_ignores_unknown_and_foreign_tables(
    session: AsyncSession, world: World
) -> None:
    theirs = await create_table(session, world.b, status="occupied")
    await session.commit()
    await release_if_free(session, world.a1.id, theirs.id)
    await release_if_free(session, world.a1.id, uuid.uuid4())
    await session.commit()
    assert (await reload_table(session, theirs.id)).status == "occupied"


async def test_release_with_an_actor_is_audited(session: AsyncSession, world: World) -> None:
    table = await create_table(session, world.a1, status="occupied")
    await session.commit()
    await release_if_free(
        session, world.a1.id, table.id, actor=AuditActor(user_id=world.users["cashier"].id)
    )
    await session.commit()
    assert await audit_actions(session, table.id) == ["table.status_changed"]


async def test_table_by_number(session: AsyncSession, world: World) -> None:
    five = await create_table(session, world.a1, "5")
    await create_table(session, world.a1, "6", is_active=False)
    await create_table(session, world.b, "7")
    await session.commit()
    found = await table_by_number(session, world.a1.id, " 5 ")
    assert found is not None
    assert found.id == five.id
    assert await table_by_number(session, world.a1.id, "6") is None
    assert await table_by_number(session, world.a1.id, "7") is None
    assert await table_by_number(session, world.a1.id, "99") is None
