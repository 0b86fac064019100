"""The process-wide objects a running app needs, built once by the app's lifespan."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import Request

from fynlo.auth.tokens import TokenService
from fynlo.config import Settings
from fynlo.db.engine import create_engine, create_sessionmaker
from fynlo.kit.ratelimit import RateLimiter
from fynlo.payments.providers.registry import PaymentProviders, build_providers

CallerResolver = Callable[[Request], Awaitable[str]]


async def anonymous_caller(request: Request) -> str:
    return "anonymous"


async def _caller_from_token(request: Request) -> str:
    """Idempotency keys belong to the signed-in user (stable across token refreshes)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        runtime: Runtime = request.app.state.runtime
        subject = runtime.tokens.peek_subject(token)
        if subject is not None:
            return f"user:{subject}"
    return "anonymous"


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    rate_limiter: RateLimiter
    tokens: TokenService
    redis: Redis | None = None
    # Who is calling, for scoping idempotency keys; the auth package installs its resolver.
    resolve_caller: CallerResolver = field(default=anonymous_caller)
    # Called after a commit that wrote outbox events; the app wires it to the dispatcher.
    events_committed: Callable[[], None] = field(default=lambda: None)
    # Payment providers (Stripe, Razorpay, the open-banking bank), chosen from the settings.
    payment_providers: PaymentProviders | None = None

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        engine = create_engine(settings)
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        return cls(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            rate_limiter=RateLimiter(settings.redis_url),
            tokens=TokenService(settings),
            redis=redis,
            resolve_caller=_caller_from_token,
            payment_providers=build_providers(settings),
        )

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime
