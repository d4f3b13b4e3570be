"""How figures read on pages, in mails and in CSV: durations as "1 h 30 min", shares as "83.3 %"."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.utils import timezone

from .filters import report_zone


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def cell(value: Any, kind: str) -> str:
    """A table cell as text for the page and the mail."""
    if value is None or value == "":
        return "—" if kind in ("seconds", "percent", "count") else ""
    if kind == "seconds":
        return duration(value)
    if kind == "percent":
        return percent(value)
    if kind == "datetime" and isinstance(value, datetime):
        return f"{timezone.localtime(value, report_zone()):%a %d %b %H:%M}"
    if kind == "date" and isinstance(value, date):
        return f"{value:%a %d %b}"
    return str(value)


def csv_cell(value: Any, kind: str) -> Any:
    """A table cell for CSV: machine-readable (seconds as numbers, ISO dates) so a spreadsheet can sum it."""
    if value is None:
        return ""
    if isinstance(value, timedelta):
        return round(value.total_seconds(), 3)
    if isinstance(value, datetime):
        return timezone.localtime(value, report_zone()).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if kind == "seconds":
        return round(float(value), 3)
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        # Subjects come from customers: a cell starting like a formula would run in a spreadsheet.
        return "'" + value
    return value


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
