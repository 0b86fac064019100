from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from fynlo.app import create_app
from fynlo.config import Settings
from tests.conftest import make_client
from tests.kit.probe import probe, probe_metadata


@pytest.fixture(scope="session")
async def probe_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    async with engine.begin() as conn:
        await conn.run_sync(probe_metadata.create_all)
    application = create_app(settings)
    application.include_router(probe)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def probe_client(
    probe_app: FastAPI, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    request.node.extra_tables = ("probe_widgets",)
    async with make_client(probe_app) as c:
        yield c
