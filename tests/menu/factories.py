"""Menu rows built directly, a past order referring to a product, and request bodies."""

from __future__ import annotations

import itertools
import uuid
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models import (
    AuditLog,
    Category,
    ModifierGroup,
    ModifierOption,
    Order,
    OrderItem,
    OutboxEvent,
    Product,
    Restaurant,
)

_seq = itertools.count(1)


async def create_category(session: AsyncSession, restaurant: Restaurant, **values: Any) -> Category:
    category = Category(
        **{"restaurant_id": restaurant.id, "name": f"Category {next(_seq)}", **values}
    )
    session.add(category)
    await session.flush()
    return category


def group(
    name: str,
    options: dict[str, int],
    *,
    low: int = 0,
    high: int = 1,
    unavailable: tuple[str, ...] = (),
) -> ModifierGroup:
    """A modifier group in memory (options: name -> price in minor units)."""
    return ModifierGroup(
        id=uuid.uuid4(),
        name=name,
        min_choices=low,
        max_choices=high,
        options=[
            ModifierOption(
                id=uuid.uuid4(),
                name=option,
                price_minor=price,
                is_available=option not in unavailable,
                sort_order=n,
            )
            for n, (option, price) in enumerate(options.items())
        ],
    )


async def create_product(
    session: AsyncSession,
    restaurant: Restaurant,
    category: Category | None = None,
    *,
    groups: list[ModifierGroup] | None = None,
    **values: Any,
) -> Product:
    category = category or await create_category(session, restaurant)
    product = Product(
        **{
            "restaurant_id": restaurant.id,
            "category_id": category.id,
            "name": f"Product {next(_seq)}",
            "price_minor": 450,
            **values,
        }
    )
    for position, item in enumerate(groups or []):
        item.restaurant_id = restaurant.id
        item.sort_order = position
        for option in item.options:
            option.restaurant_id = restaurant.id
    product.modifier_groups = groups or []
    session.add(product)
    await session.flush()
    return product


async def create_past_order(
    session: AsyncSession, restaurant: Restaurant, product: Product
) -> OrderItem:
    """A completed order with one line of ``product``, as the orders domain would store it."""
    n = next(_seq)
    order = Order(
        restaurant_id=restaurant.id,
        order_number=f"T-{n}",
        business_date=date(2025, 6, 17),
        daily_sequence=n,
        currency=restaurant.currency,
        prices_include_vat=True,
        status="completed",
        subtotal_minor=product.price_minor,
        total_minor=product.price_minor,
    )
    session.add(order)
    await session.flush()
    item = OrderItem(
        restaurant_id=restaurant.id,
        order_id=order.id,
        product_id=product.id,
        product_name=product.name,
        quantity=1,
        unit_price_minor=product.price_minor,
        gross_minor=product.price_minor,
        total_minor=product.price_minor,
    )
    session.add(item)
    await session.flush()
    return item


async def audit_actions(session: AsyncSession, resource_id: str) -> list[str]:
    await session.commit()  # end the session's snapshot: see what requests committed since
    rows = await session.scalars(
        select(AuditLog.action).where(AuditLog.resource_id == resource_id).order_by(AuditLog.seq)
    )
    return list(rows)


async def menu_events(session: AsyncSession, restaurant_id: uuid.UUID) -> list[dict[str, Any]]:
    await session.commit()
    rows = await session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.restaurant_id == restaurant_id, OutboxEvent.event_type == "menu_updated")
        .order_by(OutboxEvent.created_at)
    )
    return [row.payload for row in rows]


def product_body(category_id: object, **values: Any) -> dict[str, Any]:
    return {"name": "Flat White", "price": 3.2, "categoryId": str(category_id), **values}


LATTE_MODIFIERS = [
    {
        "name": "size",
        "minChoices": 1,
        "maxChoices": 1,
        "options": [{"name": "small", "price": 0}, {"name": "large", "price": 0.5}],
    },
    {
        "name": "extras",
        "minChoices": 0,
        "maxChoices": 2,
        "options": [
            {"name": "extra shot", "price": 0.6},
            {"name": "oat milk", "price": 0.4},
            {"name": "syrup", "price": 0.35, "isAvailable": False},
        ],
    },
]
