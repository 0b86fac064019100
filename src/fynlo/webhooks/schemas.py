"""Request and response bodies of ``/api/webhooks``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from fynlo.events.outbox import EVENT_TYPES
from fynlo.kit.schemas import RequestSchema, Schema

DeliveryStatus = Literal["pending", "delivered", "failed"]
MAX_URL_LENGTH = 2000


def check_url(value: str) -> str:
    """An absolute http(s) URL with a host. Whether plain http is allowed depends on the
    environment, which the service decides."""
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a port out of range or not a number
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from exc
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http or https URL")
    if not parts.hostname:
        raise ValueError("must name a host, e.g. https://example.com/webhooks")
    if port == 0:
        raise ValueError("port must be between 1 and 65535")
    if any(c.isspace() for c in value):
        raise ValueError("must not contain spaces")
    return value


def check_event_type(value: str) -> str:
    if value not in EVENT_TYPES:
        raise ValueError(
            f"unknown event type '{value}'; expected one of: {', '.join(sorted(EVENT_TYPES))}"
        )
    return value


WebhookUrl = Annotated[
    str, Field(min_length=1, max_length=MAX_URL_LENGTH), AfterValidator(check_url)
]
EventType = Annotated[
    str, Field(json_schema_extra={"enum": sorted(EVENT_TYPES)}), AfterValidator(check_event_type)
]
EventTypes = Annotated[
    list[EventType],
    Field(
        max_length=len(EVENT_TYPES) * 2,
        description="Event types to deliver; empty (the default) means every type",
    ),
]
Description = Annotated[str, Field(max_length=255)]


class WebhookCreate(RequestSchema):
    url: WebhookUrl = Field(description="https URL (plain http only in development and tests)")
    description: Description | None = None
    event_types: EventTypes = Field(default_factory=list)


class WebhookUpdate(RequestSchema):
    """Fields given are changed; only ``description`` may be sent as null (to clear it)."""

    url: WebhookUrl | None = None
    description: Description | None = None
    event_types: EventTypes | None = None
    is_active: bool | None = None


class WebhookOut(Schema):
    id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str] = Field(description="Empty means every type")
    is_active: bool
    previous_secret_expires_at: datetime | None = Field(
        description="Until then the previous secret also signs (after a rotation)"
    )
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(WebhookOut):
    secret: str = Field(description="The signing secret: shown only in this answer, keep it")


class WebhookDeleted(Schema):
    id: uuid.UUID
    deleted: bool


class AttemptOut(Schema):
    id: uuid.UUID
    attempt: int
    status_code: int | None = Field(description="The receiver's HTTP status; null if none")
    error: str | None = Field(description="Why the attempt failed; null on success")
    duration_ms: int
    manual: bool = Field(description="A replay asked for through the API")
    created_at: datetime


class DeliveryOut(Schema):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    payload: dict[str, Any] = Field(description="The JSON body sent")
    attempts: list[AttemptOut] = Field(description="Every attempt, oldest first")
