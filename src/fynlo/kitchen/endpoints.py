"""``/api/kitchen``: the display's board, item status, bump, recall, rush, firing held
courses, stations, and the ticket log with reprints."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from fynlo.auth.subject import Subject, require_any_permission, require_permission
from fynlo.authz.context import CurrentRestaurant
from fynlo.kit.idempotency import idempotent
from fynlo.kit.pagination import Page, PageParams, page_params
from fynlo.kit.routing import router
from fynlo.kit.schemas import Envelope, ok
from fynlo.kit.unit_of_work import SessionDep
from fynlo.kitchen.display import kitchen_board
from fynlo.kitchen.schemas import (
    BumpIn,
    FireIn,
    ItemStatusIn,
    KitchenBoardOut,
    RecallIn,
    ReprintOut,
    RushIn,
    StationIn,
    StationOut,
    StationStatusIn,
    StationUpdate,
    TicketOut,
)
from fynlo.kitchen.service import KitchenService
from fynlo.kitchen.stations import StationService
from fynlo.kitchen.ticket_log import TicketLog, ticket_out
from fynlo.orders.endpoints import order_out
from fynlo.orders.schemas import OrderOut
from fynlo.orders.service import OrderService

kitchen_router = router(prefix="/api/kitchen", tags=["kitchen"])

Updater = Annotated[Subject, Depends(require_permission("orders.update"))]
Cook = Annotated[Subject, Depends(require_permission("kitchen.update"))]
Viewer = Annotated[Subject, Depends(require_permission("kitchen.read"))]
KitchenManager = Annotated[Subject, Depends(require_permission("kitchen.manage"))]
Reprinter = Annotated[Subject, Depends(require_permission("kots.manage"))]
Rusher = Annotated[Subject, Depends(require_any_permission("orders.update", "kitchen.update"))]
Paging = Annotated[PageParams, Depends(page_params)]
StationFilter = Annotated[
    str | None,
    Query(min_length=1, max_length=50, description="Only this station's items (its code)"),
]


@kitchen_router.get(
    "/orders",
    response_model=Envelope[KitchenBoardOut],
    summary="The kitchen display: orders to cook now, most urgent first",
    description="`activeOrders` lists orders with items sent to the kitchen and not yet ready "
    "(with `includeReady=true`, ready and not yet served too: the pass's view), only the "
    "items of `station` when given. `priority` is `urgent` for a rushed order, `high` for a "
    "priority order type, a wait past `highPriorityAfterMinutes` or a late item, else "
    "`normal`; `priorityReasons` says which. `completedToday` and `averageTime` cover the "
    "current business day.",
)
async def board(
    subject: Viewer,
    session: SessionDep,
    restaurant: CurrentRestaurant,
    station: StationFilter = None,
    include_ready: Annotated[bool, Query(alias="includeReady")] = False,
) -> Envelope[KitchenBoardOut]:
    return ok(
        await kitchen_board(session, restaurant, station=station, include_ready=include_ready)
    )


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


@kitchen_router.post(
    "/orders/{order_id}/bump",
    response_model=Envelope[OrderOut],
    openapi_extra=idempotent(),
    summary="Bump an order: its items at a station (or all) are ready",
    description="Every item the station (or, without `station`, the kitchen) is still "
    "cooking becomes ready; `order_item_ready` goes out for each and the order becomes ready "
    "when its last item is. 409 when nothing is cooking there.",
)
async def bump(
    order_id: uuid.UUID,
    body: BumpIn,
    subject: Cook,
    session: SessionDep,
    restaurant: CurrentRestaurant,
) -> Envelope[OrderOut]:
    service = KitchenService(session, subject, restaurant)
    return ok(order_out(await service.bump(order_id, station=body.station, version=body.version)))


@kitchen_router.post(
    "/orders/{order_id}/recall",
    response_model=Envelope[OrderOut],
    openapi_extra=idempotent(),
    summary="Recall ready items back to the line",
    description="Ready items (of `station`, or those in `itemIds`, or all) go back to "
    "`preparing`; a ready order returns to `preparing`. Served items cannot be recalled. 409 "
    "when there is no such ready item.",
)
async def recall(
    order_id: uuid.UUID,
    body: RecallIn,
    subject: Cook,
    session: SessionDep,
    restaurant: CurrentRestaurant,
) -> Envelope[OrderOut]:
    order = await KitchenService(session, subject, restaurant).recall(
        order_id, station=body.station, item_ids=body.item_ids, version=body.version
    )
    return ok(order_out(order))


@kitchen_router.post(
    "/orders/{order_id}/rush",
    response_model=Envelope[OrderOut],
    openapi_extra=idempotent(),
    summary="Flag (or unflag) an order as a rush",
    description="A rushed order is `urgent` on every display. Needs `orders.update` (the "
    "floor) or `kitchen.update` (the pass). 409 on a completed or cancelled order.",
)
async def rush(
    order_id: uuid.UUID,
    body: RushIn,
    subject: Rusher,
    session: SessionDep,
    restaurant: CurrentRestaurant,
) -> Envelope[OrderOut]:
    order = await KitchenService(session, subject, restaurant).set_rush(
        order_id, body.rush, body.version
    )
    return ok(order_out(order))


@kitchen_router.get(
    "/stations",
    response_model=Envelope[list[StationOut]],
    summary="Kitchen stations with their status and the items they are cooking",
)
async def stations(
    subject: Viewer, session: SessionDep, restaurant: CurrentRestaurant
) -> Envelope[list[StationOut]]:
    service = StationService(session, subject, restaurant)
    return ok(await service.out(await service.list()))


@kitchen_router.post(
    "/stations",
    status_code=201,
    response_model=Envelope[StationOut],
    openapi_extra=idempotent(),
    summary="Set up a kitchen station",
    description="`code` is what products and categories name in `kitchenStation`; a second "
    "station with the same code is a 409. `isDefault` moves the default from any other "
    "station.",
)
async def create_station(
    body: StationIn, subject: KitchenManager, session: SessionDep, restaurant: CurrentRestaurant
) -> Envelope[StationOut]:
    service = StationService(session, subject, restaurant)
    return ok((await service.out([await service.create(body)]))[0])


@kitchen_router.put(
    "/stations/{station_id}",
    response_model=Envelope[StationOut],
    openapi_extra=idempotent(),
    summary="Rename a station, reorder it or make it the default",
)
async def update_station(
    station_id: uuid.UUID,
    body: StationUpdate,
    subject: KitchenManager,
    session: SessionDep,
    restaurant: CurrentRestaurant,
) -> Envelope[StationOut]:
    service = StationService(session, subject, restaurant)
    return ok((await service.out([await service.update(station_id, body)]))[0])


@kitchen_router.delete(
    "/stations/{station_id}",
    response_model=Envelope[StationOut],
    openapi_extra=idempotent(),
    summary="Remove a station",
    description="409 while it still has items to cook. Products naming its code then go to "
    "the default station.",
)
async def delete_station(
    station_id: uuid.UUID,
    subject: KitchenManager,
    session: SessionDep,
    restaurant: CurrentRestaurant,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Envelope[StationOut]:
    service = StationService(session, subject, restaurant)
    gone = await service.delete(station_id, version)
    return ok((await service.out([gone]))[0])


@kitchen_router.post(
    "/stations/{station_id}/status",
    response_model=Envelope[StationOut],
    openapi_extra=idempotent(),
    summary="Open, pause or close a station",
    description="`paused` keeps routing items to the station (they wait); `closed` sends new "
    "items to the default station. Items already there stay. Sends "
    "`kitchen_station_updated`.",
)
async def set_station_status(
    station_id: uuid.UUID,
    body: StationStatusIn,
    subject: Cook,
    session: SessionDep,
    restaurant: CurrentRestaurant,
) -> Envelope[StationOut]:
    service = StationService(session, subject, restaurant)
    station = await service.set_status(station_id, body.status, body.reason, body.version)
    return ok((await service.out([station]))[0])


@kitchen_router.get(
    "/tickets",
    response_model=Envelope[Page[TicketOut]],
    summary="Kitchen order tickets, newest first",
)
async def tickets(
    subject: Viewer,
    session: SessionDep,
    restaurant: CurrentRestaurant,
    paging: Paging,
    day: Annotated[date | None, Query(alias="date", description="Business day")] = None,
    station: StationFilter = None,
    order_id: Annotated[uuid.UUID | None, Query(alias="orderId")] = None,
    kind: Literal["new", "addition", "void"] | None = None,
) -> Envelope[Page[TicketOut]]:
    rows, total = await TicketLog(session, subject, restaurant).find(
        paging, day=day, station=station, order_id=order_id, kind=kind
    )
    return ok(Page[TicketOut].build([ticket_out(t) for t in rows], paging, total))


@kitchen_router.get(
    "/tickets/{ticket_id}", response_model=Envelope[TicketOut], summary="One kitchen ticket"
)
async def ticket(
    ticket_id: uuid.UUID, subject: Viewer, session: SessionDep, restaurant: CurrentRestaurant
) -> Envelope[TicketOut]:
    return ok(ticket_out(await TicketLog(session, subject, restaurant).get(ticket_id)))


@kitchen_router.post(
    "/tickets/{ticket_id}/reprint",
    status_code=201,
    response_model=Envelope[ReprintOut],
    openapi_extra=idempotent(),
    summary="Reprint a kitchen ticket on its station's printers",
    description="Prints the ticket as first sent, marked REPRINT. 409 when no active network "
    "printer takes the ticket's station.",
)
async def reprint(
    ticket_id: uuid.UUID, subject: Reprinter, session: SessionDep, restaurant: CurrentRestaurant
) -> Envelope[ReprintOut]:
    found, jobs = await TicketLog(session, subject, restaurant).reprint(ticket_id)
    return ok(ReprintOut(ticket=ticket_out(found), print_jobs=jobs))


ROUTERS: list[APIRouter] = [kitchen_router]
