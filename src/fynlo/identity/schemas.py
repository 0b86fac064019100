"""Request and response bodies for users and restaurants."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime
from decimal import Decimal
from typing import Any

from babel.numbers import get_currency_name
from pydantic import EmailStr, Field, field_validator

from fynlo.authz.roles import Role
from fynlo.kit.schemas import RequestSchema, Schema


def _valid_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name like Europe/London)"
        ) from exc
    return value


def _valid_currency(value: str) -> str:
    code = value.upper()
    if len(code) != 3 or get_currency_name(code, locale="en") == code:
        raise ValueError(f"unknown ISO 4217 currency {value!r}")
    return code


class PermissionOverrides(RequestSchema):
    grant: list[str] = Field(default_factory=list)
    revoke: list[str] = Field(default_factory=list)


class UserCreate(RequestSchema):
    email: EmailStr
    password: str = Field(min_length=1, max_length=128)
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    role: Role
    restaurant_id: uuid.UUID | None = Field(default=None, description="Defaults to yours")
    pin: str | None = Field(default=None, pattern=r"^[0-9]{4,6}$")
    hourly_rate: Decimal | None = Field(default=None, ge=0, le=10_000, decimal_places=2)
    permissions: PermissionOverrides | None = None


class UserUpdate(RequestSchema):
    email: EmailStr | None = None
    password: str | None = Field(default=None, min_length=1, max_length=128)
    first_name: str | None = Field(default=None, min_length=1, max_length=100)
    last_name: str | None = Field(default=None, min_length=1, max_length=100)
    role: Role | None = None
    pin: str | None = Field(default=None, pattern=r"^[0-9]{4,6}$")
    hourly_rate: Decimal | None = Field(default=None, ge=0, le=10_000, decimal_places=2)
    permissions: PermissionOverrides | None = None
    is_active: bool | None = None


class UserOut(Schema):
    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    role: str
    restaurant_id: uuid.UUID | None
    platform_id: uuid.UUID | None
    permissions: dict[str, Any]
    has_pin: bool
    is_active: bool
    two_factor_enabled: bool
    hourly_rate: float | None
    last_login: datetime | None
    created_at: datetime


class TaxConfiguration(RequestSchema):
    vat_enabled: bool = True
    vat_rate: Decimal = Field(default=Decimal(20), ge=0, le=100)
    service_tax_enabled: bool = True
    service_tax_rate: Decimal = Field(default=Decimal("12.5"), ge=0, le=100)
    prices_include_vat: bool = True
    tax_categories: dict[str, Decimal] = Field(
        default_factory=dict, description="Rate per product tax category, e.g. {'zero': 0}"
    )

    @field_validator("tax_categories")
    @classmethod
    def _rates(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for name, rate in value.items():
            if not 0 <= rate <= 100:
                raise ValueError(f"rate of tax category {name!r} must be between 0 and 100")
        return value


class PaymentMethodConfig(RequestSchema):
    enabled: bool = True
    fee_percentage: Decimal = Field(default=Decimal(0), ge=0, le=100)
    fee_fixed: Decimal = Field(default=Decimal(0), ge=0, le=100)
    requires_auth: bool = False


class PaymentMethods(RequestSchema):
    qr_code: PaymentMethodConfig | None = None
    cash: PaymentMethodConfig | None = None
    card: PaymentMethodConfig | None = None
    apple_pay: PaymentMethodConfig | None = None
    google_pay: PaymentMethodConfig | None = None
    gift_card: PaymentMethodConfig | None = None
    upi: PaymentMethodConfig | None = None
    razorpay: PaymentMethodConfig | None = Field(
        default=None, description="Older name of `upi` (Razorpay); `upi` wins when both are set"
    )


class RestaurantCreate(RequestSchema):
    name: str = Field(min_length=1, max_length=255)
    address: dict[str, Any]
    phone: str | None = Field(default=None, max_length=20)
    email: EmailStr | None = None
    timezone: str = "UTC"
    currency: str = "GBP"
    business_hours: dict[str, Any] = Field(default_factory=dict)
    owner_id: uuid.UUID | None = Field(default=None, description="An existing restaurant owner")

    _tz = field_validator("timezone")(_valid_timezone)
    _cur = field_validator("currency")(_valid_currency)


class RestaurantUpdate(RequestSchema):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    address: dict[str, Any] | None = None
    phone: str | None = Field(default=None, max_length=20)
    email: EmailStr | None = None
    timezone: str | None = None
    currency: str | None = None
    business_hours: dict[str, Any] | None = None
    is_active: bool | None = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else _valid_timezone(value)

    @field_validator("currency")
    @classmethod
    def _cur(cls, value: str | None) -> str | None:
        return None if value is None else _valid_currency(value)


class RestaurantOut(Schema):
    id: uuid.UUID
    platform_id: uuid.UUID
    name: str
    address: dict[str, Any]
    phone: str | None
    email: str | None
    timezone: str
    currency: str
    business_hours: dict[str, Any]
    settings: dict[str, Any]
    tax_configuration: dict[str, Any]
    payment_methods: dict[str, Any]
    is_active: bool
    created_at: datetime
    updated_at: datetime


class SettingsUpdate(RequestSchema):
    pos: dict[str, Any] | None = None
    kitchen: dict[str, Any] | None = None
    receipt: dict[str, Any] | None = None
    notification: dict[str, Any] | None = None
    hardware: dict[str, Any] | None = None
    tax_configuration: TaxConfiguration | None = None
    payment_methods: PaymentMethods | None = None


class SettingsOut(Schema):
    restaurant_id: uuid.UUID
    pos: dict[str, Any]
    kitchen: dict[str, Any]
    receipt: dict[str, Any]
    notification: dict[str, Any]
    hardware: dict[str, Any]
    tax_configuration: dict[str, Any]
    payment_methods: dict[str, Any]


class AuditLogOut(Schema):
    id: uuid.UUID
    restaurant_id: uuid.UUID | None
    user_id: uuid.UUID | None
    action: str
    resource_type: str
    resource_id: str | None
    old_values: dict[str, Any] | None
    new_values: dict[str, Any] | None
    ip_address: str | None
    user_agent: str | None
    created_at: datetime
    seq: int
    hash: str
