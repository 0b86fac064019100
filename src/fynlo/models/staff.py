"""The time clock: one row per shift a person works."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from fynlo.db.base import RecordModel
from fynlo.db.types import MoneyMinor


class TimeEntry(RecordModel):
    """A clock-in, its breaks and its clock-out.

    ``breaks`` is a list of ``{"start", "end", "paid"}`` (ISO timestamps, ``end`` null while
    the break runs). ``break_minutes`` counts the *unpaid* break minutes, the ones taken off
    the hours worked. Overtime and gross pay are not stored: they depend on the rest of the
    person's week and on the restaurant's rules, so the timesheet computes them.
    """

    __tablename__ = "time_entries"
    __table_args__ = (
        Index(
            "ix_time_entries_restaurant_id_user_id_clock_in", "restaurant_id", "user_id", "clock_in"
        ),
        # One open entry per person: the second of two concurrent clock-ins loses here.
        Index(
            "uq_time_entries_open_user",
            "user_id",
            unique=True,
            postgresql_where=text("clock_out IS NULL"),
            sqlite_where=text("clock_out IS NULL"),
        ),
        CheckConstraint("clock_out IS NULL OR clock_out > clock_in", name="clock_out_after_in"),
        CheckConstraint("break_minutes >= 0", name="break_minutes_not_negative"),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    clock_in: Mapped[datetime]
    clock_out: Mapped[datetime | None]
    breaks: Mapped[list[Any]] = mapped_column(default=list)
    break_minutes: Mapped[int] = mapped_column(default=0, server_default="0")
    total_hours: Mapped[Decimal | None] = mapped_column(Numeric(7, 2))
    hourly_rate_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0, server_default="0")
    correction_reason: Mapped[str | None] = mapped_column(Text)
    corrected_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(default=1, server_default="1")


class Shift(RecordModel):
    """A planned shift: who works, where (role or station), from when to when.

    Drafts (``published_at`` null) are seen by planners only; publishing a week makes its
    shifts visible to the restaurant's staff (the whole rota, as on the kitchen wall).
    """

    __tablename__ = "shifts"
    __table_args__ = (
        Index("ix_shifts_restaurant_id_starts_at", "restaurant_id", "starts_at"),
        Index("ix_shifts_restaurant_id_user_id_starts_at", "restaurant_id", "user_id", "starts_at"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str | None] = mapped_column(String(50))
    station: Mapped[str | None] = mapped_column(String(50))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    notes: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(default=1, server_default="1")
