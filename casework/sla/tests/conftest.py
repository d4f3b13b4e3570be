"""SLA test helpers: run case services with their after-commit hooks, as production does."""

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
    """`at(when, fn, **kwargs)`: call a service at a moment in time and run the hooks it dispatches."""

    def call(when: datetime, fn, /, **kwargs):
        with time_machine.travel(when, tick=False), django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)

    return call
