"""Hours, overtime and gross pay of a timesheet: pure functions, no database.

The rule, with ``daily`` = ``overtimeDailyHours`` (default 8), ``weekly`` =
``overtimeWeeklyHours`` (default 40) and ``multiplier`` = ``overtimeMultiplier`` (default 1.5)
from the restaurant's pos settings:

1. Worked time of an entry is clock-out minus clock-in in real elapsed time (a shift across a
   daylight-saving change is as long as the clock on the wall says it lasted, not its local
   times' difference), minus its *unpaid* breaks. Open entries count nothing yet. Time an
   earlier entry of the person already covers is not counted again (see
   :func:`worked_pieces`).
2. The worked time is split at local midnights (the restaurant's time zone), so each minute
   falls on the local day it was worked.
3. **Daily overtime**: on each local day, worked time beyond ``daily`` hours is overtime (the
   latest minutes of that day).
4. **Weekly overtime**: the remaining (regular) time is counted through each local week,
   Monday to Sunday, in time order; regular time beyond ``weekly`` hours in that week becomes
   overtime too. A minute is never overtime twice.
5. Gross pay = regular seconds * rate + overtime seconds * rate * multiplier, each entry at
   its own hourly rate, summed exactly and rounded once (half up) to the minor unit; the
   entries' parts of it are split by largest remainder (``Timesheet.gross_pay``).

Each setting is bounded (:class:`Bounds`); outside its range it falls back to the default.

Tip pooling and planned-versus-worked hours count worked time with the same functions
(:func:`worked_by_day`), so their hours agree with the timesheet's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fynlo.kit.errors import Unprocessable
from fynlo.kit.money import round_half_up
from fynlo.orders.numbering import business_date

if TYPE_CHECKING:
    from fynlo.models import Restaurant, TimeEntry

FORGOTTEN_AFTER = timedelta(hours=16)
MIDNIGHT = time()
MAX_RANGE_DAYS = 62


# Dates the rota, timesheets and tip pools accept: wide enough for any real restaurant, and
# far enough from year 1 and 9999 that a day's neighbours and its UTC instants always exist.
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2099, 12, 31)


def out_of_years(day: date) -> str | None:
    """Why ``day`` is refused, or None when it lies between the two bounds."""
    if day < EARLIEST_DAY or day > LATEST_DAY:
        return f"must be between {EARLIEST_DAY} and {LATEST_DAY}"
    return None


def invalid(field: str, message: str) -> Unprocessable:
    """A 422 naming the field, in the message and in ``details`` as the schemas' errors do."""
    return Unprocessable(f"{field}: {message}", details=[{"field": field, "message": message}])


def check_range(first: date, last: date) -> None:
    """A ``from``/``to`` pair of local days: in order, at most ``MAX_RANGE_DAYS`` long."""
    for name, day in (("from", first), ("to", last)):
        if problem := out_of_years(day):
            raise invalid(name, problem)
    if last < first:
        raise invalid("to", "must be on or after from")
    if (last - first).days >= MAX_RANGE_DAYS:
        raise invalid("to", f"at most {MAX_RANGE_DAYS - 1} days after from")


def zone_named(name: str | None) -> ZoneInfo:
    """The restaurant's zone; a name the system does not know falls back to UTC."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def zone_of(restaurant: Restaurant) -> ZoneInfo:
    return zone_named(restaurant.timezone)


def decimal_setting(value: object) -> Decimal | None:
    """A finite number from a pos setting (a JSON number or a numeric string), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        parsed = Decimal(str(value))
    except ArithmeticError:
        return None
    return parsed if parsed.is_finite() else None


@dataclass(frozen=True)
class Bounds:
    """The numbers a pos setting accepts; outside them its default applies."""

    low: Decimal
    high: Decimal
    low_included: bool = True
    places: int = 4  # decimal places: "1e-999999" is in range but a million digits long

    def __contains__(self, value: Decimal) -> bool:
        above_low = value >= self.low if self.low_included else value > self.low
        exponent = value.normalize().as_tuple().exponent
        fine_enough = isinstance(exponent, int) and exponent >= -self.places
        return above_low and value <= self.high and fine_enough


