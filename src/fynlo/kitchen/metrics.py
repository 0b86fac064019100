"""Kitchen preparation metrics: how long each station and product takes from fired to ready,
how often it runs late and how many items it makes an hour, over business days in the
restaurant's time zone.

Definitions (the API documentation repeats them):

- An *item* is an order line the kitchen made ready: ``ready_at`` and ``prep_seconds`` set,
  ``prep_seconds`` not negative (a clock skew), the line not voided. A line of quantity 3 is
  one item (it is fired, cooked and bumped together); ``portions`` adds up the quantities.
- Items belong to the business day, and the hour of day, of their ``ready_at`` in the
  restaurant's zone; a business day starts at ``businessDayStartsAt`` (default 04:00), so an
  item ready at 02:00 counts on the previous day.
- *Preparation time* is ``prep_seconds`` (as the kitchen reported it or as measured), never
  recomputed from the timestamps. The average is the mean over items; the 90th percentile
  uses the nearest-rank method (the smallest value at least 90 % of the items do not
  exceed), so it is always a time an item actually took.
- *Late* items are those flagged ``was_late`` (their time went past the product's target).
- *Items per hour* is items divided by *active hours*: the clock hours (local, each real
  hour counted once, so the repeated hour of an autumn DST change counts twice) in which
  at least one of those items was made ready. It is how fast the station works while it
  works. *Items per period hour* divides by every hour of the period instead (a DST day has
  23 or 25), which is how busy the period was overall.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.authz.context import restaurant_settings
from fynlo.kit.errors import Unprocessable
from fynlo.kitchen.tickets import FALLBACK_STATION
from fynlo.models import OrderItem, Restaurant
from fynlo.orders import numbering

MAX_PERIOD_DAYS = 92  # a quarter: enough for trends, small enough to compute per request
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2100, 12, 31)  # far from date.max, whose next day would overflow
PERCENTILE = 90


@dataclass(frozen=True)
class Period:
    """Business days ``first_day``..``last_day`` and the UTC instants they run between."""

    first_day: date
    last_day: date
    time_zone: str
    day_starts_at: time
    start: datetime
    end: datetime

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def hours(self) -> float:
        """Real hours, not 24 a day: both ends are UTC, so DST days count 23 or 25."""
        return (self.end - self.start).total_seconds() / 3600


def check_period(first_day: date, last_day: date) -> None:
    """Refuse a period that is back to front, too long, or outside the supported years."""
    problems = []
    for name, day in (("from", first_day), ("to", last_day)):
        if not EARLIEST_DAY <= day <= LATEST_DAY:
            problems.append(
                {"field": name, "message": f"must be between {EARLIEST_DAY} and {LATEST_DAY}"}
            )
    if not problems and last_day < first_day:
        problems.append({"field": "to", "message": "must not be before from"})
    elif not problems and (last_day - first_day).days + 1 > MAX_PERIOD_DAYS:
        problems.append(
            {"field": "to", "message": f"the period may cover at most {MAX_PERIOD_DAYS} days"}
        )
    if problems:
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        raise Unprocessable(f"Invalid period: {summary}", details=problems)


def business_period(first_day: date, last_day: date, time_zone: str, day_starts_at: time) -> Period:
    start, _ = numbering.business_day_bounds(first_day, time_zone, day_starts_at)
    _, end = numbering.business_day_bounds(last_day, time_zone, day_starts_at)
    return Period(
        first_day=first_day,
        last_day=last_day,
        time_zone=time_zone,
        day_starts_at=day_starts_at,
        start=start.astimezone(UTC),
        end=end.astimezone(UTC),
    )


@dataclass(frozen=True)
class ReadyItem:
    """One order line the kitchen made ready: only the columns the figures need, and where
    its ``ready_at`` falls on the restaurant's clock (worked out once, not per grouping)."""

    station: str
    product_id: uuid.UUID
    product_name: str
    quantity: int
    prep_seconds: int
    was_late: bool
    ready_at: datetime
    target_minutes: int
    local_hour: int
    # When the local clock hour began, in Unix seconds: tells apart the two 01:00 hours of
    # an autumn DST change, follows half-hour zones, and hashes fast.
    clock_hour: int


def on_the_clock(ready_at: datetime, zone: ZoneInfo) -> tuple[int, int]:
    """The local hour of day of ``ready_at`` and the Unix time its clock hour began."""
    local = ready_at.astimezone(zone)
    return local.hour, int(local.replace(minute=0, second=0, microsecond=0).timestamp())


@dataclass(frozen=True)
class HourOfDay:
    hour: int
    items: int
    average_seconds: float | None


@dataclass(frozen=True)
class Figures:
    items: int
    portions: int
    average_seconds: float | None
    p90_seconds: int | None
    late_items: int
    late_share: float | None
    active_hours: int
    items_per_hour: float | None
    items_per_period_hour: float
    by_hour: list[HourOfDay] = field(default_factory=list)


@dataclass(frozen=True)
class StationFigures:
    station: str
    figures: Figures


@dataclass(frozen=True)
class ProductFigures:
    product_id: uuid.UUID
    name: str
    station: str
    target_minutes: int | None
    figures: Figures


@dataclass(frozen=True)
class Report:
    period: Period
    station: str | None
    overall: Figures
    stations: list[StationFigures]
    products: list[ProductFigures]


