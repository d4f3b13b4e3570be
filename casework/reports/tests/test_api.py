"""GET /api/v1/metrics and /api/v1/metrics/{name}: the same figures and filters as the pages, JSON errors."""

from __future__ import annotations

import pytest
import time_machine

from .conftest import utc

pytestmark = pytest.mark.django_db
WEEK = {"start": "2026-11-30", "end": "2026-12-06"}


@pytest.fixture(autouse=True)
def _later():
    with time_machine.travel(utc(2026, 12, 7, 9), tick=False):
        yield


def test_list_metrics_with_definitions(week, api):
    body = api.get("/api/v1/metrics").json()
    names = {m["name"]: m for m in body}
    assert {"volume", "backlog", "first_response", "resolution", "sla", "fcr", "csat"} <= set(names)
    assert names["csat"]["available"] is False
    assert names["volume"]["options"]["split"] == ["none", "channel", "category", "priority"]


def test_metric_with_filters(week, api):
    body = api.get("/api/v1/metrics/first_response", {**WEEK, "priority": "medium"}).json()
    assert body["filters"] == {"priority": "medium"} and body["start"] == "2026-11-30"
    wall = next(t for t in body["tables"] if t["slug"] == "first_response-wall")
    assert wall["rows"][0] == {"label": "Medium", "count": 3, "median": 3600.0, "p90": 7200.0, "max": 7200.0}
    body = api.get("/api/v1/metrics/volume", {**WEEK, "split": "channel"}).json()
    assert body["tables"][0]["rows"][0]["period"] == "2026-11-30"


def test_errors_are_structured(week, api, anon_api):
    response = api.get("/api/v1/metrics/nope")
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_metric"
    response = api.get("/api/v1/metrics/volume", {"start": "2026-12-06", "end": "2026-11-30"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_filter"
    assert anon_api.get("/api/v1/metrics/volume").status_code == 401
