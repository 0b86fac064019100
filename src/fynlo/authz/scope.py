"""Tenant scope: the one mechanism that decides which restaurants a caller reaches."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models import Restaurant


@dataclass(frozen=True)
class TenantScope:
    """Either every restaurant of one platform, or an explicit set of restaurants."""

    platform_id: uuid.UUID | None = None
    restaurant_ids: frozenset[uuid.UUID] = frozenset()

    def clause(self, column: Any) -> ColumnElement[bool]:
        """``WHERE`` condition limiting ``column`` (a restaurant id column) to this scope."""
        if self.platform_id is not None:
            return column.in_(  # type: ignore[no-any-return]
                select(Restaurant.id).where(Restaurant.platform_id == self.platform_id)
            )
        if not self.restaurant_ids:
            return false()
        return column.in_(sorted(self.restaurant_ids))  # type: ignore[no-any-return]

    async def includes(self, session: AsyncSession, restaurant_id: uuid.UUID) -> bool:
        if self.platform_id is None:
            return restaurant_id in self.restaurant_ids
        found = await session.scalar(
            select(Restaurant.id).where(
                Restaurant.id == restaurant_id, Restaurant.platform_id == self.platform_id
            )
        )
        return found is not None
