"""A real webhook receiver on a loopback port, and rows for webhook tests."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fynlo.config import Settings
from fynlo.db.engine import create_sessionmaker
from fynlo.events.outbox import emit
from fynlo.models import OutboxEvent, Restaurant, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from fynlo.webhooks.delivery import deliver_due
from fynlo.webhooks.service import fan_out
from fynlo.webhooks.signing import SIGNATURE_HEADER, encrypt_secret, generate_secret


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def signature(self) -> str:
        return self.headers[SIGNATURE_HEADER]

    @property
    def v1_count(self) -> int:
        return sum(1 for part in self.signature.split(",") if part.startswith("v1="))


class Receiver:
    """Answers each request with the next scripted status (then ``default``), and records
    what it got. Runs in the test's own event loop."""

    def __init__(
        self, statuses: Iterable[int] = (), *, default: int = 200, delay: float = 0.0
    ) -> None:
        self._script = list(statuses)
        self.default = default
        self.delay = delay
        self.requests: list[Received] = []
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self._script.pop(0) if self._script else self.default
        self.requests.append(Received(request.path, dict(request.headers), body, status))
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.Response(status=status, text="ok" if status < 300 else "nope")

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hooks", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def create_endpoint(
    session: AsyncSession,
    settings: Settings,
    restaurant: Restaurant,
    url: str,
    *,
    event_types: Sequence[str] = (),
    is_active: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """An endpoint and its plain secret, committed."""
    await session.commit()  # end any read snapshot older than the API's last writes (SQLite)
    secret = generate_secret()
    endpoint = WebhookEndpoint(
        restaurant_id=restaurant.id,
        url=url,
        event_types=list(event_types),
        is_active=is_active,
        secret_encrypted=encrypt_secret(settings, secret),
    )
    session.add(endpoint)
    await session.commit()
    return endpoint, secret


async def publish(
    session: AsyncSession,
    restaurant: Restaurant,
    event_type: str = "new_order",
    payload: dict[str, Any] | None = None,
) -> tuple[OutboxEvent, int]:
    """An outbox event fanned out to the webhooks, as the dispatcher does; committed."""
    await session.commit()
    event = emit(session, restaurant.id, event_type, payload or {"orderId": str(uuid.uuid4())})
    await session.flush()
    queued = await fan_out(session, [event])
    await session.commit()
    return event, queued


async def deliveries_of(session: AsyncSession, endpoint: WebhookEndpoint) -> list[WebhookDelivery]:
    await session.commit()  # a fresh snapshot
    rows = await session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def only_delivery(session: AsyncSession, endpoint: WebhookEndpoint) -> WebhookDelivery:
    rows = await deliveries_of(session, endpoint)
    assert len(rows) == 1, rows
    return rows[0]


async def attempts_of(session: AsyncSession, delivery: WebhookDelivery) -> list[WebhookAttempt]:
    await session.commit()
    rows = await session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery.id)
        .order_by(WebhookAttempt.attempt)
    )
    return list(rows)


class Deliverer:
    """``deliver_due`` with the test database and one HTTP client."""

    def __init__(self, engine: AsyncEngine, settings: Settings, client: httpx.AsyncClient) -> None:
        self.sessionmaker = create_sessionmaker(engine)
        self.settings = settings
        self.client = client

    async def __call__(self, *, now: datetime | None = None, limit: int = 50) -> int:
        return await deliver_due(
            self.sessionmaker, self.settings, self.client, now=now, limit=limit
        )
