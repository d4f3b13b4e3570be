"""`GET /cases` and `GET /search/cases` share one filter builder (`casework/api/filters.py`): the same
filters narrow both, and a bad value is the same structured 422 with a code on both."""

from __future__ import annotations

import pytest

from casework.api.filters import CaseFilterQuery, case_filter
from casework.cases import services
from casework.core.errors import ValidationFailed
from casework.testing.factories import open_case

pytestmark = pytest.mark.django_db

ENDPOINTS = [("/api/v1/cases", {}), ("/api/v1/search/cases", {"q": "walrus"})]


def error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


@pytest.mark.parametrize("path,base", ENDPOINTS)
@pytest.mark.parametrize(
    "param,value,code",
    [
        ("status", "paused", "invalid_status"),
        ("priority", "urgent", "invalid_priority"),
        ("view", "everything", "invalid_view"),
        ("channel", "pigeon", "invalid_channel"),
    ],
)
def test_bad_filter_values_are_structured_errors_on_both_endpoints(api, path, base, param, value, code):
    response = api.get(path, {**base, param: value})
    assert response.status_code == 422
    err = error(response)
    assert err["code"] == code
    assert err["details"]["value"] == value and value not in err["details"]["allowed"]


def test_bad_ordering_on_the_list(api):
    err = error(api.get("/api/v1/cases", {"ordering": "sideways"}))
    assert err["code"] == "invalid_ordering" and "newest" in err["details"]["allowed"]


def test_empty_query_on_search_is_required(api):
    response = api.get("/api/v1/search/cases", {"q": "  "})
    assert response.status_code == 422 and error(response)["code"] == "required"


def test_the_same_filters_narrow_both_endpoints(api, alice):
    high = open_case(subject="Walrus upload fails", priority="high")
    low = open_case(subject="Walrus logo request", priority="low")
    services.case_transition(case=low, to="in_progress", actor=alice)
    for path, base in ENDPOINTS:
        refs = {i["reference"] for i in api.get(path, {**base, "q": "walrus"}).json()["items"]}
        assert refs == {high.reference, low.reference}, path
        refs = {i["reference"] for i in api.get(path, {**base, "priority": "high"}).json()["items"]}
        assert high.reference in refs and low.reference not in refs, path
        params = {**base, "q": "walrus", "status": ["in_progress"]}
        refs = {i["reference"] for i in api.get(path, params).json()["items"]}
        assert refs == {low.reference}, path


def test_case_filter_defaults_the_ordering_to_relevance_with_a_query():
    assert case_filter(CaseFilterQuery(), q=" walrus ").ordering == "relevance"
    assert case_filter(CaseFilterQuery(), q="").ordering == "newest"
    assert case_filter(CaseFilterQuery(), q=" walrus ").q == "walrus"
    with pytest.raises(ValidationFailed) as exc:
        case_filter(CaseFilterQuery(status=["new", "nope"]))
    assert exc.value.code == "invalid_status" and exc.value.details["field"] == "status"
