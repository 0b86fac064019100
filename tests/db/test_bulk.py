"""insert_as_loaded: rows written by Core, objects in the session as if just loaded."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import Column, Integer, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.db.bulk import _default, insert_as_loaded
from fynlo.models import Order, OrderItem
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
