"""The time clock: ``/api/users/{id}/clock-in`` and friends, timesheets, corrections.

Clocking in and out and breaks: the person themselves (``staff.timeclock``) or a manager
(``staff.timesheets``) for anyone of the restaurant. Corrections: ``staff.timesheets``.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from fynlo.auth.subject import CurrentSubject
from fynlo.authz.context import CurrentRestaurant
from fynlo.db.types import utc_now
from fynlo.kit.idempotency import idempotent
from fynlo.kit.money import to_major
from fynlo.kit.routing import router
from fynlo.kit.schemas import Envelope, ok
from fynlo.kit.unit_of_work import SessionDep
from fynlo.models import TimeEntry
from fynlo.staff.schemas import (
    BreakOut,
    TimeEntryCorrection,
    TimeEntryOut,
    TimesheetDayOut,
    TimesheetEntryOut,
    TimesheetOut,
    TimesheetRulesOut,
)
from fynlo.staff.service import TimeClockService, Timesheet, is_forgotten, on_break
from fynlo.staff.timesheet import DayTotal, ShiftPay, hours

users_router = router(prefix="/api/users", tags=["time clock"])
entries_router = router(prefix="/api/time-entries", tags=["time clock"])

WHO = (
    "The person themselves (`staff.timeclock`) or a manager (`staff.timesheets`) for anyone "
    "of the restaurant."
)


def _entry_fields(entry: TimeEntry, currency: str) -> dict[str, object]:
    return {
        "id": entry.id,
        "restaurant_id": entry.restaurant_id,
        "user_id": entry.user_id,
        "clock_in": entry.clock_in,
        "clock_out": entry.clock_out,
        "on_break": on_break(entry),
        "breaks": [BreakOut.model_validate(b) for b in entry.breaks],
        "break_minutes": entry.break_minutes,
        "total_hours": entry.total_hours,
        "hourly_rate": to_major(entry.hourly_rate_minor, currency),
        "forgotten_clock_out": is_forgotten(entry, utc_now()),
        "correction_reason": entry.correction_reason,
        "version": entry.version,
        "created_at": entry.created_at,
        "updated_at": entry.updated_at,
    }


def _out(entry: TimeEntry, currency: str) -> TimeEntryOut:
    return TimeEntryOut(**_entry_fields(entry, currency))


def _timesheet_out(sheet: Timesheet, currency: str) -> TimesheetOut:
    entries = []
    worked = overtime = 0
    gross_by_entry, gross = sheet.gross_pay()
    for entry in sheet.entries:
        pay: ShiftPay = sheet.pay.get(entry.id, ShiftPay())
        worked += pay.worked_seconds
        overtime += pay.overtime_seconds
        entries.append(
            TimesheetEntryOut(
                **_entry_fields(entry, currency),
                overtime_hours=hours(pay.overtime_seconds),
                gross_pay=to_major(gross_by_entry[entry.id], currency),
            )
        )
    days = []
    for day in sorted(set(sheet.days) | set(sheet.tips)):
        total: DayTotal = sheet.days.get(day, DayTotal())
        days.append(
            TimesheetDayOut(
                date=day,
                hours=hours(total.worked_seconds),
                overtime_hours=hours(total.overtime_seconds),
                tips=to_major(sheet.tips.get(day, 0), currency),
            )
        )
    return TimesheetOut.model_validate(
        {
            "user_id": sheet.user.id,
            "from": sheet.first,
            "to": sheet.last,
            "timezone": sheet.zone.key,
            "currency": currency,
            "hourly_rate": to_major(sheet.hourly_rate_minor, currency),
            "entries": entries,
            "days": days,
            "total_hours": hours(worked),
            "regular_hours": hours(worked - overtime),
            "overtime_hours": hours(overtime),
            "gross_pay": to_major(gross, currency),
            "tips": to_major(sum(sheet.tips.values()), currency),
            "rules": TimesheetRulesOut(
                overtime_daily_hours=sheet.rules.daily_hours,
                overtime_weekly_hours=sheet.rules.weekly_hours,
                overtime_multiplier=sheet.rules.multiplier,
                paid_breaks=sheet.rules.paid_breaks,
                tip_pooling=sheet.tip_rule.enabled,
            ),
        }
    )


@users_router.post(
    "/{user_id}/clock-in",
    status_code=201,
    response_model=Envelope[TimeEntryOut],
    openapi_extra=idempotent(),
    summary="Clock in",
    description=WHO + " One open entry per person: a second clock-in is a 409 "
    "`already_clocked_in`; while the open one is a forgotten clock-out (open more than 16 "
    "hours), 409 `forgotten_clock_out` until a manager corrects it.",
)
async def clock_in(
    user_id: uuid.UUID, subject: CurrentSubject, restaurant: CurrentRestaurant, session: SessionDep
) -> Envelope[TimeEntryOut]:
    entry = await TimeClockService(session, subject, restaurant).clock_in(user_id)
    return ok(_out(entry, restaurant.currency))


@users_router.post(
    "/{user_id}/clock-out",
    response_model=Envelope[TimeEntryOut],
    openapi_extra=idempotent(),
    summary="Clock out (ends a running break)",
    description=WHO + " Without an open entry: 409 `not_clocked_in`. An entry open more than "
    "16 hours is a forgotten clock-out and is not closed now: 409 `forgotten_clock_out`; a "
    "manager corrects it with `PATCH /api/time-entries/{id}`.",
)
async def clock_out(
    user_id: uuid.UUID, subject: CurrentSubject, restaurant: CurrentRestaurant, session: SessionDep
) -> Envelope[TimeEntryOut]:
    entry = await TimeClockService(session, subject, restaurant).clock_out(user_id)
    return ok(_out(entry, restaurant.currency))


@users_router.post(
    "/{user_id}/breaks/start",
    response_model=Envelope[TimeEntryOut],
    openapi_extra=idempotent(),
    summary="Start a break (paid or unpaid per the pos setting `paidBreaks`)",
    description=WHO + " One break at a time: 409 `already_on_break`.",
)
async def start_break(
    user_id: uuid.UUID, subject: CurrentSubject, restaurant: CurrentRestaurant, session: SessionDep
) -> Envelope[TimeEntryOut]:
    entry = await TimeClockService(session, subject, restaurant).start_break(user_id)
    return ok(_out(entry, restaurant.currency))


@users_router.post(
    "/{user_id}/breaks/end",
    response_model=Envelope[TimeEntryOut],
    openapi_extra=idempotent(),
    summary="End the running break",
    description=WHO + " No break running: 409 `not_on_break`.",
)
async def end_break(
    user_id: uuid.UUID, subject: CurrentSubject, restaurant: CurrentRestaurant, session: SessionDep
) -> Envelope[TimeEntryOut]:
    entry = await TimeClockService(session, subject, restaurant).end_break(user_id)
    return ok(_out(entry, restaurant.currency))


@users_router.get(
    "/{user_id}/timesheet",
    response_model=Envelope[TimesheetOut],
    summary="Hours, overtime, gross pay and tip shares between two local dates",
    description=WHO + " Days are the restaurant's local days; a day's `tips` is the person's "
    "share of that business day's tip pool. See docs/staff.md for the overtime and tip rules.",
)
async def timesheet(
    user_id: uuid.UUID,
    subject: CurrentSubject,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    first: Annotated[date, Query(alias="from")],
    last: Annotated[date, Query(alias="to")],
) -> Envelope[TimesheetOut]:
    sheet = await TimeClockService(session, subject, restaurant).timesheet(user_id, first, last)
    return ok(_timesheet_out(sheet, restaurant.currency))


@entries_router.patch(
    "/{entry_id}",
    response_model=Envelope[TimeEntryOut],
    summary="Correct a time entry (managers)",
    description="Needs `staff.timesheets`. A reason is required and audited with the old and "
    "new values; a stale `version` is a 409. Times that would overlap another entry of the "
    "same person: 409 `time_entries_overlap` naming it.",
)
async def correct_entry(
    entry_id: uuid.UUID,
    body: TimeEntryCorrection,
    subject: CurrentSubject,
    restaurant: CurrentRestaurant,
    session: SessionDep,
) -> Envelope[TimeEntryOut]:
    entry = await TimeClockService(session, subject, restaurant).correct(entry_id, body)
    return ok(_out(entry, restaurant.currency))


ROUTERS: list[APIRouter] = [users_router, entries_router]
