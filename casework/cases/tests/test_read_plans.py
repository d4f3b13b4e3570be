"""The read paths that must stay instant at a million cases, held to their query plans (issue 20).

Each test explains the query a page runs and fails when it would read a whole table, sort every
open case, or probe a table once per row — the shapes that cost 200–450 ms per request at 100,000
cases. On PostgreSQL the plans are taken with sequential scans and sorts priced out (see
casework/testing/plans.py): a `Seq Scan` left in the plan means no index can serve the query.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from casework.cases import selectors
from casework.cases.models import Case
from casework.testing.factories import CustomerFactory, open_case
from casework.testing.plans import plan_of, plans_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def some_cases(customer, alice):
    cases = [
        open_case(subject=f"Case {i}", description="Nothing matches.", customer=customer) for i in range(6)
    ]
    Case.objects.filter(pk=cases[0].pk).update(assignee=alice, priority="critical")
    Case.objects.filter(pk=cases[1].pk).update(status="closed")
    if connection.vendor == "postgresql":
        # Statistics for these rows, not whatever an earlier test left: without them every index costs
        # the same on a few rows and the planner's tie-break, not the query's shape, picks the walk.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE cases_case")
    return cases


# --- a case by reference ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["CW-000042", "cw-000042", "CW-42", "cw-42", "42", "000042", " #42 ", "CW 42", "cw42"],
)
def test_references_as_people_type_them_normalise_to_the_stored_form(typed, settings):
    assert selectors.normalise_reference(typed) == "CW-000042"


def test_a_reference_past_six_digits_and_another_prefix_keep_their_form():
    assert selectors.normalise_reference("CW-1234567") == "CW-1234567"
    assert selectors.normalise_reference("old-000007") == "OLD-000007"
    assert selectors.normalise_reference("not a reference") == "NOT A REFERENCE"


def test_case_get_finds_the_case_whatever_the_form(some_cases):
    case = some_cases[2]
    for typed in (case.reference, case.reference.lower(), str(case.number), f"CW-{case.number}"):
        assert selectors.case_get(typed).pk == case.pk


def test_case_get_is_one_query_on_the_unique_index(some_cases, django_assert_num_queries):
    case = some_cases[2]
    with django_assert_num_queries(1):
        selectors.case_get(case.reference.lower())
    _, plans = plans_of(selectors.case_get, case.reference.lower())
    (plan,) = plans
    assert not plan.problems(), plan.text
    assert "LIKE" not in plan.sql.upper() and "UPPER(" not in plan.sql.upper(), plan.sql


# --- the queue -------------------------------------------------------------------------------------


def _queue(user=None, **filters):
    return selectors.case_list(filters=selectors.CaseFilter(**filters), user=user)[:50]


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({"view": "open"}, "case_open_created"),
        ({"view": "open", "ordering": "oldest"}, "case_open_created"),
        # On these few rows PostgreSQL may walk every case in priority order and filter open_flag (a tie);
        # at 1M it walks case_open_priority (docs/scaling.md). Either is a walk in the page's order.
        ({"view": "open", "ordering": "priority"}, "case_(open_priority|priority_created)"),
        ({"view": "open", "assignee": "alice"}, "case_assignee_open_created"),
        # Either walk serves the first page: the agent's open cases, or the open cases by priority.
        (
            {"view": "open", "assignee": "alice", "ordering": "priority"},
            "case_(assignee_open_created|open_priority|priority_created)",
        ),
        # Closed cases are open_flag = 0: the same two walks as the open queue.
        ({"view": "closed"}, "case_open_created"),
        ({"view": "closed", "ordering": "priority"}, "case_open_priority"),
        # Every case by priority (a full sort of 1,000,000 rows at 1M without it).
        ({"view": "all", "ordering": "priority"}, "case_priority_created"),
    ],
)
def test_queue_pages_walk_an_index_in_their_order(some_cases, alice, filters, index):
    plan = plan_of(_queue(**filters))
    assert re.search(index, plan.text), plan.text
    # An unfiltered page walks its order's index from the start ("SCAN ... USING INDEX") and stops at
    # the page's LIMIT: that index is allowed whole.
    assert not plan.problems(allow_full_index=["case_priority_created"]), plan.text


def test_mine_walks_the_agents_index(some_cases, alice):
    plan = plan_of(_queue(user=alice, view="mine"))
    assert plan.uses_index("case_assignee_open_created"), plan.text
    assert not plan.problems(), plan.text


def test_assignee_filter_looks_the_agent_up_once_then_filters_by_id(some_cases, alice):
    qs = _queue(view="open", assignee="alice")
    assert '"auth_user"."username" =' not in str(qs.query)
    assert [c.pk for c in qs] == [some_cases[0].pk]
    assert list(_queue(view="open", assignee="nobody-by-that-name")) == []


def test_priority_order_is_the_stored_rank(some_cases):
    ranks = list(Case.objects.order_by("priority_rank").values_list("priority", "priority_rank"))
    assert ("critical", 0) in ranks
    assert all(rank == {"critical": 0, "high": 1, "medium": 2, "low": 3}[p] for p, rank in ranks)
    first = _queue(view="open", ordering="priority")[0]
    assert first.pk == some_cases[0].pk


def test_open_flag_follows_status_whatever_writes_it(some_cases):
    closed = Case.objects.get(pk=some_cases[1].pk)
    assert closed.open_flag == 0
    assert Case.objects.get(pk=some_cases[2].pk).open_flag == 1
    Case.objects.filter(pk=closed.pk).update(status="in_progress")
    assert Case.objects.get(pk=closed.pk).open_flag == 1


# --- the sidebar counters --------------------------------------------------------------------------


def test_queue_counts_count_by_index_with_a_fixed_number_of_queries(
    some_cases, alice, django_assert_num_queries
):
    with django_assert_num_queries(5):  # cases, at risk, breached, the agent's own, my tasks
        selectors.queue_counts(alice)
    counts, plans = plans_of(selectors.queue_counts, alice)
    assert counts["open"] == 5 and counts["mine"] == 1 and counts["critical"] == 1
    for plan in plans:
        # The breached-and-still-counting index holds exactly the clocks being counted.
        assert not plan.problems(allow_full_index={"sla_clock_breached_counting"}), plan.text
    assert plans[0].uses_index("case_queue_counts"), plans[0].text
    if connection.vendor == "sqlite":
        # SQLite has no statistics here and is steered off the sweep's index (selectors._NotIndexed);
        # PostgreSQL chooses by its statistics, and either index is a bounded range there.
        assert plans[1].uses_index("sla_clock_atrisk_window"), plans[1].text


def test_queue_counts_query_count_does_not_grow_with_cases(customer, alice, django_assert_num_queries):
    for i in range(3):
        open_case(subject=f"More {i}", customer=CustomerFactory())
    with django_assert_num_queries(5):  # cases, at risk, breached, the agent's own, my tasks
        selectors.queue_counts(alice)


def test_desk_wide_counters_are_shared_for_a_window_and_own_counters_stay_live(
    some_cases, alice, settings, django_assert_num_queries
):
    """Every queue render of every agent asked the same desk-wide question (a pass over every open
    case: ~30k index entries at a million cases); within CASEWORK_QUEUE_COUNTS_SECONDS it is answered
    once per visibility scope. The agent's own counters are index ranges and never wait."""
    from django.core.cache import cache

    cache.clear()
    settings.CASEWORK = {**settings.CASEWORK, "QUEUE_COUNTS_SECONDS": 30}
    first = selectors.queue_counts(alice)
    Case.objects.filter(pk=some_cases[3].pk).update(assignee=alice)
    with django_assert_num_queries(2):  # the agent's own counters and tasks only
        second = selectors.queue_counts(alice)
    assert second["open"] == first["open"] and second["unassigned"] == first["unassigned"]
    assert second["mine"] == first["mine"] + 1  # live
    _, plans = plans_of(selectors.queue_counts, alice)
    for plan in plans:
        assert not plan.problems(), plan.text
    cache.clear()
    assert selectors.queue_counts(alice)["unassigned"] == first["unassigned"] - 1


