"""``INSERT ... ON CONFLICT`` on both backends: each dialect's own ``insert`` construct."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

ConflictInsert = Callable[[Any], postgresql.Insert | sqlite.Insert]


def conflict_insert(dialect: str) -> ConflictInsert:
    """The ``insert`` with ``on_conflict_do_nothing`` / ``_do_update`` for ``dialect``."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def conflict_insert_for(session: AsyncSession) -> ConflictInsert:
    return conflict_insert(session.get_bind().dialect.name)
