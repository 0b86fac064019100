"""ESC/POS rendering: kitchen tickets, receipts, test pages and drawer kicks as bytes.

Pure functions of their inputs (no clock, no database), so a rendering is reproducible
byte for byte and is checked against golden files. python-escpos's ``Dummy`` printer
emits the commands; text goes out in one fixed character table (``ESC t``) chosen per
printer, and every character the table lacks prints as ``?``. Layout measures the text
as it will print (one column per character after that substitution), so columns line up
whatever the input; user text is stripped of control characters first, so an item note
can never smuggle a printer command.

Receipts reuse the layout of :mod:`fynlo.orders.receipts` (the one the plain-text and PDF
receipts share), so the printed money is exactly the receipt's.
"""

from __future__ import annotations

import textwrap
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import format_currency
from escpos.printer import Dummy  # type: ignore[import-untyped]

from fynlo.devices.schemas import PrinterConfig
from fynlo.models import HardwareDevice, KitchenTicket
from fynlo.orders.receipts import (
    LOCALE,
    ORDER_TYPE_LABELS,
    TEXT_WIDTHS,
    Receipt,
    _compose,
    _Line,
    _Typesetter,
    _uses_vat_codes,
    format_money,
)

__all__ = [
    "CODE_PAGES",
    "drawer_kick",
    "render_kitchen_ticket",
    "render_receipt",
    "render_test_page",
]

# Our name for a character table -> python-escpos's name (which knows its ESC t number).
CODE_PAGES: dict[str, str] = {
    "cp437": "CP437",
    "cp850": "CP850",
    "cp858": "CP858",
    "cp1252": "CP1252",
}
DEFAULT_CODE_PAGE = "cp858"
TIME_FORMAT = "%H:%M %d/%m/%Y"
DRAWER_PINS = (2, 5)

Size = Literal["normal", "tall", "big"]
Align = Literal["left", "center", "right"]


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _local(moment: datetime, zone: str) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(_zone(zone)).strftime(TIME_FORMAT)


def printable(text: object, code_page: str = DEFAULT_CODE_PAGE) -> str:
    """``text`` as it will print: NFC, control characters as spaces, characters outside
    the code page as ``?`` (so ``len`` is its width in columns)."""
    normal = unicodedata.normalize("NFC", str(text))
    out = []
    for ch in normal:
        category = unicodedata.category(ch)
        if category == "Cf":
            continue
        if category in ("Cc", "Zl", "Zp"):
            out.append(" ")
            continue
        try:
            ok = len(ch.encode(code_page)) == 1
        except UnicodeEncodeError:
            ok = False
        out.append(ch if ok else "?")
    return "".join(out)


def _one_line(text: object, code_page: str) -> str:
    return " ".join(printable(text, code_page).split())


class _Sheet:
    """One print job being written: style changes are sent only when the style changes."""

    def __init__(self, columns: int, code_page: str) -> None:
        if columns not in TEXT_WIDTHS:
            raise ValueError(f"columns must be one of {TEXT_WIDTHS}, not {columns!r}")
        if code_page not in CODE_PAGES:
            raise ValueError(f"code page must be one of {sorted(CODE_PAGES)}, not {code_page!r}")
        self.columns = columns
        self.code_page = code_page
        self._printer = Dummy()
        self._printer.hw("INIT")
        self._printer.charcode(CODE_PAGES[code_page])
        self._style: tuple[Align, bool, Size, bool] = ("left", False, "normal", False)

    def style(
        self,
        *,
        align: Align = "left",
        bold: bool = False,
        size: Size = "normal",
        invert: bool = False,
    ) -> None:
        """Switch to this style, sending only the attributes that change (a size change
        resends bold: ``ESC !`` clears it)."""
        old_align, old_bold, old_size, old_invert = self._style
        changes: dict[str, object] = {}
        if size != old_size:
            changes.update(
                normal_textsize=size == "normal",
                double_height=size in ("tall", "big"),
                double_width=size == "big",
                bold=bold,
            )
        elif bold != old_bold:
            changes["bold"] = bold
        if align != old_align:
            changes["align"] = align
        if invert != old_invert:
            changes["invert"] = invert
        if changes:
            self._printer.set(**changes)
        self._style = (align, bold, size, invert)

    def width(self, size: Size = "normal") -> int:
        return self.columns // 2 if size == "big" else self.columns

    def line(self, text: str = "") -> None:
        self._printer.text(text + "\n")

    def wrapped(self, text: str, *, size: Size = "normal", indent: int = 0, hang: int = 0) -> None:
        """``text`` (already printable) wrapped to the line, continuation lines hanging."""
        room = self.width(size) - indent
        for line in textwrap.wrap(
            text,
            width=room,
            subsequent_indent=" " * hang,
            break_long_words=True,
            break_on_hyphens=False,
        ) or [""]:
            self.line(" " * indent + line)

    def pair(self, left: str, right: str) -> None:
        """``left`` and ``right`` on one line when they fit, else on two."""
        if len(left) + 1 + len(right) <= self.columns:
            self.line(left + " " * (self.columns - len(left) - len(right)) + right)
            return
        self.wrapped(left)
        self.line(right.rjust(self.columns)[-self.columns :])

    def rule(self, char: str = "-") -> None:
        self.line(char * self.columns)

    def finish(self, *, cut: bool = True) -> bytes:
        self.style()
        if cut:
            self._printer.cut()
        return bytes(self._printer.output)


