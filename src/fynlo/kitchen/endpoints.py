"""``/api/kitchen``: item status and firing held courses (the display's list is to follow)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from fynlo.auth.subject import Subject, require_permission
from fynlo.authz.context import CurrentRestaurant
from fynlo.kit.idempotency import idempotent
from fynlo.kit.routing import router
from fynlo.kit.schemas import Envelope, ok
from fynlo.kit.unit_of_work import SessionDep
from fynlo.kitchen.schemas import FireIn, ItemStatusIn
from fynlo.kitchen.service import KitchenService
from fynlo.orders.endpoints import order_out
from fynlo.orders.schemas import OrderOut
from fynlo.orders.service import OrderService

kitchen_router = router(prefix="/api/kitchen", tags=["kitchen"])

Updater = Annotated[Subject, Depends(require_permission("orders.update"))]
Cook = Annotated[Subject, Depends(require_permission("kitchen.update"))]


@kitchen_router.post(
    "/orders/{order_id}/fire",
    response_model=Envelope[OrderOut],
    openapi_extra=idempotent(),
    summary="Send held items (a later course) to the kitchen",
    description="Fires the held items of `course`, the held items listed in `itemIds`, or "
    "every held item. Makes an `addition` ticket per station and a `kitchen_order` event. "
    "409 when the order is not with the kitchen (pending, completed, cancelled) or has no "
    "such held items.",
)
async def fire(
    order_id: uuid.UUID,
    body: FireIn,
    subject: Updater,
    session: SessionDep,
    restaurant: CurrentRestaurant,
) -> Envelope[OrderOut]:
    order = await OrderService(session, subject, restaurant).fire(
        order_id, course=body.course, item_ids=body.item_ids, version=body.version
    )
    return ok(order_out(order))


@kitchen_router.patch(
    "/orders/{order_id}/items/{item_id}/status",
    response_model=Envelope[OrderOut],
    openapi_extra=idempotent(),
    summary="Move an item along pending → preparing → ready → served",
    description="`completed` is taken as `ready` (the spec's example). `actualTime` (minutes) "
    "records how long it took; without it the time since the item was fired is used. The "
    "order follows its items: the first started makes it `preparing`, the last ready makes it "
    "`ready` (and `order_item_ready` goes out for each item), the last served makes it "
    "`served`; ready → preparing is a recall. An illegal move is a 409 listing the allowed "
    "ones; asking for the status the item already has is a no-op.",
)
async def set_item_status(
    order_id: uuid.UUID,
    item_id: uuid.UUID,
    body: ItemStatusIn,
    subject: Cook,
    session: SessionDep,
    restaurant: CurrentRestaurant,
) -> Envelope[OrderOut]:
    order = await KitchenService(session, subject, restaurant).set_item_status(
        order_id, item_id, body.status, actual_minutes=body.actual_time, version=body.version
    )
    return ok(order_out(order))


ROUTERS: list[APIRouter] = [kitchen_router]
