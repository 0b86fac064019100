"""Gift cards over HTTP: issue, balance, load, disable; the ledger, masking, roles, tenancy."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fynlo.db.engine import create_sessionmaker
from fynlo.db.types import utc_now
from fynlo.models import AuditLog, GiftCard, GiftCardEntry, Restaurant
from fynlo.payments.gift_cards import CODE_ALPHABET
from tests.conftest import make_client
from tests.world import World, login

CARDS = "/api/gift-cards"
BALANCE = "/api/gift-cards/balance"


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def fields_of(error: dict[str, Any]) -> set[str]:
    return {d["field"] for d in error["details"]}


def future(days: int = 365) -> str:
    return (utc_now() + timedelta(days=days)).isoformat()


async def issue(
    client: httpx.AsyncClient, headers: dict[str, str], amount: float = 50.00, **body: Any
) -> dict[str, Any]:
    response = await client.post(CARDS, json={"initialAmount": amount, **body}, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def reload(session: AsyncSession, card_id: str) -> GiftCard:
    await session.commit()  # a fresh snapshot: see what the requests committed
    return (
        await session.execute(
            select(GiftCard)
            .where(GiftCard.id == uuid.UUID(card_id))
            .execution_options(populate_existing=True)
        )
    ).scalar_one()


async def ledger_sum(session: AsyncSession, card_id: str) -> int:
    await session.commit()
    total = await session.scalar(
        select(func.sum(GiftCardEntry.amount_minor)).where(
            GiftCardEntry.gift_card_id == uuid.UUID(card_id)
        )
    )
    return int(total or 0)


async def gift_card_audit(session: AsyncSession) -> list[AuditLog]:
    await session.commit()
    rows = await session.scalars(
        select(AuditLog).where(AuditLog.resource_type == "gift_card").order_by(AuditLog.seq)
    )
    return list(rows)


# --- issue, balance, load ---------------------------------------------------------------


async def test_issue_generates_an_unambiguous_code_shown_once_in_full(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await login(client, world.users["cashier"])

    card = await issue(client, headers, 25.00)

    code = card["code"]
    assert re.fullmatch(f"[{CODE_ALPHABET}]{{16}}", code), code
    assert not set(code) & set("0O1IL")
    assert card["maskedCode"] == "•••• " + code[-4:]
    assert (card["balance"], card["initialAmount"], card["currency"]) == (25.0, 25.0, "GBP")
    assert (card["status"], card["expired"], card["expiresAt"]) == ("active", False, None)
    assert card["issuedBy"] == str(world.users["cashier"].id)
    assert [(e["type"], e["amount"], e["balanceAfter"]) for e in card["entries"]] == [
        ("issue", 25.0, 25.0)
    ]
    row = await reload(session, card["id"])
    assert (row.code, row.balance_minor, row.initial_minor) == (code, 2_500, 2_500)
    assert await ledger_sum(session, card["id"]) == 2_500

    second = await issue(client, headers, 25.00)
    assert second["code"] != code


async def test_issue_balance_load_and_the_ledger_sums_to_the_balance(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await login(client, world.users["manager"])
    expires = future(30)
    card = await issue(client, headers, 50.00, code="abcd-efgh-2345", expiresAt=expires)
    assert card["code"] == "ABCDEFGH2345"  # stored normalised
    assert card["maskedCode"] == "•••• 2345"

    balance = await client.post(BALANCE, json={"code": "abcd efgh 2345"}, headers=headers)
    assert balance.status_code == 200, balance.text
    assert balance.json()["data"] == {
        "id": card["id"],
        "maskedCode": "•••• 2345",
        "balance": 50.0,
        "currency": "GBP",
        "status": "active",
        "expiresAt": card["expiresAt"],
        "expired": False,
        "usable": True,
    }
    assert "ABCDEFGH2345" not in balance.text

    loaded = await client.post(
        f"{CARDS}/{card['id']}/load", json={"amount": 20.50, "reason": "birthday"}, headers=headers
    )
    assert loaded.status_code == 200, loaded.text
    data = loaded.json()["data"]
    assert (data["balance"], data["initialAmount"]) == (70.5, 50.0)
    assert "code" not in data
    again = await client.post(f"{CARDS}/{card['id']}/load", json={"amount": 0.01}, headers=headers)
    assert again.json()["data"]["balance"] == 70.51

    detail = (await client.get(f"{CARDS}/{card['id']}", headers=headers)).json()["data"]
    entries = [(e["type"], e["amount"], e["balanceAfter"], e["reason"]) for e in detail["entries"]]
    assert entries == [
        ("issue", 50.0, 50.0, None),
        ("load", 20.5, 70.5, "birthday"),
        ("load", 0.01, 70.51, None),
    ]
    assert detail["balance"] == 70.51
    row = await reload(session, card["id"])
    assert row.balance_minor == 7_051
    assert await ledger_sum(session, card["id"]) == row.balance_minor  # 5000 + 2050 + 1
    after = await client.post(BALANCE, json={"code": "ABCDEFGH2345"}, headers=headers)
    assert after.json()["data"]["balance"] == 70.51

    audit = await gift_card_audit(session)
    assert [a.action for a in audit] == ["gift_card.issued", "gift_card.loaded", "gift_card.loaded"]
    assert audit[1].old_values == {"balance": 5_000}
    assert audit[1].new_values is not None
    assert (audit[1].new_values["amount"], audit[1].new_values["balance"]) == (2_050, 7_050)


async def test_a_card_is_issued_in_the_restaurants_currency(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await session.execute(
        update(Restaurant).where(Restaurant.id == world.b.id).values(currency="EUR")
    )
    await session.commit()
    headers = await login(client, world.other_manager)
    card = await issue(client, headers, 15.00)
    assert card["currency"] == "EUR"
    assert (await reload(session, card["id"])).currency == "EUR"


async def test_the_largest_amount_is_accepted(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await login(client, world.users["cashier"])
    card = await issue(client, headers, 10_000.00)
    assert card["balance"] == 10_000.0
    loaded = await client.post(
        f"{CARDS}/{card['id']}/load", json={"amount": 10_000}, headers=headers
    )
    assert loaded.json()["data"]["balance"] == 20_000.0
    assert await ledger_sum(session, card["id"]) == 2_000_000


# --- masking and audit ------------------------------------------------------------------


async def test_codes_are_masked_everywhere_but_the_issue_response(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await login(client, world.users["cashier"])
    first = await issue(client, headers, 10)
    second = await issue(client, headers, 20, code="PRINTED-CARD-0042")
    codes = [first["code"], second["code"]]
    assert codes[1] == "PRINTEDCARD0042"

    listed = await client.get(CARDS, headers=headers)
    assert listed.status_code == 200, listed.text
    items = listed.json()["data"]["items"]
    assert sorted(i["maskedCode"] for i in items) == sorted("•••• " + c[-4:] for c in codes)
    assert all("code" not in item for item in items)
    detail = await client.get(f"{CARDS}/{second['id']}", headers=headers)
    loaded = await client.post(f"{CARDS}/{first['id']}/load", json={"amount": 5}, headers=headers)
    disabled = await client.post(
        f"{CARDS}/{second['id']}/disable", json={"reason": "lost"}, headers=headers
    )
    for response in (listed, detail, loaded, disabled):
        assert response.status_code == 200, response.text
        assert not any(code in response.text for code in codes)

    audit = await gift_card_audit(session)
    assert [a.action for a in audit] == [
        "gift_card.issued",
        "gift_card.issued",
        "gift_card.loaded",
        "gift_card.disabled",
    ]
    for row in audit:
        written = json.dumps([row.old_values, row.new_values, row.resource_id])
        assert not any(code in written for code in codes), written
        assert row.new_values is not None
        assert row.new_values["code"].startswith("•••• ")


async def test_an_unknown_code_is_not_found_without_echoing_it(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = await login(client, world.users["cashier"])
    await issue(client, headers, 10, code="REALCODE2345")
    error = error_of(
        await client.post(BALANCE, json={"code": "GUESSCODE9876"}, headers=headers),
        404,
        "not_found",
    )
    assert "GUESSCODE9876" not in json.dumps(error)
    assert "9876" in error["message"]


# --- disabled and expired ---------------------------------------------------------------


async def test_a_disabled_card_shows_its_status_and_cannot_be_loaded(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await login(client, world.users["manager"])
    card = await issue(client, headers, 30, code="LOSTCARD7777")

    disabled = await client.post(
        f"{CARDS}/{card['id']}/disable", json={"reason": "reported stolen"}, headers=headers
    )
    assert disabled.status_code == 200, disabled.text
    assert (disabled.json()["data"]["status"], disabled.json()["data"]["balance"]) == (
        "disabled",
        30.0,
    )
    balance = (await client.post(BALANCE, json={"code": "LOSTCARD7777"}, headers=headers)).json()
    assert (balance["data"]["status"], balance["data"]["usable"], balance["data"]["balance"]) == (
        "disabled",
        False,
        30.0,
    )

    error = error_of(
        await client.post(f"{CARDS}/{card['id']}/load", json={"amount": 5}, headers=headers),
        409,
        "gift_card_unusable",
    )
    assert error["details"] == {"status": "disabled"}
    error_of(
        await client.post(f"{CARDS}/{card['id']}/disable", json={"reason": "x"}, headers=headers),
        409,
        "gift_card_already_disabled",
    )
    only_disabled = (
        await client.get(CARDS, params={"status": "disabled"}, headers=headers)
    ).json()["data"]
    assert [c["id"] for c in only_disabled["items"]] == [card["id"]]
    active = (await client.get(CARDS, params={"status": "active"}, headers=headers)).json()
    assert active["data"]["items"] == []

    row = await reload(session, card["id"])
    assert (row.status, row.balance_minor) == ("disabled", 3_000)
    assert await ledger_sum(session, card["id"]) == 3_000
    audit = await gift_card_audit(session)
    assert audit[-1].action == "gift_card.disabled"
    assert audit[-1].new_values is not None
    assert audit[-1].new_values["reason"] == "reported stolen"


async def test_an_expired_card_shows_it_and_cannot_be_loaded(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await login(client, world.users["cashier"])
    card = await issue(client, headers, 12, code="OLDCARD23456", expiresAt=future(1))
    await session.execute(
        update(GiftCard)
        .where(GiftCard.id == uuid.UUID(card["id"]))
        .values(expires_at=utc_now() - timedelta(days=1))
    )
    await session.commit()

    balance = (await client.post(BALANCE, json={"code": "oldcard23456"}, headers=headers)).json()
    assert (balance["data"]["status"], balance["data"]["expired"], balance["data"]["usable"]) == (
        "active",
        True,
        False,
    )
    assert balance["data"]["balance"] == 12.0
    error_of(
        await client.post(f"{CARDS}/{card['id']}/load", json={"amount": 5}, headers=headers),
        409,
        "gift_card_unusable",
    )
    assert (await reload(session, card["id"])).balance_minor == 1_200


# --- conflicts --------------------------------------------------------------------------


async def test_a_code_already_in_use_is_refused_however_it_is_written(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await login(client, world.users["cashier"])
    await issue(client, headers, 10, code="ABCD-EFGH-JKMN")

    for taken in ("ABCDEFGHJKMN", "abcd efgh jkmn"):
        error = error_of(
            await client.post(CARDS, json={"initialAmount": 5, "code": taken}, headers=headers),
            409,
            "gift_card_code_taken",
        )
        assert "ABCDEFGHJKMN" not in json.dumps(error)
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(GiftCard)) == 1
    # Codes are unique per restaurant: another one may print the same code.
    theirs = await issue(client, await login(client, world.other_manager), 5, code="ABCDEFGHJKMN")
    assert theirs["code"] == "ABCDEFGHJKMN"


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "initialAmount"),
        ({"initialAmount": 0}, "initialAmount"),
        ({"initialAmount": -10}, "initialAmount"),
        ({"initialAmount": 10_000.01}, "initialAmount"),
        ({"initialAmount": 12.345}, "initialAmount"),  # finer than a penny
        ({"initialAmount": 1.0001}, "initialAmount"),
        ({"initialAmount": "fifty"}, "initialAmount"),
        ({"initialAmount": None}, "initialAmount"),
        ({"initialAmount": 10, "code": "SHORT12"}, "code"),
        ({"initialAmount": 10, "code": "AB-CD-EF-G"}, "code"),  # 7 characters once normalised
        ({"initialAmount": 10, "code": "ABCD!EFGH"}, "code"),
        ({"initialAmount": 10, "code": "A" * 33}, "code"),
        ({"initialAmount": 10, "code": 12345678}, "code"),
        ({"initialAmount": 10, "expiresAt": "2020-01-01T00:00:00Z"}, "expiresAt"),
        ({"initialAmount": 10, "expiresAt": "2099-01-01T00:00:00"}, "expiresAt"),  # no zone
        ({"initialAmount": 10, "expiresAt": "soon"}, "expiresAt"),
        ({"initialAmount": 10, "balance": 100}, "balance"),
        ({"initialAmount": 10, "currency": "USD"}, "currency"),
    ],
)
async def test_issue_refuses_a_bad_body_naming_the_field(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    body: dict[str, Any],
    field: str,
) -> None:
    headers = await login(client, world.users["cashier"])
    error = error_of(await client.post(CARDS, json=body, headers=headers), 422, "validation_error")
    assert field in fields_of(error), error
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(GiftCard)) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": -1}, "amount"),
        ({"amount": 10_000.01}, "amount"),
        ({"amount": 0.001}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"amount": 5, "reason": ""}, "reason"),
        ({"amount": 5, "reason": "r" * 501}, "reason"),
        ({"amount": 5, "balanceAfter": 5}, "balanceAfter"),
    ],
)
async def test_load_refuses_a_bad_body_naming_the_field(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    body: dict[str, Any],
    field: str,
) -> None:
    headers = await login(client, world.users["cashier"])
    card = await issue(client, headers, 10)
    error = error_of(
        await client.post(f"{CARDS}/{card['id']}/load", json=body, headers=headers),
        422,
        "validation_error",
    )
    assert field in fields_of(error), error
    assert (await reload(session, card["id"])).balance_minor == 1_000
    assert await ledger_sum(session, card["id"]) == 1_000


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("disable", {}, "reason"),
        ("disable", {"reason": ""}, "reason"),
        ("disable", {"reason": 5}, "reason"),
        ("balance", {}, "code"),
        ("balance", {"code": "abc"}, "code"),
        ("balance", {"code": "x" * 65}, "code"),
    ],
)
async def test_disable_and_balance_refuse_a_bad_body_naming_the_field(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    headers = await login(client, world.users["cashier"])
    card = await issue(client, headers, 10)
    url = f"{CARDS}/{card['id']}/disable" if path == "disable" else BALANCE
    error = error_of(await client.post(url, json=body, headers=headers), 422, "validation_error")
    assert field in fields_of(error), error
    assert (await reload(session, card["id"])).status == "active"


async def test_list_pages_newest_first_and_checks_its_parameters(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = await login(client, world.users["cashier"])
    issued = [await issue(client, headers, amount) for amount in (10, 20, 30)]

    page = (await client.get(CARDS, params={"limit": 2}, headers=headers)).json()["data"]
    assert page["pagination"] == {"limit": 2, "offset": 0, "total": 3, "hasMore": True}
    rest = (await client.get(CARDS, params={"limit": 2, "offset": 2}, headers=headers)).json()
    seen = [c["id"] for c in page["items"] + rest["data"]["items"]]
    assert sorted(seen) == sorted(c["id"] for c in issued)
    assert "entries" not in page["items"][0]
    error_of(
        await client.get(CARDS, params={"status": "lost"}, headers=headers), 422, "validation_error"
    )
    error_of(
        await client.get(CARDS, params={"limit": 201}, headers=headers), 422, "validation_error"
    )


# --- access -----------------------------------------------------------------------------


async def test_another_restaurants_card_is_not_found(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    ours = await login(client, world.users["cashier"])
    card = await issue(client, ours, 40, code="OURCARD23456")
    theirs = await login(client, world.other_manager)

    error_of(await client.get(f"{CARDS}/{card['id']}", headers=theirs), 404, "not_found")
    error_of(
        await client.post(f"{CARDS}/{card['id']}/load", json={"amount": 5}, headers=theirs),
        404,
        "not_found",
    )
    error_of(
        await client.post(f"{CARDS}/{card['id']}/disable", json={"reason": "x"}, headers=theirs),
        404,
        "not_found",
    )
    error_of(
        await client.post(BALANCE, json={"code": "OURCARD23456"}, headers=theirs), 404, "not_found"
    )
    assert (await client.get(CARDS, headers=theirs)).json()["data"]["pagination"]["total"] == 0
    error_of(await client.get(f"{CARDS}/{uuid.uuid4()}", headers=ours), 404, "not_found")

    row = await reload(session, card["id"])
    assert (row.status, row.balance_minor) == ("active", 4_000)


@pytest.mark.parametrize("role", ["waiter", "kitchen_staff", "employee"])
async def test_roles_without_the_permissions_are_refused(
    client: httpx.AsyncClient, session: AsyncSession, world: World, role: str
) -> None:
    card = await issue(client, await login(client, world.users["cashier"]), 10, code="STAFFCARD234")
    headers = await login(client, world.users[role])

    for response in (
        await client.post(CARDS, json={"initialAmount": 10}, headers=headers),
        await client.post(f"{CARDS}/{card['id']}/load", json={"amount": 5}, headers=headers),
        await client.post(f"{CARDS}/{card['id']}/disable", json={"reason": "x"}, headers=headers),
    ):
        error = error_of(response, 403, "permission_denied")
        assert error["details"]["permission"] == "gift_cards.manage"
    for response in (
        await client.get(CARDS, headers=headers),
        await client.get(f"{CARDS}/{card['id']}", headers=headers),
        await client.post(BALANCE, json={"code": "STAFFCARD234"}, headers=headers),
    ):
        error = error_of(response, 403, "permission_denied")
        assert error["details"]["permission"] == "payments.read"
    row = await reload(session, card["id"])
    assert (row.status, row.balance_minor) == ("active", 1_000)
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(GiftCard)) == 1


async def test_a_captain_can_check_balances_but_not_issue(
    client: httpx.AsyncClient, world: World
) -> None:
    await issue(client, await login(client, world.users["cashier"]), 10, code="CAPTAIN23456")
    headers = await login(client, world.users["captain"])
    balance = await client.post(BALANCE, json={"code": "CAPTAIN23456"}, headers=headers)
    assert balance.json()["data"]["balance"] == 10.0
    error_of(
        await client.post(CARDS, json={"initialAmount": 10}, headers=headers),
        403,
        "permission_denied",
    )


async def test_balance_checks_are_rate_limited_per_user(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = await login(client, world.users["cashier"])
    codes = [
        (await client.post(BALANCE, json={"code": f"GUESS{n:07d}"}, headers=headers)).status_code
        for n in range(61)
    ]
    assert codes[:60] == [404] * 60
    assert codes[60] == 429
    other = await login(client, world.users["manager"])
    assert (
        await client.post(BALANCE, json={"code": "GUESS0000000"}, headers=other)
    ).status_code == 404


# --- retries and concurrency ------------------------------------------------------------


async def test_an_issue_retried_with_its_idempotency_key_issues_once(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = {**await login(client, world.users["cashier"]), "Idempotency-Key": "till-1-gc-1"}
    first = await client.post(CARDS, json={"initialAmount": 25}, headers=headers)
    retry = await client.post(CARDS, json={"initialAmount": 25}, headers=headers)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json()["data"]["id"] == first.json()["data"]["id"]
    other_body = await client.post(CARDS, json={"initialAmount": 30}, headers=headers)
    error_of(other_body, 409, "idempotency_key_reused")
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(GiftCard)) == 1


async def test_the_same_code_issued_from_two_tills_at_once_is_issued_once(
    app: FastAPI, session: AsyncSession, world: World
) -> None:
    async with make_client(app) as first, make_client(app) as second:
        one = await login(first, world.users["cashier"])
        other = await login(second, world.users["manager"])
        responses = await asyncio.gather(
            first.post(CARDS, json={"initialAmount": 10, "code": "RACE-2345-6789"}, headers=one),
            second.post(CARDS, json={"initialAmount": 20, "code": "race 2345 6789"}, headers=other),
        )
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    assert loser.json()["error"]["code"] == "gift_card_code_taken"
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(GiftCard)) == 1
    assert await session.scalar(select(func.count()).select_from(GiftCardEntry)) == 1


async def test_concurrent_loads_all_land_in_the_balance_and_the_ledger(
    app: FastAPI, session: AsyncSession, world: World
) -> None:
    async with make_client(app) as first, make_client(app) as second:
        headers = await login(first, world.users["cashier"])
        card = await issue(first, headers, 5.00)
        responses = await asyncio.gather(
            *(
                (first if n % 2 else second).post(
                    f"{CARDS}/{card['id']}/load", json={"amount": 1.25}, headers=headers
                )
                for n in range(8)
            )
        )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    row = await reload(session, card["id"])
    assert row.balance_minor == 1_500  # 5.00 + 8 x 1.25
    assert await ledger_sum(session, card["id"]) == 1_500
    afters = sorted(
        (
            await session.scalars(
                select(GiftCardEntry.balance_after_minor).where(
                    GiftCardEntry.gift_card_id == row.id
                )
            )
        ).all()
    )
    assert afters == [500 + 125 * n for n in range(9)]  # each load saw the one before it


@pytest.mark.postgres_only
async def test_an_issue_racing_an_uncommitted_one_with_the_same_code_loses_cleanly(
    client: httpx.AsyncClient,
    session: AsyncSession,
    engine: AsyncEngine,
    world: World,
    backend: str,
) -> None:
    """The other till's card is not committed when this one checks the code, so only the
    unique constraint can stop the second; the loser still gets gift_card_code_taken."""
    if backend != "postgresql":
        pytest.skip("needs concurrent writers; SQLite serialises whole write transactions")
    headers = await login(client, world.users["cashier"])
    async with create_sessionmaker(engine)() as other_till:
        other_till.add(
            GiftCard(
                restaurant_id=world.a1.id,
                code="RACECODE2345",
                currency="GBP",
                balance_minor=0,
                initial_minor=0,
            )
        )
        await other_till.flush()
        racing = asyncio.create_task(
            client.post(CARDS, json={"initialAmount": 10, "code": "racecode2345"}, headers=headers)
        )
        await asyncio.sleep(0.3)
        assert not racing.done()  # waiting on the other till's unique key
        await other_till.commit()
    error_of(await asyncio.wait_for(racing, 10), 409, "gift_card_code_taken")
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(GiftCard)) == 1
    assert await session.scalar(select(func.count()).select_from(GiftCardEntry)) == 0
