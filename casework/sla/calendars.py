"""Calendar rows → `clock.BusinessCalendar`, cached per process.

A BusinessCalendar caches its per-year interval tables, so reusing one instance per stored calendar is what
makes due times cheap (see clock.py). The cache key is (id, updated_at, holiday window): editing a calendar
in the admin bumps `updated_at` and the next lookup rebuilds; the holiday window moves with the year.
"""

from __future__ import annotations

import threading
from datetime import datetime

from casework.core import clock as core_clock

from .clock import BusinessCalendar, WorkingInterval, holiday_dates
from .models import Calendar

# Holidays are loaded for last year … three years ahead: wide enough for a 72 h target started on
# 31 December and for breach durations of cases left open for a long time.
YEARS_BEFORE = 1
YEARS_AFTER = 3

_cache: dict[int, tuple[tuple, BusinessCalendar]] = {}
_lock = threading.Lock()


def holiday_window(now: datetime | None = None) -> range:
    year = (now or core_clock.now()).year
    return range(year - YEARS_BEFORE, year + YEARS_AFTER + 1)


def build_business_calendar(calendar: Calendar, *, years: range | None = None) -> BusinessCalendar:
    """A fresh BusinessCalendar for a row (raises ValueError on a bad configuration)."""
    if calendar.always_open:
        return BusinessCalendar.twenty_four_seven(calendar.timezone)
    week = {
        weekday: tuple(WorkingInterval(start, end) for start, end in spans)
        for weekday, spans in calendar.intervals().items()
    }
    extra = calendar.custom_holiday_dates()
    if calendar.holiday_country:
        closed = holiday_dates(
            calendar.holiday_country,
            calendar.holiday_subdivision or None,
            years or holiday_window(),
            extra=extra,
        )
    else:
        closed = frozenset(extra)
    return BusinessCalendar(timezone=calendar.timezone, week=week, holidays=closed)


def business_calendar(calendar: Calendar) -> BusinessCalendar:
    """The cached BusinessCalendar of a row; rebuilt when the row changes or the holiday window moves."""
    years = holiday_window()
    key = (calendar.updated_at, years.start)
    cached = _cache.get(calendar.pk)
    if cached is not None and cached[0] == key:
        return cached[1]
    built = build_business_calendar(calendar, years=years)
    with _lock:
        _cache[calendar.pk] = (key, built)
    return built


def clear_cache() -> None:
    with _lock:
        _cache.clear()