# Wide enough for any real rule, narrow enough that a mistyped setting ("1e999999" hours)
# cannot overflow the computation: it falls back to the default like a malformed value.
DAILY_HOURS = Bounds(Decimal(0), Decimal(24), low_included=False)
WEEKLY_HOURS = Bounds(Decimal(0), Decimal(168), low_included=False)
MULTIPLIER = Bounds(Decimal(1), Decimal(10))  # overtime never pays less than regular time
HOURLY_RATE = Bounds(Decimal(0), Decimal(1_000_000))  # major units, any currency's wages


def bounded_setting(value: object, bounds: Bounds) -> Decimal | None:
    """A pos setting as a number within ``bounds``, in plain notation (``10``, not
    ``1E+1``), or None when it is not one (the caller then uses its default)."""
    parsed = decimal_setting(value)
    if parsed is None or parsed not in bounds:
        return None
    return Decimal(format(parsed.normalize(), "f")) if parsed else Decimal(0)


@dataclass(frozen=True)
class Rules:
    daily_hours: Decimal = Decimal(8)
    weekly_hours: Decimal = Decimal(40)
    multiplier: Decimal = Decimal("1.5")
    paid_breaks: bool = False

    @classmethod
    def from_pos_settings(cls, pos: Mapping[str, Any]) -> Rules:
        def number(key: str, bounds: Bounds, default: Decimal) -> Decimal:
            parsed = bounded_setting(pos.get(key), bounds)
            return default if parsed is None else parsed

        return cls(
            daily_hours=number("overtimeDailyHours", DAILY_HOURS, cls.daily_hours),
            weekly_hours=number("overtimeWeeklyHours", WEEKLY_HOURS, cls.weekly_hours),
            multiplier=number("overtimeMultiplier", MULTIPLIER, cls.multiplier),
            paid_breaks=pos.get("paidBreaks") is True,
        )


@dataclass(frozen=True)
class Shift:
    """What the computation needs of one time entry."""

    key: Any
    clock_in: datetime
    clock_out: datetime | None
    unpaid_breaks: tuple[tuple[datetime, datetime], ...]
    hourly_rate_minor: int


@dataclass
class ShiftPay:
    worked_seconds: int = 0
    overtime_seconds: int = 0
    gross: Fraction = field(default_factory=Fraction)


@dataclass
class DayTotal:
    worked_seconds: int = 0
    overtime_seconds: int = 0


def unpaid_intervals(
    breaks: Iterable[Mapping[str, Any]],
) -> tuple[tuple[datetime, datetime], ...]:
    """The finished unpaid breaks of an entry's ``breaks`` list (ISO timestamps)."""
    return tuple(
        (datetime.fromisoformat(b["start"]), datetime.fromisoformat(b["end"]))
        for b in breaks
        if b.get("end") is not None and not b.get("paid")
    )


def as_shift(entry: TimeEntry, hourly_rate_minor: int = 0) -> Shift:
    """A time entry as the computation sees it (the rate matters to pay only)."""
    return Shift(
        entry.id, entry.clock_in, entry.clock_out, unpaid_intervals(entry.breaks), hourly_rate_minor
    )


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone)


def _worked_intervals(shift: Shift) -> list[tuple[datetime, datetime]]:
    assert shift.clock_out is not None
    intervals = [(shift.clock_in, shift.clock_out)]
    for b_start, b_end in sorted(shift.unpaid_breaks):
        kept: list[tuple[datetime, datetime]] = []
        for start, end in intervals:
            if b_end <= start or b_start >= end:
                kept.append((start, end))
                continue
            if start < b_start:
                kept.append((start, b_start))
            if b_end < end:
                kept.append((b_end, end))
        intervals = kept
    return intervals


def _day_start_after(day: date, zone: ZoneInfo, day_starts_at: time, after: datetime) -> datetime:
    """The instant the day after ``day`` starts, as UTC.

    UTC, because aware datetimes sharing one ``tzinfo`` subtract and compare by their wall
    clocks, which is wrong across a daylight-saving change. Of a repeated wall time (the
    autumn hour) the first occurrence after ``after`` is taken.
    """
    boundary = datetime.combine(day + timedelta(days=1), day_starts_at, tzinfo=zone)
    for fold in (0, 1):
        candidate = boundary.replace(fold=fold).astimezone(UTC)
        if candidate > after:
            return candidate
    return after + timedelta(hours=1)  # unreachable for a real zone; keeps the loop finite


