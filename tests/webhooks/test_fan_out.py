"""fan_out: one delivery per matching active endpoint of the event's restaurant, once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fynlo.config import Settings
from fynlo.db.engine import create_sessionmaker
from fynlo.events.catalog import Delivery
from fynlo.events.dispatcher import OutboxDispatcher
from fynlo.events.outbox import emit
from fynlo.models import WebhookDelivery
from fynlo.webhooks.service import fan_out
from tests.webhooks.support import create_endpoint, deliveries_of, publish
from tests.world import World

URL = "http://127.0.0.1:9/hooks"


async def _count(session: AsyncSession) -> int:
    await session.commit()
    return await session.scalar(select(func.count(WebhookDelivery.id))) or 0


async def test_queues_one_pending_delivery_per_matching_endpoint_once(
    session: AsyncSession, settings: Settings, world: World
) -> None:
    every, _ = await create_endpoint(session, settings, world.a1, URL)
    orders, _ = await create_endpoint(
        session, settings, world.a1, URL, event_types=["new_order", "order_updated"]
    )
    menu, _ = await create_endpoint(session, settings, world.a1, URL, event_types=["menu_updated"])
    inactive, _ = await create_endpoint(session, settings, world.a1, URL, is_active=False)
    other_restaurant, _ = await create_endpoint(session, settings, world.a2, URL)

    event, queued = await publish(session, world.a1, "new_order", {"orderId": "o-7"})
    assert queued == 2
    assert await fan_out(session, [event]) == 0  # the dispatcher retrying the same event
    assert await fan_out(session, [event]) == 0
    await session.commit()
    assert await _count(session) == 2

    (to_every,) = await deliveries_of(session, every)
    (to_orders,) = await deliveries_of(session, orders)
    assert await deliveries_of(session, menu) == []
    assert await deliveries_of(session, inactive) == []
    assert await deliveries_of(session, other_restaurant) == []
    for delivery in (to_every, to_orders):
        assert delivery.status == "pending"
        assert delivery.attempts == 0
        assert delivery.event_id == event.id
        assert delivery.event_type == "new_order"
        assert delivery.restaurant_id == world.a1.id
        assert delivery.next_attempt_at is not None
        assert delivery.next_attempt_at <= delivery.created_at
        assert delivery.payload == {
            "id": str(event.id),
            "type": "new_order",
            "restaurantId": str(world.a1.id),
            "createdAt": delivery.payload["createdAt"],
            "data": {"orderId": "o-7"},
        }

    _, menu_queued = await publish(session, world.a1, "menu_updated")
    assert menu_queued == 2  # every + menu
    assert len(await deliveries_of(session, menu)) == 1
    assert await _count(session) == 4


async def test_nothing_to_do_without_endpoints(session: AsyncSession, world: World) -> None:
    event = emit(session, world.b.id, "table_updated", {"tableId": "t1"})
    await session.flush()
    assert await fan_out(session, [event]) == 0
    assert await _count(session) == 0


async def test_endpoint_gets_what_is_fanned_out_after_its_registration(
    session: AsyncSession, settings: Settings, world: World
) -> None:
    first_event, queued = await publish(session, world.a1)
    assert queued == 0
    endpoint, _ = await create_endpoint(session, settings, world.a1, URL)
    assert await fan_out(session, [first_event]) == 1  # a replayed outbox event is still new to it
    second_event, queued = await publish(session, world.a1)
    assert queued == 1
    await session.commit()
    assert {d.event_id for d in await deliveries_of(session, endpoint)} == {
        first_event.id,
        second_event.id,
    }


async def test_a_batch_of_several_restaurants_and_types_is_routed_event_by_event(
    session: AsyncSession, settings: Settings, world: World
) -> None:
    """The dispatcher hands over a whole round at once: each event still goes only to its
    own restaurant's endpoints that want its type."""
    a1_orders, _ = await create_endpoint(
        session, settings, world.a1, URL, event_types=["new_order"]
    )
    a2_every, _ = await create_endpoint(session, settings, world.a2, URL)
    batch = [
        emit(session, world.a1.id, "new_order", {"orderId": "a1-order"}),
        emit(session, world.a1.id, "menu_updated", {"action": "created"}),
        emit(session, world.a2.id, "table_updated", {"tableId": "t2"}),
        emit(session, world.b.id, "new_order", {"orderId": "b-order"}),
    ]
    await session.flush()
    assert await fan_out(session, batch) == 2
    assert await fan_out(session, batch) == 0  # once per (endpoint, event)
    await session.commit()
    assert [d.event_id for d in await deliveries_of(session, a1_orders)] == [batch[0].id]
    assert [d.event_id for d in await deliveries_of(session, a2_every)] == [batch[2].id]
    assert await fan_out(session, []) == 0


async def test_the_dispatcher_fans_out_only_events_of_restaurants_with_an_active_endpoint(
    engine: AsyncEngine, session: AsyncSession, settings: Settings, world: World
) -> None:
    endpoint, _ = await create_endpoint(session, settings, world.a1, URL)
    await create_endpoint(session, settings, world.a2, URL, is_active=False)
    hooked = emit(session, world.a1.id, "new_order", {"orderId": "o-1"})
    emit(session, world.a2.id, "new_order", {"orderId": "o-2"})
    emit(session, world.b.id, "new_order", {"orderId": "o-3"})
    await session.commit()
    endpoint_reads: list[str] = []

    def count_endpoint_reads(*args: Any) -> None:
        statement: str = args[2]
        if statement.lstrip().upper().startswith("SELECT WEBHOOK_ENDPOINTS"):
            endpoint_reads.append(statement)

    dispatcher = OutboxDispatcher(create_sessionmaker(engine), Silent(), on_published=[fan_out])
    event.listen(engine.sync_engine, "before_cursor_execute", count_endpoint_reads)
    try:
        assert await dispatcher.dispatch_once() == 3
        emit(session, world.b.id, "new_order", {"orderId": "o-4"})
        await session.commit()
        assert await dispatcher.dispatch_once() == 1
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count_endpoint_reads)

    assert len(endpoint_reads) == 1  # the first round's, for restaurant a1; none for b alone
    await session.commit()
    queued = (
        await session.execute(select(WebhookDelivery.endpoint_id, WebhookDelivery.event_id))
    ).all()
    assert [tuple(row) for row in queued] == [(endpoint.id, hooked.id)]


class Silent:
    async def publish(self, deliveries: Sequence[Delivery]) -> None:
        return None
