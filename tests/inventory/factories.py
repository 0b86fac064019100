"""Rows for inventory tests: a category, products, and stock tracked through the ledger."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.inventory import ledger
from fynlo.models import Category, InventoryItem, Product, Restaurant, RestaurantSettings
from fynlo.models.inventory import MILLI

_seq = itertools.count(1)


async def create_product(
    session: AsyncSession, restaurant: Restaurant, *, name: str | None = None, **values: Any
) -> Product:
    n = next(_seq)
    category = Category(restaurant_id=restaurant.id, name=f"Category {n}")
    session.add(category)
    await session.flush()
    product = Product(
        **{
            "restaurant_id": restaurant.id,
            "category_id": category.id,
            "name": name or f"Product {n}",
            "price_minor": 350,
            **values,
        }
    )
    session.add(product)
    await session.flush()
    return product


async def track(
    session: AsyncSession, product: Product, stock: int = 0, **values: Any
) -> InventoryItem:
    """Start tracking ``product`` with ``stock`` whole units, delivered through the ledger."""
    item = InventoryItem(
        **{
            "restaurant_id": product.restaurant_id,
            "product_id": product.id,
            "current_stock_milli": 0,
            "minimum_stock_milli": 0,
            **values,
        }
    )
    session.add(item)
    await session.flush()
    if stock:
        await ledger.apply(
            session,
            product.restaurant_id,
            ledger.Movement(product.id, stock * MILLI, "restock", reason="opening stock"),
            allow_negative=False,
            product_name=product.name,
        )
    await session.flush()
    return item


async def set_pos(session: AsyncSession, restaurant: Restaurant, **values: Any) -> None:
    settings = await session.scalar(
        select(RestaurantSettings).where(RestaurantSettings.restaurant_id == restaurant.id)
    )
    assert settings is not None
    settings.pos_settings = {**settings.pos_settings, **values}
    await session.commit()


async def level(session: AsyncSession, product: Product | uuid.UUID) -> int:
    """The level on file in thousandths, read in a fresh transaction."""
    product_id = product if isinstance(product, uuid.UUID) else product.id
    await session.commit()
    value = await session.scalar(
        select(InventoryItem.current_stock_milli).where(InventoryItem.product_id == product_id)
    )
    assert value is not None
    return value
