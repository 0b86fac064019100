"""A shared cast for domain tests: two owners' restaurants and a user of every role."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models import Restaurant, User
from tests.factories import DEFAULT_PASSWORD, create_platform, create_restaurant, create_user


async def login(client: httpx.AsyncClient, user: User) -> dict[str, str]:
    response = await client.post(
        "/api/auth/login", json={"email": user.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['tokens']['access']}"}


@dataclass
class World:
    """Two owners' restaurants on one platform: A (owner owns A1 and A2) and B."""

    a1: Restaurant
    a2: Restaurant
    b: Restaurant
    platform_owner: User
    owner_a: User
    owner_b: User
    users: dict[str, User]  # one user of each staff role in A1
    other_manager: User  # manager of B


async def build_world(session: AsyncSession) -> World:
    platform = await create_platform(session)
    a1 = await create_restaurant(session, platform)
    a2 = await create_restaurant(session, platform)
    b = await create_restaurant(session, platform)
    platform_owner = await create_user(session, role="platform_owner", platform_id=platform.id)
    owner_a = await create_user(session, role="restaurant_owner", restaurant=a1, owns=[a1, a2])
    owner_b = await create_user(session, role="restaurant_owner", restaurant=b, owns=[b])
    users = {
        role: await create_user(session, role=role, restaurant=a1)
        for role in ("manager", "captain", "cashier", "waiter", "kitchen_staff", "employee")
    }
    other_manager = await create_user(session, role="manager", restaurant=b)
    await session.commit()
    return World(a1, a2, b, platform_owner, owner_a, owner_b, users, other_manager)
