"""Dining tables on the floor."""

from __future__ import annotations

import uuid

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from fynlo.db.base import RecordModel

TABLE_STATUSES = ("available", "occupied", "reserved", "cleaning")


class DiningTable(RecordModel):
    __tablename__ = "dining_tables"
    __table_args__ = (
        UniqueConstraint("restaurant_id", "number"),
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in TABLE_STATUSES) + ")",
            name="status_valid",
        ),
        CheckConstraint("seats > 0", name="seats_positive"),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    number: Mapped[str] = mapped_column(String(20))
    seats: Mapped[int] = mapped_column(default=4)
    section: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), default="available")
    waiter_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    version: Mapped[int] = mapped_column(default=1, server_default="1")
