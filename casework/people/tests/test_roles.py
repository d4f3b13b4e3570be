"""Team leads and roles agree: naming a lead raises the role (never lowers), every change is audited,
the admin goes through the door, and existing leads are raised by the data migration."""

import ast
import importlib
from pathlib import Path

import pytest
from django.apps import apps

from casework.core.errors import Conflict, PermissionDenied, ValidationFailed
from casework.people import permissions
from casework.people.models import AgentProfile, StaffChange, Team
from casework.people.roles import agent_set_role, team_set_lead
from casework.testing.factories import TeamFactory, UserFactory, make_agent

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def _role(user) -> str:
    return AgentProfile.objects.get(user=user).role


def test_naming_an_agent_lead_raises_their_role_and_audits_both_changes():
    team = TeamFactory(name="Alpha")
    ann = make_agent("ann", teams=[team])
    max_ = make_agent("max", role="manager")
    team_set_lead(team=team, lead=ann, actor=max_, reason="Leo left")
    team.refresh_from_db()
    assert team.lead == ann and _role(ann) == "lead"
    changes = list(StaffChange.objects.order_by("id"))
    assert [c.kind for c in changes] == ["lead_set", "role_changed"]
    assert changes[0].before == {"lead": None} and changes[0].after["lead"] == "ann"
    assert changes[0].actor == max_ and changes[0].reason == "Leo left"
    assert changes[1].before == {"role": "agent"} and changes[1].after == {"role": "lead"}
    assert "Alpha" in changes[1].reason
    # The raised lead opens what leads open.
    fresh = type(ann).objects.get(pk=ann.pk)
    assert permissions.has_role(fresh, "lead") and team.pk in permissions.led_team_ids(fresh)


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_a_manager_or_admin_named_lead_keeps_their_role(role):
    team = TeamFactory()
    boss = make_agent("boss", role=role)
    team_set_lead(team=team, lead=boss, actor="test")
    assert _role(boss) == role
    assert list(StaffChange.objects.values_list("kind", flat=True)) == ["lead_set"]


def test_setting_the_same_lead_again_writes_nothing():
    team = TeamFactory()
    ann = make_agent("ann")
    team_set_lead(team=team, lead=ann, actor="test")
    team_set_lead(team=team, lead=ann, actor="test")
    assert StaffChange.objects.filter(kind="lead_set").count() == 1


def test_stopping_leading_the_last_team_keeps_the_role_and_says_so():
    alpha, beta = TeamFactory(name="Alpha"), TeamFactory(name="Beta")
    ann, bob = make_agent("ann"), make_agent("bob")
    team_set_lead(team=alpha, lead=ann, actor="test")
    team_set_lead(team=beta, lead=ann, actor="test")
    team_set_lead(team=alpha, lead=bob, actor="test")
    change = StaffChange.objects.filter(kind="lead_set", team=alpha).first()
    assert "former_lead_leads_no_team" not in change.after  # ann still leads Beta
    team_set_lead(team=beta, lead=None, actor="test", reason="Beta merged into Alpha")
    change = StaffChange.objects.filter(kind="lead_set", team=beta).first()
    assert change.after == {"lead": None, "former_lead_leads_no_team": True, "former_lead_role": "lead"}
    assert _role(ann) == "lead"  # the admin decides


def test_only_managers_choose_leads_and_only_agents_lead():
    team = TeamFactory()
    lead = make_agent("leo", role="lead", teams=[team])
    ann = make_agent("ann", teams=[team])
    with pytest.raises(PermissionDenied):
        team_set_lead(team=team, lead=ann, actor=lead)
    with pytest.raises(ValidationFailed) as exc:
        team_set_lead(team=team, lead=UserFactory(username="stranger"), actor="test")
    assert exc.value.code == "not_an_agent"
    gone = make_agent("gone")
    gone.is_active = False
    gone.save()
    with pytest.raises(ValidationFailed):
        team_set_lead(team=team, lead=gone, actor="test")
    assert Team.objects.get(pk=team.pk).lead is None and not StaffChange.objects.exists()


def test_a_team_lead_cannot_be_lowered_below_lead():
    team = TeamFactory(name="Alpha")
    ann = make_agent("ann")
    admin = make_agent("ada", role="admin")
    team_set_lead(team=team, lead=ann, actor="test")
    with pytest.raises(Conflict) as exc:
        agent_set_role(profile=ann.agent, role="agent", actor=admin)
    assert exc.value.code == "leads_team" and "Alpha" in exc.value.message
    agent_set_role(profile=ann.agent, role="manager", actor=admin, reason="Promoted")
    assert _role(ann) == "manager"
    with pytest.raises(PermissionDenied):
        agent_set_role(profile=ann.agent, role="admin", actor=make_agent("max", role="manager"))


