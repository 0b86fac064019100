"""Shifts: the rota managers plan and publish, and planned versus worked hours.

Planning (``staff.schedule``: managers, owners) creates *draft* shifts; publishing a week
makes its drafts visible to staff and sends one ``notification`` event. The published rota is
public to the staff of the restaurant (``staff.timeclock``), as a rota pinned on the kitchen
wall is; drafts are for planners only. Every change is audited. A published shift stays
published when edited (its people already rely on it, so there is no silent return to
draft); editing or deleting one sends a ``rota_changed`` notification naming the people
concerned. A draft added to a published week waits for the week to be published again.

Writes of one restaurant's rota are serialised (an advisory lock on PostgreSQL; SQLite write
transactions already hold the database lock), so two planners cannot both slip an overlapping
shift past the overlap check. A person's shifts may not overlap in any restaurant the planner
reaches (an owner working in two of them); a per-person advisory lock, taken after the rota
lock, serialises planners of different restaurants booking the same person.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import record
from fynlo.auth.subject import Subject
from fynlo.db.locking import lock_for_update, serialise
from fynlo.db.types import utc_now
from fynlo.events.outbox import emit
from fynlo.kit.errors import (
    Conflict,
    PermissionDenied,
    ResourceNotFound,
    StaleVersion,
)
from fynlo.models import Restaurant, TimeEntry, User
from fynlo.models import Shift as PlannedShift
from fynlo.staff.schemas import ShiftBatchIn, ShiftIn, ShiftUpdate
from fynlo.staff.service import works_here
from fynlo.staff.timesheet import (
    Shift,
    as_shift,
    check_range,
    hours,
    invalid,
    local_midnight,
    split_by_day,
    worked_by_day,
    zone_of,
)

MAX_SHIFT_LENGTH = timedelta(hours=16)
MAX_UPCOMING_DAYS = 62


class ShiftOverlap(Conflict):
    code = "shift_overlap"

    def __init__(
        self,
        field: str,
        user: User,
        other_start: datetime,
        other_end: datetime,
        zone: ZoneInfo,
        other_id: uuid.UUID | None = None,
        other_field: str | None = None,
        elsewhere: Restaurant | None = None,
    ) -> None:
        which = f"shift {other_id}" if other_id else f"the shift in {other_field}"
        where = f" at {elsewhere.name}" if elsewhere is not None else ""
        super().__init__(
            f"{field} overlaps {which} of {_name(user)}{where} "
            f"({_span(other_start, other_end, zone)}); a person works one shift at a time",
            details={
                "field": field,
                "userId": str(user.id),
                "overlapsShiftId": str(other_id) if other_id else None,
                "overlapsField": other_field,
                "overlapsRestaurantId": str(elsewhere.id) if elsewhere is not None else None,
                "startsAt": other_start.isoformat(),
                "endsAt": other_end.isoformat(),
            },
        )


def _name(user: User) -> str:
    return f"{user.first_name} {user.last_name}"


def _span(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    return f"{local_start:%a %d %b %H:%M} to {local_end:%a %d %b %H:%M} {zone.key}"


def _monday(day: date, field: str) -> None:
    if day.weekday() != 0:
        raise invalid(field, f"must be a Monday ({day:%A} given)")


def shift_view(shift: PlannedShift) -> dict[str, Any]:
    return {
        "shiftId": str(shift.id),
        "userId": str(shift.user_id),
        "role": shift.role,
        "station": shift.station,
        "startsAt": shift.starts_at.isoformat(),
        "endsAt": shift.ends_at.isoformat(),
        "notes": shift.notes,
        "published": shift.published_at is not None,
        "version": shift.version,
    }


@dataclass(frozen=True)
class RotaShift:
    shift: PlannedShift
    user: User


@dataclass(frozen=True)
class Skipped:
    shift_id: uuid.UUID
    user_id: uuid.UUID
    reason: str


@dataclass(frozen=True)
class PublishResult:
    week_start: date
    published: int
    already_published: int


@dataclass(frozen=True)
class PersonHours:
    user: User
    shifts: int
    planned_seconds: int
    draft_seconds: int
    worked_hours: Decimal


@dataclass(frozen=True)
class PlannedVsWorked:
    first: date
    last: date
    zone: ZoneInfo
    people: list[PersonHours]


@dataclass
class _Candidate:
    field: str
    user: User
    starts_at: datetime
    ends_at: datetime


@dataclass
class ShiftService:
    session: AsyncSession
    subject: Subject
    restaurant: Restaurant

    @property
    def zone(self) -> ZoneInfo:
        return zone_of(self.restaurant)

    def _week(self, monday: date) -> tuple[datetime, datetime]:
        return local_midnight(monday, self.zone), local_midnight(
            monday + timedelta(days=7), self.zone
        )

    async def _rota_lock(self) -> None:
        await serialise(self.session, f"fynlo.shifts:{self.restaurant.id}")

    async def _person_locks(self, user_ids: Iterable[uuid.UUID]) -> None:
        """Serialise rota writes for the same people across restaurants (an owner works in
        several, and each restaurant's rota lock covers that restaurant only): one advisory
        lock per person on PostgreSQL, always after the rota lock and in id order, so two
        planners never wait on each other in a cycle. SQLite writes are already serial."""
        for user_id in sorted(set(user_ids)):
            await serialise(self.session, f"fynlo.shifts.person:{user_id}")

    async def _staff(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, User]:
        """Active staff of this restaurant among ``ids`` (another restaurant's are absent)."""
        wanted = set(ids)
        if not wanted:
            return {}
        users = await self.session.scalars(
            select(User).where(
                User.id.in_(wanted), User.is_active.is_(True), works_here(self.restaurant.id)
            )
        )
        return {user.id: user for user in users}

    async def _person(self, user_id: uuid.UUID) -> User:
        user = await self.session.scalar(
            select(User).where(User.id == user_id, works_here(self.restaurant.id))
        )
        if user is None:
            raise ResourceNotFound("User", user_id)
        return user

    @staticmethod
    def _check_times(prefix: str, starts_at: datetime, ends_at: datetime) -> None:
        if ends_at <= starts_at:
            raise invalid(f"{prefix}endsAt", "must be after startsAt")
        if ends_at - starts_at > MAX_SHIFT_LENGTH:
            raise invalid(f"{prefix}endsAt", "a shift lasts at most 16 hours")

    async def _planned_around(
        self, candidates: Sequence[_Candidate], ignore: Sequence[Any]
    ) -> list[PlannedShift]:
        """The planned shifts of the candidates' people within the span they cover, in one
        query, earliest first. Every restaurant the planner reaches (an owner's other
        restaurants too), the same set on both databases: row-level security on PostgreSQL
        hides the others anyway."""
        statement = select(PlannedShift).where(
            self.subject.scope.clause(PlannedShift.restaurant_id),
            PlannedShift.user_id.in_({c.user.id for c in candidates}),
            PlannedShift.starts_at < max(c.ends_at for c in candidates),
            PlannedShift.ends_at > min(c.starts_at for c in candidates),
        )
        if ignore:
            statement = statement.where(PlannedShift.id.not_in(ignore))
        return list(
            await self.session.scalars(statement.order_by(PlannedShift.starts_at, PlannedShift.id))
        )

    async def _check_overlaps(
        self, candidates: Sequence[_Candidate], ignore: Sequence[uuid.UUID] = ()
    ) -> None:
        """Against each other, then against the shifts already planned for the same
        people here or in the planner's other restaurants."""
        by_user: dict[uuid.UUID, list[_Candidate]] = defaultdict(list)
        for candidate in candidates:
            by_user[candidate.user.id].append(candidate)
        for group in by_user.values():
            group.sort(key=lambda c: c.starts_at)
            for before, after in pairwise(group):
                if after.starts_at < before.ends_at:
                    first, second = sorted((before, after), key=lambda c: c.field)
                    raise ShiftOverlap(
                        second.field,
                        second.user,
                        first.starts_at,
                        first.ends_at,
                        self.zone,
                        other_field=first.field,
                    )
        await self._person_locks(by_user)
        if not candidates:
            return
        planned = await self._planned_around(candidates, ignore)
        for candidate in candidates:
            other = next(
                (
                    shift
                    for shift in planned
                    if shift.user_id == candidate.user.id
                    and shift.starts_at < candidate.ends_at
                    and shift.ends_at > candidate.starts_at
                ),
                None,
            )
            if other is not None:
                elsewhere = (
                    await self.session.get(Restaurant, other.restaurant_id)
                    if other.restaurant_id != self.restaurant.id
                    else None
                )
                raise ShiftOverlap(
                    candidate.field,
                    candidate.user,
                    other.starts_at,
                    other.ends_at,
                    self.zone,
                    other_id=other.id,
                    elsewhere=elsewhere,
                )

    async def _audit(
        self, action: str, shift: PlannedShift, old: dict[str, Any] | None, **extra: Any
    ) -> None:
        await record(
            self.session,
            self.subject.actor,
            action=action,
            resource_type="shift",
            resource_id=shift.id,
            restaurant_id=self.restaurant.id,
            old=old,
            new={**shift_view(shift), **extra} if action != "shift.deleted" else None,
        )

    async def _locked(self, shift_id: uuid.UUID) -> PlannedShift:
        shift = await self.session.scalar(
            lock_for_update(
                select(PlannedShift).where(
                    PlannedShift.id == shift_id, PlannedShift.restaurant_id == self.restaurant.id
                )
            ).execution_options(populate_existing=True)
        )
        if shift is None:
            raise ResourceNotFound("Shift", shift_id)
        return shift

    async def _eligible(self, items: Sequence[tuple[str, ShiftIn]]) -> list[_Candidate]:
        """Each shift's person must be active staff here; times must make a shift."""
        staff = await self._staff(item.user_id for _, item in items)
        candidates = []
        for prefix, item in items:
            user = staff.get(item.user_id)
            if user is None:
                raise invalid(
                    f"{prefix}userId", "no active staff member of this restaurant has this id"
                )
            self._check_times(prefix, item.starts_at, item.ends_at)
            candidates.append(
                _Candidate(
                    prefix.rstrip("."),
                    user,
                    item.starts_at.astimezone(UTC),
                    item.ends_at.astimezone(UTC),
                )
            )
        return candidates

    # --- planning ------------------------------------------------------------------------

    async def create(self, body: ShiftBatchIn) -> list[RotaShift]:
        self.subject.require("staff.schedule")
        await self._rota_lock()
        items = [(f"shifts.{i}.", item) for i, item in enumerate(body.shifts)]
        candidates = await self._eligible(items)
        await self._check_overlaps(candidates)
        return await self._add_drafts(
            (candidate, item.role or candidate.user.role, item.station, item.notes, None)
            for (_, item), candidate in zip(items, candidates, strict=True)
        )

    async def _add_drafts(
        self,
        drafts: Iterable[
            tuple[_Candidate, str | None, str | None, str | None, PlannedShift | None]
        ],
    ) -> list[RotaShift]:
        """New draft shifts (candidate, role, station, notes, the shift copied), audited."""
        created: list[tuple[RotaShift, PlannedShift | None]] = []
        for candidate, role, station, notes, source in drafts:
            shift = PlannedShift(
                id=uuid.uuid4(),
                restaurant_id=self.restaurant.id,
                user_id=candidate.user.id,
                role=role,
                station=station or None,
                starts_at=candidate.starts_at,
                ends_at=candidate.ends_at,
                notes=notes or None,
                published_at=None,
                created_by=self.subject.id,
                version=1,
            )
            self.session.add(shift)
            created.append((RotaShift(shift, candidate.user), source))
        await self.session.flush()
        for planned, source in created:
            extra = {"copiedFrom": str(source.id)} if source is not None else {}
            await self._audit("shift.created", planned.shift, None, **extra)
        return [planned for planned, _ in created]

    async def update(self, shift_id: uuid.UUID, body: ShiftUpdate) -> RotaShift:
        self.subject.require("staff.schedule")
        await self._rota_lock()
        shift = await self._locked(shift_id)
        if body.version != shift.version:
            raise StaleVersion("Shift", body.version, shift.version)
        (candidate,) = await self._eligible([("", body)])
        candidate.field = "startsAt"
        await self._check_overlaps([candidate], ignore=[shift.id])
        old = shift_view(shift)
        old_user_id = shift.user_id
        shift.user_id = candidate.user.id
        shift.role = body.role or candidate.user.role
        shift.station = body.station or None
        shift.starts_at = candidate.starts_at
        shift.ends_at = candidate.ends_at
        shift.notes = body.notes or None
        shift.version += 1
        await self.session.flush()
        await self._audit("shift.updated", shift, old)
        if shift.published_at is not None:
            self._notify(
                f"Rota changed: {_name(candidate.user)} now works "
                f"{_span(shift.starts_at, shift.ends_at, self.zone)}",
                kind="rota_changed",
                change="updated",
                shiftId=str(shift.id),
                userIds=sorted({str(old_user_id), str(shift.user_id)}),
            )
        return RotaShift(shift, candidate.user)

    async def delete(self, shift_id: uuid.UUID, version: int | None) -> uuid.UUID:
        self.subject.require("staff.schedule")
        await self._rota_lock()
        shift = await self._locked(shift_id)
        if version is not None and version != shift.version:
            raise StaleVersion("Shift", version, shift.version)
        await self._audit("shift.deleted", shift, shift_view(shift))
        if shift.published_at is not None:
            person = await self.session.get(User, shift.user_id)
            self._notify(
                f"Rota changed: the shift of {_name(person) if person else 'a colleague'} "
                f"{_span(shift.starts_at, shift.ends_at, self.zone)} is cancelled",
                kind="rota_changed",
                change="deleted",
                shiftId=str(shift.id),
                userIds=[str(shift.user_id)],
            )
        await self.session.delete(shift)
        await self.session.flush()
        return shift_id

    def _notify(self, message: str, **payload: Any) -> None:
        """One ``notification`` event to the restaurant's tills and phones."""
        emit(
            self.session,
            self.restaurant.id,
            "notification",
            {
                "message": message,
                "level": "info",
                **payload,
                "from": {"userId": str(self.subject.id), "name": _name(self.subject.user)},
            },
        )

    async def publish(self, week_start: date) -> PublishResult:
        """Publish the week's drafts; repeating it publishes nothing more and tells no one."""
        self.subject.require("staff.schedule")
        _monday(week_start, "weekStart")
        await self._rota_lock()
        start, end = self._week(week_start)
        in_week = (
            PlannedShift.restaurant_id == self.restaurant.id,
            PlannedShift.starts_at >= start,
            PlannedShift.starts_at < end,
        )
        drafts = list(
            await self.session.scalars(
                lock_for_update(
                    select(PlannedShift)
                    .where(*in_week, PlannedShift.published_at.is_(None))
                    .order_by(PlannedShift.starts_at, PlannedShift.id)
                ).execution_options(populate_existing=True)
            )
        )
        already = await self.session.scalar(
            select(func.count())
            .select_from(PlannedShift)
            .where(*in_week, PlannedShift.published_at.is_not(None))
        )
        now = utc_now()
        for shift in drafts:
            shift.published_at = now
            shift.version += 1
        if drafts:
            await self.session.flush()
            await record(
                self.session,
                self.subject.actor,
                action="rota.published",
                resource_type="rota",
                resource_id=week_start.isoformat(),
                restaurant_id=self.restaurant.id,
                new={"weekStart": week_start.isoformat(), "shiftIds": [str(s.id) for s in drafts]},
            )
            self._notify(
                f"Rota published for the week of {week_start:%d %b %Y}",
                kind="rota_published",
                weekStart=week_start.isoformat(),
                shifts=len(drafts),
                userIds=sorted({str(s.user_id) for s in drafts}),
            )
        return PublishResult(week_start, len(drafts), int(already or 0))

    def _moved(self, moment: datetime, days: int) -> datetime:
        """The same local wall-clock time ``days`` later (09:00 stays 09:00 across DST)."""
        local = moment.astimezone(self.zone)
        moved = (local.replace(tzinfo=None) + timedelta(days=days)).replace(tzinfo=self.zone)
        return moved.astimezone(UTC)

    async def copy_week(
        self, from_week: date, to_week: date
    ) -> tuple[list[RotaShift], list[Skipped]]:
        """Every shift of one week again in another, as drafts at the same local times."""
        self.subject.require("staff.schedule")
        _monday(from_week, "fromWeek")
        _monday(to_week, "toWeek")
        if from_week == to_week:
            raise invalid("toWeek", "must differ from fromWeek")
        await self._rota_lock()
        start, end = self._week(from_week)
        sources = list(
            await self.session.scalars(
                select(PlannedShift)
                .where(
                    PlannedShift.restaurant_id == self.restaurant.id,
                    PlannedShift.starts_at >= start,
                    PlannedShift.starts_at < end,
                )
                .order_by(PlannedShift.starts_at, PlannedShift.id)
            )
        )
        staff = await self._staff(s.user_id for s in sources)
        offset = (to_week - from_week).days
        skipped: list[Skipped] = []
        planned: list[tuple[PlannedShift, _Candidate]] = []
        for source in sources:
            user = staff.get(source.user_id)
            if user is None:
                skipped.append(
                    Skipped(source.id, source.user_id, "no longer an active staff member")
                )
                continue
            starts_at = self._moved(source.starts_at, offset)
            ends_at = self._moved(source.ends_at, offset)
            length = ends_at - starts_at
            if length <= timedelta(0) or length > MAX_SHIFT_LENGTH:
                ends_at = starts_at + (source.ends_at - source.starts_at)
            planned.append((source, _Candidate(f"shift {source.id}", user, starts_at, ends_at)))
        await self._check_overlaps([c for _, c in planned])
        created = await self._add_drafts(
            (candidate, source.role, source.station, source.notes, source)
            for source, candidate in planned
        )
        return created, skipped

    # --- reading -------------------------------------------------------------------------

    async def rota(
        self, first: date, last: date, user_id: uuid.UUID | None, status: str | None
    ) -> list[RotaShift]:
        """Shifts starting on the local days ``first`` to ``last``; drafts for planners."""
        planner = self.subject.can("staff.schedule")
        if not planner:
            if status == "draft":
                raise PermissionDenied("staff.schedule")
            self.subject.require("staff.timeclock")
        check_range(first, last)
        statement = (
            select(PlannedShift, User)
            .join(User, User.id == PlannedShift.user_id)
            .where(
                PlannedShift.restaurant_id == self.restaurant.id,
                PlannedShift.starts_at >= local_midnight(first, self.zone),
                PlannedShift.starts_at < local_midnight(last + timedelta(days=1), self.zone),
            )
            .order_by(PlannedShift.starts_at, User.first_name, User.last_name, PlannedShift.id)
        )
        if user_id is not None:
            statement = statement.where(PlannedShift.user_id == user_id)
        if status == "draft":
            statement = statement.where(PlannedShift.published_at.is_(None))
        elif status == "published" or not planner:
            statement = statement.where(PlannedShift.published_at.is_not(None))
        rows = await self.session.execute(statement)
        return [RotaShift(shift, user) for shift, user in rows]

    async def upcoming(self, user_id: uuid.UUID, days: int) -> list[RotaShift]:
        """A person's published shifts not yet over, starting within ``days`` days."""
        user = await self._person(user_id)
        oneself = user.id == self.subject.id and self.subject.can("staff.timeclock")
        manager = self.subject.can("staff.schedule") or self.subject.can("staff.timesheets")
        if not (oneself or manager):
            raise PermissionDenied("staff.schedule")
        now = utc_now()
        shifts = await self.session.scalars(
            select(PlannedShift)
            .where(
                PlannedShift.restaurant_id == self.restaurant.id,
                PlannedShift.user_id == user.id,
                PlannedShift.published_at.is_not(None),
                PlannedShift.ends_at > now,
                PlannedShift.starts_at < now + timedelta(days=days),
            )
            .order_by(PlannedShift.starts_at, PlannedShift.id)
        )
        return [RotaShift(shift, user) for shift in shifts]

    async def planned_vs_worked(
        self, first: date, last: date, user_id: uuid.UUID | None
    ) -> PlannedVsWorked:
        """Per person: planned hours (published shifts; drafts apart) and worked hours (the
        timesheet's own count), both split at local midnights and clipped to the range."""
        self.subject.require("staff.timesheets")
        check_range(first, last)
        if user_id is not None:
            await self._person(user_id)
        zone = self.zone
        range_start = local_midnight(first, zone)
        range_end = local_midnight(last + timedelta(days=1), zone)

        def in_range(day: date) -> bool:
            return first <= day <= last

        planned: dict[uuid.UUID, int] = defaultdict(int)
        drafts: dict[uuid.UUID, int] = defaultdict(int)
        counts: dict[uuid.UUID, int] = defaultdict(int)
        shift_query = select(PlannedShift).where(
            PlannedShift.restaurant_id == self.restaurant.id,
            PlannedShift.starts_at < range_end,
            PlannedShift.ends_at > range_start,
        )
        entry_query = select(TimeEntry).where(
            TimeEntry.restaurant_id == self.restaurant.id,
            TimeEntry.clock_out.is_not(None),
            TimeEntry.clock_in < range_end,
            TimeEntry.clock_out > range_start,
        )
        if user_id is not None:
            shift_query = shift_query.where(PlannedShift.user_id == user_id)
            entry_query = entry_query.where(TimeEntry.user_id == user_id)
        for shift in await self.session.scalars(shift_query):
            seconds = sum(
                s for d, s in split_by_day(shift.starts_at, shift.ends_at, zone) if in_range(d)
            )
            if shift.published_at is None:
                drafts[shift.user_id] += seconds
            else:
                planned[shift.user_id] += seconds
                counts[shift.user_id] += 1
        entries: dict[uuid.UUID, list[Shift]] = defaultdict(list)
        for entry in await self.session.scalars(entry_query):
            entries[entry.user_id].append(as_shift(entry))
        # The timesheet shows each day's hours rounded to two decimals; worked hours are
        # the sum of those, so they equal the sum of the timesheet's `days[].hours`.
        worked: dict[uuid.UUID, Decimal] = {}
        workers: set[uuid.UUID] = set()
        for uid, shifts in entries.items():
            days = {d: s for d, s in worked_by_day(shifts, zone).items() if in_range(d) and s}
            worked[uid] = sum((hours(s) for s in days.values()), hours(0))
            if days:
                workers.add(uid)
        ids = set(planned) | set(drafts) | workers
        if user_id is not None:
            ids.add(user_id)
        users = (
            {u.id: u for u in await self.session.scalars(select(User).where(User.id.in_(ids)))}
            if ids
            else {}
        )
        people = [
            PersonHours(
                users[uid], counts[uid], planned[uid], drafts[uid], worked.get(uid, hours(0))
            )
            for uid in ids
            if uid in users
        ]
        people.sort(key=lambda p: (p.user.first_name, p.user.last_name, str(p.user.id)))
        return PlannedVsWorked(first, last, zone, people)
