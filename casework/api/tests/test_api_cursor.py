"""GET /api/v1/cases by cursor (casework/cases/keyset.py): every case once, in the list's order, whatever
the ties in the sort key; the page after a cursor is an index range on both databases; bad cursors are
`invalid_cursor` errors, never a 500 or a silently different page."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, timedelta

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from casework.cases import keyset, selectors
from casework.cases.models import Case
from casework.testing.factories import CustomerFactory, open_case
from casework.testing.plans import plan_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def cases(customer, alice):
    made = [open_case(subject=f"Printer {i}", customer=customer) for i in range(11)]
    # Ties on every key but the id: three cases created at the same instant, equal priorities and
    # updated_at, so only the tie-break keeps a page boundary from skipping or repeating one.
    same = timezone.now() - timedelta(hours=1)
    Case.objects.filter(pk__in=[c.pk for c in made[3:6]]).update(created_at=same, updated_at=same)
    Case.objects.filter(pk__in=[c.pk for c in made]).update(priority="low")
    Case.objects.filter(pk=made[0].pk).update(priority="critical", assignee=alice)
    Case.objects.filter(pk__in=[made[1].pk, made[7].pk]).update(priority="high")
    Case.objects.filter(pk=made[2].pk).update(status="closed")
    return made


def _walk(api, **params) -> list[str]:
    seen, cursor, pages = [], "", 0
    while True:
        body = api.get("/api/v1/cases", {**params, **({"cursor": cursor} if cursor else {})}).json()
        assert "error" not in body, body
        seen += [item["reference"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
        assert pages < 50


def _by_offset(api, **params) -> list[str]:
    body = api.get("/api/v1/cases", {**params, "limit": 200}).json()
    return [item["reference"] for item in body["items"]]


@pytest.mark.parametrize("ordering", keyset.KEYSET_ORDERINGS)
@pytest.mark.parametrize("view", ["all", "open"])
def test_pages_by_cursor_give_every_case_once_in_the_lists_order(api, cases, ordering, view):
    for limit in (1, 2, 3, 5):
        walked = _walk(api, view=view, ordering=ordering, limit=limit)
        assert walked == _by_offset(api, view=view, ordering=ordering), (ordering, view, limit)
    assert len(walked) == (11 if view == "all" else 10)


def test_filters_apply_to_every_page_and_the_last_page_says_so(api, cases):
    walked = _walk(api, view="all", priority=["high", "critical"], ordering="priority", limit=2)
    assert walked == [cases[0].reference, cases[1].reference, cases[7].reference]
    body = api.get("/api/v1/cases", {"view": "all", "limit": 20}).json()
    assert len(body["items"]) == 11 and body["next_cursor"] is None


def test_offsets_still_work_and_the_orders_without_a_cursor_say_null(api, cases):
    body = api.get("/api/v1/cases", {"view": "all", "limit": 4, "offset": 4}).json()
    assert len(body["items"]) == 4 and body["next_cursor"]
    body = api.get("/api/v1/cases", {"view": "all", "limit": 4, "ordering": "due"}).json()
    assert len(body["items"]) == 4 and body["next_cursor"] is None
    body = api.get("/api/v1/cases", {"view": "all", "limit": 2, "q": "printer"}).json()
    assert body["items"] and body["next_cursor"] is None  # relevance-ranked: offsets only


def _cursor(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"cursor": "not base64 at all!"}, "not one this API gave out"),
        ({"cursor": _cursor(["a", "list"])}, "not one this API gave out"),
        ({"cursor": _cursor({"o": "newest", "k": ["yesterday", 1]})}, "not one this API gave out"),
        ({"cursor": _cursor({"o": "newest", "k": ["2026-01-01T00:00:00", 1]})}, "not one this API gave out"),
        ({"cursor": _cursor({"o": "newest", "k": ["2026-01-01T00:00:00+00:00", 10**30]})}, "not one"),
        ({"cursor": _cursor({"o": "newest", "k": [1]})}, "not one this API gave out"),
        ({"cursor": _cursor({"o": "newest", "k": ["9999-12-31T23:00:00-05:00", 1]})}, "not one"),
        ({"cursor": _cursor({"o": "newest", "k": [True, 1]})}, "not one this API gave out"),
        ({"cursor": _cursor({"o": "oldest", "k": ["2026-01-01T00:00:00+00:00", 1]})}, "'oldest' order"),
        ({"cursor": _cursor({"o": "due", "k": []}), "ordering": "due"}, "pages by offset only"),
        (
            {"cursor": _cursor({"o": "newest", "k": ["2026-01-01T00:00:00+00:00", 1]}), "offset": 3},
            "not both",
        ),
    ],
)
def test_a_bad_cursor_is_a_clear_error(api, cases, params, why):
    response = api.get("/api/v1/cases", {"view": "all", **params})
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_cursor" and why in error["message"], error


@given(
    st.sampled_from(keyset.KEYSET_ORDERINGS),
    st.datetimes(timezones=st.just(UTC)),
    st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1),
)
def test_a_cursor_carries_its_key_exactly(ordering, moment, number):
    row = Case(id=number, number=number, priority_rank=number, created_at=moment, updated_at=moment)
    names, _ = keyset._keys(ordering)
    assert keyset.decode(keyset.cursor_after(row, ordering), ordering) == [getattr(row, n) for n in names]


# --- the plan of a deep page -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({"view": "open"}, "case_open_created"),
        ({"view": "open", "ordering": "oldest"}, "case_open_created"),
        ({"view": "all"}, "created_at"),
        ({"view": "all", "ordering": "reference"}, "number"),
        ({"view": "all", "ordering": "updated"}, "case_updated"),
        ({"view": "open", "ordering": "priority"}, "case_(open_priority|priority_created)"),
        ({"view": "open", "assignee": "alice"}, "case_assignee_open_created"),
    ],
)
def test_the_page_after_a_cursor_is_a_range_of_the_orders_index(cases, alice, filters, index):
    from django.db import connection

    for i in range(3):
        open_case(subject=f"More {i}", customer=CustomerFactory())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE cases_case")
    wanted = selectors.CaseFilter(**filters)
    qs = selectors.case_list(filters=wanted)
    middle = list(qs)[len(qs) // 2]
    page = keyset.after(
        qs, wanted.ordering, keyset.decode(keyset.cursor_after(middle, wanted.ordering), wanted.ordering)
    )
    # Every case newest first walks `created_at`'s own index, which has no id: PostgreSQL sorts the
    # ties of that walk by id (SQLite's index carries the rowid, which is the id).
    ties = filters == {"view": "all"}
    plan = plan_of(page[:25], incremental_sort=ties)
    assert re.search(index, plan.text), plan.text
    assert not plan.problems(allow_tie_sort=ties), plan.text
    # A range that starts at the cursor, not a walk from the start of the index filtered row by row.
    if connection.vendor == "sqlite":
        (walk,) = [line for line in plan.text.splitlines() if " cases_case " in line]
        assert walk.startswith("SEARCH") and re.search(r"[<>]\(?\?", walk), plan.text
    else:
        assert re.search(r"Index Cond: .*[<>]", plan.text), plan.text
