"""The portable SQL pieces on their own: nearest-rank percentiles and durations, with edge cases."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db.models import F

from casework.cases.models import Case
from casework.reports.sql import DurationSeconds, SecondsBetween, Summary, summarise
from casework.sla.models import CaseClock
from casework.testing.factories import open_case

from .conftest import utc

pytestmark = pytest.mark.django_db


def _cases(minutes: list[int]) -> None:
    """Cases opened at 09:00 whose first response came `m` minutes later (set directly on the row: this
    tests the arithmetic, not the services)."""
    for i, m in enumerate(minutes):
        with time_machine.travel(utc(2026, 12, 1, 9, i), tick=False):
            case = open_case(subject=f"Question {i}", priority="low")
        Case.objects.filter(pk=case.pk).update(first_response_at=case.created_at + timedelta(minutes=m))


@pytest.mark.parametrize(
    ("minutes", "median", "p90"),
    [
        ([7], 7, 7),
        ([1, 2], 1, 2),  # nearest rank: the lower of two
        ([5, 1, 3], 3, 5),
        (list(range(1, 11)), 5, 9),  # rank ⌈0.9·10⌉ = 9
        (list(range(1, 12)), 6, 10),  # rank ⌈0.9·11⌉ = 10
        ([4, 4, 4, 4], 4, 4),
    ],
)
def test_nearest_rank_percentiles(minutes, median, p90):
    _cases(minutes)
    s = summarise(Case.objects.all(), SecondsBetween(F("first_response_at"), F("created_at")))[1]
    assert (s.count, s.median, s.p90, s.max) == (len(minutes), median * 60.0, p90 * 60.0, max(minutes) * 60.0)


def test_groups_and_nulls():
    _cases([10, 20, 30])
    Case.objects.filter(subject="Question 1").update(first_response_at=None, priority="high")
    Case.objects.filter(subject="Question 2").update(priority="high")
    by = summarise(
        Case.objects.all(), SecondsBetween(F("first_response_at"), F("created_at")), group=F("priority")
    )
    assert by == {
        "low": Summary(count=1, median=600.0, p90=600.0, max=600.0, mean=600.0),
        "high": Summary(count=1, median=1800.0, p90=1800.0, max=1800.0, mean=1800.0),
    }


def test_empty_is_no_group():
    assert summarise(Case.objects.none(), SecondsBetween(F("first_response_at"), F("created_at"))) == {}
    assert summarise(Case.objects.all(), SecondsBetween(F("first_response_at"), F("created_at"))) == {}


def test_duration_field_in_seconds():
    with time_machine.travel(utc(2026, 12, 1, 9), tick=False):
        case = open_case(subject="Question", priority="low")
    CaseClock.objects.filter(case=case).update(consumed=timedelta(hours=2, microseconds=500_000))
    s = summarise(CaseClock.objects.filter(case=case), DurationSeconds(F("consumed")))[1]
    assert s.max == 7200.5


def test_csv_cells_are_machine_readable_and_never_formulas():
    from datetime import date

    from casework.reports.format import csv_cell, duration

    assert csv_cell(timedelta(hours=1, seconds=1), "seconds") == 3601.0
    assert csv_cell(date(2026, 12, 1), "date") == "2026-12-01"
    assert csv_cell('=HYPERLINK("http://evil")', "text") == '\'=HYPERLINK("http://evil")'
    assert csv_cell("-1 printer", "text") == "'-1 printer"
    assert csv_cell(None, "count") == ""
    assert [duration(s) for s in (None, 42, 90, 3600, 5400, 90000, 200000)] == [
        "—",
        "42 s",
        "1 min",
        "1 h",
        "1 h 30 min",
        "25 h",
        "2 d 7 h",
    ]
