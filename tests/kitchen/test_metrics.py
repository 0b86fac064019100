"""Kitchen preparation metrics: hand-checked averages, nearest-rank 90th percentiles, late
counts and items per hour per station and product, over business days in the restaurant's
zone (DST days of 23 and 25 hours, the 04:00 day start), scoped to the caller's restaurant,
refused to roles without reports.read or kitchen.read, and validated field by field."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.kitchen.metrics import nearest_rank
from fynlo.models import Order, OrderItem, Product, Restaurant
from tests.factories import create_user
from tests.orders.factories import product, set_pos
from tests.world import World, login

METRICS = "/api/kitchen/metrics"
LONDON = ZoneInfo("Europe/London")
HOURS = [*range(4, 24), *range(4)]  # business-day order from the default 04:00 start

_sequence = itertools.count(1)


def london(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in London (the test restaurants' zone)."""
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


async def new_order(session: AsyncSession, restaurant: Restaurant) -> Order:
    n = next(_sequence)
    order = Order(
        restaurant_id=restaurant.id,
        order_number=f"M-{n}",
        business_date=date(2025, 1, 1),
        daily_sequence=n,
        currency=restaurant.currency,
        prices_include_vat=True,
        status="completed",
    )
    session.add(order)
    await session.flush()
    return order


@dataclass
class Kitchen:
    """Writes order lines as the kitchen leaves them: fired, then ready ``prep`` s later."""

    session: AsyncSession
    restaurant: Restaurant
    order: Order

    @classmethod
    async def of(cls, session: AsyncSession, restaurant: Restaurant) -> Kitchen:
        return cls(session, restaurant, await new_order(session, restaurant))

    def made(
        self,
        dish: Product,
        ready_at: datetime | None,
        prep: int | None,
        *,
        late: bool = False,
        quantity: int = 1,
        voided: bool = False,
        station: str | None = "dish",
    ) -> OrderItem:
        item = OrderItem(
            restaurant_id=self.restaurant.id,
            order_id=self.order.id,
            product_id=dish.id,
            product_name=dish.name,
            quantity=quantity,
            unit_price_minor=dish.price_minor,
            kitchen_station=dish.kitchen_station if station == "dish" else station,
            preparation_time=dish.preparation_time,
            sent_to_kitchen_at=(
                ready_at - timedelta(seconds=prep) if ready_at and prep is not None else None
            ),
            ready_at=ready_at,
            prep_seconds=prep,
            was_late=late if prep is not None else None,
            kitchen_status="ready" if ready_at else "preparing",
            is_voided=voided,
        )
        self.session.add(item)
        return item


async def metrics(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    response = await client.get(METRICS, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is True
    data: dict[str, Any] = body["data"]
    return data


def error_fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    return [d["field"] for d in error["details"]]


def figures_of(entry: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "items",
        "portions",
        "averageSeconds",
        "averageMinutes",
        "p90Seconds",
        "lateItems",
        "lateShare",
        "activeHours",
        "itemsPerHour",
        "itemsPerPeriodHour",
    )
    return {k: entry[k] for k in keys}


def busy_hours(entry: dict[str, Any]) -> dict[int, tuple[int, float]]:
    return {h["hour"]: (h["items"], h["averageSeconds"]) for h in entry["byHour"] if h["items"]}


# --- the pure computation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([5], 5),
        ([10, 20], 20),  # rank ceil(1.8) = 2
        ([7, 3, 9, 1, 5, 2, 8, 4, 10, 6], 9),  # rank 9 of 10, unsorted input
        (list(range(1, 21)), 18),  # rank 18 of 20
        ([240, 300, 420], 420),  # rank ceil(2.7) = 3
        ([1] * 9 + [1000], 1),  # a single outlier above the 90th percentile
    ],
)
def test_nearest_rank_90th_percentile(values: list[int], expected: int) -> None:
    assert nearest_rank(values, 90) == expected


def test_nearest_rank_refuses_no_values() -> None:
    with pytest.raises(ValueError, match="no values"):
        nearest_rank([], 90)


