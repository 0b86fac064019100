"""Tip pooling: the split (by hand and by property), the rule from settings, and the pool and
timesheet over HTTP with real payment, order and time-entry rows."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models import Order, Payment, Restaurant, User
from fynlo.staff.timesheet import Shift, split_by_day, worked_by_day
from fynlo.staff.tips import (
    TipRule,
    Worker,
    allocate,
    order_tip_left,
    split,
    tender_tip_left,
)
from tests.staff.test_timeclock import add_entry, error_of, set_pos
from tests.world import World, login

LONDON = ZoneInfo("Europe/London")
FOUR = time(4, 0)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- the split -------------------------------------------------------------------------------


def test_largest_remainder_by_hand() -> None:
    assert split(1000, [("a", Fraction(1)), ("b", Fraction(1)), ("c", Fraction(1))]) == {
        "a": 334,
        "b": 333,
        "c": 333,
    }
    # 14.00 by 8 : 4 is 9.333.. and 4.666..: the larger remainder takes the odd penny.
    assert split(1400, [("w", Fraction(8)), ("k", Fraction(4))]) == {"w": 933, "k": 467}
    assert split(1, [("a", Fraction(1)), ("b", Fraction(1))]) == {"a": 1, "b": 0}
    assert split(500, [("a", Fraction(0)), ("b", Fraction(0))]) == {"a": 0, "b": 0}
    assert split(0, [("a", Fraction(3))]) == {"a": 0}
    assert split(700, []) == {}


def test_split_refuses_negative_input() -> None:
    with pytest.raises(ValueError, match="negative"):
        split(-1, [("a", Fraction(1))])
    with pytest.raises(ValueError, match="negative"):
        split(10, [("a", Fraction(-1))])


weights = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=24 * 3600),
        st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False),
    ),
    max_size=30,
)


# No deadline: a loaded CI machine once took longer than the default 200 ms on an example.
@settings(deadline=None)
@given(pool=st.integers(min_value=0, max_value=10**9), people=weights)
def test_shares_add_up_are_never_negative_and_stay_within_one_unit(
    pool: int, people: list[tuple[int, Decimal]]
) -> None:
    weighted = [(i, seconds * Fraction(weight)) for i, (seconds, weight) in enumerate(people)]
    shares = split(pool, weighted)
    whole = sum((w for _, w in weighted), Fraction(0))
    assert set(shares) == {i for i, _ in weighted}
    assert all(share >= 0 for share in shares.values())
    if whole == 0:
        assert sum(shares.values()) == 0
        return
    assert sum(shares.values()) == pool
    for key, weight in weighted:
        assert abs(shares[key] - pool * weight / whole) < 1


@settings(deadline=None)
@given(pool=st.integers(min_value=0, max_value=10**6), people=weights)
def test_more_weight_never_means_a_smaller_share(
    pool: int, people: list[tuple[int, Decimal]]
) -> None:
    weighted = [(i, seconds * Fraction(weight)) for i, (seconds, weight) in enumerate(people)]
    shares = split(pool, weighted)
    for a, wa in weighted:
        for b, wb in weighted:
            if wa > wb:
                assert shares[a] >= shares[b]


# --- the rule and the pure pieces ------------------------------------------------------------


def test_rule_defaults_and_a_full_setting() -> None:
    assert TipRule.from_pos_settings({}) == TipRule()
    rule = TipRule.from_pos_settings(
        {
            "tipPooling": {
                "enabled": True,
                "roleWeights": {"kitchen_staff": 0.5, "manager": 0, "waiter": "1.25"},
                "includeOrderTips": True,
            }
        }
    )
    assert rule.enabled
    assert rule.include_order_tips
    assert rule.weight("kitchen_staff") == Decimal("0.5")
    assert rule.weight("manager") == 0
    assert rule.weight("waiter") == Decimal("1.25")
    assert rule.weight("cashier") == 1
    assert rule.problems == ()
    plain = TipRule.from_pos_settings({"tipPooling": {"roleWeights": {"waiter": "100.00"}}})
    assert str(plain.weight("waiter")) == "100"

    assert set(rule.weights()) >= {"waiter", "kitchen_staff", "employee"}


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("yes", "tipPooling must be an object"),
        ({"enabled": "true"}, "tipPooling.enabled"),
        ({"enabled": True, "includeOrderTips": 1}, "tipPooling.includeOrderTips"),
        ({"enabled": True, "roleWeights": [1, 2]}, "tipPooling.roleWeights must be an object"),
        ({"enabled": True, "roleWeights": {"chef": 2}}, "roleWeights.chef: unknown role"),
        ({"enabled": True, "roleWeights": {"waiter": -1}}, "roleWeights.waiter"),
        ({"enabled": True, "roleWeights": {"waiter": 101}}, "roleWeights.waiter"),
        ({"enabled": True, "roleWeights": {"waiter": "NaN"}}, "roleWeights.waiter"),
        ({"enabled": True, "roleWeights": {"waiter": True}}, "roleWeights.waiter"),
        ({"enabled": True, "roleWeights": {"waiter": "lots"}}, "roleWeights.waiter"),
        # In range but a million digits long: refused before any arithmetic sees it.
        ({"enabled": True, "roleWeights": {"waiter": "1e-999999"}}, "roleWeights.waiter"),
    ],
)
def test_bad_settings_fall_back_and_say_so(setting: object, problem: str) -> None:
    rule = TipRule.from_pos_settings({"tipPooling": setting})
    assert any(problem in p for p in rule.problems), rule.problems
    assert rule.weight("waiter") == 1
    assert rule.include_order_tips is False


def test_refunds_take_the_tip_last() -> None:
    def payment(amount: int, tip: int, refunded: int) -> Payment:
        return Payment(amount_minor=amount, tip_minor=tip, refunded_minor=refunded)

    assert tender_tip_left(payment(2000, 500, 0)) == 500
    assert tender_tip_left(payment(2000, 500, 2000)) == 500
    assert tender_tip_left(payment(2000, 500, 2200)) == 300
    assert tender_tip_left(payment(2000, 500, 2500)) == 0
    order = Order(total_minor=3400, tip_minor=400, refunded_minor=0)
    assert order_tip_left(order) == 400
    order.refunded_minor = 3100
    assert order_tip_left(order) == 300
    order.refunded_minor = 3400
    assert order_tip_left(order) == 0


def test_hours_split_at_business_day_start_across_the_autumn_change() -> None:
    # 24 Oct 2026 20:00 BST to 25 Oct 05:00 GMT is 10 real hours; with days starting at
    # 04:00 the first 9 belong to the 24th (until 04:00 GMT) and 1 to the 25th.
    pieces = list(split_by_day(utc(2026, 10, 24, 19), utc(2026, 10, 25, 5), LONDON, FOUR))
    assert pieces == [(date(2026, 10, 24), 9 * 3600), (date(2026, 10, 25), 3600)]
    # At midnight (the timesheet's days): 5 hours on the 24th, 5 on the 25th.
    pieces = list(split_by_day(utc(2026, 10, 24, 19), utc(2026, 10, 25, 5), LONDON))
    assert pieces == [(date(2026, 10, 24), 4 * 3600), (date(2026, 10, 25), 6 * 3600)]


def test_a_repeated_business_day_start_splits_once() -> None:
    # Days starting at 01:30 on the night 01:00-02:00 happens twice: the 25th starts at the
    # first 01:30 (00:30 UTC); nothing is counted twice or backwards.
    pieces = list(split_by_day(utc(2026, 10, 24, 23), utc(2026, 10, 25, 3), LONDON, time(1, 30)))
    assert sum(s for _, s in pieces) == 4 * 3600
    assert all(s > 0 for _, s in pieces)
    assert [d for d, _ in pieces] == [date(2026, 10, 24), date(2026, 10, 25)]


def test_a_long_forgotten_entry_counts_real_hours_per_day() -> None:
    # Open 40 hours across the autumn change (a 25-hour local day in the middle).
    shift = Shift("a", utc(2026, 10, 24, 12), utc(2026, 10, 26, 4), (), 0)
    days = worked_by_day([shift], LONDON)
    assert days[date(2026, 10, 25)] == 25 * 3600
    assert sum(days.values()) == 40 * 3600


def test_allocate_off_reports_everything_unallocated() -> None:
    a = Worker(uuid.uuid4(), "Ann", "waiter")
    pool = allocate(date(2026, 6, 1), 1000, 300, {a: 3600}, TipRule())
    assert pool.tips == 1000  # order tips only when the rule includes them
    assert pool.allocated == 0
    assert pool.unallocated == 1000
    assert pool.members[0].seconds == 3600
    on = TipRule(enabled=True, include_order_tips=True)
    pool = allocate(date(2026, 6, 1), 1000, 300, {a: 3600}, on)
    assert (pool.tips, pool.allocated, pool.unallocated) == (1300, 1300, 0)
    nobody = allocate(date(2026, 6, 1), 1000, 0, {}, on)
    assert (nobody.allocated, nobody.unallocated) == (0, 1000)
    zero = TipRule(enabled=True, role_weights={"waiter": Decimal(0)})
    assert allocate(date(2026, 6, 1), 1000, 0, {a: 3600}, zero).unallocated == 1000


# --- over HTTP -------------------------------------------------------------------------------

D = date(2026, 6, 10)  # a Wednesday in BST (UTC+1)


async def add_order(
    session: AsyncSession,
    restaurant: Restaurant,
    *,
    day: date = D,
    tip: int = 0,
    total: int = 3000,
    payment_status: str = "paid",
    status: str = "completed",
    refunded: int = 0,
) -> Order:
    order = Order(
        id=uuid.uuid4(),
        restaurant_id=restaurant.id,
        order_number=f"{day:%y%m%d}-{uuid.uuid4().int % 10000:04d}",
        business_date=day,
        daily_sequence=uuid.uuid4().int % 10**9,
        status=status,
        payment_status=payment_status,
        currency="GBP",
        prices_include_vat=True,
        subtotal_minor=total - tip,
        tip_minor=tip,
        total_minor=total,
        paid_minor=total,
        refunded_minor=refunded,
    )
    session.add(order)
    await session.flush()
    return order


async def add_payment(
    session: AsyncSession,
    order: Order,
    *,
    tip: int,
    at: datetime,
    amount: int = 2000,
    status: str = "completed",
    refunded: int = 0,
    method: str = "card",
    applied: bool = True,
) -> Payment:
    """A tender; ``applied`` ones (counted on their order) carry ``completed_at``, as
    ``fynlo.payments.core.apply_to_order`` sets it; a held payment never has one."""
    payment = Payment(
        id=uuid.uuid4(),
        restaurant_id=order.restaurant_id,
        order_id=order.id,
        method=method,
        provider="sandbox",
        status=status,
        currency="GBP",
        amount_minor=amount,
        tip_minor=tip,
        net_minor=amount + tip,
        refunded_minor=refunded,
        completed_at=at if applied and status != "held" else None,
        created_at=at,
    )
    session.add(payment)
    await session.flush()
    return payment


async def tips_world(session: AsyncSession, world: World) -> None:
    """Business day D: a waiter 8 h, a cook 8 h (a 1-hour unpaid break, past midnight).

    Tender tips of D: 10.00 card, 3.00 left of a 5.00 cash tip partly refunded, 1.00 taken at
    02:00 on the 11th (still D: days start at 04:00). Not pooled: a held tip, a held payment
    later refunded in part (never applied: still no tip to share), a payment refunded in full,
    a failed one, a pending one and another restaurant's. D+1: 2.50 at 05:00 with nobody
    working. Order tip 4.00 on D.
    """
    waiter, cook = world.users["waiter"], world.users["kitchen_staff"]
    await add_entry(session, world, waiter, utc(2026, 6, 10, 9), utc(2026, 6, 10, 17))
    await add_entry(
        session,
        world,
        cook,
        utc(2026, 6, 10, 15),
        utc(2026, 6, 11, 0),
        breaks=[{"start": "2026-06-10T19:00:00+00:00", "end": "2026-06-10T20:00:00+00:00"}],
    )
    order = await add_order(session, world.a1, tip=400, total=3400)
    await add_payment(session, order, tip=1000, at=utc(2026, 6, 10, 19))
    await add_payment(
        session,
        order,
        tip=500,
        at=utc(2026, 6, 10, 20),
        method="cash",
        status="partially_refunded",
        refunded=2200,
    )
    await add_payment(session, order, tip=100, at=utc(2026, 6, 11, 1))
    await add_payment(session, order, tip=700, at=utc(2026, 6, 10, 21), status="held")
    await add_payment(
        session,
        order,
        tip=800,
        at=utc(2026, 6, 10, 21),
        status="partially_refunded",
        refunded=2000,
        applied=False,
    )
    await add_payment(
        session, order, tip=300, at=utc(2026, 6, 10, 21), status="refunded", refunded=2300
    )
    await add_payment(session, order, tip=600, at=utc(2026, 6, 10, 21), status="pending")
    await add_payment(session, order, tip=900, at=utc(2026, 6, 10, 21), status="failed")
    await add_payment(session, order, tip=250, at=utc(2026, 6, 11, 4))
    other = await add_order(session, world.b, tip=0)
    await add_payment(session, other, tip=5000, at=utc(2026, 6, 10, 19))
    # Not paid in full yet: its tip is not pooled.
    await add_order(session, world.a1, tip=999, total=5000, payment_status="partially_paid")
    await session.commit()


POOL = {"from": "2026-06-10", "to": "2026-06-11"}


async def get_pool(client: httpx.AsyncClient, user: User, **params: str) -> httpx.Response:
    return await client.get(
        "/api/tips/pool", params={**POOL, **params}, headers=await login(client, user)
    )


async def test_pool_off_by_default_shows_the_tips_unallocated(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    await tips_world(session, world)
    response = await get_pool(client, world.users["manager"])
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["rule"]["enabled"] is False
    assert data["rule"]["businessDayStartsAt"] == "04:00"
    assert data["rule"]["problems"] == []
    day = data["days"][0]
    assert (day["date"], day["tips"], day["allocated"], day["unallocated"]) == (
        "2026-06-10",
        14.00,
        0,
        14.00,
    )
    assert {p["hours"] for p in day["people"]} == {"8.00"}
    assert all(p["share"] == 0 for p in day["people"])
    assert data["tips"] == 16.50
    assert data["unallocated"] == 16.50


async def test_pool_by_hours_and_role_weight(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    await tips_world(session, world)
    await set_pos(
        session, world, tipPooling={"enabled": True, "roleWeights": {"kitchen_staff": 0.5}}
    )
    response = await get_pool(client, world.users["manager"])
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["rule"]["roleWeights"]["kitchen_staff"] == "0.5"
    assert data["rule"]["roleWeights"]["waiter"] == "1"
    d, next_day = data["days"]
    assert d["tenderTips"] == 14.00
    assert d["orderTips"] == 0
    shares = {p["userId"]: (p["hours"], p["weight"], p["share"]) for p in d["people"]}
    # 14.00 by 8 h x 1 and 8 h x 0.5: 9.333.. and 4.666..; the odd penny to the larger rest.
    assert shares == {
        str(world.users["waiter"].id): ("8.00", "1", 9.33),
        str(world.users["kitchen_staff"].id): ("8.00", "0.5", 4.67),
    }
    assert (d["allocated"], d["unallocated"]) == (14.00, 0)
    assert next_day["date"] == "2026-06-11"
    assert (next_day["tips"], next_day["allocated"], next_day["unallocated"]) == (2.50, 0, 2.50)
    assert next_day["people"] == []
    people = {p["userId"]: p["share"] for p in data["people"]}
    assert people[str(world.users["waiter"].id)] == 9.33
    assert (data["tips"], data["allocated"], data["unallocated"]) == (16.50, 14.00, 2.50)


async def test_an_odd_penny_goes_to_one_person_and_nobody_without_hours_is_in_the_pool(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    # 10.00 among three people of 4 h each: 3.333.. each, so 3.33 x 3 and one penny left,
    # which goes to the lowest user id (equal remainders). The manager worked 2 h at weight 0:
    # listed, share 0. The employee is still clocked in (an open entry counts nothing yet) and
    # the cook clocked in and out inside one unpaid break's worth of time: neither is listed.
    three = [world.users[role] for role in ("waiter", "cashier", "captain")]
    for person in three:
        await add_entry(session, world, person, utc(2026, 6, 10, 10), utc(2026, 6, 10, 14))
    manager, employee, cook = (world.users[r] for r in ("manager", "employee", "kitchen_staff"))
    await add_entry(session, world, manager, utc(2026, 6, 10, 10), utc(2026, 6, 10, 12))
    await add_entry(session, world, employee, utc(2026, 6, 10, 9), None)
    await add_entry(
        session,
        world,
        cook,
        utc(2026, 6, 10, 10),
        utc(2026, 6, 10, 11),
        breaks=[{"start": "2026-06-10T10:00:00+00:00", "end": "2026-06-10T11:00:00+00:00"}],
    )
    order = await add_order(session, world.a1)
    await add_payment(session, order, tip=1000, at=utc(2026, 6, 10, 13))
    await set_pos(session, world, tipPooling={"enabled": True, "roleWeights": {"manager": 0}})
    response = await get_pool(client, world.users["manager"], to="2026-06-10")
    assert response.status_code == 200, response.text
    (day,) = response.json()["data"]["days"]
    shares = {p["userId"]: (p["hours"], p["weight"], p["share"]) for p in day["people"]}
    lowest = min(str(p.id) for p in three)
    assert shares == {
        **{str(p.id): ("4.00", "1", 3.34 if str(p.id) == lowest else 3.33) for p in three},
        str(manager.id): ("2.00", "0", 0),
    }
    assert (day["tips"], day["allocated"], day["unallocated"]) == (10.00, 10.00, 0)
    # The same penny on the person's own timesheet.
    (first,) = (p for p in three if str(p.id) == lowest)
    sheet = await client.get(
        f"/api/users/{first.id}/timesheet",
        params={"from": "2026-06-10", "to": "2026-06-10"},
        headers=await login(client, first),
    )
    assert sheet.json()["data"]["tips"] == 3.34


async def test_order_tips_join_the_pool_when_configured(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    await tips_world(session, world)
    await set_pos(
        session,
        world,
        tipPooling={
            "enabled": True,
            "roleWeights": {"kitchen_staff": 0.5},
            "includeOrderTips": True,
        },
    )
    data = (await get_pool(client, world.owner_a, restaurantId=str(world.a1.id))).json()["data"]
    d = data["days"][0]
    assert (d["tenderTips"], d["orderTips"], d["tips"]) == (14.00, 4.00, 18.00)
    assert sorted(p["share"] for p in d["people"]) == [6.00, 12.00]


async def test_timesheet_shows_the_persons_share_per_day(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    await tips_world(session, world)
    await set_pos(
        session, world, tipPooling={"enabled": True, "roleWeights": {"kitchen_staff": 0.5}}
    )
    cook = world.users["kitchen_staff"]
    response = await client.get(
        f"/api/users/{cook.id}/timesheet", params=POOL, headers=await login(client, cook)
    )
    assert response.status_code == 200, response.text
    sheet = response.json()["data"]
    # Calendar days on the timesheet: 7 h on the 10th, 1 h after midnight; the tip share
    # belongs to business day the 10th.
    assert [(d["date"], d["hours"], d["tips"]) for d in sheet["days"]] == [
        ("2026-06-10", "7.00", 4.67),
        ("2026-06-11", "1.00", 0),
    ]
    assert sheet["tips"] == 4.67
    assert sheet["rules"]["tipPooling"] is True


async def test_a_tip_day_without_calendar_hours_still_shows(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    # Worked only 00:30-03:00 local on the 11th: business day the 10th.
    waiter = world.users["waiter"]
    await add_entry(session, world, waiter, utc(2026, 6, 10, 23, 30), utc(2026, 6, 11, 2))
    order = await add_order(session, world.a1)
    await add_payment(session, order, tip=600, at=utc(2026, 6, 10, 22))
    await set_pos(session, world, tipPooling={"enabled": True})
    response = await client.get(
        f"/api/users/{waiter.id}/timesheet", params=POOL, headers=await login(client, waiter)
    )
    sheet = response.json()["data"]
    assert [(d["date"], d["hours"], d["tips"]) for d in sheet["days"]] == [
        ("2026-06-10", "0.00", 6.00),
        ("2026-06-11", "2.50", 0),
    ]


async def test_bad_settings_answer_with_the_fallback_not_a_500(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    await tips_world(session, world)
    await set_pos(session, world, tipPooling={"enabled": "yes", "roleWeights": {"waiter": -2}})
    response = await get_pool(client, world.users["manager"])
    assert response.status_code == 200, response.text
    rule = response.json()["data"]["rule"]
    assert rule["enabled"] is False
    assert rule["roleWeights"]["waiter"] == "1"
    assert len(rule["problems"]) == 2
    await set_pos(session, world, tipPooling=[1, 2])
    assert (await get_pool(client, world.users["manager"])).status_code == 200
    response = await client.get(
        f"/api/users/{world.users['waiter'].id}/timesheet",
        params=POOL,
        headers=await login(client, world.users["waiter"]),
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("role", ["captain", "cashier", "waiter", "kitchen_staff", "employee"])
async def test_the_pool_is_for_managers(client: httpx.AsyncClient, world: World, role: str) -> None:
    error_of(await get_pool(client, world.users[role]), 403, "permission_denied")


async def test_another_restaurant_sees_nothing_of_this_pool(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    await tips_world(session, world)
    response = await get_pool(client, world.other_manager, restaurantId=str(world.a1.id))
    error_of(response, 404, "not_found")
    data = (await get_pool(client, world.other_manager)).json()["data"]
    # B's own pool: its 50.00 tip, nobody of A anywhere.
    assert data["tips"] == 50.00
    assert all(d["people"] == [] for d in data["days"])
    error_of(await client.get("/api/tips/pool", params=POOL), 401, "unauthorized")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"to": "2026-06-10"}, "from"),
        ({"from": "2026-06-10"}, "to"),
        ({"from": "10/06/2026", "to": "2026-06-10"}, "from"),
        ({"from": "2026-06-10", "to": "2026-06-32"}, "to"),
        ({"from": "2026-06-10", "to": "2026-06-09"}, "to"),
        ({"from": "2026-01-01", "to": "2026-06-09"}, "to"),
        ({"from": "0001-01-01", "to": "0001-01-02"}, "from"),
        ({"from": "2099-12-30", "to": "2100-01-01"}, "to"),
    ],
)
async def test_pool_range_is_validated(
    client: httpx.AsyncClient, world: World, params: dict[str, Any], field: str
) -> None:
    response = await client.get(
        "/api/tips/pool", params=params, headers=await login(client, world.users["manager"])
    )
    error = error_of(response, 422, "validation_error")
    assert field in [d["field"] for d in error["details"]], error


def test_business_day_of_a_payment_matches_the_order_numbering() -> None:
    from fynlo.orders.numbering import business_date

    moment = utc(2026, 6, 11, 1)  # 02:00 BST on the 11th
    assert business_date(moment, "Europe/London", FOUR) == D
    assert next(iter(split_by_day(moment, moment + timedelta(minutes=1), LONDON, FOUR)))[0] == D
