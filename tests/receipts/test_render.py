"""Plain text (42/48 columns), HTML and PDF renderings of a receipt."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

import pytest

from fynlo.orders.pricing import Discount
from fynlo.orders.receipts import (
    Receipt,
    ReceiptPayment,
    build_receipt,
    render_html,
    render_pdf,
    render_text,
)
from tests.receipts.factories import Line, make_order, make_restaurant, sample_receipt

WIDTHS = [42, 48]
LONG_NAME = (
    "Slow-roasted heritage pork belly with crackling, apple and sage puree, "
    "charred hispi cabbage and a cider jus"
)


def _receipt(**settings: object) -> Receipt:
    return sample_receipt(settings, "AUTH 1234")


def columns(line: str) -> int:
    """Printer columns, counted independently of the code under test."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in line
    )


def test_text_receipt_reads_top_to_bottom() -> None:
    text = render_text(_receipt(showVoidedItems=True), 42)
    lines = text.splitlines()

    assert lines[0] == "The Golden Fork".center(42).rstrip()
    assert "VAT No: GB123456789" in text
    assert "Tel: 020 7946 0000" in text
    assert "Open 7 days" in text
    assert "Order                      20250617-0042" in lines
    assert "Date                    17/06/2025 13:30" in lines  # London time (BST)
    assert "Served by                          Alice" in lines
    assert "2 x Flat white                     £7.00 A" in lines
    assert "    + Oat milk                     £0.50" in lines
    assert "    £3.50 each" in lines
    assert "    Note: extra hot" in lines
    assert "    Discount                      -£0.70" in lines
    assert "1 x Sandwich                       £4.50 B" in lines
    assert "1 x Soup                            VOID" in lines
    assert "Subtotal                          £11.50" in lines
    assert "Discount                          -£0.70" in lines
    assert "Service charge 12.5%               £1.35" in lines
    assert "Tip                                £1.00" in lines
    assert "TOTAL                             £13.15" in lines
    assert "Includes VAT                       £1.05" in lines
    assert "A 20%              £5.25           £1.05" in lines
    assert "B 0%               £4.50           £0.00" in lines
    assert "Prices include VAT" in lines
    assert "  Ref: AUTH 1234" in lines
    assert "Paid                              £15.00" in lines
    assert "Amount due                         £0.00" in lines
    assert "Change                             £1.85" in lines
    assert lines[-1] == "Thank you!".center(42).rstrip()
    assert "-" * 42 in lines
    assert text.endswith("\n")
    assert all(line == line.rstrip() for line in lines)


@pytest.mark.parametrize("width", WIDTHS)
def test_single_rate_receipt_aligns_amounts_on_the_right_edge(width: int) -> None:
    restaurant = make_restaurant()
    order = make_order([Line("Tea", 250), Line("Cake", 400)], restaurant=restaurant)
    lines = render_text(build_receipt(order, restaurant, {}), width).splitlines()

    total = next(line for line in lines if line.startswith("TOTAL"))
    assert total == "TOTAL" + "£6.50".rjust(width - 5)
    assert "1 x Tea" + "£2.50".rjust(width - 7) in lines  # no VAT codes with one rate


def test_exclusive_receipt_shows_vat_before_the_total() -> None:
    restaurant = make_restaurant()
    order = make_order([Line("Steak", 1000)], restaurant=restaurant, inclusive=False)
    lines = render_text(build_receipt(order, restaurant, {}), 42).splitlines()

    assert lines.index("VAT" + "£2.00".rjust(39)) < lines.index("TOTAL" + "£12.00".rjust(37))
    assert "Prices exclude VAT" in lines
    assert not any(line.startswith("Includes VAT") for line in lines)


def test_cancelled_and_waived() -> None:
    restaurant = make_restaurant()
    order = make_order(
        [Line("Tea", 250)], restaurant=restaurant, status="cancelled", service_bp=1250, waived=True
    )
    text = render_text(build_receipt(order, restaurant, {}), 42)
    assert "*** CANCELLED ***" in text
    assert "Service charge" not in text


@pytest.mark.parametrize(
    ("currency", "unit", "shown"),
    [
        ("GBP", 123450, "£1,234.50"),
        ("INR", 34950, "₹349.50"),
        ("JPY", 1235, "JP¥1,235"),
    ],
)
@pytest.mark.parametrize("width", WIDTHS)
def test_money_is_formatted_for_the_currency(
    currency: str, unit: int, shown: str, width: int
) -> None:
    restaurant = make_restaurant(currency=currency, timezone="Asia/Kolkata")
    order = make_order([Line("Dish", unit)], restaurant=restaurant, currency=currency)
    receipt = build_receipt(order, restaurant, {})
    text = render_text(receipt, width)
    page = render_html(receipt)

    assert "TOTAL" + shown.rjust(width - 5) in text.splitlines()
    assert shown in page
    if currency == "JPY":
        assert "JP¥1,235.00" not in text
        assert "JP¥206" in text  # 10 % VAT inside 1,235 yen: 206 (no decimals)


