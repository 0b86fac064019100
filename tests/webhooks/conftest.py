"""Webhook fixtures: real receivers on loopback and a delivery round runner."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from fynlo.config import Settings
from tests.webhooks.support import Deliverer, Receiver

MakeReceiver = Callable[..., Awaitable[Receiver]]


@pytest.fixture
async def make_receiver() -> AsyncIterator[MakeReceiver]:
    started: list[Receiver] = []

    async def make(statuses: Iterable[int] = (), **options: object) -> Receiver:
        receiver = await Receiver(statuses, **options).start()  # type: ignore[arg-type]
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        await receiver.stop()


@pytest.fixture
async def receiver(make_receiver: MakeReceiver) -> Receiver:
    return await make_receiver()


@pytest.fixture
async def deliver(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Deliverer]:
    async with httpx.AsyncClient(follow_redirects=False) as http:
        yield Deliverer(engine, settings, http)
