"""How promises read to a customer: the expected first response in words and business hours.

Pure functions over plain values (a target, a due time, a calendar's week, zone and 24×7 flag), so
the wording is tested without a database."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def duration_words(value: timedelta) -> str:
    """ "15 minutes", "1 hour", "4 hours", "1 hour 30 minutes", "3 days" (only whole days past 48 h)."""
    minutes = max(0, int(value.total_seconds() // 60))
    hours, mins = divmod(minutes, 60)
    if hours >= 48 and hours % 24 == 0 and not mins:
        return _plural(hours // 24, "day")
    parts = []
    if hours:
        parts.append(_plural(hours, "hour"))
    if mins or not hours:
        parts.append(_plural(mins, "minute"))
    return " ".join(parts)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def describe_week(week: dict) -> str:
    """ "Monday to Friday 09:00–17:30"; "Monday to Thursday 09:00–17:00, Friday 09:00–15:00"."""
    spans = {
        int(day): ", ".join(f"{a}–{b}" for a, b in value) for day, value in (week or {}).items() if value
    }
    groups: list[tuple[int, int, str]] = []
    for day in range(7):
        text = spans.get(day)
        if text is None:
            continue
        if groups and groups[-1][1] == day - 1 and groups[-1][2] == text:
            groups[-1] = (groups[-1][0], day, text)
        else:
            groups.append((day, day, text))
    parts = []
    for first, last, text in groups:
        days = (
            DAYS[first]
            if first == last
            else f"{DAYS[first]} to {DAYS[last]}"
            if last > first + 1
            else f"{DAYS[first]} and {DAYS[last]}"
        )
        parts.append(f"{days} {text}")
    return ", ".join(parts)


def first_response_promise(
    *, target: timedelta, due_at: datetime | None, timezone: str, week: dict, always_open: bool, now: datetime
) -> str:
    """The sentence an acknowledgement carries, e.g.

    "We aim to reply within 4 business hours (our hours are Monday to Friday 09:00–17:30, Europe/London),
    that is by Tuesday 3 March at 10:00."
    """
    zone = ZoneInfo(timezone or "UTC")
    when = ""
    if due_at is not None:
        local = due_at.astimezone(zone)
        today = now.astimezone(zone).date()
        if local.date() == today:
            day = "today"
        elif (local.date() - today).days == 1:
            day = "tomorrow"
        else:
            day = f"{DAYS[local.weekday()]} {local.day} {local:%B}"
        when = f"{day} at {local:%H:%M}"
    if always_open:
        text = f"We aim to reply within {duration_words(target)}, around the clock"
        return f"{text}, that is by {when} ({timezone})." if when else f"{text}."
    hours = describe_week(week)
    text = f"We aim to reply within {duration_words(target).replace('hour', 'business hour')}"
    if hours:
        text += f" (our hours are {hours}, {timezone})"
    return f"{text}, that is by {when}." if when else f"{text}."
