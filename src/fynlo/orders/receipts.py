"""Order receipts: one :class:`Receipt` built from an order, rendered as JSON, HTML, PDF or
plain text for 42/48-column thermal printers.

The totals are the order's stored totals (made by :mod:`fynlo.orders.pricing`); a receipt
only lays them out, so it can never disagree with the order it prints. Nothing here touches
a database session: the caller loads the order (items are eagerly loaded), the restaurant
and its receipt settings, and passes them in.
"""

from __future__ import annotations

import html
import io
import unicodedata
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import format_currency
from pydantic import PlainSerializer

from fynlo.kit.money import MoneyOut, to_major
from fynlo.kit.schemas import Schema
from fynlo.models.identity import Restaurant
from fynlo.models.order import Order, OrderItem

__all__ = [
    "TEXT_WIDTHS",
    "Receipt",
    "ReceiptHeader",
    "ReceiptItem",
    "ReceiptModifier",
    "ReceiptOptions",
    "ReceiptPayment",
    "ReceiptPaymentLine",
    "ReceiptVatLine",
    "build_receipt",
    "display_width",
    "format_money",
    "render_html",
    "render_pdf",
    "render_text",
]

TEXT_WIDTHS = (42, 48)
"""Columns of the two common thermal paper sizes (58 mm Font A/B is 32/42; 80 mm is 42/48)."""

LOCALE = "en_GB"
DATE_FORMAT = "%d/%m/%Y %H:%M"
ORDER_TYPE_LABELS = {"dine_in": "Dine in", "takeaway": "Takeaway", "delivery": "Delivery"}
PAYMENT_METHOD_LABELS = {
    "cash": "Cash",
    "card": "Card",
    "qr_code": "QR payment",
    "qrCode": "QR payment",
    "apple_pay": "Apple Pay",
    "applePay": "Apple Pay",
    "google_pay": "Google Pay",
    "gift_card": "Gift card",
    "giftCard": "Gift card",
}


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class ReceiptOptions:
    """``RestaurantSettings.receipt_settings`` read leniently: a missing key or a value of
    the wrong type falls back to the default, so a hand-edited setting never breaks a till.
    """

    header: tuple[str, ...] = ()
    footer: tuple[str, ...] = ("Thank you!",)
    vat_number: str | None = None
    show_vat_number: bool = True
    show_address: bool = True
    show_phone: bool = True
    show_email: bool = False
    show_server: bool = True
    show_item_notes: bool = True
    show_voided_items: bool = False
    service_charge_label: str = "Service charge"
    logo_url: str | None = None

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any] | None, restaurant: Restaurant | None = None
    ) -> ReceiptOptions:
        s: Mapping[str, Any] = settings if isinstance(settings, Mapping) else {}
        d = cls()
        tax = restaurant.tax_configuration if restaurant is not None else None
        fallback_vat = tax.get("vatNumber") if isinstance(tax, Mapping) else None
        return cls(
            header=_lines(s.get("header"), d.header),
            footer=_lines(s.get("footer"), d.footer) if "footer" in s else d.footer,
            vat_number=_text(s.get("vatNumber")) or _text(fallback_vat),
            show_vat_number=_flag(s, "showVatNumber", d.show_vat_number),
            show_address=_flag(s, "showAddress", d.show_address),
            show_phone=_flag(s, "showPhone", d.show_phone),
            show_email=_flag(s, "showEmail", d.show_email),
            show_server=_flag(s, "showServer", d.show_server),
            show_item_notes=_flag(s, "showItemNotes", d.show_item_notes),
            show_voided_items=_flag(s, "showVoidedItems", d.show_voided_items),
            service_charge_label=_text(s.get("serviceChargeLabel")) or d.service_charge_label,
            logo_url=_safe_url(s.get("logoUrl")),
        )


