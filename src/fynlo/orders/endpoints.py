"""``/api/orders``: the spec's order endpoints, plus cancel, adjust and a price preview."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from fynlo.auth.subject import Subject, require_permission
from fynlo.authz.context import CurrentRestaurant
from fynlo.kit.errors import Unprocessable
from fynlo.kit.idempotency import idempotent
from fynlo.kit.money import to_major
from fynlo.kit.pagination import Page, PageParams, page_params
from fynlo.kit.routing import router
from fynlo.kit.schemas import Envelope, ok
from fynlo.kit.unit_of_work import SessionDep
from fynlo.models import Order, OrderItem
from fynlo.orders import pricing, receipts, state
from fynlo.orders.schemas import (
    ModifierOut,
    OrderAdjust,
    OrderCancel,
    OrderCreate,
    OrderItemOut,
    OrderItemsAdd,
    OrderOut,
    OrderPreviewOut,
    OrderStatus,
    OrderStatusUpdate,
    OrderSyncIn,
    OrderSyncOut,
    PreviewItemOut,
    VatLine,
)
from fynlo.orders.service import OrderService
from fynlo.orders.sync import sync_orders

orders_router = router(prefix="/api/orders", tags=["orders"])

Paging = Annotated[PageParams, Depends(page_params)]


def _rate(bp: int) -> Decimal:
    return Decimal(bp) / 100


def _modifiers(item: OrderItem, currency: str) -> list[ModifierOut]:
    return [
        ModifierOut(type=m["type"], value=m["value"], price=to_major(int(m["price"]), currency))
        for m in item.modifiers
    ]


def _priced_item(item: OrderItem, currency: str) -> dict[str, Any]:
    """The fields an item shows wherever it is priced (saved order or preview)."""
    return {
        "product_id": item.product_id,
        "product_name": item.product_name,
        "quantity": item.quantity,
        "unit_price": to_major(item.unit_price_minor, currency),
        "modifiers": _modifiers(item, currency),
        "total_price": to_major(item.total_minor, currency),
        "discount_amount": to_major(item.discount_minor, currency),
        "tax_rate": _rate(item.tax_rate_bp),
        "tax_amount": to_major(item.tax_minor, currency),
    }


def _vat_lines(items: list[OrderItem], currency: str) -> list[VatLine]:
    by_rate: dict[int, tuple[int, int]] = {}
    for item in items:
        if item.is_voided:
            continue
        net, vat = by_rate.get(item.tax_rate_bp, (0, 0))
        by_rate[item.tax_rate_bp] = (net + item.total_minor - item.tax_minor, vat + item.tax_minor)
    return [
        VatLine(rate=_rate(rate), net=to_major(net, currency), vat=to_major(vat, currency))
        for rate, (net, vat) in sorted(by_rate.items(), reverse=True)
    ]


def order_out(order: Order) -> OrderOut:
    c = order.currency
    return OrderOut(
        id=order.id,
        order_number=order.order_number,
        restaurant_id=order.restaurant_id,
        business_date=order.business_date,
        customer_id=order.customer_id,
        employee_id=order.employee_id,
        table_id=order.table_id,
        table_number=order.table_number,
        status=order.status,
        next_statuses=state.allowed_next(order.status),
        order_type=order.order_type,
        payment_status=order.payment_status,
        currency=c,
        prices_include_vat=order.prices_include_vat,
        subtotal=to_major(order.subtotal_minor, c),
        discount_amount=to_major(order.discount_minor, c),
        tax_amount=to_major(order.tax_minor, c),
        service_charge=to_major(order.service_charge_minor, c),
        service_charge_rate=_rate(
            0 if order.service_charge_waived else order.service_charge_rate_bp
        ),
        service_charge_waived=order.service_charge_waived,
        tip_amount=to_major(order.tip_minor, c),
        total_amount=to_major(order.total_minor, c),
        vat_breakdown=_vat_lines(order.items, c),
        notes=order.notes,
        kitchen_notes=order.kitchen_notes,
        special_requests=order.special_requests,
        estimated_completion=order.estimated_completion,
        confirmed_at=order.confirmed_at,
        ready_at=order.ready_at,
        completed_at=order.completed_at,
        cancelled_at=order.cancelled_at,
        cancel_reason=order.cancel_reason,
        rush=order.rush,
        source=order.source,
        version=order.version,
        items=[
            OrderItemOut(
                **_priced_item(i, c),
                id=i.id,
                notes=i.notes,
                kitchen_station=i.kitchen_station,
                kitchen_status=i.kitchen_status,
                preparation_time=i.preparation_time,
                course=i.course,
                held=i.held,
                sent_to_kitchen_at=i.sent_to_kitchen_at,
                is_voided=i.is_voided,
                void_reason=i.void_reason,
            )
            for i in order.items
        ],
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


def preview_out(
    totals: pricing.Totals, items: list[OrderItem], currency: str, rate_bp: int
) -> OrderPreviewOut:
    c = currency
    return OrderPreviewOut(
        currency=c,
        prices_include_vat=totals.prices_include_vat,
        subtotal=to_major(totals.subtotal, c),
        discount_amount=to_major(totals.discount, c),
        tax_amount=to_major(totals.tax, c),
        service_charge=to_major(totals.service_charge, c),
        service_charge_rate=_rate(rate_bp),
        tip_amount=to_major(totals.tip, c),
        total_amount=to_major(totals.total, c),
        vat_breakdown=_vat_lines(items, c),
        items=[PreviewItemOut(**_priced_item(i, c)) for i in items],
    )


Reader = Annotated[Subject, Depends(require_permission("orders.read"))]
Creator = Annotated[Subject, Depends(require_permission("orders.create"))]
Updater = Annotated[Subject, Depends(require_permission("orders.update"))]


@orders_router.get("", response_model=Envelope[Page[OrderOut]], summary="Orders")
async def list_orders(
    subject: Reader,
    session: SessionDep,
    restaurant: CurrentRestaurant,
    paging: Paging,
    status: OrderStatus | None = None,
    day: Annotated[
        date | None,
        Query(alias="date", description="A business day in the restaurant's own time zone"),
    ] = None,
    customer_id: Annotated[uuid.UUID | None, Query(alias="customerId")] = None,
    table_number: Annotated[str | None, Query(alias="tableNumber", max_length=20)] = None,
    table_id: Annotated[uuid.UUID | None, Query(alias="tableId")] = None,
) -> Envelope[Page[OrderOut]]:
    rows, total = await OrderService(session, subject, restaurant).find(
        paging,
        status=status,
        day=day,
        customer_id=customer_id,
        table_number=table_number,
        table_id=table_id,
    )
    return ok(Page[OrderOut].build([order_out(o) for o in rows], paging, total))


@orders_router.post(
    "",
    status_code=201,
    response_model=Envelope[OrderOut],
    openapi_extra=idempotent(),
    summary="Take an order (priced by the server)",
    description="Unit and modifier prices come from the menu; a `unitPrice` or modifier "
    "`price` that disagrees is refused with 422 naming the item. Tax, service charge and "
    "totals follow the restaurant's tax configuration.",
)
async def create_order(
    body: OrderCreate, subject: Creator, session: SessionDep, restaurant: CurrentRestaurant
) -> Envelope[OrderOut]:
    return ok(order_out(await OrderService(session, subject, restaurant).create(body)))


@orders_router.post(
    "/preview",
    response_model=Envelope[OrderPreviewOut],
    summary="Price an order without saving it",
)
async def preview_order(
    body: OrderCreate, subject: Creator, session: SessionDep, restaurant: CurrentRestaurant
) -> Envelope[OrderPreviewOut]:
    totals, items, rate = await OrderService(session, subject, restaurant).preview(body)
    return ok(preview_out(totals, items, restaurant.currency, rate))


@orders_router.post(
    "/sync",
    response_model=Envelope[OrderSyncOut],
    openapi_extra=idempotent(),
    summary="Upload orders a till took while offline (each created once, however often sent)",
    description="Answers per order: `created`, `already_present` or `rejected` with why "
    "(`price_changed`, `product_unavailable`, ...). One rejected order does not stop the rest.",
)
async def sync(
    body: OrderSyncIn, subject: Creator, session: SessionDep, restaurant: CurrentRestaurant
) -> Envelope[OrderSyncOut]:
    return ok(await sync_orders(OrderService(session, subject, restaurant), body))


@orders_router.get("/{order_id}", response_model=Envelope[OrderOut], summary="One order")
async def get_order(
    order_id: uuid.UUID, subject: Reader, session: SessionDep, restaurant: CurrentRestaurant
) -> Envelope[OrderOut]:
    return ok(order_out(await OrderService(session, subject, restaurant).get(order_id)))


@orders_router.patch(
    "/{order_id}/status",
    response_model=Envelope[OrderOut],
    openapi_extra=idempotent(),
    summary="Move an order along pending → confirmed → preparing → ready → served → completed",
    description="An illegal move is a 409 listing the allowed next states. `cancelled` needs "
    "a `reason` (and `orders.void` once the kitchen has the order).",
)
async def change_status(
    order_id: uuid.UUID,
    body: OrderStatusUpdate,
    subject: Updater,
    session: SessionDep,
    restaurant: CurrentRestaurant,
) -> Envelope[OrderOut]:
    order = await OrderService(session, subject, restaurant).change_status(
        order_id,
        body.status,
        estimated_completion=body.estimated_completion,
        reason=body.reason,
        version=body.version,
    )
    return ok(order_out(order))


@orders_router.post(
    "/{order_id}/cancel",
    response_model=Envelope[OrderOut],
    openapi_extra=idempotent(),
    summary="Cancel (before the kitchen has it) or void (after) an order, with a reason",
)
async def cancel_order(
    order_id: uuid.UUID,
    body: OrderCancel,
    subject: Reader,
    session: SessionDep,
    restaurant: CurrentRestaurant,
) -> Envelope[OrderOut]:
    order = await OrderService(session, subject, restaurant).cancel(
        order_id, body.reason, body.version
    )
    return ok(order_out(order))


@orders_router.post(
    "/{order_id}/items",
    status_code=201,
    response_model=Envelope[OrderOut],
    openapi_extra=idempotent(),
    summary="Add items to an open order",
)
async def add_items(
    order_id: uuid.UUID,
    body: OrderItemsAdd,
    subject: Updater,
    session: SessionDep,
    restaurant: CurrentRestaurant,
) -> Envelope[OrderOut]:
    order = await OrderService(session, subject, restaurant).add_items(
        order_id, body.items, body.version
    )
    return ok(order_out(order))


@orders_router.delete(
    "/{order_id}/items/{item_id}",
    response_model=Envelope[OrderOut],
    summary="Remove an item (a void with a reason once the kitchen has it)",
)
async def remove_item(
    order_id: uuid.UUID,
    item_id: uuid.UUID,
    subject: Updater,
    session: SessionDep,
    restaurant: CurrentRestaurant,
    reason: Annotated[str | None, Query(min_length=1, max_length=500)] = None,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Envelope[OrderOut]:
    order = await OrderService(session, subject, restaurant).remove_item(
        order_id, item_id, reason, version
    )
    return ok(order_out(order))


@orders_router.patch(
    "/{order_id}",
    response_model=Envelope[OrderOut],
    summary="Discount, tip, service charge or notes of an open order",
)
async def adjust_order(
    order_id: uuid.UUID,
    body: OrderAdjust,
    subject: Updater,
    session: SessionDep,
    restaurant: CurrentRestaurant,
) -> Envelope[OrderOut]:
    return ok(order_out(await OrderService(session, subject, restaurant).adjust(order_id, body)))


@orders_router.get(
    "/{order_id}/receipt",
    response_model=Envelope[receipts.Receipt],
    summary="The receipt: JSON (default), HTML, PDF or text for 42/48-column printers",
    responses={200: {"content": {"text/html": {}, "application/pdf": {}, "text/plain": {}}}},
)
async def receipt(
    order_id: uuid.UUID,
    subject: Reader,
    session: SessionDep,
    restaurant: CurrentRestaurant,
    format: Literal["json", "html", "pdf", "text"] = "json",
    width: Annotated[
        int, Query(ge=42, le=48, description="Printer columns for the text format: 42 or 48")
    ] = 42,
) -> Response:
    if width not in (42, 48):
        raise Unprocessable(
            "width must be 42 or 48 columns",
            details=[{"field": "width", "message": "must be 42 or 48"}],
        )
    service = OrderService(session, subject, restaurant)
    order = await service.get(order_id)
    built = await service.receipt(order)
    if format == "html":
        return HTMLResponse(receipts.render_html(built))
    if format == "pdf":
        return Response(
            receipts.render_pdf(built),
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{order.order_number}.pdf"'},
        )
    if format == "text":
        return PlainTextResponse(receipts.render_text(built, width))
    return Response(
        Envelope[receipts.Receipt](data=built).model_dump_json(by_alias=True),
        media_type="application/json",
    )
