"""Inserting new rows on hot paths without the unit of work's per-object bookkeeping."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, lru_cache
from typing import Any, cast

from sqlalchemy import Column, Dialect, insert, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.sql.dml import Insert

from fynlo.db.base import Base, table_of

# PostgreSQL's limit on a statement's parameters; a bigger write goes in one per table.
MAX_PARAMETERS = 32767

Processor = Callable[[Any], Any] | None


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


@lru_cache(maxsize=256)
def _one_statement(
    dialect: Dialect, shape: tuple[tuple[type[Base], int], ...]
) -> tuple[str, tuple[Processor, ...]]:
    """The SQL inserting ``count`` rows of each model in one statement (PostgreSQL: each
    table but the last in a data-modifying ``WITH``; foreign keys are checked at the end
    of the statement, so the order does not matter), and each parameter's bind processor.
    Cached per shape: an order of three items always sends the same text."""
    quote = dialect.identifier_preparer
    inserts: list[str] = []
    processors: list[Processor] = []
    for model, count in shape:
        columns = [column for _, column in _columns(model)]
        names = ", ".join(quote.format_column(column) for column in columns)
        row_processors = [column.type._cached_bind_processor(dialect) for column in columns]
        values = []
        for _ in range(count):
            start = len(processors)
            values.append("(" + ", ".join(f"${start + i + 1}" for i in range(len(columns))) + ")")
            processors += row_processors
        table = quote.format_table(table_of(model))
        inserts.append(f"INSERT INTO {table} ({names}) VALUES {', '.join(values)}")  # noqa: S608 - names from the metadata, values are parameters
    *first, last = inserts
    ctes = ", ".join(f"fynlo_insert_{n} AS ({sql})" for n, sql in enumerate(first))
    return (f"WITH {ctes} {last}" if ctes else last), tuple(processors)


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
    """Insert new objects, grouped by model (parents first), then put them all in the
    session as if just loaded. On PostgreSQL every group goes in one statement; elsewhere
    (or past the parameter limit) one Core statement per group, in the order given.

    The ORM flush of an order and its items costs several times the round trips it makes;
    this path costs about the round trips. Every column attribute is set first (from the
    object, or the column's Python default), so nothing is expired and no lazy load can
    follow; later changes to the objects are flushed as usual updates. Related new objects
    (an order's items) go in the same call, or adding the parent would cascade them into the
    session as pending and insert them twice. Rows must not refer to rows still pending in
    the session: flush those first.
    """
    groups = tuple(group for group in groups if group)
    if not groups:
        return
    rows = [_rows(group) for group in groups]
    dialect = session.get_bind().dialect
    parameters = sum(len(group) * len(_columns(type(group[0]))) for group in groups)
    # The one-statement text numbers its parameters $1, $2, ... as asyncpg expects.
    if dialect.paramstyle == "numeric_dollar" and parameters <= MAX_PARAMETERS:
        shape = tuple((type(group[0]), len(group)) for group in groups)
        sql, processors = _one_statement(dialect, shape)
        values = [value for group_rows in rows for row in group_rows for value in row.values()]
        bound = tuple(
            value if process is None else process(value)
            for process, value in zip(processors, values, strict=True)
        )
        await (await session.connection()).exec_driver_sql(sql, bound)
    else:
        for group, group_rows in zip(groups, rows, strict=True):
            await session.execute(_insert(type(group[0])), group_rows)
    for group in groups:
        for instance in group:
            make_transient_to_detached(instance)
    for group in groups:
        session.add_all(group)


def take_pending(session: AsyncSession, *models: type[Base]) -> list[list[Base]]:
    """The session's new, unflushed objects of ``models`` (a group per model, in the order
    given), taken out of the session so that :func:`insert_as_loaded` can write them with
    the caller's own rows. Only for models whose foreign keys are set as plain ids, not
    through relationships (those are filled in by the flush)."""
    groups: list[list[Base]] = [[] for _ in models]
    for instance in session.new:
        if type(instance) in models:
            groups[models.index(type(instance))].append(instance)
    for group in groups:
        for instance in group:
            session.expunge(instance)
    return groups
