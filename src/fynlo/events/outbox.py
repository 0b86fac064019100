"""Writing domain events: a row in the outbox, in the caller's transaction.

Nothing is published here. A dispatcher reads committed rows and publishes them in order
per restaurant, so a rolled-back change never announces itself and a crash after commit
only delays an event.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.db.types import utc_now
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


_clock_lock = threading.Lock()
_last_stamp: datetime | None = None


def _event_stamp() -> datetime:
    """Now, but always later than the previous event of this process: events of one
    transaction are published in the order they were emitted, also when the clock gives
    two of them the same microsecond (the dispatcher orders by time, then id)."""
    global _last_stamp
    with _clock_lock:
        now = utc_now()
        if _last_stamp is not None and now <= _last_stamp:
            now = _last_stamp + timedelta(microseconds=1)
        _last_stamp = now
        return now


def emit(
    session: AsyncSession, restaurant_id: uuid.UUID, event_type: str, payload: dict[str, Any]
) -> OutboxEvent:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    event = OutboxEvent(
        id=uuid.uuid4(),
        restaurant_id=restaurant_id,
        event_type=event_type,
        payload=payload,
        created_at=_event_stamp(),
    )
    session.add(event)
    # Read by the unit of work after its commit, to wake the dispatcher at once.
    session.info[OUTBOX_PENDING] = True
    return event
