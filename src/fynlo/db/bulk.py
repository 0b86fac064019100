"""Inserting new rows on hot paths without the unit of work's per-object bookkeeping."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, cast

from sqlalchemy import Column, insert, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.sql.dml import Insert

from fynlo.db.base import Base, table_of


def _default(column: Column[Any]) -> Any:
    default = column.default
    if default is None:
        if column.server_default is not None:
            raise ValueError(f"{column} has only a server-side default: set it before inserting")
        return None
    if default.is_scalar:
        return default.arg  # type: ignore[attr-defined]
    if default.is_callable:
        # SQLAlchemy wraps a zero-argument default as ``lambda ctx: fn()``.
        return default.arg(None)  # type: ignore[attr-defined]
    raise ValueError(f"{column} has a SQL-expression default: set it before inserting")


@cache
def _columns(model: type[Base]) -> tuple[tuple[str, Column[Any]], ...]:
    """(attribute, column) of every mapped column of ``model``, read once per model."""
    return tuple(
        (prop.key, cast(Column[Any], prop.columns[0])) for prop in inspect(model).column_attrs
    )


@cache
def _insert(model: type[Base]) -> Insert:
    return insert(table_of(model))


def _rows(instances: Sequence[Base]) -> list[dict[str, Any]]:
    model = type(instances[0])
    columns = _columns(model)
    rows = []
    for instance in instances:
        if type(instance) is not model:
            raise TypeError("each group of insert_as_loaded holds objects of one model")
        loaded = instance.__dict__
        row = {}
        for key, column in columns:
            if key not in loaded:
                setattr(instance, key, _default(column))
            row[column.key] = loaded[key]
        rows.append(row)
    return rows


async def insert_as_loaded(session: AsyncSession, *groups: Sequence[Base]) -> None:
    """Insert new objects, one Core statement per group (each of one model, in the order
    given: parents first), then put them all in the session as if just loaded.

    The ORM flush of an order and its items costs several times the round trips it makes;
    this path costs about the round trips. Every column attribute is set first (from the
    object, or the column's Python default), so nothing is expired and no lazy load can
    follow; later changes to the objects are flushed as usual updates. Related new objects
    (an order's items) go in the same call, or adding the parent would cascade them into the
    session as pending and insert them twice. Rows must not refer to rows still pending in
    the session: flush those first.
    """
    groups = tuple(group for group in groups if group)
    for group in groups:
        await session.execute(_insert(type(group[0])), _rows(group))
    for group in groups:
        for instance in group:
            make_transient_to_detached(instance)
    for group in groups:
        session.add_all(group)
