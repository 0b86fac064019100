"""Platforms, restaurants and their staff."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fynlo.authz.roles import ALL_ROLES
from fynlo.db.base import Base, RecordModel
from fynlo.db.types import MoneyMinor

DEFAULT_TAX_CONFIGURATION: dict[str, Any] = {
    "vatEnabled": True,
    "vatRate": 20,
    "serviceTaxEnabled": True,
    "serviceTaxRate": 12.5,
    "pricesIncludeVat": True,
}

DEFAULT_PAYMENT_METHODS: dict[str, Any] = {
    "qrCode": {"enabled": True, "feePercentage": 1.2},
    "cash": {"enabled": True, "requiresAuth": False},
    "card": {"enabled": True, "feePercentage": 2.9, "feeFixed": 0.30},
    "applePay": {"enabled": True, "feePercentage": 2.9, "feeFixed": 0.30},
    "giftCard": {"enabled": True, "requiresAuth": True},
}


def _roles_check() -> str:
    return "role IN (" + ", ".join(f"'{r}'" for r in ALL_ROLES) + ")"


class Platform(RecordModel):
    __tablename__ = "platforms"

    name: Mapped[str] = mapped_column(String(255))
    owner_email: Mapped[str] = mapped_column(String(255), unique=True)
    subscription_tier: Mapped[str] = mapped_column(String(50), default="basic")


restaurant_owners = Table(
    "restaurant_owners",
    Base.metadata,
    Column(
        "restaurant_id",
        ForeignKey("restaurants.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_restaurant_owners_user_id", "user_id"),
)


class Restaurant(RecordModel):
    __tablename__ = "restaurants"
    __table_args__ = (Index("ix_restaurants_platform_id", "platform_id"),)

    platform_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("platforms.id"))
    name: Mapped[str] = mapped_column(String(255))
    address: Mapped[dict[str, Any]] = mapped_column(default=dict)
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(50), default="UTC")
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    business_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tax_configuration: Mapped[dict[str, Any]] = mapped_column(
        default=lambda: dict(DEFAULT_TAX_CONFIGURATION)
    )
    payment_methods: Mapped[dict[str, Any]] = mapped_column(
        default=lambda: dict(DEFAULT_PAYMENT_METHODS)
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Loaded with the restaurant where a request needs both (one query instead of two);
    # never lazily, so a forgotten eager load fails loudly instead of querying quietly.
    settings_record: Mapped[RestaurantSettings | None] = relationship(
        "RestaurantSettings", viewonly=True, uselist=False, lazy="raise_on_sql"
    )


class User(RecordModel):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_roles_check(), name="role_valid"),
        Index("ix_users_restaurant_id", "restaurant_id"),
        Index("ix_users_platform_id", "platform_id"),
    )

    email: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(50))
    restaurant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("restaurants.id"))
    platform_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("platforms.id"))
    # {"grant": [...], "revoke": [...]}: per-user additions to and removals from the role.
    permissions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    pin_code_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    last_login: Mapped[datetime | None]
    failed_login_count: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    two_factor_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    two_factor_secret: Mapped[str | None] = mapped_column(Text)  # encrypted, never returned
    two_factor_last_step: Mapped[int | None]
    hourly_rate_minor: Mapped[int | None] = mapped_column(MoneyMinor())
    # Bumped by "log out everywhere", password reset and deactivation: older tokens die.
    token_version: Mapped[int] = mapped_column(default=0, server_default="0")


class RestaurantSettings(RecordModel):
    __tablename__ = "restaurant_settings"

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE"), unique=True
    )
    pos_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    kitchen_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    receipt_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notification_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    hardware_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