def _text(value: object) -> str | None:
    """User text on one line: control characters become spaces, runs of spaces collapse."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    cleaned = "".join(
        " " if unicodedata.category(ch) == "Cc" else ch
        for ch in str(value)
        if unicodedata.category(ch) != "Cf"
    )
    return " ".join(cleaned.split()) or None


def _lines(value: object, default: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(value, str):
        raw: list[object] = list(value.splitlines())
    elif isinstance(value, list):
        raw = value
    else:
        return default
    return tuple(t for t in (_text(v) for v in raw) if t)


def _flag(settings: Mapping[str, Any], key: str, default: bool) -> bool:
    value = settings.get(key)
    return value if isinstance(value, bool) else default


def _safe_url(value: object) -> str | None:
    """Only web and inline-image addresses: a logo can never be a ``javascript:`` link."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    lowered = url.lower()
    if lowered.startswith(("https://", "http://", "data:image/")) and len(url) <= 100_000:
        return url
    return None


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ReceiptPayment:
    """A payment taken against the order (negative ``amount_minor`` for a refund)."""

    method: str
    amount_minor: int
    reference: str | None = None
    paid_at: datetime | None = None


Percent = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class ReceiptHeader(Schema):
    name: str
    address_lines: list[str]
    phone: str | None
    email: str | None
    vat_number: str | None
    lines: list[str]
    logo_url: str | None


class ReceiptModifier(Schema):
    type: str
    value: str
    price: MoneyOut  # per unit, as charged


class ReceiptItem(Schema):
    name: str
    quantity: int
    unit_price: MoneyOut
    modifiers: list[ReceiptModifier]
    gross: MoneyOut  # (unit price + modifier prices) x quantity
    discount: MoneyOut  # line discount plus its share of any order discount
    total: MoneyOut  # after discounts, VAT included
    vat_rate: Percent
    vat_code: str
    notes: str | None
    voided: bool


class ReceiptVatLine(Schema):
    code: str
    rate: Percent
    net: MoneyOut
    vat: MoneyOut
    gross: MoneyOut


class ReceiptPaymentLine(Schema):
    method: str
    label: str
    amount: MoneyOut
    reference: str | None
    paid_at: datetime | None


class Receipt(Schema):
    order_id: uuid.UUID
    order_number: str
    status: str
    currency: str
    created_at: datetime
    created_at_local: datetime
    timezone: str
    table_number: str | None
    order_type: str
    order_type_label: str
    server: str | None
    header: ReceiptHeader
    items: list[ReceiptItem]
    subtotal: MoneyOut
    discount: MoneyOut
    vat: list[ReceiptVatLine]
    tax_total: MoneyOut
    prices_include_vat: bool
    vat_note: str
    service_charge: MoneyOut
    service_charge_rate: Percent | None
    service_charge_waived: bool
    service_charge_label: str
    tip: MoneyOut
    total: MoneyOut
    payments: list[ReceiptPaymentLine]
    amount_paid: MoneyOut
    amount_due: MoneyOut
    change: MoneyOut
    footer: list[str]


# --------------------------------------------------------------------------- building


def build_receipt(
    order: Order,
    restaurant: Restaurant,
    receipt_settings: Mapping[str, Any] | None = None,
    payments: Sequence[ReceiptPayment] = (),
    *,
    server_name: str | None = None,
) -> Receipt:
    """The receipt of ``order``; ``server_name`` is the employee who served it, as shown."""
    options = ReceiptOptions.from_settings(receipt_settings, restaurant)
    currency = (order.currency or restaurant.currency or "GBP").upper()

    def money(minor: int) -> Decimal:
        return to_major(minor, currency)

    zone, zone_name = _zone(restaurant.timezone)
    created = _as_utc(order.created_at) or datetime.now(UTC)

    live = [item for item in order.items if not item.is_voided]
    rates = sorted({item.tax_rate_bp for item in live}, reverse=True)
    codes = {rate: _code(i) for i, rate in enumerate(rates)}
    vat_lines = []
    for rate in rates:
        total = sum(i.total_minor for i in live if i.tax_rate_bp == rate)
        vat = sum(i.tax_minor for i in live if i.tax_rate_bp == rate)
        vat_lines.append(
            ReceiptVatLine(
                code=codes[rate],
                rate=_percent(rate),
                net=money(total - vat),
                vat=money(vat),
                gross=money(total),
            )
        )

    shown = [i for i in order.items if options.show_voided_items or not i.is_voided]
    items = [_item(i, money, codes.get(i.tax_rate_bp, ""), options) for i in shown]

    paid_minor = sum(p.amount_minor for p in payments)
    waived = bool(order.service_charge_waived)
    return Receipt(
        order_id=order.id,
        order_number=order.order_number,
        status=order.status,
        currency=currency,
        created_at=created,
        created_at_local=created.astimezone(zone),
        timezone=zone_name,
        table_number=_text(order.table_number),
        order_type=order.order_type,
        order_type_label=ORDER_TYPE_LABELS.get(order.order_type, order.order_type),
        server=_text(server_name) if options.show_server else None,
        header=ReceiptHeader(
            name=_text(restaurant.name) or "",
            address_lines=_address_lines(restaurant.address) if options.show_address else [],
            phone=_text(restaurant.phone) if options.show_phone else None,
            email=_text(restaurant.email) if options.show_email else None,
            vat_number=options.vat_number if options.show_vat_number else None,
            lines=list(options.header),
            logo_url=options.logo_url,
        ),
        items=items,
        subtotal=money(order.subtotal_minor),
        discount=money(order.discount_minor),
        vat=vat_lines,
        tax_total=money(order.tax_minor),
        prices_include_vat=bool(order.prices_include_vat),
        vat_note="Prices include VAT" if order.prices_include_vat else "Prices exclude VAT",
        service_charge=money(order.service_charge_minor),
        service_charge_rate=(
            _percent(order.service_charge_rate_bp)
            if order.service_charge_rate_bp and not waived
            else None
        ),
        service_charge_waived=waived,
        service_charge_label=options.service_charge_label,
        tip=money(order.tip_minor),
        total=money(order.total_minor),
        payments=[
            ReceiptPaymentLine(
                method=p.method,
                label=_payment_label(p.method),
                amount=money(p.amount_minor),
                reference=_text(p.reference),
                paid_at=_as_utc(p.paid_at),
            )
            for p in payments
        ],
        amount_paid=money(paid_minor),
        amount_due=money(max(order.total_minor - paid_minor, 0)),
        change=money(max(paid_minor - order.total_minor, 0)),
        footer=list(options.footer),
    )


