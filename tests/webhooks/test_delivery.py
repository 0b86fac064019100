"""deliver_due: retries with backoff, giving up, claims that never send twice, rotation."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fynlo.config import Settings
from fynlo.db.types import utc_now
from fynlo.webhooks import delivery as delivery_module
from fynlo.webhooks.delivery import retry_delay
from fynlo.webhooks.signing import DELIVERY_ID_HEADER, verify
from tests.webhooks.conftest import MakeReceiver
from tests.webhooks.support import (
    Deliverer,
    attempts_of,
    create_endpoint,
    deliveries_of,
    free_port,
    only_delivery,
    publish,
)
from tests.world import World, login


def test_backoff_doubles_from_30_seconds_up_to_an_hour() -> None:
    assert [retry_delay(n).total_seconds() for n in range(1, 10)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]
    assert retry_delay(50) == timedelta(hours=1)


async def test_retries_until_the_receiver_accepts(
    session: AsyncSession,
    settings: Settings,
    world: World,
    make_receiver: MakeReceiver,
    deliver: Deliverer,
) -> None:
    receiver = await make_receiver([500, 500])  # then 200
    endpoint, secret = await create_endpoint(session, settings, world.a1, receiver.url)
    await publish(session, world.a1)
    t0 = utc_now()

    assert await deliver(now=t0) == 1
    first = await only_delivery(session, endpoint)
    assert (first.status, first.attempts, first.last_status_code) == ("pending", 1, 500)
    assert first.next_attempt_at == t0 + timedelta(seconds=30)
    assert first.last_error == "receiver answered HTTP 500"

    assert await deliver(now=t0 + timedelta(seconds=29)) == 0  # still backing off
    t1 = t0 + timedelta(seconds=31)
    assert await deliver(now=t1) == 1
    second = await only_delivery(session, endpoint)
    assert (second.status, second.attempts) == ("pending", 2)
    assert second.next_attempt_at == t1 + timedelta(minutes=1)

    assert await deliver(now=t1 + timedelta(seconds=59)) == 0
    t2 = t1 + timedelta(seconds=61)
    assert await deliver(now=t2) == 1
    done = await only_delivery(session, endpoint)
    assert (done.status, done.attempts, done.last_status_code) == ("delivered", 3, 200)
    assert done.delivered_at == t2
    assert done.next_attempt_at is None
    assert done.last_error is None

    attempts = await attempts_of(session, done)
    assert [(a.attempt, a.status_code, a.manual) for a in attempts] == [
        (1, 500, False),
        (2, 500, False),
        (3, 200, False),
    ]
    assert all(a.duration_ms >= 0 for a in attempts)
    assert [r.status for r in receiver.requests] == [500, 500, 200]
    assert len(receiver.accepted) == 1
    # the same event every time, each signed afresh
    assert len({r.body for r in receiver.requests}) == 1
    assert all(verify(secret, r.signature, r.body) for r in receiver.requests)
    assert await deliver(now=t2 + timedelta(hours=2)) == 0  # delivered: never again


async def test_refused_connection_is_logged_and_retried_later(
    session: AsyncSession, settings: Settings, world: World, deliver: Deliverer
) -> None:
    endpoint, _ = await create_endpoint(
        session, settings, world.a1, f"http://127.0.0.1:{free_port()}/nobody-listens"
    )
    await publish(session, world.a1)
    now = utc_now()

    assert await deliver(now=now) == 1
    delivery = await only_delivery(session, endpoint)
    assert delivery.status == "pending"
    assert delivery.attempts == 1
    assert delivery.last_status_code is None
    assert delivery.last_error is not None
    assert delivery.last_error.startswith("connection failed")
    assert delivery.next_attempt_at == now + timedelta(seconds=30)
    (attempt,) = await attempts_of(session, delivery)
    assert attempt.status_code is None
    assert attempt.error == delivery.last_error
    assert not attempt.manual


async def test_timeout_is_a_failed_attempt(
    session: AsyncSession,
    settings: Settings,
    world: World,
    make_receiver: MakeReceiver,
    deliver: Deliverer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(delivery_module, "TIMEOUT_SECONDS", 0.2)
    receiver = await make_receiver(delay=1.0)
    endpoint, _ = await create_endpoint(session, settings, world.a1, receiver.url)
    await publish(session, world.a1)

    assert await deliver() == 1
    delivery = await only_delivery(session, endpoint)
    assert delivery.status == "pending"
    assert delivery.last_error == "timed out after 0.2 s"
    (attempt,) = await attempts_of(session, delivery)
    assert attempt.status_code is None
    assert 150 <= attempt.duration_ms < 1000


async def test_gives_up_once_older_than_24_hours(
    session: AsyncSession,
    settings: Settings,
    world: World,
    make_receiver: MakeReceiver,
    deliver: Deliverer,
) -> None:
    receiver = await make_receiver(default=503)
    endpoint, _ = await create_endpoint(session, settings, world.a1, receiver.url)
    await publish(session, world.a1)
    created = (await only_delivery(session, endpoint)).created_at

    assert await deliver(now=created + timedelta(hours=23)) == 1
    assert (await only_delivery(session, endpoint)).status == "pending"

    assert await deliver(now=created + timedelta(hours=24, seconds=1)) == 1
    failed = await only_delivery(session, endpoint)
    assert failed.status == "failed"
    assert failed.next_attempt_at is None
    assert failed.attempts == 2
    assert failed.last_status_code == 503
    assert len(await attempts_of(session, failed)) == 2
    assert await deliver(now=created + timedelta(days=3)) == 0  # given up: never sent again
    assert len(receiver.requests) == 2


async def test_two_concurrent_rounds_never_send_a_delivery_twice(
    session: AsyncSession,
    settings: Settings,
    world: World,
    make_receiver: MakeReceiver,
    engine: AsyncEngine,
) -> None:
    receiver = await make_receiver(delay=0.05)
    endpoints = [
        (await create_endpoint(session, settings, world.a1, receiver.url))[0] for _ in range(3)
    ]
    for _ in range(4):
        await publish(session, world.a1)
    async with httpx.AsyncClient() as first, httpx.AsyncClient() as second:
        one, two = Deliverer(engine, settings, first), Deliverer(engine, settings, second)
        counts = await asyncio.gather(one(limit=7), two(limit=7), one(limit=7))

    assert sum(counts) == 12
    sent = [r.headers[DELIVERY_ID_HEADER] for r in receiver.requests]
    assert len(sent) == 12
    assert len(set(sent)) == 12
    for endpoint in endpoints:
        rows = await deliveries_of(session, endpoint)
        assert [d.status for d in rows] == ["delivered"] * 4
        assert all(d.attempts == 1 for d in rows)


async def test_claimed_rows_are_leased_while_being_sent(
    session: AsyncSession,
    settings: Settings,
    world: World,
    make_receiver: MakeReceiver,
    deliver: Deliverer,
) -> None:
    receiver = await make_receiver(delay=0.5)
    endpoint, _ = await create_endpoint(session, settings, world.a1, receiver.url)
    await publish(session, world.a1)
    now = utc_now()

    sending = asyncio.create_task(deliver(now=now))
    async with asyncio.timeout(10):
        while not receiver.requests:  # the HTTP call is under way: its claim has committed
            assert not sending.done(), sending.result()
            await asyncio.sleep(0.01)
    leased = await only_delivery(session, endpoint)
    assert leased.status == "pending"
    assert leased.next_attempt_at == now + delivery_module.LEASE
    assert await deliver(now=now + timedelta(seconds=1)) == 0  # another round passes it by
    assert await sending == 1
    assert (await only_delivery(session, endpoint)).status == "delivered"
    assert len(receiver.requests) == 1


async def test_inactive_endpoints_pending_deliveries_wait(
    session: AsyncSession,
    settings: Settings,
    world: World,
    make_receiver: MakeReceiver,
    deliver: Deliverer,
) -> None:
    receiver = await make_receiver()
    endpoint, _ = await create_endpoint(session, settings, world.a1, receiver.url)
    await publish(session, world.a1)
    endpoint.is_active = False
    await session.commit()

    assert await deliver() == 0
    assert receiver.requests == []
    endpoint.is_active = True
    await session.commit()
    assert await deliver() == 1
    assert (await only_delivery(session, endpoint)).status == "delivered"


async def test_rotated_secret_signs_alongside_the_new_one_until_it_expires(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    world: World,
    make_receiver: MakeReceiver,
    deliver: Deliverer,
) -> None:
    receiver = await make_receiver()
    endpoint, old_secret = await create_endpoint(session, settings, world.a1, receiver.url)
    headers = await login(client, world.owner_a)
    response = await client.post(f"/api/webhooks/{endpoint.id}/rotate-secret", headers=headers)
    assert response.status_code == 200, response.text
    new_secret = response.json()["data"]["secret"]
    assert new_secret != old_secret

    await publish(session, world.a1)
    assert await deliver() == 1
    during = receiver.requests[-1]
    assert during.v1_count == 2
    assert verify(new_secret, during.signature, during.body)
    assert verify(old_secret, during.signature, during.body)

    await publish(session, world.a1)
    assert await deliver(now=utc_now() + timedelta(hours=24, minutes=1)) == 1
    after = receiver.requests[-1]
    assert after.v1_count == 1
    assert verify(new_secret, after.signature, after.body)
    assert not verify(old_secret, after.signature, after.body)


async def test_an_unsignable_delivery_is_a_failed_attempt_and_blocks_nothing(
    session: AsyncSession,
    settings: Settings,
    world: World,
    make_receiver: MakeReceiver,
    deliver: Deliverer,
) -> None:
    receiver = await make_receiver()
    broken, _ = await create_endpoint(session, settings, world.a1, receiver.url)
    broken.secret_encrypted = "encrypted-with-a-key-long-gone"
    await session.commit()
    healthy, _ = await create_endpoint(session, settings, world.a1, receiver.url)
    await publish(session, world.a1)
    now = utc_now()

    assert await deliver(now=now) == 2
    unsent = await only_delivery(session, broken)
    assert unsent.status == "pending"
    assert unsent.last_error == delivery_module.UNSIGNABLE
    assert unsent.next_attempt_at == now + timedelta(seconds=30)
    (attempt,) = await attempts_of(session, unsent)
    assert attempt.error == delivery_module.UNSIGNABLE
    assert (await only_delivery(session, healthy)).status == "delivered"
    assert len(receiver.requests) == 1
