"""Request bodies of the kitchen endpoints."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from fynlo.kit.schemas import RequestSchema, Schema


class FireIn(RequestSchema):
    """Which held items to send: a ``course``, a list of ``itemIds``, or (neither) all."""

    course: int | None = Field(default=None, ge=1, le=9)
    item_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=100)
    version: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_selector(self) -> FireIn:
        if self.course is not None and self.item_ids is not None:
            raise ValueError("give either course or itemIds, not both")
        return self


class ItemStatusIn(RequestSchema):
    """The spec's body: ``{"status": "completed", "actualTime": 8}`` (minutes)."""

    status: Literal["pending", "preparing", "ready", "served", "completed"]
    actual_time: float | None = Field(
        default=None,
        ge=0,
        le=1440,
        description="Minutes the item took, as the kitchen timed it; only with ready/completed",
    )
    version: int | None = Field(default=None, ge=1)


StationStatus = Literal["open", "paused", "closed"]


class BumpIn(RequestSchema):
    """Mark an order's items ready: those of ``station``, or (without it) all of them."""

    station: str | None = Field(default=None, min_length=1, max_length=50)
    version: int | None = Field(default=None, ge=1)


class RecallIn(RequestSchema):
    """Send ready items back to the line: those of ``station``, those named, or all."""

    station: str | None = Field(default=None, min_length=1, max_length=50)
    item_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=100)
    version: int | None = Field(default=None, ge=1)


class RushIn(RequestSchema):
    rush: bool = True
    version: int | None = Field(default=None, ge=1)


class StationIn(RequestSchema):
    code: str = Field(
        min_length=1,
        max_length=50,
        description="What products and categories name in `kitchenStation` (the same text, "
        "case included); fixed once made",
        examples=["grill"],
    )
    name: str = Field(min_length=1, max_length=100)
    status: StationStatus = "open"
    is_default: bool = Field(
        default=False, description="Gets items with no station and items of closed stations"
    )
    sort_order: int = Field(default=0, ge=0, le=10_000)


class StationUpdate(RequestSchema):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    is_default: bool | None = None
    sort_order: int | None = Field(default=None, ge=0, le=10_000)
    version: int | None = Field(default=None, ge=1)


class StationStatusIn(RequestSchema):
    status: StationStatus
    reason: str | None = Field(default=None, max_length=500)
    version: int | None = Field(default=None, ge=1)


# --- responses ---------------------------------------------------------------------------


class KitchenItemOut(Schema):
    item_id: uuid.UUID
    name: str
    quantity: int
    modifiers: list[str] = Field(examples=[["size: large", "extra: cheese"]])
    notes: str | None
    course: int
    station: str | None
    status: str = Field(examples=["preparing"])
    preparation_time: int = Field(description="The product's preparation time, minutes")
    sent_at: datetime = Field(description="When the kitchen got the item (fired)")
    started_at: datetime | None
    ready_at: datetime | None
    elapsed_minutes: float = Field(description="Since the item was sent, 0.1 min")
    late: bool = Field(description="Past its preparation time (plus the grace setting)")


class KitchenOrderOut(Schema):
    order_id: uuid.UUID
    order_number: str
    table_number: str | None
    order_type: str
    status: str
    rush: bool
    priority: Literal["urgent", "high", "normal"]
    priority_reasons: list[Literal["rush", "orderType", "waiting", "late"]]
    station: str | None = Field(
        description="The station asked for, or the one station all items are from; null when "
        "the items span several (see `stations`)"
    )
    stations: list[str]
    items: list[KitchenItemOut]
    held_items: int = Field(description="Items of later courses held back, not yet fired")
    estimated_time: int = Field(
        description="Minutes until ready: from the order's estimatedCompletion when staff set "
        "one, else the longest remaining preparation time of its items (0 when overdue)"
    )
    waiting_minutes: float = Field(description="Since the first of these items was sent")
    late: bool
    kitchen_notes: str | None
    special_requests: str | None
    sent_at: datetime | None
    version: int = Field(description="The order's version, for bump/recall/rush")


class KitchenBoardOut(Schema):
    active_orders: list[KitchenOrderOut]
    completed_today: int = Field(
        description="Orders made ready this business day (at the station, when filtered)"
    )
    average_time: float | None = Field(
        description="Mean preparation time, minutes, of the items made ready this business day"
    )
    business_date: date
    station: str | None
    generated_at: datetime


class StationOut(Schema):
    id: uuid.UUID
    code: str
    name: str
    status: str
    status_reason: str | None
    status_changed_at: datetime | None
    is_default: bool
    sort_order: int
    active_items: int = Field(description="Items sent to the station and not yet ready")
    version: int


class TicketOut(Schema):
    ticket_id: uuid.UUID
    ticket_number: int
    kind: str
    station: str
    order_id: uuid.UUID
    order_number: str
    table_number: str | None
    order_type: str
    items: list[dict[str, Any]]
    notes: str | None
    business_date: date
    created_at: datetime
    print_count: int
    last_printed_at: datetime | None


class ReprintOut(Schema):
    ticket: TicketOut
    print_jobs: int = Field(description="Jobs queued, one per printer of the ticket's station")
