"""Availability and holiday cover: both team policies, planned ranges, new cases skipping away agents."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from casework.cases.models import CaseEvent, EventKind
from casework.core.errors import ValidationFailed
from casework.people.models import AgentProfile, Availability
from casework.routing import availability, services
from casework.routing.models import CaseWatcher

from .helpers import agent_with

pytestmark = pytest.mark.django_db


def _owned(user, new_case, n=2):
    cases = [new_case() for _ in range(n)]
    for case in cases:
        services.assign_to(case=case, user=user, actor="test")
    return cases


def test_offer_policy_leaves_owner_and_names_the_cover(teams, new_case):
    ana = agent_with("ana", team=teams[1])
    ben = agent_with("ben", team=teams[1])
    cases = _owned(ana, new_case)
    until = timezone.now() + timedelta(days=7)

    report = availability.set_availability(
        agent=ana.agent, availability=Availability.OUT_OF_OFFICE, away_until=until, cover=ben.agent, actor=ana
    )

    assert sorted(report.offered) == sorted(c.reference for c in cases)
    for case in cases:
        case.refresh_from_db()
        assert case.assignee == ana
        note = CaseEvent.objects.filter(case=case, kind=EventKind.NOTE).latest("id")
        assert note.data["routing"] == "cover_offer" and note.data["cover"] == "ben"
        assert "Ben covers" in note.reason
        assert CaseWatcher.objects.filter(case=case, user=ben, reason="Covering for Ana").exists()
    # New cases skip her.
    assert services.auto_assign(case=new_case()).assignee == ben


def test_reassign_policy_moves_cases_to_the_cover_with_events(teams, new_case):
    teams[1].cover_policy = "reassign"
    teams[1].save()
    ana = agent_with("ana", team=teams[1])
    ben = agent_with("ben", team=teams[1], max_open_cases=1)
    cy = agent_with("cy", team=teams[1])
    first, second = _owned(ana, new_case)

    report = availability.set_availability(
        agent=ana.agent, availability=Availability.OUT_OF_OFFICE, cover=ben.agent, actor=ana
    )

    first.refresh_from_db()
    second.refresh_from_db()
    # Ben has room for one; the other goes to the best colleague instead of piling on him.
    assert (first.assignee, second.assignee) == (ben, cy)
    assert report.reassigned == [first.reference] and report.rerouted == [second.reference]
    event = CaseEvent.objects.filter(case=first, kind=EventKind.ASSIGNED).latest("id")
    assert event.reason == "Ana is out of office; cover Ben takes over"
    assert event.data["routing"] == "cover_reassign"
    assert CaseWatcher.objects.filter(case=first, user=ana).exists()


def test_offer_without_cover_says_so(teams, new_case):
    ana = agent_with("ana", team=teams[1])
    (case,) = _owned(ana, new_case, 1)
    report = availability.set_availability(agent=ana.agent, availability=Availability.AWAY)
    assert report.left == [case.reference]
    note = CaseEvent.objects.filter(case=case, kind=EventKind.NOTE).latest("id")
    assert "named no cover" in note.reason


def test_planned_range_starts_and_ends_with_the_job(teams, new_case):
    ana = agent_with("ana", team=teams[1])
    ben = agent_with("ben", team=teams[1])
    (case,) = _owned(ana, new_case, 1)
    start = timezone.now() + timedelta(days=1)
    absence = availability.schedule_out_of_office(
        agent=ana.agent, starts_at=start, ends_at=start + timedelta(days=5), cover=ben.agent, actor=ana
    )
    assert absence.started_at is None
    assert availability.apply_due_absences() == {"started": 0, "ended": 0}

    with time_machine.travel(start + timedelta(minutes=1), tick=False):
        assert availability.apply_due_absences() == {"started": 1, "ended": 0}
        profile = AgentProfile.objects.get(user=ana)
        assert profile.availability == Availability.OUT_OF_OFFICE
        assert profile.cover.user == ben
        assert CaseEvent.objects.filter(case=case, kind=EventKind.NOTE, data__routing="cover_offer").exists()
        assert services.auto_assign(case=new_case()).assignee == ben

    with time_machine.travel(start + timedelta(days=5, minutes=1), tick=False):
        assert availability.apply_due_absences() == {"started": 0, "ended": 1}
        assert AgentProfile.objects.get(user=ana).is_available()


def test_a_range_in_force_blocks_assignment_before_the_job_runs(teams, new_case):
    ana = agent_with("ana", team=teams[1])
    ben = agent_with("ben", team=teams[1])
    start = timezone.now() + timedelta(hours=1)
    availability.schedule_out_of_office(agent=ana.agent, starts_at=start, ends_at=start + timedelta(days=1))
    with time_machine.travel(start + timedelta(seconds=5), tick=False):
        assert services.auto_assign(case=new_case()).assignee == ben


def test_validation(teams):
    ana = agent_with("ana", team=teams[1])
    now = timezone.now()
    with pytest.raises(ValidationFailed):
        availability.set_availability(agent=ana.agent, availability="asleep")
    with pytest.raises(ValidationFailed):
        availability.set_availability(agent=ana.agent, availability=Availability.AWAY, cover=ana.agent)
    with pytest.raises(ValidationFailed):
        availability.schedule_out_of_office(agent=ana.agent, starts_at=now, ends_at=now - timedelta(hours=1))


def test_coming_back_early_ends_the_range(teams):
    ana = agent_with("ana", team=teams[1])
    now = timezone.now()
    absence = availability.schedule_out_of_office(
        agent=ana.agent, starts_at=now, ends_at=now + timedelta(days=2)
    )
    assert AgentProfile.objects.get(user=ana).availability == Availability.OUT_OF_OFFICE
    availability.set_availability(agent=ana.agent, availability=Availability.ACTIVE)
    absence.refresh_from_db()
    assert absence.ended_at is not None
    assert availability.apply_due_absences()["started"] == 0


def test_my_availability_page(client, teams, new_case):
    ana = agent_with("ana", team=teams[1])
    ben = agent_with("ben", team=teams[1])
    _owned(ana, new_case, 1)
    client.force_login(ana)
    assert "You are <strong>available" in client.get("/me/availability/").content.decode()
    response = client.post(
        "/me/availability/", {"availability": "out_of_office", "cover": ben.agent.pk}, follow=True
    )
    html = response.content.decode()
    assert "You are now out of office. 1 open case(s) handed to your cover." in html
    assert AgentProfile.objects.get(user=ana).cover == ben.agent
