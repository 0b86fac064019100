"""Menu rows for order tests, built directly (the menu API has its own tests)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models import (
    Category,
    InventoryItem,
    ModifierGroup,
    ModifierOption,
    Product,
    Restaurant,
    RestaurantSettings,
)
from fynlo.models.inventory import MILLI


async def category(session: AsyncSession, restaurant: Restaurant, **values: Any) -> Category:
    row = Category(restaurant_id=restaurant.id, **{"name": "Mains", **values})
    session.add(row)
    await session.flush()
    return row


async def product(
    session: AsyncSession,
    restaurant: Restaurant,
    *,
    price: int = 1250,
    sizes: dict[str, int] | None = None,
    extras: dict[str, int] | None = None,
    stock: int | None = None,
    **values: Any,
) -> Product:
    cat = await category(session, restaurant)
    row = Product(
        restaurant_id=restaurant.id,
        category_id=cat.id,
        price_minor=price,
        **{"name": "Burger", "kitchen_station": "grill", "preparation_time": 12, **values},
    )
    session.add(row)
    await session.flush()
    groups = []
    if sizes:
        groups.append(("size", 1, 1, sizes))
    if extras:
        groups.append(("extras", 0, 3, extras))
    for position, (name, low, high, options) in enumerate(groups):
        group = ModifierGroup(
            restaurant_id=restaurant.id,
            product_id=row.id,
            name=name,
            min_choices=low,
            max_choices=high,
            sort_order=position,
        )
        session.add(group)
        await session.flush()
        for n, (option, option_price) in enumerate(options.items()):
            session.add(
                ModifierOption(
                    restaurant_id=restaurant.id,
                    group_id=group.id,
                    name=option,
                    price_minor=option_price,
                    sort_order=n,
                )
            )
    if stock is not None:
        session.add(
            InventoryItem(
                restaurant_id=restaurant.id,
                product_id=row.id,
                current_stock_milli=stock * MILLI,
                minimum_stock_milli=0,
                reorder_point_milli=2 * MILLI,
            )
        )
    await session.flush()
    return row


async def set_pos(session: AsyncSession, restaurant: Restaurant, **values: Any) -> None:
    await session.execute(
        update(RestaurantSettings)
        .where(RestaurantSettings.restaurant_id == restaurant.id)
        .values(pos_settings=values)
    )


async def set_tax(session: AsyncSession, restaurant: Restaurant, **values: Any) -> None:
    restaurant.tax_configuration = {**restaurant.tax_configuration, **values}
    await session.flush()
