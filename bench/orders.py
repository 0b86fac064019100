"""Taking orders on PostgreSQL, against a ceiling: ``python -m bench.orders``.

Target (spec): an order is taken in under 500 ms, and a restaurant takes 500 orders per hour.
The benchmark aims higher: p99 under 50 ms at a steady 100 orders per second, and at least 30 %
of the throughput of a bare endpoint doing only the same writes (the ceiling).

One run, one throwaway database migrated to ``head``:

1. Seeds two restaurants (one for Fynlo, one for the ceiling) with the same menu: products
   with a "size" modifier group (small / large), a huge stock each, VAT (the default tax
   configuration) and ``pos_settings.stockDeductOn = "create"``, so every order moves stock.
2. Starts ``fynlo serve`` (one worker process) and signs in once as the manager.
3. Fynlo with one client alone (``--baseline`` seconds): the uncontended latency.
4. Fynlo at a fixed rate: ``--rate`` orders/s sent on a schedule whatever the answers (an open
   loop), for ``--duration`` seconds; latency is counted from the scheduled send time.
5. Fynlo at saturation: ``--clients`` clients in a closed loop for ``--duration`` seconds.
6. Stops Fynlo and starts the ceiling (``bench/ceiling_app.py``: FastAPI + asyncpg, one worker,
   no authentication), and runs the same three phases against it.
7. Checks the database: orders = successful answers, unique gap-free numbers, the stock change
   equal to the items sold and to the ledger, one outbox event per order.

Exit status: 0 when every order succeeded and the database agrees (a missed target is a FAIL
line but only fails the run with ``--strict``); 1 when an order failed or a check did not hold
(or ``--strict`` and a target was missed); 2 when the run could not be set up; 130 when
interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import ssl
import sys
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.support import (
    DEFAULT_DATABASE_URL_BASE,
    BenchmarkSetupError,
    Figure,
    LatencySummary,
    Server,
    apply_fynlo_env,
    fynlo_env,
    machine_info,
    migrate,
    postgres_cpu_seconds,
    postgres_version,
    print_figures,
    print_section,
    process_cpu_seconds,
    running_http_server,
    running_server,
    server_histogram,
    summarize,
    throwaway_database,
    usable_cpus,
)
from fynlo.auth.passwords import hash_secret_sync
from fynlo.config import get_settings
from fynlo.db.engine import create_engine, create_sessionmaker
from fynlo.models import (
    Category,
    InventoryItem,
    ModifierGroup,
    ModifierOption,
    Platform,
    Product,
    Restaurant,
    RestaurantSettings,
    User,
)
from fynlo.models.inventory import MILLI

TARGET_P99_MS = 50.0
SPEC_MS = 500.0
SPEC_ORDERS_PER_HOUR = 500
TARGET_RATIO = 0.30
SUSTAINED_SHARE = 0.95  # a fixed rate counts as sustained at >= 95 % of it
ORDERS_PATH = "/api/orders"
LOGIN_PATH = "/api/auth/login"
LATENCY_METRIC = "fynlo_http_request_duration_seconds"
ORDER_LABELS = {"method": "POST", "route": ORDERS_PATH}
PASSWORD = "Bench-Orders-Pass-2026!"  # noqa: S105 - a throwaway account in a throwaway database
MANAGER_EMAIL = "manager@bench.fynlo-test.com"
REQUEST_TIMEOUT_SECONDS = 30.0
RAISED_LIMIT = "1000000/minute"
STOCK_UNITS = 100_000_000  # per product: never runs out, never reaches a reorder point
# name, price (minor units), surcharge of "large"; the first ITEMS_PER_ORDER go in every order
MENU = (
    ("Classic Burger", 1250, 200),
    ("Margherita Pizza", 1100, 300),
    ("Caesar Salad", 850, 150),
    ("Fish and Chips", 1395, 250),
)
ITEMS_PER_ORDER = 3
BODIES = 1024  # distinct request bodies per target, cycled
OPEN_LOOP_CONNECTIONS = 512  # most connections the fixed-rate phase opens
REPO_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- options


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.orders",
        description="Benchmark POST /api/orders on PostgreSQL against a bare FastAPI + asyncpg "
        f"endpoint doing the same writes (targets: p99 < {TARGET_P99_MS:.0f} ms at a fixed "
        f"100 orders/s, throughput >= {TARGET_RATIO:.0%} of the ceiling's).",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=10.0,
        help="seconds of each measured phase (10)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="seconds of unmeasured load before each measured phase (2)",
    )
    parser.add_argument(
        "--baseline",
        type=float,
        default=2.0,
        help="seconds of one client alone first, for the uncontended latency (2; 0 skips)",
    )
    parser.add_argument(
        "--clients",
        type=int,
        default=16,
        help="concurrent clients of the saturation phase, closed loop (16)",
    )
    parser.add_argument(
        "--rate", type=float, default=100.0, help="orders per second of the fixed-rate phase (100)"
    )
    parser.add_argument(
        "--database-url-base",
        default=DEFAULT_DATABASE_URL_BASE,
        help="PostgreSQL server to create the throwaway database on, as a SQLAlchemy URL "
        f"without database ({DEFAULT_DATABASE_URL_BASE})",
    )
    parser.add_argument(
        "--keep-db", action="store_true", help="do not drop the database afterwards"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed, too")
    args = parser.parse_args(argv)
    if args.clients < 1:
        parser.error("--clients must be at least 1")
    if args.duration <= 0 or args.rate <= 0:
        parser.error("--duration and --rate must be positive")
    if args.warmup < 0 or args.baseline < 0:
        parser.error("--warmup and --baseline cannot be negative")
    return args


def server_settings(database_url: str) -> dict[str, str]:
    """Every ``FYNLO_*`` variable of the run (the server's and this process's)."""
    return {
        "FYNLO_ENVIRONMENT": "development",  # development secrets are accepted
        "FYNLO_DATABASE_URL": database_url,
        "FYNLO_RATE_LIMIT_DEFAULT": RAISED_LIMIT,
        "FYNLO_LOGIN_RATE_LIMIT_IP": RAISED_LIMIT,
        "FYNLO_LOGIN_RATE_LIMIT_ACCOUNT": RAISED_LIMIT,
    }


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class MenuItem:
    id: uuid.UUID
    name: str
    price_minor: int
    large_minor: int


@dataclass(frozen=True)
class Venue:
    """One restaurant of the run and its menu (the products every order contains)."""

    id: uuid.UUID
    label: str
    products: list[MenuItem]


@dataclass(frozen=True)
class Seeded:
    fynlo: Venue
    ceiling: Venue
    manager_id: uuid.UUID


async def _venue(session: Any, platform: Platform, label: str) -> Venue:
    restaurant = Restaurant(
        platform_id=platform.id,
        name=f"Bench {label}",
        address={"line1": "1 High Street", "city": "London"},
        timezone="Europe/London",
    )
    session.add(restaurant)
    await session.flush()
    session.add(
        RestaurantSettings(restaurant_id=restaurant.id, pos_settings={"stockDeductOn": "create"})
    )
    category = Category(restaurant_id=restaurant.id, name="Mains", kitchen_station="kitchen")
    session.add(category)
    await session.flush()
    products: list[MenuItem] = []
    for position, (name, price, large) in enumerate(MENU):
        product = Product(
            restaurant_id=restaurant.id,
            category_id=category.id,
            name=name,
            price_minor=price,
            kitchen_station="kitchen",
            preparation_time=10,
            sort_order=position,
        )
        session.add(product)
        await session.flush()
        group = ModifierGroup(
            restaurant_id=restaurant.id,
            product_id=product.id,
            name="size",
            min_choices=1,
            max_choices=1,
        )
        session.add(group)
        await session.flush()
        session.add_all(
            [
                ModifierOption(
                    restaurant_id=restaurant.id,
                    group_id=group.id,
                    name="small",
                    price_minor=0,
                    sort_order=0,
                ),
                ModifierOption(
                    restaurant_id=restaurant.id,
                    group_id=group.id,
                    name="large",
                    price_minor=large,
                    sort_order=1,
                ),
                InventoryItem(
                    restaurant_id=restaurant.id,
                    product_id=product.id,
                    current_stock_milli=STOCK_UNITS * MILLI,
                    minimum_stock_milli=0,
                ),
            ]
        )
        products.append(MenuItem(product.id, name, price, large))
    await session.flush()
    return Venue(restaurant.id, label, products)


async def seed(database_url: str) -> Seeded:
    """One platform, a restaurant for Fynlo and one for the ceiling (same menu and stock), and
    the manager who signs in to Fynlo (password hashed with the production parameters)."""
    engine = create_engine(get_settings(), database_url=database_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            platform = Platform(name="Bench platform", owner_email="owner@bench.fynlo-test.com")
            session.add(platform)
            await session.flush()
            fynlo = await _venue(session, platform, "Fynlo")
            ceiling = await _venue(session, platform, "Ceiling")
            manager = User(
                email=MANAGER_EMAIL,
                password_hash=hash_secret_sync(PASSWORD),
                first_name="Bench",
                last_name="Manager",
                role="manager",
                restaurant_id=fynlo.id,
                platform_id=platform.id,
            )
            session.add(manager)
            await session.flush()
            return Seeded(fynlo, ceiling, manager.id)
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class Body:
    content: bytes
    quantities: tuple[int, ...]  # per product of the venue's menu


def order_bodies(venue: Venue, count: int, seed: int) -> list[Body]:
    """The spec's order body: 3 items, each with a size (and the prices the till showed),
    no table, takeaway or dine-in. Deterministic per seed."""
    rng = random.Random(seed)
    bodies = []
    for _ in range(count):
        items, quantities = [], []
        for product in venue.products[:ITEMS_PER_ORDER]:
            quantity = rng.randint(1, 2)
            size = rng.choice(("small", "large"))
            surcharge = product.large_minor if size == "large" else 0
            items.append(
                {
                    "productId": str(product.id),
                    "quantity": quantity,
                    "unitPrice": float(Decimal(product.price_minor) / 100),
                    "modifiers": [
                        {"type": "size", "value": size, "price": float(Decimal(surcharge) / 100)}
                    ],
                }
            )
            quantities.append(quantity)
        quantities += [0] * (len(venue.products) - len(quantities))
        payload = {
            "tableNumber": None,
            "orderType": rng.choice(("takeaway", "dine_in")),
            "items": items,
        }
        bodies.append(Body(json.dumps(payload).encode(), tuple(quantities)))
    return bodies


# --------------------------------------------------------------------------- load


@dataclass(frozen=True)
class Sample:
    seconds: float  # answer read minus (scheduled, open loop / actual, closed loop) send time
    ok: bool
    problem: str = ""
    order_id: str = ""
    body: int = -1  # index into the target's bodies
    lag: float = 0.0  # open loop: actual send minus scheduled send


@dataclass
class Phase:
    samples: list[Sample] = field(default_factory=list)
    wall_seconds: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float | None = None
    postgres_cpu: float | None = None
    server_side: tuple[float, float] | None = None  # (sum, count) from /metrics

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.ok]

    @property
    def failures(self) -> list[Sample]:
        return [s for s in self.samples if not s.ok]

    @property
    def throughput(self) -> float:
        return len(self.ok) / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def latencies(self) -> list[float]:
        return [s.seconds for s in self.ok]


def _problem(response: httpx.Response, *, full: bool) -> tuple[str, str]:
    """``(problem, order id)``: an empty problem when the answer is a created order."""
    try:
        body: Any = response.json()
    except ValueError:
        return f"HTTP {response.status_code}, body is not JSON", ""
    data = body.get("data") if isinstance(body, dict) else None
    if response.status_code != 201 or not isinstance(data, dict) or body.get("success") is not True:
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        detail = body.get("detail") if isinstance(body, dict) else None  # plain FastAPI
        if detail is not None and not isinstance(detail, str):
            detail = "invalid request"
        return f"HTTP {response.status_code} {code or detail or 'unexpected body'}", ""
    order_id = data.get("id")
    if not isinstance(order_id, str) or not data.get("orderNumber"):
        return "HTTP 201 without id and orderNumber", ""
    if full and len(data.get("items") or []) != ITEMS_PER_ORDER:
        return f"HTTP 201 without {ITEMS_PER_ORDER} items", ""
    return "", order_id


@dataclass
class Target:
    """Where orders go: Fynlo (authenticated, full response checked) or the ceiling."""

    name: str
    server: Server
    venue: Venue
    bodies: list[Body]
    token: str | None = None
    next_body: int = 0
    phases: list[Phase] = field(default_factory=list)  # every phase, warm-ups included
    # One for every client: building one (CA bundle loaded) costs ~15 ms of CPU, too much to
    # pay per connection in the middle of a phase.
    tls: ssl.SSLContext = field(default_factory=ssl.create_default_context)

    def client(self, connections: int) -> httpx.AsyncClient:
        headers = {"Content-Type": "application/json", "User-Agent": "fynlo-bench-orders"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return httpx.AsyncClient(
            base_url=self.server.url,
            timeout=REQUEST_TIMEOUT_SECONDS,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            headers=headers,
            verify=self.tls,
        )

    async def send(self, http: httpx.AsyncClient, started: float) -> Sample:
        """One order; latency from ``started`` (the scheduled or the actual send time)."""
        index = self.next_body % len(self.bodies)
        self.next_body += 1
        lag = time.perf_counter() - started
        try:
            response = await http.post(ORDERS_PATH, content=self.bodies[index].content)
        except httpx.HTTPError as exc:
            elapsed = time.perf_counter() - started
            return Sample(elapsed, False, type(exc).__name__, body=index, lag=lag)
        elapsed = time.perf_counter() - started
        problem, order_id = _problem(response, full=self.token is not None)
        return Sample(elapsed, not problem, problem, order_id, index, lag)


class Meter:
    """CPU seconds of this process, the server and PostgreSQL over one phase."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.client = time.process_time()
        self.server = process_cpu_seconds(server_pid)
        self.postgres = postgres_cpu_seconds()

    def stop(self, phase: Phase) -> None:
        phase.client_cpu = time.process_time() - self.client
        server = process_cpu_seconds(self.server_pid)
        postgres = postgres_cpu_seconds()
        if server is not None and self.server is not None:
            phase.server_cpu = server - self.server
        if postgres is not None and self.postgres is not None:
            phase.postgres_cpu = postgres - self.postgres


