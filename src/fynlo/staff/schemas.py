"""Request and response bodies of the time clock."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from pydantic import AwareDatetime, Field

from fynlo.kit.money import MoneyOut
from fynlo.kit.schemas import RequestSchema, Schema


class BreakIn(RequestSchema):
    start: AwareDatetime
    end: AwareDatetime
    paid: bool = False


class TimeEntryCorrection(RequestSchema):
    clock_in: AwareDatetime | None = None
    clock_out: AwareDatetime | None = Field(
        default=None, description="Closes an open entry (a forgotten clock-out) or moves it"
    )
    breaks: list[BreakIn] | None = Field(default=None, max_length=20)
    reason: str = Field(min_length=3, max_length=500, description="Why, for the audit log")
    version: int = Field(ge=1, description="The version you read; a stale one is a 409")


class BreakOut(Schema):
    start: datetime
    end: datetime | None = None
    paid: bool = False


class TimeEntryOut(Schema):
    id: uuid.UUID
    restaurant_id: uuid.UUID
    user_id: uuid.UUID
    clock_in: datetime
    clock_out: datetime | None
    on_break: bool
    breaks: list[BreakOut]
    break_minutes: int = Field(description="Unpaid break minutes, taken off the hours")
    total_hours: Decimal | None
    hourly_rate: MoneyOut
    forgotten_clock_out: bool = Field(description="Open for more than 16 hours")
    correction_reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class TimesheetEntryOut(TimeEntryOut):
    overtime_hours: Decimal
    gross_pay: MoneyOut


class TimesheetDayOut(Schema):
    date: date
    hours: Decimal
    overtime_hours: Decimal


class TimesheetRulesOut(Schema):
    overtime_daily_hours: Decimal
    overtime_weekly_hours: Decimal
    overtime_multiplier: Decimal
    paid_breaks: bool


class TimesheetOut(Schema):
    user_id: uuid.UUID
    from_: date = Field(alias="from")
    to: date
    timezone: str
    currency: str
    hourly_rate: MoneyOut
    entries: list[TimesheetEntryOut]
    days: list[TimesheetDayOut]
    total_hours: Decimal
    regular_hours: Decimal
    overtime_hours: Decimal
    gross_pay: MoneyOut
    rules: TimesheetRulesOut
