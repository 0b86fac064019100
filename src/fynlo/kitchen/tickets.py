"""Kitchen order tickets (KOT): what each station is told to cook, numbered per day.

Orders call :func:`send_to_kitchen` when items reach the kitchen (the order is confirmed,
items are added to a confirmed order, a held course is fired) and :func:`void_in_kitchen`
when items the kitchen has are taken back. Each call makes one ticket per station.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.authz.context import restaurant_settings
from fynlo.db.types import utc_now
from fynlo.devices.queue import queue_ticket_prints
from fynlo.events.outbox import emit
from fynlo.models import KitchenStation, KitchenTicket, KitchenTicketCounter, Order, OrderItem
from fynlo.models.identity import Restaurant
from fynlo.orders import numbering

FALLBACK_STATION = "kitchen"


@dataclass(frozen=True)
class KitchenRules:
    """The restaurant's ``kitchen_settings``, read with defaults so bad values never fail."""

    high_priority_after_minutes: int = 20
    late_grace_minutes: int = 0
    priority_order_types: frozenset[str] = frozenset({"delivery"})
    hold_later_courses: bool = False

    def is_late(self, seconds: float, preparation_time: int) -> bool:
        """Past the product's preparation time and the grace; never without one."""
        return preparation_time > 0 and seconds > (preparation_time + self.late_grace_minutes) * 60

    @classmethod
    def from_settings(cls, raw: dict[str, Any] | None) -> KitchenRules:
        raw = raw or {}

        def minutes(key: str, default: int) -> int:
            value = raw.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1440:
                return default
            return value

        types = raw.get("priorityOrderTypes")
        return cls(
            high_priority_after_minutes=minutes("highPriorityAfterMinutes", 20),
            late_grace_minutes=minutes("lateGraceMinutes", 0),
            priority_order_types=(
                frozenset(str(t) for t in types)
                if isinstance(types, list)
                else frozenset({"delivery"})
            ),
            hold_later_courses=raw.get("holdLaterCourses") is True,
        )


async def kitchen_rules(session: AsyncSession, restaurant: Restaurant) -> KitchenRules:
    settings = await restaurant_settings(session, restaurant)
    return KitchenRules.from_settings(settings.kitchen_settings if settings else None)


async def day_start(session: AsyncSession, restaurant: Restaurant) -> Any:
    settings = await restaurant_settings(session, restaurant)
    pos = settings.pos_settings if settings else {}
    return numbering.parse_day_start(pos.get("businessDayStartsAt"))


class StationRouter:
    """Where an item is cooked: its product's station (or its category's, filled in when
    the item was taken), else the restaurant's default station. Once a restaurant has a
    default station, items of a closed station or of a station it does not have (removed,
    or misspelt on the menu) go there too, so no ticket goes to a screen nobody watches."""

    def __init__(self, stations: Sequence[KitchenStation]) -> None:
        self.by_code = {s.code: s for s in stations}
        default = next((s for s in stations if s.is_default), None)
        self.default = default.code if default is not None else None

    def route(self, code: str | None) -> str:
        if code is None:
            return self.default or FALLBACK_STATION
        station = self.by_code.get(code)
        if (station is None or station.status == "closed") and self.default is not None:
            fallback = self.by_code[self.default]
            if fallback.status != "closed":
                return fallback.code
        return code


async def station_router(session: AsyncSession, restaurant_id: uuid.UUID) -> StationRouter:
    stations = await session.scalars(
        select(KitchenStation).where(KitchenStation.restaurant_id == restaurant_id)
    )
    return StationRouter(stations.all())


def ticket_line(item: OrderItem) -> dict[str, Any]:
    return {
        "itemId": str(item.id),
        "name": item.product_name,
        "quantity": item.quantity,
        "modifiers": [f"{m['type']}: {m['value']}" for m in item.modifiers],
        "notes": item.notes,
        "course": item.course,
    }


def ticket_payload(ticket: KitchenTicket) -> dict[str, Any]:
    """The fields of a ticket in its event, its API answer and its webhook."""
    return {
        "ticketId": str(ticket.id),
        "ticketNumber": ticket.ticket_number,
        "kind": ticket.kind,
        "station": ticket.station,
        "orderId": str(ticket.order_id),
        "orderNumber": ticket.order_number,
        "tableNumber": ticket.table_number,
        "orderType": ticket.order_type,
        "items": ticket.items,
        "notes": ticket.notes,
        "businessDate": ticket.business_date.isoformat(),
        "createdAt": ticket.created_at.isoformat(),
    }


async def _issue(
    session: AsyncSession,
    restaurant: Restaurant,
    order: Order,
    items: Sequence[OrderItem],
    kind: str,
    actor_id: uuid.UUID | None,
    now: datetime,
) -> list[KitchenTicket]:
    by_station: dict[str, list[OrderItem]] = {}
    for item in items:
        by_station.setdefault(item.kitchen_station or FALLBACK_STATION, []).append(item)
    if not by_station:
        return []
    day = numbering.business_date(now, restaurant.timezone, await day_start(session, restaurant))
    tickets = []
    for station in sorted(by_station):
        number = await numbering.next_sequence(
            session, restaurant.id, day, counter=KitchenTicketCounter
        )
        ticket = KitchenTicket(
            id=uuid.uuid4(),
            restaurant_id=restaurant.id,
            order_id=order.id,
            order_number=order.order_number,
            station=station,
            kind=kind,
            business_date=day,
            ticket_number=number,
            items=[ticket_line(i) for i in by_station[station]],
            table_number=order.table_number,
            order_type=order.order_type,
            notes=order.kitchen_notes if kind == "new" else None,
            created_by=actor_id,
            created_at=now,
            print_count=0,
        )
        session.add(ticket)
        tickets.append(ticket)
    await session.flush()
    for ticket in tickets:
        emit(session, restaurant.id, "kitchen_ticket", ticket_payload(ticket))
    await queue_ticket_prints(session, restaurant, tickets, actor_id=actor_id)
    return tickets


async def send_to_kitchen(
    session: AsyncSession,
    restaurant: Restaurant,
    order: Order,
    items: Sequence[OrderItem],
    *,
    kind: str,
    actor_id: uuid.UUID | None,
) -> list[OrderItem]:
    """Fire ``items`` (held, voided and already sent ones are skipped): route each to its
    station, stamp the time the kitchen got it and print one ticket per station. Returns
    the items fired."""
    firing = [i for i in items if not i.is_voided and not i.held and i.sent_to_kitchen_at is None]
    if not firing:
        return []
    router = await station_router(session, restaurant.id)
    now = utc_now()
    for item in firing:
        item.kitchen_station = router.route(item.kitchen_station)
        item.sent_to_kitchen_at = now
    await _issue(session, restaurant, order, firing, kind, actor_id, now)
    return firing


async def void_in_kitchen(
    session: AsyncSession,
    restaurant: Restaurant,
    order: Order,
    items: Sequence[OrderItem],
    *,
    actor_id: uuid.UUID | None,
) -> list[KitchenTicket]:
    """A void ticket for each station that had any of ``items`` (only those it was sent)."""
    sent = [i for i in items if i.sent_to_kitchen_at is not None]
    return await _issue(session, restaurant, order, sent, "void", actor_id, utc_now())