async def _metered(
    target: Target,
    http: httpx.AsyncClient | None,
    run: Callable[[Phase], Awaitable[None]],
) -> Phase:
    phase = Phase()
    before = await _server_side(target, http)
    meter = Meter(target.server.pid)
    await run(phase)
    meter.stop(phase)
    after = await _server_side(target, http)
    if before is not None and after is not None:
        phase.server_side = (after[0] - before[0], after[1] - before[1])
    target.phases.append(phase)
    return phase


async def _server_side(
    target: Target, http: httpx.AsyncClient | None
) -> tuple[float, float] | None:
    if http is None or target.token is None:  # the ceiling has no /metrics
        return None
    return await server_histogram(http, LATENCY_METRIC, ORDER_LABELS)


async def closed_loop(
    target: Target, clients: Sequence[httpx.AsyncClient], seconds: float
) -> Phase:
    """Each client sends its next order as soon as the previous one is answered, until the
    deadline; throughput is answers over the time until the last answer."""

    async def run(phase: Phase) -> None:
        started = time.perf_counter()
        deadline = started + seconds

        async def work(http: httpx.AsyncClient) -> None:
            while time.perf_counter() < deadline:
                phase.samples.append(await target.send(http, time.perf_counter()))

        await asyncio.gather(*(work(http) for http in clients))
        phase.wall_seconds = time.perf_counter() - started

    return await _metered(target, clients[0], run)


