"""Rules for the floor: the floor plan, table status, waiters, moving and merging orders.

Berry's flow: an order at a table makes it occupied; once no open order remains there
(paid, completed or cancelled), the table is free again. The module-level functions at
the end are what the orders code calls; they take the request's session and never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import AuditActor, record
from fynlo.auth.subject import Subject
from fynlo.authz.permissions import effective_permissions
from fynlo.db.locking import lock_for_update
from fynlo.events.outbox import emit
from fynlo.floor.schemas import (
    MergeTables,
    MoveOrders,
    TableCreate,
    TableStatusChange,
    TableUpdate,
    WaiterAssignment,
)
from fynlo.floor.state import TableStatus, check_transition
from fynlo.kit.errors import (
    AlreadyExists,
    Conflict,
    ResourceNotFound,
    StaleVersion,
    Unprocessable,
)
from fynlo.kit.pagination import PageParams
from fynlo.models import DiningTable, Order, Restaurant, User, restaurant_owners

CLOSED_ORDER_STATUSES = ("completed", "cancelled")
# Tables that cannot take orders: someone else is expected, or it is being cleaned.
UNSEATABLE = (TableStatus.RESERVED, TableStatus.CLEANING)

OpenOrderRow = Row[uuid.UUID, str, str, int, str]


def _is_open() -> ColumnElement[bool]:
    return Order.status.not_in(CLOSED_ORDER_STATUSES)


def table_view(table: DiningTable) -> dict[str, Any]:
    """The table as events and audit rows show it (JSON-ready)."""
    return {
        "tableId": str(table.id),
        "number": table.number,
        "seats": table.seats,
        "section": table.section,
        "status": table.status,
        "waiterId": str(table.waiter_id) if table.waiter_id else None,
        "isActive": table.is_active,
        "version": table.version,
    }


def _emit_table(session: AsyncSession, table: DiningTable) -> None:
    emit(session, table.restaurant_id, "table_updated", table_view(table))


async def _audit(
    session: AsyncSession,
    actor: AuditActor,
    action: str,
    table: DiningTable,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None = None,
) -> None:
    await record(
        session,
        actor,
        action=action,
        resource_type="table",
        resource_id=table.id,
        restaurant_id=table.restaurant_id,
        old=old,
        new=new if new is not None else table_view(table),
    )


def _set_status(table: DiningTable, status: TableStatus) -> None:
    table.status = status.value
    table.version += 1


async def open_orders_at(
    session: AsyncSession, restaurant_id: uuid.UUID, table_id: uuid.UUID
) -> list[OpenOrderRow]:
    """``(id, order_number, status, total_minor, currency)`` of the table's open orders."""
    result = await session.execute(
        select(Order.id, Order.order_number, Order.status, Order.total_minor, Order.currency)
        .where(Order.restaurant_id == restaurant_id, Order.table_id == table_id, _is_open())
        .order_by(Order.created_at, Order.id)
    )
    return list(result.all())


def _open_orders_conflict(
    table: DiningTable, orders: Sequence[OpenOrderRow], doing: str
) -> Conflict:
    numbers = ", ".join(o.order_number for o in orders)
    return Conflict(
        f"Table {table.number} has open orders ({numbers}); complete, cancel or move them "
        f"before {doing}",
        details={
            "tableId": str(table.id),
            "openOrders": [{"id": str(o.id), "orderNumber": o.order_number} for o in orders],
        },
    )


def _unseatable_conflict(table: DiningTable) -> Conflict:
    return Conflict(
        f"Table {table.number} is {table.status} and cannot take orders",
        details={"tableId": str(table.id), "status": table.status},
    )


async def _lock_table(
    session: AsyncSession, restaurant_id: uuid.UUID, table_id: uuid.UUID
) -> DiningTable | None:
    return await session.scalar(
        lock_for_update(
            select(DiningTable).where(
                DiningTable.id == table_id, DiningTable.restaurant_id == restaurant_id
            )
        ).execution_options(populate_existing=True)
    )