def day_of(moment: datetime, zone: ZoneInfo, day_starts_at: time = MIDNIGHT) -> date:
    """The local day a moment belongs to when days start at ``day_starts_at``."""
    return business_date(moment, zone.key, day_starts_at)


def split_by_day(
    start: datetime, end: datetime, zone: ZoneInfo, day_starts_at: time = MIDNIGHT
) -> Iterable[tuple[date, int]]:
    """Seconds of ``[start, end)`` per local day (calendar days by default, business days
    when ``day_starts_at`` is the restaurant's business-day start)."""
    cursor = start.astimezone(UTC)
    end = end.astimezone(UTC)
    while cursor < end:
        day = day_of(cursor, zone, day_starts_at)
        piece_end = min(end, _day_start_after(day, zone, day_starts_at, cursor))
        yield day, int((piece_end - cursor).total_seconds())
        cursor = piece_end


def worked_pieces(shifts: Iterable[Shift]) -> Iterator[tuple[Shift, datetime, datetime]]:
    """One person's worked intervals (rule 1), in time order, each moment counted once.

    Corrections refuse overlapping entries, but rows written before that check may still
    overlap: time already covered by an earlier entry (from its clock-in to its clock-out)
    is not counted again on a later one, so no minute is paid twice.
    """
    covered: datetime | None = None
    for shift in sorted(shifts, key=lambda s: s.clock_in):
        if shift.clock_out is None:
            continue
        for start, end in _worked_intervals(shift):
            if covered is not None:
                start = max(start, covered)
            if start < end:
                yield shift, start, end
        covered = shift.clock_out if covered is None else max(covered, shift.clock_out)


def worked_by_day(
    shifts: Iterable[Shift], zone: ZoneInfo, day_starts_at: time = MIDNIGHT
) -> dict[date, int]:
    """Seconds one person worked per local day (rules 1 and 2), without overtime or pay:
    what tip pooling and planned-versus-worked count, so they agree with the timesheet."""
    days: dict[date, int] = defaultdict(int)
    for _, start, end in worked_pieces(shifts):
        for day, seconds in split_by_day(start, end, zone, day_starts_at):
            days[day] += seconds
    return dict(days)


def compute(
    shifts: Iterable[Shift], rules: Rules, zone: ZoneInfo
) -> tuple[dict[Any, ShiftPay], dict[date, DayTotal]]:
    """Of one person's shifts, per shift and per local day: seconds worked, overtime
    seconds, gross pay."""
    pieces: list[tuple[date, Shift, int]] = []  # in time order
    for shift, start, end in worked_pieces(shifts):
        pieces.extend((day, shift, seconds) for day, seconds in split_by_day(start, end, zone))
    daily_limit = int(rules.daily_hours * 3600)
    weekly_limit = int(rules.weekly_hours * 3600)
    day_used: dict[date, int] = defaultdict(int)
    week_regular: dict[date, int] = defaultdict(int)
    pay: dict[Any, ShiftPay] = {}
    days: dict[date, DayTotal] = {}
    multiplier = Fraction(rules.multiplier)
    for day, shift, seconds in pieces:
        regular = max(0, min(seconds, daily_limit - day_used[day]))
        day_used[day] += seconds
        week = day - timedelta(days=day.weekday())
        weekly_room = max(0, weekly_limit - week_regular[week])
        regular_kept = min(regular, weekly_room)
        week_regular[week] += regular_kept
        overtime = seconds - regular_kept
        entry = pay.setdefault(shift.key, ShiftPay())
        entry.worked_seconds += seconds
        entry.overtime_seconds += overtime
        entry.gross += (
            Fraction(shift.hourly_rate_minor * regular_kept, 3600)
            + Fraction(shift.hourly_rate_minor * overtime, 3600) * multiplier
        )
        total = days.setdefault(day, DayTotal())
        total.worked_seconds += seconds
        total.overtime_seconds += overtime
    return pay, days


def hours(seconds: int) -> Decimal:
    """Seconds as hours with two decimals (for showing; pay uses the exact seconds)."""
    return Decimal(round_half_up(Fraction(seconds, 36))).scaleb(-2)
