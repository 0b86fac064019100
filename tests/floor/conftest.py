"""Floor test fixtures: signing in by role name."""

from __future__ import annotations

import httpx
import pytest

from tests.floor.support import Auth
from tests.world import World, login


@pytest.fixture
def auth(client: httpx.AsyncClient, world: World) -> Auth:
    """Headers for a member of the world by name: a staff role of A1, or owner_a, owner_b,
    other_manager, platform_owner."""
    cache: dict[str, dict[str, str]] = {}

    async def headers(who: str) -> dict[str, str]:
        if who not in cache:
            user = getattr(world, who) if hasattr(world, who) else world.users[who]
            cache[who] = await login(client, user)
        return cache[who]

    return headers