def _item(
    item: OrderItem, money: Callable[[int], Decimal], code: str, options: ReceiptOptions
) -> ReceiptItem:
    return ReceiptItem(
        name=_text(item.product_name) or "",
        quantity=item.quantity,
        unit_price=money(item.unit_price_minor),
        modifiers=[
            ReceiptModifier(type=kind, value=value, price=money(price))
            for kind, value, price in _modifiers(item.modifiers)
        ],
        gross=money(item.gross_minor),
        discount=money(item.discount_minor),
        total=money(item.total_minor),
        vat_rate=_percent(item.tax_rate_bp),
        vat_code=code,
        notes=_text(item.notes) if options.show_item_notes else None,
        voided=bool(item.is_voided),
    )


def _modifiers(raw: object) -> list[tuple[str, str, int]]:
    if not isinstance(raw, list):
        return []
    out = []
    for entry in raw:
        if not isinstance(entry, Mapping):
            continue
        kind = _text(entry.get("type")) or ""
        value = _text(entry.get("value")) or _text(entry.get("name")) or kind
        price = entry.get("price")
        if isinstance(price, bool) or not isinstance(price, int):
            price = 0
        if value:
            out.append((kind, value, price))
    return out


def _address_lines(address: object) -> list[str]:
    """Street lines, then "City, Region Postcode"; the country is left off."""
    if not isinstance(address, Mapping):
        return []

    def get(*keys: str) -> str | None:
        for key in keys:
            value = _text(address.get(key))
            if value:
                return value
        return None

    lines = [v for v in (get("line1", "street"), get("line2"), get("line3")) if v]
    place = ", ".join(v for v in (get("city", "town"), get("region", "county", "state")) if v)
    postcode = get("postcode", "postalCode", "postCode", "zip", "zipCode")
    locality = " ".join(v for v in (place, postcode) if v)
    return [*lines, locality] if locality else lines


def _zone(name: object) -> tuple[tzinfo, str]:
    if isinstance(name, str) and name:
        try:
            return ZoneInfo(name), name
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC, "UTC"


def _as_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _percent(bp: int) -> Decimal:
    return Decimal(bp) / 100


def _code(index: int) -> str:
    return chr(ord("A") + index) if index < 26 else str(index + 1)


def _payment_label(method: str) -> str:
    known = PAYMENT_METHOD_LABELS.get(method)
    if known:
        return known
    words = (_text(method) or "Payment").replace("_", " ")
    return words[:1].upper() + words[1:]


# --------------------------------------------------------------------------- formatting


def format_money(amount: Decimal, currency: str) -> str:
    """``£1,234.50``, ``₹1,234.50``, ``JP¥1,235``: babel, British English conventions."""
    return str(format_currency(amount, currency, locale=LOCALE))