def nearest_rank(values: Sequence[int], percent: int) -> int:
    """The nearest-rank percentile: the value at rank ceil(percent/100 * n) of the sorted
    values (1-based), computed in integers so 90 % of 10 items is exactly rank 9."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, -(-percent * len(ordered) // 100))
    return ordered[rank - 1]


def hours_of_day(day_starts_at: time) -> list[int]:
    """The 24 hours in business-day order (04, 05, ... 03), the order a chart reads in."""
    return [(day_starts_at.hour + offset) % 24 for offset in range(24)]


def figures(items: Sequence[ReadyItem], period: Period) -> Figures:
    """The figures of one group; with no items, the means and shares are None (unknown),
    not 0 (which would read as instant cooking)."""
    count = len(items)
    seconds = [i.prep_seconds for i in items]
    late = sum(1 for i in items if i.was_late)
    active = {i.clock_hour for i in items}
    per_hour: dict[int, list[int]] = defaultdict(list)
    for item in items:
        per_hour[item.local_hour].append(item.prep_seconds)
    return Figures(
        items=count,
        portions=sum(i.quantity for i in items),
        average_seconds=sum(seconds) / count if count else None,
        p90_seconds=nearest_rank(seconds, PERCENTILE) if count else None,
        late_items=late,
        late_share=late / count if count else None,
        active_hours=len(active),
        items_per_hour=count / len(active) if active else None,
        items_per_period_hour=count / period.hours,
        by_hour=[
            HourOfDay(
                hour=hour,
                items=len(per_hour[hour]),
                average_seconds=(
                    sum(per_hour[hour]) / len(per_hour[hour]) if per_hour[hour] else None
                ),
            )
            for hour in hours_of_day(period.day_starts_at)
        ],
    )


def build_report(items: Iterable[ReadyItem], period: Period, station: str | None) -> Report:
    """Stations in name order; products busiest first, one row per product and the station
    that made it (a product rerouted while its station was closed has a row for each)."""
    every = list(items)
    by_station: dict[str, list[ReadyItem]] = defaultdict(list)
    by_product: dict[tuple[uuid.UUID, str], list[ReadyItem]] = defaultdict(list)
    for item in every:
        by_station[item.station].append(item)
        by_product[(item.product_id, item.station)].append(item)
    products = []
    for (product_id, product_station), made in by_product.items():
        latest = max(made, key=lambda i: i.ready_at)  # the name and target as last sold
        products.append(
            ProductFigures(
                product_id=product_id,
                name=latest.product_name,
                station=product_station,
                target_minutes=latest.target_minutes or None,
                figures=figures(made, period),
            )
        )
    products.sort(key=lambda p: (-p.figures.items, p.name, p.station, str(p.product_id)))
    return Report(
        period=period,
        station=station,
        overall=figures(every, period),
        stations=[StationFigures(s, figures(by_station[s], period)) for s in sorted(by_station)],
        products=products,
    )


async def ready_items(
    session: AsyncSession, restaurant_id: uuid.UUID, period: Period, station: str | None
) -> list[ReadyItem]:
    station_of = func.coalesce(OrderItem.kitchen_station, FALLBACK_STATION)
    statement = select(
        station_of,
        OrderItem.product_id,
        OrderItem.product_name,
        OrderItem.quantity,
        OrderItem.prep_seconds,
        OrderItem.was_late,
        OrderItem.ready_at,
        OrderItem.preparation_time,
    ).where(
        OrderItem.restaurant_id == restaurant_id,
        OrderItem.ready_at >= period.start,
        OrderItem.ready_at < period.end,
        OrderItem.prep_seconds >= 0,
        OrderItem.is_voided == false(),
    )
    if station is not None:
        statement = statement.where(station_of == station)
    rows = await session.execute(statement.order_by(OrderItem.ready_at, OrderItem.id))
    zone = ZoneInfo(period.time_zone)
    items = []
    for station_code, product_id, name, quantity, seconds, late, ready_at, target in rows:
        if seconds is None or ready_at is None:  # excluded by the query; narrows the types
            continue
        local_hour, clock_hour = on_the_clock(ready_at, zone)
        items.append(
            ReadyItem(
                station=station_code,
                product_id=product_id,
                product_name=name,
                quantity=quantity,
                prep_seconds=seconds,
                was_late=bool(late),
                ready_at=ready_at,
                target_minutes=target,
                local_hour=local_hour,
                clock_hour=clock_hour,
            )
        )
    return items


async def preparation_metrics(
    session: AsyncSession,
    restaurant: Restaurant,
    first_day: date,
    last_day: date,
    station: str | None = None,
) -> Report:
    check_period(first_day, last_day)
    settings = await restaurant_settings(session, restaurant)
    pos = settings.pos_settings if settings is not None else {}
    day_starts_at = numbering.parse_day_start(pos.get("businessDayStartsAt"))
    period = business_period(first_day, last_day, restaurant.timezone, day_starts_at)
    items = await ready_items(session, restaurant.id, period, station)
    # A quarter of a busy kitchen is ~100k items, some tenths of a second of arithmetic:
    # done off the event loop so other requests keep being served meanwhile.
    return await asyncio.to_thread(build_report, items, period, station)
