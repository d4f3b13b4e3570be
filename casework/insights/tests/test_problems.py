"""Clusters → problems: incremental clustering, the possible-incident alert once per cluster, a problem
made of a cluster, new matching cases proposed, resolution told exactly once, the loop counted."""

from __future__ import annotations

import pytest
import time_machine
from django.urls import reverse

from casework.cases.models import CaseEvent
from casework.core import clock
from casework.insights import clustering, services
from casework.insights.models import Cluster, ClusterMember, LinkState, Problem, ProblemCase, ProblemState
from casework.notify.models import Notification, Outbox
from casework.testing.factories import CustomerFactory, open_case

pytestmark = pytest.mark.django_db

OUTAGE = [
    ("Dashboard does not load", "The dashboard page does not load, it spins forever since 9am."),
    ("Dashboard not loading", "Our dashboard will not load at all, spinner forever."),
    ("dashboard loading forever", "The dashboard keeps loading and never shows anything."),
    ("Dashboard won't load today", "Since this morning the dashboard does not load for our team."),
]


@pytest.fixture
def lead(teams, bob):
    teams[1].lead = bob
    teams[1].save()
    bob.agent.role = "lead"  # leading a team and holding the lead role go together
    bob.agent.save(update_fields=["role"])
    return bob


def outage_case(n, team):
    subject, body = OUTAGE[n]
    return open_case(subject=subject, description=body, customer=CustomerFactory(), team=team)


def test_three_similar_cases_in_a_day_cluster_and_alert_the_lead_once(teams, lead):
    cases = [outage_case(n, teams[1]) for n in range(3)]
    open_case(
        subject="Invoice address wrong", description="old address on the invoice", customer=CustomerFactory()
    )
    result = clustering.cluster_recent()
    assert result["alerts"] == 1
    member = ClusterMember.objects.get(case=cases[0])
    cluster = member.cluster
    assert {m.case_id for m in cluster.members.all()} == {c.pk for c in cases}
    assert cluster.size == 3 and cluster.alerted_at is not None and "dashboard" in cluster.label
    alert = Notification.objects.get(kind="possible_incident")
    assert alert.user == lead and "3 similar cases" in alert.title
    # explained on each case's timeline
    joined = CaseEvent.objects.get(case=cases[1], data__insights__cluster=cluster.pk)
    assert "most like" in joined.reason and "shared words" in joined.reason
    assert CaseEvent.objects.filter(case=cases[2], data__insights__incident=cluster.pk).exists()
    # the job again, and a fourth case joining: still one alert
    assert clustering.cluster_recent()["assigned"] == 0
    fourth = outage_case(3, teams[1])
    assert clustering.cluster_recent()["alerts"] == 0
    assert ClusterMember.objects.get(case=fourth).cluster == cluster
    assert Notification.objects.filter(kind="possible_incident").count() == 1


def test_cases_spread_over_days_do_not_alert(teams, lead, settings):
    settings.CASEWORK = {**settings.CASEWORK, "CLUSTER_WINDOW_HOURS": 24 * 7}
    from datetime import timedelta

    start = clock.now()
    for n in range(3):
        with time_machine.travel(start - timedelta(hours=30 * (2 - n)), tick=False):
            outage_case(n, teams[1])
    result = clustering.cluster_recent()
    assert result["alerts"] == 0
    assert Cluster.objects.get().size == 3


def test_a_lead_turns_a_cluster_into_a_problem_and_new_cases_are_proposed(client, teams, lead, alice):
    for n in range(3):
        outage_case(n, teams[1])
    clustering.cluster_recent()
    cluster = Cluster.objects.get()
    client.force_login(lead)
    page = client.get(reverse("insights:problems"))
    assert page.status_code == 200 and b"make-problem" in page.content
    response = client.post(
        reverse("insights:problem_new"),
        {"cluster": cluster.pk, "title": "Dashboard outage", "owner": lead.pk},
    )
    problem = Problem.objects.get()
    assert response["Location"] == reverse("insights:problem", args=[problem.pk])
    assert problem.owner == lead and problem.cluster == cluster
    assert ProblemCase.objects.filter(problem=problem, state=LinkState.LINKED).count() == 3
    # a new matching case is proposed automatically; one click links it
    fourth = outage_case(3, teams[1])
    clustering.cluster_recent()
    proposal = ProblemCase.objects.get(problem=problem, case=fourth)
    assert proposal.state == LinkState.PROPOSED
    detail = client.get(reverse("insights:problem", args=[problem.pk]))
    assert b"accept-proposal" in detail.content
    client.post(reverse("insights:problem_link", args=[problem.pk]), {"cases": fourth.reference})
    proposal.refresh_from_db()
    assert proposal.state == LinkState.LINKED
    # an agent who leads no team can read but not manage
    client.force_login(alice)
    assert client.get(reverse("insights:problem", args=[problem.pk])).status_code == 200
    assert client.post(reverse("insights:problem_new"), {"title": "x"}).status_code == 403
    assert (
        client.post(reverse("insights:problem_edit", args=[problem.pk]), {"state": "resolved"}).status_code
        == 403
    )


