"""The job broker: Redis streams when ``FYNLO_REDIS_URL`` is set, in memory otherwise.

``fynlo worker`` consumes it (taskiq's worker, ``fynlo.jobs.broker:broker``); ``fynlo
scheduler`` kicks the periodic jobs into it. Without Redis there is nothing to consume from
another process: the API process runs the same work itself (``FYNLO_BACKGROUND_WORK``).
"""

from __future__ import annotations

from taskiq import AsyncBroker, InMemoryBroker
from taskiq_redis import RedisStreamBroker

from fynlo.config import Settings, get_settings


def build_broker(settings: Settings) -> AsyncBroker:
    if settings.redis_url:
        return RedisStreamBroker(
            settings.redis_url,
            queue_name=settings.jobs_queue,
            consumer_group_name=f"{settings.jobs_queue}-workers",
        )
    return InMemoryBroker()


broker = build_broker(get_settings())
