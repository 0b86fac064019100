"""The API process's own background work: publishing the outbox, sweeping Socket.IO
connections, delivering webhooks and print jobs, pruning. Each loop survives its own errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

import structlog

from fynlo.devices.queue import PrintDeliverer
from fynlo.events.dispatcher import EventHook, OutboxDispatcher, Publisher, prune_published
from fynlo.runtime import Runtime

log = structlog.get_logger(__name__)

PRUNE_EVERY_SECONDS = 3600.0

Job = Callable[[], Awaitable[object]]


async def every(seconds: float, job: Job, name: str) -> None:
    """Run ``job`` every ``seconds`` until cancelled; a failure is logged, not fatal."""
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background_job_failed", job=name)
        await asyncio.sleep(seconds)


class BackgroundWork:
    def __init__(
        self,
        runtime: Runtime,
        publisher: Publisher,
        *,
        on_published: Sequence[EventHook] = (),
        periodic: Sequence[tuple[str, float, Job]] = (),
    ) -> None:
        settings = runtime.settings
        self.dispatcher = OutboxDispatcher(
            runtime.sessionmaker,
            publisher,
            on_published=on_published,
            poll_seconds=settings.outbox_poll_seconds,
        )
        retention = timedelta(days=settings.outbox_retention_days)

        async def prune() -> None:
            await prune_published(runtime.sessionmaker, retention)

        self._periodic = [*periodic, ("outbox_prune", PRUNE_EVERY_SECONDS, prune)]
        # Print jobs: woken by the commit that queued them, polled for retries.
        self.printer = PrintDeliverer(runtime.sessionmaker, settings)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self.dispatcher.run(), name="outbox_dispatch"))
        self._tasks.append(asyncio.create_task(self.printer.run(), name="print_delivery"))
        for name, seconds, job in self._periodic:
            self._tasks.append(asyncio.create_task(every(seconds, job, name), name=name))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
