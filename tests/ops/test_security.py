"""Security headers, CORS, rate limits, trusted proxies, logging."""

from __future__ import annotations

import json

import httpx
import pytest
import structlog
from asgi_lifespan import LifespanManager
from fastapi import Request

from fynlo.app import create_app
from fynlo.config import Settings
from fynlo.kit.routing import client_ip, router
from fynlo.kit.schemas import Envelope, ok
from tests.conftest import make_client


async def test_security_headers_on_api(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]


async def test_docs_page_is_not_blocked_by_api_csp(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert "content-security-policy" not in response.headers


@pytest.mark.parametrize("origin", ["http://localhost:8081", "capacitor://localhost"])
async def test_cors_allows_the_spec_origins(client: httpx.AsyncClient, origin: str) -> None:
    response = await client.options(
        "/api/health",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin


async def test_cors_refuses_other_origins(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/api/health",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in response.headers


async def _app_with(settings: Settings, **update: object):  # type: ignore[no-untyped-def]
    app = create_app(settings.model_copy(update=update), check_schema=False)
    probe = router(prefix="/api/_ip")

    @probe.get("", response_model=Envelope[str])
    async def whoami(request: Request) -> Envelope[str]:
        return ok(client_ip(request))

    app.include_router(probe)
    return app


async def test_default_rate_limit_is_429_with_retry_after(settings: Settings) -> None:
    app = await _app_with(settings, rate_limit_default="3/minute")
    async with LifespanManager(app), make_client(app) as client:
        statuses = [(await client.get("/api/health")).status_code for _ in range(4)]
        limited = await client.get("/api/health")
    assert statuses == [200, 200, 200, 429]
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"]["code"] == "rate_limited"
    assert limited.json()["error"]["details"]["retryAfter"] >= 1


async def test_rate_limit_shared_through_redis(settings: Settings, redis_url: str) -> None:
    from fynlo.kit.ratelimit import RateLimiter

    await RateLimiter(redis_url).reset()
    apps = [
        await _app_with(settings, rate_limit_default="2/minute", redis_url=redis_url)
        for _ in range(2)
    ]
    async with (
        LifespanManager(apps[0]),
        LifespanManager(apps[1]),
        make_client(apps[0]) as a,
        make_client(apps[1]) as b,
    ):
        assert (await a.get("/api/health")).status_code == 200
        assert (await b.get("/api/health")).status_code == 200
        assert (await a.get("/api/health")).status_code == 429
        assert (await b.get("/api/health")).status_code == 429
    await RateLimiter(redis_url).reset()


async def test_forwarded_for_is_trusted_only_from_trusted_proxies(settings: Settings) -> None:
    app = await _app_with(settings, trusted_proxies=["10.1.1.1"])
    headers = {"X-Forwarded-For": "203.0.113.7"}
    async with LifespanManager(app):
        async with make_client(app, client=("10.1.1.1", 1234)) as via_proxy:
            assert (await via_proxy.get("/api/_ip", headers=headers)).json()[
                "data"
            ] == "203.0.113.7"
        async with make_client(app, client=("198.51.100.9", 1234)) as direct:
            assert (await direct.get("/api/_ip", headers=headers)).json()["data"] == "198.51.100.9"


async def test_json_logs_carry_the_request_id(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(
        settings.model_copy(update={"log_json": True, "log_level": "INFO"}), check_schema=False
    )
    try:
        async with LifespanManager(app), make_client(app) as client:
            response = await client.get("/api/health")
        lines = [
            json.loads(line)
            for line in capsys.readouterr().err.splitlines()
            if line.startswith("{")
        ]
        request_lines = [line for line in lines if line.get("event") == "request"]
        assert request_lines, "an access line per request"
        assert request_lines[-1]["request_id"] == response.headers["x-request-id"]
        assert request_lines[-1]["route"] == "/api/health"
        assert request_lines[-1]["status"] == 200
    finally:
        from fynlo.kit.logging import configure_logging

        configure_logging(json_logs=False, level="WARNING")


def test_console_tracebacks_leave_out_locals(capsys: pytest.CaptureFixture[str]) -> None:
    """The development log prints a plain traceback: no frame's locals (a password), and no
    rich panel that costs a busy server tens of milliseconds per error."""
    from fynlo.kit.logging import configure_logging

    def sign_in() -> None:
        password = "Console-Secret-99"  # the value must not reach the log
        raise RuntimeError(f"refused ({len(password)} characters)")

    configure_logging(json_logs=False, level="INFO")
    try:
        try:
            sign_in()
        except RuntimeError:
            structlog.get_logger("fynlo.test").exception("sign_in_failed")
        err = capsys.readouterr().err
    finally:
        configure_logging(json_logs=False, level="WARNING")
    assert "sign_in_failed" in err
    assert "Traceback (most recent call last)" in err
    assert "RuntimeError: refused (17 characters)" in err
    assert "Console-Secret-99" not in err
    assert "╭" not in err  # no rich panel
