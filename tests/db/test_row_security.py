"""PostgreSQL row-level security: a query that forgets the tenant filter still sees one tenant."""

from __future__ import annotations

import uuid

import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fynlo.app import create_app
from fynlo.auth.subject import CurrentSubject
from fynlo.authz.scope import TenantScope
from fynlo.config import Settings
from fynlo.db.engine import create_sessionmaker
from fynlo.db.row_security import APP_ROLE, apply_tenant_scope
from fynlo.kit.routing import router
from fynlo.kit.unit_of_work import SessionDep
from fynlo.models import PosDevice, Restaurant, RestaurantSettings, User
from tests.conftest import make_client
from tests.factories import DEFAULT_PASSWORD, create_platform, create_restaurant, create_user

pytestmark = pytest.mark.usefixtures("_postgresql_only")

# Tables holding a restaurant_id that are deliberately outside the policies, with why.
UNPOLICED = {
    # Read while the caller's scope is being worked out, before the policies apply.
    "restaurant_owners",
}


@pytest.fixture
def _postgresql_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("row-level security is a PostgreSQL feature; SQLite relies on the app scope")


async def _two_tenants(session: AsyncSession) -> tuple[Restaurant, Restaurant, Restaurant]:
    platform = await create_platform(session)
    mine = await create_restaurant(session, platform)
    neighbour = await create_restaurant(session, platform)
    elsewhere = await create_restaurant(session)
    for restaurant in (mine, neighbour, elsewhere):
        await create_user(session, role="waiter", restaurant=restaurant)
        session.add(
            PosDevice(restaurant_id=restaurant.id, name="Till", token_hash=uuid.uuid4().hex)
        )
    await session.commit()
    return mine, neighbour, elsewhere


async def test_query_without_the_app_filter_sees_only_the_callers_restaurant(
    engine: AsyncEngine,
) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        mine, neighbour, elsewhere = await _two_tenants(session)

    async with sessions() as session:
        await apply_tenant_scope(session, TenantScope(restaurant_ids=frozenset({mine.id})))
        assert await session.scalar(select(func.current_user())) == APP_ROLE
        assert set(await session.scalars(select(Restaurant.id))) == {mine.id}
        assert set(await session.scalars(select(RestaurantSettings.restaurant_id))) == {mine.id}
        assert set(await session.scalars(select(PosDevice.restaurant_id))) == {mine.id}
        staff = set(await session.scalars(select(User.restaurant_id)))
        assert staff == {mine.id}
        # Even asking for the other restaurant by id finds nothing.
        assert await session.get(Restaurant, neighbour.id) is None
        assert await session.get(Restaurant, elsewhere.id) is None


async def test_writes_into_another_tenant_are_refused(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        mine, neighbour, _ = await _two_tenants(session)

    async with sessions() as session:
        await apply_tenant_scope(session, TenantScope(restaurant_ids=frozenset({mine.id})))
        session.add(PosDevice(restaurant_id=neighbour.id, name="Sneaky", token_hash="x" * 64))
        with pytest.raises(DBAPIError, match="row-level security"):
            await session.flush()
        await session.rollback()

    async with sessions() as session:
        await apply_tenant_scope(session, TenantScope(restaurant_ids=frozenset({mine.id})))
        result = await session.execute(
            text("UPDATE restaurants SET name = 'Taken over' WHERE id = :id"), {"id": neighbour.id}
        )
        assert result.rowcount == 0  # type: ignore[attr-defined]
        await session.commit()

    async with sessions() as session:
        assert (await session.get(Restaurant, neighbour.id)).name != "Taken over"  # type: ignore[union-attr]


async def test_platform_scope_reaches_its_platform_and_no_other(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        mine, neighbour, elsewhere = await _two_tenants(session)

    async with sessions() as session:
        await apply_tenant_scope(session, TenantScope(platform_id=mine.platform_id))
        assert set(await session.scalars(select(Restaurant.id))) == {mine.id, neighbour.id}
        assert set(await session.scalars(select(PosDevice.restaurant_id))) == {
            mine.id,
            neighbour.id,
        }
        assert elsewhere.id not in set(await session.scalars(select(User.restaurant_id)))


async def test_an_empty_scope_sees_nothing_and_the_role_ends_with_the_transaction(
    engine: AsyncEngine,
) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        await _two_tenants(session)

    async with sessions() as session:
        await apply_tenant_scope(session, TenantScope())
        assert await session.scalar(select(func.count()).select_from(Restaurant)) == 0
        await session.commit()
        # SET LOCAL: the next transaction on the same connection is no longer limited.
        assert await session.scalar(select(func.current_user())) != APP_ROLE
        assert await session.scalar(select(func.count()).select_from(Restaurant)) == 3


async def test_every_table_with_a_restaurant_id_is_under_a_policy(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                """
                SELECT c.relname, c.relrowsecurity,
                       EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) AS has_policy
                FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
                WHERE c.relkind = 'r' AND (
                    EXISTS (SELECT 1 FROM information_schema.columns col
                            WHERE col.table_schema = 'public' AND col.table_name = c.relname
                              AND col.column_name = 'restaurant_id')
                    OR c.relname = 'restaurants')
                """
            )
        )
        unprotected = sorted(
            name
            for name, enabled, has_policy in rows
            if not (enabled and has_policy) and name not in UNPOLICED
        )
    assert unprotected == [], f"tenant tables without row-level security: {unprotected}"


probe = router(prefix="/api/_rls", tags=["probe"])


@probe.get("/unfiltered")
async def unfiltered(subject: CurrentSubject, session: SessionDep) -> dict[str, object]:
    """Deliberately forgets the tenant filter."""
    names = sorted(await session.scalars(select(Restaurant.name)))
    return {"role": await session.scalar(select(func.current_user())), "restaurants": names}


async def test_an_authenticated_request_runs_under_the_policies(
    settings: Settings, engine: AsyncEngine
) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        mine, _, _ = await _two_tenants(session)
        manager = await create_user(session, role="manager", restaurant=mine)
        await session.commit()

    application = create_app(settings)
    application.include_router(probe)
    async with LifespanManager(application), make_client(application) as client:
        response = await client.post(
            "/api/auth/login", json={"email": manager.email, "password": DEFAULT_PASSWORD}
        )
        token = response.json()["data"]["tokens"]["access"]
        answer = await client.get(
            "/api/_rls/unfiltered", headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"role": APP_ROLE, "restaurants": [mine.name]}