class Connections:
    """Keep-alive connections for the open loop, one ``httpx.AsyncClient`` each: an order
    takes an idle one (the most recently used) or opens another, up to ``cap``; past the cap
    it waits for one. One connection per client keeps httpx's own pool bookkeeping, which
    grows with the requests queued in it, out of the client's CPU time when the server falls
    behind and hundreds of orders are outstanding."""

    def __init__(self, target: Target, cap: int) -> None:
        self.target = target
        self.cap = cap
        self.idle: list[httpx.AsyncClient] = []
        self.opened: list[httpx.AsyncClient] = []
        self.waiting: deque[asyncio.Future[httpx.AsyncClient]] = deque()

    async def acquire(self) -> httpx.AsyncClient:
        if self.idle:
            return self.idle.pop()
        if len(self.opened) < self.cap:
            http = self.target.client(1)
            self.opened.append(http)
            return http
        waiter: asyncio.Future[httpx.AsyncClient] = asyncio.get_running_loop().create_future()
        self.waiting.append(waiter)
        return await waiter

    def release(self, http: httpx.AsyncClient) -> None:
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(http)
                return
        self.idle.append(http)

    async def send(self, scheduled: float) -> Sample:
        http = await self.acquire()
        try:
            return await self.target.send(http, scheduled)
        finally:
            self.release(http)

    async def release_new(self) -> None:
        """Open one connection up front (the phases read /metrics on the first)."""
        self.release(await self.acquire())

    async def close(self) -> None:
        await asyncio.gather(*(http.aclose() for http in self.opened))