def test_the_admin_sets_leads_and_roles_through_the_door(client):
    team = TeamFactory(name="Alpha")
    ann = make_agent("ann", teams=[team])
    ada = make_agent("ada", role="admin", staff=True)
    client.force_login(ada)
    response = client.post(
        f"/admin/people/team/{team.pk}/change/",
        {
            "name": "Alpha",
            "description": "",
            "tier_level": "",
            "lead": ann.pk,
            "email": "",
            "assignment_mode": team.assignment_mode,
            "cover_policy": team.cover_policy,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Team.objects.get(pk=team.pk).lead == ann and _role(ann) == "lead"
    assert StaffChange.objects.filter(kind="role_changed", actor=ada).exists()
    # Lowering the lead in the admin is refused with a message, not a server error.
    profile = ann.agent
    form = {
        "user": ann.pk,
        "role": "agent",
        "teams": [team.pk],
        "tier_level": 1,
        "max_open_cases": 20,
        "availability": "active",
        "agentskill_set-TOTAL_FORMS": 0,
        "agentskill_set-INITIAL_FORMS": 0,
    }
    response = client.post(f"/admin/people/agentprofile/{profile.pk}/change/", form)
    assert response.status_code == 200 and "choose another lead" in response.content.decode()
    assert _role(ann) == "lead"
    form["role"] = "manager"
    response = client.post(f"/admin/people/agentprofile/{profile.pk}/change/", form)
    assert response.status_code == 302 and _role(ann) == "manager"
    assert StaffChange.objects.filter(kind="role_changed", after={"role": "manager"}, actor=ada).exists()


def test_the_api_sets_a_lead_through_the_door(client):
    from casework.api.models import ApiToken

    team = TeamFactory(name="Alpha")
    ann = make_agent("ann", teams=[team])
    leo = make_agent("leo", role="lead", teams=[team])
    team_set_lead(team=team, lead=leo, actor="test")
    max_ = make_agent("max", role="manager")

    def patch(user, body):
        raw = ApiToken.issue(user, name="t", scopes=["read", "write", "admin"])[1]
        return client.patch(
            "/api/v1/teams/Alpha", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
        )

    refused = patch(leo, {"lead": "ann"})  # a lead runs the team's routing, but does not appoint leads
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "role_required"
    assert patch(max_, {"lead": "nobody"}).status_code == 404
    done = patch(max_, {"lead": "ann", "reason": "Leo moves to L2", "assignment_mode": "manual"})
    assert done.status_code == 200 and done.json()["lead"] == "ann"
    team.refresh_from_db()
    assert team.assignment_mode == "manual" and _role(ann) == "lead"
    row = StaffChange.objects.filter(kind="lead_set").first()
    assert row.actor == max_ and row.reason == "Leo moves to L2" and row.before == {"lead": "leo"}
    assert patch(max_, {"assignment_mode": "skills_load"}).json()["lead"] == "ann"  # lead untouched
    assert patch(max_, {"lead": None}).json()["lead"] is None


def test_the_data_migration_raises_existing_team_leads():
    migration = importlib.import_module("casework.people.migrations.0008_team_leads_hold_lead_role")
    alpha, beta, gamma = TeamFactory(name="Alpha"), TeamFactory(name="Beta"), TeamFactory(name="Gamma")
    ann, max_ = make_agent("ann"), make_agent("max", role="manager")
    # Written before the door existed: a lead with the agent role.
    Team.objects.filter(pk=alpha.pk).update(lead=ann)
    Team.objects.filter(pk=beta.pk).update(lead=max_)
    Team.objects.filter(pk=gamma.pk).update(lead=UserFactory(username="nobody"))
    migration.raise_team_leads(apps, None)
    assert _role(ann) == "lead" and _role(max_) == "manager"
    change = StaffChange.objects.get()
    assert change.subject == ann and change.before == {"role": "agent"} and change.actor_label == "migration"
    migration.raise_team_leads(apps, None)  # idempotent
    assert StaffChange.objects.count() == 1


def _lead_writes(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and target.attr in ("lead", "lead_id"):
                    found.append(f"{path.name}:{node.lineno} assigns .{target.attr}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            if func.attr in ("update", "create", "update_or_create", "get_or_create") and any(
                kw.arg in ("lead", "lead_id") for kw in node.keywords
            ):
                value = func.value
                while isinstance(value, ast.Call | ast.Attribute):
                    value = value.func if isinstance(value, ast.Call) else value.value
                if isinstance(value, ast.Name) and value.id == "Team":
                    found.append(f"{path.name}:{node.lineno} writes Team.lead")
    return found


def test_only_the_roles_door_writes_team_lead():
    allowed = {ROOT / "people" / "roles.py", ROOT / "people" / "admin.py"}
    offences = []
    for path in ROOT.rglob("*.py"):
        parts = set(path.relative_to(ROOT).parts)
        if path in allowed or {"tests", "migrations", "testing"} & parts:
            continue
        offences += _lead_writes(path)
    assert offences == []


def test_the_lead_checker_catches_an_offence(tmp_path):
    bad = tmp_path / "offender.py"
    bad.write_text("def f(team, u):\n    team.lead = u\n    Team.objects.filter(pk=1).update(lead=u)\n")
    assert len(_lead_writes(bad)) == 2
