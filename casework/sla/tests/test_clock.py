"""Hand-made business-time examples: each one is a case an SLA admin would check on paper."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from casework.sla.clock import (
    BusinessCalendar,
    WorkingInterval,
    add_business_time,
    at_risk_lead,
    business_time_between,
    holiday_dates,
    is_working_time,
    next_working_instant,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
H = timedelta(hours=1)
MIN = timedelta(minutes=1)


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def new_york(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def every_day(tz: str, *intervals: WorkingInterval) -> BusinessCalendar:
    return BusinessCalendar(timezone=tz, week=dict.fromkeys(range(7), intervals))


@pytest.fixture(scope="module")
def uk_office() -> BusinessCalendar:
    return BusinessCalendar.weekdays(
        time(9), time(18), "Europe/London", holidays=holiday_dates("GB", "ENG", range(2025, 2030))
    )


# --- weekday calendar basics -------------------------------------------------------------------------------


def test_friday_evening_rolls_over_the_weekend(uk_office: BusinessCalendar) -> None:
    due = add_business_time(london(2026, 3, 6, 17, 30), H, uk_office)  # Friday
    assert due == london(2026, 3, 9, 9, 30)  # Monday
    assert due.tzinfo is UTC


def test_start_before_opening_counts_from_opening(uk_office: BusinessCalendar) -> None:
    assert add_business_time(london(2026, 6, 1, 7, 0), H, uk_office) == london(2026, 6, 1, 10, 0)


def test_start_inside_hours_counts_immediately(uk_office: BusinessCalendar) -> None:
    assert add_business_time(london(2026, 6, 1, 10, 15), 2 * H, uk_office) == london(2026, 6, 1, 12, 15)


def test_target_used_up_at_closing_falls_due_at_closing(uk_office: BusinessCalendar) -> None:
    assert add_business_time(london(2026, 6, 1, 17, 0), H, uk_office) == london(2026, 6, 1, 18, 0)
    assert add_business_time(london(2026, 6, 1, 17, 0), H + MIN, uk_office) == london(2026, 6, 2, 9, 1)


def test_zero_duration_returns_start_even_outside_hours(uk_office: BusinessCalendar) -> None:
    saturday = london(2026, 6, 6, 3, 0)
    due = add_business_time(saturday, timedelta(0), uk_office)
    assert due == saturday
    assert due.tzinfo is UTC


def test_long_target_spans_weeks(uk_office: BusinessCalendar) -> None:
    # 72 business hours = 8 days of 9 h; Monday 1 June 2026 09:00 → Wednesday 10 June 18:00.
    assert add_business_time(london(2026, 6, 1, 9), 72 * H, uk_office) == london(2026, 6, 10, 18)


def test_between_counts_only_open_hours(uk_office: BusinessCalendar) -> None:
    assert business_time_between(london(2026, 6, 5, 17), london(2026, 6, 8, 10), uk_office) == 2 * H
    assert business_time_between(london(2026, 6, 8, 10), london(2026, 6, 5, 17), uk_office) == -2 * H
    assert business_time_between(london(2026, 6, 6, 10), london(2026, 6, 7, 10), uk_office) == timedelta(0)


def test_working_time_is_half_open(uk_office: BusinessCalendar) -> None:
    assert is_working_time(london(2026, 6, 1, 9), uk_office)
    assert not is_working_time(london(2026, 6, 1, 18), uk_office)
    assert not is_working_time(london(2026, 6, 1, 8, 59, 59), uk_office)
    assert not is_working_time(london(2026, 6, 6, 12), uk_office)  # Saturday


def test_next_working_instant(uk_office: BusinessCalendar) -> None:
    inside = london(2026, 6, 1, 11, 11)
    assert next_working_instant(inside, uk_office) == inside
    assert next_working_instant(london(2026, 6, 5, 18), uk_office) == london(2026, 6, 8, 9)


# --- holidays ----------------------------------------------------------------------------------------------


def test_holiday_dates_include_observed_substitute_days() -> None:
    days = holiday_dates("GB", "ENG", [2026], extra=[date(2026, 7, 1)])
    # 2026: Christmas Friday, Boxing Day Saturday → substitute Monday 28th.
    assert {date(2026, 12, 25), date(2026, 12, 26), date(2026, 12, 28), date(2026, 7, 1)} <= days
    assert date(2026, 12, 29) not in days


def test_holiday_dates_unknown_country() -> None:
    with pytest.raises(ValueError, match="unknown holiday calendar"):
        holiday_dates("XX", None, [2026])
    with pytest.raises(ValueError, match="unknown holiday calendar"):
        holiday_dates("GB", "Atlantis", [2026])


def test_christmas_and_boxing_day_are_skipped(uk_office: BusinessCalendar) -> None:
    # Thursday 24 Dec 17:00 + 2 h: 1 h on the 24th, then 25 (hol), 26-27 (weekend), 28 (observed) → Tue 29th.
    assert add_business_time(london(2026, 12, 24, 17), 2 * H, uk_office) == london(2026, 12, 29, 10)
    assert business_time_between(london(2026, 12, 24), london(2026, 12, 30), uk_office) == 18 * H


def test_new_year_holiday_across_the_year_boundary(uk_office: BusinessCalendar) -> None:
    # Wed 31 Dec 2025 17:00 + 2 h; 1 Jan 2026 is a holiday → Friday 2 Jan 10:00.
    assert add_business_time(london(2025, 12, 31, 17), 2 * H, uk_office) == london(2026, 1, 2, 10)


# --- several intervals a day -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lunch_break() -> BusinessCalendar:
    morning = WorkingInterval(time(9), time(12, 30))
    afternoon = WorkingInterval(time(13, 30), time(18))
    return BusinessCalendar(timezone="Europe/London", week=dict.fromkeys(range(5), (afternoon, morning)))


def test_lunch_break_splits_the_target(lunch_break: BusinessCalendar) -> None:
    assert add_business_time(london(2026, 6, 1, 12), H, lunch_break) == london(2026, 6, 1, 14)
    assert add_business_time(london(2026, 6, 1, 12), 30 * MIN, lunch_break) == london(2026, 6, 1, 12, 30)
    assert business_time_between(london(2026, 6, 1, 11), london(2026, 6, 1, 15), lunch_break) == 3 * H
    assert not is_working_time(london(2026, 6, 1, 13), lunch_break)
    assert next_working_instant(london(2026, 6, 1, 13), lunch_break) == london(2026, 6, 1, 13, 30)


# --- DST -------------------------------------------------------------------------------------------------


def test_london_spring_forward_day_has_23_real_hours() -> None:
    always = every_day("Europe/London", WorkingInterval(time(0), time(0)))
    sunday = date(2026, 3, 29)
    assert business_time_between(london(2026, 3, 29), london(2026, 3, 30), always) == 23 * H
    # 00:00 + 2 business hours: 00:00 GMT … 01:00 GMT, clocks jump, 02:00 … 03:00 BST.
    due = add_business_time(london(2026, 3, 29), 2 * H, always)
    assert due.astimezone(LONDON) == london(2026, 3, 29, 3)
    assert sunday.weekday() == 6


def test_london_fall_back_night_shift_lasts_seven_hours() -> None:
    night = every_day("Europe/London", WorkingInterval(time(0), time(6)))
    assert business_time_between(london(2026, 10, 25), london(2026, 10, 26), night) == 7 * H
    assert business_time_between(london(2026, 3, 29), london(2026, 3, 30), night) == 5 * H
    assert business_time_between(london(2026, 6, 7), london(2026, 6, 8), night) == 6 * H


def test_interval_inside_the_repeated_hour_covers_both_occurrences() -> None:
    cal = every_day("Europe/London", WorkingInterval(time(1), time(2)))
    # 01:00 BST (00:00 UTC) until 02:00 GMT (02:00 UTC).
    assert business_time_between(utc(2026, 10, 25), utc(2026, 10, 25, 3), cal) == 2 * H
    assert is_working_time(utc(2026, 10, 25, 1, 30), cal)


def test_interval_starting_in_the_skipped_hour_starts_at_the_jump() -> None:
    sundays = BusinessCalendar(timezone="Europe/London", week={6: (WorkingInterval(time(1, 30), time(3)),)})
    # The clock jumps from 01:00 GMT to 02:00 BST at 01:00 UTC; work runs 01:00–02:00 UTC.
    assert next_working_instant(london(2026, 3, 28, 12), sundays) == utc(2026, 3, 29, 1)
    assert business_time_between(london(2026, 3, 28), london(2026, 3, 30), sundays) == H
    gap_only = BusinessCalendar(
        timezone="Europe/London", week={6: (WorkingInterval(time(1, 15), time(1, 45)),)}
    )
    # Wholly inside the skipped hour: no working time that Sunday, the next one counts.
    assert business_time_between(london(2026, 3, 28), london(2026, 3, 30), gap_only) == timedelta(0)
    assert next_working_instant(london(2026, 3, 28), gap_only) == london(2026, 4, 5, 1, 15)


def test_midnight_dst_gap_in_sao_paulo() -> None:
    # Brazil started DST at midnight on 4 Nov 2018: 00:00 did not exist, the day began at 01:00 (-02).
    sundays = BusinessCalendar(timezone="America/Sao_Paulo", week={6: (WorkingInterval(time(0), time(0)),)})
    saturday = datetime(2018, 11, 3, 12, tzinfo=ZoneInfo("America/Sao_Paulo"))
    assert next_working_instant(saturday, sundays) == utc(2018, 11, 4, 3)
    assert business_time_between(saturday, saturday + timedelta(days=2), sundays) == 23 * H


def test_new_york_weekday_hours_keep_local_wall_clock_across_dst() -> None:
    cal = BusinessCalendar.weekdays(time(9), time(17), "America/New_York")
    # Friday before spring forward (8 Mar 2026) → Monday 10:00 EDT, 2 h of business time.
    due = add_business_time(new_york(2026, 3, 6, 16), 2 * H, cal)
    assert due.astimezone(NEW_YORK) == new_york(2026, 3, 9, 10)
    assert due == utc(2026, 3, 9, 14)
    due = add_business_time(new_york(2026, 10, 30, 16), 2 * H, cal)  # fall back on 1 Nov
    assert due == utc(2026, 11, 2, 15)


def test_new_york_night_shift_across_spring_forward() -> None:
    night = BusinessCalendar(timezone="America/New_York", week={5: (WorkingInterval(time(22), time(6)),)})
    assert business_time_between(new_york(2026, 3, 7), new_york(2026, 3, 9), night) == 7 * H
    assert business_time_between(new_york(2026, 10, 31), new_york(2026, 11, 2), night) == 9 * H


# --- midnight-spanning shifts ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def night_shift() -> BusinessCalendar:
    shift = (WorkingInterval(time(22), time(6)),)
    return BusinessCalendar(timezone="UTC", week=dict.fromkeys(range(5), shift), holidays={date(2026, 6, 12)})


def test_friday_night_shift_runs_into_saturday(night_shift: BusinessCalendar) -> None:
    # Thursday 11 June's shift ends Friday 06:00; Friday 12 June is a holiday so no shift starts that night.
    assert is_working_time(utc(2026, 6, 12, 5), night_shift)
    assert not is_working_time(utc(2026, 6, 12, 23), night_shift)
    # Monday 8 June's shift runs into Tuesday; a normal Friday (5 June) runs into Saturday.
    assert is_working_time(utc(2026, 6, 6, 5, 59), night_shift)
    assert add_business_time(utc(2026, 6, 6, 5), 2 * H, night_shift) == utc(2026, 6, 8, 23)


def test_night_shift_across_new_year() -> None:
    shift = (WorkingInterval(time(22), time(6)),)
    cal = BusinessCalendar(timezone="UTC", week=dict.fromkeys(range(7), shift), holidays={date(2027, 1, 1)})
    # 31 Dec 2026's shift runs into the 1 January holiday; none starts on the 1st.
    assert is_working_time(utc(2027, 1, 1, 3), cal)
    assert add_business_time(utc(2026, 12, 31, 23), 8 * H, cal) == utc(2027, 1, 2, 23)
    assert business_time_between(utc(2026, 12, 31), utc(2027, 1, 3), cal) == 16 * H


def test_until_midnight_interval() -> None:
    cal = every_day("UTC", WorkingInterval(time(20), time(0)))
    assert business_time_between(utc(2026, 6, 1), utc(2026, 6, 2), cal) == 4 * H
    assert add_business_time(utc(2026, 6, 1, 23), 2 * H, cal) == utc(2026, 6, 2, 21)


# --- leap day, 24×7, dead calendars ------------------------------------------------------------------------


def test_leap_day_2028() -> None:
    cal = BusinessCalendar.weekdays(time(9), time(17), "Europe/London")
    assert add_business_time(london(2028, 2, 28, 16), 2 * H, cal) == london(2028, 2, 29, 10)
    assert business_time_between(london(2028, 2, 28), london(2028, 3, 2), cal) == 24 * H
    leap_holiday = BusinessCalendar.weekdays(time(9), time(17), "Europe/London", holidays={date(2028, 2, 29)})
    assert add_business_time(london(2028, 2, 28, 16), 2 * H, leap_holiday) == london(2028, 3, 1, 10)


def test_twenty_four_seven_is_real_elapsed_time() -> None:
    cal = BusinessCalendar.twenty_four_seven("Europe/London")
    start = london(2026, 3, 28, 12)
    due = add_business_time(start, 24 * H, cal)
    assert due == utc(2026, 3, 29, 12)  # not wall-clock 12:00 BST, which is only 23 h later
    assert business_time_between(start, due, cal) == 24 * H
    assert is_working_time(start, cal)
    assert next_working_instant(start, cal) == start


def test_calendar_without_any_interval_raises() -> None:
    empty = BusinessCalendar(timezone="UTC")
    with pytest.raises(ValueError, match="calendar has no working time"):
        add_business_time(utc(2026, 1, 1), H, empty)
    with pytest.raises(ValueError, match="calendar has no working time"):
        next_working_instant(utc(2026, 1, 1), empty)
    assert business_time_between(utc(2026, 1, 1), utc(2027, 1, 1), empty) == timedelta(0)
    assert not is_working_time(utc(2026, 1, 1), empty)


def test_years_of_holidays_raise_instead_of_looping() -> None:
    every = [date(2026, 1, 1) + timedelta(days=i) for i in range(365 * 3 + 1)]
    dead = BusinessCalendar.weekdays(time(9), time(17), "UTC", holidays=every)
    with pytest.raises(ValueError, match="calendar has no working time"):
        add_business_time(utc(2026, 3, 1), H, dead)
    one_year_off = BusinessCalendar.weekdays(time(9), time(17), "UTC", holidays=every[:365])
    assert add_business_time(utc(2026, 3, 1), H, one_year_off) == utc(2027, 1, 1, 10)  # Friday


# --- validation --------------------------------------------------------------------------------------------


def test_naive_datetimes_are_rejected(uk_office: BusinessCalendar) -> None:
    naive = datetime(2026, 6, 1, 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_time(naive, H, uk_office)
    with pytest.raises(ValueError, match="timezone-aware"):
        business_time_between(london(2026, 6, 1), naive, uk_office)
    with pytest.raises(ValueError, match="timezone-aware"):
        is_working_time(naive, uk_office)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_working_instant(naive, uk_office)


def test_negative_duration_is_rejected(uk_office: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="negative"):
        add_business_time(london(2026, 6, 1), -MIN, uk_office)


def test_bad_timezone() -> None:
    with pytest.raises(ValueError, match="unknown timezone 'Mars/Olympus'"):
        BusinessCalendar.weekdays(time(9), time(17), "Mars/Olympus")


def test_overlapping_intervals_on_one_day() -> None:
    with pytest.raises(ValueError, match="overlapping working intervals: Monday 09:00–12:00 overlaps Monday"):
        BusinessCalendar(
            timezone="UTC",
            week={0: (WorkingInterval(time(9), time(12)), WorkingInterval(time(11), time(14)))},
        )


def test_overnight_shift_overlapping_next_morning() -> None:
    with pytest.raises(ValueError, match="Tuesday 22:00–06:00 overlaps Wednesday 05:00–09:00"):
        BusinessCalendar(
            timezone="UTC",
            week={1: (WorkingInterval(time(22), time(6)),), 2: (WorkingInterval(time(5), time(9)),)},
        )
    with pytest.raises(ValueError, match="Sunday 22:00–06:00 overlaps Monday"):
        BusinessCalendar(
            timezone="UTC",
            week={6: (WorkingInterval(time(22), time(6)),), 0: (WorkingInterval(time(5), time(9)),)},
        )


def test_touching_intervals_are_allowed() -> None:
    cal = BusinessCalendar(
        timezone="UTC", week={0: (WorkingInterval(time(9), time(12)), WorkingInterval(time(12), time(15)))}
    )
    assert business_time_between(utc(2026, 6, 1), utc(2026, 6, 2), cal) == 6 * H
    assert is_working_time(utc(2026, 6, 1, 12), cal)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"week": {7: ()}}, "weekday keys"),
        ({"week": {0: ("09:00-17:00",)}}, "expected WorkingInterval"),
        ({"holidays": {datetime(2026, 1, 1)}}, "holidays must be dates"),
        ({"always_open": True, "holidays": {date(2026, 1, 1)}}, "always_open"),
    ],
)
def test_invalid_calendars(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(timezone="UTC", **kwargs)


def test_working_interval_rejects_aware_times() -> None:
    with pytest.raises(ValueError, match="naive local time"):
        WorkingInterval(time(9, tzinfo=UTC), time(17))


def test_calendars_are_hashable_values() -> None:
    a = BusinessCalendar.weekdays(time(9), time(17), "UTC", holidays={date(2026, 1, 1)})
    b = BusinessCalendar.weekdays(time(9), time(17), "UTC", holidays=[date(2026, 1, 1)])
    add_business_time(utc(2026, 6, 1), H, a)  # warm a's cache; the cache must not affect equality
    assert a == b
    assert hash(a) == hash(b)
    assert a != BusinessCalendar.weekdays(time(9), time(18), "UTC")


# --- at-risk lead ------------------------------------------------------------------------------------------


def test_at_risk_lead() -> None:
    assert at_risk_lead(H) == 15 * MIN
    assert at_risk_lead(4 * H) == 30 * MIN
    assert at_risk_lead(timedelta(0)) == timedelta(0)
    assert at_risk_lead(8 * H, cap=2 * H, fraction=0.1) == 48 * MIN
    with pytest.raises(ValueError):
        at_risk_lead(-H)
    with pytest.raises(ValueError):
        at_risk_lead(H, fraction=1.5)
