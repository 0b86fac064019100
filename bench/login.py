"""Login under concurrent clients on PostgreSQL: ``python -m bench.login``.

Target (spec): a sign-in answers in under 200 ms with 20 clients signing in at once. The
benchmark reports p50/p95/p99/max latency and throughput of ``POST /api/auth/login`` against
a real ``fynlo serve`` process on a throwaway PostgreSQL database, with the production
argon2id parameters (``Settings`` defaults), and the target next to p95 and p99.

Exit status: 0 when every login succeeded (a missed latency target is reported as FAIL but
only fails the run with ``--strict``); 1 when any login failed (the figures are then not
trustworthy) or, with ``--strict``, a target was missed; 2 when the benchmark could not be
set up (PostgreSQL unreachable, server did not start).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select

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
    server_histogram,
    summarize,
    targets_verdict,
    throwaway_database,
    usable_cpus,
)
from fynlo.auth.passwords import hash_secret_sync
from fynlo.config import Settings, get_settings
from fynlo.db.engine import create_engine, create_sessionmaker
from fynlo.models import Platform, Restaurant, RestaurantSettings, User

TARGET_MS = 200.0
LOGIN_PATH = "/api/auth/login"
LATENCY_METRIC = "fynlo_http_request_duration_seconds"
LOGIN_LABELS = {"method": "POST", "route": LOGIN_PATH}
PASSWORD = "Bench-Login-Pass-2026!"  # noqa: S105 - a throwaway account in a throwaway database
STAFF_ROLES = ("manager", "cashier", "waiter", "captain", "kitchen_staff", "employee")
REQUEST_TIMEOUT_SECONDS = 30.0
# High enough never to trip during a run: the limiter still runs on every request (in-process
# store, as without FYNLO_REDIS_URL), but the benchmark measures sign-in, not refusals.
RAISED_LIMIT = "1000000/minute"
ARGON2_HASH = re.compile(r"^\$(argon2(?:id|i|d))\$v=(\d+)\$m=(\d+),t=(\d+),p=(\d+)\$")


# --------------------------------------------------------------------------- options


def _production_default(name: str) -> int:
    return int(Settings.model_fields[name].default)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.login",
        description="Benchmark POST /api/auth/login under concurrent clients on PostgreSQL "
        f"(target: p95 and p99 < {TARGET_MS:.0f} ms with 20 clients).",
    )
    parser.add_argument(
        "--clients", type=int, default=20, help="concurrent clients, each its own user (20)"
    )
    parser.add_argument(
        "--requests", type=int, default=400, help="measured logins, over all clients (400)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="unmeasured logins first, over all clients (default: one per client)",
    )
    parser.add_argument(
        "--baseline-requests",
        type=int,
        default=20,
        help="logins by one client alone before the load, to show the uncontended latency "
        "(20; 0 skips)",
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
    parser.add_argument(
        "--restaurants",
        type=int,
        default=1,
        help="restaurants the staff are spread over (1: all sign in at one restaurant, "
        "whose audit chain every login appends to)",
    )
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (1)")
    parser.add_argument(
        "--argon2-time-cost",
        type=int,
        default=_production_default("argon2_time_cost"),
        help="argon2id time cost (default: the production setting, %(default)s)",
    )
    parser.add_argument(
        "--argon2-memory-kib",
        type=int,
        default=_production_default("argon2_memory_kib"),
        help="argon2id memory in KiB (default: the production setting, %(default)s)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a latency target is missed, too"
    )
    args = parser.parse_args(argv)
    for name in ("clients", "requests", "workers", "restaurants"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.argon2_time_cost < 1 or args.argon2_memory_kib < 1024:
        parser.error("argon2id needs --argon2-time-cost >= 1 and --argon2-memory-kib >= 1024")
    if args.warmup is None:
        args.warmup = args.clients
    if args.warmup < 0 or args.baseline_requests < 0:
        parser.error("--warmup and --baseline-requests cannot be negative")
    return args


def server_settings(args: argparse.Namespace, database_url: str) -> dict[str, str]:
    """Every ``FYNLO_*`` variable of the run (the server's and this process's)."""
    return {
        "FYNLO_ENVIRONMENT": "development",  # development secrets are accepted
        "FYNLO_DATABASE_URL": database_url,
        "FYNLO_ARGON2_TIME_COST": str(args.argon2_time_cost),
        "FYNLO_ARGON2_MEMORY_KIB": str(args.argon2_memory_kib),
        "FYNLO_RATE_LIMIT_DEFAULT": RAISED_LIMIT,
        "FYNLO_LOGIN_RATE_LIMIT_IP": RAISED_LIMIT,
        "FYNLO_LOGIN_RATE_LIMIT_ACCOUNT": RAISED_LIMIT,
    }


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class HashParameters:
    algorithm: str
    version: int
    memory_kib: int
    time_cost: int
    parallelism: int

    @classmethod
    def parse(cls, encoded: str) -> HashParameters:
        match = ARGON2_HASH.match(encoded)
        if match is None:
            raise BenchmarkSetupError(f"the stored password hash is not argon2: {encoded[:20]}…")
        algorithm, version, memory, time_cost, parallelism = match.groups()
        return cls(algorithm, int(version), int(memory), int(time_cost), int(parallelism))


@dataclass(frozen=True)
class Seeded:
    emails: list[str]
    hashes: dict[str, str]
    hash_seconds: list[float]  # one argon2id hash each, one thread, nothing else running


async def seed(database_url: str, users: int, restaurants: int) -> Seeded:
    """One platform, ``restaurants`` restaurants and ``users`` staff spread over them
    (round robin), their passwords hashed by the project's own code and parameters."""
    engine = create_engine(get_settings(), database_url=database_url)
    emails: list[str] = []
    hashes: dict[str, str] = {}
    hash_seconds: list[float] = []
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            platform = Platform(name="Bench platform", owner_email="owner@bench.fynlo-test.com")
            session.add(platform)
            await session.flush()
            venues = [
                Restaurant(
                    platform_id=platform.id,
                    name=f"Bench Bistro {r}",
                    address={"line1": f"{r} High Street", "city": "London"},
                    timezone="Europe/London",
                )
                for r in range(1, restaurants + 1)
            ]
            session.add_all(venues)
            await session.flush()
            session.add_all(RestaurantSettings(restaurant_id=venue.id) for venue in venues)
            for n in range(1, users + 1):
                email = f"staff{n:03d}@bench.fynlo-test.com"
                started = time.perf_counter()
                # the project's own hashing, on the event loop on purpose: each call is
                # timed alone, giving the cost of one hash with nothing else running
                hashed = hash_secret_sync(PASSWORD)
                hash_seconds.append(time.perf_counter() - started)
                session.add(
                    User(
                        email=email,
                        password_hash=hashed,
                        first_name="Bench",
                        last_name=f"Staff{n:03d}",
                        role=STAFF_ROLES[(n - 1) % len(STAFF_ROLES)],
                        restaurant_id=venues[(n - 1) % restaurants].id,
                        platform_id=platform.id,
                    )
                )
                emails.append(email)
                hashes[email] = hashed
    finally:
        await engine.dispose()
    return Seeded(emails, hashes, hash_seconds)


