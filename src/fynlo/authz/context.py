"""Which restaurant a request acts on, decided once for every domain endpoint."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy import bindparam, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from fynlo.auth.subject import CurrentSubject, Subject
from fynlo.kit.errors import ResourceNotFound, Unprocessable
from fynlo.kit.unit_of_work import SessionDep
from fynlo.models import Restaurant, RestaurantSettings

# Built once (every domain request runs it); the settings come in the same query.
_RESTAURANT_WITH_SETTINGS = (
    select(Restaurant)
    .options(joinedload(Restaurant.settings_record))
    .where(Restaurant.id == bindparam("restaurant_id"))
)


async def resolve_restaurant(
    session: AsyncSession, subject: Subject, restaurant_id: uuid.UUID | None
) -> Restaurant:
    """The restaurant named (which must be in the caller's scope, else 404), or the
    caller's own one when they have exactly one."""
    wanted = restaurant_id
    if wanted is None:
        if subject.scope.platform_id is None and len(subject.scope.restaurant_ids) == 1:
            (wanted,) = subject.scope.restaurant_ids
        elif subject.user.restaurant_id is not None and subject.scope.platform_id is None:
            wanted = subject.user.restaurant_id
        else:
            raise Unprocessable(
                "restaurantId is required: you can reach several restaurants",
                details=[{"field": "restaurantId", "message": "required for this account"}],
            )
    if not await subject.scope.includes(session, wanted):
        raise ResourceNotFound("Restaurant", wanted)
    restaurant = await session.scalar(_RESTAURANT_WITH_SETTINGS, {"restaurant_id": wanted})
    if restaurant is None or not restaurant.is_active:
        raise ResourceNotFound("Restaurant", wanted)
    return restaurant


async def restaurant_settings(
    session: AsyncSession, restaurant: Restaurant
) -> RestaurantSettings | None:
    """The restaurant's settings row: already loaded by :func:`resolve_restaurant`, else read."""
    if "settings_record" not in inspect(restaurant).unloaded:
        return restaurant.settings_record
    return await session.scalar(
        select(RestaurantSettings).where(RestaurantSettings.restaurant_id == restaurant.id)
    )


async def current_restaurant(
    subject: CurrentSubject,
    session: SessionDep,
    restaurant_id: Annotated[
        uuid.UUID | None,
        Query(
            alias="restaurantId",
            description="Needed only by callers who reach several restaurants (owners)",
        ),
    ] = None,
) -> Restaurant:
    return await resolve_restaurant(session, subject, restaurant_id)


CurrentRestaurant = Annotated[Restaurant, Depends(current_restaurant)]
