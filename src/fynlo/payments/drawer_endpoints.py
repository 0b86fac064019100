"""``/api/cash-drawers``: drawer sessions opened with a float, paid in/out, counted and closed."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from fynlo.auth.subject import Subject, require_permission
from fynlo.authz.context import CurrentRestaurant
from fynlo.kit.idempotency import idempotent
from fynlo.kit.money import to_major
from fynlo.kit.pagination import Page, PageParams, page_params
from fynlo.kit.routing import router
from fynlo.kit.schemas import Envelope, ok
from fynlo.kit.unit_of_work import SessionDep
from fynlo.models import CashMovement
from fynlo.payments.drawer import DrawerService, DrawerView
from fynlo.payments.drawer_schemas import (
    CashMovementCreatedOut,
    CashMovementOut,
    DrawerBreakdown,
    DrawerClose,
    DrawerMovementIn,
    DrawerOpen,
    DrawerSessionDetailOut,
    DrawerSessionOut,
    DrawerStatus,
)

drawers_router = router(prefix="/api/cash-drawers", tags=["cash drawers"])

Paging = Annotated[PageParams, Depends(page_params)]
Reader = Annotated[Subject, Depends(require_permission("payments.read"))]
Manager = Annotated[Subject, Depends(require_permission("cash_drawer.manage"))]


def movement_out(movement: CashMovement, currency: str) -> CashMovementOut:
    return CashMovementOut(
        id=movement.id,
        type=movement.kind,
        amount=to_major(movement.amount_minor, currency),
        reason=movement.reason,
        payment_id=movement.payment_id,
        user_id=movement.user_id,
        created_at=movement.created_at,
    )


def _session_fields(view: DrawerView) -> dict[str, Any]:
    drawer, c = view.drawer, view.drawer.currency
    return {
        "id": drawer.id,
        "drawer": drawer.drawer,
        "status": drawer.status,
        "currency": c,
        "float_amount": to_major(drawer.float_minor, c),
        "expected_amount": to_major(view.expected, c),
        "counted_amount": (
            None if drawer.counted_minor is None else to_major(drawer.counted_minor, c)
        ),
        "variance": None if drawer.variance_minor is None else to_major(drawer.variance_minor, c),
        "opened_by": drawer.opened_by,
        "opened_at": drawer.opened_at,
        "closed_by": drawer.closed_by,
        "closed_at": drawer.closed_at,
        "notes": drawer.notes,
        "version": drawer.version,
    }


def session_out(view: DrawerView) -> DrawerSessionOut:
    return DrawerSessionOut(**_session_fields(view))


def session_detail_out(view: DrawerView) -> DrawerSessionDetailOut:
    c = view.drawer.currency

    def kind(name: str) -> Decimal:
        return to_major(view.by_kind.get(name, 0), c)

    return DrawerSessionDetailOut(
        **_session_fields(view),
        breakdown=DrawerBreakdown(
            float_amount=kind("float"),
            sales=kind("sale"),
            refunds=kind("refund"),
            paid_in=kind("paid_in"),
            paid_out=kind("paid_out"),
        ),
        movements=[movement_out(m, c) for m in view.movements],
    )


@drawers_router.get(
    "/sessions",
    response_model=Envelope[Page[DrawerSessionOut]],
    summary="Cash drawer sessions, newest first",
    description="Each with its expected cash: the running sum of its movements while open, "
    "the amount fixed at close once closed.",
)
async def list_sessions(
    subject: Reader,
    session: SessionDep,
    restaurant: CurrentRestaurant,
    paging: Paging,
    status: DrawerStatus | None = None,
    drawer: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
) -> Envelope[Page[DrawerSessionOut]]:
    views, total = await DrawerService(session, subject, restaurant).find(
        paging, status=status, drawer=drawer
    )
    return ok(Page[DrawerSessionOut].build([session_out(v) for v in views], paging, total))


@drawers_router.post(
    "/sessions",
    status_code=201,
    response_model=Envelope[DrawerSessionDetailOut],
    openapi_extra=idempotent(),
    summary="Open a cash drawer with a counted float",
    description="Writes the float as the session's first movement. A drawer holds one open "
    "session at a time: a second open is a 409 `drawer_already_open`.",
)
async def open_session(
    body: DrawerOpen, subject: Manager, session: SessionDep, restaurant: CurrentRestaurant
) -> Envelope[DrawerSessionDetailOut]:
    return ok(session_detail_out(await DrawerService(session, subject, restaurant).open(body)))


@drawers_router.get(
    "/sessions/{session_id}",
    response_model=Envelope[DrawerSessionDetailOut],
    summary="One cash drawer session with its movements and expected cash by kind",
)
async def get_session(
    session_id: uuid.UUID, subject: Reader, session: SessionDep, restaurant: CurrentRestaurant
) -> Envelope[DrawerSessionDetailOut]:
    return ok(session_detail_out(await DrawerService(session, subject, restaurant).get(session_id)))


@drawers_router.post(
    "/sessions/{session_id}/movements",
    status_code=201,
    response_model=Envelope[CashMovementCreatedOut],
    openapi_extra=idempotent(),
    summary="Pay cash into or out of an open drawer, with a reason",
    description="A paid-out larger than the cash the drawer should hold is a 409 "
    "`insufficient_drawer_cash`; a closed session is a 409 `drawer_closed`.",
)
async def add_movement(
    session_id: uuid.UUID,
    body: DrawerMovementIn,
    subject: Manager,
    session: SessionDep,
    restaurant: CurrentRestaurant,
) -> Envelope[CashMovementCreatedOut]:
    movement, view = await DrawerService(session, subject, restaurant).move(session_id, body)
    return ok(
        CashMovementCreatedOut(
            movement=movement_out(movement, view.drawer.currency), session=session_out(view)
        )
    )


@drawers_router.post(
    "/sessions/{session_id}/close",
    response_model=Envelope[DrawerSessionDetailOut],
    openapi_extra=idempotent(),
    summary="Count and close a drawer: expected, counted and variance",
    description="Expected is the sum of the session's movements (float, sales, refunds, "
    "paid in and out); variance is counted - expected, negative when cash is missing. "
    "Closing a closed session is a 409 `drawer_closed`; a stale `version` a 409 "
    "`stale_version`.",
)
async def close_session(
    session_id: uuid.UUID,
    body: DrawerClose,
    subject: Manager,
    session: SessionDep,
    restaurant: CurrentRestaurant,
) -> Envelope[DrawerSessionDetailOut]:
    view = await DrawerService(session, subject, restaurant).close(session_id, body)
    return ok(session_detail_out(view))


ROUTERS: list[APIRouter] = [drawers_router]
