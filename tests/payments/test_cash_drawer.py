"""Cash drawer sessions over HTTP: float, paid in/out, count and close, roles and tenancy."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fynlo.db.engine import create_sessionmaker
from fynlo.db.types import utc_now
from fynlo.models import AuditLog, CashDrawerSession, CashMovement
from fynlo.payments.ledgers import cash_movement
from tests.conftest import make_client
from tests.world import World, login

SESSIONS = "/api/cash-drawers/sessions"


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def fields_of(error: dict[str, Any]) -> set[str]:
    return {d["field"] for d in error["details"]}


def movements_url(session_id: str) -> str:
    return f"{SESSIONS}/{session_id}/movements"


def close_url(session_id: str) -> str:
    return f"{SESSIONS}/{session_id}/close"


async def open_drawer(
    client: httpx.AsyncClient, headers: dict[str, str], amount: float = 100.00, **body: Any
) -> dict[str, Any]:
    response = await client.post(SESSIONS, json={"float": amount, **body}, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def pay(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    session_id: str,
    kind: str,
    amount: float,
    reason: str = "float top-up",
) -> httpx.Response:
    return await client.post(
        movements_url(session_id),
        json={"type": kind, "amount": amount, "reason": reason},
        headers=headers,
    )


async def reload(session: AsyncSession, session_id: str) -> CashDrawerSession:
    await session.commit()  # a fresh snapshot: see what the requests committed
    return (
        await session.execute(
            select(CashDrawerSession)
            .where(CashDrawerSession.id == uuid.UUID(session_id))
            .execution_options(populate_existing=True)
        )
    ).scalar_one()


async def audit_rows(session: AsyncSession, resource_id: str) -> list[AuditLog]:
    await session.commit()
    rows = await session.scalars(
        select(AuditLog).where(AuditLog.resource_id == resource_id).order_by(AuditLog.seq)
    )
    return list(rows)


# --- the happy path ---------------------------------------------------------------------


async def test_float_paid_in_paid_out_and_close_compute_expected_and_variance(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await login(client, world.users["cashier"])

    opened = await open_drawer(client, headers, 100.00, drawer="main", notes="Morning shift")
    assert (opened["status"], opened["drawer"], opened["currency"]) == ("open", "main", "GBP")
    assert (opened["float"], opened["expectedAmount"]) == (100.0, 100.0)
    assert opened["countedAmount"] is None
    assert opened["variance"] is None
    assert [(m["type"], m["amount"]) for m in opened["movements"]] == [("float", 100.0)]
    assert opened["openedBy"] == str(world.users["cashier"].id)
    sid = opened["id"]

    paid_in = await pay(client, headers, sid, "paid_in", 20.00, "change from bank")
    assert paid_in.status_code == 201, paid_in.text
    assert paid_in.json()["data"]["movement"]["amount"] == 20.0
    assert paid_in.json()["data"]["movement"]["reason"] == "change from bank"
    assert paid_in.json()["data"]["session"]["expectedAmount"] == 120.0
    paid_out = await pay(client, headers, sid, "paid_out", 5.50, "milk from the shop")
    assert paid_out.status_code == 201, paid_out.text
    assert paid_out.json()["data"]["movement"]["type"] == "paid_out"
    assert paid_out.json()["data"]["movement"]["amount"] == -5.5  # cash out is negative
    assert paid_out.json()["data"]["session"]["expectedAmount"] == 114.5  # 100 + 20 - 5.50

    detail = (await client.get(f"{SESSIONS}/{sid}", headers=headers)).json()["data"]
    assert detail["expectedAmount"] == 114.5
    assert detail["breakdown"] == {
        "float": 100.0,
        "sales": 0.0,
        "refunds": 0.0,
        "paidIn": 20.0,
        "paidOut": -5.5,
    }
    assert [m["type"] for m in detail["movements"]] == ["float", "paid_in", "paid_out"]

    closed = await client.post(
        close_url(sid), json={"countedAmount": 110.00, "notes": "short"}, headers=headers
    )
    assert closed.status_code == 200, closed.text
    data = closed.json()["data"]
    assert data["status"] == "closed"
    assert (data["expectedAmount"], data["countedAmount"], data["variance"]) == (
        114.5,
        110.0,
        -4.5,  # 110.00 counted - 114.50 expected
    )
    assert data["closedBy"] == str(world.users["cashier"].id)
    assert data["closedAt"] is not None
    assert data["notes"] == "Morning shift\nshort"

    row = await reload(session, sid)
    assert (row.float_minor, row.expected_minor, row.counted_minor, row.variance_minor) == (
        10_000,
        11_450,
        11_000,
        -450,
    )
    ledger = await session.scalar(
        select(func.sum(CashMovement.amount_minor)).where(CashMovement.session_id == row.id)
    )
    assert ledger == 11_450
    audit = await audit_rows(session, sid)
    assert [a.action for a in audit] == [
        "cash_drawer.opened",
        "cash_drawer.paid_in",
        "cash_drawer.paid_out",
        "cash_drawer.closed",
    ]
    assert audit[0].new_values is not None
    assert audit[0].new_values["float"] == 10_000
    assert audit[2].new_values is not None
    assert (audit[2].new_values["amount"], audit[2].new_values["expected"]) == (-550, 11_450)
    assert audit[2].new_values["reason"] == "milk from the shop"
    closing = audit[3].new_values
    assert closing is not None
    assert (closing["expected"], closing["counted"], closing["variance"]) == (11_450, 11_000, -450)
    assert all(a.user_id == world.users["cashier"].id for a in audit)


async def test_sales_and_refunds_count_toward_the_expected_cash(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    """Tenders write sale and refund movements; the count at close includes them."""
    headers = await login(client, world.users["manager"])
    sid = (await open_drawer(client, headers, 50.00))["id"]
    drawer = await reload(session, sid)
    session.add(cash_movement(drawer, "sale", 1230, user_id=None, reason="order 1"))
    session.add(cash_movement(drawer, "refund", -230, user_id=None, reason="order 1"))
    await session.commit()

    detail = (await client.get(f"{SESSIONS}/{sid}", headers=headers)).json()["data"]
    assert detail["expectedAmount"] == 60.0  # 50.00 + 12.30 - 2.30
    assert (detail["breakdown"]["sales"], detail["breakdown"]["refunds"]) == (12.3, -2.3)
    closed = await client.post(close_url(sid), json={"countedAmount": 60}, headers=headers)
    assert closed.status_code == 200, closed.text
    assert (closed.json()["data"]["expectedAmount"], closed.json()["data"]["variance"]) == (
        60.0,
        0.0,
    )


async def test_a_drawer_can_open_with_no_float_and_over_count(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await login(client, world.users["cashier"])
    opened = await open_drawer(client, headers, 0, drawer="bar")
    assert (opened["float"], opened["expectedAmount"]) == (0.0, 0.0)
    closed = await client.post(
        close_url(opened["id"]), json={"countedAmount": 0.25}, headers=headers
    )
    assert closed.json()["data"]["variance"] == 0.25
    assert (await reload(session, opened["id"])).variance_minor == 25


# --- conflicts --------------------------------------------------------------------------


async def test_a_second_open_session_for_the_same_drawer_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await login(client, world.users["cashier"])
    first = await open_drawer(client, headers, 100.00)

    error = error_of(
        await client.post(SESSIONS, json={"float": 50}, headers=headers),
        409,
        "drawer_already_open",
    )
    assert "main" in error["message"]
    assert error["details"]["sessionId"] == first["id"]

    other = await open_drawer(client, headers, 30.00, drawer="bar")
    assert other["drawer"] == "bar"
    await client.post(close_url(first["id"]), json={"countedAmount": 100}, headers=headers)
    again = await open_drawer(client, headers, 80.00)
    assert again["id"] != first["id"]
    await session.commit()
    assert (
        await session.scalar(
            select(func.count())
            .select_from(CashDrawerSession)
            .where(CashDrawerSession.drawer == "main")
        )
        == 2
    )


async def test_closing_twice_and_paying_into_a_closed_drawer_are_refused(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await login(client, world.users["cashier"])
    sid = (await open_drawer(client, headers, 40.00))["id"]
    first = await client.post(close_url(sid), json={"countedAmount": 40}, headers=headers)
    assert first.status_code == 200, first.text

    error = error_of(
        await client.post(close_url(sid), json={"countedAmount": 10}, headers=headers),
        409,
        "drawer_closed",
    )
    assert error["details"]["status"] == "closed"
    error_of(await pay(client, headers, sid, "paid_in", 5), 409, "drawer_closed")

    row = await reload(session, sid)
    assert (row.counted_minor, row.variance_minor) == (4_000, 0)  # the first count stands
    assert [a.action for a in await audit_rows(session, sid)] == [
        "cash_drawer.opened",
        "cash_drawer.closed",
    ]


async def test_paying_out_more_than_the_drawer_holds_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await login(client, world.users["cashier"])
    sid = (await open_drawer(client, headers, 10.00))["id"]

    error = error_of(
        await pay(client, headers, sid, "paid_out", 10.01), 409, "insufficient_drawer_cash"
    )
    assert error["details"] == {"expected": 10.0, "amount": 10.01}
    emptied = await pay(client, headers, sid, "paid_out", 10.00)
    assert emptied.status_code == 201, emptied.text
    assert emptied.json()["data"]["session"]["expectedAmount"] == 0.0
    error_of(await pay(client, headers, sid, "paid_out", 0.01), 409, "insufficient_drawer_cash")
    await session.commit()
    count = await session.scalar(
        select(func.count()).select_from(CashMovement).where(CashMovement.kind == "paid_out")
    )
    assert count == 1


async def test_closing_with_a_stale_version_is_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = await login(client, world.users["cashier"])
    opened = await open_drawer(client, headers, 20.00)
    assert opened["version"] == 1
    moved = await pay(client, headers, opened["id"], "paid_in", 1)
    assert moved.json()["data"]["session"]["version"] == 2

    error = error_of(
        await client.post(
            close_url(opened["id"]), json={"countedAmount": 21, "version": 1}, headers=headers
        ),
        409,
        "stale_version",
    )
    assert error["details"] == {"expectedVersion": 1, "currentVersion": 2}
    closed = await client.post(
        close_url(opened["id"]), json={"countedAmount": 21, "version": 2}, headers=headers
    )
    assert closed.status_code == 200, closed.text
    assert (closed.json()["data"]["variance"], closed.json()["data"]["version"]) == (0.0, 3)


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "float"),
        ({"float": "lots"}, "float"),
        ({"float": None}, "float"),
        ({"float": -1}, "float"),
        ({"float": 1.005}, "float"),  # finer than a penny
        ({"float": 1.0001}, "float"),
        ({"float": 10_000_000}, "float"),
        ({"float": 10, "drawer": ""}, "drawer"),
        ({"float": 10, "drawer": "d" * 51}, "drawer"),
        ({"float": 10, "drawer": 7}, "drawer"),
        ({"float": 10, "notes": "n" * 1001}, "notes"),
        ({"float": 10, "status": "closed"}, "status"),
    ],
)
async def test_open_refuses_a_bad_body_naming_the_field(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    body: dict[str, Any],
    field: str,
) -> None:
    headers = await login(client, world.users["cashier"])
    error = error_of(
        await client.post(SESSIONS, json=body, headers=headers), 422, "validation_error"
    )
    assert field in fields_of(error)
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(CashDrawerSession)) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 5, "reason": "x"}, "type"),
        ({"type": "sale", "amount": 5, "reason": "x"}, "type"),
        ({"type": "float", "amount": 5, "reason": "x"}, "type"),
        ({"type": "paid_in", "reason": "x"}, "amount"),
        ({"type": "paid_in", "amount": 0, "reason": "x"}, "amount"),
        ({"type": "paid_in", "amount": -5, "reason": "x"}, "amount"),
        ({"type": "paid_in", "amount": 2.999, "reason": "x"}, "amount"),
        ({"type": "paid_in", "amount": 10_000_000, "reason": "x"}, "amount"),
        ({"type": "paid_in", "amount": "five", "reason": "x"}, "amount"),
        ({"type": "paid_in", "amount": 5}, "reason"),
        ({"type": "paid_in", "amount": 5, "reason": ""}, "reason"),
        ({"type": "paid_in", "amount": 5, "reason": "   "}, "reason"),
        ({"type": "paid_in", "amount": 5, "reason": "r" * 501}, "reason"),
    ],
)
async def test_a_movement_refuses_a_bad_body_naming_the_field(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    body: dict[str, Any],
    field: str,
) -> None:
    headers = await login(client, world.users["cashier"])
    sid = (await open_drawer(client, headers, 100))["id"]
    error = error_of(
        await client.post(movements_url(sid), json=body, headers=headers), 422, "validation_error"
    )
    assert field in fields_of(error)
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(CashMovement)) == 1  # the float


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "countedAmount"),
        ({"countedAmount": -0.01}, "countedAmount"),
        ({"countedAmount": 99.999}, "countedAmount"),
        ({"countedAmount": "all of it"}, "countedAmount"),
        ({"countedAmount": 10_000_000}, "countedAmount"),
        ({"countedAmount": 10, "version": 0}, "version"),
        ({"countedAmount": 10, "version": "one"}, "version"),
        ({"countedAmount": 10, "variance": 0}, "variance"),
    ],
)
async def test_close_refuses_a_bad_body_naming_the_field(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    body: dict[str, Any],
    field: str,
) -> None:
    headers = await login(client, world.users["cashier"])
    sid = (await open_drawer(client, headers, 100))["id"]
    error = error_of(
        await client.post(close_url(sid), json=body, headers=headers), 422, "validation_error"
    )
    assert field in fields_of(error)
    assert (await reload(session, sid)).status == "open"


async def test_a_malformed_session_id_is_a_validation_error(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = await login(client, world.users["cashier"])
    error = error_of(
        await client.get(f"{SESSIONS}/not-a-uuid", headers=headers), 422, "validation_error"
    )
    assert "session_id" in fields_of(error)


# --- reading ----------------------------------------------------------------------------


async def test_list_filters_by_status_and_drawer_and_pages(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = await login(client, world.users["manager"])
    main = await open_drawer(client, headers, 100, drawer="main")
    bar = await open_drawer(client, headers, 50, drawer="bar")
    await open_drawer(client, headers, 25, drawer="patio")
    await pay(client, headers, main["id"], "paid_out", 30)
    await client.post(close_url(bar["id"]), json={"countedAmount": 49}, headers=headers)

    everything = (await client.get(SESSIONS, headers=headers)).json()["data"]
    assert everything["pagination"]["total"] == 3
    by_drawer = {s["drawer"]: s for s in everything["items"]}
    assert by_drawer["main"]["expectedAmount"] == 70.0  # running: 100 - 30
    assert (by_drawer["bar"]["expectedAmount"], by_drawer["bar"]["variance"]) == (50.0, -1.0)
    assert "movements" not in by_drawer["main"]

    still_open = (await client.get(SESSIONS, params={"status": "open"}, headers=headers)).json()
    assert sorted(s["drawer"] for s in still_open["data"]["items"]) == ["main", "patio"]
    only_bar = (await client.get(SESSIONS, params={"drawer": "bar"}, headers=headers)).json()
    assert [(s["drawer"], s["status"]) for s in only_bar["data"]["items"]] == [("bar", "closed")]

    page = (await client.get(SESSIONS, params={"limit": 2}, headers=headers)).json()["data"]
    assert len(page["items"]) == 2
    assert page["pagination"] == {"limit": 2, "offset": 0, "total": 3, "hasMore": True}
    rest = (await client.get(SESSIONS, params={"limit": 2, "offset": 2}, headers=headers)).json()[
        "data"
    ]
    assert len(rest["items"]) == 1
    assert rest["pagination"]["hasMore"] is False
    assert {s["id"] for s in page["items"] + rest["items"]} == {
        s["id"] for s in everything["items"]
    }

    error_of(
        await client.get(SESSIONS, params={"status": "lost"}, headers=headers),
        422,
        "validation_error",
    )
    error_of(
        await client.get(SESSIONS, params={"limit": 0}, headers=headers), 422, "validation_error"
    )


# --- access -----------------------------------------------------------------------------


async def test_another_restaurants_session_is_not_found(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    ours = await login(client, world.users["cashier"])
    sid = (await open_drawer(client, ours, 100))["id"]
    theirs = await login(client, world.other_manager)

    error_of(await client.get(f"{SESSIONS}/{sid}", headers=theirs), 404, "not_found")
    error_of(await pay(client, theirs, sid, "paid_out", 50), 404, "not_found")
    error_of(
        await client.post(close_url(sid), json={"countedAmount": 0}, headers=theirs),
        404,
        "not_found",
    )
    listed = (await client.get(SESSIONS, headers=theirs)).json()["data"]
    assert listed["pagination"]["total"] == 0
    # Their own drawer "main" is independent of ours.
    assert (await open_drawer(client, theirs, 10))["drawer"] == "main"
    error_of(await client.get(f"{SESSIONS}/{uuid.uuid4()}", headers=ours), 404, "not_found")

    row = await reload(session, sid)
    assert (row.status, row.version) == ("open", 1)


@pytest.mark.parametrize("role", ["waiter", "kitchen_staff", "employee"])
async def test_roles_without_the_permissions_are_refused(
    client: httpx.AsyncClient, session: AsyncSession, world: World, role: str
) -> None:
    sid = (await open_drawer(client, await login(client, world.users["cashier"]), 100))["id"]
    headers = await login(client, world.users[role])

    denied = [
        (await client.post(SESSIONS, json={"float": 10, "drawer": "bar"}, headers=headers)),
        (await pay(client, headers, sid, "paid_out", 50)),
        (await client.post(close_url(sid), json={"countedAmount": 0}, headers=headers)),
    ]
    for response in denied:
        error = error_of(response, 403, "permission_denied")
        assert error["details"]["permission"] == "cash_drawer.manage"
    for response in (
        await client.get(SESSIONS, headers=headers),
        await client.get(f"{SESSIONS}/{sid}", headers=headers),
    ):
        assert error_of(response, 403, "permission_denied")["details"]["permission"] == (
            "payments.read"
        )
    assert (await reload(session, sid)).status == "open"
    assert await session.scalar(select(func.count()).select_from(CashMovement)) == 1


async def test_a_captain_can_read_drawers_but_not_change_them(
    client: httpx.AsyncClient, world: World
) -> None:
    sid = (await open_drawer(client, await login(client, world.users["cashier"]), 100))["id"]
    headers = await login(client, world.users["captain"])
    seen = await client.get(f"{SESSIONS}/{sid}", headers=headers)
    assert seen.json()["data"]["expectedAmount"] == 100.0
    error_of(await pay(client, headers, sid, "paid_in", 1), 403, "permission_denied")


async def test_unauthenticated_requests_are_refused(client: httpx.AsyncClient) -> None:
    error_of(await client.get(SESSIONS), 401, "unauthorized")
    error_of(await client.post(SESSIONS, json={"float": 10}), 401, "unauthorized")


# --- retries and concurrency ------------------------------------------------------------


async def test_an_open_retried_with_its_idempotency_key_opens_once(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = {**await login(client, world.users["cashier"]), "Idempotency-Key": "till-1-open"}
    first = await client.post(SESSIONS, json={"float": 100}, headers=headers)
    retry = await client.post(SESSIONS, json={"float": 100}, headers=headers)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json()["data"]["id"] == first.json()["data"]["id"]
    assert retry.headers.get("Idempotent-Replayed") == "true"
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(CashDrawerSession)) == 1


async def test_two_tills_opening_one_drawer_at_once_open_it_once(
    app: FastAPI, session: AsyncSession, world: World
) -> None:
    async with make_client(app) as first, make_client(app) as second:
        one = await login(first, world.users["cashier"])
        other = await login(second, world.users["manager"])
        for _ in range(3):
            responses = await asyncio.gather(
                first.post(SESSIONS, json={"float": 100}, headers=one),
                second.post(SESSIONS, json={"float": 80}, headers=other),
            )
            codes = sorted(r.status_code for r in responses)
            assert codes == [201, 409], [r.text for r in responses]
            loser = next(r for r in responses if r.status_code == 409)
            assert loser.json()["error"]["code"] == "drawer_already_open"
            winner = next(r for r in responses if r.status_code == 201).json()["data"]
            closed = await first.post(
                close_url(winner["id"]), json={"countedAmount": winner["float"]}, headers=one
            )
            assert closed.status_code == 200, closed.text
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(CashDrawerSession)) == 3
    floats = await session.scalar(
        select(func.count()).select_from(CashMovement).where(CashMovement.kind == "float")
    )
    assert floats == 3


async def test_concurrent_paid_outs_cannot_spend_the_same_cash(
    app: FastAPI, session: AsyncSession, world: World
) -> None:
    async with make_client(app) as first, make_client(app) as second:
        headers = await login(first, world.users["cashier"])
        sid = (await open_drawer(first, headers, 10.00))["id"]
        responses = await asyncio.gather(
            *(
                (first if n % 2 else second).post(
                    movements_url(sid),
                    json={"type": "paid_out", "amount": 3.00, "reason": f"supplier {n}"},
                    headers=headers,
                )
                for n in range(6)
            )
        )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201, 201, 201, 409, 409, 409], [r.text for r in responses]
    row = await reload(session, sid)
    ledger = await session.scalar(
        select(func.sum(CashMovement.amount_minor)).where(CashMovement.session_id == row.id)
    )
    assert ledger == 100  # 10.00 - 3 x 3.00
    assert row.version == 4


@pytest.mark.postgres_only
async def test_an_open_racing_an_uncommitted_open_loses_on_the_unique_index(
    client: httpx.AsyncClient,
    session: AsyncSession,
    engine: AsyncEngine,
    world: World,
    backend: str,
) -> None:
    """The other till's open is not yet committed when this one checks, so only the partial
    unique index can stop the second session; the loser still gets a clear 409."""
    if backend != "postgresql":
        pytest.skip("needs concurrent writers; SQLite serialises whole write transactions")
    headers = await login(client, world.users["cashier"])
    async with create_sessionmaker(engine)() as other_till:
        other_till.add(
            CashDrawerSession(
                restaurant_id=world.a1.id,
                drawer="main",
                currency="GBP",
                status="open",
                float_minor=5_000,
                opened_at=utc_now(),
            )
        )
        await other_till.flush()
        racing = asyncio.create_task(client.post(SESSIONS, json={"float": 100}, headers=headers))
        await asyncio.sleep(0.3)
        assert not racing.done()  # waiting on the other till's index entry
        await other_till.commit()
    response = await asyncio.wait_for(racing, 10)
    error = error_of(response, 409, "drawer_already_open")
    assert "main" in error["message"]
    await session.commit()
    rows = (await session.scalars(select(CashDrawerSession.float_minor))).all()
    assert rows == [5_000]
    assert await session.scalar(select(func.count()).select_from(CashMovement)) == 0


@pytest.mark.postgres_only
async def test_a_paid_out_waits_for_the_drawer_row_and_counts_cash_taken_meanwhile(
    client: httpx.AsyncClient,
    session: AsyncSession,
    engine: AsyncEngine,
    world: World,
    backend: str,
) -> None:
    """Another writer holds the session row; the paid-out waits for it, then re-reads the
    drawer: 6.00 cannot come out of the 4.00 the other writer left."""
    if backend != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises whole write transactions")
    headers = await login(client, world.users["cashier"])
    sid = (await open_drawer(client, headers, 10.00))["id"]
    async with create_sessionmaker(engine)() as other_till:
        drawer = (
            await other_till.execute(
                select(CashDrawerSession)
                .where(CashDrawerSession.id == uuid.UUID(sid))
                .with_for_update()
            )
        ).scalar_one()
        racing = asyncio.create_task(pay(client, headers, sid, "paid_out", 6.00))
        await asyncio.sleep(0.3)
        assert not racing.done()  # waiting for the row
        other_till.add(cash_movement(drawer, "paid_out", -600, user_id=None, reason="other till"))
        await other_till.commit()
    error = error_of(await asyncio.wait_for(racing, 10), 409, "insufficient_drawer_cash")
    assert error["details"] == {"expected": 4.0, "amount": 6.0}
    row = await reload(session, sid)
    ledger = await session.scalar(
        select(func.sum(CashMovement.amount_minor)).where(CashMovement.session_id == row.id)
    )
    assert ledger == 400
