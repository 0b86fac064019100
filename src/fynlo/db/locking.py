"""Row locking that means the same on both databases."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

S = TypeVar("S", bound=Select[Any])


def lock_for_update(statement: S) -> S:
    """``SELECT ... FOR UPDATE`` on PostgreSQL.

    SQLite ignores ``FOR UPDATE``; there the whole write transaction already holds the
    database lock because write requests begin with ``BEGIN IMMEDIATE``.
    """
    return statement.with_for_update()


# PostgreSQL's queue behind a text key (bound as ``key``): a transaction-scoped advisory
# lock, released at commit or rollback. A statement of its own, or a subquery of another.
QUEUE_LOCK = select(func.pg_advisory_xact_lock(func.hashtextextended(bindparam("key"), 0)))


async def serialise(session: AsyncSession, key: str) -> None:
    """Queue this transaction behind any other holding ``key`` until it ends.

    For checks that row locks cannot cover (a row about to be inserted, a uniqueness rule
    over many rows). PostgreSQL: a transaction-scoped advisory lock. SQLite write
    transactions already hold the database lock (they begin with ``BEGIN IMMEDIATE``).
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(QUEUE_LOCK, {"key": key})
