"""The overtime and pay rule, checked by hand on shifts across midnight and DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from fynlo.kit.money import round_half_up
from fynlo.staff.timesheet import Rules, Shift, compute, hours

LONDON = ZoneInfo("Europe/London")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def shift(key: str, start: datetime, end: datetime, rate: int = 1000, breaks=()) -> Shift:  # type: ignore[no-untyped-def]
    return Shift(key, start, end, tuple(breaks), rate)


def test_spring_forward_night_counts_real_hours() -> None:
    # 28 Mar 20:00 GMT to 29 Mar 07:00 BST: 11 hours on the wall clock, 10 really worked,
    # less a 30-minute unpaid break: 9.5 h, 4 h on the 28th and 5.5 h on the 29th.
    s = shift(
        "a",
        utc(2026, 3, 28, 20),
        utc(2026, 3, 29, 6),
        breaks=[(utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1))],
    )
    pay, days = compute([s], Rules(), LONDON)
    assert pay["a"].worked_seconds == 9.5 * 3600
    assert pay["a"].overtime_seconds == 0
    assert days[date(2026, 3, 28)].worked_seconds == 4 * 3600
    assert days[date(2026, 3, 29)].worked_seconds == 5.5 * 3600
    assert round_half_up(pay["a"].gross) == 9500


def test_fall_back_night_has_a_25_hour_day() -> None:
    # 24 Oct 18:00 BST to 25 Oct 08:00 GMT: 15 h, 6 on the 24th and 9 on the 25th (which
    # has 25 hours), so 1 h of daily overtime. At 12.00/h: 14 * 12 + 1 * 18 = 186.00.
    s = shift("a", utc(2026, 10, 24, 17), utc(2026, 10, 25, 8), rate=1200)
    pay, days = compute([s], Rules(), LONDON)
    assert days[date(2026, 10, 24)].worked_seconds == 6 * 3600
    assert days[date(2026, 10, 25)].worked_seconds == 9 * 3600
    assert days[date(2026, 10, 25)].overtime_seconds == 3600
    assert pay["a"].overtime_seconds == 3600
    assert round_half_up(pay["a"].gross) == 18600


def test_weekly_overtime_counts_only_time_not_already_daily_overtime() -> None:
    # Mon-Fri 9 h (1 h daily overtime each, 40 h regular), Saturday 6 h: all weekly overtime.
    shifts = [shift(f"d{d}", utc(2026, 6, 1 + d, 8), utc(2026, 6, 1 + d, 17)) for d in range(5)] + [
        shift("sat", utc(2026, 6, 6, 8), utc(2026, 6, 6, 14))
    ]
    pay, _ = compute(shifts, Rules(), LONDON)
    assert sum(p.overtime_seconds for p in pay.values()) == 11 * 3600
    assert pay["sat"].overtime_seconds == 6 * 3600
    gross = sum((p.gross for p in pay.values()), Fraction(0))
    assert round_half_up(gross) == 40 * 1000 + 11 * 1500


def test_next_monday_starts_a_new_week() -> None:
    shifts = [shift(f"d{d}", utc(2026, 6, 1 + d, 8), utc(2026, 6, 1 + d, 16)) for d in range(7)]
    shifts.append(shift("mon", utc(2026, 6, 8, 8), utc(2026, 6, 8, 16)))
    pay, _ = compute(shifts, Rules(), LONDON)
    assert pay["d5"].overtime_seconds == 8 * 3600  # Saturday: hours 41-48
    assert pay["mon"].overtime_seconds == 0


def test_rules_from_pos_settings() -> None:
    rules = Rules.from_pos_settings(
        {
            "overtimeDailyHours": 10,
            "overtimeWeeklyHours": "45",
            "overtimeMultiplier": 2,
            "paidBreaks": True,
        }
    )
    assert rules == Rules(Decimal(10), Decimal(45), Decimal(2), True)
    assert (
        Rules.from_pos_settings({"overtimeDailyHours": -1, "overtimeMultiplier": True}) == Rules()
    )
    s = shift("a", utc(2026, 10, 24, 17), utc(2026, 10, 25, 8), rate=1200)
    pay, _ = compute([s], rules, LONDON)
    assert pay["a"].overtime_seconds == 0


def test_open_shift_counts_nothing_and_hours_round_half_up() -> None:
    pay, days = compute([Shift("a", utc(2026, 1, 1, 9), None, (), 1000)], Rules(), LONDON)
    assert pay == {}
    assert days == {}
    assert hours(18) == Decimal("0.01")
    assert hours(17) == Decimal("0.00")
    assert hours(int(timedelta(hours=7, minutes=20).total_seconds())) == Decimal("7.33")


def test_settings_that_are_not_finite_numbers_fall_back_to_the_defaults() -> None:
    # "NaN" compared with 0 raises and "Infinity" hours cannot become seconds: either would
    # be a 500 on every timesheet read, so both fall back like any other bad value.
    for bad in ("NaN", "sNaN", "Infinity", "-Infinity", "lots", [8], None):
        assert (
            Rules.from_pos_settings(
                {"overtimeDailyHours": bad, "overtimeWeeklyHours": bad, "overtimeMultiplier": bad}
            )
            == Rules()
        ), bad
