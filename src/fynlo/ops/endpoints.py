"""``/api/health`` (alive), ``/api/ready`` (dependencies reachable), ``/metrics``."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from fynlo import __version__
from fynlo.kit.routing import router
from fynlo.kit.schemas import Envelope, Schema, ok
from fynlo.runtime import Runtime, get_runtime

api = router(prefix="/api", tags=["operations"])
metrics_router = router(tags=["operations"])

CHECK_TIMEOUT_SECONDS = 2.0


class Health(Schema):
    status: Literal["ok"] = "ok"
    version: str


class CheckResult(Schema):
    status: Literal["ok", "error", "not_configured", "degraded", "not_running"]
    detail: str | None = None


class Readiness(Schema):
    status: Literal["ready", "degraded", "not_ready"]
    database: CheckResult
    redis: CheckResult
    realtime: CheckResult


@api.get("/health", response_model=Envelope[Health], summary="Liveness: the process answers")
async def health() -> Envelope[Health]:
    return ok(Health(version=__version__))


async def _check_database(runtime: Runtime) -> CheckResult:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), runtime.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        return CheckResult(status="error", detail=type(exc).__name__)
    return CheckResult(status="ok")


async def _check_redis(runtime: Runtime) -> CheckResult:
    if runtime.redis is None:
        return CheckResult(status="not_configured")
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await runtime.redis.ping()  # type: ignore[misc]
    except Exception as exc:
        return CheckResult(status="error", detail=type(exc).__name__)
    return CheckResult(status="ok")


def _check_realtime(request: Request, redis: CheckResult) -> CheckResult:
    background = getattr(request.app.state, "background", None)
    if background is None or not background.running:
        return CheckResult(status="not_running", detail="no outbox dispatcher in this process")
    if redis.status == "error" or not background.dispatcher.healthy:
        return CheckResult(
            status="degraded",
            detail="events are kept in the outbox and sent when Redis is back",
        )
    return CheckResult(status="ok")


@api.get(
    "/ready",
    response_model=Envelope[Readiness],
    summary="Readiness: 503 only if the database is unreachable",
    description="`ready` when every dependency answers. `degraded` (still 200: orders are "
    "taken) when Redis is down: real-time events wait in the outbox and go out when it is "
    "back. `not_ready` (503) when the database is unreachable.",
    responses={503: {"model": Envelope[Readiness], "description": "The database is down"}},
)
async def ready(request: Request) -> Response:
    runtime = get_runtime(request)
    database, redis = await asyncio.gather(_check_database(runtime), _check_redis(runtime))
    realtime = _check_realtime(request, redis)
    if database.status != "ok":
        status: Literal["ready", "degraded", "not_ready"] = "not_ready"
    elif redis.status == "error" or realtime.status == "degraded":
        status = "degraded"
    else:
        status = "ready"
    body = ok(Readiness(status=status, database=database, redis=redis, realtime=realtime))
    return JSONResponse(
        body.model_dump(mode="json"), status_code=503 if status == "not_ready" else 200
    )


@metrics_router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