async def open_loop(target: Target, connections: Connections, rate: float, seconds: float) -> Phase:
    """``rate`` orders per second on a fixed schedule, whatever the answers. Latency runs from
    the scheduled send time, so a server (or client) that falls behind shows as latency
    instead of as fewer requests (no coordinated omission)."""

    async def run(phase: Phase) -> None:
        count = max(1, round(rate * seconds))
        interval = 1 / rate
        started = time.perf_counter() + 0.01
        tasks = []
        for n in range(count):
            scheduled = started + n * interval
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(connections.send(scheduled)))
        phase.samples.extend(await asyncio.gather(*tasks))
        # from the first scheduled send to the last answer
        phase.wall_seconds = max(s.seconds + n * interval for n, s in enumerate(phase.samples))

    metrics = connections.opened[0] if connections.opened else None
    return await _metered(target, metrics, run)


async def sign_in(server: Server) -> str:
    async with httpx.AsyncClient(base_url=server.url, timeout=REQUEST_TIMEOUT_SECONDS) as http:
        response = await http.post(LOGIN_PATH, json={"email": MANAGER_EMAIL, "password": PASSWORD})
    try:
        token = response.json()["data"]["tokens"]["access"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BenchmarkSetupError(
            f"signing in as {MANAGER_EMAIL} failed: HTTP {response.status_code} "
            f"{response.text[:300]}"
        ) from exc
    return str(token)


@dataclass
class Results:
    alone: Phase | None
    fixed: Phase
    saturation: Phase


async def load(target: Target, args: argparse.Namespace) -> Results:
    """One client alone, warm-up and fixed rate, then warm-up and saturation."""
    alone = None
    if args.baseline:
        async with target.client(1) as http:
            await closed_loop(target, [http], min(args.warmup, 1.0))
            alone = await closed_loop(target, [http], args.baseline)
    connections = Connections(target, OPEN_LOOP_CONNECTIONS)
    try:
        await connections.release_new()
        if args.warmup:
            await open_loop(target, connections, args.rate, args.warmup)
        fixed = await open_loop(target, connections, args.rate, args.duration)
    finally:
        await connections.close()
    clients = [target.client(1) for _ in range(args.clients)]
    try:
        if args.warmup:
            await closed_loop(target, clients, args.warmup)
        saturation = await closed_loop(target, clients, args.duration)
    finally:
        await asyncio.gather(*(http.aclose() for http in clients))
    return Results(alone, fixed, saturation)


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class Check:
    name: str
    value: str
    expected: str
    passed: bool


def _units(milli: int) -> str:
    return f"{milli / MILLI:+g}" if milli else "0"


async def verify(database_url: str, target: Target) -> list[Check]:
    """What the database holds for ``target``'s restaurant against what the answers said."""
    created = [s for phase in target.phases for s in phase.ok]
    ids = {s.order_id for s in created}
    sold = [0] * len(target.venue.products)
    for sample in created:
        for index, quantity in enumerate(target.bodies[sample.body].quantities):
            sold[index] += quantity
    rid = {"rid": target.venue.id}
    engine = create_engine(get_settings(), database_url=database_url)
    try:
        async with engine.connect() as conn:

            async def scalar(sql: str, **params: Any) -> Any:
                return (await conn.execute(text(sql), {**rid, **params})).scalar_one()

            stored = {
                str(row[0])
                for row in await conn.execute(
                    text("SELECT id FROM orders WHERE restaurant_id = :rid"), rid
                )
            }
            numbers = await scalar(
                "SELECT count(DISTINCT order_number) FROM orders WHERE restaurant_id = :rid"
            )
            gaps = await scalar(
                "SELECT count(*) FROM (SELECT business_date FROM orders "
                "WHERE restaurant_id = :rid GROUP BY business_date "
                "HAVING max(daily_sequence) <> count(*) OR min(daily_sequence) <> 1) AS days"
            )
            items = await scalar("SELECT count(*) FROM order_items WHERE restaurant_id = :rid")
            events = await scalar(
                "SELECT count(*) FROM outbox_events WHERE restaurant_id = :rid "
                "AND event_type = 'new_order'"
            )
            other_events = await scalar(
                "SELECT count(*) FROM outbox_events WHERE restaurant_id = :rid "
                "AND event_type <> 'new_order'"
            )
            untaxed = await scalar(
                "SELECT count(*) FROM orders WHERE restaurant_id = :rid AND tax_minor <= 0"
            )
            stock_rows = []
            for product in target.venue.products:
                row = (
                    await conn.execute(
                        text(
                            "SELECT i.current_stock_milli, "
                            "coalesce(sum(m.quantity_milli), 0), count(m.id), "
                            "count(DISTINCT m.balance_after_milli), count(DISTINCT m.order_id) "
                            "FROM inventory i LEFT JOIN stock_movements m "
                            "ON m.restaurant_id = i.restaurant_id AND m.product_id = i.product_id "
                            "WHERE i.restaurant_id = :rid AND i.product_id = :pid "
                            "GROUP BY i.current_stock_milli"
                        ),
                        {**rid, "pid": product.id},
                    )
                ).one()
                stock_rows.append(row)
    finally:
        await engine.dispose()

    orders = len(stored)
    checks = [
        Check(
            "Orders stored = created answers",
            f"{orders} stored, {len(created)} answers",
            "equal, same ids",
            stored == ids and len(ids) == len(created),
        ),
        Check(
            "Order numbers unique, no gaps",
            f"{numbers} distinct of {orders}; {gaps} day(s) with gaps",
            "all distinct, 1..n",
            numbers == orders and gaps == 0,
        ),
        Check(
            "Order items",
            str(items),
            f"{ITEMS_PER_ORDER} x orders = {ITEMS_PER_ORDER * orders}",
            items == ITEMS_PER_ORDER * orders,
        ),
        Check("Orders with VAT", f"{orders - untaxed} of {orders}", "all", untaxed == 0),
    ]
    for product, wanted, (current, ledger, moves, balances, moved_orders) in zip(
        target.venue.products, sold, stock_rows, strict=True
    ):
        taken = STOCK_UNITS * MILLI - int(current)
        in_order = wanted > 0
        checks.append(
            Check(
                f"Stock of {product.name}",
                f"{_units(-taken)} (ledger {_units(int(ledger))}, {moves} movements, "
                f"{balances} distinct balances)",
                f"-{wanted} (sold); ledger = change; one movement per order"
                if in_order
                else "unchanged (not ordered)",
                taken == wanted * MILLI
                and -int(ledger) == taken
                and moves == (orders if in_order else 0)
                and moved_orders == moves
                and balances == moves,
            )
        )
    checks.append(
        Check(
            "Outbox events",
            f"{events} new_order, {other_events} other",
            "one new_order per order",
            events == orders and other_events == 0,
        )
    )
    return checks


# --------------------------------------------------------------------------- report


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _cpu(phase: Phase, cpus: int) -> str:
    orders = len(phase.ok) or 1
    parts = []
    for name, seconds in (
        ("server", phase.server_cpu),
        ("PostgreSQL", phase.postgres_cpu),
        ("client", phase.client_cpu),
    ):
        if seconds is None:
            continue
        parts.append(
            f"{name} {seconds / orders * 1000:.2f} ms ({seconds / phase.wall_seconds:.0%})"
        )
    return ", ".join(parts) + f" of {cpus} CPUs"


def _server_mean(phase: Phase) -> str | None:
    if phase.server_side is None or not phase.server_side[1]:
        return None
    total, count = phase.server_side
    return _ms(total / count)


def saturation_figures(fynlo: Phase, ceiling: Phase, clients: int, cpus: int) -> list[Figure]:
    ratio = fynlo.throughput / ceiling.throughput if ceiling.throughput else 0.0
    figures = [
        Figure("Fynlo throughput", f"{fynlo.throughput:.1f} orders/s ({len(fynlo.ok)} orders)"),
        Figure(
            "Ceiling throughput", f"{ceiling.throughput:.1f} orders/s ({len(ceiling.ok)} orders)"
        ),
        Figure(
            "Fynlo / ceiling",
            f"{ratio:.1%}",
            f">= {TARGET_RATIO:.0%}",
            ratio >= TARGET_RATIO,
        ),
        Figure(
            "Fynlo capacity vs spec",
            f"{fynlo.throughput * 3600:,.0f} orders/h",
            f">= {SPEC_ORDERS_PER_HOUR} orders/h (spec)",
            fynlo.throughput * 3600 >= SPEC_ORDERS_PER_HOUR,
        ),
    ]
    for name, phase in (("Fynlo", fynlo), ("Ceiling", ceiling)):
        if phase.latencies:
            s = summarize(phase.latencies)
            figures.append(
                Figure(
                    f"{name} latency at saturation",
                    f"p50 {_ms(s.p50)}, p99 {_ms(s.p99)}, max {_ms(s.max)}",
                )
            )
    mean = _server_mean(fynlo)
    if mean:
        figures.append(Figure("Fynlo server-side mean (/metrics)", mean))
    for name, phase in (("Fynlo", fynlo), ("Ceiling", ceiling)):
        figures.append(Figure(f"{name} CPU per order", _cpu(phase, cpus)))
    figures.append(
        Figure(
            "Failed orders",
            f"Fynlo {len(fynlo.failures)}, ceiling {len(ceiling.failures)}",
            "0",
            not fynlo.failures and not ceiling.failures,
        )
    )
    return figures


def _sustained(phase: Phase, rate: float) -> bool:
    return phase.throughput >= SUSTAINED_SHARE * rate


def alone_figures(fynlo: Phase | None, ceiling: Phase | None) -> list[Figure]:
    figures = []
    for name, phase in (("Fynlo", fynlo), ("Ceiling", ceiling)):
        if phase is not None and phase.latencies:
            s = summarize(phase.latencies)
            server = (
                f"; server CPU {phase.server_cpu / len(phase.ok) * 1000:.2f} ms/order"
                if (phase.server_cpu is not None)
                else ""
            )
            figures.append(
                Figure(
                    name,
                    f"p50 {_ms(s.p50)}, p99 {_ms(s.p99)}, {phase.throughput:.0f} orders/s{server}",
                )
            )
    return figures


def fixed_figures(fynlo: Phase, ceiling: Phase, rate: float, cpus: int) -> list[Figure]:
    figures = [
        Figure(
            "Fynlo achieved rate",
            f"{fynlo.throughput:.1f} orders/s of {rate:g} offered ({len(fynlo.ok)} orders)",
            f">= {SUSTAINED_SHARE * rate:g}/s (sustained)",
            _sustained(fynlo, rate),
        ),
        Figure(
            "Failed orders",
            f"{len(fynlo.failures)} of {len(fynlo.samples)}",
            "0",
            not fynlo.failures,
        ),
    ]
    if fynlo.latencies:
        s: LatencySummary = summarize(fynlo.latencies)
        figures += [
            Figure("Fynlo latency p50", _ms(s.p50)),
            Figure("Fynlo latency p95", _ms(s.p95)),
            Figure(
                "Fynlo latency p99",
                _ms(s.p99),
                f"< {TARGET_P99_MS:.0f} ms",
                s.p99 * 1000 < TARGET_P99_MS,
            ),
            Figure(
                "Fynlo latency max",
                _ms(s.max),
                f"< {SPEC_MS:.0f} ms (spec)",
                s.max * 1000 < SPEC_MS,
            ),
            Figure("Fynlo latency mean", _ms(s.mean)),
        ]
    mean = _server_mean(fynlo)
    if mean:
        figures.append(Figure("Fynlo server-side mean (/metrics)", mean))
    lags = sorted(sample.lag for sample in fynlo.samples)
    if lags:
        figures.append(
            Figure(
                "Client send lag p99 / max",
                f"{_ms(lags[int(0.99 * (len(lags) - 1))])} / {_ms(lags[-1])} "
                "(inside the latencies)",
            )
        )
    figures.append(Figure("Fynlo CPU per order", _cpu(fynlo, cpus)))
    if ceiling.latencies:
        c = summarize(ceiling.latencies)
        figures.append(
            Figure(
                "Ceiling at the same rate",
                f"p50 {_ms(c.p50)}, p99 {_ms(c.p99)}, {ceiling.throughput:.1f} orders/s, "
                f"{len(ceiling.failures)} failed",
            )
        )
        figures.append(Figure("Ceiling CPU per order", _cpu(ceiling, cpus)))
    return figures


def check_figures(checks: Sequence[Check]) -> list[Figure]:
    return [Figure(c.name, c.value, c.expected, c.passed) for c in checks]


def _cpu_ms(phase: Phase) -> float | None:
    if phase.server_cpu is None or not phase.ok:
        return None
    return phase.server_cpu / len(phase.ok) * 1000


def _print_reading(fynlo: Results, ceiling: Results, clients: int, rate: float) -> None:
    sat, top = fynlo.saturation, ceiling.saturation
    if not sat.throughput or not top.throughput:
        return
    lines = [
        f"\nReading the figures: in the closed loop, mean latency = clients / throughput "
        f"(Little's law): {clients} / {sat.throughput:.0f} orders/s = "
        f"{clients / sat.throughput * 1000:.0f} ms for Fynlo, {clients} / "
        f"{top.throughput:.0f} = {clients / top.throughput * 1000:.0f} ms for the ceiling."
    ]
    fynlo_ms, ceiling_ms = _cpu_ms(sat), _cpu_ms(top)
    if fynlo_ms and ceiling_ms:
        lines.append(
            f"Fynlo's process spends {fynlo_ms:.1f} ms of CPU per order at saturation against "
            f"the ceiling's {ceiling_ms:.1f} ms; one worker process runs on one CPU at most, "
            f"which caps it near {1000 / fynlo_ms:.0f} orders/s whatever the database does."
        )
    fixed_ms = _cpu_ms(fynlo.fixed)
    if fixed_ms:
        load = rate * fixed_ms / 1000
        lines.append(
            f"At {rate:g} orders/s it needs {rate:g} x {fixed_ms:.1f} ms = {load:.0%} of one CPU"
            + (
                ": more than one process has, so a queue builds for as long as the rate lasts "
                "and the latencies above are mostly waiting in it."
                if load >= 1
                else (
                    "; queueing grows steeply as this nears 100 %, so a p99 near the "
                    "uncontended latency needs it well below."
                )
            )
        )
    print(" ".join(lines))


def _print_failures(name: str, failures: Sequence[Sample], sent: int) -> None:
    print(f"\nFAILED ORDERS ({name}): {len(failures)} of {sent}. The figures are not trustworthy.")
    for problem, count in Counter(s.problem for s in failures).most_common():
        print(f"  {count:5d} x {problem}")


# --------------------------------------------------------------------------- run


def ceiling_env(database_url: str, seeded: Seeded) -> dict[str, str]:
    env = fynlo_env({})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["BENCH_CEILING_DSN"] = (
        make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    env["BENCH_CEILING_RESTAURANT_ID"] = str(seeded.ceiling.id)
    env["BENCH_CEILING_EMPLOYEE_ID"] = str(seeded.manager_id)
    settings = get_settings()
    env["BENCH_CEILING_POOL_SIZE"] = str(settings.db_pool_size + settings.db_max_overflow)
    return env


def ceiling_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.ceiling_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


async def run(args: argparse.Namespace) -> int:
    cpus = usable_cpus()
    loop_name = type(asyncio.get_running_loop()).__module__.split(".")[0]
    print(
        f"Orders benchmark: POST {ORDERS_PATH} ({ITEMS_PER_ORDER} items with a size modifier, "
        f"VAT, stock moved at create, outbox event, authenticated) on PostgreSQL, one server "
        f"process; {args.rate:g} orders/s fixed rate and {args.clients} clients at saturation, "
        f"{args.duration:g} s each after {args.warmup:g} s warm-up; then the same against a "
        "bare FastAPI + asyncpg endpoint doing the same writes (the ceiling)."
    )
    print(
        f"Note: the load generator, both servers and PostgreSQL share this machine's {cpus} "
        "CPUs; the client's own work is inside every latency."
    )
    async with throwaway_database(args.database_url_base, keep=args.keep_db) as database:
        database_url = database.url
        settings = server_settings(database_url)
        apply_fynlo_env(settings)
        pg_version = await postgres_version(database_url)
        print("Migrating the throwaway database...", flush=True)
        await migrate(database_url)
        print("Seeding two restaurants, their menus and stock, and a manager...", flush=True)
        seeded = await seed(database_url)

        print("Starting fynlo serve and signing in as the manager...", flush=True)
        async with running_server(fynlo_env(settings), workers=1) as server:
            fynlo = Target(
                "Fynlo", server, seeded.fynlo, order_bodies(seeded.fynlo, BODIES, seed=1)
            )
            fynlo.token = await sign_in(server)
            print(
                f"Fynlo: {args.rate:g} orders/s fixed rate, then {args.clients} clients...",
                flush=True,
            )
            fynlo_results = await load(fynlo, args)

        print("Starting the ceiling (uvicorn bench.ceiling_app:app)...", flush=True)
        async with running_http_server(
            ceiling_command, ceiling_env(database_url, seeded), name="ceiling"
        ) as ceiling_server:
            ceiling = Target(
                "Ceiling",
                ceiling_server,
                seeded.ceiling,
                order_bodies(seeded.ceiling, BODIES, seed=1),
            )
            print(
                f"Ceiling: {args.rate:g} orders/s fixed rate, then {args.clients} clients...",
                flush=True,
            )
            ceiling_results = await load(ceiling, args)

        print("Checking the database...", flush=True)
        fynlo_checks = await verify(database_url, fynlo)
        ceiling_checks = await verify(database_url, ceiling)

    pool = get_settings()
    print_section("Machine", machine_info(pg_version))
    print_section(
        "Conditions",
        [
            (
                "Fynlo",
                "fynlo serve (uvicorn), 1 worker process, loopback; signed in once as a "
                "manager, every order sent with its access token",
            ),
            (
                "Ceiling",
                "bench/ceiling_app.py: FastAPI + asyncpg under uvicorn, 1 worker process, no "
                "authentication, no reads; the same writes in one transaction (order number "
                "upsert, order, items, conditional stock updates, movements, outbox event)",
            ),
            (
                "Database",
                f"PostgreSQL {pg_version}, one throwaway database for both, migrated to head; "
                f"Fynlo's pool {pool.db_pool_size} + {pool.db_max_overflow} overflow, the "
                f"ceiling's {pool.db_pool_size + pool.db_max_overflow}",
            ),
            (
                "Each order",
                f"{ITEMS_PER_ORDER} products with a size (small/large, prices as on the menu), "
                "tableNumber null, takeaway or dine-in at random, quantity 1-2; all orders of a "
                "run hit the same restaurant and the same 3 inventory rows",
            ),
            (
                "Fixed rate",
                f"{args.rate:g} orders/s sent on schedule whatever the answers, each on an idle "
                f"keep-alive connection (a new one when none is idle, up to "
                f"{OPEN_LOOP_CONNECTIONS}); latency from the scheduled send time",
            ),
            (
                "Saturation",
                f"{args.clients} clients, each its own keep-alive connection, closed loop",
            ),
            (
                "Load generator",
                f"this process: httpx {httpx.__version__} on {loop_name}, one event loop",
            ),
            (
                "Rate limits",
                f"Fynlo's raised to {RAISED_LIMIT} so the run measures orders, not refusals; "
                "the limiter still runs (in-process, no Redis). Production: 600/minute.",
            ),
            (
                "Shared CPUs",
                f"the load generator, the server under test and PostgreSQL share {cpus} CPUs; "
                "'CPU per order' shows who used them (% = share of one CPU)",
            ),
        ],
    )
    alone = alone_figures(fynlo_results.alone, ceiling_results.alone)
    if alone:
        print_figures(f"One client alone for {args.baseline:g} s (closed loop)", alone)
    print_figures(
        f"Fixed rate: {args.rate:g} orders/s for {args.duration:g} s (open loop)",
        fixed_figures(fynlo_results.fixed, ceiling_results.fixed, args.rate, cpus),
    )
    print_figures(
        f"Saturation: {args.clients} clients for {args.duration:g} s (closed loop)",
        saturation_figures(
            fynlo_results.saturation, ceiling_results.saturation, args.clients, cpus
        ),
    )
    print_figures(
        "Database after the run: Fynlo's restaurant (every phase, warm-ups included)",
        check_figures(fynlo_checks),
    )
    print_figures("Database after the run: the ceiling's restaurant", check_figures(ceiling_checks))
    if not fynlo_results.fixed.failures and not fynlo_results.saturation.failures:
        _print_reading(fynlo_results, ceiling_results, args.clients, args.rate)
    if not _sustained(fynlo_results.fixed, args.rate):
        print(
            f"\nFynlo did NOT sustain {args.rate:g} orders/s: it answered "
            f"{fynlo_results.fixed.throughput:.1f} orders/s; the latencies include the backlog."
        )

    if args.keep_db:
        print(f"\nKept the database {database.name}; drop it with:\n  {database.drop_command()}")
    status = 0
    for target in (fynlo, ceiling):
        failures = [s for phase in target.phases for s in phase.failures]
        if failures:
            sent = sum(len(phase.samples) for phase in target.phases)
            _print_failures(target.name, failures, sent)
            status = 1
    broken = [
        f"{name}: {c.name}"
        for name, checks in (("Fynlo", fynlo_checks), ("ceiling", ceiling_checks))
        for c in checks
        if not c.passed
    ]
    if broken:
        print(f"\nDATABASE CHECKS FAILED: {'; '.join(broken)}")
        status = 1
    if status:
        return status
    figures = fixed_figures(
        fynlo_results.fixed, ceiling_results.fixed, args.rate, cpus
    ) + saturation_figures(fynlo_results.saturation, ceiling_results.saturation, args.clients, cpus)
    missed = sorted({f.name for f in figures if f.passed is False})
    if missed:
        print(
            f"\nTarget missed: {', '.join(missed)} (aim: p99 < {TARGET_P99_MS:.0f} ms at "
            f"{args.rate:g} orders/s, >= {TARGET_RATIO:.0%} of the ceiling; spec: < "
            f"{SPEC_MS:.0f} ms, {SPEC_ORDERS_PER_HOUR} orders/h)."
        )
        return 1 if args.strict else 0
    print(
        f"\nAll targets met (aim: p99 < {TARGET_P99_MS:.0f} ms at {args.rate:g} orders/s, >= "
        f"{TARGET_RATIO:.0%} of the ceiling; spec: < {SPEC_MS:.0f} ms, "
        f"{SPEC_ORDERS_PER_HOUR} orders/h)."
    )
    return 0


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop (uvicorn's loop, installed with ``uvicorn[standard]``) when there is one: the
    load generator shares the CPUs with the servers, so the less it costs the better."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(run(args))
    except BenchmarkSetupError as exc:
        print(f"\nBenchmark setup failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
