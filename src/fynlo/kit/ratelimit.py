"""Moving-window rate limits, in memory (embedded default) or in Redis (shared by replicas)."""

from __future__ import annotations

import math
import time

import structlog
from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from fynlo.kit.errors import RateLimited

log = structlog.get_logger(__name__)


def _storage_uri(redis_url: str | None) -> str:
    if not redis_url:
        return "async+memory://"
    scheme, _, rest = redis_url.partition("://")
    return f"async+{scheme}://{rest}"


class RateLimiter:
    def __init__(self, redis_url: str | None) -> None:
        options: dict[str, str] = {"implementation": "redispy"} if redis_url else {}
        self._storage = storage_from_string(_storage_uri(redis_url), **options)
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._parsed: dict[str, RateLimitItem] = {}

    def _item(self, limit: str) -> RateLimitItem:
        item = self._parsed.get(limit)
        if item is None:
            item = self._parsed[limit] = parse(limit)
        return item

    async def check(self, limit: str, *identifiers: str, message: str | None = None) -> None:
        """Count one hit; raise :class:`RateLimited` (429 + Retry-After) when over the limit.

        If the shared store (Redis) is down the request is let through and the fault is
        logged: losing rate limiting for a moment is better than refusing every order.
        """
        if not limit:
            return
        item = self._item(limit)
        try:
            if await self._limiter.hit(item, *identifiers):
                return
            stats = await self._limiter.get_window_stats(item, *identifiers)
        except Exception as exc:  # connection errors of whichever backend
            log.warning("rate_limit_store_unavailable", error=str(exc))
            return
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(retry_after, message)

    async def reset(self) -> None:
        await self._storage.reset()  # type: ignore[misc]
