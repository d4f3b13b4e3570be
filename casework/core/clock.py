"""The one source of "now" for services.

Imports (mbox migration, demo data) replay history: inside `clock.frozen(dt)` every service stamps rows
and events with `dt` instead of the wall clock, so the timeline reads as it happened. Tests use
time-machine instead, which moves `timezone.now()` itself.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from datetime import datetime

from django.utils import timezone

_frozen: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("casework_frozen_now", default=None)


def now() -> datetime:
    return _frozen.get() or timezone.now()


@contextlib.contextmanager
def frozen(at: datetime) -> Iterator[datetime]:
    if timezone.is_naive(at):
        raise ValueError("clock.frozen needs an aware datetime")
    token = _frozen.set(at)
    try:
        yield at
    finally:
        _frozen.reset(token)
