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
    status: Literal["ok", "error", "not_configured"]
    detail: str | None = None


class Readiness(Schema):
    status: Literal["ready", "not_ready"]
    database: CheckResult
    redis: CheckResult


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


@api.get(
    "/ready",
    response_model=Envelope[Readiness],
    summary="Readiness: database and (when configured) Redis reachable; 503 otherwise",
    responses={503: {"model": Envelope[Readiness], "description": "A dependency is down"}},
)
async def ready(request: Request) -> Response:
    runtime = get_runtime(request)
    database, redis = await asyncio.gather(_check_database(runtime), _check_redis(runtime))
    healthy = database.status == "ok" and redis.status != "error"
    body = ok(Readiness(status="ready" if healthy else "not_ready", database=database, redis=redis))
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if healthy else 503)


@metrics_router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