def hashing_capacity(threads: int, seconds: float = 3.0) -> float:
    """Hashes per second this machine sustains with ``threads`` threads (the server runs
    each hash in a worker thread too), using the project's hashing and parameters."""
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()

    def hash_until_deadline() -> int:
        done = 0
        while time.perf_counter() < deadline:
            hash_secret_sync(PASSWORD)
            done += 1
        return done

    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda _: hash_until_deadline(), range(threads)))
    return total / (time.perf_counter() - started)


async def rehashed_count(database_url: str, seeded: Seeded) -> int:
    """How many stored hashes changed during the run (the server rehashes on a mismatch)."""
    engine = create_engine(get_settings(), database_url=database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = await session.execute(
                select(User.email, User.password_hash).where(User.email.in_(seeded.emails))
            )
            return sum(1 for email, hashed in rows if seeded.hashes[email] != hashed)
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- load


@dataclass(frozen=True)
class Sample:
    seconds: float
    status: int  # 0: no HTTP answer
    ok: bool
    problem: str = ""


@dataclass
class Phase:
    samples: list[Sample] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def latencies(self) -> list[float]:
        return [s.seconds for s in self.samples if s.ok]

    @property
    def failures(self) -> list[Sample]:
        return [s for s in self.samples if not s.ok]

    @property
    def throughput(self) -> float:
        return len(self.samples) / self.wall_seconds if self.wall_seconds else 0.0


def _problem(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return f"HTTP {response.status_code}, body is not JSON"
    if response.status_code != 200 or not isinstance(body, dict) or body.get("success") is not True:
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        return f"HTTP {response.status_code} {code or 'unexpected body'}"
    data = body.get("data")
    tokens = data.get("tokens") if isinstance(data, dict) else None
    if not isinstance(tokens, dict) or not tokens.get("access") or not tokens.get("refresh"):
        return "HTTP 200 without access and refresh tokens"
    return ""


class LoginClient:
    """One member of staff signing in again and again on one keep-alive connection."""

    def __init__(self, base_url: str, email: str) -> None:
        self.email = email
        self.http = httpx.AsyncClient(
            base_url=base_url,
            timeout=REQUEST_TIMEOUT_SECONDS,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            headers={"User-Agent": "fynlo-bench-login"},
        )

    async def login(self) -> Sample:
        payload = {"email": self.email, "password": PASSWORD}
        started = time.perf_counter()
        try:
            response = await self.http.post(LOGIN_PATH, json=payload)
        except httpx.HTTPError as exc:
            return Sample(time.perf_counter() - started, 0, False, type(exc).__name__)
        elapsed = time.perf_counter() - started
        problem = _problem(response)
        return Sample(elapsed, response.status_code, not problem, problem)

    async def work(self, remaining: list[int], phase: Phase) -> None:
        while remaining[0] > 0:
            remaining[0] -= 1  # one event loop: no other client runs between test and take
            phase.samples.append(await self.login())

    async def close(self) -> None:
        await self.http.aclose()


async def run_phase(clients: Sequence[LoginClient], total: int) -> Phase:
    """``total`` logins by ``clients`` in a closed loop: each sends its next when answered."""
    phase = Phase()
    remaining = [total]
    started = time.perf_counter()
    await asyncio.gather(*(client.work(remaining, phase) for client in clients))
    phase.wall_seconds = time.perf_counter() - started
    return phase


# --------------------------------------------------------------------------- report


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _latency_figures(summary: LatencySummary) -> list[Figure]:
    target = f"< {TARGET_MS:.0f} ms"
    return [
        Figure("Latency p50", _ms(summary.p50)),
        Figure("Latency p95", _ms(summary.p95), target, summary.p95 * 1000 < TARGET_MS),
        Figure("Latency p99", _ms(summary.p99), target, summary.p99 * 1000 < TARGET_MS),
        Figure("Latency max", _ms(summary.max)),
        Figure("Latency mean", _ms(summary.mean)),
    ]


def _print_reading(clients: int, throughput: float, capacity: float, threads: int) -> None:
    """What bounds the latency: in a closed loop, mean latency = clients / throughput."""
    if not throughput or not capacity:
        return
    needed = clients / (TARGET_MS / 1000)
    floor_ms = clients / capacity * 1000
    print(
        f"\nReading the figures: {clients} clients in a closed loop make the mean latency "
        f"clients / throughput (Little's law): {clients} / {throughput:.1f} logins/s = "
        f"{clients / throughput * 1000:.0f} ms. A mean under {TARGET_MS:.0f} ms needs at least "
        f"{needed:.0f} logins/s. Hashing alone allows at most {capacity:.0f} logins/s on this "
        f"machine ({threads} threads), a floor of {floor_ms:.0f} ms for the mean"
        + (
            ": as measured in this run, this machine cannot meet the target with these "
            "argon2id parameters, whatever the rest of the login costs."
            if floor_ms >= TARGET_MS
            else "; the rest is the server's own work and queueing."
        )
    )


def _print_failures(failures: Sequence[Sample], sent: int) -> None:
    print(
        f"\nFAILED LOGINS: {len(failures)} of {sent} (baseline, warm-up and measured). "
        "The figures above are not trustworthy."
    )
    for problem, count in Counter(s.problem for s in failures).most_common():
        print(f"  {count:5d} x {problem}")


async def run(args: argparse.Namespace) -> int:
    print(
        f"Login benchmark: {args.clients} concurrent clients, {args.requests} measured logins "
        f"(+{args.warmup} warm-up), PostgreSQL, {args.workers} server worker process(es)"
    )
    async with throwaway_database(args.database_url_base, keep=args.keep_db) as database:
        database_url = database.url
        settings = server_settings(args, database_url)
        apply_fynlo_env(settings)  # this process hashes with the server's parameters
        pg_version = await postgres_version(database_url)
        print("Migrating the throwaway database...", flush=True)
        await migrate(database_url)
        print(
            f"Creating {args.restaurants} restaurant(s) and {args.clients} staff accounts...",
            flush=True,
        )
        seeded = await seed(database_url, args.clients, args.restaurants)
        stored = HashParameters.parse(next(iter(seeded.hashes.values())))

        threads = usable_cpus()
        print(f"Measuring argon2id capacity with {threads} threads...", flush=True)
        capacity = hashing_capacity(threads)

        print("Starting the server and signing in...", flush=True)
        async with running_server(fynlo_env(settings), workers=args.workers) as server:
            clients = [LoginClient(server.url, email) for email in seeded.emails]
            try:
                baseline = await run_phase(clients[:1], args.baseline_requests)
                warmup = await run_phase(clients, args.warmup)
                before = await server_histogram(clients[0].http, LATENCY_METRIC, LOGIN_LABELS)
                measured = await run_phase(clients, args.requests)
                after = await server_histogram(clients[0].http, LATENCY_METRIC, LOGIN_LABELS)
            finally:
                await asyncio.gather(*(client.close() for client in clients))
        rehashed = await rehashed_count(database_url, seeded)

    pool = get_settings()  # the server's settings: same FYNLO_* environment
    print_section("Machine", machine_info(pg_version))
    production = args.argon2_time_cost == _production_default(
        "argon2_time_cost"
    ) and args.argon2_memory_kib == _production_default("argon2_memory_kib")
    hash_cost = summarize(seeded.hash_seconds)
    print_section(
        "Password hashing (read back from a stored hash)",
        [
            ("Algorithm", f"{stored.algorithm}, version {stored.version}"),
            ("Time cost (t)", str(stored.time_cost)),
            ("Memory (m)", f"{stored.memory_kib} KiB ({stored.memory_kib / 1024:.1f} MiB)"),
            ("Parallelism (p)", str(stored.parallelism)),
            (
                "Source",
                "production defaults (Settings: FYNLO_ARGON2_TIME_COST / FYNLO_ARGON2_MEMORY_KIB)"
                if production
                else "OVERRIDDEN on the command line: not the production parameters",
            ),
            (
                "One hash, one thread",
                f"median {_ms(hash_cost.p50)}, max {_ms(hash_cost.max)} "
                f"({hash_cost.count} hashes while seeding, nothing else running)",
            ),
            (
                f"Capacity, {threads} threads",
                f"{capacity:.0f} hashes/s (this machine, before the server started)",
            ),
            ("Rehashed at login", f"{rehashed} (0: server and stored parameters agree)"),
        ],
    )
    print_section(
        "Conditions",
        [
            ("Server", f"fynlo serve (uvicorn), {server.workers} worker process(es), loopback"),
            (
                "Database",
                f"PostgreSQL {pg_version}, throwaway database, connection pool "
                f"{pool.db_pool_size} + {pool.db_max_overflow} overflow",
            ),
            (
                "Clients",
                f"{len(clients)} concurrent, each its own account and keep-alive connection; "
                "closed loop (next login as soon as the previous answers)",
            ),
            (
                "Restaurants",
                f"{args.restaurants} (every login appends to its restaurant's audit chain)",
            ),
            (
                "Rate limits",
                f"raised to {RAISED_LIMIT} (default, login per IP, login per account) so the "
                "run measures sign-in, not the limiter; the limiter still runs (in-process "
                "store, no Redis). Production: 600/minute, 30/minute, 10/minute.",
            ),
            (
                "Shared CPUs",
                f"the load generator, the server and PostgreSQL share this machine's "
                f"{usable_cpus()} CPUs, so client work is inside every latency figure.",
            ),
        ],
    )

    figures = [
        Figure("Server worker processes", str(args.workers)),
        Figure("Concurrent clients", str(args.clients)),
        Figure("Measured logins", str(len(measured.samples))),
        Figure("Failed logins", str(len(measured.failures)), "0", not measured.failures),
        Figure("Throughput", f"{measured.throughput:.1f} logins/s"),
    ]
    if measured.latencies:
        figures += _latency_figures(summarize(measured.latencies))
    if after[1] > before[1]:
        server_mean = (after[0] - before[0]) / (after[1] - before[1])
        figures.append(Figure("Server-side mean (/metrics)", _ms(server_mean)))
    if baseline.latencies:
        alone = summarize(baseline.latencies)
        figures.append(
            Figure("Uncontended (1 client) p50", f"{_ms(alone.p50)} ({alone.count} logins)")
        )
    print_figures(
        f"POST {LOGIN_PATH}: {args.clients} concurrent clients, {measured.wall_seconds:.1f} s",
        figures,
    )

    if not measured.failures:
        _print_reading(args.clients, measured.throughput, capacity, threads)

    if args.keep_db:
        print(f"\nKept the database {database.name}; drop it with:\n  {database.drop_command()}")
    failures = measured.failures + warmup.failures + baseline.failures
    if failures:
        sent = len(measured.samples) + len(warmup.samples) + len(baseline.samples)
        _print_failures(failures, sent)
        return 1
    return targets_verdict(figures, strict=args.strict, targets=f"spec: < {TARGET_MS:.0f} ms")


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
