"""The ceiling for ``bench.orders``: the writes of one order, and nothing else.

A bare FastAPI application on asyncpg (no SQLAlchemy, no authentication, no middleware) whose
``POST /api/orders`` takes the same JSON body as Fynlo's and writes, in one transaction, the
rows Fynlo writes for an order taken with ``stockDeductOn: "create"``:

- the day's order number: one upsert on ``order_number_counters`` (``RETURNING``);
- one ``orders`` row and one ``order_items`` row per line;
- per product, one conditional ``UPDATE inventory ... WHERE current + delta >= 0 RETURNING``
  (in product-id order, as Fynlo does, so two orders never wait on each other in a cycle)
  and one ``stock_movements`` row with the balance it returned;
- one ``outbox_events`` row (``new_order``).

into the same migrated schema. Prices come from the menu, read once at start-up (a
``unitPrice`` or modifier ``price`` that disagrees is a 422, as in Fynlo); VAT and the
service charge are computed as Fynlo computes them for a VAT-inclusive menu, so the rows hold
the same values. It does not check who calls, read anything per request, write the audit
chain, switch to the row-security role or build Fynlo's full response: the difference between
the two is what Fynlo's own work costs.

Run by ``bench.orders`` as ``uvicorn bench.ceiling_app:app`` (one worker), configured by:

``BENCH_CEILING_DSN``            asyncpg DSN of the benchmark's database
``BENCH_CEILING_RESTAURANT_ID``  the restaurant the orders are for
``BENCH_CEILING_EMPLOYEE_ID``    the user recorded as having taken them
``BENCH_CEILING_POOL_SIZE``      connections (default 30, Fynlo's pool size + overflow)
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

import asyncpg
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

MILLI = 1000
DAY_STARTS_AT = time(4, 0)

# ---------------------------------------------------------------------------- statements

NEXT_NUMBER = """
INSERT INTO order_number_counters (restaurant_id, business_date, last_value)
VALUES ($1, $2, 1)
ON CONFLICT (restaurant_id, business_date)
DO UPDATE SET last_value = order_number_counters.last_value + 1
RETURNING last_value
"""

INSERT_ORDER = """
INSERT INTO orders (
    id, restaurant_id, order_number, business_date, daily_sequence, employee_id,
    table_number, status, order_type, payment_status, currency, prices_include_vat,
    subtotal_minor, discount_minor, tax_minor, service_charge_minor, tip_minor, total_minor,
    service_charge_rate_bp, service_charge_waived, source, stock_deducted, version,
    created_at, updated_at
) VALUES (
    $1, $2, $3, $4, $5, $6, $7, 'pending', $8, 'unpaid', $9, true,
    $10, 0, $11, $12, 0, $13, $14, false, 'pos', true, 1, $15, $15
)
"""

INSERT_ITEM = """
INSERT INTO order_items (
    id, restaurant_id, order_id, product_id, position, product_name, quantity,
    unit_price_minor, modifiers, modifiers_minor, gross_minor, discount_minor, tax_rate_bp,
    tax_minor, total_minor, kitchen_station, kitchen_status, preparation_time, is_voided,
    created_at, updated_at
) VALUES (
    $1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, 0, $12, $13, $14, $15, 'pending',
    $16, false, $17, $17
)
"""

TAKE_STOCK = """
UPDATE inventory
SET current_stock_milli = current_stock_milli + $3, updated_at = $4
WHERE restaurant_id = $1 AND product_id = $2 AND current_stock_milli + $3 >= 0
RETURNING current_stock_milli
"""

INSERT_MOVEMENT = """
INSERT INTO stock_movements (
    id, restaurant_id, product_id, kind, quantity_milli, balance_after_milli, order_id,
    user_id, reason, created_at, updated_at
) VALUES ($1, $2, $3, 'sale', $4, $5, $6, $7, $8, $9, $9)
"""

INSERT_EVENT = """
INSERT INTO outbox_events (id, restaurant_id, event_type, payload, attempts, created_at,
                           updated_at)