def test_sla_counters_and_views_agree(some_cases, alice):
    from casework.sla.models import CaseClock

    now = timezone.now()
    at_risk, breached, overdue = some_cases[2], some_cases[3], some_cases[4]
    clocks = CaseClock.objects
    clocks.filter(case=at_risk, metric="first_response").update(
        state="running", at_risk_at=now - timedelta(minutes=5), due_at=now + timedelta(minutes=5)
    )
    clocks.filter(case=breached, metric="first_response").update(state="breached", stopped_at=None)
    clocks.filter(case=overdue, metric="first_response").update(
        state="running", at_risk_at=now - timedelta(hours=2), due_at=now - timedelta(hours=1)
    )
    counts = selectors.queue_counts(alice)
    assert counts["sla_at_risk"] == 1
    assert counts["sla_breached"] == 2
    assert [c.pk for c in _queue(view="at_risk")] == [at_risk.pk]
    assert {c.pk for c in _queue(view="breached")} == {breached.pk, overdue.pk}
    for view in ("at_risk", "breached"):
        plan = plan_of(_queue(view=view))
        assert "CORRELATED" not in plan.text, plan.text


@pytest.mark.parametrize(
    ("view", "status"),
    [("open", "resolved"), ("breached", "closed"), ("closed", "new"), ("untriaged", "in_progress")],
)
def test_a_view_with_a_status_it_cannot_show_asks_the_database_nothing(
    some_cases, view, status, django_assert_num_queries
):
    with django_assert_num_queries(0):
        assert list(_queue(view=view, status=[status])) == []


def test_a_view_with_a_status_it_can_show_filters_by_it(some_cases):
    assert [c.status for c in _queue(view="closed", status=["closed"])] == ["closed"]
    assert all(c.status == "new" for c in _queue(view="open", status=["new", "resolved"]))
