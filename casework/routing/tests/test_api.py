"""/api/v1 routing endpoints."""

from __future__ import annotations

import pytest

from casework.people.models import AgentProfile, Team

from .helpers import agent_with

pytestmark = pytest.mark.django_db


def test_assign_by_name_and_automatically(api, alice, teams, new_case):
    agent_with("ben", team=teams[1])
    case = new_case()
    response = api.post(f"/api/v1/cases/{case.reference}/assign", {"agent": "ben"})
    assert response.status_code == 200, response.content
    assert response.json()["assignee"] == "ben"

    other = new_case()
    response = api.post(f"/api/v1/cases/{other.reference}/assign", {"auto": True})
    body = response.json()
    assert response.status_code == 200, body
    assert body["assignee"] == "alice"  # ben was just assigned; alice rotates in
    assert body["routing"]["explanation"].startswith("assigned to Alice")
    assert [c["agent"] for c in body["routing"]["candidates"]] == ["Alice", "Ben"]


def test_assign_validation(api, alice, new_case):
    case = new_case()
    assert api.post(f"/api/v1/cases/{case.reference}/assign", {}).status_code == 422
    assert api.post(f"/api/v1/cases/{case.reference}/assign", {"agent": "x", "auto": True}).status_code == 422
    response = api.post(f"/api/v1/cases/{case.reference}/assign", {"agent": "nobody"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "agent_not_found"
    assert api.post("/api/v1/cases/CW-999999/assign", {"auto": True}).status_code == 404


def test_escalate_and_de_escalate(api, alice, teams, new_case, django_capture_on_commit_callbacks):
    agent_with("ben", team=teams[2], tier=2)
    case = new_case()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"/api/v1/cases/{case.reference}/escalate",
            {"handoff_note": "Logs attached", "reason": "needs L2"},
        )
    assert response.status_code == 200, response.content
    case.refresh_from_db()
    assert (case.tier, case.assignee.username) == (2, "ben")
    assert api.post(f"/api/v1/cases/{case.reference}/escalate", {"handoff_note": ""}).status_code == 422
    bad = api.post(f"/api/v1/cases/{case.reference}/escalate", {"to_tier": 1, "handoff_note": "x"})
    assert bad.json()["error"]["code"] == "not_higher"
    response = api.post(f"/api/v1/cases/{case.reference}/de-escalate", {"handoff_note": "Back to you"})
    assert response.status_code == 200 and response.json()["tier"] == 1


def _as_agent(user):
    # The `api` fixture makes alice a manager; these tests are about what a plain agent may do.
    user.agent.role = "agent"
    user.agent.save(update_fields=["role"])


def test_availability_get_and_put(api, alice, bob, teams):
    _as_agent(alice)
    response = api.get("/api/v1/agents/alice/availability")
    assert response.json()["availability"] == "active" and response.json()["available_now"] is True
    response = api.client.put(
        "/api/v1/agents/alice/availability",
        data={"availability": "out_of_office", "cover": "bob"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api.token}",
    )
    body = response.json()
    assert response.status_code == 200, body
    assert (body["availability"], body["cover"], body["available_now"]) == ("out_of_office", "bob", False)
    assert body["handed_over"] == {"reassigned": [], "offered": [], "rerouted": [], "left": []}
    forbidden = api.client.put(
        "/api/v1/agents/bob/availability",
        data={"availability": "away"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api.token}",
    )
    assert forbidden.status_code == 403
    assert api.get("/api/v1/agents/nobody/availability").status_code == 404


def test_team_get_and_patch(api, alice, teams):
    _as_agent(alice)
    response = api.get("/api/v1/teams/L1 Support")
    assert response.json() == {
        "name": "L1 Support",
        "tier_level": 1,
        "lead": None,
        "assignment_mode": "skills_load",
        "cover_policy": "offer",
        "members": ["alice"],
    }
    assert api.patch("/api/v1/teams/L1 Support", {"assignment_mode": "manual"}).status_code == 403
    Team.objects.filter(pk=teams[1].pk).update(lead=alice)
    response = api.patch(
        "/api/v1/teams/L1 Support", {"assignment_mode": "round_robin", "cover_policy": "reassign"}
    )
    assert response.status_code == 200
    assert (response.json()["assignment_mode"], response.json()["cover_policy"]) == (
        "round_robin",
        "reassign",
    )
    assert api.patch("/api/v1/teams/L1 Support", {"assignment_mode": "random"}).status_code == 422
    assert api.get("/api/v1/teams/Nope").status_code == 404
    assert AgentProfile.objects.count() == 1
