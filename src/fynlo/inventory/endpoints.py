"""``/api/inventory``: stock levels, the ledger, waste, reorders and low-stock alerts."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from fynlo.auth.subject import Subject, require_permission
from fynlo.authz.context import CurrentRestaurant
from fynlo.inventory.schemas import (
    AlertOut,
    InventoryOut,
    InventoryUpdate,
    MovementOut,
    ReorderCreate,
    ReorderOut,
    ReorderStatus,
    StockChangeOut,
    StockStatus,
    WasteCreate,
)
from fynlo.inventory.service import InventoryService
from fynlo.kit.idempotency import idempotent
from fynlo.kit.pagination import Page, PageParams, page_params
from fynlo.kit.routing import router
from fynlo.kit.schemas import Envelope, ok
from fynlo.kit.unit_of_work import SessionDep

inventory_router = router(prefix="/api/inventory", tags=["inventory"])

Paging = Annotated[PageParams, Depends(page_params)]
Reader = Annotated[Subject, Depends(require_permission("inventory.read"))]
Manager = Annotated[Subject, Depends(require_permission("inventory.manage"))]


@inventory_router.get(
    "",
    response_model=Envelope[Page[InventoryOut]],
    summary="Stock of the restaurant's tracked products",
)
async def list_inventory(
    subject: Reader,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    paging: Paging,
    status: StockStatus | None = None,
    search: Annotated[
        str | None, Query(max_length=100, description="Product or supplier name")
    ] = None,
    include_archived: Annotated[bool, Query(alias="includeArchived")] = False,
) -> Envelope[Page[InventoryOut]]:
    rows, total = await InventoryService(session, subject, restaurant).levels(
        paging, status=status, search=search, include_archived=include_archived
    )
    return ok(Page[InventoryOut].build(rows, paging, total))


@inventory_router.get(
    "/alerts",
    response_model=Envelope[Page[AlertOut]],
    summary="Products at or below their reorder point (minimum stock when none), worst first",
)
async def list_alerts(
    subject: Reader, restaurant: CurrentRestaurant, session: SessionDep, paging: Paging
) -> Envelope[Page[AlertOut]]:
    rows, total = await InventoryService(session, subject, restaurant).alerts(paging)
    return ok(Page[AlertOut].build(rows, paging, total))


@inventory_router.post(
    "/waste",
    status_code=201,
    response_model=Envelope[StockChangeOut],
    openapi_extra=idempotent(),
    summary="Record waste (a ledger movement of kind 'waste')",
    description="More than is in stock is a 409 `out_of_stock` unless the restaurant allows "
    "negative stock (`pos.allowNegativeStock`).",
)
async def record_waste(
    body: WasteCreate, subject: Manager, restaurant: CurrentRestaurant, session: SessionDep
) -> Envelope[StockChangeOut]:
    movement, item = await InventoryService(session, subject, restaurant).waste(body)
    return ok(StockChangeOut(movement=movement, inventory=item))


@inventory_router.post(
    "/reorder",
    status_code=201,
    response_model=Envelope[ReorderOut],
    openapi_extra=idempotent(),
    summary="Ask the supplier on file for more",
)
async def create_reorder(
    body: ReorderCreate, subject: Manager, restaurant: CurrentRestaurant, session: SessionDep
) -> Envelope[ReorderOut]:
    return ok(await InventoryService(session, subject, restaurant).reorder(body))


@inventory_router.get(
    "/reorders",
    response_model=Envelope[Page[ReorderOut]],
    summary="Reorder requests, newest first",
)
async def list_reorders(
    subject: Reader,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    paging: Paging,
    status: ReorderStatus | None = None,
    product_id: Annotated[uuid.UUID | None, Query(alias="productId")] = None,
) -> Envelope[Page[ReorderOut]]:
    rows, total = await InventoryService(session, subject, restaurant).reorders(
        paging, status=status, product_id=product_id
    )
    return ok(Page[ReorderOut].build(rows, paging, total))


@inventory_router.get(
    "/{product_id}", response_model=Envelope[InventoryOut], summary="Stock of one product"
)
async def get_inventory(
    product_id: uuid.UUID, subject: Reader, restaurant: CurrentRestaurant, session: SessionDep
) -> Envelope[InventoryOut]:
    return ok(await InventoryService(session, subject, restaurant).get(product_id))


@inventory_router.put(
    "/{product_id}",
    response_model=Envelope[InventoryOut],
    responses={201: {"description": "Tracking started"}},
    openapi_extra=idempotent(),
    summary="Start tracking a product, change its settings, count it or restock it",
    description="201 when this starts tracking the product, else 200. `currentStock` is a "
    "count (ledger kind 'count'); `restockQuantity` a delivery (kind 'restock'), which a "
    "retry would add twice: send an `Idempotency-Key`.",
)
async def put_inventory(
    product_id: uuid.UUID,
    body: InventoryUpdate,
    subject: Manager,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    response: Response,
) -> Envelope[InventoryOut]:
    item, created = await InventoryService(session, subject, restaurant).upsert(product_id, body)
    if created:
        response.status_code = 201
    return ok(item)


@inventory_router.get(
    "/{product_id}/movements",
    response_model=Envelope[Page[MovementOut]],
    summary="The stock ledger of one product, newest first",
)
async def list_movements(
    product_id: uuid.UUID,
    subject: Reader,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    paging: Paging,
) -> Envelope[Page[MovementOut]]:
    rows, total = await InventoryService(session, subject, restaurant).movements(product_id, paging)
    return ok(Page[MovementOut].build(rows, paging, total))


ROUTERS: list[APIRouter] = [inventory_router]
