"""auto_assign on the database: who is chosen, who never is, what the timeline says, query counts."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from casework.cases import services as case_services
from casework.cases.models import CaseEvent, EventKind
from casework.core.errors import InvalidTransition
from casework.people.models import AgentProfile, Availability
from casework.routing import services
from casework.routing.models import OutOfOffice
from casework.testing.factories import UserFactory, open_case

from .helpers import agent_with, give_load

pytestmark = pytest.mark.django_db


def _assigned_event(case):
    return CaseEvent.objects.filter(case=case, kind=EventKind.ASSIGNED).latest("id")


def test_assigns_the_skilled_agent_and_explains_with_runners_up(teams, new_case):
    ana = agent_with("ana", team=teams[1], skills={"billing": 1.0}, max_open_cases=10)
    ben = agent_with("ben", team=teams[1], skills={"billing": 0.4}, max_open_cases=10)
    cy = agent_with("cy", team=teams[1], max_open_cases=10)
    give_load(ana, 3)
    case = new_case(category="billing")

    outcome = services.auto_assign(case=case)

    assert outcome.assignee == ana
    case.refresh_from_db()
    assert case.assignee == ana
    event = _assigned_event(case)
    assert event.actor_label == "routing"
    assert event.data["explanation"].startswith(
        "assigned to Ana: skills billing 1.0, load 3/10, last assigned never; runners-up Ben"
    )
    assert [c["agent"] for c in event.data["candidates"]] == ["Ana", "Ben", "Cy"]
    assert event.data["candidates"][0]["open_cases"] == 3
    assert event.data["mode"] == "skills_load"
    ana.agent.refresh_from_db()
    assert ana.agent.last_assigned_at is not None
    assert ben.agent.last_assigned_at is None and cy


def test_unavailable_agents_are_never_chosen(teams, new_case):
    now = timezone.now()
    agent_with("away", team=teams[1], skills={"billing": 1.0}, availability=Availability.AWAY)
    agent_with(
        "ooo",
        team=teams[1],
        skills={"billing": 1.0},
        availability=Availability.OUT_OF_OFFICE,
        away_until=now + timedelta(days=3),
    )
    planned = agent_with("planned", team=teams[1], skills={"billing": 1.0})
    OutOfOffice.objects.create(
        agent=planned.agent,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=1),
        created_at=now,
    )
    gone = agent_with("gone", team=teams[1], skills={"billing": 1.0})
    gone.is_active = False
    gone.save()
    back = agent_with(
        "back",
        team=teams[1],
        skills={"billing": 0.2},
        availability=Availability.AWAY,
        away_until=now - timedelta(minutes=1),
    )

    outcome = services.auto_assign(case=new_case(category="billing"))

    assert outcome.assignee == back
    reasons = {e.candidate.name: e.reason for e in outcome.ranking.excluded}
    assert reasons["Away"] == "is away"
    assert reasons["Ooo"].startswith("is out of office until")
    assert reasons["Planned"].startswith("is out of office until")
    assert reasons["Gone"] == "is deactivated"


def test_at_capacity_agents_are_never_chosen_and_the_lead_is_told(teams, new_case, caplog):
    lead = UserFactory(username="lena", first_name="Lena")
    teams[1].lead = lead
    teams[1].save()
    full = agent_with("full", team=teams[1], skills={"billing": 1.0}, max_open_cases=2)
    give_load(full, 2, priority="low")
    case = new_case(category="billing")

    with caplog.at_level(logging.WARNING, logger="casework.routing.services"):
        outcome = services.auto_assign(case=case)

    assert not outcome.assigned
    case.refresh_from_db()
    assert case.assignee is None and case.team == teams[1]
    note = CaseEvent.objects.filter(case=case, kind=EventKind.NOTE).latest("id")
    assert note.data["routing"] == "no_candidate"
    assert note.data["notified"] == "Lena"
    assert note.reason == (
        "Left in the L1 Support queue: no agent available (Full is at capacity (2/2)); Lena notified"
    )
    assert "waits in L1 Support with nobody available" in caplog.text


def test_agent_below_the_case_tier_is_not_chosen(teams, new_case):
    agent_with("junior", team=teams[2], tier=1)
    senior = agent_with("senior", team=teams[2], tier=2)
    case = new_case(team=teams[2])
    case_services.case_escalate(case=case, to_tier=2, actor="test", team=teams[2])
    assert services.auto_assign(case=case).assignee == senior


def test_big_load_gap_beats_small_skill_gap_on_the_database(teams, new_case):
    expert = agent_with("expert", team=teams[1], skills={"billing": 1.0}, max_open_cases=10)
    good = agent_with("good", team=teams[1], skills={"billing": 0.8}, max_open_cases=10)
    give_load(expert, 2, priority="critical")  # weighted 8 of 10
    give_load(good, 1)
    assert services.auto_assign(case=new_case(category="billing")).assignee == good


def test_tags_and_product_ask_for_skills(teams, new_case):
    agent_with("generalist", team=teams[1])
    sso = agent_with("sso", team=teams[1], skills={"SSO": 0.9})
    case = new_case(tags=["sso"], custom_fields={"product": "Portal"})
    assert services.case_needs(case).skills == {"sso": 0.5, "portal": 0.5}
    assert services.auto_assign(case=case).assignee == sso


def test_vip_enterprise_case_prefers_the_senior_agent(teams, customer):
    junior = agent_with("junior", team=teams[1], tier=1)
    senior = agent_with("senior", team=teams[1], tier=3)
    give_load(senior, 1)
    plain = open_case(subject="Plain", team=teams[1])
    assert services.auto_assign(case=plain).assignee == junior
    vip = open_case(subject="VIP", customer=customer, team=teams[1])  # Northwind: enterprise + VIP
    outcome = services.auto_assign(case=vip)
    assert outcome.assignee == senior
    assert "seniority" in outcome.explanation


def test_round_robin_mode_rotates_by_last_assignment(teams, new_case):
    teams[1].assignment_mode = "round_robin"
    teams[1].save()
    ana = agent_with("ana", team=teams[1], skills={"billing": 1.0})
    ben = agent_with("ben", team=teams[1])
    picks = []
    start = timezone.now()
    for minute in range(4):
        with time_machine.travel(start + timedelta(minutes=minute), tick=False):
            picks.append(services.auto_assign(case=new_case(category="billing")).assignee)
    assert picks == [ana, ben, ana, ben]


def test_skills_load_mode_rotates_equal_candidates(teams, new_case):
    users = [agent_with(n, team=teams[1]) for n in ("ana", "ben", "cy")]
    start = timezone.now()
    picks = []
    for minute in range(3):
        with time_machine.travel(start + timedelta(minutes=minute), tick=False):
            case = new_case()
            picks.append(services.auto_assign(case=case).assignee)
            case_services.case_transition(case=case, to="in_progress", actor="test")
            case_services.case_transition(case=case, to="resolved", actor="test")
    assert picks == users


def test_manual_team_leaves_the_case_in_the_queue_with_a_note(teams, new_case):
    teams[1].assignment_mode = "manual"
    teams[1].save()
    agent_with("ana", team=teams[1])
    case = new_case()
    outcome = services.auto_assign(case=case)
    assert not outcome.assigned
    note = CaseEvent.objects.filter(case=case, kind=EventKind.NOTE).latest("id")
    assert note.reason == "Left in the L1 Support queue: L1 Support assigns cases by hand"
    assert note.data["routing"] == "manual_team"


def test_case_without_team_goes_to_the_tier_team(teams, plain_customer):
    ana = agent_with("ana", team=teams[1])
    case = open_case(subject="No team yet", customer=plain_customer)
    outcome = services.auto_assign(case=case)
    case.refresh_from_db()
    assert case.team == teams[1] and outcome.assignee == ana
    team_event = CaseEvent.objects.get(case=case, kind=EventKind.TEAM_CHANGED)
    assert team_event.reason == "L1 cases go to L1 Support"


def test_existing_owner_is_kept_unless_replacing(teams, new_case):
    ana = agent_with("ana", team=teams[1])
    ben = agent_with("ben", team=teams[1])
    case = new_case()
    case_services.case_assign(case=case, assignee=ana, actor="test")
    assert services.auto_assign(case=case).assignee == ana
    assert services.auto_assign(case=case, replace_assignee=True).assignee == ben


def test_closed_cases_are_not_assigned(teams, new_case):
    case = new_case()
    case_services.case_transition(case=case, to="closed", actor="test", reason="spam")
    with pytest.raises(InvalidTransition):
        services.auto_assign(case=case)


def test_candidate_gathering_runs_a_constant_number_of_queries(teams, django_assert_num_queries):
    for i in range(3):
        give_load(agent_with(f"a{i}", team=teams[1], skills={"billing": 0.5}), 2)
    # profiles, open-case load; skills and absences are configuration, read again (with the version, once
    # each outside a write) because agents' skills were just added
    with django_assert_num_queries(6):
        small = services.gather_candidates(team=teams[1])
    for i in range(3, 12):
        give_load(agent_with(f"a{i}", team=teams[1], skills={"billing": 0.5, "sso": 0.3}), 1, priority="high")
    with django_assert_num_queries(6):
        big = services.gather_candidates(team=teams[1])
    with django_assert_num_queries(4):  # the configuration cached: two version checks, profiles, load
        services.gather_candidates(team=teams[1])
    assert len(small) == 3 and len(big) == 12
    heavy = next(c for c in big if c.name == "A5")
    assert (heavy.open_cases, heavy.load) == (1, 2.0)


def test_manual_assignment_counts_for_fairness_and_notes_overcapacity(teams, new_case):
    ana = agent_with("ana", team=teams[1], max_open_cases=1)
    give_load(ana, 1)
    case = new_case()
    services.assign_to(case=case, user=ana, actor="test", reason="She knows the customer")
    event = _assigned_event(case)
    assert event.data["explanation"] == "over capacity by choice: 1/1 open"
    assert AgentProfile.objects.get(user=ana).last_assigned_at is not None


def test_triaged_case_without_owner_is_auto_assigned(teams, new_case, django_capture_on_commit_callbacks):
    ana = agent_with("ana", team=teams[1])
    case = new_case()
    with django_capture_on_commit_callbacks(execute=True):
        case_services.case_transition(case=case, to="triaged", actor="test")
    case.refresh_from_db()
    assert case.assignee == ana
    assert _assigned_event(case).reason == "Case triaged"


def test_triaged_case_with_owner_is_left_alone(teams, new_case, django_capture_on_commit_callbacks):
    agent_with("ana", team=teams[1])
    bob = agent_with("bobby", team=teams[1])
    case = new_case()
    case_services.case_assign(case=case, assignee=bob, actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        case_services.case_transition(case=case, to="triaged", actor="test")
    case.refresh_from_db()
    assert case.assignee == bob
    assert CaseEvent.objects.filter(case=case, kind=EventKind.ASSIGNED).count() == 1
