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
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fynlo.db.engine import write_intent
from fynlo.db.types import utc_now
from fynlo.events.catalog import Delivery, deliveries
from fynlo.kit.waiting import wait_for_wake
from fynlo.models import OutboxEvent

log = structlog.get_logger(__name__)

# pg_advisory_xact_lock key: "fynlo outbox" (any constant shared by every replica).
DISPATCH_LOCK_KEY = 0x46594E4C4F0B


# The oldest unpublished events and, on each row, the last sequence number given: one query.
_BATCH = (
    select(OutboxEvent, select(func.max(OutboxEvent.sequence)).scalar_subquery())
    .where(OutboxEvent.published_at.is_(None))
    .order_by(OutboxEvent.created_at, OutboxEvent.id)
    .limit(bindparam("batch_size"))
)


class PublishFailed(Exception):
    """The real-time layer could not take an event (e.g. Redis unreachable)."""


class Publisher(Protocol):
    async def publish(self, deliveries: Sequence[Delivery]) -> None: ...


# Called once per round with the events it published, in the same transaction.
EventHook = Callable[[AsyncSession, Sequence[OutboxEvent]], Awaitable[object]]


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
            found = await session.scalar(
                select(OutboxEvent.id).where(OutboxEvent.published_at.is_(None)).limit(1)
            )
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
                turn = await session.scalar(
                    select(func.pg_try_advisory_xact_lock(DISPATCH_LOCK_KEY))
                )
                if not turn:
                    return None
            rows = (await session.execute(_BATCH, {"batch_size": self._batch_size})).all()
            events = [event for event, _ in rows]
            last = (rows[0][1] if rows else None) or 0
            now = utc_now()
            published: list[OutboxEvent] = []
            for event in events:
                event.sequence = last + 1
                try:
                    await self._publisher.publish(deliveries(event))
                except PublishFailed as exc:
                    event.sequence = None
                    event.attempts += 1
                    if self.healthy:
                        log.warning("outbox_publish_failed", error=str(exc), event_id=str(event.id))
                    self.healthy = False
                    break
                last += 1
                event.published_at = now
                published.append(event)
            else:
                if not self.healthy:
                    log.info("outbox_publishing_again")
                self.healthy = True
            if published:
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
