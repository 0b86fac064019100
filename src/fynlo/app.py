"""The ASGI application: ``create_app()`` wires settings, middleware, errors and routers."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import structlog
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from fynlo import __version__
from fynlo.auth.endpoints import auth_router, devices_router
from fynlo.auth.password_reset import password_router
from fynlo.auth.two_factor import two_factor_router
from fynlo.config import Settings, get_settings
from fynlo.db.migrate import ensure_schema_current
from fynlo.events.background import BackgroundWork
from fynlo.identity.endpoints import audit_router, restaurants_router, users_router
from fynlo.kit.handlers import install_error_handlers
from fynlo.kit.logging import configure_logging
from fynlo.kit.middleware import (
    BodyLimitMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from fynlo.mail import mailer_from_settings
from fynlo.mail.queue import deliver_due as deliver_mail
from fynlo.ops.endpoints import api as ops_api
from fynlo.ops.endpoints import metrics_router
from fynlo.ops.metrics import Metrics
from fynlo.payments.providers.registry import close_providers, start_providers
from fynlo.payments.tasks import sweep_qr_payments
from fynlo.realtime.server import RealtimeGateway, SocketPublisher
from fynlo.routes import DOMAIN_ROUTERS
from fynlo.runtime import Runtime
from fynlo.webhooks.delivery import deliver_due
from fynlo.webhooks.service import fan_out as webhook_fan_out

log = structlog.get_logger(__name__)

DOCS_PATHS = ("/docs", "/redoc", "/openapi.json")

DESCRIPTION = """
Fynlo is the backend of a hardware-free restaurant point of sale.

Every response is an envelope: `{"success": true, "data": ...}` or
`{"success": false, "error": {"code", "message", "details", "requestId"}}`.
JSON is camelCase; money is shown in major units (`54.50`) and stored as integer minor units.
Write endpoints marked with the `Idempotency-Key` header replay their first response on retry.
"""


# Objects the collector lets a server allocate between two young-generation passes, and the
# passes between two older ones. CPython's defaults (700, 10, 10) suit short scripts: a server
# that sends one event to 1,000 sockets allocates tens of thousands of short-lived objects
# (tasks, frames, packets), and with the defaults the young passes promote them while they
# are still alive, which fills the oldest generation and sets off a full pass every few
# seconds. A full pass over the heap of 1,000 connections took 130-190 ms on the benchmark
# machine, the whole event loop stopped meanwhile (bench/realtime.py: p99 175 ms with the
# defaults, 45-52 ms with these, and the same memory). Garbage without cycles is freed by
# reference counting either way; only garbage in cycles waits longer for its pass.
SERVING_GC_THRESHOLDS = (50_000, 20, 10)


def tune_collector_for_serving() -> None:
    """Collector settings for a long-running server process (``fynlo serve``).

    What start-up built lives as long as the process, so it is frozen out of the collector's
    full passes, and the thresholds are raised (``SERVING_GC_THRESHOLDS``). Not for apps
    built and dropped many times in one process (the tests): what is frozen is never freed.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_GC_THRESHOLDS)


def create_app(
    settings: Settings | None = None,
    *,
    check_schema: bool = True,
    freeze_after_startup: bool = False,
) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(json_logs=settings.json_logs, level=settings.log_level)
    runtime = Runtime.build(settings)
    metrics = Metrics()
    metrics.watch_engine(runtime.engine)
    gateway = RealtimeGateway(runtime)
    metrics.watch_realtime(gateway.deliveries, lambda: len(gateway.connections))
    webhooks = WebhookSender(runtime)
    providers = runtime.payment_providers
    assert providers is not None

    async def qr_sweep() -> None:
        await sweep_qr_payments(runtime.sessionmaker, settings, providers)

    async def mail_delivery() -> None:
        # The app's mailer when one was set (tests point it at an SMTP sink), else settings'.
        mailer = getattr(app.state, "mailer", None) or mailer_from_settings(settings)
        await deliver_mail(runtime.sessionmaker, mailer)

    background = BackgroundWork(
        runtime,
        SocketPublisher(gateway.sio),
        on_published=[webhook_fan_out],
        periodic=[
            ("socket_sweep", settings.socket_sweep_seconds, gateway.sweep),
            ("webhook_delivery", settings.webhook_poll_seconds, webhooks.send_due),
            ("qr_sweep", settings.qr_sweep_seconds, qr_sweep),
            ("mail_delivery", settings.mail_poll_seconds, mail_delivery),
        ],
    )
    # With the work in `fynlo worker`, each commit that wrote events queues a dispatch there.
    kicker = DispatchKicker() if settings.redis_url and not settings.background_work else None
    runtime.events_committed = kicker.kick if kicker is not None else background.dispatcher.wake

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if check_schema:
            await ensure_schema_current(runtime.engine)
        gateway.start()
        await start_providers(providers)
        if settings.background_work:
            background.start()
        if kicker is not None:
            await kicker.start()
        if freeze_after_startup:
            tune_collector_for_serving()
        try:
            yield
        finally:
            if kicker is not None:
                await kicker.stop()
            await background.stop()
            await gateway.stop()
            await webhooks.close()
            await close_providers(providers)
            await runtime.close()

    app = FastAPI(
        title="Fynlo API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url="/redoc",
    )
    app.state.runtime = runtime
    app.state.metrics = metrics
    app.state.gateway = gateway
    app.state.background = background
    install_error_handlers(app)

    app.include_router(ops_api)
    app.include_router(auth_router)
    app.include_router(password_router)
    app.include_router(two_factor_router)
    app.include_router(devices_router)
    app.include_router(users_router)
    app.include_router(restaurants_router)
    app.include_router(audit_router)
    for domain_router in DOMAIN_ROUTERS:
        app.include_router(domain_router)
    app.include_router(metrics_router)

    # Added innermost first: the last one added wraps all the others.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Retry-After", "Idempotent-Replayed"],
    )
    app.add_middleware(
        SecurityHeadersMiddleware,
        hsts=settings.environment == "production",
        html_paths=DOCS_PATHS,
    )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    return app


class DispatchKicker:
    """Queues an outbox dispatch for ``fynlo worker`` after a commit (fire and forget: the
    scheduler's periodic dispatch covers a kick that is lost)."""

    def __init__(self) -> None:
        self._pending: set[asyncio.Task[object]] = set()

    async def start(self) -> None:
        from fynlo.jobs.broker import broker

        await broker.startup()

    def kick(self) -> None:
        from fynlo.jobs.tasks import dispatch_outbox

        task: asyncio.Task[object] = asyncio.create_task(dispatch_outbox.kiq())
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[object]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("dispatch_kick_failed", error=str(task.exception()))

    async def stop(self) -> None:
        from fynlo.jobs.broker import broker

        await asyncio.gather(*self._pending, return_exceptions=True)
        await broker.shutdown()


class WebhookSender:
    """Sends due webhook deliveries on one HTTP connection pool (redirects not followed)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._client = httpx.AsyncClient(follow_redirects=False)

    async def send_due(self) -> int:
        return await deliver_due(self._runtime.sessionmaker, self._runtime.settings, self._client)

    async def close(self) -> None:
        await self._client.aclose()


def create_asgi_app(settings: Settings | None = None) -> ASGIApp:
    """What uvicorn serves: Socket.IO on ``/socket.io`` of the API's own port, the rest to
    the FastAPI app (which also runs the lifespan)."""
    app = create_app(settings, freeze_after_startup=True)
    gateway: RealtimeGateway = app.state.gateway
    asgi: ASGIApp = gateway.asgi(app)
    return asgi
