"""Offline sync: a batch of orders a till took without a connection, each created once.

Each order runs in its own savepoint: one that fails is reported and rolled back alone, the
rest of the batch still lands. The order's id is the till's, so a batch sent again (or by two
connections at once) finds its orders already present instead of creating them twice.

Policy for what changed while the till was offline: prices are the server's. An order whose
``unitPrice`` or modifier prices no longer match the menu is rejected (``price_changed``) for
a manager to re-ring, never charged at a price the menu does not hold. A product deleted
meanwhile rejects its order (``product_unavailable``). Stock and table rules are the same as
for orders taken online.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from fynlo.kit.errors import FynloError
from fynlo.menu.service import InvalidModifierChoice
from fynlo.models import Order
from fynlo.orders.schemas import OfflineOrder, OrderSyncIn, OrderSyncOut, SyncError, SyncResult
from fynlo.orders.service import OrderService, PriceMismatch, ProductUnavailable


def _rejection(error: FynloError) -> SyncError:
    code = error.code
    if isinstance(error, PriceMismatch):
        code = "price_changed"
    elif isinstance(error, ProductUnavailable | InvalidModifierChoice):
        code = "product_unavailable"
    return SyncError(code=code, message=error.message, details=error.details)


async def sync_orders(service: OrderService, body: OrderSyncIn) -> OrderSyncOut:
    found = await service.session.execute(
        select(Order.id, Order.restaurant_id, Order.order_number).where(
            Order.id.in_({o.id for o in body.orders})
        )
    )
    known = {row.id: _known(service, row.id, row.restaurant_id, row.order_number) for row in found}
    results: list[SyncResult] = []
    for offline in body.orders:
        result = known.get(offline.id) or await _sync_one(service, offline, body)
        if result.status == "created":  # the same id twice in one batch
            known[offline.id] = _known(
                service, offline.id, service.restaurant.id, result.order_number
            )
        results.append(result)
    return OrderSyncOut(
        results=results,
        created=sum(r.status == "created" for r in results),
        already_present=sum(r.status == "already_present" for r in results),
        rejected=sum(r.status == "rejected" for r in results),
    )


def _id_in_use(order_id: uuid.UUID) -> SyncResult:
    return SyncResult(
        id=order_id,
        status="rejected",
        error=SyncError(code="id_in_use", message="This order id is already in use"),
    )


def _known(
    service: OrderService,
    order_id: uuid.UUID,
    restaurant_id: uuid.UUID,
    order_number: str | None,
) -> SyncResult:
    if restaurant_id != service.restaurant.id:
        return _id_in_use(order_id)
    return SyncResult(id=order_id, status="already_present", order_number=order_number)


async def _existing(service: OrderService, offline: OfflineOrder) -> SyncResult | None:
    found = await service.session.execute(
        select(Order.restaurant_id, Order.order_number).where(Order.id == offline.id)
    )
    row = found.first()
    return None if row is None else _known(service, offline.id, *row)


async def _sync_one(service: OrderService, offline: OfflineOrder, body: OrderSyncIn) -> SyncResult:
    savepoint = await service.session.begin_nested()
    try:
        order = await service.create(
            offline,
            order_id=offline.id,
            source="offline_sync",
            device_id=body.device_id or service.subject.device_id,
            client_created_at=offline.created_at,
        )
        await service.session.flush()
    except FynloError as error:
        await savepoint.rollback()
        return SyncResult(id=offline.id, status="rejected", error=_rejection(error))
    except IntegrityError:
        await savepoint.rollback()
        # Another connection created it a moment ago, or (invisible to this tenant) the id
        # belongs to another restaurant's order.
        return await _existing(service, offline) or _id_in_use(offline.id)
    await savepoint.commit()
    return SyncResult(id=offline.id, status="created", order_number=order.order_number)
