"""GET /api/v1/cases `count` and `count_exact`: exact up to CASEWORK_API_EXACT_COUNT_LIMIT matches, the
database's estimate above it (casework/api/counts.py) — so a first page never counts a million rows."""

import pytest
from django.conf import settings
from django.db import connection

from casework.testing.factories import open_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def five(customer):
    return [open_case(subject=f"Printer {i}", customer=customer) for i in range(5)]


def _analyze():
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def test_count_is_exact_up_to_the_limit(api, five):
    body = api.get("/api/v1/cases", {"limit": 2}).json()
    assert (body["count"], body["count_exact"], len(body["items"])) == (5, True, 2)


def test_count_at_the_limit_is_still_exact(api, five, monkeypatch):
    monkeypatch.setitem(settings.CASEWORK, "API_EXACT_COUNT_LIMIT", 5)
    body = api.get("/api/v1/cases").json()
    assert (body["count"], body["count_exact"]) == (5, True)


def test_above_the_limit_the_count_is_an_estimate_and_says_so(api, five, monkeypatch):
    monkeypatch.setitem(settings.CASEWORK, "API_EXACT_COUNT_LIMIT", 3)
    _analyze()
    body = api.get("/api/v1/cases", {"limit": 2}).json()
    assert body["count_exact"] is False
    # Never below what was counted (limit + 1); from the statistics ANALYZE just wrote.
    assert body["count"] >= 4
    if connection.vendor == "sqlite":
        assert body["count"] == 5  # sqlite_stat1: the table's rows at the last ANALYZE
    else:
        assert body["count"] <= 50  # the planner's estimate for five rows
    # Pages stay exact: offset/limit read real rows and an empty page is the end.
    refs = []
    for offset in range(0, 10, 2):
        refs += [
            c["reference"] for c in api.get("/api/v1/cases", {"limit": 2, "offset": offset}).json()["items"]
        ]
    assert sorted(refs) == sorted(c.reference for c in five)


def test_a_filtered_list_above_the_limit_gives_at_least_the_lower_bound(api, five, monkeypatch):
    monkeypatch.setitem(settings.CASEWORK, "API_EXACT_COUNT_LIMIT", 2)
    _analyze()
    body = api.get("/api/v1/cases", {"view": "open", "q": ""}).json()
    assert body["count_exact"] is False and body["count"] >= 3
    one = api.get("/api/v1/cases", {"q": "nothing-matches-this"}).json()
    assert (one["count"], one["count_exact"]) == (0, True)


def test_limit_zero_counts_exactly(api, five, monkeypatch):
    monkeypatch.setitem(settings.CASEWORK, "API_EXACT_COUNT_LIMIT", 0)
    body = api.get("/api/v1/cases").json()
    assert (body["count"], body["count_exact"]) == (5, True)


def test_the_openapi_schema_documents_count_exact(client):
    schema = client.get("/api/v1/openapi.json").json()
    props = schema["components"]["schemas"]["CaseListOut"]["properties"]
    assert props["count_exact"]["type"] == "boolean"
    assert "estimate" in props["count"]["description"]
