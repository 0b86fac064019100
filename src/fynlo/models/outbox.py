"""The transactional outbox: domain events written in the same transaction as the change."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from fynlo.db.base import RecordModel


class OutboxEvent(RecordModel):
    __tablename__ = "outbox_events"
    __table_args__ = (
        Index("ix_outbox_events_restaurant_id_created_at", "restaurant_id", "created_at"),
        Index("ix_outbox_events_published_at", "published_at"),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    event_type: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    published_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    # Given by the dispatcher when it publishes: the order clients received events in, and
    # the cursor of ``GET /api/events?after=``. Null while unpublished.
    sequence: Mapped[int | None] = mapped_column(BigInteger, unique=True)
