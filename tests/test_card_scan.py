"""The card-number scan itself (tests/card_scan.py): what it finds, what it leaves alone,
that it reads real table rows, and that the app's log lines really reach its log file."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fynlo.models import Restaurant
from tests import card_scan
from tests.card_scan import Tally, card_numbers, cards_in, luhn_valid, mask
from tests.world import World

# Published test numbers of the card schemes (Stripe's and the networks' test cards).
TEST_PANS = [
    "4242424242424242",  # Visa
    "4111111111111111",  # Visa
    "4000056655665556",  # Visa debit
    "4222222222222",  # Visa, 13 digits
    "5555555555554444",  # Mastercard
    "2223003122003222",  # Mastercard 2-series
    "378282246310005",  # American Express, 15 digits
    "6011111111111117",  # Discover
    "3056930009020004",  # Diners Club, 16 digits
    "36227206271667",  # Diners Club, 14 digits
    "3566002020360505",  # JCB
    "6200000000000005",  # UnionPay
    "6205500000000000004",  # UnionPay, 19 digits
]


@pytest.mark.parametrize("pan", TEST_PANS)
def test_one_digit_off_is_not_a_card_number(pan: str) -> None:
    # Luhn catches every single-digit error: change any one digit and it is no card.
    for position in range(len(pan)):
        for step in (1, 5):
            digit = str((int(pan[position]) + step) % 10)
            wrong = pan[:position] + digit + pan[position + 1 :]
            assert not luhn_valid(wrong), wrong
            assert card_numbers(wrong) == [], wrong
            assert card_numbers(f"card {wrong} ok") == [], wrong


def test_luhn_by_hand() -> None:
    assert luhn_valid("79927398713")  # the textbook example
    assert not luhn_valid("79927398710")
    assert not luhn_valid("")
    assert not luhn_valid("4242 4242 4242 4242")  # digits only
    assert not luhn_valid("\uff14\uff12" * 8)  # fullwidth digits are not ASCII digits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4242 4242 4242 4242", ["4242 4242 4242 4242"]),
        ("4242-4242-4242-4242", ["4242-4242-4242-4242"]),
        ("Amex 3782 822463 10005 exp 12/34", ["3782 822463 10005"]),
        ("4242 4242 4242 4242 123", ["4242 4242 4242 4242"]),  # with the CVV after it
        ('{"card": {"number": "5555555555554444", "cvc": "123"}}', ["5555555555554444"]),
        ('{"number": 4242424242424242}', ["4242424242424242"]),  # as a JSON number
        ("card[number]=4242424242424242&card[exp_month]=12", ["4242424242424242"]),
        ("/api/cards/4111111111111111/charge", ["4111111111111111"]),
        ("pan=4111111111111111 last4=1111", ["4111111111111111"]),
        ("Card:\n4111111111111111\n", ["4111111111111111"]),
        ("two: 4242424242424242 and 378282246310005.", ["4242424242424242", "378282246310005"]),
    ],
)
def test_card_numbers_as_they_are_written(text: str, expected: list[str]) -> None:
    assert card_numbers(text) == expected


def test_escaped_json_is_read_decoded() -> None:
    line = json.dumps({"event": "note", "body": "Card:\n4242424242424242"})
    assert "\\n4242" in line  # raw, the number is glued to the "n" of the escape
    assert cards_in(line) == ["4242424242424242"]
    assert cards_in(json.dumps({"note": "Prix: €\u00a04242424242424242"})) == ["4242424242424242"]


@pytest.mark.parametrize(
    "text",
    [
        # UUIDs, including ones whose digit groups could chain into 13-19 digits
        "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
        "12345678-1234-4123-8123-123456789012",
        "abcdef12-3456-4789-a123-456789012345",
        "00000000-0000-0000-0000-000000000000",
        # hex ids, digests and prefixed random ids
        "4242424242424242abcdef0123456789",
        "f9a1c37d4242424242424242e0",
        "pay_42424242424242",
        "sbx_4242424242424242",
        "FYN4242424242424242",
        # timestamps
        "2026-11-24T10:00:00.123456+00:00",
        "2026-11-24 10:00:00",
        "2026-11-24 1732406400",
        "1732406400",
        # phone numbers
        "+44 20 7946 0958",
        "+1 (555) 123-4567",
        "+1-555-123-4567",
        "+86 138 0013 8000",
        "+44 7911 123456",
        # order numbers and references
        "20261124-0001",
        "#20261124-0001",
        "A1-20261124-0042",
        # too short, too long, zeros, digit pairs
        "424242424242",
        "42424242424242424242",  # 20 digits with no separator: a number, not a card
        "0000000000000000",
        "0000 0000 0000 0000",
        "42 42 42 42 42 42 42 42",
        "1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6",
        # money and quantities
        "12345678.90",
        "total_minor=1250 tip_minor=125",
    ],
)
def test_what_is_not_a_card_number(text: str) -> None:
    assert card_numbers(text) == []
    assert cards_in(text) == []


def test_every_order_and_date_style_number_is_left_alone() -> None:
    for day in range(1, 29):
        for sequence in (1, 42, 999, 9999):
            assert card_numbers(f"202611{day:02d}-{sequence:04d}") == []


def test_a_luhn_valid_run_inside_a_longer_separated_run_is_found() -> None:
    # Any run of whole groups between 13 and 19 digits counts, wherever it starts.
    assert card_numbers("ref 123 4242 4242 4242 4242") == ["4242 4242 4242 4242"]


def test_mask_shows_at_most_six_and_four() -> None:
    assert mask("4242 4242 4242 4242") == "424242******4242"
    assert mask("378282246310005") == "378282*****0005"


def test_scan_log_file(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(
        json.dumps({"event": "request", "path": "/api/health", "request_id": uuid.uuid4().hex})
        + "\n"
        + json.dumps({"event": "charge", "note": "card 4111 1111 1111 1111"})
        + "\nplain text 5555555555554444 here\n",
        encoding="utf-8",
    )
    tally = Tally()
    findings = card_scan.scan_log_file(log, tally=tally)
    assert [(f.line, f.masked) for f in findings] == [
        (2, "411111******1111"),
        (3, "555555******4444"),
    ]
    assert str(findings[0]) == f"411111******1111 in log {log}:2"
    assert (tally.log_lines, tally.log_files) == (3, 1)


async def test_scan_database_finds_a_number_planted_in_a_row(
    engine: AsyncEngine, session: AsyncSession, world: World
) -> None:
    tally = Tally()
    assert await card_scan.scan_database(engine, tally=tally) == []
    assert tally.rows > 0  # the world's rows were read

    restaurant = world.a1
    original = {"name": restaurant.name, "settings": dict(restaurant.settings)}
    planted = {"name": "Card 4111-1111-1111-1111 bistro", "settings": {"note": "5555555555554444"}}
    try:
        await session.execute(
            update(Restaurant).where(Restaurant.id == restaurant.id).values(**planted)
        )
        await session.commit()
        findings = await card_scan.scan_database(engine)
    finally:
        # _clean_tables scans again before it deletes the rows: take the plant out first
        # (even if the test fails), so the end-of-session verdict is about the app alone.
        await session.execute(
            update(Restaurant).where(Restaurant.id == restaurant.id).values(**original)
        )
        await session.commit()
    row_id = findings[0].row_id if findings else None
    assert row_id in (str(restaurant.id), restaurant.id.hex)  # SQLite stores UUIDs as hex
    assert [(f.table, f.column, f.row_id, f.masked) for f in findings] == [
        ("restaurants", "name", row_id, "411111******1111"),
        ("restaurants", "settings", row_id, "555555******4444"),
    ]
    assert await card_scan.scan_database(engine) == []


async def test_the_apps_log_lines_reach_the_scanned_log_file(client: httpx.AsyncClient) -> None:
    capture = card_scan._WORKER.capture
    assert capture is not None, "the log capture is installed for every worker"
    request_id = f"card-scan-{uuid.uuid4().hex}"
    response = await client.get("/api/health", headers={"X-Request-ID": request_id})
    assert response.status_code == 200
    failed = await client.post(
        "/api/auth/login", json={"email": "nobody@fynlo-test.com", "password": "wrong-password"}
    )
    assert failed.status_code in (401, 422)
    capture.handler.flush()
    lines = [
        json.loads(line)
        for line in capture.path.read_text(encoding="utf-8").splitlines()
        if line.startswith("{")
    ]
    access = [line for line in lines if line.get("request_id") == request_id]
    # The request middleware's INFO line, as production would write it (JSON, with level).
    assert [(a["event"], a["level"], a["path"], a["status"]) for a in access] == [
        ("request", "info", "/api/health", 200)
    ]
    assert any(
        line.get("event") == "request" and line.get("path") == "/api/auth/login" for line in lines
    )


def test_the_log_capture_survives_its_handler_being_closed() -> None:
    # logging.config.dictConfig (uvicorn.Config runs it) closes every handler there is.
    capture = card_scan._WORKER.capture
    assert capture is not None
    capture.handler.close()
    marker = uuid.uuid4().hex
    assert capture.receiving(marker)
    assert capture.attached()