def _extreme_receipt() -> Receipt:
    restaurant = make_restaurant(
        name="The Extraordinarily Long-Named Gastropub & Dining Rooms of Upper Wickham",
        address={"line1": "Flat 12, " + "Very " * 12 + "Long Road", "city": "London"},
    )
    order = make_order(
        [
            Line(
                LONG_NAME,
                999_999_99,
                99,
                modifiers=[
                    {"type": "side", "value": "Triple-cooked chips " * 5, "price": 99_999_99},
                ],
                notes="Allergy: " + "nuts, " * 20,
                discount=Discount("percent", 1500),
            ),
            Line("Supercalifragilisticexpialidocious" * 3, 10**17, rate_bp=0),
            Line("Tea", 250, rate_bp=500, quantity=10_000),
        ],
        restaurant=restaurant,
        service_bp=1250,
        tip=10**15,
        order_discount=Discount("amount", 5_000_000),
    )
    return build_receipt(
        order,
        restaurant,
        {
            "vatNumber": "GB123456789",
            "header": ["A header line that is much longer than any thermal printer is wide"],
            "footer": ["Thank you for dining with us, " * 4, "x" * 120],
        },
        [ReceiptPayment("card", 10**16, "REF-" + "9" * 80)],
        server_name="Maximiliana Alexandrovna Konstantinopolskaya-Featherstonehaugh",
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_no_line_exceeds_the_width_with_long_names_and_huge_amounts(width: int) -> None:
    receipt = _extreme_receipt()
    text = render_text(receipt, width)
    lines = text.splitlines()

    assert max(len(line) for line in lines) <= width
    flat = " ".join(line.strip() for line in lines)
    for word in LONG_NAME.split():
        assert word in flat  # wrapped, never cut off
    assert "£100,000,000,000,000.00" in text  # the huge amount is printed whole
    assert "Konstantinopolskaya-Featherstonehaugh" in flat.replace(" ", "") or (
        "Konstantinopolskaya" in flat
    )
    assert all(line == line.rstrip() for line in lines)


@pytest.mark.parametrize("width", WIDTHS)
def test_wide_characters_count_two_columns(width: int) -> None:
    restaurant = make_restaurant(name="東京ラーメン本店 新宿西口駅前店", currency="JPY")
    order = make_order(
        [
            Line("特製味噌ラーメン大盛りチャーシュー追加味玉トッピング🍜🍜", 1280, 3, rate_bp=1000),
            Line("餃子", 480, rate_bp=800),
        ],
        restaurant=restaurant,
        currency="JPY",
    )
    lines = render_text(build_receipt(order, restaurant, {}), width).splitlines()

    assert max(columns(line) for line in lines) <= width
    assert any("JP¥3,840" in line for line in lines)


@pytest.mark.parametrize("width", [0, 32, 40, 80, -42])
def test_other_widths_are_refused(width: int) -> None:
    with pytest.raises(ValueError, match="width must be one of"):
        render_text(_receipt(), width)


def test_html_is_self_contained_and_escapes_user_text() -> None:
    restaurant = make_restaurant(name='Bob\'s <b>"Diner"</b>')
    order = make_order(
        [Line("<script>alert('x')</script>", 500, notes="<img src=x onerror=alert(1)>")],
        restaurant=restaurant,
    )
    settings = {"header": ["<i>Open & ready</i>"], "footer": "</footer><script>bad()</script>"}
    page = render_html(
        build_receipt(
            order,
            restaurant,
            settings,
            [ReceiptPayment("<card>", 100, '"><script>', datetime(2025, 6, 17, 13, 0, tzinfo=UTC))],
            server_name="<svg onload=x>",
        )
    )

    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page
    assert "<script" not in page
    assert "<img" not in page
    assert "<svg" not in page
    assert "<b>" not in page
    assert "<i>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "Bob&#x27;s &lt;b&gt;&quot;Diner&quot;&lt;/b&gt;" in page
    assert "&lt;i&gt;Open &amp; ready&lt;/i&gt;" in page
    assert "(17/06/2025 14:00)" in page  # payment time in London time
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing fetched from elsewhere


def test_html_shows_totals_vat_table_voids_and_logo() -> None:
    page = render_html(_receipt(showVoidedItems=True, logoUrl="https://cdn.example.com/l.png"))

    assert '<img src="https://cdn.example.com/l.png"' in page
    assert '<tr class="void"><td>1 &times; Soup (void)</td>' in page
    assert '<tr class="total"><td>Total</td><td class="amt">£13.15</td></tr>' in page
    assert "<td>A 20%</td>" in page
    assert "<td>B 0%</td>" in page
    assert "Prices include VAT" in page
    assert "Amount due" in page
    assert "Ref: AUTH 1234" in page


def test_pdf_is_a_receipt_sized_pdf_with_searchable_text() -> None:
    pdf = render_pdf(_receipt())

    assert pdf.startswith(b"%PDF")
    assert b"20250617-0042" in pdf
    assert b"The Golden Fork" in pdf
    assert b"GB123456789" in pdf
    width = re.search(rb"/MediaBox \[ 0 0 ([\d.]+) [\d.]+ \]", pdf)
    assert width is not None
    assert float(width.group(1)) == pytest.approx(80 * 72 / 25.4, abs=0.01)  # 80 mm
    assert render_pdf(_receipt()) == pdf  # deterministic


def test_pdf_replaces_what_its_fonts_cannot_show() -> None:
    restaurant = make_restaurant(currency="INR", name="Dilli Haat दिल्ली")
    order = make_order([Line("Paneer tikka 🌶", 34950)], restaurant=restaurant, currency="INR")
    pdf = render_pdf(build_receipt(order, restaurant, {}))

    assert pdf.startswith(b"%PDF")
    assert b"INR" in pdf  # the rupee sign is outside the built-in fonts
    assert b"Paneer tikka ?" in pdf


def test_pdf_of_a_very_long_receipt_continues_on_more_pages() -> None:
    restaurant = make_restaurant()
    order = make_order([Line(f"Item {n}", 100) for n in range(1600)], restaurant=restaurant)
    pdf = render_pdf(build_receipt(order, restaurant, {}))

    assert len(re.findall(rb"/Type /Page\b(?!s)", pdf)) == 2
    assert b"Item 1599" in pdf


def test_pdf_of_extreme_receipt() -> None:
    pdf = render_pdf(_extreme_receipt())
    assert pdf.startswith(b"%PDF")
    assert b"20250617-0042" in pdf
