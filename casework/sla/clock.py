"""Business-time arithmetic for SLA clocks. Pure: no Django, no I/O.

Working time is declared in local wall-clock intervals per weekday and converted to real (UTC) instants per
local date. Business time is the real elapsed time spent inside those instants, so a 00:00–06:00 night shift
on a spring-forward night lasts 5 hours and on a fall-back night 7 hours, exactly what the people on shift
work.

All arithmetic is done on integer microseconds since the Unix epoch: it is exact (hypothesis checks additivity
to the microsecond) and several times faster than datetime arithmetic. Each calendar lazily builds, per local
year, the sorted working intervals of that year with a running total of business time, so `add_business_time`
and `business_time_between` are two bisections per year touched instead of a walk over days.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

__all__ = [
    "BusinessCalendar",
    "WorkingInterval",
    "add_business_time",
    "at_risk_lead",
    "business_time_between",
    "holiday_dates",
    "is_working_time",
    "next_working_instant",
]

_US_PER_SECOND = 1_000_000
_US_PER_DAY = 86_400 * _US_PER_SECOND
_ONE_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# A calendar whose holidays blank out this many consecutive years is treated as having no working time at
# all; it bounds every search so a misconfigured calendar fails loudly instead of looping.
_MAX_EMPTY_YEARS = 3


@dataclass(frozen=True, slots=True)
class WorkingInterval:
    """Local wall-clock working hours starting on one weekday.

    ``end <= start`` means the interval runs past midnight into the next day (22:00–06:00); ``end == 00:00``
    therefore means "until midnight", and 00:00–00:00 is a whole 24-hour day.
    """

    start: time
    end: time

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, time):
                raise ValueError(f"WorkingInterval.{name} must be a datetime.time, got {value!r}")
            if value.tzinfo is not None:
                raise ValueError(f"WorkingInterval.{name} must be a naive local time, got {value!r}")

    @property
    def spans_midnight(self) -> bool:
        return self.end <= self.start

    def wall_span_us(self) -> tuple[int, int]:
        """Start and end as microseconds after the start date's midnight (end may exceed one day)."""
        start = _time_us(self.start)
        end = _time_us(self.end)
        if end <= start:
            end += _US_PER_DAY
        return start, end

    def __str__(self) -> str:
        return f"{self.start.isoformat('minutes')}–{self.end.isoformat('minutes')}"


@dataclass(frozen=True, slots=True)
class _YearTable:
    """Working intervals whose local start date falls in one year, as sorted UTC microseconds."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    cum_before: tuple[int, ...]  # business time in this year before interval i starts
    cum_end: tuple[int, ...]  # business time in this year when interval i ends
    total: int

    def business_before(self, instant: int) -> int:
        """Business time of this year's intervals that lies before ``instant``."""
        i = bisect.bisect_right(self.starts, instant) - 1
        if i < 0:
            return 0
        return self.cum_before[i] + min(instant, self.ends[i]) - self.starts[i]

    def instant_at(self, business: int) -> int:
        """Earliest instant at which ``business`` (0 < business <= total) has accrued in this year."""
        j = bisect.bisect_left(self.cum_end, business)
        return self.starts[j] + business - self.cum_before[j]


