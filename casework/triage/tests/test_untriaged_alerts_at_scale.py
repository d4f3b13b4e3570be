"""The untriaged-alert job is set-based: a fixed number of statements whatever the number of cases, and
each run reads only the cases created since the newest one it alerted (issue 19/20)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from casework.cases.models import CaseEvent, EventKind
from casework.testing.factories import CustomerFactory, open_case
from casework.testing.plans import plans_of
from casework.triage import alerts
from casework.triage.models import TriageShift

pytestmark = pytest.mark.django_db

MONDAY_10 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def on_shift(alice, settings):
    settings.CASEWORK = {**settings.CASEWORK, "TRIAGE_AUTO_TRIAGED": False, "UNTRIAGED_ALERT_MINUTES": 15}
    TriageShift.objects.create(agent=alice, weekday=0, start=dt.time(9), end=dt.time(17), timezone="UTC")


def _open(n: int, at: dt.datetime) -> list:
    with time_machine.travel(at, tick=False):
        return [open_case(subject=f"Waiting {i}", customer=CustomerFactory()) for i in range(n)]


def _alert(at: dt.datetime) -> tuple[int, int]:
    with time_machine.travel(at, tick=False), CaptureQueriesContext(connection) as captured:
        alerted = alerts.alert_untriaged()
    return alerted, len(captured.captured_queries)


def _alerts() -> int:
    return CaseEvent.objects.filter(kind=EventKind.NOTE, data__alert="untriaged").count()


def test_statements_do_not_grow_with_the_cases_alerted(on_shift):
    _open(1, MONDAY_10 - dt.timedelta(minutes=30))
    assert _alert(MONDAY_10)[0] == 1  # the first run also creates the watermark row
    _open(2, MONDAY_10)
    few = _alert(MONDAY_10 + dt.timedelta(minutes=20))
    _open(12, MONDAY_10 + dt.timedelta(minutes=30))
    many = _alert(MONDAY_10 + dt.timedelta(minutes=50))
    assert (few[0], many[0]) == (2, 12)
    assert few[1] == many[1], (few, many)
    assert _alerts() == 15


def test_each_case_is_alerted_once_and_later_cases_still_are(on_shift):
    first = _open(3, MONDAY_10)
    assert _alert(MONDAY_10 + dt.timedelta(minutes=20))[0] == 3
    assert _alert(MONDAY_10 + dt.timedelta(minutes=21))[0] == 0
    later = _open(2, MONDAY_10 + dt.timedelta(minutes=22))
    assert _alert(MONDAY_10 + dt.timedelta(minutes=30))[0] == 0  # not waiting 15 minutes yet
    assert _alert(MONDAY_10 + dt.timedelta(minutes=40))[0] == 2
    noted = set(
        CaseEvent.objects.filter(kind=EventKind.NOTE, data__alert="untriaged").values_list(
            "case_id", flat=True
        )
    )
    assert noted == {c.pk for c in first + later}


def test_a_batch_limit_leaves_the_rest_for_the_next_run(on_shift):
    _open(5, MONDAY_10)
    with time_machine.travel(MONDAY_10 + dt.timedelta(minutes=20), tick=False):
        assert alerts.alert_untriaged(batch=3) == 3
        assert alerts.alert_untriaged(batch=3) == 2
        assert alerts.alert_untriaged(batch=3) == 0
    assert _alerts() == 5


def test_a_run_reads_only_cases_created_since_the_last_alert(on_shift):
    _open(3, MONDAY_10)
    _alert(MONDAY_10 + dt.timedelta(minutes=20))
    if connection.vendor == "postgresql":
        # Statistics for these rows, not whatever an earlier test left: on a few rows every index costs
        # the same and the planner's tie-break (case_team_status, once in CI) picks the walk otherwise.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE cases_case")
    with time_machine.travel(MONDAY_10 + dt.timedelta(minutes=25), tick=False):
        # Ordered by (created_at, id): the walk of case_status_created sorts only the ties on created_at.
        # Without incremental sorts every plan carries a priced-out Sort and a near tie decides.
        _, plans = plans_of(alerts.alert_untriaged, incremental_sort=True)
    text = "\n".join(plan.text for plan in plans)
    # status = 'new' and a created_at range bounded below by the watermark: never the whole table.
    if connection.vendor == "sqlite":
        case_lines = [line for plan in plans for line in plan.lines if "cases_case" in line]
        assert case_lines, text
        assert all(line.startswith("SEARCH") for line in case_lines), text
        assert any("created_at>" in line.replace(" ", "") for line in case_lines), text
    else:
        assert "Seq Scan on cases_case" not in text, text
        assert re.search(r"Index Cond: .*created_at >=", text), text
