"""The sweep: at risk, then breached, each exactly once per clock, with Breach rows, and the rules of
the `sla_at_risk` / `sla_breached` triggers run in the sweep's own write."""

import threading
from datetime import timedelta

import pytest
import time_machine

from casework.cases import services as cases
from casework.cases.models import CaseEvent, EventKind
from casework.cases.services.unit_of_work import unit_of_work
from casework.sla.models import Breach, CaseClock, ClockState
from casework.sla.sweep import _candidates, _claim_ids, breach_claim, sweep
from casework.testing.factories import CustomerFactory
from casework.triage.models import Rule

from .conftest import utc

pytestmark = pytest.mark.django_db
MONDAY_10 = utc(2026, 3, 2, 10)


def sla_events(case, state):
    return list(CaseEvent.objects.filter(case=case, kind=EventKind.SLA, data__state=state).order_by("id"))


def run_sweep(when, capture):
    with time_machine.travel(when, tick=False), capture(execute=True):
        result = sweep().as_dict()
    assert result.pop("backlog") is False  # no budget, a handful of clocks: one pass does it all
    return result


@pytest.fixture
def high_case(at, alice, teams):
    teams[1].lead = alice
    teams[1].save()
    case = at(
        MONDAY_10,
        cases.case_open,
        subject="Reports page is slow",
        description="Takes a minute to load.",
        customer=CustomerFactory(),
        priority="high",
        team=teams[1],
    )
    at(MONDAY_10, cases.case_assign, case=case, assignee=alice, actor=alice)
    return case


def test_at_risk_then_breach_once_each(high_case, django_capture_on_commit_callbacks, alice):
    capture = django_capture_on_commit_callbacks
    for trigger in ("sla_at_risk", "sla_breached"):
        Rule.objects.create(
            name=f"Tag {trigger}", trigger=trigger, actions=[{"type": "add_tag", "value": trigger}]
        )
    # First response: high → 1 h, at risk 15 min before (25 % of 1 h).
    assert run_sweep(utc(2026, 3, 2, 10, 44), capture) == {"breached": 0, "at_risk": 0}
    assert run_sweep(utc(2026, 3, 2, 10, 45), capture) == {"breached": 0, "at_risk": 1}
    # The at-risk rule ran in the sweep's write, not after it.
    assert list(high_case.tags.values_list("name", flat=True)) == ["sla_at_risk"]
    assert run_sweep(utc(2026, 3, 2, 10, 50), capture) == {"breached": 0, "at_risk": 0}
    [risk] = sla_events(high_case, "at_risk")
    assert risk.reason.startswith("First response at risk: due 11:00, 15 min left — notified alice")
    assert risk.data["metric"] == "first_response" and risk.data["policy"] == "Standard"
    assert risk.data["due_at"] == "2026-03-02T11:00:00+00:00" and risk.data["notified"] == ["alice"]
    assert run_sweep(utc(2026, 3, 2, 11), capture) == {"breached": 0, "at_risk": 0}  # due, not past
    assert run_sweep(utc(2026, 3, 2, 11, 0, 30), capture) == {"breached": 1, "at_risk": 0}
    assert run_sweep(utc(2026, 3, 2, 11, 1), capture) == {"breached": 0, "at_risk": 0}
    fr = CaseClock.objects.get(case=high_case, metric="first_response")
    assert fr.state == ClockState.BREACHED and fr.breached_at == utc(2026, 3, 2, 11)
    assert [e.kind for e in fr.ledger.order_by("id")] == ["start", "at_risk", "breached"]
    [breach] = Breach.objects.filter(case=high_case)
    assert (breach.metric, breach.policy_name, breach.target, breach.duration) == (
        "first_response",
        "Standard",
        timedelta(hours=1),
        None,
    )
    [event] = sla_events(high_case, "breached")
    assert "First response breached: was due 11:00 (policy 'Standard', high: 1 h)" in event.reason
    assert event.data["notified"] == ["alice"]
    applied = CaseEvent.objects.filter(
        case=high_case, kind=EventKind.RULE_APPLIED, new__trigger="sla_breached"
    )
    assert applied.count() == 1 and applied.get().id > event.id
    assert sorted(high_case.tags.values_list("name", flat=True)) == ["sla_at_risk", "sla_breached"]
    # The reply finally comes: the breach gets its duration in business time.
    with time_machine.travel(utc(2026, 3, 2, 11, 40), tick=False), capture(execute=True):
        cases.case_add_message(case=high_case, kind="reply", body="Sorry for the wait", actor=alice)
    breach.refresh_from_db()
    assert breach.duration == timedelta(minutes=40) and breach.stopped_at == utc(2026, 3, 2, 11, 40)


