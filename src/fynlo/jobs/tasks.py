"""The jobs. Each is idempotent (running it twice is harmless) and retried with
exponential backoff inside the worker; a periodic one also claims its time slot in Redis,
so it runs once per slot however many schedulers kick it."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import httpx
import structlog
from redis.asyncio import Redis
from taskiq import TaskiqEvents, TaskiqState

from fynlo.config import get_settings
from fynlo.devices.queue import deliver_with_settings as deliver_prints_due
from fynlo.events.dispatcher import OutboxDispatcher, prune_published
from fynlo.jobs.broker import broker
from fynlo.mail import mailer_from_settings
from fynlo.mail.queue import deliver_due as deliver_mail_due
from fynlo.payments.tasks import sweep_qr_payments
from fynlo.realtime.server import SocketPublisher, StrictRedisManager
from fynlo.runtime import Runtime
from fynlo.webhooks.delivery import deliver_due
from fynlo.webhooks.service import fan_out

log = structlog.get_logger(__name__)

T = TypeVar("T")

RETRY_ATTEMPTS = 5
RETRY_BASE_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0
DISPATCH_EVERY_SECONDS = 5  # a fallback: the API kicks a dispatch after each commit
WEBHOOKS_EVERY_SECONDS = 5
PRUNE_EVERY_SECONDS = 3600
QR_SWEEP_EVERY_SECONDS = 30
MAIL_EVERY_SECONDS = 5
PRINTS_EVERY_SECONDS = 2


async def retrying(
    name: str, job: Callable[[], Awaitable[T]], *, attempts: int = RETRY_ATTEMPTS
) -> T:
    """Run ``job``; after a failure wait 0.5 s, 1 s, 2 s ... (plus jitter) and try again."""
    for attempt in range(1, attempts):
        try:
            return await job()
        except Exception as exc:
            delay = min(RETRY_BASE_SECONDS * 2 ** (attempt - 1), RETRY_MAX_SECONDS)
            log.warning("job_retrying", job=name, attempt=attempt, delay=delay, error=str(exc))
            await asyncio.sleep(delay * (1 + random.random() / 4))  # noqa: S311
    return await job()  # the last attempt's error is the job's


async def once_per_slot(redis: Redis | None, name: str, slot_seconds: int) -> bool:
    """True for the first caller in the current ``slot_seconds`` slot of ``name``, across
    every process sharing Redis (without Redis there is one scheduler: always True)."""
    if redis is None:
        return True
    slot = int(time.time()) // slot_seconds
    claimed = await redis.set(
        f"fynlo:job-slot:{name}:{slot}", "1", nx=True, ex=max(slot_seconds * 2, 10)
    )
    return bool(claimed)


class WorkerContext:
    """What the jobs need, built once per worker process. Events are published through
    Redis to every API replica's Socket.IO clients (a write-only manager: the worker has no
    clients of its own)."""

    def __init__(self) -> None:
        settings = get_settings()
        self.runtime = Runtime.build(settings)
        self.manager: StrictRedisManager | None = None
        self.dispatcher: OutboxDispatcher | None = None
        if settings.redis_url:
            self.manager = StrictRedisManager(
                settings.redis_url, channel=settings.socketio_channel, write_only=True
            )
            self.dispatcher = OutboxDispatcher(
                self.runtime.sessionmaker, SocketPublisher(self.manager), on_published=[fan_out]
            )
        self.http = httpx.AsyncClient(follow_redirects=False)

    async def close(self) -> None:
        await self.http.aclose()
        if self.manager is not None:
            await self.manager.close()
        await self.runtime.close()


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def _startup(state: TaskiqState) -> None:
    state.context = WorkerContext()


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def _shutdown(state: TaskiqState) -> None:
    await state.context.close()


def _context() -> WorkerContext:
    context: WorkerContext = broker.state.context
    return context


@broker.task(
    task_name="fynlo.dispatch_outbox",
    schedule=[{"interval": DISPATCH_EVERY_SECONDS}],
)
async def dispatch_outbox() -> int:
    """Publish committed outbox events (Socket.IO through Redis, webhook deliveries)."""
    context = _context()
    if context.dispatcher is None:
        return 0
    dispatcher = context.dispatcher
    published = 0
    while True:
        batch = await retrying("dispatch_outbox", dispatcher.dispatch_once)
        if not batch:
            return published
        published += batch


@broker.task(task_name="fynlo.deliver_webhooks", schedule=[{"interval": WEBHOOKS_EVERY_SECONDS}])
async def deliver_webhooks() -> int:
    context = _context()
    runtime = context.runtime

    async def send() -> int:
        return await deliver_due(runtime.sessionmaker, runtime.settings, context.http)

    return await retrying("deliver_webhooks", send)


@broker.task(task_name="fynlo.prune_outbox", schedule=[{"interval": PRUNE_EVERY_SECONDS}])
async def prune_outbox() -> int:
    """Delete published events past the retention; once per hour across schedulers."""
    runtime = _context().runtime
    if not await once_per_slot(runtime.redis, "prune_outbox", PRUNE_EVERY_SECONDS):
        return 0
    retention = timedelta(days=runtime.settings.outbox_retention_days)
    return await retrying("prune_outbox", lambda: prune_published(runtime.sessionmaker, retention))


@broker.task(task_name="fynlo.sweep_qr_payments", schedule=[{"interval": QR_SWEEP_EVERY_SECONDS}])
async def sweep_qr() -> int:
    """Expire QR payments past their time and poll the bank for late webhooks."""
    runtime = _context().runtime
    providers = runtime.payment_providers
    if providers is None or not await once_per_slot(
        runtime.redis, "sweep_qr_payments", QR_SWEEP_EVERY_SECONDS
    ):
        return 0

    async def sweep() -> int:
        assert providers is not None
        result = await sweep_qr_payments(runtime.sessionmaker, runtime.settings, providers)
        return result.expired + result.confirmed

    return await retrying("sweep_qr_payments", sweep)


@broker.task(task_name="fynlo.deliver_mail", schedule=[{"interval": MAIL_EVERY_SECONDS}])
async def deliver_mail() -> int:
    """Send queued e-mail that is due; a failed message waits for its next retry."""
    runtime = _context().runtime
    mailer = mailer_from_settings(runtime.settings)
    return await retrying("deliver_mail", lambda: deliver_mail_due(runtime.sessionmaker, mailer))


@broker.task(task_name="fynlo.deliver_prints", schedule=[{"interval": PRINTS_EVERY_SECONDS}])
async def deliver_prints() -> int:
    """Send print jobs that are due to their network printers; a printer that fails leaves
    its jobs queued for their next retry (the worker must reach the printers' network)."""
    runtime = _context().runtime
    return await retrying(
        "deliver_prints", lambda: deliver_prints_due(runtime.sessionmaker, runtime.settings)
    )
