"""Request and response bodies of ``/api/inventory``.

Quantities are decimal numbers with at most three decimals (stored as integer thousandths);
money is decimal major units (stored as integer minor units).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, EmailStr, Field, PlainSerializer

from fynlo.kit.money import MoneyIn, MoneyOut
from fynlo.kit.schemas import RequestSchema, Schema

MAX_QUANTITY = Decimal("999999999.999")

Quantity = Annotated[
    Decimal, Field(ge=0, le=MAX_QUANTITY, max_digits=12, decimal_places=3, allow_inf_nan=False)
]
PositiveQuantity = Annotated[
    Decimal, Field(gt=0, le=MAX_QUANTITY, max_digits=12, decimal_places=3, allow_inf_nan=False)
]
QuantityOut = Annotated[
    Decimal, PlainSerializer(lambda value: float(value), return_type=float, when_used="json")
]

StockStatus = Literal["in_stock", "low_stock", "out_of_stock"]
AlertLevel = Literal["low_stock", "out_of_stock"]
TurnoverRate = Literal["low", "medium", "high"]
MovementKind = Literal["sale", "cancel", "restock", "waste", "count", "adjustment"]
ReorderStatus = Literal["requested", "ordered", "received", "cancelled"]


class SupplierContact(RequestSchema):
    name: str | None = Field(default=None, max_length=255, description="Contact person")
    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=30)
    address: str | None = Field(default=None, max_length=500)
    account_number: str | None = Field(default=None, max_length=100)
    notes: str | None = Field(default=None, max_length=1000)


class InventoryUpdate(RequestSchema):
    """Settings given are changed; ``null`` clears a nullable one.

    ``currentStock`` is a count: the ledger records the difference from the level on file
    (kind ``count``). ``restockQuantity`` is a delivery added to the level (kind
    ``restock``). At most one of the two per request.
    """

    current_stock: Quantity | None = Field(default=None, description="Counted level")
    restock_quantity: PositiveQuantity | None = Field(default=None, description="Delivered")
    reason: str | None = Field(default=None, min_length=1, max_length=500)
    last_restocked: AwareDatetime | None = None
    minimum_stock: Quantity | None = None
    maximum_stock: Quantity | None = None
    reorder_point: Quantity | None = None
    reorder_quantity: PositiveQuantity | None = None
    unit: str | None = Field(default=None, min_length=1, max_length=50)
    cost_per_unit: MoneyIn | None = None
    supplier: str | None = Field(default=None, min_length=1, max_length=255)
    supplier_contact: SupplierContact | None = None
    auto_reorder: bool | None = None
    turnover_rate: TurnoverRate | None = None


class WasteCreate(RequestSchema):
    product_id: uuid.UUID
    quantity: PositiveQuantity
    reason: str = Field(min_length=1, max_length=500)


class ReorderCreate(RequestSchema):
    product_id: uuid.UUID
    quantity: PositiveQuantity | None = Field(
        default=None,
        description="Defaults to the reorder quantity, else refills to the maximum stock",
    )
    notes: str | None = Field(default=None, min_length=1, max_length=1000)


class InventoryOut(Schema):
    product_id: uuid.UUID
    product_name: str
    current_stock: QuantityOut
    minimum_stock: QuantityOut
    maximum_stock: QuantityOut | None
    reorder_point: QuantityOut | None
    reorder_quantity: QuantityOut | None
    unit: str
    cost_per_unit: MoneyOut
    currency: str
    supplier: str | None
    supplier_contact: dict[str, Any]
    last_restocked: datetime | None
    auto_reorder: bool
    turnover_rate: str
    status: StockStatus
    stock_value: MoneyOut
    updated_at: datetime


class MovementOut(Schema):
    id: uuid.UUID
    product_id: uuid.UUID
    kind: str
    quantity: QuantityOut = Field(description="Signed: positive in, negative out")
    balance_after: QuantityOut
    order_id: uuid.UUID | None
    user_id: uuid.UUID | None
    reason: str | None
    created_at: datetime


class StockChangeOut(Schema):
    movement: MovementOut
    inventory: InventoryOut


class ReorderOut(Schema):
    id: uuid.UUID
    product_id: uuid.UUID
    product_name: str
    quantity: QuantityOut
    unit: str | None
    supplier: str | None
    supplier_contact: dict[str, Any]
    estimated_cost: MoneyOut | None
    currency: str
    status: str
    automatic: bool
    requested_by: uuid.UUID | None
    notes: str | None
    created_at: datetime


class AlertOut(Schema):
    product_id: uuid.UUID
    product_name: str
    level: AlertLevel
    current_stock: QuantityOut
    minimum_stock: QuantityOut
    reorder_point: QuantityOut = Field(description="The threshold in force")
    unit: str
    supplier: str | None
    auto_reorder: bool
    reorder_pending: bool = Field(description="A reorder request is still open")