@dataclass
class FloorService:
    """The floor of one restaurant, as seen by one caller."""

    session: AsyncSession
    subject: Subject
    restaurant: Restaurant

    def _mine(self) -> ColumnElement[bool]:
        return DiningTable.restaurant_id == self.restaurant.id

    async def list_tables(
        self,
        params: PageParams,
        *,
        status: TableStatus | None,
        section: str | None,
        waiter_id: uuid.UUID | None,
        is_active: bool,
    ) -> tuple[list[DiningTable], int]:
        query = select(DiningTable).where(self._mine(), DiningTable.is_active == is_active)
        if status is not None:
            query = query.where(DiningTable.status == status.value)
        if section is not None:
            query = query.where(DiningTable.section == section)
        if waiter_id is not None:
            query = query.where(DiningTable.waiter_id == waiter_id)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(
            # "2" before "10": shorter numbers first, then alphabetical.
            query.order_by(func.length(DiningTable.number), DiningTable.number, DiningTable.id)
            .limit(params.limit)
            .offset(params.offset)
        )
        return list(rows), total

    async def get(self, table_id: uuid.UUID, *, lock: bool = False) -> DiningTable:
        if lock:
            table = await _lock_table(self.session, self.restaurant.id, table_id)
        else:
            table = await self.session.scalar(
                select(DiningTable).where(DiningTable.id == table_id, self._mine())
            )
        if table is None:
            raise ResourceNotFound("Table", table_id)
        return table

    async def detail(self, table_id: uuid.UUID) -> tuple[DiningTable, list[OpenOrderRow]]:
        table = await self.get(table_id)
        return table, await open_orders_at(self.session, self.restaurant.id, table.id)

    async def _number_free(self, number: str, except_id: uuid.UUID | None = None) -> None:
        existing = await self.session.scalar(
            select(DiningTable).where(self._mine(), DiningTable.number == number)
        )
        if existing is None or existing.id == except_id:
            return
        hint = "" if existing.is_active else " (deactivated: reactivate it with isActive true)"
        raise AlreadyExists(f"Table {number} already exists{hint}", ["number"])

    async def create(self, body: TableCreate) -> DiningTable:
        await self._number_free(body.number)
        table = DiningTable(
            id=uuid.uuid4(),
            restaurant_id=self.restaurant.id,
            number=body.number,
            seats=body.seats,
            section=body.section,
            status=TableStatus.AVAILABLE.value,
            is_active=True,
            version=1,
        )
        self.session.add(table)
        await self.session.flush()
        await _audit(self.session, self.subject.actor, "table.created", table, None)
        _emit_table(self.session, table)
        return table

    @staticmethod
    def _check_version(table: DiningTable, version: int | None) -> None:
        if version is not None and version != table.version:
            raise StaleVersion("Table", version, table.version)

    async def update(self, table_id: uuid.UUID, body: TableUpdate) -> DiningTable:
        changes = body.model_dump(exclude_unset=True, exclude={"version"}, by_alias=False)
        for field in ("number", "seats", "is_active"):
            if field in changes and changes[field] is None:
                raise Unprocessable(
                    f"{field} cannot be null",
                    details=[{"field": _camel(field), "message": "cannot be null"}],
                )
        if "number" in changes:
            # Open orders carry the number too; lock them before the table, as moves do.
            await self._lock_open_orders(table_id, None)
        table = await self.get(table_id, lock=True)
        self._check_version(table, body.version)
        if "number" in changes and changes["number"] != table.number:
            await self._number_free(changes["number"], table.id)
        if changes.get("is_active") is False and table.is_active:
            await self._refuse_if_open(table, "deactivating it")
        changes = {k: v for k, v in changes.items() if getattr(table, k) != v}
        if not changes:
            return table
        old = table_view(table)
        for key, value in changes.items():
            setattr(table, key, value)
        table.version += 1
        await self.session.flush()
        if "number" in changes:
            await self.session.execute(
                update(Order)
                .where(Order.restaurant_id == table.restaurant_id, Order.table_id == table.id)
                .where(_is_open())
                .values(table_number=table.number, version=Order.version + 1)
                .execution_options(synchronize_session=False)
            )
        await _audit(self.session, self.subject.actor, "table.updated", table, old)
        _emit_table(self.session, table)
        return table

    async def _refuse_if_open(self, table: DiningTable, doing: str) -> None:
        orders = await open_orders_at(self.session, self.restaurant.id, table.id)
        if orders:
            raise _open_orders_conflict(table, orders, doing)

    async def deactivate(self, table_id: uuid.UUID) -> DiningTable:
        table = await self.get(table_id, lock=True)
        if not table.is_active:
            return table
        await self._refuse_if_open(table, "deactivating it")
        old = table_view(table)
        table.is_active = False
        table.version += 1
        await _audit(self.session, self.subject.actor, "table.deactivated", table, old)
        _emit_table(self.session, table)
        return table

    async def change_status(self, table_id: uuid.UUID, body: TableStatusChange) -> DiningTable:
        table = await self.get(table_id, lock=True)
        self._check_version(table, body.version)
        if not table.is_active:
            raise Conflict(
                f"Table {table.number} is deactivated",
                details={"tableId": str(table.id), "isActive": False},
            )
        requested = check_transition(table.status, body.status)
        if requested != TableStatus.OCCUPIED:
            # A table with open orders stays occupied until they are closed or moved.
            await self._refuse_if_open(table, f"marking it {requested.value}")
        old = table_view(table)
        _set_status(table, requested)
        await _audit(self.session, self.subject.actor, "table.status_changed", table, old)
        _emit_table(self.session, table)
        return table

    async def _check_waiter(self, waiter_id: uuid.UUID) -> User:
        def refuse(message: str) -> Unprocessable:
            return Unprocessable(message, details=[{"field": "waiterId", "message": message}])

        user = await self.session.scalar(select(User).where(User.id == waiter_id))
        owns = exists().where(
            restaurant_owners.c.restaurant_id == self.restaurant.id,
            restaurant_owners.c.user_id == waiter_id,
        )
        if user is None or (
            user.restaurant_id != self.restaurant.id and not await self.session.scalar(select(owns))
        ):
            raise refuse(f"No staff member {waiter_id} in this restaurant")
        if not user.is_active:
            raise refuse(f"Staff member {waiter_id} is deactivated")
        if "tables.manage" not in effective_permissions(user.role, user.permissions):
            raise refuse(f"Staff member {waiter_id} is a {user.role} and does not serve tables")
        return user

    async def assign_waiter(self, table_id: uuid.UUID, body: WaiterAssignment) -> DiningTable:
        table = await self.get(table_id, lock=True)
        self._check_version(table, body.version)
        if body.waiter_id is not None:
            await self._check_waiter(body.waiter_id)
        if body.waiter_id == table.waiter_id:
            return table
        old = table_view(table)
        table.waiter_id = body.waiter_id
        table.version += 1
        await _audit(self.session, self.subject.actor, "table.waiter_assigned", table, old)
        _emit_table(self.session, table)
        return table

    async def _lock_pair(
        self, path_id: uuid.UUID, body_id: uuid.UUID, body_field: str
    ) -> tuple[DiningTable, DiningTable]:
        """Both tables, locked in id order so two crossing moves cannot deadlock."""
        if path_id == body_id:
            raise Unprocessable(
                "A table cannot move or merge orders with itself",
                details=[{"field": body_field, "message": "must be another table"}],
            )
        rows = await self.session.scalars(
            lock_for_update(
                select(DiningTable)
                .where(self._mine(), DiningTable.id.in_((path_id, body_id)))
                .order_by(DiningTable.id)
            ).execution_options(populate_existing=True)
        )
        found = {t.id: t for t in rows}
        if path_id not in found:
            raise ResourceNotFound("Table", path_id)
        other = found.get(body_id)
        if other is None or not other.is_active:
            raise Unprocessable(
                f"No active table {body_id} in this restaurant",
                details=[
                    {"field": body_field, "message": "not an active table of this restaurant"}
                ],
            )
        return found[path_id], other

    async def _lock_open_orders(
        self, table_id: uuid.UUID, candidates: list[uuid.UUID] | None
    ) -> set[uuid.UUID]:
        """Lock the orders to move (those of ``candidates`` still open at the table), in id
        order and *before* the tables: the orders code locks an order, then its table, when
        it completes or cancels it, so taking tables first here could deadlock with it."""
        at_table = (
            Order.restaurant_id == self.restaurant.id,
            Order.table_id == table_id,
            _is_open(),
        )
        if candidates is None:
            candidates = list(await self.session.scalars(select(Order.id).where(*at_table)))
        if not candidates:
            return set()
        locked = await self.session.scalars(
            lock_for_update(
                select(Order.id).where(*at_table, Order.id.in_(candidates)).order_by(Order.id)
            )
        )
        return set(locked)

    async def _move_orders(
        self,
        source: DiningTable,
        target: DiningTable,
        locked: set[uuid.UUID],
        order_ids: list[uuid.UUID] | None,
    ) -> list[uuid.UUID]:
        if not target.is_active:
            raise Conflict(
                f"Table {target.number} is deactivated",
                details={"tableId": str(target.id), "isActive": False},
            )
        if target.status in UNSEATABLE:
            raise _unseatable_conflict(target)
        open_rows = await open_orders_at(self.session, self.restaurant.id, source.id)
        if order_ids is None:
            # Orders seated after the lock was taken stay where they are.
            moving = [row.id for row in open_rows if row.id in locked]
        else:
            for index, order_id in enumerate(order_ids):
                if order_id not in locked:
                    message = f"Order {order_id} is not an open order at table {source.number}"
                    raise Unprocessable(
                        message, details=[{"field": f"orderIds.{index}", "message": message}]
                    )
            moving = list(dict.fromkeys(order_ids))
        if not moving:
            raise Conflict(
                f"Table {source.number} has no open orders to move",
                details={"tableId": str(source.id)},
            )
        await self.session.execute(
            update(Order)
            .where(Order.restaurant_id == self.restaurant.id, Order.id.in_(moving))
            .values(table_id=target.id, table_number=target.number, version=Order.version + 1)
            .execution_options(synchronize_session=False)
        )
        if target.status != TableStatus.OCCUPIED:
            check_transition(target.status, TableStatus.OCCUPIED)
            target.status = TableStatus.OCCUPIED.value
        target.version += 1
        staying = [row for row in open_rows if row.id not in moving]
        if not staying and source.status == TableStatus.OCCUPIED:
            source.status = TableStatus.AVAILABLE.value
        source.version += 1
        numbers = {row.id: row.order_number for row in open_rows}
        for order_id in moving:
            emit(
                self.session,
                self.restaurant.id,
                "order_updated",
                {
                    "orderId": str(order_id),
                    "orderNumber": numbers[order_id],
                    "tableId": str(target.id),
                    "tableNumber": target.number,
                    "fromTableId": str(source.id),
                },
            )
        _emit_table(self.session, source)
        _emit_table(self.session, target)
        return moving

    async def move(
        self, table_id: uuid.UUID, body: MoveOrders
    ) -> tuple[DiningTable, DiningTable, list[uuid.UUID]]:
        locked = await self._lock_open_orders(table_id, body.order_ids)
        source, target = await self._lock_pair(table_id, body.to_table_id, "toTableId")
        old = {"from": table_view(source), "to": table_view(target)}
        moved = await self._move_orders(source, target, locked, body.order_ids)
        await _audit(
            self.session,
            self.subject.actor,
            "table.orders_moved",
            source,
            old,
            {"from": table_view(source), "to": table_view(target), "orderIds": moved},
        )
        return source, target, moved

    async def merge(
        self, table_id: uuid.UUID, body: MergeTables
    ) -> tuple[DiningTable, DiningTable, list[uuid.UUID]]:
        locked = await self._lock_open_orders(body.from_table_id, None)
        target, source = await self._lock_pair(table_id, body.from_table_id, "fromTableId")
        old = {"from": table_view(source), "to": table_view(target)}
        moved = await self._move_orders(source, target, locked, None)
        await _audit(
            self.session,
            self.subject.actor,
            "table.merged",
            target,
            old,
            {"from": table_view(source), "to": table_view(target), "orderIds": moved},
        )
        return source, target, moved


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# What the orders code calls.


