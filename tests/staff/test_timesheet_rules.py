"""The overtime and pay rule, checked by hand on shifts across midnight and DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from fynlo.kit.money import round_half_up
from fynlo.staff.timesheet import Rules, Shift, compute, hours, worked_by_day

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


def test_settings_out_of_range_fall_back_and_the_bounds_are_accepted() -> None:
    # Hours above a day or a week, a multiplier below 1 or above 10, and numbers too large to
    # compute with ("1e999999" hours overflowed int(); "1e5000" made Fraction huge).
    for daily, weekly, multiplier in [
        ("1e999999", "1e999999", "1e5000"),
        (Decimal("24.01"), Decimal("168.01"), Decimal("10.01")),
        (0, 0, Decimal("0.99")),
        ("-1e999999", "1e-999999", 0),
        ("8.00001", 1 / 3, "1.33333"),  # more than 4 decimal places
    ]:
        rules = Rules.from_pos_settings(
            {
                "overtimeDailyHours": daily,
                "overtimeWeeklyHours": weekly,
                "overtimeMultiplier": multiplier,
            }
        )
        assert rules == Rules(), (daily, weekly, multiplier)
    edge = Rules.from_pos_settings(
        {"overtimeDailyHours": 24, "overtimeWeeklyHours": "168", "overtimeMultiplier": 10}
    )
    assert edge == Rules(Decimal(24), Decimal(168), Decimal(10))
    low = Rules.from_pos_settings(
        {"overtimeDailyHours": "0.0001", "overtimeWeeklyHours": 1, "overtimeMultiplier": 1.25}
    )
    assert low == Rules(Decimal("0.0001"), Decimal(1), Decimal("1.25"))
    # Shown in plain notation, as the timesheet's `rules` answers them.
    shown = Rules.from_pos_settings({"overtimeDailyHours": "1e1", "overtimeMultiplier": "2.50"})
    assert (str(shown.daily_hours), str(shown.multiplier)) == ("10", "2.5")


def test_overlapping_entries_count_each_moment_once() -> None:
    # Rows from before corrections were checked may overlap: 09-13 and 12-16 is 7 hours,
    # not 8, the shared hour on the earlier entry; an entry inside another counts nothing.
    shifts = [
        shift("a", utc(2026, 6, 8, 8), utc(2026, 6, 8, 12)),
        shift("b", utc(2026, 6, 8, 11), utc(2026, 6, 8, 15)),
        shift("c", utc(2026, 6, 8, 13), utc(2026, 6, 8, 14)),
    ]
    pay, days = compute(shifts, Rules(), LONDON)
    assert (pay["a"].worked_seconds, pay["b"].worked_seconds) == (4 * 3600, 3 * 3600)
    assert "c" not in pay
    assert days[date(2026, 6, 8)].worked_seconds == 7 * 3600
    assert worked_by_day(shifts, LONDON) == {date(2026, 6, 8): 7 * 3600}
    total = sum((p.gross for p in pay.values()), Fraction(0))
    assert round_half_up(total) == 7000
