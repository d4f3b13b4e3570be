"""A lead reads the figures of the teams they lead, and only those: the dashboard, the reports page, the
drill-down lists, CSV exports, the metrics API, knowledge gaps and CSAT reviews. Naming another team is
a 403 that says whose figures they are; managers and admins read every team."""

from __future__ import annotations

import csv
import io

import pytest
from django.utils import timezone

from casework.api.models import ApiToken
from casework.cases import services
from casework.people.roles import team_set_lead
from casework.reports.filters import ReportFilter, parse_filter
from casework.testing.factories import TeamFactory, make_agent, open_case

pytestmark = pytest.mark.django_db
ALPHA_MARK, BETA_MARK = "Alphasecret", "Betasecret"


@pytest.fixture
def teams(settings):
    settings.CASEWORK = {**settings.CASEWORK, "REPORTS_CACHE_SECONDS": 60}
    from django.core.cache import caches

    caches["reports"].clear()
    alpha, beta = TeamFactory(name="Alpha"), TeamFactory(name="Beta")
    leo = make_agent("leo", teams=[alpha])  # an agent named Alpha's lead: the door makes him a lead
    team_set_lead(team=alpha, lead=leo, actor="test")
    bea = make_agent("bea", teams=[beta])
    max_ = make_agent("max", role="manager")
    cases = {
        "alpha": [open_case(subject=f"{ALPHA_MARK} {i}", team=alpha) for i in range(2)],
        "beta": [open_case(subject=f"{BETA_MARK} {i}", team=beta) for i in range(3)],
    }
    for group in cases.values():
        for case in group:
            case.refresh_from_db()
    assert {c.team_id for c in cases["alpha"]} == {alpha.pk} and {c.team_id for c in cases["beta"]} == {
        beta.pk
    }
    tokens = {
        name: ApiToken.issue(user, name="t", scopes=["read", "write", "admin"])[1]
        for name, user in (("leo", leo), ("max", max_))
    }
    yield {
        "alpha": alpha,
        "beta": beta,
        "leo": leo,
        "bea": bea,
        "max": max_,
        "cases": cases,
        "tokens": tokens,
    }
    caches["reports"].clear()


def _new_cases(tiles) -> str:
    return {t.key: t for t, _ in tiles}["new"].text


def test_the_filter_itself_narrows_every_figure_to_the_leads_teams(teams):
    from casework.reports import selectors

    f = parse_filter({}, user=teams["leo"])
    assert f.teams == frozenset([teams["alpha"].pk])
    assert selectors.new_cases(f) == 2
    assert selectors.new_cases(parse_filter({}, user=teams["max"])) == 5
    today = timezone.localdate()
    assert selectors.new_cases(ReportFilter(start=today, end=today)) == 5  # jobs (no user): every team
    from casework.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied) as exc:
        parse_filter({"team": str(teams["beta"].pk)}, user=teams["leo"])
    assert exc.value.code == "not_your_team" and "Beta" in exc.value.message and "Alpha" in exc.value.message


def test_dashboard_shows_the_leads_teams_and_refuses_another(teams, client):
    client.force_login(teams["leo"])
    response = client.get("/reports/dashboard/")
    assert response.status_code == 200
    assert _new_cases(response.context["tiles"]) == "2"
    body = response.content.decode()
    assert "Figures for the teams you lead: Alpha" in body and ">Beta<" not in body
    refused = client.get("/reports/dashboard/", {"team": teams["beta"].pk})
    assert refused.status_code == 403
    assert "figures are for its lead, managers and admins; you lead Alpha" in refused.content.decode()
    # The cache never hands a lead the manager's board (or the reverse).
    client.force_login(teams["max"])
    assert _new_cases(client.get("/reports/dashboard/").context["tiles"]) == "5"
    assert client.get("/reports/dashboard/", {"team": teams["beta"].pk}).status_code == 200
    client.force_login(teams["leo"])
    assert _new_cases(client.get("/reports/dashboard/").context["tiles"]) == "2"


