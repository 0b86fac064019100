"""Kitchen stations and the kitchen order tickets (KOT) printed for them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from fynlo.db.base import Base, RecordModel

STATION_STATUSES = ("open", "paused", "closed")
TICKET_KINDS = ("new", "addition", "void")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class KitchenStation(RecordModel):
    """A place in the kitchen that cooks part of an order (grill, cold, fryer, bar).

    ``code`` is what products and categories name in their ``kitchen_station``. Items whose
    station is unknown, or whose station is closed, go to the restaurant's default station.
    """

    __tablename__ = "kitchen_stations"
    __table_args__ = (
        UniqueConstraint("restaurant_id", "code"),
        CheckConstraint(_in("status", STATION_STATUSES), name="status_valid"),
        # At most one default station per restaurant.
        Index(
            "uq_kitchen_stations_default",
            "restaurant_id",
            unique=True,
            postgresql_where=text("is_default"),
            sqlite_where=text("is_default"),
        ),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="open", server_default="open")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    sort_order: Mapped[int] = mapped_column(default=0, server_default="0")
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1, server_default="1")


class KitchenTicket(RecordModel):
    """One kitchen order ticket: the items of one order for one station, as sent.

    ``kind`` is ``new`` (the order was confirmed), ``addition`` (items added or fired
    later) or ``void`` (items taken back). ``items`` is the snapshot printed:
    ``[{"itemId", "name", "quantity", "modifiers", "notes", "course"}]``; it never changes,
    so a reprint shows exactly what the kitchen first saw.
    """

    __tablename__ = "kitchen_tickets"
    __table_args__ = (
        UniqueConstraint("restaurant_id", "business_date", "ticket_number"),
        Index("ix_kitchen_tickets_restaurant_id_order_id", "restaurant_id", "order_id"),
        CheckConstraint(_in("kind", TICKET_KINDS), name="kind_valid"),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    order_number: Mapped[str] = mapped_column(String(50))
    station: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(20))
    business_date: Mapped[date] = mapped_column(Date)
    ticket_number: Mapped[int]
    items: Mapped[list[Any]] = mapped_column(default=list)
    table_number: Mapped[str | None] = mapped_column(String(20))
    order_type: Mapped[str] = mapped_column(String(20))
    notes: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    print_count: Mapped[int] = mapped_column(default=0, server_default="0")
    last_printed_at: Mapped[datetime | None]


class KitchenTicketCounter(Base):
    """The last ticket number handed out per restaurant and business day (one upsert)."""

    __tablename__ = "kitchen_ticket_counters"

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE"), primary_key=True
    )
    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    last_value: Mapped[int] = mapped_column(default=0)
