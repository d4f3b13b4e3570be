"""Spikes on hand-built data: a category that jumps is flagged with its cases; a flat series raises
nothing."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from casework.cases.models import Category
from casework.insights import spikes
from casework.insights.models import Spike
from casework.testing.factories import CustomerFactory, open_case

pytestmark = pytest.mark.django_db


def _open_on(day, n, category):
    at = timezone.make_aware(datetime.combine(day, time(10)), timezone.get_current_timezone())
    for i in range(n):
        with time_machine.travel(at + timedelta(minutes=i), tick=False):
            open_case(subject=f"Case {i}", description="x", customer=CustomerFactory(), category=category)


@pytest.fixture
def category():
    return Category.objects.get_or_create(slug="billing", defaults={"name": "Billing"})[0]


def test_a_jump_against_the_baseline_is_a_spike_with_its_cases(client, category, bob):
    today = timezone.localdate()
    for d in range(1, 29, 3):
        _open_on(today - timedelta(days=d), 1, category)
    _open_on(today, 8, category)
    assert spikes.detect_today() == 1
    spike = Spike.objects.get(dimension="category")
    assert spike.count == 8 and spike.baseline == 0 and spike.score >= 3.5 and len(spike.cases) == 8
    assert spike.label == "Billing"
    spikes.detect_today()  # the hourly re-run updates the row, never a second one
    assert Spike.objects.filter(dimension="category").count() == 1
    client.force_login(bob)
    assert b"Billing" in client.get(reverse("insights:problems")).content


def test_a_flat_series_raises_nothing(category):
    today = timezone.localdate()
    for d in range(0, 29):
        _open_on(today - timedelta(days=d), 2, category)
    assert spikes.detect(today) == []


def test_cases_count_on_their_local_day_across_a_dst_change(settings, category):
    """The day boundaries are local midnights computed in Python (the database only compares): a case at
    00:30 local time on the day after the clocks went forward counts on that day, not the one before."""
    from datetime import date
    from zoneinfo import ZoneInfo

    settings.TIME_ZONE = "Europe/Berlin"
    timezone.activate(ZoneInfo("Europe/Berlin"))
    try:
        tz = timezone.get_current_timezone()
        start, end = date(2026, 3, 27), date(2026, 3, 30)  # clocks forward on Sunday 29 March
        for day, hour, n in (
            (date(2026, 3, 29), 0, 2),
            (date(2026, 3, 30), 0, 3),
            (date(2026, 3, 28), 23, 1),
        ):
            for i in range(n):
                at = timezone.make_aware(datetime.combine(day, time(hour, 30 + i)), tz)
                with time_machine.travel(at, tick=False):
                    open_case(subject="x", description="x", customer=CustomerFactory(), category=category)
        counts = spikes._daily_counts("category_id", start, end)[str(category.pk)]
        assert counts == {date(2026, 3, 28): 1, date(2026, 3, 29): 2, date(2026, 3, 30): 3}
    finally:
        timezone.deactivate()
