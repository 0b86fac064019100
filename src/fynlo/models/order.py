"""Orders, their items and the per-day order-number counters."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fynlo.db.base import Base, RecordModel
from fynlo.db.types import MoneyMinor

ORDER_STATUSES = ("pending", "confirmed", "preparing", "ready", "served", "completed", "cancelled")
ORDER_TYPES = ("dine_in", "takeaway", "delivery")
PAYMENT_STATUSES = ("unpaid", "partially_paid", "paid", "partially_refunded", "refunded")
ITEM_KITCHEN_STATUSES = ("pending", "preparing", "ready", "served")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Order(RecordModel):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("restaurant_id", "business_date", "daily_sequence"),
        Index("ix_orders_restaurant_id_created_at", "restaurant_id", "created_at"),
        Index("ix_orders_restaurant_id_status", "restaurant_id", "status"),
        Index("ix_orders_restaurant_id_table_id", "restaurant_id", "table_id"),
        Index("ix_orders_restaurant_id_customer_id", "restaurant_id", "customer_id"),
        Index("ix_orders_restaurant_id_ready_at", "restaurant_id", "ready_at"),
        CheckConstraint(_in("status", ORDER_STATUSES), name="status_valid"),
        CheckConstraint(_in("order_type", ORDER_TYPES), name="order_type_valid"),
        CheckConstraint(_in("payment_status", PAYMENT_STATUSES), name="payment_status_valid"),
        CheckConstraint("total_minor >= 0", name="total_not_negative"),
        CheckConstraint("paid_minor >= 0 AND refunded_minor >= 0", name="paid_not_negative"),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    order_number: Mapped[str] = mapped_column(String(50))
    business_date: Mapped[date] = mapped_column(Date)
    daily_sequence: Mapped[int]
    customer_id: Mapped[uuid.UUID | None]
    employee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    table_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("dining_tables.id"))
    table_number: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    order_type: Mapped[str] = mapped_column(String(20), default="dine_in")
    payment_status: Mapped[str] = mapped_column(String(20), default="unpaid")
    currency: Mapped[str] = mapped_column(String(3))
    prices_include_vat: Mapped[bool] = mapped_column(Boolean)
    subtotal_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0)
    discount_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0)
    tax_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0)
    service_charge_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0)
    tip_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0)
    total_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0)
    # Payments against the total (tips on tenders excluded) and refunds of them.
    paid_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0, server_default="0")
    refunded_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0, server_default="0")
    # Tips added on tenders, on top of the order's own tip_minor.
    tender_tips_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0, server_default="0")
    # Service charge rate in basis points (1250 = 12.5 %), fixed when the order is opened.
    service_charge_rate_bp: Mapped[int] = mapped_column(default=0)
    service_charge_waived: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # {"type": "percent"|"amount", "value": ..., "reason": ...}; None for no order discount.
    order_discount: Mapped[dict[str, Any] | None] = mapped_column()
    notes: Mapped[str | None] = mapped_column(Text)
    kitchen_notes: Mapped[str | None] = mapped_column(Text)
    special_requests: Mapped[str | None] = mapped_column(Text)
    estimated_completion: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    cancelled_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    stock_deducted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    source: Mapped[str] = mapped_column(String(20), default="pos")
    device_id: Mapped[uuid.UUID | None]
    client_created_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    # The kitchen's rush flag (manual priority) and when every item was last ready.
    rush: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    ready_at: Mapped[datetime | None]

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order",
        order_by="OrderItem.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class OrderItem(RecordModel):
    __tablename__ = "order_items"
    __table_args__ = (
        Index("ix_order_items_restaurant_id_order_id", "restaurant_id", "order_id"),
        Index("ix_order_items_restaurant_id_product_id", "restaurant_id", "product_id"),
        Index("ix_order_items_restaurant_id_ready_at", "restaurant_id", "ready_at"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(_in("kitchen_status", ITEM_KITCHEN_STATUSES), name="kitchen_status_valid"),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    position: Mapped[int] = mapped_column(default=0)
    product_name: Mapped[str] = mapped_column(String(255))
    quantity: Mapped[int]
    unit_price_minor: Mapped[int] = mapped_column(MoneyMinor())
    # [{"type": "size", "value": "large", "price": <minor>}]: names and prices as charged.
    modifiers: Mapped[list[Any]] = mapped_column(default=list)
    modifiers_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0)
    line_discount: Mapped[dict[str, Any] | None] = mapped_column()
    gross_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0)
    discount_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0)
    tax_rate_bp: Mapped[int] = mapped_column(default=0)
    tax_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0)
    total_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0)
    notes: Mapped[str | None] = mapped_column(Text)
    kitchen_station: Mapped[str | None] = mapped_column(String(50))
    kitchen_status: Mapped[str] = mapped_column(String(20), default="pending")
    preparation_time: Mapped[int] = mapped_column(default=0)
    is_voided: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    void_reason: Mapped[str | None] = mapped_column(Text)
    voided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    voided_at: Mapped[datetime | None]
    # Fired: when the kitchen got it. Held items (a later course) stay unsent until fired.
    sent_to_kitchen_at: Mapped[datetime | None]
    course: Mapped[int] = mapped_column(default=1, server_default="1")
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    started_at: Mapped[datetime | None]
    ready_at: Mapped[datetime | None]
    served_at: Mapped[datetime | None]
    # Seconds from fired to ready, as the kitchen reported it or as measured; and whether
    # that went past the product's preparation time.
    prep_seconds: Mapped[int | None]
    was_late: Mapped[bool | None] = mapped_column(Boolean)

    order: Mapped[Order] = relationship(back_populates="items")


class OrderNumberCounter(Base):
    """The last order number handed out per restaurant and business day.

    Incremented with one atomic upsert, so concurrent orders never share a number.
    """

    __tablename__ = "order_number_counters"

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE"), primary_key=True
    )
    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    last_value: Mapped[int] = mapped_column(default=0)
