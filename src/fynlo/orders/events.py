"""The order's own fields every order event carries, written once for every domain that
changes an order (orders, payments)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.events.outbox import emit
from fynlo.kit.money import to_major
from fynlo.models import Order


def emit_order_event(
    session: AsyncSession, restaurant_id: uuid.UUID, event_type: str, order: Order, **extra: Any
) -> None:
    emit(
        session,
        restaurant_id,
        event_type,
        {
            "orderId": str(order.id),
            "orderNumber": order.order_number,
            "status": order.status,
            "tableNumber": order.table_number,
            "orderType": order.order_type,
            "total": float(to_major(order.total_minor, order.currency)),
            "version": order.version,
            **extra,
        },
    )
