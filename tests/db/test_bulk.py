"""insert_as_loaded: rows written by Core, objects in the session as if just loaded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Column, Integer, event, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.db import bulk
from fynlo.db.bulk import _default, insert_as_loaded, take_pending
from fynlo.events.outbox import emit
from fynlo.models import Order, OrderItem, OutboxEvent, StockMovement
from tests.factories import create_restaurant
from tests.orders.factories import product


async def _order_with_items(session: AsyncSession) -> tuple[Order, list[OrderItem]]:
    restaurant = await create_restaurant(session)
    burger = await product(session, restaurant, price=1250)
    items = [
        OrderItem(
            id=uuid.uuid4(),
            restaurant_id=restaurant.id,
            product_id=burger.id,
            product_name="Burger",
            quantity=quantity,
            unit_price_minor=1250,
            position=position,
        )
        for position, quantity in enumerate((1, 2))
    ]
    order = Order(
        id=uuid.uuid4(),
        restaurant_id=restaurant.id,
        order_number="261124-0001",
        business_date=date(2026, 11, 24),
        daily_sequence=1,
        currency="GBP",
        prices_include_vat=True,
        total_minor=3750,
        items=items,
    )
    for item in items:
        item.order_id = order.id
    return order, items


async def test_rows_are_written_and_objects_are_loaded_not_pending(session: AsyncSession) -> None:
    order, items = await _order_with_items(session)

    await insert_as_loaded(session, [order], items)

    for instance in (order, *items):
        state = inspect(instance)
        assert state.persistent, instance
        assert not state.expired_attributes  # no lazy load can follow in async code
    assert not session.new  # nothing left to insert a second time
    assert not session.dirty
    # Column defaults were applied to the objects and to the rows alike.
    assert (order.status, order.payment_status, order.version, order.paid_minor) == (
        "pending",
        "unpaid",
        1,
        0,
    )
    assert order.created_at is not None
    assert order.updated_at is not None
    assert [i.kitchen_status for i in items] == ["pending", "pending"]
    assert order.items == items
    stored = (
        await session.execute(
            select(Order.status, Order.version, Order.total_minor).where(Order.id == order.id)
        )
    ).one()
    assert (stored.status, stored.version, stored.total_minor) == ("pending", 1, 3750)
    quantities = await session.scalars(
        select(OrderItem.quantity).where(OrderItem.order_id == order.id).order_by("position")
    )
    assert list(quantities) == [1, 2]


async def test_later_changes_are_flushed_as_updates(session: AsyncSession) -> None:
    order, items = await _order_with_items(session)
    await insert_as_loaded(session, [order], items)

    order.status = "confirmed"
    items[1].quantity = 3
    await session.commit()
    session.expunge_all()

    assert await session.scalar(select(func.count()).select_from(Order)) == 1
    assert await session.scalar(select(func.count()).select_from(OrderItem)) == 2
    reloaded = await session.get(Order, order.id)
    assert reloaded is not None
    assert reloaded.status == "confirmed"
    assert [i.quantity for i in reloaded.items] == [1, 3]


async def test_a_group_holds_one_model(session: AsyncSession) -> None:
    order, items = await _order_with_items(session)
    with pytest.raises(TypeError, match="one model"):
        await insert_as_loaded(session, [order, items[0]])


def test_a_server_only_default_must_be_set() -> None:
    with pytest.raises(ValueError, match="server-side default"):
        _default(Column("n", Integer, server_default=text("7")))
    assert _default(Column("n", Integer, default=7)) == 7
    assert _default(Column("n", Integer)) is None


@contextmanager
def _statements(session: AsyncSession) -> Iterator[list[str]]:
    """The SQL statements ``session``'s connection sends inside the block."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def _order_with_movements_and_event(
    session: AsyncSession,
) -> tuple[Order, list[OrderItem], list[StockMovement], OutboxEvent]:
    order, items = await _order_with_items(session)
    movements = [
        StockMovement(
            restaurant_id=order.restaurant_id,
            product_id=item.product_id,
            kind="sale",
            quantity_milli=-1000 * item.quantity,
            balance_after_milli=-1000 * item.quantity,
            order_id=order.id,
            reason=f"order {order.order_number} line {item.position}",
        )
        for item in items
    ]
    session.add_all(movements)
    pending_event = emit(session, order.restaurant_id, "new_order", {"orderId": str(order.id)})
    return order, items, movements, pending_event


async def _stored_counts(session: AsyncSession) -> tuple[int | None, ...]:
    return tuple(
        [
            await session.scalar(select(func.count()).select_from(model))
            for model in (Order, OrderItem, StockMovement, OutboxEvent)
        ]
    )


async def test_several_tables_go_in_one_statement_on_postgresql_one_each_on_sqlite(
    session: AsyncSession,
) -> None:
    order, items, movements, pending_event = await _order_with_movements_and_event(session)
    groups = take_pending(session, StockMovement, OutboxEvent)
    assert groups == [movements, [pending_event]]

    with _statements(session) as sent:
        # Movements refer to the order: on PostgreSQL foreign keys are checked at the end
        # of the one statement; elsewhere the groups go in the order given, parents first.
        await insert_as_loaded(session, [order], items, *groups)

    inserts = [sql for sql in sent if "INSERT" in sql.upper()]
    if session.get_bind().dialect.name == "postgresql":
        assert len(inserts) == 1
        assert inserts[0].startswith("WITH ")
    else:
        assert len(inserts) == 4
    assert not session.new
    for instance in (*movements, pending_event):
        assert inspect(instance).persistent
    assert pending_event.published_at is None
    assert pending_event.attempts == 0
    await session.commit()
    assert await _stored_counts(session) == (1, 2, 2, 1)
    stored = await session.scalars(
        select(StockMovement.quantity_milli).order_by(StockMovement.quantity_milli)
    )
    assert list(stored) == [-2000, -1000]


async def test_take_pending_leaves_other_models_to_the_flush(session: AsyncSession) -> None:
    order, items = await _order_with_items(session)
    session.add(order)  # pending, with its items: not a model taken below
    pending_event = emit(session, order.restaurant_id, "new_order", {"orderId": str(order.id)})

    (taken,) = take_pending(session, OutboxEvent)

    assert taken == [pending_event]
    assert inspect(pending_event).transient
    assert set(session.new) == {order, *items}
    await session.commit()
    assert await _stored_counts(session) == (1, 2, 0, 0)


async def test_a_write_over_the_parameter_limit_goes_in_one_statement_per_table(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    order, items, *_ = await _order_with_movements_and_event(session)
    groups = take_pending(session, StockMovement, OutboxEvent)
    monkeypatch.setattr(bulk, "MAX_PARAMETERS", 10)

    with _statements(session) as sent:
        await insert_as_loaded(session, [order], items, *groups)

    assert len([sql for sql in sent if "INSERT" in sql.upper()]) == 4
    await session.commit()
    assert await _stored_counts(session) == (1, 2, 2, 1)