# --- a day of service, hand-checked ---------------------------------------------------------


@dataclass
class Menu:
    burger: Product
    steak: Product
    salad: Product


async def service_day(session: AsyncSession, world: World) -> Menu:
    """Business day 2025-06-10 (BST) at A1, plus rows that must never count.

    grill  burger 12:10 600 s (x2) | 12:40 720 | 13:05 900 late | 18:20 480
           steak  18:30 1500 late | 19:15 1140
    cold   salad  12:15 240 | 12:50 420 late | 19:05 300
    """
    menu = Menu(
        burger=await product(
            session, world.a1, name="Burger", kitchen_station="grill", preparation_time=12
        ),
        steak=await product(
            session, world.a1, name="Steak", kitchen_station="grill", preparation_time=20
        ),
        salad=await product(
            session, world.a1, name="Salad", kitchen_station="cold", preparation_time=5
        ),
    )
    k = await Kitchen.of(session, world.a1)
    k.made(menu.burger, london(2025, 6, 10, 12, 10), 600, quantity=2)
    k.made(menu.burger, london(2025, 6, 10, 12, 40), 720)
    k.made(menu.burger, london(2025, 6, 10, 13, 5), 900, late=True)
    k.made(menu.burger, london(2025, 6, 10, 18, 20), 480)
    k.made(menu.steak, london(2025, 6, 10, 18, 30), 1500, late=True)
    k.made(menu.steak, london(2025, 6, 10, 19, 15), 1140)
    k.made(menu.salad, london(2025, 6, 10, 12, 15), 240)
    k.made(menu.salad, london(2025, 6, 10, 12, 50), 420, late=True)
    k.made(menu.salad, london(2025, 6, 10, 19, 5), 300)
    # Never counted on 2025-06-10: voided, not ready, no prep time, other days.
    k.made(menu.burger, london(2025, 6, 10, 14, 0), 9999, late=True, voided=True)
    k.made(menu.burger, None, None)
    k.made(menu.burger, london(2025, 6, 10, 14, 0), None)
    k.made(menu.burger, london(2025, 6, 10, 3, 30), 9999)  # business day 2025-06-09
    k.made(menu.burger, london(2025, 6, 11, 4, 0), 9999)  # business day 2025-06-11
    # Another tenant's kitchen, and the same owner's other restaurant, on the same day.
    their_dish = await product(session, world.b, name="Burger", kitchen_station="grill")
    (await Kitchen.of(session, world.b)).made(their_dish, london(2025, 6, 10, 12, 0), 5000)
    sister_dish = await product(session, world.a2, name="Soup", kitchen_station="cold")
    (await Kitchen.of(session, world.a2)).made(sister_dish, london(2025, 6, 10, 12, 0), 60)
    await session.commit()
    return menu


