"""Health, readiness, metrics, docs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from asgi_lifespan import LifespanManager

from fynlo.app import create_app
from fynlo.config import Settings
from tests.conftest import make_client


@asynccontextmanager
async def _client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, check_schema=False)
    async with LifespanManager(app), make_client(app) as client:
        yield client


async def test_ready_when_database_reachable(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/ready")
    assert response.status_code == 200
    assert response.json()["data"] == {
        "status": "ready",
        "database": {"status": "ok", "detail": None},
        "redis": {"status": "not_configured", "detail": None},
        "realtime": {"status": "not_running", "detail": "no outbox dispatcher in this process"},
    }


async def test_ready_is_503_when_database_unreachable(settings: Settings, backend: str) -> None:
    if backend == "sqlite":
        url = "sqlite+aiosqlite:////nonexistent-dir/fynlo.db"
    else:
        url = "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"
    broken = settings.model_copy(update={"database_url": url})
    async with _client_for(broken) as client:
        response = await client.get("/api/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["data"]["status"] == "not_ready"
    assert body["data"]["database"]["status"] == "error"


async def test_ready_checks_redis_when_configured(settings: Settings, redis_url: str) -> None:
    async with _client_for(settings.model_copy(update={"redis_url": redis_url})) as client:
        response = await client.get("/api/ready")
    assert response.status_code == 200
    assert response.json()["data"]["redis"]["status"] == "ok"


async def test_ready_is_degraded_not_down_when_redis_unreachable(settings: Settings) -> None:
    """Orders are still taken without Redis: a load balancer must not pull the replica."""
    down = settings.model_copy(
        update={"redis_url": "redis://127.0.0.1:1/0", "background_work": True}
    )
    async with _client_for(down) as client:
        response = await client.get("/api/ready")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "degraded"
    assert data["redis"]["status"] == "error"
    assert data["database"]["status"] == "ok"
    assert data["realtime"]["status"] == "degraded"


async def test_metrics_by_route_template_and_status(client: httpx.AsyncClient) -> None:
    await client.get("/api/health")
    await client.get("/api/nothing-here")
    text = (await client.get("/metrics")).text
    assert 'fynlo_http_requests_total{method="GET",route="/api/health",status="200"}' in text
    assert 'route="unmatched",status="404"' in text
    assert "fynlo_http_request_duration_seconds_bucket" in text
    assert "fynlo_db_pool_size" in text


async def test_openapi_31_and_docs(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    assert "/api/health" in spec["paths"]
    health = spec["paths"]["/api/health"]["get"]["responses"]["200"]
    assert "$ref" in str(health)
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text.lower()


async def test_every_documented_operation_has_typed_responses(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation["responses"].get("200", operation["responses"].get("201", {}))
            schema = content.get("content", {}).get("application/json", {}).get("schema")
            assert schema, f"{method.upper()} {path} has no typed response"
