"""Test harness: a real database per xdist worker (PostgreSQL or SQLite), migrated once.

``FYNLO_TEST_DB=postgresql|sqlite`` picks the backend; the README's test command runs the
suite once on each. PostgreSQL and Redis must be reachable: an unreachable service fails
the run with a message (never a silent skip).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

BACKEND = os.environ.get("FYNLO_TEST_DB", "postgresql")
if BACKEND not in ("postgresql", "sqlite"):
    raise SystemExit(f"FYNLO_TEST_DB must be 'postgresql' or 'sqlite', not {BACKEND!r}")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
# Workers inherit the controller's environment, so one run shares one id and two runs
# side by side (two developers, two helpers) never touch each other's databases.
RUN_ID = os.environ.setdefault("FYNLO_TEST_RUN_ID", str(os.getpid()))
PG_ADMIN_URL = os.environ.get("FYNLO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("FYNLO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
_TMP = Path(tempfile.mkdtemp(prefix=f"fynlo-test-{WORKER}-"))

if BACKEND == "postgresql":
    _pg = urlparse(PG_ADMIN_URL)
    TEST_DB_NAME = f"fynlo_test_{RUN_ID}_{WORKER}"
    DATABASE_URL = (
        f"postgresql+asyncpg://{_pg.username or 'postgres'}@{_pg.hostname}:{_pg.port or 5432}"
        f"/{TEST_DB_NAME}"
    )
else:
    DATABASE_URL = f"sqlite+aiosqlite:///{_TMP / 'fynlo.db'}"

# Settings are read from the environment by get_settings(); set them before fynlo imports.
os.environ.update(
    {
        "FYNLO_ENVIRONMENT": "test",
        "FYNLO_DATABASE_URL": DATABASE_URL,
        "FYNLO_JWT_SECRET": "test-jwt-secret-" + "x" * 40,
        "FYNLO_JWT_REFRESH_SECRET": "test-refresh-secret-" + "y" * 40,
        "FYNLO_DATA_ENCRYPTION_KEY": "test-data-key-" + "z" * 40,
        "FYNLO_QR_SIGNING_KEY": "test-qr-key-" + "q" * 40,
        "FYNLO_RATE_LIMIT_DEFAULT": "",
        # every test signs in from 127.0.0.1; the per-account limit stays as in production
        "FYNLO_LOGIN_RATE_LIMIT_IP": "100000/minute",
        "FYNLO_ARGON2_TIME_COST": "1",
        "FYNLO_ARGON2_MEMORY_KIB": "1024",
        "FYNLO_LOG_LEVEL": "WARNING",
        # The shared app runs no background loops; tests/realtime starts servers that do.
        "FYNLO_BACKGROUND_WORK": "false",
    }
)
os.environ.pop("FYNLO_REDIS_URL", None)

import httpx  # noqa: E402
from asgi_lifespan import LifespanManager  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession  # noqa: E402

from fynlo.app import create_app  # noqa: E402
from fynlo.config import Settings, get_settings  # noqa: E402
from fynlo.db.engine import create_engine, create_sessionmaker  # noqa: E402
from fynlo.db.migrate import upgrade  # noqa: E402
from fynlo.models import Base  # noqa: E402
from tests.world import World, build_world  # noqa: E402

# The card-number scan of the database and logs (payments issue): hooks in tests/card_scan.py.
pytest_plugins = ("tests.card_scan",)


def _fail_unreachable(service: str, url: str, error: Exception) -> None:
    pytest.exit(
        f"{service} is not reachable at {url} ({error}). The test suite needs it: start it "
        "(see DESIGN.md section 6 or .ci/run) and run again.",
        returncode=3,
    )


def _port_open(host: str, port: int) -> Exception | None:
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as exc:
        return exc


def _admin_sql(*statements: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    try:
        asyncio.run(run())
    except (OSError, asyncpg.PostgresError) as exc:
        _fail_unreachable("PostgreSQL", PG_ADMIN_URL, exc)


def _prepare_postgres() -> None:
    _admin_sql(
        f'DROP DATABASE IF EXISTS "{TEST_DB_NAME}" WITH (FORCE)',
        f'CREATE DATABASE "{TEST_DB_NAME}"',
    )


def _owns_database(config: pytest.Config) -> bool:
    """xdist workers (or a run without xdist) own a database; the xdist controller does not."""
    return hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    if BACKEND == "postgresql" and _owns_database(config):
        _admin_sql(f'DROP DATABASE IF EXISTS "{TEST_DB_NAME}" WITH (FORCE)')


def pytest_configure(config: pytest.Config) -> None:
    if BACKEND == "postgresql" and _owns_database(config):
        _prepare_postgres()
    redis = urlparse(REDIS_URL)
    error = _port_open(redis.hostname or "127.0.0.1", redis.port or 6379)
    if error is not None:
        _fail_unreachable("Redis", REDIS_URL, error)


def pytest_report_header(config: pytest.Config) -> str:
    return f"fynlo test database: {BACKEND} ({DATABASE_URL})"


@pytest.fixture(scope="session")
def settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture(scope="session")
def backend() -> str:
    return BACKEND


@pytest.fixture(scope="session")
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Every test starts from empty tables (real commits happen, so no rollback trick)."""
    yield
    if "engine" not in request.fixturenames:
        return
    engine: AsyncEngine = request.getfixturevalue("engine")
    from tests.card_scan import scan_before_cleanup  # imported here: a plugin, see above

    # Card-number scan: read every row just before it goes (tests/card_scan.py).
    await scan_before_cleanup(engine, request.node)
    async with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())
        for extra in getattr(request.node, "extra_tables", ()):
            await conn.execute(text(f"DELETE FROM {extra}"))  # noqa: S608 - test-owned names


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with create_sessionmaker(engine)() as session:
        yield session


@pytest.fixture(scope="session")
async def app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


def make_client(app: FastAPI, **kwargs: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(
        app=app,
        raise_app_exceptions=False,
        client=kwargs.pop("client", ("127.0.0.1", 50000)),  # type: ignore[arg-type]
    )
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(app) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A real uvicorn process serving the app on a loopback port."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(_TMP / f"server-{self.port}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fynlo.cli", "serve", "--port", str(self.port)],
            # INFO lines as JSON, as in production, for the card-number scan of server-*.log.
            env={**os.environ, "FYNLO_LOG_LEVEL": "INFO", "FYNLO_LOG_JSON": "true", **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early; see {self._log.name}")
            if _port_open("127.0.0.1", self.port) is None:
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start within 30 s; see {self._log.name}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


@pytest.fixture(scope="session")
def live_server(engine: AsyncEngine) -> Iterator[LiveServer]:
    server = LiveServer({})
    yield server
    server.stop()


@pytest.fixture
async def world(session: AsyncSession) -> World:
    """Two owners' restaurants (A1, A2 of one owner; B of another) and a user of each role."""
    return await build_world(session)
