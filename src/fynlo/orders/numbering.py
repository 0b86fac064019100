"""Order numbers: per restaurant, restarting each business day in the restaurant's zone."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from fynlo.db.base import table_of
from fynlo.db.locking import QUEUE_LOCK
from fynlo.db.upsert import conflict_insert
from fynlo.models import KitchenTicketCounter, OrderNumberCounter

DEFAULT_DAY_STARTS_AT = time(4, 0)  # a bar's 01:30 order belongs to the previous evening


def business_date(
    moment: datetime, timezone: str, day_starts_at: time = DEFAULT_DAY_STARTS_AT
) -> date:
    local = moment.astimezone(ZoneInfo(timezone))
    shifted = local - timedelta(hours=day_starts_at.hour, minutes=day_starts_at.minute)
    return shifted.date()


def parse_day_start(value: object) -> time:
    if isinstance(value, str):
        try:
            return time.fromisoformat(value)
        except ValueError:
            pass
    return DEFAULT_DAY_STARTS_AT


Counter = type[OrderNumberCounter] | type[KitchenTicketCounter]


@cache
def _next_sequence_statement(
    dialect: str, counter: Counter, queued: bool = False
) -> ReturningInsert[Any]:
    insert = conflict_insert(dialect)
    table = table_of(counter)
    first = {
        "restaurant_id": bindparam("restaurant_id", type_=table.c.restaurant_id.type),
        "business_date": bindparam("business_date", type_=table.c.business_date.type),
        "last_value": literal(1),
    }
    if queued:
        # The row comes out of the queue's lock (see ``next_sequence``): one round trip.
        statement = insert(table).from_select(
            list(first), select(*first.values()).select_from(QUEUE_LOCK.subquery("queue"))
        )
    else:
        statement = insert(table).values(first)
    return statement.on_conflict_do_update(
        index_elements=["restaurant_id", "business_date"],
        set_={"last_value": table.c.last_value + 1},
    ).returning(table.c.last_value)


async def next_sequence(
    session: AsyncSession,
    restaurant_id: uuid.UUID,
    day: date,
    counter: Counter = OrderNumberCounter,
    *,
    queue: str | None = None,
) -> int:
    """One atomic upsert: concurrent orders (or kitchen tickets) each get their own number,
    with no gaps.

    With ``queue``, the transaction first waits its turn behind others holding that key,
    as :func:`fynlo.db.locking.serialise` would, in the same statement: waiting on the
    counter row alone, PostgreSQL does not hand it out first come, first served.
    """
    dialect = session.get_bind().dialect.name
    queued = queue is not None and dialect == "postgresql"
    statement = _next_sequence_statement(dialect, counter, queued)
    params: dict[str, Any] = {"restaurant_id": restaurant_id, "business_date": day}
    if queued:
        params["key"] = queue
    result = await session.execute(statement, params)
    value: int = result.scalar_one()
    return value


def business_day_bounds(day: date, timezone: str, day_starts_at: time) -> tuple[datetime, datetime]:
    """The UTC-aware instants a business day runs between (its length changes with DST)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, day_starts_at, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), day_starts_at, tzinfo=zone)
    return start, end


def format_number(day: date, sequence: int) -> str:
    """``241124-0042``: the day keeps numbers unique over time; the tail is what staff call."""
    return f"{day:%y%m%d}-{sequence:04d}"