def test_reports_drill_down_and_csv_hold_only_the_leads_teams(teams, client):
    client.force_login(teams["leo"])
    page = client.get("/reports/", {"metric": "volume"})
    assert page.status_code == 200
    assert client.get("/reports/", {"metric": "volume", "team": teams["beta"].pk}).status_code == 403
    listed = client.get("/reports/cases/", {"figure": "open"}).content.decode()
    assert ALPHA_MARK in listed and BETA_MARK not in listed
    assert client.get("/reports/cases/", {"figure": "open", "team": teams["beta"].pk}).status_code == 403
    response = client.get("/reports/volume.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sum(int(r[1]) for r in rows[1:]) == 2
    refused = client.get("/reports/volume.csv", {"team": teams["beta"].pk})
    assert refused.status_code == 403 and b"Beta" in refused.content
    assert client.get("/reports/sla_breaches.csv", {"team": teams["beta"].pk}).status_code == 403
    # Another team's agent as the agent filter: nothing of theirs is counted.
    response = client.get("/reports/volume.csv", {"agent": teams["bea"].pk})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sum(int(r[1]) for r in rows[1:]) == 0
    # A saved report cannot smuggle another team in either.
    response = client.post("/reports/saved/", {"name": "B", "metric": "volume", "team": teams["beta"].pk})
    from casework.reports.models import SavedReport

    assert response.status_code == 302 and not SavedReport.objects.filter(owner=teams["leo"]).exists()


def test_metrics_api_is_narrowed_and_refuses_another_team(teams, client):
    def get(who, **params):
        return client.get(
            "/api/v1/metrics/volume", params, HTTP_AUTHORIZATION=f"Bearer {teams['tokens'][who]}"
        )

    total = lambda body: sum(row["count"] for row in body["tables"][0]["rows"])  # noqa: E731
    assert total(get("leo").json()) == 2
    refused = get("leo", team=teams["beta"].pk)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_your_team"
    assert BETA_MARK not in refused.content.decode()
    assert total(get("max").json()) == 5
    assert total(get("max", team=teams["beta"].pk).json()) == 3


def test_knowledge_gaps_are_narrowed(teams, client):
    for group in teams["cases"].values():
        for case in group:
            for to in ("in_progress", "resolved"):
                services.case_transition(case=case, to=to, actor=teams["max"], reason="done")
    leo = {"HTTP_AUTHORIZATION": f"Bearer {teams['tokens']['leo']}"}
    manager = {"HTTP_AUTHORIZATION": f"Bearer {teams['tokens']['max']}"}
    assert client.get("/api/v1/knowledge/gaps", **leo).json()["cases"] == 2
    refused = client.get("/api/v1/knowledge/gaps", {"team": teams["beta"].pk}, **leo)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_your_team"
    assert client.get("/api/v1/knowledge/gaps", **manager).json()["cases"] == 5
    assert client.get("/api/v1/knowledge/gaps", {"team": teams["beta"].pk}, **manager).json()["cases"] == 3


def test_csat_reviews_follow_the_same_teams(teams, client):
    from casework.csat.models import CsatAnswer, CsatReview

    now = timezone.now()
    for key in ("alpha", "beta"):
        case = teams["cases"][key][0]
        answer = CsatAnswer.objects.create(
            case=case, customer=case.customer, score=1, first_answered_at=now, answered_at=now
        )
        CsatReview.objects.create(
            answer=answer, case=case, team=teams[key], lead=teams[key].lead, opening_score=1, opened_at=now
        )
    client.force_login(teams["leo"])
    body = client.get("/csat/reviews/").content.decode()
    assert ALPHA_MARK in body and BETA_MARK not in body
    client.force_login(teams["max"])
    body = client.get("/csat/reviews/").content.decode()
    assert ALPHA_MARK in body and BETA_MARK in body


def test_a_lead_of_no_team_sees_no_figures_and_is_told_why(teams, client):
    loner = make_agent("loner", role="lead")
    client.force_login(loner)
    response = client.get("/reports/dashboard/")
    assert response.status_code == 200
    assert _new_cases(response.context["tiles"]) == "0"
    assert "You lead no team" in response.content.decode()
