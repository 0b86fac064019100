"""The stock ledger: every change is an appended movement; the level follows atomically.

A movement and the new level are written in the caller's transaction. The level is changed
with one conditional ``UPDATE ... SET current = current + delta [WHERE current + delta >= 0]
RETURNING``, so concurrent sales cannot both take the last unit, on PostgreSQL (row lock
taken by the update) and on SQLite (write transactions hold the database lock).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

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
    # Pending changes to the inventory row (an earlier movement's alert flag, a caller's
    # settings) would otherwise be overwritten when the row is reloaded below.
    await session.flush()
    condition = [
        InventoryItem.restaurant_id == restaurant_id,
        InventoryItem.product_id == movement.product_id,
    ]
    guarded = movement.delta_milli < 0 and not allow_negative
    if guarded:
        condition.append(InventoryItem.current_stock_milli + movement.delta_milli >= 0)
    values: dict[str, object] = {
        "current_stock_milli": InventoryItem.current_stock_milli + movement.delta_milli
    }
    if movement.kind == "restock":
        values["last_restocked"] = utc_now()
    # RETURNING the row refreshes the session's copy: the reorder check needs no re-read.
    item = await session.scalar(
        update(InventoryItem)
        .where(*condition)
        .values(**values)
        .returning(InventoryItem)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    if item is None:
        current = await session.scalar(
            select(InventoryItem.current_stock_milli).where(*condition[:2])
        )
        if current is None:
            return None  # not stock-tracked
        raise OutOfStock(movement.product_id, product_name, -movement.delta_milli, current)
    balance = item.current_stock_milli
    entry = StockMovement(
        id=uuid.uuid4(),
        restaurant_id=restaurant_id,
        product_id=movement.product_id,
        kind=movement.kind,
        quantity_milli=movement.delta_milli,
        balance_after_milli=balance,
        order_id=movement.order_id,
        user_id=movement.user_id,
        reason=movement.reason,
    )
    session.add(entry)
    _check_reorder_point(session, item, balance, product_name)
    return entry


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
