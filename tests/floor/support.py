"""Reading rows back after a request (each read starts a fresh snapshot)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models import AuditLog, DiningTable, Order, OutboxEvent

Auth = Callable[[str], Awaitable[dict[str, str]]]


async def reload_table(session: AsyncSession, table_id: uuid.UUID) -> DiningTable:
    await session.commit()  # a fresh snapshot: see what the request committed
    return (
        await session.execute(
            select(DiningTable)
            .where(DiningTable.id == table_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one()


async def reload_order(session: AsyncSession, order_id: uuid.UUID) -> Order:
    await session.commit()
    return (
        await session.execute(
            select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
        )
    ).scalar_one()


async def events(session: AsyncSession, event_type: str) -> list[dict[str, Any]]:
    await session.commit()
    rows = await session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.event_type == event_type)
        .order_by(OutboxEvent.created_at)
    )
    return [row.payload for row in rows]


async def audit_actions(session: AsyncSession, resource_id: uuid.UUID) -> list[str]:
    await session.commit()
    rows = await session.scalars(
        select(AuditLog.action)
        .where(AuditLog.resource_id == str(resource_id))
        .order_by(AuditLog.seq)
    )
    return list(rows)
