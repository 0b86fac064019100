"""The time clock: clocking in and out, breaks, timesheets and manager corrections.

Who may act on whose entries: anyone with ``staff.timeclock`` for themselves; holders of
``staff.timesheets`` (managers, owners) for every staff member of the restaurant. A person of
another restaurant, or an entry of one, is a 404.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import record
from fynlo.auth.subject import Subject
from fynlo.authz.context import restaurant_settings
from fynlo.db.locking import lock_for_update, serialise
from fynlo.db.types import utc_now
from fynlo.kit.errors import (
    Conflict,
    ResourceNotFound,
    StaleVersion,
    Unprocessable,
)
from fynlo.kit.money import round_half_up, to_minor
from fynlo.models import Restaurant, TimeEntry, User, restaurant_owners
from fynlo.staff.schemas import TimeEntryCorrection
from fynlo.staff.timesheet import (
    FORGOTTEN_AFTER,
    HOURLY_RATE,
    Rules,
    as_shift,
    bounded_setting,
    check_range,
    compute,
    hours,
    invalid,
    local_midnight,
    unpaid_intervals,
    zone_of,
)
from fynlo.staff.tips import TipRule, split, tip_pools

MAX_SHIFT = timedelta(hours=24)


class AlreadyClockedIn(Conflict):
    code = "already_clocked_in"

    def __init__(self, user_id: uuid.UUID, entry_id: uuid.UUID | None = None) -> None:
        super().__init__(
            "Already clocked in; clock out first",
            details={"userId": str(user_id), "timeEntryId": str(entry_id) if entry_id else None},
        )


class ForgottenClockOut(Conflict):
    """An entry open longer than ``FORGOTTEN_AFTER`` is a forgotten clock-out: closing it
    now would pay every hour since, so only a manager's correction (with the real time)
    closes it. Until then the person cannot clock out, take breaks or clock in again."""

    code = "forgotten_clock_out"

    def __init__(self, entry: TimeEntry) -> None:
        super().__init__(
            f"Clocked in since {entry.clock_in.astimezone(UTC):%Y-%m-%d %H:%M} UTC, more than "
            f"{_hours_text(FORGOTTEN_AFTER)} hours ago: a forgotten clock-out is not closed "
            f"now; a manager corrects it with PATCH /api/time-entries/{entry.id} (clockOut "
            "and a reason)",
            details={
                "userId": str(entry.user_id),
                "timeEntryId": str(entry.id),
                "clockIn": _iso(entry.clock_in),
                "correction": f"/api/time-entries/{entry.id}",
            },
        )


class TimeEntriesOverlap(Conflict):
    """A person is clocked in once at a time: two entries covering the same minutes would
    pay them twice."""

    code = "time_entries_overlap"

    def __init__(
        self,
        entry_id: uuid.UUID,
        clock_in: datetime,
        clock_out: datetime | None,
        other: TimeEntry,
    ) -> None:
        super().__init__(
            f"The corrected entry ({_span(clock_in, clock_out)}) would overlap time entry "
            f"{other.id} of the same person ({_span(other.clock_in, other.clock_out)}); a "
            "person is clocked in once at a time, so correct the other entry first",
            details={
                "timeEntryId": str(entry_id),
                "overlapsTimeEntryId": str(other.id),
                "restaurantId": str(other.restaurant_id),
                "clockIn": _iso(other.clock_in),
                "clockOut": _iso(other.clock_out) if other.clock_out else None,
            },
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


def _span(start: datetime, end: datetime | None) -> str:
    until = f"{end.astimezone(UTC):%Y-%m-%d %H:%M}" if end else "still open"
    return f"{start.astimezone(UTC):%Y-%m-%d %H:%M} to {until} UTC"


def _hours_text(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g}"


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

    def gross_pay(self) -> tuple[dict[uuid.UUID, int], int]:
        """Each listed entry's gross pay and their total, in minor units.

        The exact sum is rounded once (half up) to make the total; the entries share that
        total by the largest-remainder method (:func:`fynlo.staff.tips.split`), so they add
        up to it exactly, each within one minor unit of its proportional part; rounding each
        entry apart would not add up (3 x 3.3367 shows 3.34 three times, total 10.01).
        """
        exact = [
            (entry.id, self.pay[entry.id].gross if entry.id in self.pay else Fraction(0))
            for entry in self.entries
        ]
        total = round_half_up(sum((gross for _, gross in exact), Fraction(0)))
        return split(total, exact), total


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
        """The person's own rate (bounded by the users API), else the pos setting
        ``defaultHourlyRate`` when it lies within ``HOURLY_RATE`` (major units) and is no
        finer than the currency's minor unit, else 0."""
        if user.hourly_rate_minor is not None:
            return user.hourly_rate_minor
        default = bounded_setting((await self._pos()).get("defaultHourlyRate"), HOURLY_RATE)
        if default is None:
            return 0
        try:
            return to_minor(default, self.restaurant.currency)
        except (ArithmeticError, Unprocessable):
            return 0

    async def _person_lock(self, user_id: uuid.UUID) -> None:
        """Serialise the writes that could make one person's entries overlap (clock-in,
        corrections), in any of their restaurants: a transaction-scoped advisory lock on
        PostgreSQL; SQLite write transactions already hold the database lock. Taken before
        any row lock, so that the order is always person, then entry."""
        await serialise(self.session, f"fynlo.timeclock:{user_id}")

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
        await self._person_lock(user.id)
        existing = await self.session.scalar(
            select(TimeEntry).where(TimeEntry.user_id == user.id, TimeEntry.clock_out.is_(None))
        )
        if existing is not None:
            if is_forgotten(existing, utc_now()):
                raise ForgottenClockOut(existing)
            raise AlreadyClockedIn(user.id, existing.id)
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
        """The person's open entry, locked; a forgotten one is left to a manager."""
        user = await self._person(user_id)
        entry = await self._open_entry(user.id)
        if entry is None:
            raise NotClockedIn(user.id)
        if is_forgotten(entry, utc_now()):
            raise ForgottenClockOut(entry)
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
        in_restaurant = (TimeEntry.id == entry_id, TimeEntry.restaurant_id == self.restaurant.id)
        user_id = await self.session.scalar(select(TimeEntry.user_id).where(*in_restaurant))
        if user_id is None:
            raise ResourceNotFound("Time entry", entry_id)
        await self._person_lock(user_id)
        entry = await self.session.scalar(
            lock_for_update(select(TimeEntry).where(*in_restaurant)).execution_options(
                populate_existing=True
            )
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
        other = await self._overlapping(entry, clock_in, clock_out)
        if other is not None:
            raise TimeEntriesOverlap(entry.id, clock_in, clock_out, other)
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

    async def _overlapping(
        self, entry: TimeEntry, clock_in: datetime, clock_out: datetime | None
    ) -> TimeEntry | None:
        """Another entry of the same person sharing a moment with ``clock_in`` to
        ``clock_out``, in any restaurant the caller reaches (an open entry runs on with no
        end). Called under the person's lock, so no concurrent write can slip one in."""
        statement = select(TimeEntry).where(
            TimeEntry.user_id == entry.user_id,
            TimeEntry.id != entry.id,
            self.subject.scope.clause(TimeEntry.restaurant_id),
            or_(TimeEntry.clock_out.is_(None), TimeEntry.clock_out > clock_in),
        )
        if clock_out is not None:
            statement = statement.where(TimeEntry.clock_in < clock_out)
        found: TimeEntry | None = await self.session.scalar(
            statement.order_by(TimeEntry.clock_in, TimeEntry.id).limit(1)
        )
        return found

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
        tip_rule = TipRule.from_pos_settings(pos)
        tips: dict[date, int] = {}
        if tip_rule.enabled:  # pooling off: every share is 0, so the pools are not built
            pools = await tip_pools(self.session, self.restaurant, pos, first, last, zone)
            tips = {d: share for d, share in pools.shares_of(user.id).items() if share}
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
            tip_rule=tip_rule,
            tips=tips,
        )