def _pct_text(rate: Decimal) -> str:
    return f"{rate.normalize():f}%"


def _local(moment: datetime, zone: tzinfo | None) -> str:
    return moment.astimezone(zone).strftime(DATE_FORMAT)


def display_width(text: str) -> int:
    """Columns a string takes on a monospaced printer: CJK and emoji are two wide."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def _wrap(
    text: str, limit: float, measure: Callable[[str], float], rest: float | None = None
) -> list[str]:
    """Greedy word wrap: the first line to ``limit``, the others to ``rest``.

    A word longer than a whole line (a run of CJK text, a long reference) is broken
    anywhere, starting on the line already begun, so no line is left nearly empty.
    """
    rest = limit if rest is None else rest
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        if not word:
            continue
        candidate = f"{current} {word}" if current else word
        if measure(candidate) <= (rest if lines else limit):
            current = candidate
            continue
        if current and measure(word) <= rest:
            lines.append(current)
            current = word
            continue
        prefix = f"{current} " if current else ""
        while word:
            room = rest if lines else limit
            cut = 0
            while cut < len(word) and measure(prefix + word[: cut + 1]) <= room:
                cut += 1
            if cut == 0 and prefix:
                lines.append(prefix.rstrip())
                prefix = ""
                continue
            cut = max(cut, 1)  # a single character wider than the line still has to go
            if cut == len(word):
                current = prefix + word
                break
            lines.append(prefix + word[:cut])
            prefix, word = "", word[cut:]
    if current or not lines:
        lines.append(current)
    return lines


# --------------------------------------------------------------------------- layout

Style = Literal["normal", "bold", "title"]
Align = Literal["left", "right", "center"]


@dataclass(frozen=True)
class _Cell:
    text: str
    x: float
    align: Align


@dataclass(frozen=True)
class _Line:
    cells: tuple[_Cell, ...] = ()
    style: Style = "normal"
    rule: bool = False


class _Typesetter:
    """Lays a receipt out in lines of positioned cells, for any unit (characters or points).

    The text and PDF renderers share it, so both wrap, align and stack the same way; only
    the measure of a string differs.
    """

    def __init__(
        self,
        width: float,
        unit: float,
        measure: Callable[[str, Style], float],
        *,
        vat_codes: bool,
    ) -> None:
        self.width = width
        self.unit = unit
        self.measure = measure
        self.code_width = 2 * unit if vat_codes else 0.0
        self.lines: list[_Line] = []

    def rule(self) -> None:
        self.lines.append(_Line(rule=True))

    def center(self, text: str, style: Style = "normal") -> None:
        for part in _wrap(text, self.width, lambda s: self.measure(s, style)):
            self.lines.append(_Line((_Cell(part, self.width / 2, "center"),), style))

    def row(
        self,
        left: str,
        right: str = "",
        *,
        indent: int = 0,
        hang: int = 0,
        style: Style = "normal",
        code: str = "",
    ) -> None:
        """``left`` wrapped from the left edge, ``right`` (an amount) on its first line.

        When the two cannot share a line, the amount goes on a line of its own below.
        """

        def m(s: str) -> float:
            return self.measure(s, style)

        x0 = indent * self.unit
        right_edge = self.width - self.code_width
        code_cells = (_Cell(code, self.width, "right"),) if code and self.code_width else ()
        if not right:
            self._left_lines(left, x0, right_edge - x0, hang, style)
            return
        room = right_edge - x0 - m(right) - self.unit
        if room >= (right_edge - x0) / 3:
            parts = self._left_lines(left, x0, room, hang, style, emit=False, rest=right_edge - x0)
            (text, x), rest = parts[0], parts[1:]
            cells = (_Cell(text, x, "left"), _Cell(right, right_edge, "right"), *code_cells)
            self.lines.append(_Line(cells, style))
            self.lines.extend(_Line((_Cell(t, x, "left"),), style) for t, x in rest)
            return
        self._left_lines(left, x0, right_edge - x0, hang, style)
        pieces = _wrap(right, right_edge - x0, m)
        for i, piece in enumerate(pieces):
            extra = code_cells if i == len(pieces) - 1 else ()
            self.lines.append(_Line((_Cell(piece, right_edge, "right"), *extra), style))

    def _left_lines(
        self,
        text: str,
        x0: float,
        room: float,
        hang: int,
        style: Style,
        *,
        emit: bool = True,
        rest: float | None = None,
    ) -> list[tuple[str, float]]:
        """Wrapped lines of ``text``; lines after the first are indented by ``hang`` units
        and may be ``rest`` wide (they do not share their line with an amount)."""

        def m(s: str) -> float:
            return self.measure(s, style)

        if not text:
            return [("", x0)]
        rest = room if rest is None else rest
        hang_width = hang * self.unit if rest - hang * self.unit >= 8 * self.unit else 0.0
        first, *others = _wrap(text, room, m, rest - hang_width)
        parts = [(first, x0), *((t, x0 + hang_width) for t in others)]
        if emit:
            self.lines.extend(_Line((_Cell(t, x, "left"),), style) for t, x in parts)
        return parts

    def table(self, header: tuple[str, str, str], rows: list[tuple[str, str, str]]) -> None:
        """A rate column and two amount columns; rows too wide for columns are stacked."""

        def m(s: str) -> float:
            return self.measure(s, "normal")

        right_edge = self.width - self.code_width
        first = max(m(r[0]) for r in [header, *rows]) + self.unit
        column = (right_edge - first) / 2
        fits = all(m(cell) <= column - self.unit for r in [header, *rows] for cell in r[1:])
        if not fits or first > right_edge / 3:
            for rate, net, vat in rows:
                self.row(rate)
                self.row(header[1], net, indent=2)
                self.row(header[2], vat, indent=2)
            return
        for cells, style in [(header, "bold"), *((r, "normal") for r in rows)]:
            self.lines.append(
                _Line(
                    (
                        _Cell(cells[0], 0, "left"),
                        _Cell(cells[1], right_edge - column, "right"),
                        _Cell(cells[2], right_edge, "right"),
                    ),
                    "bold" if style == "bold" else "normal",
                )
            )


def _compose(receipt: Receipt, ts: _Typesetter, money: Callable[[Decimal], str]) -> None:
    """The receipt, top to bottom: the one layout shared by the text and PDF output."""
    head = receipt.header
    ts.center(head.name, "title")
    for line in [*head.address_lines]:
        ts.center(line)
    if head.phone:
        ts.center(f"Tel: {head.phone}")
    if head.email:
        ts.center(head.email)
    if head.vat_number:
        ts.center(f"VAT No: {head.vat_number}")
    for line in head.lines:
        ts.center(line)
    if receipt.status == "cancelled":
        ts.center("*** CANCELLED ***", "bold")
    ts.rule()

    ts.row("Order", receipt.order_number)
    ts.row("Date", receipt.created_at_local.strftime(DATE_FORMAT))
    if receipt.table_number:
        ts.row("Table", receipt.table_number)
    ts.row("Type", receipt.order_type_label)
    if receipt.server:
        ts.row("Served by", receipt.server)
    ts.rule()

    for item in receipt.items:
        amount = "VOID" if item.voided else money(item.gross)
        code = "" if item.voided else item.vat_code
        ts.row(f"{item.quantity} x {item.name}", amount, hang=4, code=code)
        for mod in item.modifiers:
            ts.row(f"+ {mod.value}", money(mod.price) if mod.price else "", indent=4, hang=2)
        if item.quantity > 1:
            each = item.unit_price + sum((mod.price for mod in item.modifiers), Decimal(0))
            ts.row(f"{money(each)} each", indent=4)
        if item.notes:
            ts.row(f"Note: {item.notes}", indent=4, hang=2)
        if item.discount and not item.voided:
            ts.row("Discount", money(-item.discount), indent=4)
    ts.rule()

    ts.row("Subtotal", money(receipt.subtotal))
    if receipt.discount:
        ts.row("Discount", money(-receipt.discount))
    if not receipt.prices_include_vat and receipt.tax_total:
        ts.row("VAT", money(receipt.tax_total))
    if receipt.service_charge:
        rate = receipt.service_charge_rate
        label = receipt.service_charge_label
        ts.row(f"{label} {_pct_text(rate)}" if rate else label, money(receipt.service_charge))
    if receipt.tip:
        ts.row("Tip", money(receipt.tip))
    ts.row("TOTAL", money(receipt.total), style="bold")
    if receipt.prices_include_vat and receipt.tax_total:
        ts.row("Includes VAT", money(receipt.tax_total))

    if _shows_vat_table(receipt):
        ts.rule()
        coded = ts.code_width > 0
        ts.table(
            ("VAT rate", "Net", "VAT"),
            [
                (
                    f"{line.code} {_pct_text(line.rate)}" if coded else _pct_text(line.rate),
                    money(line.net),
                    money(line.vat),
                )
                for line in receipt.vat
            ],
        )
    ts.row(receipt.vat_note)

    ts.rule()
    for payment in receipt.payments:
        ts.row(payment.label, money(payment.amount))
        if payment.reference:
            ts.row(f"Ref: {payment.reference}", indent=2, hang=2)
    if receipt.payments:
        ts.row("Paid", money(receipt.amount_paid))
    ts.row("Amount due", money(receipt.amount_due), style="bold")
    if receipt.change:
        ts.row("Change", money(receipt.change))

    if receipt.footer:
        ts.rule()
        for line in receipt.footer:
            ts.center(line)


def _shows_vat_table(receipt: Receipt) -> bool:
    """A VAT table only means something when there is VAT, or the seller is registered."""
    has_vat = any(line.rate for line in receipt.vat)
    return bool(receipt.vat) and (has_vat or bool(receipt.header.vat_number))


def _uses_vat_codes(receipt: Receipt) -> bool:
    return len(receipt.vat) > 1


# --------------------------------------------------------------------------- text


def render_text(receipt: Receipt, width: int = 42) -> str:
    """Plain text for a thermal printer, no line wider than ``width`` (42 or 48) columns.

    CJK characters and emoji count two columns. The result is Unicode; encoding it for the
    printer's code page is the printer driver's job.
    """
    if width not in TEXT_WIDTHS:
        raise ValueError(f"width must be one of {TEXT_WIDTHS}, not {width!r}")
    ts = _Typesetter(
        width, 1, lambda s, _style: display_width(s), vat_codes=_uses_vat_codes(receipt)
    )
    _compose(receipt, ts, lambda amount: format_money(amount, receipt.currency))
    return "\n".join(_text_line(line, width) for line in ts.lines) + "\n"


def _text_line(line: _Line, width: int) -> str:
    if line.rule:
        return "-" * width
    placed: list[tuple[int, str]] = []
    for cell in line.cells:
        w = display_width(cell.text)
        if cell.align == "left":
            start = int(cell.x)
        elif cell.align == "right":
            start = int(cell.x) - w
        else:
            start = (width - w) // 2
        placed.append((max(start, 0), cell.text))
    out = ""
    for start, text in sorted(placed):
        out += " " * max(start - display_width(out), 1 if out else 0) + text
    return out.rstrip()


# --------------------------------------------------------------------------- HTML

_CSS = """
*{box-sizing:border-box}
body{margin:0;padding:16px;background:#f4f4f4;color:#111;
font:14px/1.4 -apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
.receipt{max-width:380px;margin:0 auto;padding:20px;background:#fff;
box-shadow:0 1px 4px rgba(0,0,0,.15)}
header{text-align:center;margin-bottom:12px}
header img{max-width:160px;max-height:80px}
h1{font-size:20px;margin:4px 0}
header p{margin:2px 0}
.cancelled{text-align:center;font-weight:bold;color:#b00020;letter-spacing:2px}
table{width:100%;border-collapse:collapse;margin:8px 0}
th,td{padding:2px 0;vertical-align:top;text-align:left}
th{font-weight:600;border-bottom:1px solid #ccc}
.amt{text-align:right;white-space:nowrap;padding-left:8px}
.sub td{color:#555;font-size:12px;padding-left:16px}
.sub td.amt{padding-left:8px}
.void td{text-decoration:line-through;color:#888}
.total td{font-weight:700;font-size:16px;border-top:1px solid #111}
.due td{font-weight:700}
section{border-top:1px dashed #999}
.note{color:#555;font-size:12px;margin:4px 0}
footer{text-align:center;border-top:1px dashed #999;padding-top:8px;margin-top:8px}
footer p{margin:2px 0}
@media print{body{background:#fff;padding:0}.receipt{box-shadow:none;max-width:none}
@page{size:80mm auto;margin:4mm}}
"""


def render_html(receipt: Receipt) -> str:
    """A self-contained HTML page (inline CSS, no scripts); every user string is escaped."""

    def e(text: object) -> str:
        return html.escape(str(text), quote=True)

    def money(amount: Decimal) -> str:
        return e(format_money(amount, receipt.currency))

    def row(label: str, amount: str, cls: str = "") -> str:
        attr = f' class="{cls}"' if cls else ""
        return f'<tr{attr}><td>{label}</td><td class="amt">{amount}</td></tr>'

    head = receipt.header
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en-GB"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Receipt {e(receipt.order_number)} - {e(head.name)}</title>",
        f'<style>{_CSS}</style></head><body><main class="receipt"><header>',
    ]
    if head.logo_url:
        out.append(f'<img src="{e(head.logo_url)}" alt="{e(head.name)}">')
    out.append(f"<h1>{e(head.name)}</h1>")
    if head.address_lines:
        out.append("<p>" + "<br>".join(e(line) for line in head.address_lines) + "</p>")
    if head.phone:
        out.append(f"<p>Tel: {e(head.phone)}</p>")
    if head.email:
        out.append(f"<p>{e(head.email)}</p>")
    if head.vat_number:
        out.append(f"<p>VAT No: {e(head.vat_number)}</p>")
    out.extend(f"<p>{e(line)}</p>" for line in head.lines)
    out.append("</header>")
    if receipt.status == "cancelled":
        out.append('<p class="cancelled">CANCELLED</p>')

    meta = [
        ("Order", receipt.order_number),
        ("Date", receipt.created_at_local.strftime(DATE_FORMAT)),
        ("Table", receipt.table_number),
        ("Type", receipt.order_type_label),
        ("Served by", receipt.server),
    ]
    out.append('<table class="meta">')
    out.extend(row(e(label), e(value)) for label, value in meta if value)
    out.append("</table>")

    coded = _uses_vat_codes(receipt)
    out.append('<section><table class="items"><thead><tr><th>Item</th>')
    out.append('<th class="amt">Amount</th></tr></thead><tbody>')
    for item in receipt.items:
        code = f" {e(item.vat_code)}" if coded and not item.voided else ""
        name = f"{item.quantity} &times; {e(item.name)}"
        if item.voided:
            out.append(row(f"{name} (void)", money(item.gross), "void"))
            continue
        out.append(row(name, money(item.gross) + code))
        for mod in item.modifiers:
            out.append(row(f"+ {e(mod.value)}", money(mod.price) if mod.price else "", "sub"))
        if item.quantity > 1:
            each = item.unit_price + sum((mod.price for mod in item.modifiers), Decimal(0))
            out.append(row(f"{money(each)} each", "", "sub"))
        if item.notes:
            out.append(row(f"Note: {e(item.notes)}", "", "sub"))
        if item.discount:
            out.append(row("Discount", money(-item.discount), "sub"))
    out.append("</tbody></table></section>")

    out.append('<section><table class="totals">')
    out.append(row("Subtotal", money(receipt.subtotal)))
    if receipt.discount:
        out.append(row("Discount", money(-receipt.discount)))
    if not receipt.prices_include_vat and receipt.tax_total:
        out.append(row("VAT", money(receipt.tax_total)))
    if receipt.service_charge:
        rate = receipt.service_charge_rate
        label = e(receipt.service_charge_label) + (f" {_pct_text(rate)}" if rate else "")
        out.append(row(label, money(receipt.service_charge)))
    if receipt.tip:
        out.append(row("Tip", money(receipt.tip)))
    out.append(row("Total", money(receipt.total), "total"))
    if receipt.prices_include_vat and receipt.tax_total:
        out.append(row("Includes VAT", money(receipt.tax_total)))
    out.append("</table></section>")

    out.append("<section>")
    if _shows_vat_table(receipt):
        out.append('<table class="vat"><thead><tr><th>VAT rate</th>')
        out.append('<th class="amt">Net</th><th class="amt">VAT</th></tr></thead><tbody>')
        for line in receipt.vat:
            label = f"{e(line.code)} {_pct_text(line.rate)}" if coded else _pct_text(line.rate)
            out.append(
                f'<tr><td>{label}</td><td class="amt">{money(line.net)}</td>'
                f'<td class="amt">{money(line.vat)}</td></tr>'
            )
        out.append("</tbody></table>")
    out.append(f'<p class="note">{e(receipt.vat_note)}</p></section>')

    out.append('<section><table class="payments">')
    for payment in receipt.payments:
        when = ""
        if payment.paid_at:
            when = f" ({e(_local(payment.paid_at, receipt.created_at_local.tzinfo))})"
        out.append(row(e(payment.label) + when, money(payment.amount)))
        if payment.reference:
            out.append(row(f"Ref: {e(payment.reference)}", "", "sub"))
    if receipt.payments:
        out.append(row("Paid", money(receipt.amount_paid)))
    out.append(row("Amount due", money(receipt.amount_due), "due"))
    if receipt.change:
        out.append(row("Change", money(receipt.change)))
    out.append("</table></section>")

    if receipt.footer:
        out.append("<footer>" + "".join(f"<p>{e(line)}</p>" for line in receipt.footer))
        out.append("</footer>")
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- PDF

_MM = 72 / 25.4
PDF_PAGE_WIDTH = 80 * _MM
PDF_MARGIN = 4 * _MM
PDF_MAX_PAGE_HEIGHT = 14_400.0  # the largest page a PDF reader must accept (200 in)
_PDF_FONTS: dict[Style, tuple[str, float, float]] = {
    # style: (font, size, leading)
    "normal": ("Helvetica", 8.0, 10.0),
    "bold": ("Helvetica-Bold", 8.0, 10.0),
    "title": ("Helvetica-Bold", 11.0, 14.0),
}


def _winansi(text: str) -> str:
    """The built-in PDF fonts cover Windows-1252 only; anything else becomes ``?``."""
    out = []
    for ch in text:
        try:
            ch.encode("cp1252")
        except UnicodeEncodeError:
            ch = "?"
        out.append(ch)
    return "".join(out)


def _pdf_money(amount: Decimal, currency: str) -> str:
    """``£12.50``, or ``INR 12.50`` when the symbol is outside the PDF fonts (₹)."""
    text = format_money(amount, currency)
    if _winansi(text) == text:
        return text
    return str(format_currency(amount, currency, locale=LOCALE, format="¤¤\u00a0#,##0.00"))


def render_pdf(receipt: Receipt) -> bytes:
    """A PDF on an 80 mm wide roll-paper page as tall as the receipt (72 mm printable).

    It uses the built-in Helvetica, so it needs no font files and its text stays
    searchable; characters outside Windows-1252 (e.g. CJK) print as ``?``: use the HTML
    receipt for those. A receipt taller than 200 inches continues on further pages.
    """
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen.canvas import Canvas

    def measure(text: str, style: Style) -> float:
        font, size, _ = _PDF_FONTS[style]
        return float(stringWidth(_winansi(text), font, size))

    content_width = PDF_PAGE_WIDTH - 2 * PDF_MARGIN
    unit = measure("0", "normal")
    ts = _Typesetter(content_width, unit, measure, vat_codes=_uses_vat_codes(receipt))
    _compose(receipt, ts, lambda amount: _pdf_money(amount, receipt.currency))

    pages: list[list[_Line]] = [[]]
    used = 0.0
    room = PDF_MAX_PAGE_HEIGHT - 2 * PDF_MARGIN
    for line in ts.lines:
        leading = _PDF_FONTS[line.style][2]
        if used + leading > room and pages[-1]:
            pages.append([])
            used = 0.0
        pages[-1].append(line)
        used += leading

    buffer = io.BytesIO()
    canvas = Canvas(buffer, pageCompression=0, invariant=1)
    canvas.setTitle(f"Receipt {receipt.order_number}")
    canvas.setAuthor(_winansi(receipt.header.name))
    for page in pages:
        height = sum(_PDF_FONTS[line.style][2] for line in page) + 2 * PDF_MARGIN
        canvas.setPageSize((PDF_PAGE_WIDTH, height))
        y = height - PDF_MARGIN
        for line in page:
            font, size, leading = _PDF_FONTS[line.style]
            y -= leading
            if line.rule:
                canvas.setDash(1, 2)
                canvas.setLineWidth(0.5)
                mid = y + leading / 2 - 1
                canvas.line(PDF_MARGIN, mid, PDF_MARGIN + content_width, mid)
                continue
            canvas.setFont(font, size)
            for cell in line.cells:
                text = _winansi(cell.text)
                x = PDF_MARGIN + cell.x
                if cell.align == "left":
                    canvas.drawString(x, y + 2, text)
                elif cell.align == "right":
                    canvas.drawRightString(x, y + 2, text)
                else:
                    canvas.drawCentredString(x, y + 2, text)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()