# --------------------------------------------------------------------------- kitchen


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _course(item: Mapping[str, Any]) -> int:
    return _whole(item.get("course")) or 1


def _ticket_items(items: Sequence[Any]) -> list[Mapping[str, Any]]:
    """The snapshot's items by course (stable: the order taken within a course)."""
    return sorted((item for item in items if isinstance(item, Mapping)), key=_course)


def render_kitchen_ticket(
    ticket: KitchenTicket,
    *,
    columns: int,
    restaurant_name: str,
    timezone: str,
    reprint: bool = False,
    code_page: str = DEFAULT_CODE_PAGE,
) -> bytes:
    """A kitchen order ticket: station and number big at the top, then each item with its
    quantity (big), modifiers and notes indented, grouped by course when there are several.
    A void ticket says so in reverse print at the top and on every line."""
    sheet = _Sheet(columns, code_page)

    def text(value: object) -> str:
        return _one_line(value, code_page)

    void = ticket.kind == "void"
    sheet.style(align="center")
    sheet.wrapped(text(restaurant_name))
    sheet.style(align="center", bold=True, size="big")
    sheet.wrapped(text(ticket.station.upper()), size="big")
    sheet.line(f"#{ticket.ticket_number}")
    if void:
        sheet.style(align="center", bold=True, size="big", invert=True)
        sheet.line(" VOID ")
        sheet.style(align="center", bold=True)
        sheet.line("*** DO NOT MAKE ***")
    elif ticket.kind == "addition":
        sheet.style(align="center", bold=True, size="tall")
        sheet.line("+ ADDITION +")
    if reprint:
        sheet.style(align="center", bold=True)
        sheet.line("** REPRINT **")

    sheet.style()
    sheet.rule("=")
    order_type = text(ORDER_TYPE_LABELS.get(ticket.order_type, ticket.order_type))
    where = f"Table {text(ticket.table_number)}" if ticket.table_number else order_type
    sheet.style(bold=True, size="tall")
    sheet.pair(f"Order {text(ticket.order_number)}", where)
    sheet.style()
    sheet.pair(order_type if ticket.table_number else "", _local(ticket.created_at, timezone))
    sheet.rule("=")

    items = _ticket_items(ticket.items)
    several_courses = len({_course(item) for item in items}) > 1
    current: int | None = None
    for item in items:
        if several_courses and _course(item) != current:
            current = _course(item)
            sheet.style(align="center", bold=True)
            sheet.line(f"--- COURSE {current} ---")
        quantity = _whole(item.get("quantity"))
        head = f"{'?' if quantity is None else quantity} x {text(item.get('name') or '?')}"
        sheet.style(bold=True, size="tall")
        sheet.wrapped(f"VOID {head}" if void else head, hang=4)
        sheet.style()
        modifiers = item.get("modifiers")
        for modifier in modifiers if isinstance(modifiers, list) else []:
            sheet.wrapped(f"+ {text(modifier)}", indent=4, hang=2)
        if item.get("notes"):
            sheet.style(bold=True)
            sheet.wrapped(f"! {text(item['notes'])}", indent=4, hang=2)
            sheet.style()
    sheet.rule()
    if ticket.notes:
        sheet.style(bold=True)
        sheet.wrapped(f"NOTE: {text(ticket.notes)}", hang=6)
        sheet.style()
    count = sum(_whole(item.get("quantity")) or 0 for item in items)
    sheet.line(f"{count} item{'s' if count != 1 else ''}")
    return sheet.finish()


