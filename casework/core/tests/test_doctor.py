"""`casework doctor`: cases left without what their writes should have decided (as the after-commit
design left them when a process died, or a failed reaction step) are found, repaired once, and counted."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from casework.cases import pipeline, services
from casework.cases.models import CaseEvent
from casework.core import doctor
from casework.notify.models import Outbox
from casework.sla.models import CaseClock
from casework.testing.factories import CustomerFactory, open_case

pytestmark = pytest.mark.django_db


def _lost(**kwargs):
    """A case whose reactions never ran (a process killed after the commit, before this design)."""
    with pipeline.only():
        return open_case(customer=CustomerFactory(), **kwargs)


def _by_check(outcomes):
    return {o.check: o for o in outcomes}


def test_a_case_triage_left_for_a_person_is_not_untriaged():
    waiting = _lost(subject="Something odd", description="Not sure what this is.")
    later = timezone.now() + timedelta(minutes=5)
    assert _by_check(doctor.examine(repair=False, now=later))["untriaged"].found == 1
    # What triage writes when it keeps a case New for the triager (triage/verdicts.py).
    services.case_record_system_event(
        case=waiting, kind="note", actor="triage", reason="Needs human triage: unsure",
        data={"triage": "needs_human", "fields": ["category"], "guesses": {}},
    )  # fmt: skip
    assert _by_check(doctor.examine(repair=False, now=later))["untriaged"].found == 0


def test_the_doctor_repairs_untriaged_cases_and_missing_clocks_and_says_so(alice):
    login = _lost(subject="Can't log in", description="The password reset link fails.")
    hello = _lost(subject="Hello", description="Just saying hi.")
    later = timezone.now() + timedelta(minutes=5)

    dry = _by_check(doctor.examine(repair=False, now=later))
    assert (dry["untriaged"].found, dry["sla-missing-clocks"].found) == (2, 2)
    assert dry["untriaged"].repaired == 0 and dry["untriaged"].examples == [login.reference, hello.reference]
    assert not CaseClock.objects.exists()  # a dry run changes nothing

    with time_machine.travel(later, tick=False):
        found = _by_check(doctor.examine(now=later))
    assert (found["untriaged"].repaired, found["sla-missing-clocks"].repaired) == (2, 2)
    login.refresh_from_db()
    # Triage ran (and what it implies: routing), the clocks were replayed from the case's own opening.
    assert (login.status, login.category.slug, login.assignee) == ("triaged", "authentication", alice)
    clock = CaseClock.objects.get(case=login, metric="first_response")
    assert clock.started_at == login.created_at
    notes = CaseEvent.objects.filter(case=login, kind="note", actor_label="casework doctor")
    assert {n.data["doctor"]["check"] for n in notes} == {"untriaged", "sla-missing-clocks"}
    assert hello.events.filter(kind="note", data__triage="no_rule_matched").exists()

    again = _by_check(doctor.examine(now=later))
    assert again["untriaged"].found == again["sla-missing-clocks"].found == 0  # repaired once


def test_recent_replies_without_mail_are_queued_and_old_ones_only_reported(case, alice):
    with pipeline.only():
        old = services.case_add_message(case=case, kind="reply", body="An old answer", actor=alice)
    with time_machine.travel(timezone.now() + timedelta(days=3), tick=False):
        with pipeline.only():
            recent = services.case_add_message(case=case, kind="reply", body="A new answer", actor=alice)
        later = timezone.now() + timedelta(minutes=5)
        with time_machine.travel(later, tick=False):
            outcome = _by_check(doctor.examine(now=later))["replies-without-mail"]
    assert (outcome.found, outcome.repaired, outcome.reported) == (2, 1, 1)
    assert Outbox.objects.filter(message=recent).count() == 1
    assert not Outbox.objects.filter(message=old).exists()
    recent.refresh_from_db()
    assert recent.meta["delivery"]["state"] == "queued"


def test_failed_reaction_steps_are_listed(case, monkeypatch):
    from casework.cases.pipeline import Stage

    broken = Stage("broken", "test.broken", frozenset({"opened"}))
    broken.__dict__["react"] = lambda work, events: 1 / 0
    monkeypatch.setattr(pipeline, "STAGES", (broken,))
    failed = open_case(customer=CustomerFactory())
    outcome = _by_check(doctor.examine(repair=False))["failed-reaction-steps"]
    assert outcome.found == 1 and outcome.examples == [failed.reference]


def test_the_command_prints_counts_and_json():
    _lost(subject="Hello", description="hi")
    later = timezone.now() + timedelta(minutes=5)
    out = StringIO()
    with time_machine.travel(later, tick=False):
        call_command("doctor", "--dry-run", "--json", stdout=out)
    report = json.loads(out.getvalue())
    counts = {c["check"]: c["found"] for c in report["checks"]}
    assert report["dry_run"] and counts["untriaged"] == 1 and counts["sla-missing-clocks"] == 1
    out = StringIO()
    with time_machine.travel(later, tick=False), pytest.raises(SystemExit):
        call_command("doctor", "--fail-on-findings", stdout=out)
    assert "untriaged" in out.getvalue() and "repaired" in out.getvalue()


def test_the_doctor_runs_daily_in_the_worker():
    from casework.core.scheduler import jobs

    job = next(j for j in jobs() if j.name == "doctor")
    assert job.every == timedelta(days=1) and job.func is doctor.daily


def test_the_missing_clocks_check_reads_open_cases_by_their_index(alice):
    """At 1,000,000 cases a `status IN (...)` filter walked every case's creation-index entry (1.5 s);
    the open cases are one range of `case_open_created`."""
    from casework.sla import doctor as sla_doctor
    from casework.testing.plans import plans_of

    _lost(subject="Printer on fire")
    ids, plans = plans_of(sla_doctor.find, timezone.now() + timedelta(minutes=5), 10)
    assert len(ids) == 1
    (plan,) = plans
    if plan.vendor == "sqlite":
        assert plan.uses_index("case_open_created"), plan.text
