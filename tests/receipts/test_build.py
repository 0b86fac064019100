"""build_receipt: what a receipt says, from orders priced by the real pricing rules."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from fynlo.models.order import Order
from fynlo.orders.pricing import Discount
from fynlo.orders.receipts import Receipt, ReceiptOptions, ReceiptPayment, build_receipt
from tests.receipts.factories import Line, make_order, make_restaurant


def _two_rate_order(**values: Any) -> tuple[Receipt, Order]:
    restaurant = make_restaurant()
    order = make_order(
        [
            Line("Burger", 1250, 2, modifiers=[{"type": "extra", "value": "Cheese", "price": 100}]),
            Line("Orange juice", 300, rate_bp=0),
        ],
        restaurant=restaurant,
        service_bp=1250,
        tip=200,
        **values,
    )
    return build_receipt(order, restaurant, {}), order


def test_vat_inclusive_order_with_two_rates() -> None:
    receipt, _ = _two_rate_order()

    assert receipt.prices_include_vat is True
    assert receipt.vat_note == "Prices include VAT"
    assert [(v.code, v.rate, v.net, v.vat, v.gross) for v in receipt.vat] == [
        ("A", Decimal(20), Decimal("22.50"), Decimal("4.50"), Decimal("27.00")),
        ("B", Decimal(0), Decimal("3.00"), Decimal("0.00"), Decimal("3.00")),
    ]
    assert receipt.tax_total == Decimal("4.50")
    assert receipt.subtotal == Decimal("30.00")
    assert receipt.service_charge == Decimal("3.75")
    assert receipt.service_charge_rate == Decimal("12.5")
    assert receipt.tip == Decimal("2.00")
    assert receipt.total == Decimal("35.75")
    burger, juice = receipt.items
    assert (burger.name, burger.quantity, burger.unit_price) == ("Burger", 2, Decimal("12.50"))
    assert [(m.type, m.value, m.price) for m in burger.modifiers] == [
        ("extra", "Cheese", Decimal("1.00"))
    ]
    assert (burger.gross, burger.total, burger.vat_rate, burger.vat_code) == (
        Decimal("27.00"),
        Decimal("27.00"),
        Decimal(20),
        "A",
    )
    assert (juice.vat_rate, juice.vat_code) == (Decimal(0), "B")


def test_vat_exclusive_order_adds_vat_and_net_is_total_minus_vat() -> None:
    restaurant = make_restaurant()
    order = make_order(
        [Line("Steak", 1000), Line("Water", 200, rate_bp=0)], restaurant=restaurant, inclusive=False
    )
    receipt = build_receipt(order, restaurant, {})

    assert receipt.prices_include_vat is False
    assert receipt.vat_note == "Prices exclude VAT"
    assert receipt.subtotal == Decimal("12.00")
    assert receipt.tax_total == Decimal("2.00")
    assert receipt.total == Decimal("14.00")
    assert [(v.rate, v.net, v.vat, v.gross) for v in receipt.vat] == [
        (Decimal(20), Decimal("10.00"), Decimal("2.00"), Decimal("12.00")),
        (Decimal(0), Decimal("2.00"), Decimal("0.00"), Decimal("2.00")),
    ]
    assert receipt.items[0].total == Decimal("12.00")  # VAT included in the line total


def test_breakdown_always_adds_up_to_the_order_totals() -> None:
    for inclusive in (True, False):
        receipt, _ = _two_rate_order(inclusive=inclusive, order_discount=Discount("amount", 333))
        assert sum(v.vat for v in receipt.vat) == receipt.tax_total
        assert sum(v.gross for v in receipt.vat) + receipt.service_charge + receipt.tip == (
            receipt.total
        )
        assert sum(v.net + v.vat for v in receipt.vat) == sum(v.gross for v in receipt.vat)


def test_service_charge_waived_has_no_rate() -> None:
    receipt, _ = _two_rate_order(waived=True)

    assert receipt.service_charge == Decimal("0.00")
    assert receipt.service_charge_rate is None
    assert receipt.service_charge_waived is True
    assert receipt.total == Decimal("32.00")


def test_line_and_order_discounts() -> None:
    restaurant = make_restaurant()
    order = make_order(
        [Line("Pasta", 2000, discount=Discount("percent", 1000)), Line("Salad", 1000, rate_bp=0)],
        restaurant=restaurant,
        order_discount=Discount("amount", 300),
    )
    receipt = build_receipt(order, restaurant, {})

    assert receipt.subtotal == Decimal("30.00")
    assert receipt.discount == Decimal("5.00")
    assert receipt.total == Decimal("25.00")
    assert sum(i.discount for i in receipt.items) == receipt.discount
    assert [i.total for i in receipt.items] == [i.gross - i.discount for i in receipt.items]


def test_voided_items_are_left_out_unless_asked_for_and_never_counted() -> None:
    restaurant = make_restaurant()
    order = make_order(
        [Line("Soup", 500, rate_bp=500, voided=True), Line("Bread", 300)], restaurant=restaurant
    )

    hidden = build_receipt(order, restaurant, {})
    assert [i.name for i in hidden.items] == ["Bread"]
    assert [v.rate for v in hidden.vat] == [Decimal(20)]
    assert hidden.total == Decimal("3.00")

    shown = build_receipt(order, restaurant, {"showVoidedItems": True})
    assert [(i.name, i.voided) for i in shown.items] == [("Soup", True), ("Bread", False)]
    assert shown.items[0].vat_code == ""  # its 5 % rate is on no live line
    assert [v.rate for v in shown.vat] == [Decimal(20)]
    assert shown.total == Decimal("3.00")


def test_payments_amount_paid_due_and_change() -> None:
    receipt, order = _two_rate_order()
    paid_at = datetime(2025, 6, 17, 13, 0, tzinfo=UTC)
    part = build_receipt(
        order, make_restaurant(), {}, [ReceiptPayment("card", 2000, "AUTH 77", paid_at)]
    )

    assert [(p.method, p.label, p.amount, p.reference, p.paid_at) for p in part.payments] == [
        ("card", "Card", Decimal("20.00"), "AUTH 77", paid_at)
    ]
    assert part.amount_paid == Decimal("20.00")
    assert part.amount_due == Decimal("15.75")
    assert part.change == Decimal("0.00")

    over = build_receipt(
        order,
        make_restaurant(),
        {},
        [ReceiptPayment("card", 2000), ReceiptPayment("cash", 2000), ReceiptPayment("qr_code", 0)],
    )
    assert [p.label for p in over.payments] == ["Card", "Cash", "QR payment"]
    assert over.amount_due == Decimal("0.00")
    assert over.change == Decimal("4.25")

    assert receipt.payments == []
    assert receipt.amount_paid == Decimal("0.00")
    assert receipt.amount_due == receipt.total


def test_unknown_payment_method_gets_a_readable_label() -> None:
    _, order = _two_rate_order()
    receipt = build_receipt(order, make_restaurant(), {}, [ReceiptPayment("bank_transfer", 100)])
    assert receipt.payments[0].label == "Bank transfer"


@pytest.mark.parametrize(
    ("currency", "unit", "major"),
    [("GBP", 123450, Decimal("1234.50")), ("INR", 34950, Decimal("349.50")), ("JPY", 980, 980)],
)
def test_amounts_are_major_units_of_the_orders_currency(
    currency: str, unit: int, major: Decimal
) -> None:
    restaurant = make_restaurant(currency=currency)
    order = make_order([Line("Dish", unit, rate_bp=0)], restaurant=restaurant, currency=currency)
    receipt = build_receipt(order, restaurant, {})

    assert receipt.currency == currency
    assert receipt.total == major
    data = receipt.model_dump(mode="json", by_alias=True)
    assert data["total"] == float(major)
    assert isinstance(data["total"], float)


def test_json_is_camel_case_with_numbers() -> None:
    receipt, _ = _two_rate_order()
    data = receipt.model_dump(mode="json")

    assert {"orderId", "orderNumber", "createdAt", "createdAtLocal", "tableNumber"} <= set(data)
    assert {"amountPaid", "amountDue", "taxTotal", "pricesIncludeVat", "serviceCharge"} <= set(data)
    assert data["serviceChargeRate"] == 12.5
    assert data["vat"][0] == {"code": "A", "rate": 20.0, "net": 22.5, "vat": 4.5, "gross": 27.0}
    assert data["items"][0]["unitPrice"] == 12.5
    assert data["items"][0]["modifiers"] == [{"type": "extra", "value": "Cheese", "price": 1.0}]
    assert data["header"]["addressLines"] == ["1 High Street", "London SW1A 1AA"]
    assert data["createdAt"] == "2025-06-17T12:30:00Z"
    assert data["createdAtLocal"] == "2025-06-17T13:30:00+01:00"
    assert Receipt.model_validate(data) == receipt  # round-trips


@pytest.mark.parametrize(
    ("zone", "local", "used"),
    [
        ("Europe/London", "2025-06-17T13:30:00+01:00", "Europe/London"),
        ("Asia/Kolkata", "2025-06-17T18:00:00+05:30", "Asia/Kolkata"),
        ("Nowhere/Atlantis", "2025-06-17T12:30:00+00:00", "UTC"),
        ("", "2025-06-17T12:30:00+00:00", "UTC"),
    ],
)
def test_created_at_in_the_restaurants_time_zone(zone: str, local: str, used: str) -> None:
    restaurant = make_restaurant(timezone=zone)
    receipt = build_receipt(make_order([Line("Tea", 250)]), restaurant, {})

    assert receipt.created_at_local.isoformat() == local
    assert receipt.created_at == datetime(2025, 6, 17, 12, 30, tzinfo=UTC)
    assert receipt.timezone == used


def test_header_from_restaurant_and_receipt_settings() -> None:
    restaurant = make_restaurant(tax_configuration={"vatNumber": "GB999999973"})
    settings = {
        "header": ["Open 7 days", "  ", "Follow us @goldenfork"],
        "footer": "Thank you!\nSee you soon",
        "showEmail": True,
        "logoUrl": "https://cdn.example.com/logo.png",
    }
    receipt = build_receipt(
        make_order([Line("Tea", 250)]), restaurant, settings, server_name="Alice"
    )

    head = receipt.header
    assert head.name == "The Golden Fork"
    assert head.address_lines == ["1 High Street", "London SW1A 1AA"]
    assert head.phone == "020 7946 0000"
    assert head.email == "hello@goldenfork.test"
    assert head.vat_number == "GB999999973"  # from the tax configuration
    assert head.lines == ["Open 7 days", "Follow us @goldenfork"]
    assert head.logo_url == "https://cdn.example.com/logo.png"
    assert receipt.footer == ["Thank you!", "See you soon"]
    assert receipt.server == "Alice"
    assert receipt.table_number == "5"
    assert receipt.order_type_label == "Dine in"

    own = build_receipt(make_order([Line("Tea", 250)]), restaurant, {"vatNumber": "GB123456789"})
    assert own.header.vat_number == "GB123456789"  # the receipt setting wins
    assert own.header.email is None  # off by default


def test_switches_hide_parts_of_the_header() -> None:
    settings = {
        "vatNumber": "GB123456789",
        "showVatNumber": False,
        "showAddress": False,
        "showPhone": False,
        "showServer": False,
        "showItemNotes": False,
        "footer": "",
    }
    order = make_order([Line("Tea", 250, notes="no sugar")])
    receipt = build_receipt(order, make_restaurant(), settings, server_name="Alice")

    assert receipt.header.vat_number is None
    assert receipt.header.address_lines == []
    assert receipt.header.phone is None
    assert receipt.server is None
    assert receipt.items[0].notes is None
    assert receipt.footer == []


def test_defaults_and_settings_of_the_wrong_type() -> None:
    order = make_order([Line("Tea", 250, notes="no sugar")])
    odd = {
        "header": 5,
        "footer": {"text": "x"},
        "showItemNotes": "yes",
        "vatNumber": ["GB1"],
        "logoUrl": "javascript:alert(1)",
        "serviceChargeLabel": 7.5,
    }
    for settings in ({}, None, odd):
        receipt = build_receipt(order, make_restaurant(), settings)
        assert receipt.header.lines == []
        assert receipt.footer == ["Thank you!"]
        assert receipt.items[0].notes == "no sugar"
        assert receipt.header.vat_number is None
        assert receipt.header.logo_url is None
        assert receipt.service_charge_label == "Service charge"
    assert ReceiptOptions.from_settings(None) == ReceiptOptions()


def test_user_text_is_kept_on_one_line() -> None:
    order = make_order([Line("Fish\n&\tChips\u200b", 900, notes="  no\r\nvinegar ")])
    receipt = build_receipt(order, make_restaurant(name="The\nFork"), {})

    assert receipt.items[0].name == "Fish & Chips"
    assert receipt.items[0].notes == "no vinegar"
    assert receipt.header.name == "The Fork"


def test_address_lines_skip_missing_parts() -> None:
    restaurant = make_restaurant(
        address={"line1": "Unit 4", "line2": "Dock Road", "city": "Leeds", "county": "W Yorks"}
    )
    receipt = build_receipt(make_order([Line("Tea", 250)]), restaurant, {})
    assert receipt.header.address_lines == ["Unit 4", "Dock Road", "Leeds, W Yorks"]

    bare = build_receipt(make_order([Line("Tea", 250)]), make_restaurant(address={}), {})
    assert bare.header.address_lines == []
