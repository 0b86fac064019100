"""Request and response bodies of the time clock, shifts and tip pools."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, Field, field_validator

from fynlo.authz.roles import ALL_ROLES, Role
from fynlo.kit.money import MoneyOut
from fynlo.kit.schemas import RequestSchema, Schema
from fynlo.staff.timesheet import out_of_years


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
    tips: MoneyOut = Field(description="This person's share of the business day's tip pool")


class TimesheetRulesOut(Schema):
    overtime_daily_hours: Decimal
    overtime_weekly_hours: Decimal
    overtime_multiplier: Decimal
    paid_breaks: bool
    tip_pooling: bool = Field(description="The pos setting tipPooling.enabled")


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
    tips: MoneyOut = Field(description="Tip shares of the days shown")
    rules: TimesheetRulesOut


# --- shifts ----------------------------------------------------------------------------------

SHIFT_ROLES = tuple(role for role in ALL_ROLES if role != Role.PLATFORM_OWNER)
MAX_SHIFTS_PER_REQUEST = 100


def _plausible_day(value: date) -> date:
    if problem := out_of_years(value):
        raise ValueError(problem)
    return value


def _plausible_moment(value: datetime) -> datetime:
    # The local date first: converting a year-1 time to UTC would overflow.
    _plausible_day(value.date())
    return value


RotaDay = Annotated[date, AfterValidator(_plausible_day)]
RotaMoment = Annotated[AwareDatetime, AfterValidator(_plausible_moment)]


class ShiftIn(RequestSchema):
    user_id: uuid.UUID = Field(description="An active staff member of this restaurant")
    role: str | None = Field(
        default=None, description="What they work as: a staff role; defaults to the person's role"
    )
    station: str | None = Field(default=None, max_length=50, description="Free text: bar, grill")
    starts_at: RotaMoment
    ends_at: RotaMoment = Field(description="After startsAt, at most 16 hours later")
    notes: str | None = Field(default=None, max_length=500)

    @field_validator("role")
    @classmethod
    def _known_role(cls, value: str | None) -> str | None:
        if value is not None and value not in SHIFT_ROLES:
            raise ValueError("must be one of " + ", ".join(SHIFT_ROLES))
        return value


class ShiftBatchIn(RequestSchema):
    shifts: list[ShiftIn] = Field(min_length=1, max_length=MAX_SHIFTS_PER_REQUEST)


class ShiftUpdate(ShiftIn):
    """The whole shift again (a PUT): fields left out are cleared or defaulted."""

    version: int = Field(ge=1, description="The version you read; a stale one is a 409")


class ShiftOut(Schema):
    id: uuid.UUID
    restaurant_id: uuid.UUID
    user_id: uuid.UUID
    user_name: str
    role: str | None
    station: str | None
    starts_at: datetime
    ends_at: datetime
    hours: Decimal
    notes: str | None
    status: Literal["draft", "published"]
    published_at: datetime | None
    created_by: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime


class DeletedShiftOut(Schema):
    id: uuid.UUID
    deleted: Literal[True] = True


class PublishWeekIn(RequestSchema):
    week_start: RotaDay = Field(
        description="The Monday the week starts on (restaurant's local day)"
    )


class PublishWeekOut(Schema):
    week_start: date
    published: int = Field(description="Drafts published by this call (0 when repeated)")
    already_published: int = Field(description="Shifts of that week that were published before")


class CopyWeekIn(RequestSchema):
    from_week: RotaDay = Field(description="Monday of the week to copy")
    to_week: RotaDay = Field(description="Monday of the week to copy it into")


class SkippedShiftOut(Schema):
    shift_id: uuid.UUID
    user_id: uuid.UUID
    reason: str


class CopyWeekOut(Schema):
    created: list[ShiftOut]
    skipped: list[SkippedShiftOut]


class PlannedWorkedPersonOut(Schema):
    user_id: uuid.UUID
    name: str
    role: str
    shifts: int = Field(description="Published shifts in the range")
    planned_hours: Decimal = Field(description="From published shifts")
    draft_hours: Decimal = Field(description="From draft shifts (not in plannedHours)")
    worked_hours: Decimal = Field(description="From the time clock, as the timesheet counts")
    difference_hours: Decimal = Field(description="workedHours - plannedHours")


class PlannedWorkedTotalsOut(Schema):
    planned_hours: Decimal
    draft_hours: Decimal
    worked_hours: Decimal
    difference_hours: Decimal


class PlannedWorkedOut(Schema):
    from_: date = Field(alias="from")
    to: date
    timezone: str
    people: list[PlannedWorkedPersonOut]
    totals: PlannedWorkedTotalsOut


# --- tips ------------------------------------------------------------------------------------


class TipRuleOut(Schema):
    enabled: bool
    role_weights: dict[str, Decimal] = Field(description="Every role's weight, defaults included")
    include_order_tips: bool
    business_day_starts_at: str = Field(examples=["04:00"])
    problems: list[str] = Field(description="Settings that were malformed and what is used")


class TipMemberOut(Schema):
    user_id: uuid.UUID
    name: str
    role: str
    hours: Decimal
    weight: Decimal
    share: MoneyOut


class TipDayOut(Schema):
    date: date  # the business day
    tips: MoneyOut = Field(description="The pool: tenderTips + orderTips")
    tender_tips: MoneyOut
    order_tips: MoneyOut
    allocated: MoneyOut
    unallocated: MoneyOut = Field(description="Nobody (weighted) worked, or pooling is off")
    people: list[TipMemberOut]


class TipPersonOut(Schema):
    user_id: uuid.UUID
    name: str
    role: str
    hours: Decimal
    share: MoneyOut


class TipPoolOut(Schema):
    from_: date = Field(alias="from")
    to: date
    timezone: str
    currency: str
    rule: TipRuleOut
    days: list[TipDayOut]
    people: list[TipPersonOut] = Field(description="Each person's hours and share over the range")
    tips: MoneyOut
    allocated: MoneyOut
    unallocated: MoneyOut