async def table_by_number(
    session: AsyncSession, restaurant_id: uuid.UUID, number: str
) -> DiningTable | None:
    """The active table with this number (orders send ``tableNumber``: "5"), or None."""
    return await session.scalar(
        select(DiningTable).where(
            DiningTable.restaurant_id == restaurant_id,
            DiningTable.number == number.strip(),
            DiningTable.is_active.is_(True),
        )
    )


async def occupy_for_order(
    session: AsyncSession,
    restaurant_id: uuid.UUID,
    table_id: uuid.UUID,
    *,
    actor: AuditActor | None = None,
) -> DiningTable:
    """Seat an order at the table: it becomes occupied (from available or reserved).

    Locks the table row, so a concurrent :func:`release_if_free` waits for this order to be
    committed and then sees it. A second order at an occupied table changes nothing.
    """
    table = await _lock_table(session, restaurant_id, table_id)
    if table is None or not table.is_active:
        message = f"No active table {table_id} in this restaurant"
        raise Unprocessable(message, details=[{"field": "tableId", "message": message}])
    if table.status == TableStatus.CLEANING:
        raise _unseatable_conflict(table)
    if table.status == TableStatus.OCCUPIED:
        return table
    old = table_view(table)
    _set_status(table, check_transition(table.status, TableStatus.OCCUPIED))
    if actor is not None:
        await _audit(session, actor, "table.status_changed", table, old)
    _emit_table(session, table)
    return table


async def release_if_free(
    session: AsyncSession,
    restaurant_id: uuid.UUID,
    table_id: uuid.UUID,
    *,
    actor: AuditActor | None = None,
) -> None:
    """Free an occupied table once none of its orders is open (call it after setting an
    order completed or cancelled). Reserved or cleaning tables are left as they are."""
    await session.flush()
    table = await _lock_table(session, restaurant_id, table_id)
    if table is None or table.status != TableStatus.OCCUPIED:
        return
    if await open_orders_at(session, restaurant_id, table.id):
        return
    old = table_view(table)
    _set_status(table, TableStatus.AVAILABLE)
    if actor is not None:
        await _audit(session, actor, "table.status_changed", table, old)
    _emit_table(session, table)
