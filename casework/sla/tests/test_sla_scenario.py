"""The issue's scenario: new → in_progress → awaiting_client over a weekend → customer reply → resolved,
on the seeded Standard policy (medium: 4 h first response, 24 h resolution, Mon–Fri 09:00–17:30 UTC)."""

from datetime import timedelta

import pytest

from casework.cases import services as cases
from casework.cases.models import CaseEvent, EventKind
from casework.sla.models import Breach, CaseClock, ClockState
from casework.testing.factories import CustomerFactory

from .conftest import utc

pytestmark = pytest.mark.django_db
H = timedelta(hours=1)


def ledger(case, metric):
    clock = CaseClock.objects.get(case=case, metric=metric)
    return clock, list(clock.ledger.order_by("at", "id"))


def test_case_walk_through_with_weekend_pause(at, alice):
    customer = CustomerFactory(name="Sam Standard", email="sam@example.test")
    # Thursday 5 March 2026, 10:00 UTC.
    case = at(
        utc(2026, 3, 5, 10),
        cases.case_open,
        subject="Cannot change invoice address",
        description="The invoice address form does not save.",
        customer=customer,
        priority="medium",
    )
    fr, fr_ledger = ledger(case, "first_response")
    res, res_ledger = ledger(case, "resolution")
    assert (fr.policy_name, fr.target, fr.state) == ("Standard", 4 * H, ClockState.RUNNING)
    assert fr.due_at == utc(2026, 3, 5, 14)
    assert fr.at_risk_at == utc(2026, 3, 5, 13, 30)  # min(30 min, 25 % of 4 h)
    # 24 business hours: Thu 7.5 h + Fri 8.5 h + Mon 8 h → Monday 17:00.
    assert res.due_at == utc(2026, 3, 9, 17)
    assert res.at_risk_at == utc(2026, 3, 9, 16, 30)
    assert [e.kind for e in res_ledger] == ["start"]
    assert "policy 'Standard' (default policy), medium: 24 h" in res_ledger[0].reason
    assert "due Mon 09 Mar 17:00" in res_ledger[0].reason

    at(utc(2026, 3, 5, 10, 45), cases.case_transition, case=case, to="in_progress", actor=alice)
    at(
        utc(2026, 3, 5, 11),
        cases.case_add_message,
        case=case,
        kind="reply",
        body="Looking at it.",
        actor=alice,
    )
    fr, fr_ledger = ledger(case, "first_response")
    assert fr.state == ClockState.MET
    assert fr.consumed == H and fr.stopped_at == utc(2026, 3, 5, 11)
    assert [(e.kind, e.due_before, e.due_after) for e in fr_ledger] == [
        ("start", None, utc(2026, 3, 5, 14)),
        ("met", utc(2026, 3, 5, 14), utc(2026, 3, 5, 14)),
    ]
    assert "public reply by Alice" in fr_ledger[1].reason and "1 h of 4 h used" in fr_ledger[1].reason

    # Friday 16:00: reply and wait for the client over the weekend.
    at(
        utc(2026, 3, 6, 16),
        cases.case_add_message,
        case=case,
        kind="reply",
        body="Could you send a screenshot?",
        actor=alice,
        set_status="awaiting_client",
    )
    res, res_ledger = ledger(case, "resolution")
    assert res.state == ClockState.PAUSED and res.due_at is None and res.at_risk_at is None
    assert res.consumed == 14.5 * H  # Thu 10:00–17:30 + Fri 09:00–16:00
    pause = res_ledger[-1]
    assert (pause.kind, pause.due_before, pause.due_after, pause.consumed) == (
        "pause",
        utc(2026, 3, 9, 17),
        None,
        14.5 * H,
    )
    assert "9 h 30 min of 24 h left" in pause.reason

    # Monday 10:00 the customer answers: the clock resumes with the time already spent.
    at(utc(2026, 3, 9, 10), cases.case_add_message, case=case, kind="customer", body="Screenshot attached.")
    case.refresh_from_db()
    assert case.status == "in_progress"
    res, res_ledger = ledger(case, "resolution")
    assert res.state == ClockState.RUNNING
    # 9.5 h left from Monday 10:00: Mon 7.5 h + Tue 2 h → Tuesday 11:00.
    assert res.due_at == utc(2026, 3, 10, 11)
    assert res.at_risk_at == utc(2026, 3, 10, 10, 30)
    resume = res_ledger[-1]
    assert (resume.kind, resume.due_before, resume.due_after) == ("resume", None, utc(2026, 3, 10, 11))
    assert "Customer replied" in resume.reason and "9 h 30 min left" in resume.reason

    at(utc(2026, 3, 10, 10), cases.case_transition, case=case, to="resolved", actor=alice)
    res, res_ledger = ledger(case, "resolution")
    assert res.state == ClockState.MET and res.consumed == 23 * H
    assert [e.kind for e in res_ledger] == ["start", "pause", "resume", "met"]
    assert [e.consumed for e in res_ledger] == [timedelta(0), 14.5 * H, 14.5 * H, 23 * H]
    assert not Breach.objects.filter(clock=res).exists()

    # Every clock change is explained on the case timeline.
    sla_events = list(CaseEvent.objects.filter(case=case, kind=EventKind.SLA).order_by("id"))
    assert [e.data["change"] for e in sla_events] == ["start", "stop", "pause", "resume", "stop"]
    assert sla_events[-1].data["clocks"] == [
        {"metric": "resolution", "state": "met", "due_at": "2026-03-10T11:00:00+00:00", "policy": "Standard"}
    ]
