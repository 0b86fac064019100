"""``/api/tables``: the floor plan, table status, waiters, moving and merging orders.

Creating, renaming and deactivating tables changes the floor plan, a restaurant setting
(``settings.update``); seating, freeing, assigning and moving are floor work
(``tables.manage``).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from fynlo.auth.subject import Subject, require_permission
from fynlo.authz.context import CurrentRestaurant
from fynlo.floor.schemas import (
    MergeTables,
    MoveOrders,
    MoveResult,
    OpenOrderOut,
    TableCreate,
    TableDetailOut,
    TableOut,
    TableStatusChange,
    TableUpdate,
    WaiterAssignment,
)
from fynlo.floor.service import FloorService
from fynlo.floor.state import TableStatus
from fynlo.kit.idempotency import idempotent
from fynlo.kit.money import to_major
from fynlo.kit.pagination import Page, PageParams, page_params
from fynlo.kit.routing import router
from fynlo.kit.schemas import Envelope, ok
from fynlo.kit.unit_of_work import SessionDep
from fynlo.models import DiningTable

tables_router = router(prefix="/api/tables", tags=["tables"])

Paging = Annotated[PageParams, Depends(page_params)]
Reader = Annotated[Subject, Depends(require_permission("tables.read"))]
FloorStaff = Annotated[Subject, Depends(require_permission("tables.manage"))]
FloorPlanner = Annotated[Subject, Depends(require_permission("settings.update"))]


def _out(table: DiningTable) -> TableOut:
    return TableOut.model_validate(table)


def _move_result(source: DiningTable, target: DiningTable, moved: list[uuid.UUID]) -> MoveResult:
    return MoveResult(from_table=_out(source), to_table=_out(target), moved_order_ids=moved)


@tables_router.get("", response_model=Envelope[Page[TableOut]], summary="Tables of the floor")
async def list_tables(
    subject: Reader,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    paging: Paging,
    status: TableStatus | None = None,
    section: Annotated[str | None, Query(max_length=50)] = None,
    waiter_id: Annotated[uuid.UUID | None, Query(alias="waiterId")] = None,
    is_active: Annotated[
        bool, Query(alias="isActive", description="false lists deactivated tables")
    ] = True,
) -> Envelope[Page[TableOut]]:
    rows, total = await FloorService(session, subject, restaurant).list_tables(
        paging, status=status, section=section, waiter_id=waiter_id, is_active=is_active
    )
    return ok(Page[TableOut].build([_out(t) for t in rows], paging, total))


@tables_router.post(
    "",
    status_code=201,
    response_model=Envelope[TableOut],
    openapi_extra=idempotent(),
    summary="Add a table to the floor plan",
    description="Needs `settings.update`: the floor plan is a restaurant setting.",
)
async def create_table(
    body: TableCreate, subject: FloorPlanner, restaurant: CurrentRestaurant, session: SessionDep
) -> Envelope[TableOut]:
    return ok(_out(await FloorService(session, subject, restaurant).create(body)))


@tables_router.get(
    "/{table_id}",
    response_model=Envelope[TableDetailOut],
    summary="One table with its open orders",
)
async def get_table(
    table_id: uuid.UUID, subject: Reader, restaurant: CurrentRestaurant, session: SessionDep
) -> Envelope[TableDetailOut]:
    table, orders = await FloorService(session, subject, restaurant).detail(table_id)
    return ok(
        TableDetailOut(
            **_out(table).model_dump(),
            open_orders=[
                OpenOrderOut(
                    id=o.id,
                    order_number=o.order_number,
                    status=o.status,
                    total=to_major(o.total_minor, o.currency),
                )
                for o in orders
            ],
        )
    )


@tables_router.put(
    "/{table_id}",
    response_model=Envelope[TableOut],
    summary="Renumber, resize, move to another section, deactivate or reactivate a table",
    description="Needs `settings.update`. Deactivating a table with open orders is a 409.",
)
async def update_table(
    table_id: uuid.UUID,
    body: TableUpdate,
    subject: FloorPlanner,
    restaurant: CurrentRestaurant,
    session: SessionDep,
) -> Envelope[TableOut]:
    return ok(_out(await FloorService(session, subject, restaurant).update(table_id, body)))


@tables_router.delete(
    "/{table_id}",
    response_model=Envelope[TableOut],
    summary="Take a table off the floor plan (deactivates it)",
    description="Needs `settings.update`. A table with open orders is a 409.",
)
async def delete_table(
    table_id: uuid.UUID, subject: FloorPlanner, restaurant: CurrentRestaurant, session: SessionDep
) -> Envelope[TableOut]:
    return ok(_out(await FloorService(session, subject, restaurant).deactivate(table_id)))


@tables_router.patch(
    "/{table_id}/status",
    response_model=Envelope[TableOut],
    summary="Change a table's status",
    description="available → occupied, reserved, cleaning; reserved → available, occupied, "
    "cleaning; occupied → cleaning, available; cleaning → available. A table with open "
    "orders stays occupied (409 naming them).",
)
async def change_status(
    table_id: uuid.UUID,
    body: TableStatusChange,
    subject: FloorStaff,
    restaurant: CurrentRestaurant,
    session: SessionDep,
) -> Envelope[TableOut]:
    service = FloorService(session, subject, restaurant)
    return ok(_out(await service.change_status(table_id, body)))


@tables_router.put(
    "/{table_id}/waiter",
    response_model=Envelope[TableOut],
    summary="Assign a waiter to a table (null unassigns)",
)
async def assign_waiter(
    table_id: uuid.UUID,
    body: WaiterAssignment,
    subject: FloorStaff,
    restaurant: CurrentRestaurant,
    session: SessionDep,
) -> Envelope[TableOut]:
    service = FloorService(session, subject, restaurant)
    return ok(_out(await service.assign_waiter(table_id, body)))


@tables_router.post(
    "/{table_id}/move",
    response_model=Envelope[MoveResult],
    openapi_extra=idempotent(),
    summary="Move open orders to another table",
    description="All open orders, or those in `orderIds`. The target becomes occupied; the "
    "source becomes available once no open order remains there.",
)
async def move_orders(
    table_id: uuid.UUID,
    body: MoveOrders,
    subject: FloorStaff,
    restaurant: CurrentRestaurant,
    session: SessionDep,
) -> Envelope[MoveResult]:
    return ok(_move_result(*await FloorService(session, subject, restaurant).move(table_id, body)))


@tables_router.post(
    "/{table_id}/merge",
    response_model=Envelope[MoveResult],
    openapi_extra=idempotent(),
    summary="Bring another table's open orders to this table",
    description="The orders can then be paid together here; the other table is freed.",
)
async def merge_tables(
    table_id: uuid.UUID,
    body: MergeTables,
    subject: FloorStaff,
    restaurant: CurrentRestaurant,
    session: SessionDep,
) -> Envelope[MoveResult]:
    return ok(_move_result(*await FloorService(session, subject, restaurant).merge(table_id, body)))


ROUTERS: list[APIRouter] = [tables_router]
