"""Stock: the current level per product, and the append-only ledger it follows from."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from fynlo.db.base import RecordModel
from fynlo.db.types import MoneyMinor

# Quantities are integer thousandths of the unit (grams of a kilo, millilitres of a litre),
# so that stock arithmetic is exact on SQLite and PostgreSQL alike.
MILLI = 1000

MOVEMENT_KINDS = ("sale", "cancel", "restock", "waste", "count", "adjustment")


class InventoryItem(RecordModel):
    __tablename__ = "inventory"
    __table_args__ = (
        Index("ix_inventory_restaurant_id_product_id", "restaurant_id", "product_id", unique=True),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    current_stock_milli: Mapped[int] = mapped_column(BigInteger, default=0)
    minimum_stock_milli: Mapped[int] = mapped_column(BigInteger, default=0)
    maximum_stock_milli: Mapped[int | None] = mapped_column(BigInteger)
    reorder_point_milli: Mapped[int | None] = mapped_column(BigInteger)
    reorder_quantity_milli: Mapped[int | None] = mapped_column(BigInteger)
    unit: Mapped[str] = mapped_column(String(50), default="each")
    cost_per_unit_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0)
    supplier_name: Mapped[str | None] = mapped_column(String(255))
    supplier_contact: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_restocked: Mapped[datetime | None]
    auto_reorder: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    turnover_rate: Mapped[str] = mapped_column(String(50), default="medium")
    # Set when stock falls to the reorder point, cleared when it rises above: one alert
    # per crossing, not one per sale.
    low_stock_alerted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class StockMovement(RecordModel):
    """One change of stock. Rows are never updated or deleted."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        Index("ix_stock_movements_restaurant_id_product_id", "restaurant_id", "product_id"),
        Index("ix_stock_movements_restaurant_id_order_id", "restaurant_id", "order_id"),
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in MOVEMENT_KINDS) + ")", name="kind_valid"
        ),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    quantity_milli: Mapped[int] = mapped_column(BigInteger)  # signed: + in, - out
    balance_after_milli: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column(Text)


class ReorderRequest(RecordModel):
    __tablename__ = "reorder_requests"
    __table_args__ = (
        Index("ix_reorder_requests_restaurant_id_product_id", "restaurant_id", "product_id"),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    quantity_milli: Mapped[int] = mapped_column(BigInteger)
    supplier_name: Mapped[str | None] = mapped_column(String(255))
    supplier_contact: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="requested")
    automatic: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    notes: Mapped[str | None] = mapped_column(Text)
