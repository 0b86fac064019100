"""Bodies of the messages clients may send over Socket.IO, validated like HTTP bodies."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field, ValidationError

from fynlo.kit.handlers import validation_details
from fynlo.kit.schemas import RequestSchema
from fynlo.orders.schemas import OrderStatusUpdate


class OrderStatusIn(OrderStatusUpdate):
    """``order_status_update``: the body of ``PATCH /api/orders/{id}/status`` plus the id."""

    order_id: uuid.UUID


class ItemReadyIn(RequestSchema):
    """``item_ready``: what ``PATCH /api/kitchen/orders/{id}/items/{itemId}/status`` does
    with ``{"status": "ready"}``."""

    order_id: uuid.UUID
    item_id: uuid.UUID
    actual_time: float | None = Field(default=None, ge=0, le=1440)
    version: int | None = Field(default=None, ge=1)


class NotificationIn(RequestSchema):
    """``system_notification``: a message shown to everyone in the restaurant."""

    message: str = Field(min_length=1, max_length=500)
    level: Literal["info", "warning", "urgent"] = "info"


def validation_error(exc: ValidationError) -> tuple[str, list[dict[str, Any]]]:
    details = validation_details([dict(e) for e in exc.errors()])
    for detail in details:
        detail["location"] = "message"
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
    return f"Invalid message: {summary}", details
