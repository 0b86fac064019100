"""Hours, overtime and gross pay of a timesheet: pure functions, no database.

The rule, with ``daily`` = ``overtimeDailyHours`` (default 8), ``weekly`` =
``overtimeWeeklyHours`` (default 40) and ``multiplier`` = ``overtimeMultiplier`` (default 1.5)
from the restaurant's pos settings:

1. Worked time of an entry is clock-out minus clock-in in real elapsed time (a shift across a
   daylight-saving change is as long as the clock on the wall says it lasted, not its local
   times' difference), minus its *unpaid* breaks. Open entries count nothing yet.
2. The worked time is split at local midnights (the restaurant's time zone), so each minute
   falls on the local day it was worked.
3. **Daily overtime**: on each local day, worked time beyond ``daily`` hours is overtime (the
   latest minutes of that day).
4. **Weekly overtime**: the remaining (regular) time is counted through each local week,
   Monday to Sunday, in time order; regular time beyond ``weekly`` hours in that week becomes
   overtime too. A minute is never overtime twice.
5. Gross pay = regular seconds * rate + overtime seconds * rate * multiplier, each entry at
   its own hourly rate, summed exactly and rounded once (half up) to the minor unit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from fynlo.kit.money import round_half_up

FORGOTTEN_AFTER = timedelta(hours=16)


@dataclass(frozen=True)
class Rules:
    daily_hours: Decimal = Decimal(8)
    weekly_hours: Decimal = Decimal(40)
    multiplier: Decimal = Decimal("1.5")
    paid_breaks: bool = False

    @classmethod
    def from_pos_settings(cls, pos: Mapping[str, Any]) -> Rules:
        def number(key: str, default: Decimal) -> Decimal:
            value = pos.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
                return default
            try:
                parsed = Decimal(str(value))
            except ArithmeticError:
                return default
            return parsed if parsed > 0 else default

        return cls(
            daily_hours=number("overtimeDailyHours", cls.daily_hours),
            weekly_hours=number("overtimeWeeklyHours", cls.weekly_hours),
            multiplier=number("overtimeMultiplier", cls.multiplier),
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


def _split_by_local_day(
    start: datetime, end: datetime, zone: ZoneInfo
) -> Iterable[tuple[date, int]]:
    cursor = start
    while cursor < end:
        day = cursor.astimezone(zone).date()
        boundary = local_midnight(day + timedelta(days=1), zone)
        piece_end = min(end, boundary)
        yield day, int((piece_end - cursor).total_seconds())
        cursor = piece_end


def compute(
    shifts: Iterable[Shift], rules: Rules, zone: ZoneInfo
) -> tuple[dict[Any, ShiftPay], dict[date, DayTotal]]:
    """Per shift and per local day: seconds worked, overtime seconds, gross pay."""
    pieces: list[tuple[date, Shift, int]] = []  # in time order
    for shift in sorted(shifts, key=lambda s: s.clock_in):
        if shift.clock_out is None:
            continue
        for start, end in _worked_intervals(shift):
            pieces.extend(
                (day, shift, seconds) for day, seconds in _split_by_local_day(start, end, zone)
            )
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
