"""The kitchen display's board on PostgreSQL: ``python -m bench.kitchen``.

Target (issue 7): ``GET /api/kitchen/orders`` with 200 active orders answers with a p95
under 50 ms.

One run, one throwaway database migrated to ``head``:

1. Seeds a restaurant with three stations and a menu of eight products, ``--active`` orders
   the kitchen is working on (2-5 items each, spread over the stations, a mix of pending,
   preparing and ready items, some rushed, some delivery, some with a held course) and
   ``--history`` finished orders over the past days and today (so the board has to skip them
   and the day's figures have rows to count).
2. Starts ``fynlo serve`` (one worker) and signs in as a kitchen user.
3. The whole board: ``--requests`` requests from one client (a display polling), then the
   same from ``--clients`` concurrent clients (several displays at once).
4. One station's board (``?station=grill``), one client.

Each answer is checked: 200, and the number of active orders the seed put on the board.
Exit status: 0 when every answer was right (a missed target is a FAIL line, and fails the
run only with ``--strict``); 1 when an answer was wrong; 2 when the run could not be set up.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import httpx

from bench.support import (
    DEFAULT_DATABASE_URL_BASE,
    BenchmarkSetupError,
    Figure,
    LatencySummary,
    apply_fynlo_env,
    fynlo_env,
    machine_info,
    migrate,
    postgres_version,
    print_figures,
    print_section,
    run_main,
    running_server,
    summarize,
    targets_verdict,
    throwaway_database,
)
from fynlo.auth.passwords import hash_secret_sync
from fynlo.config import get_settings
from fynlo.db.engine import create_engine, create_sessionmaker
from fynlo.db.types import utc_now
from fynlo.models import (
    Category,
    KitchenStation,
    Order,
    OrderItem,
    Platform,
    Product,
    Restaurant,
    RestaurantSettings,
    User,
)
from fynlo.orders.numbering import business_date, format_number

TARGET_P95_MS = 50.0
BOARD_PATH = "/api/kitchen/orders"
PASSWORD = "Bench-Kitchen-Pass-2026!"  # noqa: S105 - a throwaway account in a throwaway database
COOK_EMAIL = "cook@bench.fynlo-test.com"
RAISED_LIMIT = "1000000/minute"
TIMEZONE = "Europe/London"
STATIONS = ("grill", "cold", "bar")
MENU = (
    ("Classic Burger", "grill", 12),
    ("Ribeye Steak", "grill", 18),
    ("Chicken Wings", "grill", 10),
    ("Caesar Salad", "cold", 6),
    ("Burrata", "cold", 5),
    ("Negroni", "bar", 3),
    ("Lemonade", "bar", 2),
    ("Espresso Martini", "bar", 4),
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.kitchen", description=__doc__)
    parser.add_argument("--active", type=int, default=200, help="orders on the board")
    parser.add_argument("--history", type=int, default=3000, help="finished orders")
    parser.add_argument("--requests", type=int, default=500, help="measured requests a phase")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--clients", type=int, default=8, help="displays polling at once")
    parser.add_argument("--database-url-base", default=DEFAULT_DATABASE_URL_BASE)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args(argv)


def server_settings(database_url: str) -> dict[str, str]:
    return {
        "FYNLO_ENVIRONMENT": "development",
        "FYNLO_DATABASE_URL": database_url,
        "FYNLO_RATE_LIMIT_DEFAULT": RAISED_LIMIT,
        "FYNLO_LOGIN_RATE_LIMIT_IP": RAISED_LIMIT,
        "FYNLO_LOGIN_RATE_LIMIT_ACCOUNT": RAISED_LIMIT,
    }


@dataclass(frozen=True)
class Seeded:
    active: int
    at_grill: int
    items: int


def _order(
    restaurant: Restaurant, sequence: int, at: object, status: str, rng: random.Random
) -> Order:
    now = utc_now()
    day = business_date(at, TIMEZONE)  # type: ignore[arg-type]
    return Order(
        id=uuid.uuid4(),
        restaurant_id=restaurant.id,
        order_number=format_number(day, sequence),
        business_date=day,
        daily_sequence=sequence,
        status=status,
        order_type=rng.choice(("dine_in", "dine_in", "takeaway", "delivery")),
        currency="GBP",
        prices_include_vat=True,
        table_number=str(rng.randint(1, 40)),
        confirmed_at=at,
        ready_at=at if status in ("completed", "served") else None,
        completed_at=at if status == "completed" else None,
        created_at=at,
        updated_at=now,
    )


async def seed(database_url: str, active: int, history: int) -> Seeded:
    """The restaurant, its kitchen user, the orders on the board and the finished ones."""
    rng = random.Random(7)
    engine = create_engine(get_settings(), database_url=database_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            platform = Platform(name="Bench platform", owner_email="owner@bench.fynlo-test.com")
            session.add(platform)
            await session.flush()
            restaurant = Restaurant(
                platform_id=platform.id,
                name="Bench Kitchen",
                address={"line1": "1 High Street", "city": "London"},
                timezone=TIMEZONE,
            )
            session.add(restaurant)
            await session.flush()
            session.add(RestaurantSettings(restaurant_id=restaurant.id))
            session.add_all(
                KitchenStation(
                    restaurant_id=restaurant.id,
                    code=code,
                    name=code.title(),
                    is_default=code == "grill",
                    sort_order=i,
                )
                for i, code in enumerate(STATIONS)
            )
            category = Category(restaurant_id=restaurant.id, name="Menu")
            session.add(category)
            await session.flush()
            products = []
            for name, station, minutes in MENU:
                product = Product(
                    restaurant_id=restaurant.id,
                    category_id=category.id,
                    name=name,
                    price_minor=1000,
                    kitchen_station=station,
                    preparation_time=minutes,
                )
                session.add(product)
                products.append(product)
            session.add(
                User(
                    email=COOK_EMAIL,
                    password_hash=hash_secret_sync(PASSWORD),
                    first_name="Bench",
                    last_name="Cook",
                    role="kitchen_staff",
                    restaurant_id=restaurant.id,
                    platform_id=platform.id,
                )
            )
            await session.flush()

            now = utc_now()
            sequence = 0
            at_grill = items = 0

            def lines(order: Order, fired: object, statuses: Sequence[str]) -> list[OrderItem]:
                chosen = rng.sample(products, rng.randint(2, 5))
                return [
                    OrderItem(
                        restaurant_id=restaurant.id,
                        order_id=order.id,
                        product_id=p.id,
                        position=i,
                        product_name=p.name,
                        quantity=rng.randint(1, 3),
                        unit_price_minor=1000,
                        modifiers=[{"type": "size", "value": "large", "price": 0}],
                        kitchen_station=p.kitchen_station,
                        kitchen_status=rng.choice(statuses),
                        preparation_time=p.preparation_time,
                        sent_to_kitchen_at=fired,
                        course=1,
                    )
                    for i, p in enumerate(chosen)
                ]

            for n in range(history):
                sequence += 1
                at = now - timedelta(minutes=rng.randint(60, 60 * 24 * 14))
                order = _order(restaurant, sequence, at, "completed", rng)
                session.add(order)
                rows = lines(order, at, ("served",))
                for row in rows:
                    row.ready_at = at
                    row.prep_seconds = rng.randint(120, 1500)
                session.add_all(rows)
                if n % 500 == 499:
                    await session.flush()
            for _ in range(active):
                sequence += 1
                at = now - timedelta(minutes=rng.randint(0, 40))
                order = _order(
                    restaurant, sequence, at, rng.choice(("confirmed", "preparing")), rng
                )
                order.rush = rng.random() < 0.05
                session.add(order)
                rows = lines(order, at, ("pending", "preparing", "preparing", "ready"))
                rows[0].kitchen_status = "preparing"  # at least one item still cooking
                if rng.random() < 0.2:  # a held dessert course
                    rows[-1].sent_to_kitchen_at = None
                    rows[-1].held = True
                    rows[-1].course = 2
                    rows[-1].kitchen_status = "pending"
                items += len(rows)
                if any(
                    r.kitchen_station == "grill"
                    and r.sent_to_kitchen_at is not None
                    and r.kitchen_status in ("pending", "preparing")
                    for r in rows
                ):
                    at_grill += 1
                session.add_all(rows)
            await session.flush()
            return Seeded(active, at_grill, items)
    finally:
        await engine.dispose()


async def sign_in(http: httpx.AsyncClient) -> dict[str, str]:
    response = await http.post("/api/auth/login", json={"email": COOK_EMAIL, "password": PASSWORD})
    if response.status_code != 200:
        raise BenchmarkSetupError(f"sign-in failed: {response.status_code} {response.text}")
    return {"Authorization": f"Bearer {response.json()['data']['tokens']['access']}"}


@dataclass
class Phase:
    seconds: list[float]
    wrong: list[str]
    wall: float


async def poll(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    params: dict[str, str],
    expected: int,
    count: int,
    phase: Phase,
) -> None:
    for _ in range(count):
        start = time.perf_counter()
        response = await http.get(BOARD_PATH, params=params, headers=headers)
        elapsed = time.perf_counter() - start
        if response.status_code != 200:
            phase.wrong.append(f"{response.status_code}: {response.text[:200]}")
            continue
        shown = len(response.json()["data"]["activeOrders"])
        if shown != expected:
            phase.wrong.append(f"{shown} active orders, expected {expected}")
            continue
        phase.seconds.append(elapsed)


async def run_phase(
    url: str, clients: int, requests: int, params: dict[str, str], expected: int
) -> Phase:
    phase = Phase([], [], 0.0)
    https = [httpx.AsyncClient(base_url=url, timeout=30) for _ in range(clients)]
    try:
        headers = await sign_in(https[0])
        start = time.perf_counter()
        share = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]
        await asyncio.gather(
            *(
                poll(h, headers, params, expected, n, phase)
                for h, n in zip(https, share, strict=True)
            )
        )
        phase.wall = time.perf_counter() - start
    finally:
        await asyncio.gather(*(h.aclose() for h in https))
    return phase


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _figures(label: str, summary: LatencySummary, targeted: bool) -> list[Figure]:
    return [
        Figure(f"{label} p50", _ms(summary.p50)),
        Figure(
            f"{label} p95",
            _ms(summary.p95),
            f"< {TARGET_P95_MS:.0f} ms" if targeted else "",
            summary.p95 * 1000 < TARGET_P95_MS if targeted else None,
        ),
        Figure(f"{label} p99", _ms(summary.p99)),
        Figure(f"{label} max", _ms(summary.max)),
    ]


async def run(args: argparse.Namespace) -> int:
    print(
        f"Kitchen board benchmark: {args.active} active orders, {args.history} finished, "
        f"PostgreSQL, one server worker"
    )
    async with throwaway_database(args.database_url_base) as database:
        settings = server_settings(database.url)
        apply_fynlo_env(settings)
        pg_version = await postgres_version(database.url)
        print("Migrating the throwaway database...", flush=True)
        await migrate(database.url)
        print("Seeding the restaurant and its orders...", flush=True)
        seeded = await seed(database.url, args.active, args.history)
        print("Starting the server...", flush=True)
        async with running_server(fynlo_env(settings)) as server:
            everything: dict[str, str] = {}
            grill = {"station": "grill"}
            await run_phase(server.url, 1, args.warmup, everything, seeded.active)
            alone = await run_phase(server.url, 1, args.requests, everything, seeded.active)
            shared = await run_phase(
                server.url, args.clients, args.requests, everything, seeded.active
            )
            station = await run_phase(server.url, 1, args.requests, grill, seeded.at_grill)

    print_section("Machine", machine_info(pg_version))
    print_section(
        "Conditions",
        [
            ("Server", "fynlo serve (uvicorn), 1 worker process, loopback"),
            (
                "Data",
                f"{seeded.active} orders on the board ({seeded.items} items over "
                f"{len(STATIONS)} stations, some held), {args.history} finished orders",
            ),
            ("Clients", "closed loop; latency = request sent to answer read, client included"),
        ],
    )
    figures = [
        Figure(
            "Wrong answers",
            str(len(alone.wrong + shared.wrong + station.wrong)),
            "0",
            not (alone.wrong or shared.wrong or station.wrong),
        ),
    ]
    if alone.seconds:
        figures += _figures("Whole board, 1 display", summarize(alone.seconds), True)
    if shared.seconds:
        figures += _figures(
            f"Whole board, {args.clients} displays", summarize(shared.seconds), False
        )
        figures.append(
            Figure("Throughput, concurrent", f"{len(shared.seconds) / shared.wall:.0f} req/s")
        )
    if station.seconds:
        figures += _figures(
            f"Grill only ({seeded.at_grill} orders)", summarize(station.seconds), True
        )
    print_figures(f"GET {BOARD_PATH}", figures)
    wrong = alone.wrong + shared.wrong + station.wrong
    if wrong:
        print("\nWrong answers (first 5):\n  " + "\n  ".join(wrong[:5]))
        return 1
    return targets_verdict(figures, strict=args.strict, targets=f"p95 < {TARGET_P95_MS:.0f} ms")


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
