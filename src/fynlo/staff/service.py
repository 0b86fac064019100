"""The time clock: clocking in and out, breaks, timesheets and manager corrections.

Who may act on whose entries: anyone with ``staff.timeclock`` for themselves; holders of
``staff.timesheets`` (managers, owners) for every staff member of the restaurant. A person of
another restaurant, or an entry of one, is a 404.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import record
from fynlo.auth.subject import Subject
from fynlo.authz.context import restaurant_settings
from fynlo.db.locking import lock_for_update
from fynlo.db.types import utc_now
from fynlo.kit.errors import (
    Conflict,
    ResourceNotFound,
    StaleVersion,
    Unprocessable,
)
from fynlo.kit.money import to_minor
from fynlo.models import Restaurant, TimeEntry, User, restaurant_owners
from fynlo.staff.schemas import TimeEntryCorrection
from fynlo.staff.timesheet import (
    FORGOTTEN_AFTER,
    Rules,
    as_shift,
    check_range,
    compute,
    decimal_setting,
    hours,
    invalid,
    local_midnight,
    unpaid_intervals,
    zone_of,
)
from fynlo.staff.tips import TipRule, tip_pools

MAX_SHIFT = timedelta(hours=24)


class AlreadyClockedIn(Conflict):
    code = "already_clocked_in"

    def __init__(self, user_id: uuid.UUID, entry_id: uuid.UUID | None = None) -> None:
        super().__init__(
            "Already clocked in; clock out first",
            details={"userId": str(user_id), "timeEntryId": str(entry_id) if entry_id else None},
        )


class NotClockedIn(Conflict):
    code = "not_clocked_in"

    def __init__(self, user_id: uuid.UUID) -> None:
        super().__init__("Not clocked in", details={"userId": str(user_id)})


class AlreadyOnBreak(Conflict):
    code = "already_on_break"
    default_message = "A break is already running; end it first"


class NotOnBreak(Conflict):
    code = "not_on_break"
    default_message = "No break is running"


def _iso(value: datetime) -> str:
    return value.isoformat()


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def is_forgotten(entry: TimeEntry, now: datetime) -> bool:
    return entry.clock_out is None and now - entry.clock_in > FORGOTTEN_AFTER


def on_break(entry: TimeEntry) -> bool:
    return bool(entry.breaks) and entry.breaks[-1].get("end") is None


def unpaid_breaks(entry: TimeEntry) -> tuple[tuple[datetime, datetime], ...]:
    return unpaid_intervals(entry.breaks)


def _settle(entry: TimeEntry) -> None:
    """Recompute the stored break minutes and total hours from the times."""
    unpaid = sum(int((end - start).total_seconds()) for start, end in unpaid_breaks(entry))
    entry.break_minutes = unpaid // 60
    if entry.clock_out is None:
        entry.total_hours = None
    else:
        worked = int((entry.clock_out - entry.clock_in).total_seconds()) - unpaid
        entry.total_hours = hours(max(0, worked))


def entry_view(entry: TimeEntry) -> dict[str, Any]:
    return {
        "timeEntryId": str(entry.id),
        "userId": str(entry.user_id),
        "clockIn": _iso(entry.clock_in),
        "clockOut": _iso(entry.clock_out) if entry.clock_out else None,
        "breaks": list(entry.breaks),
        "breakMinutes": entry.break_minutes,
        "totalHours": str(entry.total_hours) if entry.total_hours is not None else None,
        "version": entry.version,
    }


def works_here(restaurant_id: uuid.UUID) -> ColumnElement[bool]:
    """``User`` rows of the restaurant's staff or owners (anyone else answers 404)."""
    owns = exists().where(
        restaurant_owners.c.restaurant_id == restaurant_id,
        restaurant_owners.c.user_id == User.id,
    )
    return or_(User.restaurant_id == restaurant_id, owns)


@dataclass
class Timesheet:
    user: User
    first: date
    last: date
    zone: ZoneInfo
    rules: Rules
    hourly_rate_minor: int
    entries: list[TimeEntry]
    pay: dict[Any, Any]
    days: dict[date, Any]
    now: datetime
    tip_rule: TipRule
    tips: dict[date, int]


