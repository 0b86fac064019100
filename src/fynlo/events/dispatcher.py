"""Publishing committed outbox events, in order, at least once.

One dispatcher publishes at a time: on PostgreSQL a transaction-scoped advisory lock elects
it among replicas (the others find the lock taken and wait for the next round); on SQLite the
write lock does. It takes the oldest unpublished events, emits each to its Socket.IO rooms,
queues its webhook deliveries, and marks it published with the next ``sequence`` number, all
in one transaction. A publish that fails (Redis down) stops the round: that event and the
ones after it stay unpublished and go out, in order, once publishing works again. A crash
after an emit and before the commit sends that event again: clients de-duplicate on
``eventId``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import bindparam, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fynlo.db.base import table_of
from fynlo.db.engine import write_intent
from fynlo.db.types import utc_now
from fynlo.events.catalog import Delivery, EventRecord, deliveries
from fynlo.kit.waiting import wait_for_wake
from fynlo.models import OutboxEvent, WebhookEndpoint

log = structlog.get_logger(__name__)

# pg_advisory_xact_lock key: "fynlo outbox" (any constant shared by every replica).
DISPATCH_LOCK_KEY = 0x46594E4C4F0B


_OUTBOX = table_of(OutboxEvent)
_ENDPOINTS = table_of(WebhookEndpoint)

# The oldest unpublished events, the last sequence number given, and whether the event's
# restaurant has an active webhook endpoint (most have none: their round then reads nothing
# more): one Core query, as a round only reads these rows and writes back two columns.
_BATCH = (
    select(
        _OUTBOX.c.id,
        _OUTBOX.c.restaurant_id,
        _OUTBOX.c.event_type,
        _OUTBOX.c.payload,
        _OUTBOX.c.created_at,
        select(func.max(_OUTBOX.c.sequence)).scalar_subquery().label("last_sequence"),
        exists()
        .where(
            _ENDPOINTS.c.restaurant_id == _OUTBOX.c.restaurant_id,
            _ENDPOINTS.c.is_active.is_(True),
        )
        .label("webhook_endpoints"),
    )
    .where(_OUTBOX.c.published_at.is_(None))
    .order_by(_OUTBOX.c.created_at, _OUTBOX.c.id)
    .limit(bindparam("batch_size"))
)
_ANY_PENDING = select(_OUTBOX.c.id).where(_OUTBOX.c.published_at.is_(None)).limit(1)
_TAKE_TURN = select(func.pg_try_advisory_xact_lock(DISPATCH_LOCK_KEY))
_MARK_PUBLISHED = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("event_id"))
    .values(sequence=bindparam("sequence"), published_at=bindparam("published_at"))
)
_COUNT_ATTEMPT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("event_id"))
    .values(attempts=_OUTBOX.c.attempts + 1)
)


@dataclass(slots=True)
class PendingEvent:
    """An outbox row as a round reads it (an :class:`~fynlo.events.catalog.EventRecord`).

    ``webhook_endpoints`` is False when the restaurant had no active webhook endpoint as
    the batch was read, so the webhook fan-out can skip its query.
    """

    id: uuid.UUID
    restaurant_id: uuid.UUID
    event_type: str
    payload: dict[str, Any]
    created_at: datetime
    webhook_endpoints: bool
    sequence: int | None = None


class PublishFailed(Exception):
    """The real-time layer could not take an event (e.g. Redis unreachable)."""


class Publisher(Protocol):
    async def publish(self, deliveries: Sequence[Delivery]) -> None: ...


# Called once per round with the events it published, in the same transaction.
EventHook = Callable[[AsyncSession, Sequence[EventRecord]], Awaitable[object]]


class OutboxDispatcher:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        publisher: Publisher,
        *,
        on_published: Sequence[EventHook] = (),
        batch_size: int = 200,
        poll_seconds: float = 1.0,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._publisher = publisher
        self._on_published = list(on_published)
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self.healthy = True

    def wake(self) -> None:
        """Something was committed to the outbox: publish it now, not at the next poll."""
        self._wake.set()

    async def _pending(self) -> bool:
        async with self._sessionmaker() as session:
            found = await session.scalar(_ANY_PENDING)
        return found is not None

    async def dispatch_once(self, *, look_first: bool = True) -> int | None:
        """Publish one batch; the number published, or None if another dispatcher holds
        the turn.

        ``look_first`` reads whether anything is waiting before taking the write turn (a
        poll usually finds nothing, and on SQLite the turn is the database's write lock);
        a round that was woken by a commit, or follows a full batch, skips that query.
        """
        if look_first and not await self._pending():
            return 0
        async with write_intent(), self._sessionmaker() as session, session.begin():
            if session.get_bind().dialect.name == "postgresql":
                turn = await session.scalar(_TAKE_TURN)
                if not turn:
                    return None
            rows = (await session.execute(_BATCH, {"batch_size": self._batch_size})).all()
            last = (rows[0].last_sequence if rows else None) or 0
            published: list[PendingEvent] = []
            for event_id, restaurant_id, event_type, payload, created_at, _, endpoints in rows:
                event = PendingEvent(
                    event_id, restaurant_id, event_type, payload, created_at, endpoints, last + 1
                )
                try:
                    await self._publisher.publish(deliveries(event))
                except PublishFailed as exc:
                    await session.execute(_COUNT_ATTEMPT, {"event_id": event.id})
                    if self.healthy:
                        log.warning("outbox_publish_failed", error=str(exc), event_id=str(event.id))
                    self.healthy = False
                    break
                last += 1
                published.append(event)
            else:
                if not self.healthy:
                    log.info("outbox_publishing_again")
                self.healthy = True
            if published:
                now = utc_now()
                await session.execute(
                    _MARK_PUBLISHED,
                    [
                        {"event_id": e.id, "sequence": e.sequence, "published_at": now}
                        for e in published
                    ],
                )
                for hook in self._on_published:
                    await hook(session, published)
        return len(published)

    async def run(self) -> None:
        """Publish until cancelled: at once when woken, else every ``poll_seconds``."""
        look_first = True
        while True:
            self._wake.clear()
            try:
                published = await self.dispatch_once(look_first=look_first)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox_dispatch_failed")
                published = 0
            if published == self._batch_size:
                look_first = False
                continue
            if published is None:  # another replica's turn: look again soon
                await asyncio.sleep(min(0.05, self._poll_seconds))
                look_first = True
                continue
            look_first = not await wait_for_wake(self._wake, self._poll_seconds)


async def prune_published(
    sessionmaker: async_sessionmaker[AsyncSession],
    older_than: timedelta,
    *,
    now: datetime | None = None,
) -> int:
    """Delete events published before ``now - older_than`` (never unpublished ones)."""
    cutoff = (now or utc_now()) - older_than
    async with write_intent(), sessionmaker() as session, session.begin():
        result = await session.execute(
            delete(OutboxEvent).where(
                OutboxEvent.published_at.is_not(None), OutboxEvent.published_at < cutoff
            )
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
