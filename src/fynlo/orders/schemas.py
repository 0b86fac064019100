"""Order requests and responses, in the spec's shapes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from fynlo.kit.money import MoneyIn, MoneyOut, PercentOut
from fynlo.kit.schemas import RequestSchema, Schema

OrderType = Literal["dine_in", "takeaway", "delivery"]
OrderStatus = Literal[
    "pending", "confirmed", "preparing", "ready", "served", "completed", "cancelled"
]


class DiscountIn(RequestSchema):
    type: Literal["percent", "amount"]
    value: Decimal = Field(ge=0, le=Decimal("9999999.99"), max_digits=12, decimal_places=3)
    reason: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _percent_range(self) -> DiscountIn:
        if self.type == "percent" and self.value > 100:
            raise ValueError("a percentage discount is at most 100")
        return self


class ModifierIn(RequestSchema):
    """The spec's ``{"type": "size", "value": "large", "price": 2.00}``: group and option."""

    type: str = Field(min_length=1, max_length=50)
    value: str = Field(min_length=1, max_length=50)
    price: MoneyIn | None = None


class OrderItemIn(RequestSchema):
    product_id: uuid.UUID
    quantity: int = Field(ge=1, le=999)
    unit_price: MoneyIn | None = Field(
        default=None,
        description="Optional check: the menu's base price the till showed. A different "
        "value is refused (422) rather than charged.",
    )
    modifiers: list[ModifierIn] = Field(default_factory=list, max_length=20)
    notes: str | None = Field(default=None, max_length=500)
    discount: DiscountIn | None = None
    course: int = Field(default=1, ge=1, le=9, description="1 = starters, 2 = mains, ...")
    hold: bool | None = Field(
        default=None,
        description="true keeps the item from the kitchen until it is fired "
        "(POST /api/kitchen/orders/{id}/fire); omitted follows kitchen.holdLaterCourses",
    )


class OrderCreate(RequestSchema):
    customer_id: uuid.UUID | None = None
    table_number: str | None = Field(default=None, min_length=1, max_length=20)
    table_id: uuid.UUID | None = None
    order_type: OrderType = "dine_in"
    items: list[OrderItemIn] = Field(min_length=1, max_length=100)
    notes: str | None = Field(default=None, max_length=1000)
    kitchen_notes: str | None = Field(default=None, max_length=1000)
    special_requests: str | None = Field(default=None, max_length=1000)
    discount: DiscountIn | None = None
    tip_amount: MoneyIn | None = None
    service_charge: bool | None = Field(
        default=None,
        description="false removes the service charge (needs orders.service_charge); "
        "omitted applies the restaurant's rule",
    )


class OrderItemsAdd(RequestSchema):
    items: list[OrderItemIn] = Field(min_length=1, max_length=100)
    version: int | None = Field(default=None, ge=1)


class OrderStatusUpdate(RequestSchema):
    status: OrderStatus
    estimated_completion: datetime | None = None
    reason: str | None = Field(default=None, min_length=1, max_length=500)
    version: int | None = Field(default=None, ge=1)


class OrderCancel(RequestSchema):
    reason: str = Field(min_length=1, max_length=500)
    version: int | None = Field(default=None, ge=1)


class OrderAdjust(RequestSchema):
    """Order-level changes after it was opened: discount, tip, service charge, notes."""

    discount: DiscountIn | None = None
    remove_discount: bool = False
    tip_amount: MoneyIn | None = None
    service_charge: bool | None = None
    notes: str | None = Field(default=None, max_length=1000)
    version: int | None = Field(default=None, ge=1)


class ModifierOut(Schema):
    type: str
    value: str
    price: MoneyOut


class OrderItemOut(Schema):
    id: uuid.UUID
    product_id: uuid.UUID
    product_name: str
    quantity: int
    unit_price: MoneyOut
    modifiers: list[ModifierOut]
    total_price: MoneyOut
    discount_amount: MoneyOut
    tax_rate: PercentOut
    tax_amount: MoneyOut
    notes: str | None
    kitchen_station: str | None
    kitchen_status: str
    preparation_time: int
    course: int
    held: bool
    sent_to_kitchen_at: datetime | None
    is_voided: bool
    void_reason: str | None


class VatLine(Schema):
    rate: PercentOut
    net: MoneyOut
    vat: MoneyOut


class OrderOut(Schema):
    id: uuid.UUID
    order_number: str
    restaurant_id: uuid.UUID
    business_date: date
    customer_id: uuid.UUID | None
    employee_id: uuid.UUID | None
    table_id: uuid.UUID | None
    table_number: str | None
    status: str
    next_statuses: list[str]
    order_type: str
    payment_status: str
    currency: str
    prices_include_vat: bool
    subtotal: MoneyOut
    discount_amount: MoneyOut
    tax_amount: MoneyOut
    service_charge: MoneyOut
    service_charge_rate: PercentOut
    service_charge_waived: bool
    tip_amount: MoneyOut
    total_amount: MoneyOut
    vat_breakdown: list[VatLine]
    notes: str | None
    kitchen_notes: str | None
    special_requests: str | None
    estimated_completion: datetime | None
    confirmed_at: datetime | None
    ready_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    rush: bool = Field(description="Flagged by staff to go first on the kitchen display")
    source: str
    version: int
    items: list[OrderItemOut]
    created_at: datetime
    updated_at: datetime


class OrderPreviewOut(Schema):
    currency: str
    prices_include_vat: bool
    subtotal: MoneyOut
    discount_amount: MoneyOut
    tax_amount: MoneyOut
    service_charge: MoneyOut
    service_charge_rate: PercentOut
    tip_amount: MoneyOut
    total_amount: MoneyOut
    vat_breakdown: list[VatLine]
    items: list[PreviewItemOut]


class PreviewItemOut(Schema):
    product_id: uuid.UUID
    product_name: str
    quantity: int
    unit_price: MoneyOut
    modifiers: list[ModifierOut]
    total_price: MoneyOut
    discount_amount: MoneyOut
    tax_rate: PercentOut
    tax_amount: MoneyOut


OrderPreviewOut.model_rebuild()


class OfflineOrder(OrderCreate):
    id: uuid.UUID = Field(description="Generated by the till; the same id is never created twice")
    created_at: datetime = Field(description="When the till took the order (its own clock)")


class OrderSyncIn(RequestSchema):
    device_id: uuid.UUID | None = None
    orders: list[OfflineOrder] = Field(min_length=1, max_length=100)


class SyncError(Schema):
    code: str
    message: str
    details: object | None = None


class SyncResult(Schema):
    id: uuid.UUID
    status: Literal["created", "already_present", "rejected"]
    order_number: str | None = None
    error: SyncError | None = None


class OrderSyncOut(Schema):
    results: list[SyncResult]
    created: int
    already_present: int
    rejected: int
