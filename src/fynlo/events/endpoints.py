"""``GET /api/events``: what a reconnecting client missed, in the order it was published."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from sqlalchemy import select

from fynlo.auth.subject import CurrentSubject
from fynlo.authz.context import CurrentRestaurant
from fynlo.events.catalog import deliveries, rooms_for
from fynlo.kit.errors import ResourceNotFound
from fynlo.kit.routing import router
from fynlo.kit.schemas import Envelope, Schema, ok
from fynlo.kit.unit_of_work import SessionDep
from fynlo.models import OutboxEvent

events_router = router(prefix="/api/events", tags=["real-time"])

MAX_EVENTS = 500


class EventOut(Schema):
    event_id: uuid.UUID
    event: str
    sequence: int
    occurred_at: datetime
    payload: dict[str, Any]


class EventPage(Schema):
    items: list[EventOut]
    has_more: bool
    last_event_id: uuid.UUID | None


@events_router.get(
    "",
    response_model=Envelope[EventPage],
    summary="Events published since a given one (catch-up after a reconnect)",
    description="Published events of the caller's restaurant with a higher `sequence` than "
    "`after`, oldest first, as they were sent over Socket.IO (the same event name and "
    "payload), limited to those whose rooms the caller would join (`inventory_alert` only "
    "for managers and owners). Without `after`, the latest `limit` events. An `after` "
    "that is unknown (or pruned, see `FYNLO_OUTBOX_RETENTION_DAYS`) is a 404: reload the "
    "state instead.",
)
async def list_events(
    subject: CurrentSubject,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    after: Annotated[uuid.UUID | None, Query(description="The last eventId received")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENTS)] = 100,
) -> Envelope[EventPage]:
    published = select(OutboxEvent).where(
        OutboxEvent.restaurant_id == restaurant.id, OutboxEvent.sequence.is_not(None)
    )
    if after is not None:
        known = (
            await session.execute(
                select(OutboxEvent.sequence).where(
                    OutboxEvent.id == after, OutboxEvent.restaurant_id == restaurant.id
                )
            )
        ).first()
        if known is None:
            raise ResourceNotFound("Event", after)
        cursor = known[0]
        if cursor is None:
            # Sent, but the dispatcher has not committed it yet: nothing after it is either.
            return ok(EventPage(items=[], has_more=False, last_event_id=after))
        rows = list(
            await session.scalars(
                published.where(OutboxEvent.sequence > cursor)
                .order_by(OutboxEvent.sequence)
                .limit(limit + 1)
            )
        )
        has_more = len(rows) > limit
        rows = rows[:limit]
    else:
        newest = list(
            await session.scalars(published.order_by(OutboxEvent.sequence.desc()).limit(limit + 1))
        )
        has_more = len(newest) > limit
        rows = list(reversed(newest[:limit]))
    mine = set(rooms_for(restaurant.id, subject.role, subject.permissions, kitchen_display=True))
    items = []
    for event in rows:
        for delivery in deliveries(event):
            if mine.intersection(delivery.rooms):
                assert event.sequence is not None
                items.append(
                    EventOut(
                        event_id=event.id,
                        event=delivery.event,
                        sequence=event.sequence,
                        occurred_at=event.created_at,
                        payload=delivery.payload,
                    )
                )
                break
    return ok(
        EventPage(items=items, has_more=has_more, last_event_id=rows[-1].id if rows else None)
    )
