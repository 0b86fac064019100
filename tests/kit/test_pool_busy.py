"""An exhausted connection pool answers 503 with Retry-After, saves nothing, and recovers."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from fynlo.app import create_app
from fynlo.config import Settings
from fynlo.kit.handlers import POOL_BUSY_RETRY_AFTER
from tests.conftest import make_client
from tests.kit.probe import probe, probe_metadata, probe_widgets

POOL_SIZE = 2


async def test_busy_pool_is_a_503_that_saves_nothing(
    settings: Settings, engine: AsyncEngine, request: pytest.FixtureRequest
) -> None:
    request.node.extra_tables = ("probe_widgets",)
    async with engine.begin() as conn:
        await conn.run_sync(probe_metadata.create_all)
    tight = settings.model_copy(
        update={"db_pool_size": POOL_SIZE, "db_max_overflow": 0, "db_pool_timeout_seconds": 0.2}
    )
    application = create_app(tight)
    application.include_router(probe)
    async with LifespanManager(application), make_client(application) as client:
        app_engine: AsyncEngine = application.state.runtime.engine
        async with AsyncExitStack() as held:
            for _ in range(POOL_SIZE):
                await held.enter_async_context(app_engine.connect())
            busy = await client.post("/api/_probe/widgets", json={"name": "during", "quantity": 1})
        after = await client.post("/api/_probe/widgets", json={"name": "after", "quantity": 1})

    assert busy.status_code == 503, busy.text
    assert busy.headers["retry-after"] == str(POOL_BUSY_RETRY_AFTER)
    error = busy.json()["error"]
    assert error["code"] == "service_unavailable"
    assert "nothing was saved" in error["message"]
    assert error["details"] == {"retryAfter": POOL_BUSY_RETRY_AFTER}
    assert error["requestId"] == busy.headers["x-request-id"]
    assert after.status_code == 201, after.text
    async with engine.connect() as conn:
        names = (await conn.execute(select(probe_widgets.c.name))).scalars().all()
        assert names == ["after"]
        assert await conn.scalar(select(func.count()).select_from(probe_widgets)) == 1