@dataclass
class TimeClockService:
    session: AsyncSession
    subject: Subject
    restaurant: Restaurant

    async def _pos(self) -> dict[str, Any]:
        settings = await restaurant_settings(self.session, self.restaurant)
        return dict(settings.pos_settings) if settings else {}

    async def _person(self, user_id: uuid.UUID, own_permission: str = "staff.timeclock") -> User:
        """The staff member, who must work here (404 otherwise); the caller must be them
        (with ``own_permission``) or hold ``staff.timesheets``."""
        user = await self.session.scalar(
            select(User).where(User.id == user_id, works_here(self.restaurant.id))
        )
        if user is None:
            raise ResourceNotFound("User", user_id)
        if user.id == self.subject.id and self.subject.can(own_permission):
            return user
        self.subject.require("staff.timesheets")
        return user

    async def _open_entry(self, user_id: uuid.UUID) -> TimeEntry | None:
        return await self.session.scalar(
            lock_for_update(
                select(TimeEntry).where(
                    TimeEntry.user_id == user_id,
                    TimeEntry.restaurant_id == self.restaurant.id,
                    TimeEntry.clock_out.is_(None),
                )
            ).execution_options(populate_existing=True)
        )

    async def _rate_for(self, user: User) -> int:
        if user.hourly_rate_minor is not None:
            return user.hourly_rate_minor
        default = decimal_setting((await self._pos()).get("defaultHourlyRate"))
        if default is None:
            return 0
        try:
            return max(0, to_minor(default, self.restaurant.currency))
        except (ArithmeticError, Unprocessable):
            return 0

    async def _audit(self, action: str, entry: TimeEntry, old: dict[str, Any] | None) -> None:
        await record(
            self.session,
            self.subject.actor,
            action=action,
            resource_type="time_entry",
            resource_id=entry.id,
            restaurant_id=entry.restaurant_id,
            old=old,
            new=entry_view(entry),
        )

    async def clock_in(self, user_id: uuid.UUID) -> TimeEntry:
        user = await self._person(user_id)
        if not user.is_active:
            raise ResourceNotFound("User", user_id)
        existing = await self.session.scalar(
            select(TimeEntry.id).where(TimeEntry.user_id == user.id, TimeEntry.clock_out.is_(None))
        )
        if existing is not None:
            raise AlreadyClockedIn(user.id, existing)
        entry = TimeEntry(
            id=uuid.uuid4(),
            restaurant_id=self.restaurant.id,
            user_id=user.id,
            clock_in=utc_now(),
            breaks=[],
            break_minutes=0,
            hourly_rate_minor=await self._rate_for(user),
            version=1,
        )
        try:
            # Two tills clocking the same person in at once both pass the check above on
            # PostgreSQL; the partial unique index lets one in and the other lands here.
            async with self.session.begin_nested():
                self.session.add(entry)
                await self.session.flush()
        except IntegrityError:
            raise AlreadyClockedIn(user.id) from None
        await self._audit("time_entry.clocked_in", entry, None)
        return entry

    async def _require_open(self, user_id: uuid.UUID) -> TimeEntry:
        user = await self._person(user_id)
        entry = await self._open_entry(user.id)
        if entry is None:
            raise NotClockedIn(user.id)
        return entry

    async def clock_out(self, user_id: uuid.UUID) -> TimeEntry:
        entry = await self._require_open(user_id)
        old = entry_view(entry)
        now = utc_now()
        if on_break(entry):
            entry.breaks = [*entry.breaks[:-1], {**entry.breaks[-1], "end": _iso(now)}]
        entry.clock_out = max(now, entry.clock_in + timedelta(microseconds=1))
        _settle(entry)
        entry.version += 1
        await self._audit("time_entry.clocked_out", entry, old)
        return entry

    async def start_break(self, user_id: uuid.UUID) -> TimeEntry:
        entry = await self._require_open(user_id)
        if on_break(entry):
            raise AlreadyOnBreak()
        old = entry_view(entry)
        paid = Rules.from_pos_settings(await self._pos()).paid_breaks
        entry.breaks = [*entry.breaks, {"start": _iso(utc_now()), "end": None, "paid": paid}]
        entry.version += 1
        await self._audit("time_entry.break_started", entry, old)
        return entry

    async def end_break(self, user_id: uuid.UUID) -> TimeEntry:
        entry = await self._require_open(user_id)
        if not on_break(entry):
            raise NotOnBreak()
        old = entry_view(entry)
        entry.breaks = [*entry.breaks[:-1], {**entry.breaks[-1], "end": _iso(utc_now())}]
        _settle(entry)
        entry.version += 1
        await self._audit("time_entry.break_ended", entry, old)
        return entry

    async def correct(self, entry_id: uuid.UUID, body: TimeEntryCorrection) -> TimeEntry:
        self.subject.require("staff.timesheets")
        entry = await self.session.scalar(
            lock_for_update(
                select(TimeEntry).where(
                    TimeEntry.id == entry_id, TimeEntry.restaurant_id == self.restaurant.id
                )
            ).execution_options(populate_existing=True)
        )
        if entry is None:
            raise ResourceNotFound("Time entry", entry_id)
        if body.version != entry.version:
            raise StaleVersion("Time entry", body.version, entry.version)
        clock_in = body.clock_in.astimezone(UTC) if body.clock_in else entry.clock_in
        clock_out = body.clock_out.astimezone(UTC) if body.clock_out else entry.clock_out
        breaks = (
            [
                {
                    "start": _iso(b.start.astimezone(UTC)),
                    "end": _iso(b.end.astimezone(UTC)),
                    "paid": b.paid,
                }
                for b in body.breaks
            ]
            if body.breaks is not None
            else list(entry.breaks)
        )
        self._check_correction(clock_in, clock_out, breaks)
        old = entry_view(entry)
        entry.clock_in = clock_in
        entry.clock_out = clock_out
        entry.breaks = breaks
        entry.correction_reason = body.reason
        entry.corrected_by = self.subject.id
        _settle(entry)
        entry.version += 1
        await self.session.flush()
        old["reason"] = None
        await record(
            self.session,
            self.subject.actor,
            action="time_entry.corrected",
            resource_type="time_entry",
            resource_id=entry.id,
            restaurant_id=entry.restaurant_id,
            old=old,
            new={**entry_view(entry), "reason": body.reason},
        )
        return entry

    @staticmethod
    def _check_correction(
        clock_in: datetime, clock_out: datetime | None, breaks: list[dict[str, Any]]
    ) -> None:
        now = utc_now()
        if clock_in > now:
            raise invalid("clockIn", "cannot be in the future")
        if clock_out is not None:
            if clock_out <= clock_in:
                raise invalid("clockOut", "must be after clockIn")
            if clock_out > now:
                raise invalid("clockOut", "cannot be in the future")
            if clock_out - clock_in > MAX_SHIFT:
                raise invalid("clockOut", "a shift cannot last more than 24 hours")
        end_of_shift = clock_out or now
        previous_end = clock_in
        for index, b in enumerate(breaks):
            start = _parse(b["start"])
            end = _parse(b["end"]) if b.get("end") else None
            if start < previous_end or (end is not None and end <= start):
                raise invalid(f"breaks.{index}", "breaks must be in order and not overlap")
            if (end or start) > end_of_shift:
                raise invalid(f"breaks.{index}", "a break must fall within the shift")
            if end is None and (clock_out is not None or index != len(breaks) - 1):
                raise invalid(f"breaks.{index}", "only the last break of an open shift may run")
            previous_end = end or start

    async def timesheet(self, user_id: uuid.UUID, first: date, last: date) -> Timesheet:
        check_range(first, last)
        user = await self._person(user_id)
        zone = zone_of(self.restaurant)
        pos = await self._pos()
        rules = Rules.from_pos_settings(pos)
        # Weekly overtime needs the whole week up to `from`; a shift may start the day before.
        week_start = first - timedelta(days=first.weekday())
        window_start = local_midnight(week_start - timedelta(days=1), zone)
        range_start = local_midnight(first, zone)
        range_end = local_midnight(last + timedelta(days=1), zone)
        rows = list(
            await self.session.scalars(
                select(TimeEntry)
                .where(
                    TimeEntry.restaurant_id == self.restaurant.id,
                    TimeEntry.user_id == user.id,
                    TimeEntry.clock_in < range_end,
                    # a long (forgotten) entry begun earlier still counts from window_start on
                    or_(TimeEntry.clock_in >= window_start, TimeEntry.clock_out > window_start),
                )
                .order_by(TimeEntry.clock_in, TimeEntry.id)
            )
        )
        shifts = [as_shift(e, e.hourly_rate_minor) for e in rows]
        pay, days = compute(shifts, rules, zone)
        shown = [e for e in rows if e.clock_in >= range_start]
        pools = await tip_pools(self.session, self.restaurant, pos, first, last, zone)
        return Timesheet(
            user=user,
            first=first,
            last=last,
            zone=zone,
            rules=rules,
            hourly_rate_minor=await self._rate_for(user),
            entries=shown,
            pay=pay,
            days={d: t for d, t in days.items() if first <= d <= last},
            now=utc_now(),
            tip_rule=pools.rule,
            tips={d: share for d, share in pools.shares_of(user.id).items() if share},
        )
