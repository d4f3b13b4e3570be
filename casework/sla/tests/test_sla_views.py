"""SLA in the agent UI and API: queue views and sort, the case-page panel, /cases/{ref}/clocks."""

import pytest
import time_machine
from django.urls import reverse

from casework.cases import selectors
from casework.cases import services as cases
from casework.sla.sweep import sweep
from casework.testing.factories import PASSWORD, CustomerFactory

from .conftest import utc

pytestmark = pytest.mark.django_db
MONDAY_10 = utc(2026, 3, 2, 10)


@pytest.fixture
def three_cases(at, alice):
    def open_one(subject, priority):
        return at(
            MONDAY_10,
            cases.case_open,
            subject=subject,
            description="Details inside.",
            customer=CustomerFactory(),
            priority=priority,
        )

    high = open_one("Reports page slow", "high")  # first response due 11:00, at risk 10:45
    medium = open_one("Invoice address", "medium")  # first response due 14:00, at risk 13:30
    low = open_one("Change my avatar", "low")  # first response due 17:00
    at(utc(2026, 3, 2, 10, 5), cases.case_add_message, case=low, kind="reply", body="Sure", actor=alice)
    return high, medium, low


def test_queue_views_and_due_sort(three_cases, alice):
    high, medium, low = three_cases
    with time_machine.travel(utc(2026, 3, 2, 10, 50), tick=False):
        at_risk = selectors.case_list(filters=selectors.CaseFilter(view="at_risk"), user=alice)
        assert [c.reference for c in at_risk] == [high.reference]
        assert not selectors.case_list(filters=selectors.CaseFilter(view="breached"), user=alice).exists()
        counts = selectors.queue_counts(alice)
        assert (counts["sla_at_risk"], counts["sla_breached"]) == (1, 0)
        due = selectors.case_list(filters=selectors.CaseFilter(view="open", ordering="due"), user=alice)
        assert [c.reference for c in due] == [high.reference, medium.reference, low.reference]
    with time_machine.travel(utc(2026, 3, 2, 13, 45), tick=False):
        sweep()
        breached = selectors.case_list(filters=selectors.CaseFilter(view="breached"), user=alice)
        assert [c.reference for c in breached] == [high.reference]  # one row although two clocks
        at_risk = selectors.case_list(filters=selectors.CaseFilter(view="at_risk"), user=alice)
        assert [c.reference for c in at_risk] == [medium.reference]


def test_queue_page_links_counts_and_sort(client, alice, three_cases, django_assert_max_num_queries):
    client.login(username="alice", password=PASSWORD)
    with time_machine.travel(utc(2026, 3, 2, 11, 30), tick=False):
        sweep()
        page = client.get("/", {"view": "breached", "sort": "due"})
        with django_assert_max_num_queries(20):
            client.get("/", {"view": "open", "sort": "due"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "At risk / breached: after SLA setup" not in html
    assert "?view=at_risk&amp;sort=due" in html and "?view=breached&amp;sort=due" in html
    assert 'data-testid="sla-breached-count">1<' in html
    assert three_cases[0].reference in html and three_cases[1].reference not in html
    assert 'value="due" selected' in html


def test_case_panel_shows_clocks_and_ledger(client, alice, three_cases, at):
    high = three_cases[0]
    at(utc(2026, 3, 2, 10, 20), cases.case_transition, case=high, to="in_progress", actor=alice)
    client.login(username="alice", password=PASSWORD)
    url = reverse("web:case", args=[high.reference])
    with time_machine.travel(utc(2026, 3, 2, 10, 40), tick=False):
        html = client.get(url).content.decode()
    assert 'data-testid="sla-panel"' in html
    assert "First response" in html and "Resolution" in html
    assert ">Mon 02 Mar 11:00</time>" in html and "20 min business time left" in html
    assert "Why is this due then?" in html
    assert (
        "policy &#x27;Standard&#x27; (default policy), high: 1 h on Office hours (Mon–Fri 09:00–17:30 UTC)"
        in html
    )
    at(utc(2026, 3, 2, 10, 45), cases.case_transition, case=high, to="awaiting_client", actor=alice)
    with time_machine.travel(utc(2026, 3, 2, 12), tick=False):
        html = client.get(url).content.decode()
    assert "Paused since Mon 02 Mar 10:45" in html and "7 h 15 min left when it resumes" in html
    assert "clock paused (case is Awaiting client)" in html


def test_api_lists_clocks_with_ledger(api, anon_api, three_cases):
    high = three_cases[0]
    with time_machine.travel(utc(2026, 3, 2, 10, 30), tick=False):
        response = api.get(f"/api/v1/cases/{high.reference}/clocks")
    assert response.status_code == 200
    fr, res = response.json()
    assert (fr["metric"], fr["state"], fr["policy"], fr["target_seconds"]) == (
        "first_response",
        "running",
        "Standard",
        3600,
    )
    assert fr["due_at"].startswith("2026-03-02T11:00:00") and fr["left_seconds"] == 1800
    assert fr["used_seconds"] == 1800 and fr["at_risk"] is False
    assert [e["kind"] for e in fr["ledger"]] == ["start"]
    assert res["calendar"] == "Office hours" and res["target_seconds"] == 8 * 3600
    assert api.get("/api/v1/cases/CW-999999/clocks").json()["error"]["code"] == "case_not_found"
    assert anon_api.get(f"/api/v1/cases/{high.reference}/clocks").status_code == 401
