"""The migration tree and the models agree, on whichever database the suite runs."""

from __future__ import annotations

import os

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from fynlo.config import Settings
from fynlo.db.engine import create_engine
from fynlo.db.migrate import (
    SchemaOutOfDate,
    current_revisions,
    downgrade,
    ensure_schema_current,
    head_revisions,
    upgrade,
)
from fynlo.models import Base


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "render_as_batch": True}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == [], f"models and migrations differ; run `fynlo makemigration`: {diff}"


async def test_database_is_at_head(engine: AsyncEngine) -> None:
    assert await current_revisions(engine) == head_revisions()
    await ensure_schema_current(engine)


async def test_out_of_date_schema_is_refused_with_the_command_to_run(
    settings: Settings, backend: str, tmp_path: object
) -> None:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/empty.db"
    else:
        name = f"fynlo_test_empty_{os.environ['FYNLO_TEST_RUN_ID']}"
        admin = await asyncpg.connect("postgresql://postgres@127.0.0.1/postgres")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        url = f"postgresql+asyncpg://postgres@127.0.0.1/{name}"
    empty = create_engine(settings, database_url=url)
    try:
        with pytest.raises(SchemaOutOfDate, match="Run `fynlo migrate`"):
            await ensure_schema_current(empty)
        await upgrade(empty)
        await ensure_schema_current(empty)
        await downgrade(empty, "base")
        assert await current_revisions(empty) == set()
    finally:
        await empty.dispose()
        if backend == "postgresql":
            admin = await asyncpg.connect("postgresql://postgres@127.0.0.1/postgres")
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
