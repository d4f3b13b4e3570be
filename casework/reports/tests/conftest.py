"""A hand-built week of cases with known answers for every metric (docs/metrics.md), made through the
case services at fixed instants so the SLA clocks, tier history and events are the real ones.

The week: Monday 30 November – Sunday 6 December 2026, seeded Standard policy (Mon–Fri 09:00–17:30
UTC; high 1 h / 8 h, medium 4 h / 24 h, low 8 h / 72 h), reporting zone UTC unless a test changes it.

Times are first response (wall / business) and resolution (wall / business):

- A medium: Mon 09:00 opened, 10:00 reply, 12:00 resolved — 1 h / 1 h, 3 h / 3 h.
- B high: Mon 16:30 opened, Tue 09:30 reply (FR breached Mon 17:30), 10:00 resolved — 17 h / 1.5 h,
  17.5 h / 2 h.
- C medium: Tue 09:00 opened, 09:30 reply, 10:00 awaiting client (paused), Wed 09:00 customer writes
  (resumes), 09:30 second reply, 10:00 resolved — 0.5 h / 0.5 h, 25 h / 2 h.
- D low: Tue 10:00 opened, 11:00 reply, 12:00 resolved, Wed 09:00 reopened, 11:00 resolved — 1 h / 1 h,
  25 h / 4 h (the night it spent resolved is not business time of the resolution clock).
- E medium: Wed 09:00 opened, never answered, still open.
- F medium: Wed 10:00 opened, 10:30 closed as spam (no response, no resolution).
- G medium: Thu 09:00 opened by A's customer with A's subject in other capitals (a repeat contact),
  10:00 resolved without any reply — resolution 1 h / 1 h.
- H medium: Thu 11:00 opened, 12:00 escalated to L2, 13:00 reply, 14:00 resolved — 2 h / 2 h, 3 h / 3 h.
- I medium: Thu 12:00 opened, 12:30 merged into E: counted nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from casework.cases import services as cases
from casework.cases.models import Case
from casework.sla.calendars import clear_cache
from casework.testing.factories import CustomerFactory


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_calendar_cache():
    clear_cache()
    yield
    clear_cache()


@dataclass
class Week:
    cases: dict[str, Case]
    alice: object
    bob: object


def at(when: datetime, fn, /, **kwargs):
    with time_machine.travel(when, tick=False):
        return fn(**kwargs)


def _open(when, name, customer, priority="medium", subject=None):
    return at(
        when,
        cases.case_open,
        subject=subject or f"Invoice export question {name}",
        description="The invoice export needs a look.",
        customer=customer,
        priority=priority,
    )


def _reply(when, case, actor, body="Thanks, looking at it."):
    return at(when, cases.case_add_message, case=case, kind="reply", body=body, actor=actor)


def _move(when, case, to, actor, reason=""):
    case.refresh_from_db()
    return at(when, cases.case_transition, case=case, to=to, actor=actor, reason=reason)


def build_week(alice, bob, *, weeks_later: int = 0) -> Week:
    """The week above; `weeks_later` moves it whole weeks on (the browser test puts it into last week)."""
    shift = timedelta(weeks=weeks_later)

    def u(*args: int) -> datetime:
        return utc(*args) + shift

    ann = CustomerFactory(name="Ann", email=f"ann{weeks_later}@example.test")
    c: dict[str, Case] = {}
    c["A"] = _open(u(2026, 11, 30, 9), "A", ann, subject="Printer queue stuck")
    _reply(u(2026, 11, 30, 10), c["A"], alice)
    _move(u(2026, 11, 30, 11), c["A"], "in_progress", alice)
    _move(u(2026, 11, 30, 12), c["A"], "resolved", alice)

    c["B"] = _open(u(2026, 11, 30, 16, 30), "B", CustomerFactory(), priority="high")
    _reply(u(2026, 12, 1, 9, 30), c["B"], alice)
    _move(u(2026, 12, 1, 9, 45), c["B"], "in_progress", alice)
    _move(u(2026, 12, 1, 10), c["B"], "resolved", alice)

    c["C"] = _open(u(2026, 12, 1, 9), "C", CustomerFactory())
    _reply(u(2026, 12, 1, 9, 30), c["C"], bob)
    _move(u(2026, 12, 1, 9, 45), c["C"], "in_progress", bob)
    _move(u(2026, 12, 1, 10), c["C"], "awaiting_client", bob)
    c["C"].refresh_from_db()
    at(u(2026, 12, 2, 9), cases.case_add_message, case=c["C"], kind="customer", body="Here are the logs.")
    _reply(u(2026, 12, 2, 9, 30), c["C"], bob, body="Found it.")
    _move(u(2026, 12, 2, 10), c["C"], "resolved", bob)

    c["D"] = _open(u(2026, 12, 1, 10), "D", CustomerFactory(), priority="low")
    _reply(u(2026, 12, 1, 11), c["D"], alice)
    _move(u(2026, 12, 1, 11, 30), c["D"], "in_progress", alice)
    _move(u(2026, 12, 1, 12), c["D"], "resolved", alice)
    _move(u(2026, 12, 2, 9), c["D"], "in_progress", alice, reason="Customer says it is back")
    _move(u(2026, 12, 2, 11), c["D"], "resolved", alice)

    c["E"] = _open(u(2026, 12, 2, 9), "E", CustomerFactory())
    c["F"] = _open(u(2026, 12, 2, 10), "F", CustomerFactory())
    _move(u(2026, 12, 2, 10, 30), c["F"], "closed", alice, reason="Spam")

    c["G"] = _open(u(2026, 12, 3, 9), "G", ann, subject="printer queue STUCK")
    _move(u(2026, 12, 3, 9, 30), c["G"], "in_progress", alice)
    _move(u(2026, 12, 3, 10), c["G"], "resolved", alice)

    c["H"] = _open(u(2026, 12, 3, 11), "H", CustomerFactory())
    c["H"].refresh_from_db()
    at(
        u(2026, 12, 3, 12),
        cases.case_escalate,
        case=c["H"],
        to_tier=2,
        actor=alice,
        handoff_note="Needs the L2 export tool.",
    )
    _reply(u(2026, 12, 3, 13), c["H"], bob)
    _move(u(2026, 12, 3, 13, 30), c["H"], "in_progress", bob)
    _move(u(2026, 12, 3, 14), c["H"], "resolved", bob)

    c["I"] = _open(u(2026, 12, 3, 12), "I", CustomerFactory())
    c["I"].refresh_from_db()
    c["E"].refresh_from_db()
    at(u(2026, 12, 3, 12, 30), cases.case_merge, source=c["I"], target=c["E"], actor=alice)
    for case in c.values():
        case.refresh_from_db()
    return Week(cases=c, alice=alice, bob=bob)


@pytest.fixture(scope="module")
def _module_week(django_db_setup, django_db_blocker):
    """The week is built once per module (and xdist worker) inside a transaction rolled back at the end;
    each test runs in a savepoint inside it, as Django's TestCase.setUpTestData does. Building it through
    the services takes seconds, so per test it would dominate the run."""
    from django.db import transaction

    from casework.testing.factories import TeamFactory, make_agent

    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            clear_cache()
            teams = {
                1: TeamFactory(name="L1 Support", tier_level=1),
                2: TeamFactory(name="L2 Support", tier_level=2),
            }
            # alice leads L1: reports are for leads and above (casework/people/permissions.py).
            alice = make_agent("alice", tier=1, teams=[teams[1]], role="lead")
            # bob (L2) answers cases in both tiers, as the escalation path asks: a manager's reach.
            bob = make_agent("bob", tier=2, teams=[teams[2]], role="manager")
            yield build_week(alice, bob)
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            clear_cache()


@pytest.fixture
def week(_module_week, db) -> Week:
    return _module_week