VALUES ($1, $2, 'new_order', $3::jsonb, 0, $4, $4)
"""

# ---------------------------------------------------------------------------- the menu


@dataclass(frozen=True)
class MenuProduct:
    id: uuid.UUID
    name: str
    price_minor: int
    kitchen_station: str | None
    preparation_time: int
    # (group, option) lower-cased -> (group, option, surcharge) as the menu spells them
    options: dict[tuple[str, str], tuple[str, str, int]]


@dataclass(frozen=True)
class Menu:
    restaurant_id: uuid.UUID
    employee_id: uuid.UUID
    currency: str
    timezone: str
    vat_rate_bp: int
    service_charge_bp: int
    products: dict[uuid.UUID, MenuProduct]


def _bp(percent: Any) -> int:
    return int((Decimal(str(percent)) * 100).to_integral_value(ROUND_HALF_UP))


async def load_menu(conn: Any, restaurant_id: uuid.UUID, employee_id: uuid.UUID) -> Menu:
    restaurant = await conn.fetchrow(
        "SELECT currency, timezone, tax_configuration FROM restaurants WHERE id = $1",
        restaurant_id,
    )
    if restaurant is None:
        raise RuntimeError(f"no restaurant {restaurant_id}")
    tax = json.loads(restaurant["tax_configuration"])
    options: dict[uuid.UUID, dict[tuple[str, str], tuple[str, str, int]]] = {}
    for row in await conn.fetch(
        """
        SELECT g.product_id, g.name AS group_name, o.name AS option_name, o.price_minor
        FROM modifier_groups g JOIN modifier_options o ON o.group_id = g.id
        WHERE g.restaurant_id = $1
        """,
        restaurant_id,
    ):
        key = (row["group_name"].lower(), row["option_name"].lower())
        options.setdefault(row["product_id"], {})[key] = (
            row["group_name"],
            row["option_name"],
            int(row["price_minor"]),
        )
    products = {
        row["id"]: MenuProduct(
            id=row["id"],
            name=row["name"],
            price_minor=int(row["price_minor"]),
            kitchen_station=row["kitchen_station"],
            preparation_time=int(row["preparation_time"]),
            options=options.get(row["id"], {}),
        )
        for row in await conn.fetch(
            "SELECT id, name, price_minor, kitchen_station, preparation_time FROM products "
            "WHERE restaurant_id = $1 AND NOT is_archived",
            restaurant_id,
        )
    }
    return Menu(
        restaurant_id=restaurant_id,
        employee_id=employee_id,
        currency=str(restaurant["currency"]),
        timezone=str(restaurant["timezone"]),
        vat_rate_bp=_bp(tax.get("vatRate", 0)) if tax.get("vatEnabled", True) else 0,
        service_charge_bp=_bp(tax.get("serviceTaxRate", 0)) if tax.get("serviceTaxEnabled") else 0,
        products=products,
    )


# ---------------------------------------------------------------------------- the body


class _Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ModifierIn(_Body):
    type: str = Field(min_length=1, max_length=50)
    value: str = Field(min_length=1, max_length=50)
    price: Decimal | None = None


class ItemIn(_Body):
    product_id: uuid.UUID
    quantity: int = Field(ge=1, le=999)
    unit_price: Decimal | None = None
    modifiers: list[ModifierIn] = Field(default_factory=list, max_length=20)


class OrderIn(_Body):
    table_number: str | None = Field(default=None, min_length=1, max_length=20)
    order_type: Literal["dine_in", "takeaway", "delivery"] = "dine_in"
    items: list[ItemIn] = Field(min_length=1, max_length=100)


# ---------------------------------------------------------------------------- pricing


def _half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass(frozen=True)
class Line:
    product: MenuProduct
    quantity: int
    modifiers: list[dict[str, Any]]
    modifiers_minor: int
    gross: int
    tax: int


def _minor(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value(ROUND_HALF_UP))


def _lines(menu: Menu, body: OrderIn) -> list[Line]:
    lines = []
    for index, item in enumerate(body.items):
        product = menu.products.get(item.product_id)
        if product is None:
            raise HTTPException(422, f"items.{index}.productId: unknown product")
        if item.unit_price is not None and _minor(item.unit_price) != product.price_minor:
            raise HTTPException(422, f"items.{index}.unitPrice: not the menu price")
        chosen: list[dict[str, Any]] = []
        surcharge = 0
        for modifier in item.modifiers:
            option = product.options.get((modifier.type.lower(), modifier.value.lower()))
            if option is None:
                raise HTTPException(422, f"items.{index}: no {modifier.type} {modifier.value}")
            if modifier.price is not None and _minor(modifier.price) != option[2]:
                raise HTTPException(422, f"items.{index}: not the menu price of {option[1]}")
            chosen.append({"type": option[0], "value": option[1], "price": option[2]})
            surcharge += option[2]
        gross = (product.price_minor + surcharge) * item.quantity
        # VAT inside a VAT-inclusive price: gross x r / (1 + r), half up
        tax = _half_up(gross * menu.vat_rate_bp, 10_000 + menu.vat_rate_bp)
        lines.append(Line(product, item.quantity, chosen, surcharge, gross, tax))
    return lines


def _business_date(now: datetime, timezone: str) -> date:
    local = now.astimezone(ZoneInfo(timezone))
    return (local - timedelta(hours=DAY_STARTS_AT.hour, minutes=DAY_STARTS_AT.minute)).date()


# ---------------------------------------------------------------------------- the app


@dataclass
class State:
    pool: Any = None
    menu: Menu | None = None


state = State()


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    size = int(os.environ.get("BENCH_CEILING_POOL_SIZE", "30"))
    state.pool = await asyncpg.create_pool(
        os.environ["BENCH_CEILING_DSN"],
        min_size=min(size, 10),
        max_size=size,
        server_settings={"application_name": "fynlo-bench-ceiling", "timezone": "UTC"},
    )
    async with state.pool.acquire() as conn:
        state.menu = await load_menu(
            conn,
            uuid.UUID(os.environ["BENCH_CEILING_RESTAURANT_ID"]),
            uuid.UUID(os.environ["BENCH_CEILING_EMPLOYEE_ID"]),
        )
    try:
        yield
    finally:
        await state.pool.close()


app = FastAPI(title="Fynlo orders ceiling", lifespan=lifespan, docs_url=None, redoc_url=None)


@app.get("/api/health")
async def health() -> dict[str, Any]:
    return {"success": True, "data": {"status": "ok"}}


@app.post("/api/orders", status_code=201)
async def create_order(body: OrderIn) -> dict[str, Any]:
    menu = state.menu
    assert menu is not None
    lines = _lines(menu, body)
    subtotal = sum(line.gross for line in lines)
    tax = sum(line.tax for line in lines)
    rate = menu.service_charge_bp if body.order_type == "dine_in" else 0
    service_charge = _half_up(subtotal * rate, 10_000)
    total = subtotal + service_charge
    now = datetime.now(UTC)
    day = _business_date(now, menu.timezone)
    order_id = uuid.uuid4()
    rid = menu.restaurant_id
    quantities: dict[uuid.UUID, int] = {}
    for line in lines:
        quantities[line.product.id] = quantities.get(line.product.id, 0) + line.quantity

    async with state.pool.acquire() as conn, conn.transaction():
        sequence = await conn.fetchval(NEXT_NUMBER, rid, day)
        number = f"{day:%y%m%d}-{sequence:04d}"
        await conn.execute(
            INSERT_ORDER,
            order_id,
            rid,
            number,
            day,
            sequence,
            menu.employee_id,
            body.table_number,
            body.order_type,
            menu.currency,
            subtotal,
            tax,
            service_charge,
            total,
            rate,
            now,
        )
        await conn.executemany(
            INSERT_ITEM,
            [
                (
                    uuid.uuid4(),
                    rid,
                    order_id,
                    line.product.id,
                    position,
                    line.product.name,
                    line.quantity,
                    line.product.price_minor,
                    json.dumps(line.modifiers),
                    line.modifiers_minor,
                    line.gross,
                    menu.vat_rate_bp,
                    line.tax,
                    line.gross,
                    line.product.kitchen_station,
                    line.product.preparation_time,
                    now,
                )
                for position, line in enumerate(lines)
            ],
        )
        movements = []
        for product_id in sorted(quantities, key=str):
            delta = -quantities[product_id] * MILLI
            balance = await conn.fetchval(TAKE_STOCK, rid, product_id, delta, now)
            if balance is None:  # the exception rolls the transaction back
                raise HTTPException(409, f"not enough stock of {product_id}")
            movements.append(
                (
                    uuid.uuid4(),
                    rid,
                    product_id,
                    delta,
                    balance,
                    order_id,
                    menu.employee_id,
                    f"order {number}",
                    now,
                )
            )
        await conn.executemany(INSERT_MOVEMENT, movements)
        payload = {
            "orderId": str(order_id),
            "orderNumber": number,
            "status": "pending",
            "tableNumber": body.table_number,
            "orderType": body.order_type,
            "total": total / 100,
            "version": 1,
            "itemCount": sum(line.quantity for line in lines),
        }
        await conn.execute(INSERT_EVENT, uuid.uuid4(), rid, json.dumps(payload), now)
    return {
        "success": True,
        "data": {"id": str(order_id), "orderNumber": number, "totalAmount": total / 100},
    }
