"""In-memory orders priced by the real pricing rules, so their stored totals are consistent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fynlo.models.identity import Restaurant
from fynlo.models.order import Order, OrderItem
from fynlo.orders.pricing import Discount, LineInput, price
from fynlo.orders.receipts import Receipt, ReceiptPayment, build_receipt

CREATED_AT = datetime(2025, 6, 17, 12, 30, tzinfo=UTC)


@dataclass
class Line:
    name: str
    unit: int
    quantity: int = 1
    rate_bp: int = 2000
    modifiers: list[dict[str, Any]] = field(default_factory=list)
    discount: Discount | None = None
    notes: str | None = None
    voided: bool = False


def make_restaurant(**values: Any) -> Restaurant:
    return Restaurant(
        **{
            "id": uuid.uuid4(),
            "platform_id": uuid.uuid4(),
            "name": "The Golden Fork",
            "address": {
                "line1": "1 High Street",
                "city": "London",
                "postcode": "SW1A 1AA",
                "country": "GB",
            },
            "phone": "020 7946 0000",
            "email": "hello@goldenfork.test",
            "currency": "GBP",
            "timezone": "Europe/London",
            "tax_configuration": {"vatEnabled": True, "vatRate": 20, "pricesIncludeVat": True},
            **values,
        }
    )


def _input(line: Line) -> LineInput:
    mods = sum(int(m.get("price", 0)) for m in line.modifiers)
    return LineInput(
        unit_price=line.unit,
        modifiers_price=mods,
        quantity=line.quantity,
        tax_rate_bp=line.rate_bp,
        discount=line.discount,
    )


def make_order(
    lines: list[Line],
    *,
    restaurant: Restaurant | None = None,
    currency: str = "GBP",
    inclusive: bool = True,
    service_bp: int = 0,
    waived: bool = False,
    tip: int = 0,
    order_discount: Discount | None = None,
    **values: Any,
) -> Order:
    """An unsaved order whose totals and item amounts come from ``fynlo.orders.pricing``.

    Voided lines are priced on their own (as they were before the void) and left out of the
    order's totals, as the orders service does.
    """
    live = [ln for ln in lines if not ln.voided]
    totals = price(
        [_input(ln) for ln in live],
        prices_include_vat=inclusive,
        order_discount=order_discount,
        service_charge_bp=0 if waived else service_bp,
        tip=tip,
    )
    priced = iter(totals.lines)
    items = []
    for position, line in enumerate(lines):
        if line.voided:
            p = price([_input(line)], prices_include_vat=inclusive).lines[0]
        else:
            p = next(priced)
        items.append(
            OrderItem(
                id=uuid.uuid4(),
                restaurant_id=restaurant.id if restaurant else uuid.uuid4(),
                product_id=uuid.uuid4(),
                position=position,
                product_name=line.name,
                quantity=line.quantity,
                unit_price_minor=line.unit,
                modifiers=line.modifiers,
                modifiers_minor=sum(int(m.get("price", 0)) for m in line.modifiers),
                gross_minor=p.gross,
                discount_minor=p.discount,
                tax_rate_bp=line.rate_bp,
                tax_minor=p.tax,
                total_minor=p.total,
                notes=line.notes,
                is_voided=line.voided,
            )
        )
    return Order(
        **{
            "id": uuid.uuid4(),
            "restaurant_id": restaurant.id if restaurant else uuid.uuid4(),
            "order_number": "20250617-0042",
            "business_date": CREATED_AT.date(),
            "daily_sequence": 42,
            "table_number": "5",
            "status": "completed",
            "order_type": "dine_in",
            "payment_status": "unpaid",
            "currency": currency,
            "prices_include_vat": inclusive,
            "subtotal_minor": totals.subtotal,
            "discount_minor": totals.discount,
            "tax_minor": totals.tax,
            "service_charge_minor": totals.service_charge,
            "service_charge_rate_bp": service_bp,
            "service_charge_waived": waived,
            "tip_minor": totals.tip,
            "total_minor": totals.total,
            "created_at": CREATED_AT,
            "items": items,
            **values,
        }
    )


def sample_receipt(settings: dict[str, Any], payment_reference: str) -> Receipt:
    """A receipt with a bit of everything: modifiers, a note, a line discount, a zero-rated
    line, a voided line, service charge, a tip, card and cash."""
    restaurant = make_restaurant()
    order = make_order(
        [
            Line(
                "Flat white",
                300,
                2,
                modifiers=[{"type": "milk", "value": "Oat milk", "price": 50}],
                notes="extra hot",
                discount=Discount("amount", 70),
            ),
            Line("Sandwich", 450, rate_bp=0),
            Line("Soup", 500, voided=True),
        ],
        restaurant=restaurant,
        service_bp=1250,
        tip=100,
    )
    return build_receipt(
        order,
        restaurant,
        {"vatNumber": "GB123456789", "header": ["Open 7 days"], **settings},
        [ReceiptPayment("card", 1000, payment_reference), ReceiptPayment("cash", 500)],
        server_name="Alice",
    )
