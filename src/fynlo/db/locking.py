"""Row locking that means the same on both databases."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select

S = TypeVar("S", bound=Select[Any])


def lock_for_update(statement: S) -> S:
    """``SELECT ... FOR UPDATE`` on PostgreSQL.

    SQLite ignores ``FOR UPDATE``; there the whole write transaction already holds the
    database lock because write requests begin with ``BEGIN IMMEDIATE``.
    """
    return statement.with_for_update()
