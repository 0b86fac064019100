"""Factory functions that build real rows (no mocks) with sensible defaults."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.auth.passwords import hash_secret
from fynlo.models import Platform, Restaurant, RestaurantSettings, User, restaurant_owners

_seq = itertools.count(1)
DEFAULT_PASSWORD = "Correct-Horse-42!"


async def create_platform(session: AsyncSession, **values: Any) -> Platform:
    n = next(_seq)
    platform = Platform(
        **{"name": f"Platform {n}", "owner_email": f"platform{n}@fynlo-test.com", **values}
    )
    session.add(platform)
    await session.flush()
    return platform


async def create_restaurant(
    session: AsyncSession, platform: Platform | None = None, **values: Any
) -> Restaurant:
    platform = platform or await create_platform(session)
    n = next(_seq)
    restaurant = Restaurant(
        **{
            "platform_id": platform.id,
            "name": f"Restaurant {n}",
            "address": {"line1": f"{n} High Street", "city": "London"},
            "timezone": "Europe/London",
            **values,
        }
    )
    session.add(restaurant)
    await session.flush()
    session.add(RestaurantSettings(restaurant_id=restaurant.id))
    await session.flush()
    return restaurant


async def create_user(
    session: AsyncSession,
    *,
    role: str = "manager",
    restaurant: Restaurant | None = None,
    password: str = DEFAULT_PASSWORD,
    pin: str | None = None,
    owns: list[Restaurant] | None = None,
    **values: Any,
) -> User:
    n = next(_seq)
    user = User(
        **{
            "email": f"user{n}@fynlo-test.com",
            "password_hash": await hash_secret(password),
            "first_name": "Test",
            "last_name": f"User{n}",
            "role": role,
            "restaurant_id": restaurant.id if restaurant else None,
            "platform_id": restaurant.platform_id if restaurant else None,
            "pin_code_hash": await hash_secret(pin) if pin else None,
            **values,
        }
    )
    session.add(user)
    await session.flush()
    for owned in owns or []:
        await session.execute(
            restaurant_owners.insert().values(restaurant_id=owned.id, user_id=user.id)
        )
    return user
