"""ESC/POS rendering: kitchen tickets, receipts and test pages compared byte for byte with
the checked-in files in ``expected/``, and the properties that make them safe to print.

To regenerate the files after a deliberate change of layout, run these tests with
``FYNLO_UPDATE_GOLDEN=1`` and read the result (``xxd tests/devices/expected/*.bin``)
before checking it in.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from fynlo.devices.escpos import (
    drawer_kick,
    render_kitchen_ticket,
    render_receipt,
    render_test_page,
)
from fynlo.devices.schemas import PrinterConfig
from fynlo.models import HardwareDevice, KitchenTicket
from fynlo.orders.receipts import Receipt, build_receipt, render_text
from tests.devices.escpos_text import commands_and_text, printed_text
from tests.receipts.factories import Line, make_order, make_restaurant, sample_receipt

EXPECTED = Path(__file__).parent / "expected"
CREATED_AT = datetime(2025, 6, 17, 12, 30, tzinfo=UTC)  # 13:30 in London (BST)


def ticket(**values: Any) -> KitchenTicket:
    return KitchenTicket(
        **{
            "id": uuid.UUID(int=1),
            "restaurant_id": uuid.UUID(int=2),
            "order_id": uuid.UUID(int=3),
            "order_number": "20250617-0042",
            "station": "grill",
            "kind": "new",
            "business_date": date(2025, 6, 17),
            "ticket_number": 12,
            "items": [
                {
                    "itemId": "i1",
                    "name": "Burger",
                    "quantity": 2,
                    "modifiers": ["size: Large", "extras: Cheese"],
                    "notes": "well done",
                    "course": 1,
                },
                {
                    "itemId": "i2",
                    "name": "Sticky toffee pudding with custard and extra cream on the side",
                    "quantity": 1,
                    "modifiers": [],
                    "notes": None,
                    "course": 2,
                },
                {
                    "itemId": "i3",
                    "name": "Fries",
                    "quantity": 1,
                    "modifiers": ["salt: none"],
                    "notes": None,
                    "course": 1,
                },
            ],
            "table_number": "5",
            "order_type": "dine_in",
            "notes": "Allergy: nuts (table 5)",
            "created_at": CREATED_AT,
            **values,
        }
    )


def receipt() -> Receipt:
    return sample_receipt({"showVoidedItems": True}, "**** 4242")


def printer(**config: Any) -> tuple[HardwareDevice, PrinterConfig]:
    settings = PrinterConfig.model_validate(
        {"host": "192.168.1.50", "stations": ["grill", "fryer"], "receipts": True, **config}
    )
    device = HardwareDevice(
        id=uuid.UUID(int=4),
        restaurant_id=uuid.UUID(int=2),
        device_type="printer",
        device_name="Kitchen printer",
        connection_type="ethernet",
        configuration=settings.model_dump(by_alias=True, exclude_none=True, mode="json"),
    )
    return device, settings


def check_golden(name: str, data: bytes) -> None:
    path = EXPECTED / name
    if os.environ.get("FYNLO_UPDATE_GOLDEN") == "1":
        path.write_bytes(data)
    expected = path.read_bytes()
    differs = next(
        (i for i, (a, b) in enumerate(zip(data, expected, strict=False)) if a != b),
        min(len(data), len(expected)),
    )
    assert data == expected, f"{name} differs from the checked-in file at byte {differs}"


# --------------------------------------------------------------------------- golden files


def test_kitchen_ticket_matches_the_expected_bytes() -> None:
    data = render_kitchen_ticket(
        ticket(), columns=42, restaurant_name="The Golden Fork", timezone="Europe/London"
    )
    check_golden("kitchen_ticket_42.bin", data)


def test_void_reprint_ticket_matches_the_expected_bytes() -> None:
    data = render_kitchen_ticket(
        ticket(kind="void", table_number=None, order_type="takeaway", notes=None),
        columns=48,
        restaurant_name="The Golden Fork",
        timezone="Europe/London",
        reprint=True,
    )
    check_golden("kitchen_ticket_void_reprint_48.bin", data)


@pytest.mark.parametrize("columns", [42, 48])
def test_receipt_matches_the_expected_bytes(columns: int) -> None:
    check_golden(f"receipt_{columns}.bin", render_receipt(receipt(), columns=columns))


def test_test_page_matches_the_expected_bytes() -> None:
    device, settings = printer()
    data = render_test_page(
        device, settings, when=CREATED_AT, timezone="Europe/London", restaurant_name="Fork"
    )
    check_golden("test_page_42.bin", data)


def test_drawer_kick_is_esc_p_with_the_pin() -> None:
    # ESC p m t1 t2: m=0 pin 2, m=1 pin 5; pulse on 100 ms, off 100 ms.
    assert drawer_kick(2) == b"\x1bp\x00\x32\x32"
    assert drawer_kick(5) == b"\x1bp\x01\x32\x32"
    with pytest.raises(ValueError, match="pin"):
        drawer_kick(3)


# --------------------------------------------------------------------------- content


def test_kitchen_ticket_reads_top_to_bottom() -> None:
    data = render_kitchen_ticket(
        ticket(), columns=42, restaurant_name="The Golden Fork", timezone="Europe/London"
    )
    commands, text = commands_and_text(data)
    lines = text.splitlines()
    assert commands[:2] == [b"\x1b@", b"\x1bt\x13"]  # initialise, CP858
    assert commands[-2:] == [b"\x1bd\x06", b"\x1dV\x00"]  # feed and cut
    assert b"\x1b!\x30" in commands  # station and number double width and height
    assert lines[1:3] == ["GRILL", "#12"]
    assert "Order 20250617-0042                Table 5" in lines
    assert "Dine in                   13:30 17/06/2025" in lines
    # Course 1 (burger, fries in the order taken) before course 2.
    assert lines.index("--- COURSE 1 ---") < lines.index("2 x Burger") < lines.index("1 x Fries")
    assert lines.index("1 x Fries") < lines.index("--- COURSE 2 ---")
    assert "    + size: Large" in lines
    assert "    ! well done" in lines
    assert "NOTE: Allergy: nuts (table 5)" in lines
    assert "4 items" in lines
    assert all(len(line) <= 42 for line in lines)


def test_a_void_ticket_says_so_on_every_line() -> None:
    data = render_kitchen_ticket(
        ticket(kind="void"), columns=42, restaurant_name="Fork", timezone="UTC"
    )
    commands, text = commands_and_text(data)
    assert b"\x1dB\x01" in commands  # reverse print for the VOID banner
    assert " VOID " in text.splitlines()
    assert "*** DO NOT MAKE ***" in text
    items = [line for line in text.splitlines() if " x " in line and not line.startswith(" ")]
    assert items
    assert all(line.startswith("VOID ") for line in items)


def test_an_addition_and_a_reprint_are_marked() -> None:
    text = printed_text(
        render_kitchen_ticket(
            ticket(kind="addition"), columns=42, restaurant_name="F", timezone="UTC", reprint=True
        )
    )
    assert "+ ADDITION +" in text
    assert "** REPRINT **" in text


def test_user_text_cannot_send_printer_commands() -> None:
    hostile = ticket(
        items=[
            {
                "name": "Burger\x1bp\x00\x19\xfa",
                "quantity": 1,
                "modifiers": ["\x1d\x56\x00cut"],
                "notes": "line\nbreak\x1b@",
                "course": 1,
            }
        ],
        notes="\x1bd\x09",
        table_number="5\x1b!",
    )
    data = render_kitchen_ticket(hostile, columns=42, restaurant_name="F\x1b", timezone="UTC")
    commands, text = commands_and_text(data)  # fails on any unexpected command
    assert b"\x1bp" not in b"".join(commands)
    assert commands.count(b"\x1dV\x00") == 1
    assert "1 x Burger p ú" in text  # control bytes became spaces
    assert "    ! line break @" in text


def test_characters_outside_the_code_page_print_as_question_marks() -> None:
    text = printed_text(
        render_kitchen_ticket(
            ticket(items=[{"name": "拉面 Café €", "quantity": 1, "course": 1}]),
            columns=42,
            restaurant_name="F",
            timezone="UTC",
        )
    )
    assert "1 x ?? Café €" in text
    text = printed_text(
        render_kitchen_ticket(
            ticket(items=[{"name": "Café €", "quantity": 1, "course": 1}]),
            columns=42,
            restaurant_name="F",
            timezone="UTC",
            code_page="cp437",
        ),
        "cp437",
    )
    assert "1 x Café ?" in text  # CP437 has no euro sign


def test_a_ticket_with_odd_items_still_prints() -> None:
    odd = ticket(items=[{"name": None, "quantity": "two", "course": "x"}, "junk", 7])
    text = printed_text(render_kitchen_ticket(odd, columns=42, restaurant_name="", timezone="?"))
    assert "? x ?" in text
    assert "0 items" in text


@pytest.mark.parametrize("columns", [42, 48])
def test_receipt_text_is_the_text_receipt(columns: int) -> None:
    """The printed receipt is the plain-text receipt (same lines, same money), with styles."""
    built = receipt()
    commands, text = commands_and_text(render_receipt(built, columns=columns))
    assert text == render_text(built, columns)
    assert b"\x1bE\x01" in commands  # the total is bold
    assert b"\x1b!\x10" in commands  # the restaurant's name is tall


def test_receipt_money_falls_back_to_the_currency_code() -> None:
    restaurant = make_restaurant(currency="INR")
    order = make_order([Line("Thali", 25000)], restaurant=restaurant, currency="INR")
    built = build_receipt(order, restaurant, {})
    text = printed_text(render_receipt(built, columns=42))
    assert "INR 250.00" in text
    assert "₹" not in text
    assert "?250" not in text
    assert all(len(line) <= 42 for line in text.splitlines())


def test_test_page_shows_the_settings() -> None:
    device, settings = printer(columns=48, port=9101)
    text = printed_text(render_test_page(device, settings, when=CREATED_AT))
    lines = text.splitlines()
    assert "TEST PRINT" in lines
    assert any(line.startswith("Address") and line.endswith("192.168.1.50:9101") for line in lines)
    assert "".join(str(i % 10) for i in range(1, 49)) in lines
    assert "£ € é è ü ñ ç ß" in lines


def test_widths_and_code_pages_are_checked() -> None:
    with pytest.raises(ValueError, match="columns"):
        render_receipt(receipt(), columns=40)
    with pytest.raises(ValueError, match="code page"):
        render_receipt(receipt(), columns=42, code_page="utf8")
