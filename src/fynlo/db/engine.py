"""Engines and sessions for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from fynlo.config import Settings

# SQLite has no row locks: a transaction that will write takes the database write lock up
# front (BEGIN IMMEDIATE) instead of failing with SQLITE_BUSY when it upgrades from a read.
_sqlite_begin_immediate: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "fynlo_sqlite_begin_immediate", default=False
)


def dialect_of(url: str | URL) -> str:
    return make_url(url).get_backend_name()


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _sqlite_begin_immediate.get() else "BEGIN")


def create_engine(settings: Settings, *, database_url: str | None = None) -> AsyncEngine:
    url = make_url(database_url or settings.database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(
            url,
            echo=settings.db_echo,
            connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000},
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_seconds,
        )
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        return engine
    return create_async_engine(
        url,
        echo=settings.db_echo,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_pre_ping=True,
        connect_args={"server_settings": {"application_name": "fynlo", "timezone": "UTC"}},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def write_intent() -> AsyncIterator[None]:
    """Transactions begun inside this block take the SQLite write lock at BEGIN.

    On PostgreSQL this changes nothing: there, callers lock the rows they change with
    ``SELECT ... FOR UPDATE`` (see :func:`fynlo.db.locking.lock_for_update`).
    """
    token = _sqlite_begin_immediate.set(True)
    try:
        yield
    finally:
        _sqlite_begin_immediate.reset(token)


def set_write_intent(value: bool) -> contextvars.Token[bool]:
    return _sqlite_begin_immediate.set(value)


def reset_write_intent(token: contextvars.Token[bool]) -> None:
    _sqlite_begin_immediate.reset(token)
