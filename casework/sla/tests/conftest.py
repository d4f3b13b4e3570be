"""SLA test helpers: run case services at a moment in time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from casework.sla.calendars import clear_cache


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_calendar_cache():
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def at(django_capture_on_commit_callbacks):
    """`at(when, fn, **kwargs)`: call a service at a moment in time (its reactions run inside it; the
    capture only proves nothing is left for after the commit: it must find no callbacks)."""

    def call(when: datetime, fn, /, **kwargs):
        with time_machine.travel(when, tick=False), django_capture_on_commit_callbacks() as callbacks:
            result = fn(**kwargs)
        assert callbacks == []
        return result

    return call
