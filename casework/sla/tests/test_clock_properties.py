"""Algebraic properties of the business clock, and a cross-check against a minute-by-minute reference."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from casework.sla.clock import (
    BusinessCalendar,
    WorkingInterval,
    add_business_time,
    business_time_between,
    is_working_time,
    next_working_instant,
)

SLOT_MINUTES = 15
SLOTS_PER_DAY = 24 * 60 // SLOT_MINUTES
ONE_US = timedelta(microseconds=1)
TIMEZONES = [
    "UTC",
    "Europe/London",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Asia/Kathmandu",
]
# Lord Howe shifts by 30 minutes and Kathmandu is +05:45: both catch arithmetic that assumes whole hours.

clock_settings = settings(max_examples=60, deadline=None)


@st.composite
def calendars(
    draw: st.DrawFn, timezones: list[str] = TIMEZONES, avoid_dst_hours: bool = False
) -> BusinessCalendar:
    """Weekly calendars of up to five non-overlapping intervals on a 15-minute grid, some past midnight."""
    slots = range(7 * SLOTS_PER_DAY)
    if avoid_dst_hours:
        # 01:00–03:00 local is where European and American clocks change; the reference below does not model
        # boundaries that fall inside a skipped or repeated hour.
        slots = [s for s in slots if not 4 <= s % SLOTS_PER_DAY < 12]
    points = sorted(draw(st.lists(st.sampled_from(slots), min_size=2, max_size=10, unique=True)))
    # Rotating by whole days keeps the intervals disjoint around the week and lets Sunday run into Monday.
    rotate_days = draw(st.integers(0, 6))
    week: dict[int, list[WorkingInterval]] = {}
    for start, end in zip(points[::2], points[1::2], strict=False):
        length = min(end - start, SLOTS_PER_DAY)
        interval = WorkingInterval(_slot_time(start), _slot_time(start + length))
        week.setdefault((start // SLOTS_PER_DAY + rotate_days) % 7, []).append(interval)
    holidays = draw(st.frozensets(st.dates(date(2025, 12, 1), date(2028, 1, 31)), max_size=25))
    tz = draw(st.sampled_from(timezones))
    return BusinessCalendar(
        timezone=tz, week={day: tuple(ivs) for day, ivs in week.items()}, holidays=holidays
    )


def _slot_time(slot: int) -> time:
    minutes = (slot % SLOTS_PER_DAY) * SLOT_MINUTES
    return time(minutes // 60, minutes % 60)


instants = st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC))
durations = st.integers(0, 200 * 3600 * 1_000_000).map(lambda us: timedelta(microseconds=us))
all_calendars = st.one_of(calendars(), st.just(BusinessCalendar.twenty_four_seven("Europe/London")))


@clock_settings
@given(all_calendars, instants, durations, durations)
def test_monotonic_in_duration(calendar: BusinessCalendar, t: datetime, a: timedelta, b: timedelta) -> None:
    small, large = sorted((a, b))
    assert add_business_time(t, small, calendar) <= add_business_time(t, large, calendar)


@clock_settings
@given(all_calendars, instants, durations, durations)
def test_additive(calendar: BusinessCalendar, t: datetime, a: timedelta, b: timedelta) -> None:
    assert add_business_time(add_business_time(t, a, calendar), b, calendar) == add_business_time(
        t, a + b, calendar
    )


@clock_settings
@given(all_calendars, instants, durations)
def test_between_inverts_add(calendar: BusinessCalendar, t: datetime, d: timedelta) -> None:
    due = add_business_time(t, d, calendar)
    assert due >= t
    assert business_time_between(t, due, calendar) == d


@clock_settings
@given(all_calendars, instants, st.integers(1, 200 * 3600 * 1_000_000))
def test_due_is_earliest_and_working_or_boundary(calendar: BusinessCalendar, t: datetime, us: int) -> None:
    d = timedelta(microseconds=us)
    due = add_business_time(t, d, calendar)
    # Either the clock is running at the due instant, or the due instant closes a working interval.
    assert is_working_time(due, calendar) or is_working_time(due - ONE_US, calendar)
    # Earliest: one microsecond sooner the target has not been met yet.
    assert business_time_between(t, due - ONE_US, calendar) < d


@clock_settings
@given(all_calendars, instants, instants, instants)
def test_between_chains(calendar: BusinessCalendar, a: datetime, b: datetime, c: datetime) -> None:
    assert business_time_between(a, b, calendar) + business_time_between(b, c, calendar) == (
        business_time_between(a, c, calendar)
    )


@clock_settings
@given(all_calendars, instants, instants)
def test_between_never_exceeds_wall_time(calendar: BusinessCalendar, a: datetime, b: datetime) -> None:
    a, b = sorted((a, b))
    assert timedelta(0) <= business_time_between(a, b, calendar) <= b - a
    assert business_time_between(b, a, calendar) == -business_time_between(a, b, calendar)


@clock_settings
@given(all_calendars, instants)
def test_working_time_agrees_with_between(calendar: BusinessCalendar, t: datetime) -> None:
    running = business_time_between(t, t + ONE_US, calendar) == ONE_US
    assert is_working_time(t, calendar) is running
    nxt = next_working_instant(t, calendar)
    assert nxt >= t
    assert is_working_time(nxt, calendar)
    assert business_time_between(t, nxt, calendar) == timedelta(0)


def _reference_between(calendar: BusinessCalendar, a: datetime, b: datetime) -> timedelta:
    """Walk real time minute by minute and ask, for each minute, whether its local wall time is inside an
    interval that started on a non-holiday date. Independent of the engine's UTC interval tables."""
    tz = ZoneInfo(calendar.timezone)
    spans = {}
    worked = 0
    t = a
    while t < b:
        wall = t.astimezone(tz).replace(tzinfo=None)
        for day in (wall.date() - timedelta(days=1), wall.date()):
            if day in calendar.holidays:
                continue
            for interval in calendar.week.get(day.weekday(), ()):
                key = (day, interval)
                if key not in spans:
                    start = datetime.combine(day, interval.start)
                    end = datetime.combine(day, interval.end)
                    spans[key] = (start, end + timedelta(days=1) if interval.spans_midnight else end)
                start, end = spans[key]
                if start <= wall < end:
                    worked += 1
        t += timedelta(minutes=1)
    return timedelta(minutes=worked)


@settings(max_examples=40, deadline=None)
@given(
    calendars(timezones=["UTC", "Asia/Kolkata", "Europe/London", "America/New_York"], avoid_dst_hours=True),
    st.sampled_from([date(2026, 3, 27), date(2026, 10, 23), date(2026, 3, 6), date(2026, 12, 30)]),
    st.integers(0, 2 * 24 * 60),
    st.integers(0, 3 * 24 * 60),
)
def test_matches_minute_by_minute_reference(
    calendar: BusinessCalendar, around: date, offset_min: int, length_min: int
) -> None:
    # Windows around the London/New York DST weekends and the new year, where day lengths and years change.
    a = datetime.combine(around, time(0), tzinfo=UTC) + timedelta(minutes=offset_min)
    b = a + timedelta(minutes=length_min)
    assert business_time_between(a, b, calendar) == _reference_between(calendar, a, b)
