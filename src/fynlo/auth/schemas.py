"""Auth request and response bodies, in the shapes of the spec."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import EmailStr, Field

from fynlo.kit.schemas import RequestSchema, Schema


class LoginIn(RequestSchema):
    email: EmailStr
    password: str = Field(min_length=1, max_length=128)


class PinLoginIn(RequestSchema):
    user_id: uuid.UUID
    pin: str = Field(pattern=r"^[0-9]{4,6}$", description="4 to 6 digits")


class RefreshIn(RequestSchema):
    refresh_token: str = Field(min_length=1, max_length=2048)


class LogoutIn(RequestSchema):
    refresh_token: str | None = Field(default=None, max_length=2048)
    all_devices: bool = False


class UserSummary(Schema):
    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    role: str
    restaurant_id: uuid.UUID | None
    permissions: list[str] = Field(
        description="Coarse permissions for the front end", examples=[["pos", "reports"]]
    )


class Tokens(Schema):
    access: str
    refresh: str | None = Field(description="Absent for PIN sessions at a till")


class RestaurantSummary(Schema):
    id: uuid.UUID
    name: str
    timezone: str
    currency: str
    settings: dict[str, Any]


class LoginOut(Schema):
    user: UserSummary
    tokens: Tokens
    restaurant: RestaurantSummary | None


class TwoFactorChallengeOut(Schema):
    two_factor_required: Literal[True] = True
    challenge_token: str
    methods: list[str] = ["totp", "recovery_code"]


class LogoutOut(Schema):
    logged_out: Literal[True] = True
    all_devices: bool


class DeviceIn(RequestSchema):
    name: str = Field(min_length=1, max_length=100)
    restaurant_id: uuid.UUID | None = Field(
        default=None, description="Defaults to the caller's restaurant"
    )


class DeviceOut(Schema):
    id: uuid.UUID
    restaurant_id: uuid.UUID
    name: str
    is_active: bool


class DeviceCreatedOut(DeviceOut):
    device_token: str = Field(description="Shown once: the till keeps it and sends X-Device-Token")