def test_resolution_tells_every_linked_open_case_exactly_once(teams, lead, alice):
    cases = [outage_case(n, teams[1]) for n in range(3)]
    from casework.cases.services import case_transition

    case_transition(case=cases[2], to="closed", actor=alice, reason="withdrawn")
    problem = services.problem_create(title="Dashboard outage", owner=lead, cases=cases, actor=lead)
    services.problem_update(
        problem=problem, actor=lead, state=ProblemState.FIX_IN_PROGRESS, root_cause="cache"
    )
    result = services.problem_resolve(problem=problem, note="We rolled back the cache change.", actor=lead)
    assert result == {"told": 2, "links": 3}
    mails = Outbox.objects.filter(kind="problem_resolved")
    assert sorted(m.to[0] for m in mails) == sorted(c.customer.email for c in cases[:2])
    assert all("rolled back the cache" in m.body_text for m in mails)
    assert CaseEvent.objects.filter(case=cases[0], data__insights__resolved=True).count() == 1
    # again (a retried request, a re-run after a crash): nobody is told twice
    assert services.problem_resolve(problem=problem, note="We rolled back the cache change.", actor=lead) == {
        "told": 0,
        "links": 0,
    }
    assert Outbox.objects.filter(kind="problem_resolved").count() == 2
    problem.refresh_from_db()
    assert problem.state == ProblemState.RESOLVED and problem.resolved_at is not None


def test_resolution_needs_a_note_and_nothing_is_written_without_one(teams, lead):
    from casework.core.errors import ValidationFailed

    problem = services.problem_create(
        title="Dashboard outage", owner=lead, cases=[outage_case(0, teams[1])], actor=lead
    )
    with pytest.raises(ValidationFailed):
        services.problem_resolve(problem=problem, note="  ", actor=lead)
    with pytest.raises(ValidationFailed):
        services.problem_update(problem=problem, actor=lead, state="resolved")
    with pytest.raises(ValidationFailed):
        services.problem_update(problem=problem, actor=lead, state="bogus")
    problem.refresh_from_db()
    assert problem.state == ProblemState.OPEN


def test_the_loop_counts_new_matching_cases_after_the_fix(client, teams, lead):
    from datetime import timedelta

    start = clock.now()
    for n in range(3):
        outage_case(n, teams[1])
    clustering.cluster_recent()
    problem = services.problem_create(
        title="Dashboard outage", owner=lead, cluster=Cluster.objects.get(), actor=lead
    )
    services.problem_resolve(problem=problem, note="Fixed.", actor=lead)
    from casework.insights.selectors import loop_closed

    problem.refresh_from_db()
    assert loop_closed(problem)["count"] == 0
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        outage_case(3, teams[1])
        clustering.cluster_recent()
    problem.refresh_from_db()
    assert loop_closed(problem)["count"] == 1
    client.force_login(lead)
    assert (
        b"1 new matching case since the fix"
        in client.get(reverse("insights:problem", args=[problem.pk])).content
    )


def test_problem_api(api, alice, teams, lead, client):
    from casework.api.models import ApiToken

    cases = [outage_case(n, teams[1]) for n in range(2)]
    # An agent (not a lead): 403 with a code
    alice.agent.role = "agent"
    alice.agent.save(update_fields=["role"])
    denied = api.post("/api/v1/problems", {"title": "x", "cases": [cases[0].reference]})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "role_required"
    _, raw = ApiToken.issue(lead, name="lead")
    api.token = raw
    created = api.post(
        "/api/v1/problems", {"title": "Dashboard outage", "cases": [c.reference for c in cases]}
    )
    assert created.status_code == 201
    body = created.json()
    assert body["cases"] == [c.reference for c in cases] and body["owner"] == "bob"
    pk = body["id"]
    assert api.patch(f"/api/v1/problems/{pk}", {"state": "investigating"}).json()["state"] == "investigating"
    assert api.patch(f"/api/v1/problems/{pk}", {"root_cause": None, "title": None}).status_code == 200
    bad = api.patch(f"/api/v1/problems/{pk}", {"state": "nope"})
    assert bad.status_code == 422 or bad.json()["error"]["code"] == "invalid_state"
    resolved = api.post(f"/api/v1/problems/{pk}/resolve", {"note": "Fixed the cache."}).json()
    assert resolved["state"] == "resolved" and resolved["new_cases_since_resolved"] == 0
    assert [p["id"] for p in api.get("/api/v1/problems").json()] == [pk]
    assert api.get("/api/v1/problems/99999").json()["error"]["code"] == "problem_not_found"
    missing = api.post(f"/api/v1/problems/{pk}/cases", {"cases": ["CW-999999"]})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "case_not_found"
    assert api.get("/api/v1/clusters").status_code == 200
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/problems" in schema["paths"] and "/api/v1/cases/{reference}/duplicates" in schema["paths"]


def test_problems_page_runs_a_constant_number_of_queries(client, teams, lead, django_assert_max_num_queries):
    for n in range(4):
        outage_case(n, teams[1])
    clustering.cluster_recent()
    for i in range(3):
        services.problem_create(title=f"P{i}", owner=lead, actor=lead)
    client.force_login(lead)
    with django_assert_max_num_queries(20):
        assert client.get(reverse("insights:problems")).status_code == 200


def test_the_job_clusters_a_catch_up_in_short_runs_that_say_when_a_backlog_is_left(teams, lead, settings):
    """A first run over days of unclustered cases used to go on until none was left; the job now stops
    after its budget (at least one batch) and says `backlog`, so the scheduler runs it again within
    seconds, and the same cluster comes out."""
    settings.CASEWORK = {**settings.CASEWORK, "CLUSTER_BATCH": 2, "CLUSTER_JOB_BUDGET_SECONDS": 0}
    cases = [outage_case(n, teams[1]) for n in range(3)]
    first = clustering.cluster_job()
    assert first["assigned"] == 2 and first["backlog"] is True
    second = clustering.cluster_job()
    assert second["assigned"] == 1 and second["backlog"] is False and second["alerts"] == 1
    assert clustering.cluster_job()["assigned"] == 0
    assert len({ClusterMember.objects.get(case=c).cluster_id for c in cases}) == 1
