"""Column types behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models import User
from tests.factories import create_restaurant, create_user


async def test_aware_datetime_round_trips_as_utc(session: AsyncSession) -> None:
    restaurant = await create_restaurant(session)
    user = await create_user(session, restaurant=restaurant)
    kolkata = timezone(timedelta(hours=5, minutes=30))
    moment = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=kolkata)
    user.last_login = moment
    await session.commit()
    session.expunge_all()

    loaded = await session.scalar(select(User.last_login).where(User.id == user.id))
    assert loaded == moment
    assert loaded is not None
    assert loaded.tzinfo is UTC
    assert (loaded.day, loaded.hour) == (28, 20)  # 01:30 +05:30 is 20:00 UTC the day before


async def test_datetime_comparison_in_sql_uses_utc(session: AsyncSession) -> None:
    restaurant = await create_restaurant(session)
    user = await create_user(session, restaurant=restaurant)
    user.last_login = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    await session.commit()
    later_in_other_zone = datetime(2026, 1, 1, 13, 30, tzinfo=timezone(timedelta(hours=2)))
    found = await session.scalar(select(User.id).where(User.last_login > later_in_other_zone))
    assert found == user.id  # 13:30+02:00 is 11:30 UTC, before 12:00 UTC


async def test_naive_datetime_is_refused(session: AsyncSession) -> None:
    restaurant = await create_restaurant(session)
    user = await create_user(session, restaurant=restaurant)
    user.last_login = datetime(2026, 1, 1, 12, 0)
    with pytest.raises(StatementError, match="naive datetime"):
        await session.flush()
    await session.rollback()


async def test_money_column_refuses_floats(session: AsyncSession) -> None:
    restaurant = await create_restaurant(session)
    user = await create_user(session, restaurant=restaurant)
    user.hourly_rate_minor = 12.5  # type: ignore[assignment]
    with pytest.raises(StatementError, match="minor units"):
        await session.flush()
    await session.rollback()


async def test_money_column_keeps_large_integers(session: AsyncSession) -> None:
    restaurant = await create_restaurant(session)
    user = await create_user(
        session, restaurant=restaurant, hourly_rate_minor=9_007_199_254_740_993
    )
    await session.commit()
    session.expunge_all()
    value = await session.scalar(select(User.hourly_rate_minor).where(User.id == user.id))
    assert value == 9_007_199_254_740_993  # beyond float precision: stored exactly
