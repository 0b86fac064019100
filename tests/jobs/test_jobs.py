"""Jobs in their own processes: ``fynlo worker`` and ``fynlo scheduler`` on real Redis."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.events.outbox import emit
from fynlo.jobs import tasks
from fynlo.models import OutboxEvent
from tests.orders.factories import product
from tests.realtime.support import fynlo_process, listening, server_process, token_of
from tests.world import World


def isolated(redis_url: str) -> dict[str, str]:
    """Redis settings of one test: its own pub/sub channel and job stream."""
    run = uuid.uuid4().hex[:12]
    return {
        "FYNLO_REDIS_URL": redis_url,
        "FYNLO_SOCKETIO_CHANNEL": f"test-channel-{run}",
        "FYNLO_JOBS_QUEUE": f"test-jobs-{run}",
    }


async def test_the_api_queues_a_dispatch_and_the_worker_publishes_to_its_clients(
    engine: object, session: AsyncSession, world: World, redis_url: str
) -> None:
    item = await product(session, world.a1)
    await session.commit()
    env = isolated(redis_url)
    async with (
        server_process(**env, FYNLO_BACKGROUND_WORK="false") as api,
        fynlo_process("worker", **env),
        httpx.AsyncClient(base_url=api, timeout=10) as http,
    ):
        token = await token_of(http, world.users["manager"])
        async with listening(api, {"token": token}) as client:
            created = await http.post(
                "/api/orders",
                json={"items": [{"productId": str(item.id), "quantity": 1}]},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert created.status_code == 201, created.text
            received = await client.next("new_order", timeout=20)
            assert received["orderId"] == created.json()["data"]["id"]
            ready = (await http.get("/api/ready")).json()["data"]
            assert ready["realtime"]["status"] == "not_running"  # the API publishes nothing


async def test_the_scheduler_dispatches_events_nobody_kicked(
    engine: object, session: AsyncSession, world: World, redis_url: str
) -> None:
    env = isolated(redis_url)
    async with (
        server_process(**env, FYNLO_BACKGROUND_WORK="false"),  # subscribed to the channel
        fynlo_process("worker", **env),
        fynlo_process("scheduler", **env),
    ):
        event = emit(session, world.a1.id, "notification", {"message": "written by a script"})
        await session.commit()
        event_id = event.id
        published = None
        async with asyncio.timeout(30):
            while published is None:
                await asyncio.sleep(0.5)
                await session.rollback()  # a fresh snapshot (SQLite keeps the old one)
                published = await session.scalar(
                    select(OutboxEvent.published_at).where(OutboxEvent.id == event_id)
                )


async def test_a_periodic_slot_runs_once_across_schedulers(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    name = f"test-{uuid.uuid4().hex}"
    try:
        claims = await asyncio.gather(*(tasks.once_per_slot(redis, name, 60) for _ in range(10)))
        assert claims.count(True) == 1
        assert await tasks.once_per_slot(redis, f"{name}-other", 60) is True
        assert await tasks.once_per_slot(None, name, 60) is True  # one process, no Redis
    finally:
        await redis.aclose()


async def test_a_job_is_retried_with_backoff_and_finally_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tasks, "RETRY_BASE_SECONDS", 0.01)
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def recorded(seconds: float, *args: Any) -> None:
        sleeps.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(tasks.asyncio, "sleep", recorded)
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("receiver down")
        return "done"

    assert await tasks.retrying("flaky", flaky) == "done"
    assert calls == 3
    assert len(sleeps) == 2
    assert sleeps[1] > sleeps[0]  # exponential

    async def broken() -> str:
        raise ConnectionError("still down")

    with pytest.raises(ConnectionError, match="still down"):
        await tasks.retrying("broken", broken, attempts=4)
    assert len(sleeps) == 2 + 3


async def test_worker_and_scheduler_refuse_to_start_without_redis() -> None:
    for command in ("worker", "scheduler"):
        async with fynlo_process(command) as process:
            assert await asyncio.wait_for(process.wait(), 20) == 2
