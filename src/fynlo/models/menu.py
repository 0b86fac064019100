"""The menu: categories, products and their modifier groups."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fynlo.db.base import RecordModel
from fynlo.db.types import MoneyMinor


class Category(RecordModel):
    __tablename__ = "categories"
    __table_args__ = (
        Index("ix_categories_restaurant_id_sort_order", "restaurant_id", "sort_order"),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)
    color: Mapped[str | None] = mapped_column(String(20))
    sort_order: Mapped[int] = mapped_column(default=0, server_default="0")
    # Where this category's products are prepared unless a product says otherwise.
    kitchen_station: Mapped[str | None] = mapped_column(String(50))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class Product(RecordModel):
    __tablename__ = "products"
    __table_args__ = (
        Index("ix_products_restaurant_id_category_id", "restaurant_id", "category_id"),
        Index("ix_products_restaurant_id_barcode", "restaurant_id", "barcode"),
        CheckConstraint("price_minor >= 0", name="price_not_negative"),
        CheckConstraint("cost_price_minor >= 0", name="cost_not_negative"),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    category_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("categories.id"))
    subcategory: Mapped[str | None] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    price_minor: Mapped[int] = mapped_column(MoneyMinor())
    cost_price_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0, server_default="0")
    image_url: Mapped[str | None] = mapped_column(Text)
    barcode: Mapped[str | None] = mapped_column(String(50))
    is_available: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Deleting a product that orders reference archives it: hidden from the menu, kept for
    # the orders and receipts that name it.
    is_archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    dietary_info: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    preparation_time: Mapped[int] = mapped_column(default=0, server_default="0")
    kitchen_station: Mapped[str | None] = mapped_column(String(50))
    sort_order: Mapped[int] = mapped_column(default=0, server_default="0")
    # Key into the restaurant's tax categories ("standard" is the VAT rate); the takeaway
    # category, when set, applies to takeaway and delivery orders (zero-rated cold food).
    tax_category: Mapped[str] = mapped_column(String(30), default="standard")
    takeaway_tax_category: Mapped[str | None] = mapped_column(String(30))
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    modifier_groups: Mapped[list[ModifierGroup]] = relationship(
        back_populates="product",
        order_by="ModifierGroup.sort_order",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class ModifierGroup(RecordModel):
    """A choice on a product: "size" (exactly one of small/large), "extras" (up to 3)."""

    __tablename__ = "modifier_groups"
    __table_args__ = (
        Index("ix_modifier_groups_restaurant_id_product_id", "restaurant_id", "product_id"),
        CheckConstraint("min_choices >= 0", name="min_not_negative"),
        CheckConstraint("max_choices >= min_choices", name="max_not_below_min"),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))
    min_choices: Mapped[int] = mapped_column(default=0)
    max_choices: Mapped[int] = mapped_column(default=1)
    sort_order: Mapped[int] = mapped_column(default=0, server_default="0")

    product: Mapped[Product] = relationship(back_populates="modifier_groups")
    options: Mapped[list[ModifierOption]] = relationship(
        back_populates="group",
        order_by="ModifierOption.sort_order",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class ModifierOption(RecordModel):
    __tablename__ = "modifier_options"
    __table_args__ = (
        Index("ix_modifier_options_restaurant_id_group_id", "restaurant_id", "group_id"),
        CheckConstraint("price_minor >= 0", name="price_not_negative"),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("modifier_groups.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(50))
    price_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0)
    is_available: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    sort_order: Mapped[int] = mapped_column(default=0, server_default="0")

    group: Mapped[ModifierGroup] = relationship(back_populates="options")
