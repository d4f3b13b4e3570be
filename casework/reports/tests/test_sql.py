"""The portable SQL pieces on their own: nearest-rank percentiles and durations, with edge cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db.models import F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casework.cases.models import Case
from casework.reports.sql import DurationSeconds, LocalPeriod, SecondsBetween, Summary, summarise
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


# --- LocalPeriod: the local day / ISO week of a stored instant, without a Python function per row -------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
# 2026-10-12 … 2026-11-29: Berlin leaves summer time on 25 Oct, New York on 1 Nov, Lord Howe (a half-hour
# shift) enters it on 4 Oct — the range holds days of 23, 24, 24.5 and 25 hours.
FIRST, LAST = date(2026, 10, 12), date(2026, 11, 29)


def _expected(moment: datetime, zone: ZoneInfo, kind: str) -> date | None:
    day = moment.astimezone(zone).date()
    if kind == "week":
        day -= timedelta(days=day.weekday())
        first = FIRST - timedelta(days=FIRST.weekday())
    else:
        first = FIRST
    return day if first <= moment.astimezone(zone).date() <= LAST and day >= first else None


@pytest.fixture
def one_case():
    with time_machine.travel(utc(2026, 10, 1, 9), tick=False):
        return open_case(subject="Question", priority="low")


@pytest.mark.parametrize("kind", ["day", "week"])
@pytest.mark.parametrize("zone_name", ZONES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    moment=st.datetimes(
        min_value=datetime(2026, 10, 9), max_value=datetime(2026, 12, 2), timezones=st.just(UTC)
    )
)
def test_local_period_matches_python(one_case, kind, zone_name, moment):
    zone = ZoneInfo(zone_name)
    Case.objects.filter(pk=one_case.pk).update(created_at=moment)
    got = (
        Case.objects.filter(pk=one_case.pk)
        .annotate(p=LocalPeriod("created_at", kind=kind, first=FIRST, last=LAST, zone=zone))
        .values_list("p", flat=True)
        .get()
    )
    assert got == _expected(moment, zone, kind)


@pytest.mark.parametrize("zone_name", ["Europe/Berlin", "America/New_York"])
def test_local_period_boundaries_are_local_midnights(one_case, zone_name):
    """Exactly at local midnight a row belongs to the new day; a microsecond before, to the old one — on
    the days the clocks change too."""
    zone = ZoneInfo(zone_name)
    for day in (date(2026, 10, 25), date(2026, 10, 26), date(2026, 11, 1), date(2026, 11, 2)):
        midnight = datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
        for moment, want in (
            (midnight, day),
            (midnight - timedelta(microseconds=1), day - timedelta(days=1)),
        ):
            Case.objects.filter(pk=one_case.pk).update(created_at=moment)
            got = (
                Case.objects.filter(pk=one_case.pk)
                .annotate(p=LocalPeriod("created_at", kind="day", first=FIRST, last=LAST, zone=zone))
                .values_list("p", flat=True)
                .get()
            )
            assert got == want, (zone_name, moment)


def test_local_period_groups_like_the_python_truncation(one_case):
    """A GROUP BY on the period (as `volume` does) counts each local day once."""
    from django.db.models import Count

    zone = ZoneInfo("Europe/Berlin")
    stamps = [datetime(2026, 10, 24, 21, 59, tzinfo=UTC), datetime(2026, 10, 24, 22, 0, tzinfo=UTC)]
    stamps += [datetime(2026, 10, 25, 22, 30, tzinfo=UTC), datetime(2026, 10, 25, 23, 0, tzinfo=UTC)]
    cases = [one_case]
    for i in range(len(stamps) - 1):
        with time_machine.travel(utc(2026, 10, 1, 10, i), tick=False):
            cases.append(open_case(subject=f"Question {i}", priority="low"))
    for case, stamp in zip(cases, stamps, strict=True):
        Case.objects.filter(pk=case.pk).update(created_at=stamp)
    rows = (
        Case.objects.annotate(p=LocalPeriod("created_at", kind="day", first=FIRST, last=LAST, zone=zone))
        .values("p")
        .annotate(n=Count("id"))
        .order_by("p")
    )
    # 21:59 UTC is 23:59 on the 24th (summer time); 22:00 is midnight; on the 25th (winter time from
    # 03:00) 22:30 UTC is 23:30 and 23:00 UTC is midnight of the 26th.
    assert [(r["p"], r["n"]) for r in rows] == [
        (date(2026, 10, 24), 1),
        (date(2026, 10, 25), 2),
        (date(2026, 10, 26), 1),
    ]


def test_local_period_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        LocalPeriod("created_at", kind="month", first=FIRST, last=LAST, zone=ZoneInfo("UTC"))
