"""Writing domain events: a row in the outbox, in the caller's transaction.

Nothing is published here. A dispatcher reads committed rows and publishes them in order
per restaurant, so a rolled-back change never announces itself and a crash after commit
only delays an event.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models import OutboxEvent

OUTBOX_PENDING = "fynlo.outbox_pending"

EVENT_TYPES = frozenset(
    {
        "new_order",
        "kitchen_order",
        "order_updated",
        "order_item_ready",
        "payment_received",
        "payment_completed",
        "payment_failed",
        "payment_refunded",
        "qr_payment_ready",
        "inventory_alert",
        "notification",
        "table_updated",
        "menu_updated",
        "kitchen_ticket",
        "kitchen_station_updated",
        "device_status",
    }
)


def emit(
    session: AsyncSession, restaurant_id: uuid.UUID, event_type: str, payload: dict[str, Any]
) -> OutboxEvent:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    event = OutboxEvent(
        id=uuid.uuid4(), restaurant_id=restaurant_id, event_type=event_type, payload=payload
    )
    session.add(event)
    # Read by the unit of work after its commit, to wake the dispatcher at once.
    session.info[OUTBOX_PENDING] = True
    return event
