"""Hardware: printers, cash drawers, scanners, card readers, displays, and the print queue."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, LargeBinary, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from fynlo.db.base import RecordModel

DEVICE_TYPES = ("printer", "cash_drawer", "scanner", "card_reader", "display")
CONNECTION_TYPES = ("bluetooth", "wifi", "usb", "ethernet")
DEVICE_STATUSES = ("online", "offline", "error")
PRINT_JOB_KINDS = ("receipt", "kitchen_ticket", "test", "drawer_kick")
PRINT_JOB_STATUSES = ("queued", "printing", "printed", "failed", "cancelled")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class HardwareDevice(RecordModel):
    """The spec's ``hardware_devices``. ``configuration`` holds what reaching and using the
    device needs, e.g. a network printer's ``{"host", "port", "columns", "stations",
    "receipts"}`` or a cash drawer's ``{"printerId", "pin"}``."""

    __tablename__ = "hardware_devices"
    __table_args__ = (
        Index("ix_hardware_devices_restaurant_id_device_type", "restaurant_id", "device_type"),
        CheckConstraint(_in("device_type", DEVICE_TYPES), name="device_type_valid"),
        CheckConstraint(
            "connection_type IS NULL OR " + _in("connection_type", CONNECTION_TYPES),
            name="connection_type_valid",
        ),
        CheckConstraint(_in("status", DEVICE_STATUSES), name="status_valid"),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    device_type: Mapped[str] = mapped_column(String(50))
    device_name: Mapped[str] = mapped_column(String(255))
    connection_type: Mapped[str | None] = mapped_column(String(50))
    device_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(50), default="offline", server_default="offline")
    configuration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_seen: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    version: Mapped[int] = mapped_column(default=1, server_default="1")


class PrintJob(RecordModel):
    """One thing to print (or one drawer kick), rendered to ESC/POS bytes when queued.

    A job is never dropped: a printer that cannot be reached leaves it ``queued`` with a
    later ``next_attempt_at``; after the last attempt it is ``failed`` and can be reprinted.
    """

    __tablename__ = "print_jobs"
    __table_args__ = (
        Index("ix_print_jobs_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_print_jobs_restaurant_id_device_id", "restaurant_id", "device_id"),
        CheckConstraint(_in("kind", PRINT_JOB_KINDS), name="kind_valid"),
        CheckConstraint(_in("status", PRINT_JOB_STATUSES), name="status_valid"),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    device_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("hardware_devices.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(20))
    # The order or kitchen ticket the job prints, when there is one.
    source_id: Mapped[uuid.UUID | None]
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20), default="queued", server_default="queued")
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    printed_at: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