@dataclass(frozen=True)
class BusinessCalendar:
    """When the clock runs: weekday intervals in ``timezone``, minus ``holidays``.

    ``week`` maps weekday (0 = Monday) to its intervals. ``holidays`` are local dates on which no interval
    *starts*; a night shift that began the evening before a holiday still runs to its end. ``always_open``
    is a 24×7 fast path and takes no week or holidays (write 00:00–00:00 on every day for "24×7 except
    holidays").
    """

    timezone: str
    week: Mapping[int, tuple[WorkingInterval, ...]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    always_open: bool = False
    _tz: ZoneInfo = field(init=False, repr=False, compare=False)
    _years: dict[int, _YearTable] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        try:
            tz = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ValueError(f"unknown timezone {self.timezone!r}") from exc
        object.__setattr__(self, "_tz", tz)
        week = _normalise_week(self.week)
        object.__setattr__(self, "week", MappingProxyType(week))
        holidays = frozenset(self.holidays)
        for day in holidays:
            if not isinstance(day, date) or isinstance(day, datetime):
                raise ValueError(f"holidays must be dates, got {day!r}")
        object.__setattr__(self, "holidays", holidays)
        if self.always_open and (week or holidays):
            raise ValueError(
                "an always_open calendar takes no week or holidays; use 00:00–00:00 intervals for "
                "'24×7 except holidays'"
            )
        _check_no_overlap(week)

    def __hash__(self) -> int:
        return hash((self.timezone, tuple(sorted(self.week.items())), self.holidays, self.always_open))

    @classmethod
    def twenty_four_seven(cls, tz: str = "UTC") -> BusinessCalendar:
        return cls(timezone=tz, always_open=True)

    @classmethod
    def weekdays(
        cls, start: time, end: time, tz: str, holidays: Iterable[date] = frozenset()
    ) -> BusinessCalendar:
        """Monday to Friday, one interval a day."""
        interval = (WorkingInterval(start, end),)
        return cls(timezone=tz, week=dict.fromkeys(range(5), interval), holidays=frozenset(holidays))

    @property
    def has_intervals(self) -> bool:
        return self.always_open or any(self.week.values())

    def _year(self, year: int) -> _YearTable:
        table = self._years.get(year)
        if table is None:
            # Racing threads may both build the same year; the result is identical, so no lock is needed.
            table = _build_year(self, year)
            self._years[year] = table
        return table


def _time_us(value: time) -> int:
    return ((value.hour * 60 + value.minute) * 60 + value.second) * _US_PER_SECOND + value.microsecond


def _normalise_week(week: Mapping[int, Iterable[WorkingInterval]]) -> dict[int, tuple[WorkingInterval, ...]]:
    result: dict[int, tuple[WorkingInterval, ...]] = {}
    for weekday, intervals in week.items():
        if not isinstance(weekday, int) or not 0 <= weekday <= 6:
            raise ValueError(f"weekday keys must be 0 (Monday) … 6 (Sunday), got {weekday!r}")
        items = tuple(intervals)
        for item in items:
            if not isinstance(item, WorkingInterval):
                raise ValueError(f"weekday {weekday}: expected WorkingInterval, got {item!r}")
        if items:
            result[weekday] = tuple(sorted(items, key=lambda i: i.wall_span_us()))
    return result


_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _check_no_overlap(week: Mapping[int, tuple[WorkingInterval, ...]]) -> None:
    """Reject intervals that overlap in wall-clock time, including spill-over past midnight and Sunday→Monday.

    Non-overlap in wall-clock time is what guarantees non-overlapping UTC instants, because the local→UTC
    mapping used by `_local_to_us` never goes backwards.
    """
    week_us = 7 * _US_PER_DAY
    spans: list[tuple[int, int, int, WorkingInterval]] = []
    for weekday, intervals in week.items():
        for interval in intervals:
            start, end = interval.wall_span_us()
            spans.append((weekday * _US_PER_DAY + start, weekday * _US_PER_DAY + end, weekday, interval))
    spans.sort(key=lambda s: s[:2])
    pairs = list(itertools.pairwise(spans))
    if len(spans) > 1:
        last = spans[-1]
        # Sunday night spilling into Monday morning: compare against Monday shifted one week on.
        first = spans[0]
        pairs.append((last, (first[0] + week_us, first[1] + week_us, first[2], first[3])))
    for a, b in pairs:
        if a[1] > b[0]:
            raise ValueError(
                f"overlapping working intervals: {_DAY_NAMES[a[2]]} {a[3]} overlaps {_DAY_NAMES[b[2]]} {b[3]}"
            )


def _local_to_us(tz: ZoneInfo, day_ordinal: int, wall_us: int) -> int:
    """UTC microseconds of a local wall-clock time; the mapping is non-decreasing in wall time.

    Ambiguous times (the repeated hour when clocks go back) take their first occurrence. Non-existent times
    (skipped when clocks go forward) map to the instant of the jump, so a shift that starts inside the gap
    starts when the clock reaches it and one that ends inside it ends there too.
    """
    day_ordinal += wall_us // _US_PER_DAY
    wall_us %= _US_PER_DAY
    day = date.fromordinal(day_ordinal)
    seconds, micro = divmod(wall_us, _US_PER_SECOND)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    local = datetime(day.year, day.month, day.day, hour, minute, second, micro, tzinfo=tz)
    offset0 = local.utcoffset()
    offset1 = local.replace(fold=1).utcoffset()
    assert offset0 is not None and offset1 is not None
    naive_us = (day_ordinal - _EPOCH_ORDINAL) * _US_PER_DAY + wall_us
    if offset0 >= offset1:
        return naive_us - offset0 // _ONE_US
    # In the gap fold=0 uses the earlier (smaller) offset and lands after the jump, fold=1 before it.
    return _transition_between(tz, naive_us - offset1 // _ONE_US, naive_us - offset0 // _ONE_US)


def _transition_between(tz: ZoneInfo, before: int, after: int) -> int:
    """First instant in (before, after] whose UTC offset differs from the offset at ``before``."""
    old = _offset_at(tz, before)
    while after - before > 1:
        mid = (before + after) // 2
        if _offset_at(tz, mid) == old:
            before = mid
        else:
            after = mid
    return after


def _offset_at(tz: ZoneInfo, instant: int) -> timedelta | None:
    return tz.utcoffset(_to_datetime(instant).astimezone(tz))


def _build_year(calendar: BusinessCalendar, year: int) -> _YearTable:
    tz = calendar._tz
    week = calendar.week
    holidays = calendar.holidays
    starts: list[int] = []
    ends: list[int] = []
    first = date(year, 1, 1).toordinal()
    last = date(year, 12, 31).toordinal()
    for ordinal in range(first, last + 1):
        intervals = week.get((ordinal - 1) % 7)  # date.fromordinal(1) is a Monday
        if not intervals:
            continue
        if holidays and date.fromordinal(ordinal) in holidays:
            continue
        for interval in intervals:
            wall_start, wall_end = interval.wall_span_us()
            start = _local_to_us(tz, ordinal, wall_start)
            end = _local_to_us(tz, ordinal, wall_end)
            if end > start:  # an interval wholly inside a DST gap has no real time
                starts.append(start)
                ends.append(end)
    cum_before: list[int] = []
    cum_end: list[int] = []
    total = 0
    for start, end in zip(starts, ends, strict=True):
        cum_before.append(total)
        total += end - start
        cum_end.append(total)
    return _YearTable(tuple(starts), tuple(ends), tuple(cum_before), tuple(cum_end), total)


def _to_us(value: datetime, name: str) -> int:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value!r}")
    return (value - _EPOCH) // _ONE_US


def _to_datetime(instant: int) -> datetime:
    return _EPOCH + timedelta(microseconds=instant)


def _local_year(instant: int, calendar: BusinessCalendar) -> int:
    return _to_datetime(instant).astimezone(calendar._tz).year


def _no_working_time(calendar: BusinessCalendar) -> ValueError:
    return ValueError(
        f"calendar has no working time (none within {_MAX_EMPTY_YEARS} consecutive years in "
        f"{calendar.timezone})"
    )


def _tables_from(calendar: BusinessCalendar, instant: int) -> Iterable[_YearTable]:
    """Year tables that may hold working time at or after ``instant``, in order; raises on a dead calendar."""
    if not calendar.has_intervals:
        raise _no_working_time(calendar)
    # A night shift that starts on 31 December belongs to that year but can still be running on 1 January.
    year = _local_year(instant, calendar) - 1
    empty_run = 0
    while True:
        table = calendar._year(year)
        if table.total:
            empty_run = 0
            yield table
        else:
            empty_run += 1
            if empty_run >= _MAX_EMPTY_YEARS:
                raise _no_working_time(calendar)
        year += 1


def add_business_time(start: datetime, duration: timedelta, calendar: BusinessCalendar) -> datetime:
    """The earliest instant at which ``duration`` of business time has accrued since ``start``, in UTC.

    "Earliest" settles the boundaries: a target that is used up exactly at the end of a working interval
    falls due at that end (17:00 + 1 h on a 09–18 day is 18:00, not 09:00 next morning), and a zero duration
    returns ``start`` itself even outside working hours. This single rule keeps
    ``add(add(t, a), b) == add(t, a + b)`` and ``between(t, add(t, d)) == d`` exact.
    """
    t = _to_us(start, "start")
    remaining = duration // _ONE_US
    if remaining < 0:
        raise ValueError(f"duration must not be negative, got {duration}")
    if remaining == 0 or calendar.always_open:
        return _to_datetime(t + remaining)
    for table in _tables_from(calendar, t):
        used = table.business_before(t)
        available = table.total - used
        if remaining <= available:
            return _to_datetime(table.instant_at(used + remaining))
        remaining -= available
    raise AssertionError("unreachable: _tables_from either yields forever or raises")


def business_time_between(a: datetime, b: datetime, calendar: BusinessCalendar) -> timedelta:
    """Business time from ``a`` to ``b``; negative when ``b`` is before ``a``."""
    start = _to_us(a, "a")
    end = _to_us(b, "b")
    if end < start:
        return -business_time_between(b, a, calendar)
    if calendar.always_open:
        return timedelta(microseconds=end - start)
    if not calendar.has_intervals:
        return timedelta(0)
    total = 0
    for year in range(_local_year(start, calendar) - 1, _local_year(end, calendar) + 1):
        table = calendar._year(year)
        total += table.business_before(end) - table.business_before(start)
    return timedelta(microseconds=total)


def is_working_time(t: datetime, calendar: BusinessCalendar) -> bool:
    """Whether the clock runs at ``t``. Intervals are half-open: the start counts, the end does not."""
    instant = _to_us(t, "t")
    if calendar.always_open:
        return True
    if not calendar.has_intervals:
        return False
    year = _local_year(instant, calendar)
    for table in (calendar._year(year - 1), calendar._year(year)):
        i = bisect.bisect_right(table.starts, instant) - 1
        if i >= 0 and instant < table.ends[i]:
            return True
    return False


def next_working_instant(t: datetime, calendar: BusinessCalendar) -> datetime:
    """``t`` (in UTC) if it is working time, otherwise the start of the next working interval."""
    instant = _to_us(t, "t")
    if calendar.always_open:
        return _to_datetime(instant)
    for table in _tables_from(calendar, instant):
        i = bisect.bisect_right(table.starts, instant) - 1
        if i >= 0 and instant < table.ends[i]:
            return _to_datetime(instant)
        if i + 1 < len(table.starts):
            return _to_datetime(table.starts[i + 1])
    raise AssertionError("unreachable: _tables_from either yields forever or raises")


def at_risk_lead(
    target: timedelta, *, cap: timedelta = timedelta(minutes=30), fraction: float = 0.25
) -> timedelta:
    """How long before the due time a clock counts as at risk: ``min(cap, fraction × target)``."""
    if target < timedelta(0):
        raise ValueError(f"target must not be negative, got {target}")
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be within 0 … 1, got {fraction}")
    return min(cap, target * fraction)


def holiday_dates(
    country: str, subdivision: str | None, years: Iterable[int], extra: Iterable[date] = ()
) -> frozenset[date]:
    """Public holidays (including observed substitute days) of a country/subdivision, plus ``extra``."""
    year_list = sorted(set(years))
    try:
        calendar = holidays_lib.country_holidays(country, subdiv=subdivision, years=year_list)
    except NotImplementedError as exc:
        raise ValueError(f"unknown holiday calendar {country!r}/{subdivision!r}: {exc}") from exc
    return frozenset(calendar.keys()) | frozenset(extra)