async def test_a_day_of_service_per_station_and_product(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    menu = await service_day(session, world)
    manager = await login(client, world.users["manager"])
    data = await metrics(client, manager, **{"from": "2025-06-10", "to": "2025-06-10"})

    assert data["period"] == {
        "from": "2025-06-10",
        "to": "2025-06-10",
        "timeZone": "Europe/London",
        "businessDayStartsAt": "04:00",
        "start": "2025-06-10T03:00:00Z",
        "end": "2025-06-11T03:00:00Z",
        "days": 1,
        "hours": 24.0,
        "station": None,
    }
    # 9 items: sum 6300 s; sorted 240 300 420 480 600 720 900 1140 1500, rank ceil(8.1) = 9.
    # Active hours 12, 13, 18, 19.
    assert figures_of(data["overall"]) == {
        "items": 9,
        "portions": 10,
        "averageSeconds": 700.0,
        "averageMinutes": 11.67,
        "p90Seconds": 1500,
        "lateItems": 3,
        "lateShare": 0.3333,
        "activeHours": 4,
        "itemsPerHour": 2.25,
        "itemsPerPeriodHour": 0.38,  # 9 / 24 = 0.375, half up
    }
    assert [h["hour"] for h in data["overall"]["byHour"]] == HOURS
    assert data["overall"]["byHour"][0] == {
        "hour": 4,
        "label": "04:00",
        "items": 0,
        "averageSeconds": None,
    }
    assert busy_hours(data["overall"]) == {
        12: (4, 495.0),  # 600 720 240 420
        13: (1, 900.0),
        18: (2, 990.0),  # 480 1500
        19: (2, 720.0),  # 1140 300
    }

    stations = {s["station"]: s for s in data["stations"]}
    assert [s["station"] for s in data["stations"]] == ["cold", "grill"]
    # grill: 600 720 900 480 1500 1140 = 5340 s over 6; sorted rank ceil(5.4) = 6 -> 1500.
    assert figures_of(stations["grill"]) == {
        "items": 6,
        "portions": 7,
        "averageSeconds": 890.0,
        "averageMinutes": 14.83,
        "p90Seconds": 1500,
        "lateItems": 2,
        "lateShare": 0.3333,
        "activeHours": 4,
        "itemsPerHour": 1.5,
        "itemsPerPeriodHour": 0.25,
    }
    # cold: 240 420 300 = 960 s over 3; rank ceil(2.7) = 3 -> 420; hours 12 and 19.
    assert figures_of(stations["cold"]) == {
        "items": 3,
        "portions": 3,
        "averageSeconds": 320.0,
        "averageMinutes": 5.33,
        "p90Seconds": 420,
        "lateItems": 1,
        "lateShare": 0.3333,
        "activeHours": 2,
        "itemsPerHour": 1.5,
        "itemsPerPeriodHour": 0.13,  # 0.125, half up
    }
    assert busy_hours(stations["cold"]) == {12: (2, 330.0), 19: (1, 300.0)}

    # Busiest product first.
    assert [(p["name"], p["station"]) for p in data["products"]] == [
        ("Burger", "grill"),
        ("Salad", "cold"),
        ("Steak", "grill"),
    ]
    burger, salad, steak = data["products"]
    assert burger["productId"] == str(menu.burger.id)
    assert burger["targetMinutes"] == 12
    # burger: 600 720 900 480 = 2700 s over 4; rank ceil(3.6) = 4 -> 900; hours 12 13 18.
    assert figures_of(burger) == {
        "items": 4,
        "portions": 5,
        "averageSeconds": 675.0,
        "averageMinutes": 11.25,
        "p90Seconds": 900,
        "lateItems": 1,
        "lateShare": 0.25,
        "activeHours": 3,
        "itemsPerHour": 1.33,
        "itemsPerPeriodHour": 0.17,
    }
    assert figures_of(steak) == {
        "items": 2,
        "portions": 2,
        "averageSeconds": 1320.0,
        "averageMinutes": 22.0,
        "p90Seconds": 1500,
        "lateItems": 1,
        "lateShare": 0.5,
        "activeHours": 2,
        "itemsPerHour": 1.0,
        "itemsPerPeriodHour": 0.08,
    }
    assert (salad["targetMinutes"], salad["p90Seconds"], salad["items"]) == (5, 420, 3)


async def test_the_station_filter_keeps_one_station(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await service_day(session, world)
    kitchen = await login(client, world.users["kitchen_staff"])
    period = {"from": "2025-06-10", "to": "2025-06-10"}

    cold = await metrics(client, kitchen, **period, station="cold")
    assert cold["period"]["station"] == "cold"
    assert [s["station"] for s in cold["stations"]] == ["cold"]
    assert [p["name"] for p in cold["products"]] == ["Salad"]
    assert figures_of(cold["overall"]) == figures_of(cold["stations"][0])
    assert (cold["overall"]["items"], cold["overall"]["averageSeconds"]) == (3, 320.0)

    nowhere = await metrics(client, kitchen, **period, station="pastry")
    assert nowhere["stations"] == []
    assert nowhere["products"] == []
    assert figures_of(nowhere["overall"]) == {
        "items": 0,
        "portions": 0,
        "averageSeconds": None,
        "averageMinutes": None,
        "p90Seconds": None,
        "lateItems": 0,
        "lateShare": None,
        "activeHours": 0,
        "itemsPerHour": None,
        "itemsPerPeriodHour": 0.0,
    }
    assert len(nowhere["overall"]["byHour"]) == 24

    blank = await metrics(client, kitchen, **period, station="")  # an empty form field: all
    assert blank["period"]["station"] is None
    assert blank["overall"]["items"] == 9


async def test_an_item_without_a_station_counts_at_the_fallback_station(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    bread = await product(session, world.a1, name="Bread", kitchen_station=None)
    k = await Kitchen.of(session, world.a1)
    k.made(bread, london(2025, 6, 10, 12, 0), 100, station=None)
    await session.commit()
    manager = await login(client, world.users["manager"])
    data = await metrics(client, manager, **{"from": "2025-06-10", "to": "2025-06-10"})
    assert [(s["station"], s["items"]) for s in data["stations"]] == [("kitchen", 1)]
    filtered = await metrics(
        client, manager, **{"from": "2025-06-10", "to": "2025-06-10", "station": "kitchen"}
    )
    assert filtered["overall"]["items"] == 1


async def test_a_product_rerouted_to_another_station_has_a_row_per_station(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    fries = await product(session, world.a1, name="Fries", kitchen_station="fryer")
    k = await Kitchen.of(session, world.a1)
    k.made(fries, london(2025, 6, 10, 12, 0), 200)
    k.made(fries, london(2025, 6, 10, 12, 5), 300)
    k.made(fries, london(2025, 6, 10, 12, 10), 400, station="grill")  # the fryer was closed
    await session.commit()
    manager = await login(client, world.users["manager"])
    data = await metrics(client, manager, **{"from": "2025-06-10", "to": "2025-06-10"})
    rows = [(p["name"], p["station"], p["items"], p["averageSeconds"]) for p in data["products"]]
    assert rows == [("Fries", "fryer", 2, 250.0), ("Fries", "grill", 1, 400.0)]


# --- business days: the day start and DST ---------------------------------------------------


async def test_an_item_ready_at_two_in_the_morning_belongs_to_the_previous_business_day(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    dish = await product(session, world.a1, name="Late snack", kitchen_station="grill")
    k = await Kitchen.of(session, world.a1)
    k.made(dish, london(2025, 6, 15, 2, 0), 300)  # 01:00 UTC on the 15th
    k.made(dish, london(2025, 6, 15, 4, 0), 600)  # the 15th's first instant
    await session.commit()
    manager = await login(client, world.users["manager"])

    day14 = await metrics(client, manager, **{"from": "2025-06-14", "to": "2025-06-14"})
    assert day14["overall"]["items"] == 1
    assert busy_hours(day14["overall"]) == {2: (1, 300.0)}
    assert day14["period"]["end"] == "2025-06-15T03:00:00Z"

    day15 = await metrics(client, manager, **{"from": "2025-06-15", "to": "2025-06-15"})
    assert (day15["overall"]["items"], day15["overall"]["averageSeconds"]) == (1, 600.0)
    both = await metrics(client, manager, **{"from": "2025-06-14", "to": "2025-06-15"})
    assert (both["period"]["days"], both["period"]["hours"]) == (2, 48.0)
    assert both["overall"]["items"] == 2


async def test_a_later_day_start_from_the_pos_settings_moves_the_boundary(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await set_pos(session, world.a1, businessDayStartsAt="06:00")
    dish = await product(session, world.a1, name="Breakfast", kitchen_station="grill")
    k = await Kitchen.of(session, world.a1)
    k.made(dish, london(2025, 6, 15, 5, 30), 300)  # before 06:00: the 14th
    k.made(dish, london(2025, 6, 15, 6, 30), 600)
    await session.commit()
    manager = await login(client, world.users["manager"])

    data = await metrics(client, manager, **{"from": "2025-06-15", "to": "2025-06-15"})
    assert data["period"]["businessDayStartsAt"] == "06:00"
    assert data["period"]["start"] == "2025-06-15T05:00:00Z"
    assert [h["hour"] for h in data["overall"]["byHour"]][:3] == [6, 7, 8]
    assert busy_hours(data["overall"]) == {6: (1, 600.0)}
    day14 = await metrics(client, manager, **{"from": "2025-06-14", "to": "2025-06-14"})
    assert busy_hours(day14["overall"]) == {5: (1, 300.0)}


async def test_the_spring_dst_business_day_has_23_hours(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    """London moves from 01:00 GMT to 02:00 BST on 2025-03-30: business day 2025-03-29 runs
    from 04:00 GMT (04:00 UTC) to 04:00 BST the next morning (03:00 UTC)."""
    dish = await product(session, world.a1, name="Pie", kitchen_station="grill")
    k = await Kitchen.of(session, world.a1)
    k.made(dish, utc(2025, 3, 29, 3, 30), 9999)  # 03:30 GMT: still the 28th
    k.made(dish, utc(2025, 3, 29, 4, 30), 100)  # 04:30 GMT
    k.made(dish, utc(2025, 3, 30, 0, 30), 200)  # 00:30 GMT
    k.made(dish, utc(2025, 3, 30, 1, 30), 300)  # 02:30 BST (01:00-02:00 never happened)
    k.made(dish, utc(2025, 3, 30, 2, 45), 400)  # 03:45 BST
    k.made(dish, utc(2025, 3, 30, 3, 15), 7777)  # 04:15 BST: the 30th
    await session.commit()
    manager = await login(client, world.users["manager"])

    data = await metrics(client, manager, **{"from": "2025-03-29", "to": "2025-03-29"})
    period = data["period"]
    assert (period["start"], period["end"], period["hours"]) == (
        "2025-03-29T04:00:00Z",
        "2025-03-30T03:00:00Z",
        23.0,
    )
    overall = data["overall"]
    assert (overall["items"], overall["averageSeconds"], overall["p90Seconds"]) == (4, 250.0, 400)
    assert overall["itemsPerPeriodHour"] == 0.17  # 4 / 23 = 0.1739
    assert busy_hours(overall) == {4: (1, 100.0), 0: (1, 200.0), 2: (1, 300.0), 3: (1, 400.0)}
    assert (overall["activeHours"], overall["itemsPerHour"]) == (4, 1.0)

    next_day = await metrics(client, manager, **{"from": "2025-03-30", "to": "2025-03-30"})
    assert (next_day["period"]["hours"], next_day["overall"]["p90Seconds"]) == (24.0, 7777)


async def test_the_autumn_dst_business_day_has_25_hours_and_two_one_oclock_hours(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    """London goes back from 02:00 BST to 01:00 GMT on 2025-10-26: business day 2025-10-25
    runs from 04:00 BST (03:00 UTC) to 04:00 GMT (04:00 UTC), and 01:00-02:00 happens twice."""
    dish = await product(session, world.a1, name="Stew", kitchen_station="grill")
    k = await Kitchen.of(session, world.a1)
    k.made(dish, utc(2025, 10, 25, 2, 30), 9999)  # 03:30 BST: the 24th
    k.made(dish, utc(2025, 10, 26, 0, 20), 100)  # 01:20 BST
    k.made(dish, utc(2025, 10, 26, 0, 50), 200)  # 01:50 BST, the same clock hour
    k.made(dish, utc(2025, 10, 26, 1, 20), 300)  # 01:20 GMT, the hour again
    k.made(dish, utc(2025, 10, 26, 3, 30), 400)  # 03:30 GMT
    k.made(dish, utc(2025, 10, 26, 4, 10), 7777)  # 04:10 GMT: the 26th
    await session.commit()
    manager = await login(client, world.users["manager"])

    data = await metrics(client, manager, **{"from": "2025-10-25", "to": "2025-10-25"})
    period = data["period"]
    assert (period["start"], period["end"], period["hours"]) == (
        "2025-10-25T03:00:00Z",
        "2025-10-26T04:00:00Z",
        25.0,
    )
    overall = data["overall"]
    assert (overall["items"], overall["averageSeconds"]) == (4, 250.0)
    assert busy_hours(overall) == {1: (3, 200.0), 3: (1, 400.0)}
    # Two real hours labelled 01:00 plus 03:00: three active hours.
    assert (overall["activeHours"], overall["itemsPerHour"]) == (3, 1.33)
    assert overall["itemsPerPeriodHour"] == 0.16  # 4 / 25

    week = await metrics(client, manager, **{"from": "2025-10-20", "to": "2025-10-26"})
    assert (week["period"]["days"], week["period"]["hours"]) == (7, 169.0)
    assert week["overall"]["items"] == 6


async def test_a_92_day_period_is_accepted(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await service_day(session, world)
    manager = await login(client, world.users["manager"])
    data = await metrics(client, manager, **{"from": "2025-04-01", "to": "2025-07-01"})
    # 2025-04-01..07-01 is 92 days, all BST; the day's 9 items and the two ready on the
    # neighbouring business days (06-09 and 06-11) are in it.
    assert (data["period"]["days"], data["period"]["hours"]) == (92, 92 * 24.0)
    assert data["overall"]["items"] == 11


# --- HTML ----------------------------------------------------------------------------------


async def test_the_html_page_has_tables_and_inline_charts_and_nothing_external(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await service_day(session, world)
    odd = await product(session, world.a1, name="<b>Fish & Chips</b>", kitchen_station="fry<er>")
    (await Kitchen.of(session, world.a1)).made(odd, london(2025, 6, 10, 20, 0), 125)
    await session.commit()
    manager = await login(client, world.users["manager"])
    response = await client.get(
        METRICS,
        params={"from": "2025-06-10", "to": "2025-06-10", "format": "html"},
        headers=manager,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert page.startswith("<!doctype html>")
    assert page.count("<svg") == 2
    assert page.count("<table") == 2
    assert "Items made ready per hour of day" in page
    assert "Average preparation time per station" in page
    assert "<td>14:50</td>" in page  # grill average 890 s
    assert "<td>25:00</td>" in page  # grill 90th percentile 1500 s
    assert "&lt;b&gt;Fish &amp; Chips&lt;/b&gt;" in page
    assert "<b>Fish" not in page
    assert "fry&lt;er&gt;" in page
    lowered = page.lower()
    for external in ("<script", "<link", "src=", "href=", "url(", "@import"):
        assert external not in lowered
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "style-src 'sha256-" in csp


# --- who may see it -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["manager", "kitchen_staff", "captain", "waiter"])
async def test_roles_with_reports_or_kitchen_read_may_see_the_metrics(
    client: httpx.AsyncClient, session: AsyncSession, world: World, role: str
) -> None:
    await service_day(session, world)
    headers = await login(client, world.users[role])
    data = await metrics(client, headers, **{"from": "2025-06-10", "to": "2025-06-10"})
    assert data["overall"]["items"] == 9


@pytest.mark.parametrize("role", ["cashier", "employee"])
async def test_roles_without_either_permission_are_refused(
    client: httpx.AsyncClient, world: World, role: str
) -> None:
    headers = await login(client, world.users[role])
    for fmt in ("json", "html"):
        response = await client.get(
            METRICS,
            params={"from": "2025-06-10", "to": "2025-06-10", "format": fmt},
            headers=headers,
        )
        assert response.status_code == 403, response.text
        error = response.json()["error"]
        assert error["code"] == "permission_denied"
        assert error["details"]["anyOf"] == ["reports.read", "kitchen.read"]


async def test_either_permission_alone_is_enough(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    reporter = await create_user(
        session, role="cashier", restaurant=world.a1, permissions={"grant": ["reports.read"]}
    )
    no_kitchen = await create_user(
        session,
        role="kitchen_staff",
        restaurant=world.a1,
        permissions={"revoke": ["kitchen.read"]},
    )
    await session.commit()
    period = {"from": "2025-06-10", "to": "2025-06-10"}
    await metrics(client, await login(client, reporter), **period)
    refused = await client.get(METRICS, params=period, headers=await login(client, no_kitchen))
    assert refused.status_code == 403, refused.text


async def test_without_a_token_it_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get(METRICS, params={"from": "2025-06-10", "to": "2025-06-10"})
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthorized"


async def test_another_tenants_restaurant_and_rows_stay_out_of_reach(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await service_day(session, world)
    period = {"from": "2025-06-10", "to": "2025-06-10"}
    manager = await login(client, world.users["manager"])
    theirs = await client.get(
        METRICS, params={**period, "restaurantId": str(world.b.id)}, headers=manager
    )
    assert theirs.status_code == 404, theirs.text
    assert theirs.json()["error"]["code"] == "not_found"
    unknown = await client.get(
        METRICS, params={**period, "restaurantId": str(uuid.uuid4())}, headers=manager
    )
    assert unknown.status_code == 404, unknown.text

    # B's manager sees B's one item (5000 s), none of A1's.
    other = await metrics(client, await login(client, world.other_manager), **period)
    assert (other["overall"]["items"], other["overall"]["p90Seconds"]) == (1, 5000)
    mine_by_b = await client.get(
        METRICS,
        params={**period, "restaurantId": str(world.a1.id)},
        headers=await login(client, world.other_manager),
    )
    assert mine_by_b.status_code == 404, mine_by_b.text

    # The owner of A1 and A2 names the restaurant; each shows only its own rows.
    owner = await login(client, world.owner_a)
    a2 = await metrics(client, owner, **period, restaurantId=str(world.a2.id))
    assert (a2["overall"]["items"], [s["station"] for s in a2["stations"]]) == (1, ["cold"])
    a1 = await metrics(client, owner, **period, restaurantId=str(world.a1.id))
    assert a1["overall"]["items"] == 9
    unnamed = await metrics(client, owner, **period)  # the owner's home restaurant: A1
    assert unnamed["overall"]["items"] == 9


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"to": "2025-06-10"}, "from"),
        ({"from": "2025-06-10"}, "to"),
        ({"from": "10/06/2025", "to": "2025-06-10"}, "from"),
        ({"from": "2025-06-10", "to": "2025-02-30"}, "to"),
        ({"from": "2025-06-10", "to": "yesterday"}, "to"),
        ({"from": "2025-06-10", "to": "2025-06-09"}, "to"),  # before from
        ({"from": "2025-01-01", "to": "2025-04-03"}, "to"),  # 93 days
        ({"from": "1999-12-31", "to": "2000-01-01"}, "from"),
        ({"from": "9999-12-30", "to": "9999-12-31"}, "from"),  # no overflow past date.max
        ({"from": "2025-06-10", "to": "2025-06-10", "format": "xml"}, "format"),
        ({"from": "2025-06-10", "to": "2025-06-10", "station": "s" * 51}, "station"),
        ({"from": "2025-06-10", "to": "2025-06-10", "restaurantId": "abc"}, "restaurantId"),
    ],
)
async def test_bad_parameters_are_a_422_naming_the_field(
    client: httpx.AsyncClient, world: World, params: dict[str, str], field: str
) -> None:
    manager = await login(client, world.users["manager"])
    response = await client.get(METRICS, params=params, headers=manager)
    assert field in error_fields(response)


async def test_missing_both_days_names_both(client: httpx.AsyncClient, world: World) -> None:
    manager = await login(client, world.users["manager"])
    response = await client.get(METRICS, headers=manager)
    assert sorted(error_fields(response)) == ["from", "to"]


async def test_an_empty_period_still_draws_a_page(client: httpx.AsyncClient, world: World) -> None:
    manager = await login(client, world.users["manager"])
    response = await client.get(
        METRICS,
        params={"from": "2025-06-10", "to": "2025-06-16", "format": "html"},
        headers=manager,
    )
    assert response.status_code == 200, response.text
    assert response.text.count("<svg") == 2


async def test_the_endpoint_is_described_in_the_openapi_schema(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200, response.text
    operation = response.json()["paths"]["/api/kitchen/metrics"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"from", "to", "station", "format", "restaurantId"} <= names
