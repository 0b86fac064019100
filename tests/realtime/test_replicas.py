"""Several replicas on one Redis, and Redis going away: separate server processes."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.config import Settings
from tests.orders.factories import product
from tests.realtime.support import (
    free_port,
    listening,
    redis_process,
    server_process,
    token_of,
)
from tests.world import World


def distinct(events: list[dict[str, Any]]) -> list[str]:
    """Order ids in order of first arrival, as a client de-duplicating on eventId sees them."""
    seen: dict[str, str] = {}
    for event in events:
        seen.setdefault(event["eventId"], event["orderId"])
    return list(seen.values())


async def order(url: str, token: str, product_id: uuid.UUID) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        response = await http.post(
            "/api/orders",
            json={"items": [{"productId": str(product_id), "quantity": 1}]},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def test_an_order_taken_on_replica_a_reaches_a_client_on_replica_b(
    settings: Settings, engine: object, session: AsyncSession, world: World, redis_url: str
) -> None:
    item = await product(session, world.a1)
    await session.commit()
    shared = {"FYNLO_REDIS_URL": redis_url, "FYNLO_SOCKETIO_CHANNEL": f"test-{uuid.uuid4()}"}
    async with server_process(**shared) as a, server_process(**shared) as b:
        async with httpx.AsyncClient(base_url=a) as http:
            token = await token_of(http, world.users["manager"])
        async with listening(b, {"token": token}) as on_b:
            taken = await order(a, token, item.id)
            received = await on_b.next("new_order", timeout=10)
            assert received["orderId"] == taken["id"]
            # Exactly once, although both replicas run a dispatcher.
            assert len(await on_b.quiet("new_order", 1.0)) == 1


async def test_without_redis_orders_are_taken_and_their_events_follow_when_it_returns(
    settings: Settings, engine: object, session: AsyncSession, world: World
) -> None:
    item = await product(session, world.a1)
    await session.commit()
    port = free_port()
    env = {
        "FYNLO_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "FYNLO_SOCKETIO_CHANNEL": f"test-{uuid.uuid4()}",
    }
    async with (
        redis_process(port) as redis,
        server_process(**env) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        token = await token_of(http, world.users["manager"])
        async with listening(url, {"token": token}) as client:
            before = await order(url, token, item.id)
            assert (await client.next("new_order", timeout=10))["orderId"] == before["id"]

            redis.kill()
            await redis.wait()
            during = [await order(url, token, item.id) for _ in range(3)]
            ready = (await http.get("/api/ready")).json()["data"]
            assert ready["status"] == "degraded"
            assert ready["redis"]["status"] == "error"
            assert ready["realtime"]["status"] == "degraded"
            # Nothing comes meanwhile (a failed publish reaches no client, not even
            # this replica's own).
            got = await client.quiet("new_order", 1.0)
            assert [e["orderId"] for e in got] == [before["id"]]

            async with redis_process(port):
                # At least once: an event whose publish the outage cut off half-way may
                # come twice; clients de-duplicate on eventId.
                async with asyncio.timeout(20):
                    while len(distinct(client.received["new_order"])) < 4:
                        await asyncio.sleep(0.1)
                ids = distinct(client.received["new_order"])
                assert ids == [before["id"]] + [o["id"] for o in during]
                for _ in range(50):
                    ready = (await http.get("/api/ready")).json()["data"]
                    if ready["status"] == "ready":
                        break
                    await asyncio.sleep(0.1)
                assert ready["realtime"]["status"] == "ok"
