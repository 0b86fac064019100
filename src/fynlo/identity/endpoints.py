"""``/api/users``, ``/api/restaurants`` (with settings) and ``/api/audit-logs``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy import func, or_, select

from fynlo.auth.subject import CurrentSubject, Subject, require_permission
from fynlo.authz.roles import Role
from fynlo.identity.schemas import (
    AuditLogOut,
    RestaurantCreate,
    RestaurantOut,
    RestaurantUpdate,
    SettingsOut,
    SettingsUpdate,
    UserCreate,
    UserOut,
    UserUpdate,
)
from fynlo.identity.service import RestaurantService, UserService, user_out
from fynlo.kit.idempotency import idempotent
from fynlo.kit.pagination import Page, PageParams, page_params
from fynlo.kit.routing import router
from fynlo.kit.schemas import Envelope, ok
from fynlo.kit.unit_of_work import SessionDep
from fynlo.models import AuditLog, Restaurant, RestaurantSettings

users_router = router(prefix="/api/users", tags=["users"])
restaurants_router = router(prefix="/api/restaurants", tags=["restaurants"])
audit_router = router(prefix="/api/audit-logs", tags=["audit"])

Paging = Annotated[PageParams, Depends(page_params)]


@users_router.get("", response_model=Envelope[Page[UserOut]], summary="Staff of my restaurants")
async def list_users(
    subject: Annotated[Subject, Depends(require_permission("users.read"))],
    session: SessionDep,
    paging: Paging,
    role: Role | None = None,
    is_active: Annotated[bool | None, Query(alias="isActive")] = None,
    restaurant_id: Annotated[uuid.UUID | None, Query(alias="restaurantId")] = None,
    search: Annotated[str | None, Query(max_length=100)] = None,
) -> Envelope[Page[UserOut]]:
    users, total = await UserService(session, subject).list(
        paging,
        role=role.value if role else None,
        is_active=is_active,
        restaurant_id=restaurant_id,
        search=search,
    )
    return ok(Page[UserOut].build([user_out(u) for u in users], paging, total))


@users_router.post(
    "",
    status_code=201,
    response_model=Envelope[UserOut],
    openapi_extra=idempotent(),
    summary="Add a staff member",
    description="The creator must outrank the new role (a manager cannot create an owner).",
)
async def create_user(
    body: UserCreate,
    subject: Annotated[Subject, Depends(require_permission("users.create"))],
    session: SessionDep,
) -> Envelope[UserOut]:
    return ok(user_out(await UserService(session, subject).create(body)))


@users_router.get("/{user_id}", response_model=Envelope[UserOut], summary="One staff member")
async def get_user(
    user_id: uuid.UUID, subject: CurrentSubject, session: SessionDep
) -> Envelope[UserOut]:
    return ok(user_out(await UserService(session, subject).get(user_id)))


@users_router.put(
    "/{user_id}",
    response_model=Envelope[UserOut],
    summary="Change a staff member",
    description="Anyone may change their own name, password and PIN; changing others needs "
    "`users.update` and a higher role. Nobody changes their own role.",
)
async def update_user(
    user_id: uuid.UUID, body: UserUpdate, subject: CurrentSubject, session: SessionDep
) -> Envelope[UserOut]:
    return ok(user_out(await UserService(session, subject).update(user_id, body)))


@users_router.delete(
    "/{user_id}",
    response_model=Envelope[UserOut],
    summary="Deactivate a staff member (their tokens stop working at once)",
)
async def deactivate_user(
    user_id: uuid.UUID,
    subject: Annotated[Subject, Depends(require_permission("users.delete"))],
    session: SessionDep,
) -> Envelope[UserOut]:
    return ok(user_out(await UserService(session, subject).deactivate(user_id)))


def _settings_out(restaurant: Restaurant, settings: RestaurantSettings) -> SettingsOut:
    return SettingsOut(
        restaurant_id=restaurant.id,
        pos=settings.pos_settings,
        kitchen=settings.kitchen_settings,
        receipt=settings.receipt_settings,
        notification=settings.notification_settings,
        hardware=settings.hardware_settings,
        tax_configuration=restaurant.tax_configuration,
        payment_methods=restaurant.payment_methods,
    )


@restaurants_router.get(
    "",
    response_model=Envelope[Page[RestaurantOut]],
    summary="Restaurants I can reach (platform owner: all of the platform; owner: theirs)",
)
async def list_restaurants(
    subject: Annotated[Subject, Depends(require_permission("restaurants.read"))],
    session: SessionDep,
    paging: Paging,
) -> Envelope[Page[RestaurantOut]]:
    rows, total = await RestaurantService(session, subject).list(paging)
    return ok(
        Page[RestaurantOut].build([RestaurantOut.model_validate(r) for r in rows], paging, total)
    )


@restaurants_router.post(
    "",
    status_code=201,
    response_model=Envelope[RestaurantOut],
    openapi_extra=idempotent(),
    summary="Open a restaurant (platform owner)",
)
async def create_restaurant(
    body: RestaurantCreate,
    subject: Annotated[Subject, Depends(require_permission("restaurants.create"))],
    session: SessionDep,
) -> Envelope[RestaurantOut]:
    return ok(RestaurantOut.model_validate(await RestaurantService(session, subject).create(body)))


@restaurants_router.get(
    "/{restaurant_id}", response_model=Envelope[RestaurantOut], summary="One restaurant"
)
async def get_restaurant(
    restaurant_id: uuid.UUID,
    subject: Annotated[Subject, Depends(require_permission("restaurants.read"))],
    session: SessionDep,
) -> Envelope[RestaurantOut]:
    return ok(
        RestaurantOut.model_validate(await RestaurantService(session, subject).get(restaurant_id))
    )


@restaurants_router.put(
    "/{restaurant_id}", response_model=Envelope[RestaurantOut], summary="Change a restaurant"
)
async def update_restaurant(
    restaurant_id: uuid.UUID,
    body: RestaurantUpdate,
    subject: Annotated[Subject, Depends(require_permission("restaurants.update"))],
    session: SessionDep,
) -> Envelope[RestaurantOut]:
    restaurant = await RestaurantService(session, subject).update(restaurant_id, body)
    return ok(RestaurantOut.model_validate(restaurant))


@restaurants_router.get(
    "/{restaurant_id}/settings", response_model=Envelope[SettingsOut], summary="Restaurant settings"
)
async def get_settings(
    restaurant_id: uuid.UUID,
    subject: Annotated[Subject, Depends(require_permission("settings.read"))],
    session: SessionDep,
) -> Envelope[SettingsOut]:
    return ok(_settings_out(*await RestaurantService(session, subject).settings(restaurant_id)))


@restaurants_router.put(
    "/{restaurant_id}/settings",
    response_model=Envelope[SettingsOut],
    summary="Change settings (sections given replace; payment methods merge)",
)
async def put_settings(
    restaurant_id: uuid.UUID,
    body: SettingsUpdate,
    subject: Annotated[Subject, Depends(require_permission("settings.update"))],
    session: SessionDep,
) -> Envelope[SettingsOut]:
    return ok(
        _settings_out(
            *await RestaurantService(session, subject).update_settings(restaurant_id, body)
        )
    )


@audit_router.get("", response_model=Envelope[Page[AuditLogOut]], summary="The audit log")
async def list_audit_logs(
    subject: Annotated[Subject, Depends(require_permission("audit.read"))],
    session: SessionDep,
    paging: Paging,
    user_id: Annotated[uuid.UUID | None, Query(alias="userId")] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    resource_type: Annotated[str | None, Query(alias="resourceType", max_length=50)] = None,
    restaurant_id: Annotated[uuid.UUID | None, Query(alias="restaurantId")] = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> Envelope[Page[AuditLogOut]]:
    visible = subject.scope.clause(AuditLog.restaurant_id)
    if subject.role == Role.PLATFORM_OWNER:
        visible = or_(visible, AuditLog.restaurant_id.is_(None))
    query = select(AuditLog).where(visible)
    for column, value in (
        (AuditLog.user_id, user_id),
        (AuditLog.action, action),
        (AuditLog.resource_type, resource_type),
        (AuditLog.restaurant_id, restaurant_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if start is not None:
        query = query.where(AuditLog.created_at >= start)
    if end is not None:
        query = query.where(AuditLog.created_at < end)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(AuditLog.created_at.desc(), AuditLog.seq.desc())
        .limit(paging.limit)
        .offset(paging.offset)
    )
    return ok(Page[AuditLogOut].build([AuditLogOut.model_validate(r) for r in rows], paging, total))
