"""The pages an agent opens all day run a fixed number of queries whatever the number of cases (issue 20):
the case page, the queue page (each view, each order) and the API case detail. The plans of those
queries are held in casework/cases/tests/test_read_plans.py."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from casework.cases.models import Case
from casework.testing.factories import CustomerFactory, open_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(client, alice):
    client.force_login(alice)
    return client


def _queries(client, url: str, **headers) -> int:
    client.get(url, **headers)  # warm caches (configuration, sessions)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **headers)
    assert response.status_code == 200, (url, response.status_code)
    return len(captured.captured_queries)


def _more_cases(n: int, alice) -> None:
    for i in range(n):
        case = open_case(subject=f"More {i}", description="Also broken.", customer=CustomerFactory())
        if i % 2:
            Case.objects.filter(pk=case.pk).update(assignee=alice, priority="critical")


URLS = ["/", "/?sort=priority", "/?assignee=alice", "/?view=mine", "/?view=breached", "/?view=at_risk"]


def test_queue_pages_do_not_grow_with_cases(agent_client, alice, case):
    _more_cases(2, alice)  # every view shows a row (an empty page skips its row query)
    before = {url: _queries(agent_client, url) for url in URLS}
    _more_cases(12, alice)
    after = {url: _queries(agent_client, url) for url in URLS}
    assert after == before


def test_case_page_and_api_detail_do_not_grow_with_cases(agent_client, api, alice, case):
    page = reverse("web:case", args=[case.reference])
    panel = f"{page}?part=panel&name=knowledge"  # the deferred panel the page fetches after it loads
    detail = f"/api/v1/cases/{case.reference}"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api.token}"}
    before = (
        _queries(agent_client, page),
        _queries(agent_client, panel),
        _queries(agent_client, detail, **auth),
    )
    _more_cases(12, alice)
    after = (
        _queries(agent_client, page),
        _queries(agent_client, panel),
        _queries(agent_client, detail, **auth),
    )
    assert after == before
