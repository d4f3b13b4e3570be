"""The report pages: dashboard tiles against targets, drill-down, every metric's page, CSV, saved reports,
subscriptions, bad input and who may see them."""

from __future__ import annotations

import csv
import io
import re

import pytest
import time_machine
from django.urls import reverse

from casework.reports.models import ReportSubscription, SavedReport
from casework.reports.registry import all_metrics

from .conftest import utc

pytestmark = pytest.mark.django_db
WEEK = {"start": "2026-11-30", "end": "2026-12-06"}


@pytest.fixture(autouse=True)
def _thursday_afternoon(settings):
    settings.CASEWORK = {**settings.CASEWORK, "REPORTS_CACHE_SECONDS": 0}
    with time_machine.travel(utc(2026, 12, 3, 15), tick=False):
        yield


@pytest.fixture
def agent_client(client, week):
    """alice as a manager: these tests read every team's figures (a lead's are narrowed to their teams:
    test_team_scope.py)."""
    week.alice.agent.role = "manager"
    week.alice.agent.save(update_fields=["role"])
    client.force_login(week.alice)
    return client


def test_dashboard_tiles_against_targets(agent_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(40):
        response = agent_client.get(reverse("reports:dashboard"))
    assert response.status_code == 200
    tiles = {t.key: t for t, _ in response.context["tiles"]}
    # Thursday 15:00: E is the only open case (unanswered since Wed 09:00: first response breached).
    assert tiles["open"].text == "1" and tiles["breached"].text == "1" and tiles["breached"].status == "bad"
    assert tiles["new"].text == "2"  # G and H today (I was merged)
    # First answered today: H only, 2 h business → off the 1 h target (more than 10 % over).
    assert tiles["first_response"].text == "2 h" and tiles["first_response"].status == "bad"
    # This week: 10 met; B breached, and E's first response ran out Wed 13:00 → 10 of 12.
    assert tiles["sla"].text == "83.3 %" and tiles["sla"].status == "bad"
    assert tiles["tier1"].text == "83.3 %" and tiles["tier1"].status == "good"
    assert tiles["csat"].text == "No CSAT data yet" and tiles["csat"].status == "none"
    body = response.content.decode()
    assert "target ≥ 70 %" in body and "target &lt; 1 h" in body
    assert body.count("<svg") == 4 and "<script" not in body.split("</header>", 1)[1].split("</main>")[0]
    # Nothing loaded from another host (a CDN): every src/href is on this site.
    assert not re.search(r'(?:src|href)="(?:https?:)?//', body), body


def test_tile_drills_into_its_cases(agent_client):
    response = agent_client.get(reverse("reports:cases"), {"figure": "tier1", **WEEK})
    refs = [c.reference for c in response.context["page"].object_list]
    assert sorted(refs) == ["CW-000001", "CW-000002", "CW-000003", "CW-000004", "CW-000007"]
    response = agent_client.get(reverse("reports:cases"), {"figure": "breached"})
    assert [c.reference for c in response.context["page"].object_list] == ["CW-000005"]
    assert agent_client.get(reverse("reports:cases"), {"figure": "nonsense"}).status_code == 400


@pytest.mark.parametrize("metric", [m.name for m in all_metrics()])
def test_every_metric_page_renders_with_definition(agent_client, metric, django_assert_max_num_queries):
    with django_assert_max_num_queries(30):
        response = agent_client.get(reverse("reports:report"), {"metric": metric, **WEEK})
    assert response.status_code == 200
    body = response.content.decode()
    definition = next(m.definition for m in all_metrics() if m.name == metric)
    assert 'class="def"' in body and definition.split(":")[0][:40] in body


def test_csv_export_has_every_row_machine_readable(agent_client):
    response = agent_client.get(
        reverse("reports:csv", args=["first_response"]), {**WEEK, "table": "first_response-wall"}
    )
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["Priority", "Cases", "Median", "p90", "Max"]
    assert ["All priorities", "5", "3600.0", "61200.0", "61200.0"] in rows
    response = agent_client.get(reverse("reports:csv", args=["sla_breaches"]), WEEK)
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r[0] for r in rows[1:]] == ["CW-000002"]  # recorded breaches (the sweep records E's later)
    assert (
        agent_client.get(reverse("reports:csv", args=["volume"]), {**WEEK, "table": "nope"}).status_code
        == 400
    )


def test_bad_filters_get_a_clear_error(agent_client):
    response = agent_client.get(reverse("reports:report"), {"metric": "volume", "start": "yesterday"})
    assert response.status_code == 400
    assert "must be a date like 2026-12-01" in response.content.decode()
    response = agent_client.get(reverse("reports:dashboard"), {"priority": "urgent"})
    assert response.status_code == 400 and "Unknown priority" in response.content.decode()


def test_saved_report_keeps_a_moving_range(agent_client, week):
    response = agent_client.post(
        reverse("reports:save"), {"metric": "sla", "name": "SLA weekly", "priority": "high", **WEEK}
    )
    saved = SavedReport.objects.get(owner=week.alice, name="SLA weekly")
    assert saved.params == {"priority": "high", "days": "7"}
    response = agent_client.get(reverse("reports:saved", args=[saved.pk]))
    assert "start=2026-11-27" in response["Location"] and "end=2026-12-03" in response["Location"]


def test_subscribe_and_unsubscribe(agent_client, week):
    agent_client.post(reverse("reports:subscribe"), {"kind": "weekly", "on": "1"})
    assert ReportSubscription.objects.get(user=week.alice, kind="weekly").active
    agent_client.post(reverse("reports:subscribe"), {"kind": "weekly", "on": "0"})
    assert not ReportSubscription.objects.get(user=week.alice, kind="weekly").active


def test_only_leads_and_above_see_reports(client, week):
    assert client.get(reverse("reports:dashboard")).status_code == 302
    from casework.testing.factories import UserFactory, make_agent

    client.force_login(UserFactory(username="mallory"))
    assert client.get(reverse("reports:dashboard")).status_code == 403
    assert client.get(reverse("reports:csv", args=["agents"])).status_code == 403
    # An agent sees neither the figures (colleagues' performance among them) nor the link.
    client.force_login(make_agent("arno"))
    assert client.get(reverse("reports:dashboard")).status_code == 403
    assert f'href="{reverse("reports:dashboard")}"' not in client.get(reverse("web:queue")).content.decode()


def test_dashboard_link_in_the_agent_navigation(agent_client):
    body = agent_client.get(reverse("web:queue")).content.decode()
    assert f'href="{reverse("reports:dashboard")}"' in body
