"""Rows for floor tests: dining tables and bare orders seated at them."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models import DiningTable, Order, Restaurant

_seq = itertools.count(1)


async def create_table(
    session: AsyncSession, restaurant: Restaurant, number: str | None = None, **values: Any
) -> DiningTable:
    table = DiningTable(
        **{
            "restaurant_id": restaurant.id,
            "number": number or f"T{next(_seq)}",
            "seats": 4,
            "status": "available",
            **values,
        }
    )
    session.add(table)
    await session.flush()
    return table


async def create_order(
    session: AsyncSession,
    restaurant: Restaurant,
    table: DiningTable | None = None,
    **values: Any,
) -> Order:
    n = next(_seq)
    order = Order(
        **{
            "restaurant_id": restaurant.id,
            "order_number": f"#{n:04d}",
            "business_date": date(2030, 1, 1),
            "daily_sequence": n,
            "currency": restaurant.currency,
            "prices_include_vat": True,
            "status": "confirmed",
            "table_id": table.id if table else None,
            "table_number": table.number if table else None,
            **values,
        }
    )
    session.add(order)
    await session.flush()
    return order
