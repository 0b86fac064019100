"""The stock ledger: every change is an appended movement; the level follows atomically.

A movement and the new level are written in the caller's transaction. The levels are
changed with one conditional ``UPDATE ... SET current = current + delta [WHERE current +
delta >= 0] RETURNING`` for all the products of an order, so concurrent sales cannot both
take the last unit, on PostgreSQL (row locks taken by the update) and on SQLite (write
transactions hold the database lock).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, bindparam, case, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningUpdate
from sqlalchemy.sql.elements import Case

from fynlo.db.types import utc_now
from fynlo.events.outbox import emit
from fynlo.kit.errors import Conflict
from fynlo.models import InventoryItem, ReorderRequest, StockMovement
from fynlo.models.inventory import MILLI


class OutOfStock(Conflict):
    code = "out_of_stock"

    def __init__(self, product_id: uuid.UUID, name: str, wanted: int, available: int) -> None:
        super().__init__(
            f"Not enough stock of '{name}': {format_quantity(wanted)} wanted, "
            f"{format_quantity(max(available, 0))} left",
            details={
                "productId": str(product_id),
                "requested": wanted / MILLI,
                "available": max(available, 0) / MILLI,
            },
        )


def format_quantity(milli: int) -> str:
    return f"{milli / MILLI:g}"


@dataclass(frozen=True)
class Movement:
    product_id: uuid.UUID
    delta_milli: int
    kind: str
    order_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    reason: str | None = None


NO_FLOOR = -(2**62)  # the floor of a product allowed to go negative


@cache
def _stock_update(count: int, *, restock: bool) -> ReturningUpdate[Any]:
    """``UPDATE inventory`` of ``count`` products, built once per shape (building a statement
    costs more CPU than running it). Parameters: ``tenant`` (restaurant id); per product ``p<i>``
    (id), ``d<i>`` (delta) and ``f<i>`` (the level it may not go below)."""
    products = [bindparam(f"p{i}", type_=InventoryItem.product_id.type) for i in range(count)]

    def per_product(name: str) -> Case[Any]:
        return case(
            *[
                (InventoryItem.product_id == pid, bindparam(f"{name}{i}", type_=BigInteger))
                for i, pid in enumerate(products)
            ]
        )

    delta = per_product("d")
    scoped = [
        InventoryItem.restaurant_id == bindparam("tenant"),
        InventoryItem.product_id.in_(products),
    ]
    condition = [*scoped, InventoryItem.current_stock_milli + delta >= per_product("f")]
    if count > 1:
        # Rows locked in one order (product id) by every multi-product movement, so two
        # orders sharing products queue instead of deadlocking (SQLite has no FOR UPDATE
        # and needs none: a write transaction holds the whole database).
        condition.append(
            InventoryItem.id.in_(
                select(InventoryItem.id)
                .where(*scoped)
                .order_by(InventoryItem.product_id)
                .with_for_update()
                .scalar_subquery()
            )
        )
    values: dict[str, Any] = {"current_stock_milli": InventoryItem.current_stock_milli + delta}
    if restock:
        values["last_restocked"] = bindparam("restocked_at")
    return (
        update(InventoryItem)
        .where(*condition)
        .values(**values)
        .returning(InventoryItem)
        .execution_options(synchronize_session=False, populate_existing=True)
    )


async def apply(
    session: AsyncSession,
    restaurant_id: uuid.UUID,
    movement: Movement,
    *,
    allow_negative: bool,
    product_name: str = "",
) -> StockMovement | None:
    """Record ``movement``; None if the product's stock is not tracked (no inventory row).

    Raises :class:`OutOfStock` when a decrease would go below zero and the restaurant
    refuses to oversell.
    """
    entries = await apply_many(
        session,
        restaurant_id,
        [movement],
        allow_negative=allow_negative,
        names={movement.product_id: product_name},
    )
    return entries[0] if entries else None


async def apply_many(
    session: AsyncSession,
    restaurant_id: uuid.UUID,
    movements: Sequence[Movement],
    *,
    allow_negative: bool,
    names: Mapping[uuid.UUID, str],
) -> list[StockMovement]:
    """Record movements of one kind on distinct products: one UPDATE, one INSERT.

    Returns the movements written, in product order; products without an inventory row are
    not stock-tracked and are left out. Raises :class:`OutOfStock` for the first product a
    decrease would take below zero when the restaurant refuses to oversell.
    """
    if not movements:
        return []
    deltas = {m.product_id: m.delta_milli for m in movements}
    kinds = {m.kind for m in movements}
    if len(deltas) != len(movements) or len(kinds) != 1:
        raise ValueError("apply_many takes one movement per product, all of one kind")
    (kind,) = kinds
    # Pending changes to the inventory rows (an earlier movement's alert flag, a caller's
    # settings) would otherwise be overwritten when the rows are reloaded below.
    await session.flush()
    order = sorted(deltas, key=str)
    params: dict[str, object] = {"tenant": restaurant_id}
    for index, pid in enumerate(order):
        params[f"p{index}"] = pid
        params[f"d{index}"] = deltas[pid]
        guarded = deltas[pid] < 0 and not allow_negative
        params[f"f{index}"] = 0 if guarded else NO_FLOOR
    statement = _stock_update(len(order), restock=kind == "restock")
    if kind == "restock":
        params["restocked_at"] = utc_now()
    # RETURNING the rows refreshes the session's copies: the reorder check needs no re-read.
    updated = {item.product_id: item for item in await session.scalars(statement, params)}
    missing = [pid for pid in order if pid not in updated]
    if missing:
        rows = await session.execute(
            select(InventoryItem.product_id, InventoryItem.current_stock_milli).where(
                InventoryItem.restaurant_id == restaurant_id,
                InventoryItem.product_id.in_(missing),
            )
        )
        levels: dict[uuid.UUID, int] = dict(rows.all())
        for pid in missing:
            if pid in levels:  # tracked, so refused for want of stock
                raise OutOfStock(pid, names.get(pid, ""), -deltas[pid], levels[pid])
    by_product = {m.product_id: m for m in movements}
    entries = []
    for pid in order:
        item = updated.get(pid)
        if item is None:
            continue  # not stock-tracked
        movement = by_product[pid]
        entry = StockMovement(
            id=uuid.uuid4(),
            restaurant_id=restaurant_id,
            product_id=pid,
            kind=kind,
            quantity_milli=movement.delta_milli,
            balance_after_milli=item.current_stock_milli,
            order_id=movement.order_id,
            user_id=movement.user_id,
            reason=movement.reason,
        )
        entries.append(entry)
        _check_reorder_point(session, item, item.current_stock_milli, names.get(pid, ""))
    session.add_all(entries)
    return entries


async def watch_reorder_point(
    session: AsyncSession, inventory_id: uuid.UUID, balance: int, product_name: str
) -> None:
    """One alert per crossing of the reorder point (and an automatic reorder if enabled).

    Also called after the reorder point or minimum changes: moving the threshold over the
    level is a crossing too.
    """
    await session.flush()
    item = await session.get(InventoryItem, inventory_id, populate_existing=True)
    assert item is not None
    _check_reorder_point(session, item, balance, product_name)


def _check_reorder_point(
    session: AsyncSession, item: InventoryItem, balance: int, product_name: str
) -> None:
    threshold = (
        item.reorder_point_milli
        if item.reorder_point_milli is not None
        else item.minimum_stock_milli
    )
    low = balance <= threshold
    if low and not item.low_stock_alerted:
        item.low_stock_alerted = True
        emit(
            session,
            item.restaurant_id,
            "inventory_alert",
            {
                "productId": str(item.product_id),
                "productName": product_name,
                "currentStock": balance / MILLI,
                "reorderPoint": threshold / MILLI,
                "unit": item.unit,
                "level": "out_of_stock" if balance <= 0 else "low_stock",
            },
        )
        if item.auto_reorder:
            session.add(reorder_request(item, automatic=True, user_id=None))
    elif not low and item.low_stock_alerted:
        item.low_stock_alerted = False


def reorder_request(
    item: InventoryItem,
    *,
    automatic: bool,
    user_id: uuid.UUID | None,
    quantity_milli: int | None = None,
    notes: str | None = None,
) -> ReorderRequest:
    """A request to the supplier on file; the default quantity refills to the maximum."""
    if quantity_milli is None:
        if item.reorder_quantity_milli:
            quantity_milli = item.reorder_quantity_milli
        elif item.maximum_stock_milli is not None:
            quantity_milli = max(item.maximum_stock_milli - item.current_stock_milli, MILLI)
        else:
            quantity_milli = max(item.minimum_stock_milli * 2 - item.current_stock_milli, MILLI)
    return ReorderRequest(
        id=uuid.uuid4(),
        restaurant_id=item.restaurant_id,
        product_id=item.product_id,
        quantity_milli=quantity_milli,
        supplier_name=item.supplier_name,
        supplier_contact=dict(item.supplier_contact or {}),
        automatic=automatic,
        requested_by=user_id,
        notes=notes,
    )