# --------------------------------------------------------------------------- receipt


def _money_formatter(currency: str, code_page: str) -> Callable[[Decimal], str]:
    """``£12.50`` when the printer's table has the symbol, else ``INR 12.50``."""

    def money(amount: Decimal) -> str:
        shown = format_money(amount, currency)
        if printable(shown, code_page) == shown:
            return shown
        return str(format_currency(amount, currency, locale=LOCALE, format="¤¤ #,##0.00"))

    return money


def _place(line: _Line, columns: int, code_page: str) -> str:
    """One laid-out receipt line as printed text (cells at their columns)."""
    if line.rule:
        return "-" * columns
    placed: list[tuple[int, str]] = []
    for cell in line.cells:
        shown = printable(cell.text, code_page)
        if cell.align == "left":
            start = int(cell.x)
        elif cell.align == "right":
            start = int(cell.x) - len(shown)
        else:
            start = (columns - len(shown)) // 2
        placed.append((max(start, 0), shown))
    out = ""
    for start, shown in sorted(placed):
        out += " " * max(start - len(out), 1 if out else 0) + shown
    return out.rstrip()


def render_receipt(receipt: Receipt, *, columns: int, code_page: str = DEFAULT_CODE_PAGE) -> bytes:
    """The customer receipt, laid out exactly like the 42/48-column text receipt; the
    restaurant's name prints tall and bold, the total bold."""
    sheet = _Sheet(columns, code_page)

    def measure(text: str, _style: str) -> float:
        return float(len(printable(text, code_page)))

    layout = _Typesetter(columns, 1, measure, vat_codes=_uses_vat_codes(receipt))
    _compose(receipt, layout, _money_formatter(receipt.currency, code_page))
    for line in layout.lines:
        if line.style == "title":
            sheet.style(bold=True, size="tall")
        elif line.style == "bold":
            sheet.style(bold=True)
        else:
            sheet.style()
        sheet.line(_place(line, columns, code_page))
    return sheet.finish()


# --------------------------------------------------------------------------- test page


def render_test_page(
    device: HardwareDevice,
    config: PrinterConfig,
    *,
    when: datetime,
    timezone: str = "UTC",
    restaurant_name: str = "",
) -> bytes:
    """What a test print shows: the printer's settings as the server sees them, a column
    ruler to check the width, the character table and the styles."""
    sheet = _Sheet(config.columns, config.code_page)
    cp = config.code_page

    sheet.style(align="center", bold=True, size="big")
    sheet.line("TEST PRINT")
    sheet.style(align="center")
    if restaurant_name:
        sheet.wrapped(_one_line(restaurant_name, cp))
    sheet.style()
    sheet.rule("=")
    details: Iterable[tuple[str, str]] = (
        ("Device", _one_line(device.device_name, cp)),
        ("Address", f"{config.host}:{config.port}" if config.host else "-"),
        ("Columns", str(config.columns)),
        ("Code page", cp.upper()),
        ("Stations", ", ".join(config.stations) if config.stations else "-"),
        ("Receipts", "yes" if config.receipts else "no"),
        ("Printed", _local(when, timezone)),
    )
    for label, value in details:
        sheet.pair(label, _one_line(value, cp))
    sheet.rule("=")
    ruler = "".join(str(i % 10) for i in range(1, config.columns + 1))
    sheet.line(ruler)
    sheet.line(printable("£ € é è ü ñ ç ß", cp))
    sheet.style(bold=True)
    sheet.line("Bold")
    sheet.style(size="tall")
    sheet.line("Tall")
    sheet.style(size="big")
    sheet.line("Big")
    sheet.style(invert=True)
    sheet.line(" Reverse ")
    sheet.style()
    sheet.rule()
    return sheet.finish()


# --------------------------------------------------------------------------- drawer


def drawer_kick(pin: int = 2) -> bytes:
    """``ESC p m t1 t2``: pulse drawer connector pin 2 (m=0) or 5 (m=1)."""
    if pin not in DRAWER_PINS:
        raise ValueError(f"pin must be 2 or 5, not {pin!r}")
    printer = Dummy()
    printer.cashdraw(pin)
    return bytes(printer.output)
