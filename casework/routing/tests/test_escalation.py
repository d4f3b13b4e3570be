"""Tiered escalation through cases.services.case_escalate: auto-assignment in the new tier, the previous
owner as a watcher, and the tier history (who held it, how long, why it moved)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from casework.cases import services as case_services
from casework.routing import selectors
from casework.routing.models import CaseWatcher, TierHistory

from .helpers import agent_with

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def test_escalation_moves_ownership_keeps_watcher_and_history(
    teams, new_case, django_capture_on_commit_callbacks
):
    ana = agent_with("ana", team=teams[1])
    ben = agent_with("ben", team=teams[2], tier=2)
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        case = new_case()
    with (
        time_machine.travel(T0 + timedelta(minutes=10), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        case_services.case_transition(case=case, to="triaged", actor="test")
    case.refresh_from_db()
    assert case.assignee == ana
    with (
        time_machine.travel(T0 + timedelta(hours=2), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        case_services.case_escalate(
            case=case,
            to_tier=2,
            actor=ana,
            reason="Needs log access",
            handoff_note="Tried a re-sync; no luck.",
        )
    case.refresh_from_db()
    assert (case.tier, case.team, case.assignee) == (2, teams[2], ben)
    watcher = CaseWatcher.objects.get(case=case)
    assert watcher.user == ana and watcher.reason == "Owned it before it was escalated to L2"

    rows = list(selectors.tier_history(case))
    assert [(r.tier, r.owner and r.owner.username, r.entered_by, r.left_by) for r in rows] == [
        (1, None, "opened", "assigned"),
        (1, "ana", "assigned", "escalated"),
        (2, None, "escalated", "assigned"),
        (2, "ben", "assigned", ""),
    ]
    assert rows[0].duration_seconds() == 600
    assert rows[1].duration_seconds() == 110 * 60
    assert rows[2].reason == "Needs log access"
    assert rows[2].handoff_note == "Tried a re-sync; no luck."
    assert rows[3].reason == "Escalated to L2"

    now = T0 + timedelta(hours=3)
    assert selectors.time_in_tiers(case, now=now) == {1: 7200.0, 2: 3600.0}


def test_de_escalation_goes_back_and_auto_assigns(teams, new_case, django_capture_on_commit_callbacks):
    ana = agent_with("ana", team=teams[1])
    ben = agent_with("ben", team=teams[2], tier=2)
    with django_capture_on_commit_callbacks(execute=True):
        case = new_case()
        case_services.case_escalate(case=case, to_tier=2, actor="rule:Data loss", reason="data loss")
    case.refresh_from_db()
    assert case.assignee == ben
    with django_capture_on_commit_callbacks(execute=True):
        case_services.case_escalate(
            case=case, to_tier=1, actor=ben, reason="Fixed the import", handoff_note="Confirm with customer"
        )
    case.refresh_from_db()
    assert (case.tier, case.assignee) == (1, ana)
    assert CaseWatcher.objects.filter(case=case, user=ben).exists()
    assert list(TierHistory.objects.filter(case=case).values_list("tier", flat=True)) == [1, 2, 2, 1, 1]


def test_history_closes_on_resolution_and_reopens(teams, new_case, django_capture_on_commit_callbacks):
    ana = agent_with("ana", team=teams[1])
    with django_capture_on_commit_callbacks(execute=True):
        case = new_case()
        case_services.case_assign(case=case, assignee=ana, actor="test")
        case_services.case_transition(case=case, to="in_progress", actor=ana)
        case_services.case_transition(case=case, to="resolved", actor=ana)
    assert not TierHistory.objects.filter(case=case, left_at__isnull=True).exists()
    assert TierHistory.objects.filter(case=case).latest("id").left_by == "resolved"
    with django_capture_on_commit_callbacks(execute=True):
        case_services.case_reopen(case=case, actor="test", reason="Still broken")
    current = TierHistory.objects.get(case=case, left_at__isnull=True)
    assert (current.owner, current.reason) == (ana, "Reopened")


def test_case_page_shows_tier_history_panel(client, teams, new_case, django_capture_on_commit_callbacks):
    ana = agent_with("ana", team=teams[1])
    agent_with("ben", team=teams[2], tier=2)
    with django_capture_on_commit_callbacks(execute=True):
        case = new_case()
        case_services.case_escalate(
            case=case, to_tier=2, actor=ana, reason="Beyond L1", handoff_note="Customer waits since Monday"
        )
    client.force_login(ana)
    html = client.get(f"/cases/{case.reference}/").content.decode()
    assert "Tier history" in html
    assert "Handoff: Customer waits since Monday" in html
    assert "Auto-assign" in html


def test_auto_assign_button(client, teams, new_case):
    ana = agent_with("ana", team=teams[1])
    case = new_case()
    client.force_login(ana)
    response = client.post(f"/cases/{case.reference}/auto-assign", follow=True)
    assert f"{case.reference} assigned to Ana." in response.content.decode()
    case.refresh_from_db()
    assert case.assignee == ana


def test_de_escalation_returns_the_case_to_its_previous_owner_when_available(
    teams, new_case, django_capture_on_commit_callbacks
):
    ana = agent_with("ana", team=teams[1])
    agent_with("cleo", team=teams[1])  # free too: the previous owner wins over a score
    ben = agent_with("ben", team=teams[2], tier=2)
    with django_capture_on_commit_callbacks(execute=True):
        case = new_case()
        case_services.case_assign(case=case, assignee=ana, actor="test")
        case_services.case_escalate(case=case, to_tier=2, actor=ana, handoff_note="Needs L2")
    case.refresh_from_db()
    assert case.assignee == ben
    with django_capture_on_commit_callbacks(execute=True):
        case_services.case_escalate(case=case, to_tier=1, actor=ben, handoff_note="Fixed; confirm")
    case.refresh_from_db()
    assert (case.tier, case.assignee) == (1, ana)
    event = case.events.filter(kind="assigned").latest("id")
    assert event.data["routing"] == "previous_owner"
    assert "back to Ana" in event.reason


def test_de_escalation_skips_an_away_previous_owner_and_says_why(
    teams, new_case, django_capture_on_commit_callbacks
):
    ana = agent_with("ana", team=teams[1])
    cleo = agent_with("cleo", team=teams[1])
    ben = agent_with("ben", team=teams[2], tier=2)
    with django_capture_on_commit_callbacks(execute=True):
        case = new_case()
        case_services.case_assign(case=case, assignee=ana, actor="test")
        case_services.case_escalate(case=case, to_tier=2, actor=ana, handoff_note="Needs L2")
    ana.agent.availability = "away"
    ana.agent.save()
    with django_capture_on_commit_callbacks(execute=True):
        case_services.case_escalate(case=case, to_tier=1, actor=ben, handoff_note="Fixed; confirm")
    case.refresh_from_db()
    assert case.assignee == cleo
    assert "the previous owner, is away" in case.events.filter(kind="assigned").latest("id").reason
