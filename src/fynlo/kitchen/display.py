"""The kitchen display's board: what each station has to cook now, in the order to cook it.

One query reads the items the kitchen has (fired, not voided, not yet ready: or not yet
served when the pass asks for ready ones too) with their orders' columns; the board is
built from those rows without loading whole orders, so a busy service stays cheap.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Row, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.db.types import utc_now
from fynlo.kitchen.schemas import KitchenBoardOut, KitchenOrderOut
from fynlo.kitchen.state import COOKING
from fynlo.kitchen.tickets import KitchenRules, day_start, kitchen_rules
from fynlo.models import Order, OrderItem
from fynlo.models.identity import Restaurant
from fynlo.orders import numbering
from fynlo.orders.state import SENT_TO_KITCHEN

PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2}

_ORDER_COLUMNS = (
    Order.id,
    Order.order_number,
    Order.table_number,
    Order.order_type,
    Order.status,
    Order.rush,
    Order.kitchen_notes,
    Order.special_requests,
    Order.estimated_completion,
    Order.version,
)
# Unpacked by position in build_board, in this order.
_ITEM_COLUMNS = (
    OrderItem.id,
    OrderItem.product_name,
    OrderItem.quantity,
    OrderItem.modifiers,
    OrderItem.notes,
    OrderItem.course,
    OrderItem.kitchen_station,
    OrderItem.kitchen_status,
    OrderItem.preparation_time,
    OrderItem.sent_to_kitchen_at,
    OrderItem.started_at,
    OrderItem.ready_at,
    OrderItem.was_late,
)
_COLUMNS = (*_ORDER_COLUMNS, *_ITEM_COLUMNS)
_HEAD = len(_ORDER_COLUMNS)


def _minutes(seconds: float) -> float:
    return round(seconds / 60, 1)


def item_late(
    ready_at: datetime | None,
    was_late: bool | None,
    preparation_time: int,
    elapsed: float,
    rules: KitchenRules,
) -> bool:
    """Late against the product's preparation time: as measured once ready, running
    until then. Items without a preparation time are never late."""
    if ready_at is not None:
        return bool(was_late)
    return rules.is_late(elapsed, preparation_time)


@dataclass
class _Ticket:
    head: Row[Any]
    items: list[dict[str, Any]] = field(default_factory=list)
    stations: set[str] = field(default_factory=set)
    held: int = 0
    remaining_seconds: float = 0.0
    first_sent: datetime | None = None
    # Of the items still cooking: what priority and lateness are judged on (ready items on
    # the pass's view do not make an order urgent).
    first_cooking: datetime | None = None
    late: bool = False


def _priority(
    ticket: _Ticket, rules: KitchenRules, waiting_minutes: float, late: bool
) -> tuple[str, list[str]]:
    reasons = []
    if ticket.head.rush:
        reasons.append("rush")
    if ticket.head.order_type in rules.priority_order_types:
        reasons.append("orderType")
    if waiting_minutes >= rules.high_priority_after_minutes:
        reasons.append("waiting")
    if late:
        reasons.append("late")
    if ticket.head.rush:
        return "urgent", reasons
    return ("high" if reasons else "normal"), reasons


def _order_view(
    ticket: _Ticket, station: str | None, rules: KitchenRules, now: datetime
) -> dict[str, Any]:
    head = ticket.head
    waiting = _minutes((now - ticket.first_sent).total_seconds()) if ticket.first_sent else 0.0
    cooking_for = (
        _minutes((now - ticket.first_cooking).total_seconds()) if ticket.first_cooking else 0.0
    )
    priority, reasons = _priority(ticket, rules, cooking_for, ticket.late)
    if head.estimated_completion is not None:
        remaining = max(0.0, (head.estimated_completion - now).total_seconds())
    else:
        remaining = ticket.remaining_seconds
    stations = sorted(ticket.stations)
    return {
        "order_id": head.id,
        "order_number": head.order_number,
        "table_number": head.table_number,
        "order_type": head.order_type,
        "status": head.status,
        "rush": head.rush,
        "priority": priority,
        "priority_reasons": reasons,
        "station": station
        if station is not None
        else (stations[0] if len(stations) == 1 else None),
        "stations": stations,
        "items": ticket.items,
        "held_items": ticket.held,
        "estimated_time": math.ceil(remaining / 60),
        "waiting_minutes": waiting,
        "late": ticket.late,
        "kitchen_notes": head.kitchen_notes,
        "special_requests": head.special_requests,
        "sent_at": ticket.first_sent,
        "version": head.version,
    }


_BOARD = TypeAdapter(list[KitchenOrderOut])


def build_board(
    rows: Sequence[Row[Any]], station: str | None, rules: KitchenRules, now: datetime
) -> list[KitchenOrderOut]:
    """Group item rows by order and sort: urgent, then high, then longest waiting.

    Called on every poll of every display with hundreds of rows: the items are plain
    dicts, validated with their orders in one pass at the end."""
    tickets: dict[uuid.UUID, _Ticket] = {}
    for row in rows:
        ticket = tickets.get(row[0])
        if ticket is None:
            ticket = tickets[row[0]] = _Ticket(row)
        (
            item_id,
            name,
            quantity,
            modifiers,
            notes,
            course,
            item_station,
            status,
            preparation_time,
            sent_at,
            started_at,
            ready_at,
            was_late,
        ) = row[_HEAD:]
        if sent_at is None:
            ticket.held += 1
            continue
        elapsed = (now - sent_at).total_seconds()
        late = item_late(ready_at, was_late, preparation_time, elapsed, rules)
        if status in COOKING:
            ticket.remaining_seconds = max(
                ticket.remaining_seconds, preparation_time * 60 - elapsed
            )
            ticket.late = ticket.late or late
            if ticket.first_cooking is None or sent_at < ticket.first_cooking:
                ticket.first_cooking = sent_at
        if ticket.first_sent is None or sent_at < ticket.first_sent:
            ticket.first_sent = sent_at
        if item_station:
            ticket.stations.add(item_station)
        ticket.items.append(
            {
                "item_id": item_id,
                "name": name,
                "quantity": quantity,
                "modifiers": [f"{m['type']}: {m['value']}" for m in modifiers or ()],
                "notes": notes,
                "course": course,
                "station": item_station,
                "status": status,
                "preparation_time": preparation_time,
                "sent_at": sent_at,
                "started_at": started_at,
                "ready_at": ready_at,
                "elapsed_minutes": _minutes(elapsed),
                "late": late,
            }
        )
    board = [_order_view(t, station, rules, now) for t in tickets.values() if t.items]
    board.sort(key=lambda o: (PRIORITY_RANK[o["priority"]], o["sent_at"], o["order_number"]))
    return _BOARD.validate_python(board)


async def kitchen_board(
    session: AsyncSession,
    restaurant: Restaurant,
    *,
    station: str | None,
    include_ready: bool,
) -> KitchenBoardOut:
    now = utc_now()
    rules = await kitchen_rules(session, restaurant)
    shown = (*COOKING, "ready") if include_ready else COOKING
    item_filter = [OrderItem.restaurant_id == restaurant.id, OrderItem.is_voided.is_(False)]
    if station is not None:
        item_filter.append(OrderItem.kitchen_station == station)
    rows = (
        await session.execute(
            select(*_COLUMNS)
            .join(OrderItem, OrderItem.order_id == Order.id)
            .where(
                Order.restaurant_id == restaurant.id,
                Order.status.in_(SENT_TO_KITCHEN),
                *item_filter,
                or_(
                    and_(OrderItem.held.is_(True), OrderItem.sent_to_kitchen_at.is_(None)),
                    and_(
                        OrderItem.sent_to_kitchen_at.is_not(None),
                        OrderItem.kitchen_status.in_(shown),
                    ),
                ),
            )
            .order_by(Order.id, OrderItem.position, OrderItem.id)
        )
    ).all()

    starts_at = await day_start(session, restaurant)
    day = numbering.business_date(now, restaurant.timezone, starts_at)
    start, end = numbering.business_day_bounds(day, restaurant.timezone, starts_at)
    made_ready_today = [
        *item_filter,
        OrderItem.ready_at >= start,
        OrderItem.ready_at < end,
        Order.restaurant_id == restaurant.id,
        Order.status != "cancelled",
    ]
    # One pass over the items made ready today: their average time, and (for a station)
    # how many orders they belong to.
    station_completed, average = (
        await session.execute(
            select(func.count(func.distinct(OrderItem.order_id)), func.avg(OrderItem.prep_seconds))
            .join(Order, Order.id == OrderItem.order_id)
            .where(*made_ready_today)
        )
    ).one()
    if station is None:
        completed = await session.scalar(
            select(func.count(Order.id)).where(
                Order.restaurant_id == restaurant.id,
                Order.ready_at >= start,
                Order.ready_at < end,
                Order.status != "cancelled",
            )
        )
    else:
        completed = station_completed
    return KitchenBoardOut(
        active_orders=build_board(rows, station, rules, now),
        completed_today=completed or 0,
        average_time=_minutes(float(average)) if average is not None else None,
        business_date=day,
        station=station,
        generated_at=now,
    )
