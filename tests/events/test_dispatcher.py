"""The outbox dispatcher on its own: order, a failing publish, pruning."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fynlo.db.engine import create_sessionmaker
from fynlo.db.types import utc_now
from fynlo.events import outbox as outbox_module
from fynlo.events.catalog import Delivery
from fynlo.events.dispatcher import OutboxDispatcher, PublishFailed, prune_published
from fynlo.events.outbox import emit
from fynlo.models import OutboxEvent
from tests.world import World


class Recorder:
    """A publisher that records what it is given, and fails while ``down`` is set."""

    def __init__(self) -> None:
        self.sent: list[Delivery] = []
        self.down = False

    async def publish(self, deliveries: Sequence[Delivery]) -> None:
        if self.down:
            raise PublishFailed("publisher down")
        self.sent.extend(deliveries)


async def test_a_failed_publish_keeps_that_event_and_the_ones_after_it_in_order(
    engine: AsyncEngine, session: AsyncSession, world: World
) -> None:
    ids = [emit(session, world.a1.id, "notification", {"message": f"n{n}"}).id for n in range(3)]
    await session.commit()
    publisher = Recorder()
    dispatcher = OutboxDispatcher(create_sessionmaker(engine), publisher)

    publisher.down = True
    assert await dispatcher.dispatch_once() == 0
    assert dispatcher.healthy is False
    rows = list(await session.scalars(select(OutboxEvent).order_by(OutboxEvent.created_at)))
    assert [(r.sequence, r.published_at, r.attempts) for r in rows] == [
        (None, None, 1),  # the first one was tried; the others wait behind it
        (None, None, 0),
        (None, None, 0),
    ]

    publisher.down = False
    assert await dispatcher.dispatch_once() == 3
    assert dispatcher.healthy is True
    assert [d.payload["eventId"] for d in publisher.sent] == [str(i) for i in ids]
    assert [d.payload["sequence"] for d in publisher.sent] == [1, 2, 3]
    assert await dispatcher.dispatch_once() == 0  # nothing twice
    await session.rollback()
    published = list(await session.scalars(select(OutboxEvent.sequence)))
    assert sorted(published) == [1, 2, 3]


async def test_pruning_removes_old_published_events_only(
    engine: AsyncEngine, session: AsyncSession, world: World
) -> None:
    now = utc_now()
    old, recent, waiting = (
        emit(session, world.a1.id, "notification", {"message": name})
        for name in ("old", "recent", "waiting")
    )
    old.published_at, old.sequence = now - timedelta(days=8), 1
    recent.published_at, recent.sequence = now - timedelta(days=6), 2
    waiting.created_at = now - timedelta(days=30)  # never published: kept however old
    await session.commit()
    kept = {recent.id, waiting.id}

    assert await prune_published(create_sessionmaker(engine), timedelta(days=7), now=now) == 1
    await session.rollback()
    assert set(await session.scalars(select(OutboxEvent.id))) == kept


async def test_events_of_one_transaction_are_published_in_the_order_they_were_emitted(
    engine: AsyncEngine,
    session: AsyncSession,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A clock that does not move: every event of the transaction gets the same reading.
    frozen = utc_now()
    monkeypatch.setattr(outbox_module, "utc_now", lambda: frozen)
    ids = [emit(session, world.a1.id, "notification", {"message": f"n{n}"}).id for n in range(40)]
    await session.commit()
    publisher = Recorder()

    assert await OutboxDispatcher(create_sessionmaker(engine), publisher).dispatch_once() == 40
    assert [d.payload["eventId"] for d in publisher.sent] == [str(i) for i in ids]


async def test_a_woken_round_skips_the_look_ahead_and_numbering_goes_on_across_batches(
    engine: AsyncEngine, session: AsyncSession, world: World
) -> None:
    publisher = Recorder()
    dispatcher = OutboxDispatcher(create_sessionmaker(engine), publisher, batch_size=2)
    dispatcher.healthy = False  # as after a failed publish whose events went out elsewhere
    assert await dispatcher.dispatch_once(look_first=False) == 0  # nothing waiting
    assert dispatcher.healthy is True

    for n in range(5):
        emit(session, world.a1.id, "notification", {"message": f"n{n}"})
    await session.commit()

    assert await dispatcher.dispatch_once(look_first=False) == 2
    assert await dispatcher.dispatch_once(look_first=False) == 2
    assert await dispatcher.dispatch_once() == 1
    assert await dispatcher.dispatch_once(look_first=False) == 0
    assert [d.payload["sequence"] for d in publisher.sent] == [1, 2, 3, 4, 5]
