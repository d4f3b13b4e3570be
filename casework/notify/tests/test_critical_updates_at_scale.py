"""The critical-updates job selects its work in the database (notify/followups.py): only the due cases,
soonest first, in one query whatever the number of open critical cases — not a Python pass over a cut
of them, which could leave cases unseen behind the cut."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from casework.cases import services as case_services
from casework.notify import followups
from casework.notify.models import Outbox
from casework.testing.factories import open_case

pytestmark = pytest.mark.django_db


def _critical(customer, alice, n, start, step):
    cases = []
    with time_machine.travel(start, tick=False) as traveller:
        for i in range(n):
            case = open_case(subject=f"Outage {i}", customer=customer)
            case_services.case_set_priority(case=case, priority="critical", actor=alice)
            cases.append(case)
            traveller.shift(step)
    return cases


def test_the_most_overdue_go_first_and_a_batch_never_hides_the_rest(customer, alice, settings):
    settings.CASEWORK = {**settings.CASEWORK, "CRITICAL_UPDATE_HOURS": 2.0, "CRITICAL_OWNER_LEAD_MINUTES": 0}
    start = timezone_now()
    cases = _critical(customer, alice, 5, start, timedelta(minutes=10))
    with time_machine.travel(start + timedelta(hours=3), tick=False):
        assert followups.critical_updates(batch=2)["customer_updates"] == 2
        first = set(Outbox.objects.filter(kind="critical_update").values_list("case_id", flat=True))
        assert first == {cases[0].pk, cases[1].pk}  # the oldest last word first
        assert followups.critical_updates(batch=2)["customer_updates"] == 2
        assert followups.critical_updates(batch=2)["customer_updates"] == 1
        assert followups.critical_updates(batch=2)["customer_updates"] == 0
    assert Outbox.objects.filter(kind="critical_update").count() == 5


def test_nothing_due_is_one_query_whatever_the_number_of_cases(customer, alice, settings):
    settings.CASEWORK = {**settings.CASEWORK, "CRITICAL_UPDATE_HOURS": 2.0, "CRITICAL_OWNER_LEAD_MINUTES": 15}
    start = timezone_now()
    _critical(customer, alice, 3, start, timedelta(minutes=1))
    with (
        time_machine.travel(start + timedelta(minutes=30), tick=False),
        CaptureQueriesContext(connection) as few,
    ):
        assert followups.critical_updates() == {"owner_reminders": 0, "customer_updates": 0}
    _critical(customer, alice, 12, start, timedelta(minutes=1))
    with (
        time_machine.travel(start + timedelta(minutes=30), tick=False),
        CaptureQueriesContext(connection) as many,
    ):
        assert followups.critical_updates() == {"owner_reminders": 0, "customer_updates": 0}
    assert len(many.captured_queries) == len(few.captured_queries) == 1


def timezone_now():
    from django.utils import timezone

    return timezone.now().replace(microsecond=0)


def test_a_full_batch_says_backlog_so_the_next_one_follows_within_seconds(customer, alice, settings):
    settings.CASEWORK = {**settings.CASEWORK, "CRITICAL_UPDATE_HOURS": 2.0, "CRITICAL_OWNER_LEAD_MINUTES": 0}
    start = timezone_now()
    _critical(customer, alice, 3, start, timedelta(minutes=10))
    with time_machine.travel(start + timedelta(hours=3), tick=False):
        first = followups.critical_updates(batch=2)
        assert first["customer_updates"] == 2 and first["backlog"] is True
        second = followups.critical_updates(batch=2)
        assert second["customer_updates"] == 1 and "backlog" not in second