def test_paused_clock_never_fires(high_case, at, alice, django_capture_on_commit_callbacks):
    at(utc(2026, 3, 2, 10, 5), cases.case_add_message, case=high_case, kind="reply", body="Hi", actor=alice)
    at(utc(2026, 3, 2, 10, 6), cases.case_transition, case=high_case, to="in_progress", actor=alice)
    at(utc(2026, 3, 2, 10, 10), cases.case_transition, case=high_case, to="awaiting_client", actor=alice)
    assert run_sweep(utc(2026, 3, 9, 10), django_capture_on_commit_callbacks) == {"breached": 0, "at_risk": 0}
    assert CaseClock.objects.get(case=high_case, metric="resolution").state == ClockState.PAUSED


def test_breach_of_an_overdue_clock_skips_the_at_risk_alert(high_case, django_capture_on_commit_callbacks):
    # Nobody swept for hours (worker down): each clock is reported once, as breached.
    result = run_sweep(utc(2026, 3, 3, 12), django_capture_on_commit_callbacks)
    assert result == {"breached": 2, "at_risk": 0}
    assert not sla_events(high_case, "at_risk")
    assert Breach.objects.filter(case=high_case).count() == 2


def test_a_catch_up_after_downtime_is_many_short_runs_each_clock_once(at, alice, teams, settings):
    """The job's pass stops starting batches when its budget is spent and says `backlog` (the scheduler
    runs it again 5 s later): hundreds of breaches after a night without a worker are short runs."""
    from casework.core.scheduler import left_backlog
    from casework.sla.sweep import sweep_job

    for i in range(3):
        at(MONDAY_10, cases.case_open, subject=f"Slow {i}", description="Slow.", customer=CustomerFactory(),
           priority="high", team=teams[1])  # fmt: skip
    # Budget 0: one batch with work per run (a run always makes progress), batches of 4 clocks.
    settings.CASEWORK = {**settings.CASEWORK, "SLA_SWEEP_BATCH": 4, "SLA_SWEEP_BUDGET_SECONDS": 0.0}
    runs = []
    with time_machine.travel(utc(2026, 3, 4, 12), tick=False):
        while not runs or left_backlog(runs[-1]):
            runs.append(sweep_job())
            assert len(runs) < 10
    assert runs == [
        {"breached": 4, "at_risk": 0, "backlog": True},
        {"breached": 2, "at_risk": 0, "backlog": True},  # at-risk alerts wait for the next run
        {"breached": 0, "at_risk": 0, "backlog": False},
    ]
    assert Breach.objects.count() == 6 == CaseClock.objects.filter(state=ClockState.BREACHED).count()


def test_concurrent_sweeps_fire_once(high_case, transactional_db):
    """Two sweeps racing (separate threads and connections) never double-fire a clock."""
    from django.db import connection

    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith("file:memorydb"):
        pytest.skip("in-memory SQLite test DB is per-connection")  # pragma: no cover
    results = []

    def worker():
        from django.db import connections

        try:
            results.append(sweep(now=utc(2026, 3, 3, 12)).as_dict())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["breached"] for r in results) == 2
    assert Breach.objects.filter(case=high_case).count() == 2
    assert len(sla_events(high_case, "breached")) == 2


def test_a_stale_candidate_list_cannot_claim_twice(high_case):
    """The race without threads: two workers selected the same candidates before either updated."""
    now = utc(2026, 3, 3, 12)
    filters, updates = breach_claim(now)
    with unit_of_work("test"):
        seen_by_a = _candidates(filters, 100, "due_at")
        seen_by_b = _candidates(filters, 100, "due_at")
        assert len(seen_by_a) == 2 and seen_by_a == seen_by_b
        assert len(_claim_ids(seen_by_a, filters, updates, "due_at")) == 2
        assert _claim_ids(seen_by_b, filters, updates, "due_at") == []
    assert Breach.objects.count() == 0  # the Breach rows are the caller's, written only for won rows
    assert set(CaseClock.objects.values_list("state", flat=True)) == {ClockState.BREACHED}
