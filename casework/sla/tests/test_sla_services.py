"""Clock services through real case changes: policy matching, recalculation, pauses, stops, reopen."""

from datetime import timedelta

import pytest

from casework.cases import services as cases
from casework.cases.models import CaseEvent, EventKind
from casework.sla import services
from casework.sla.calendars import business_calendar
from casework.sla.models import Breach, Calendar, CaseClock, ClockState, Policy, PolicyTarget
from casework.sla.policies import PolicyBook, format_duration
from casework.testing.factories import CustomerFactory, OrganisationFactory

from .conftest import utc

pytestmark = pytest.mark.django_db
H = timedelta(hours=1)
MIN = timedelta(minutes=1)
MONDAY_10 = utc(2026, 3, 2, 10)


def clock(case, metric="resolution"):
    return CaseClock.objects.get(case=case, metric=metric)


def open_at(at, when, customer=None, **kwargs):
    kwargs.setdefault("priority", "medium")
    return at(
        when,
        cases.case_open,
        subject=kwargs.pop("subject", "Invoice address does not save"),
        description="Please have a look.",
        customer=customer or CustomerFactory(),
        **kwargs,
    )


def test_seeded_policies_follow_the_playbook():
    book = PolicyBook.load()
    expected = {
        "critical": (15 * MIN, 4 * H, "24×7"),
        "high": (H, 8 * H, "Office hours"),
        "medium": (4 * H, 24 * H, "Office hours"),
        "low": (8 * H, 72 * H, "Office hours"),
    }
    for priority, (first, resolution, calendar) in expected.items():
        fr = book.match(metric="first_response", priority=priority, customer_tier="standard", team_id=None)
        res = book.match(metric="resolution", priority=priority, customer_tier="", team_id=None)
        assert (fr.policy.name, fr.target, res.target, res.calendar.name) == (
            "Standard",
            first,
            resolution,
            calendar,
        )
        ent = book.match(metric="resolution", priority=priority, customer_tier="enterprise", team_id=None)
        assert (ent.policy.name, ent.target) == ("Enterprise", resolution / 2)
    critical = book.match(metric="first_response", priority="critical", customer_tier="", team_id=None)
    assert critical.at_risk_lead == timedelta(minutes=3, seconds=45)  # 25 % of 15 min < 30 min
    low = book.match(metric="resolution", priority="low", customer_tier="", team_id=None)
    assert low.at_risk_lead == 30 * MIN


def test_policy_matching_by_team_and_order(teams):
    office = Calendar.objects.get(name="Office hours")
    l3 = Policy.objects.create(name="Engineering", order=5, calendar=office, priorities=["high"])
    l3.teams.add(teams[3])
    PolicyTarget.objects.create(policy=l3, priority="high", first_response=2 * H, resolution=40 * H)
    book = PolicyBook.load()
    on_l3 = book.match(metric="resolution", priority="high", customer_tier="enterprise", team_id=teams[3].pk)
    assert (on_l3.policy.name, on_l3.target) == ("Engineering", 40 * H)
    assert "matched on priority high, team" in on_l3.explanation
    elsewhere = book.match(
        metric="resolution", priority="high", customer_tier="enterprise", team_id=teams[1].pk
    )
    assert elsewhere.policy.name == "Enterprise"
    # A policy without a target for the priority is skipped, not a dead end.
    medium = book.match(metric="resolution", priority="medium", customer_tier="", team_id=teams[3].pk)
    assert medium.policy.name == "Standard"
    Policy.objects.update(active=False)
    assert (
        PolicyBook.load().match(metric="resolution", priority="low", customer_tier="", team_id=None) is None
    )


def test_no_policy_is_explained_on_the_timeline(at):
    Policy.objects.update(active=False)
    case = open_at(at, MONDAY_10)
    assert not CaseClock.objects.filter(case=case).exists()
    event = CaseEvent.objects.get(case=case, kind=EventKind.SLA)
    assert "No SLA policy matches" in event.reason


def test_enterprise_customer_gets_the_tighter_policy(at, customer):
    case = open_at(at, MONDAY_10, customer=customer, priority="high")
    fr = clock(case, "first_response")
    assert (fr.policy_name, fr.target, fr.customer_tier) == ("Enterprise", 30 * MIN, "enterprise")
    assert fr.due_at == utc(2026, 3, 2, 10, 30)


def test_priority_change_recalculates_with_time_already_used(at, alice):
    case = open_at(at, MONDAY_10)
    res = clock(case)
    # Mon 10:00 + 24 h business: Mon 7.5 + Tue 8.5 + Wed 8 → Wed 17:00.
    assert res.due_at == utc(2026, 3, 4, 17)
    at(utc(2026, 3, 2, 12), cases.case_set_priority, case=case, priority="high", actor=alice, reason="VIP")
    res = clock(case)
    assert (res.target, res.priority, res.consumed) == (8 * H, "high", 2 * H)
    # 6 h left from Monday 12:00 on office hours → Monday 17:30 is 5.5 h, then Tuesday 09:30.
    assert res.due_at == utc(2026, 3, 3, 9, 30)
    entry = res.ledger.order_by("id").last()
    assert (entry.kind, entry.due_before, entry.due_after) == ("recalculate", utc(2026, 3, 4, 17), res.due_at)
    assert "priority medium → high" in entry.reason and "2 h already used" in entry.reason
    assert entry.actor_label == "Alice"
    # Critical moves to the 24×7 calendar: 4 h target with 2 h 30 min used → 1 h 30 min after 12:30.
    at(utc(2026, 3, 2, 12, 30), cases.case_set_priority, case=case, priority="critical", actor=alice)
    res = clock(case)
    assert res.calendar.name == "24×7" and res.consumed == 2.5 * H
    assert res.due_at == utc(2026, 3, 2, 14)
    # A change that keeps the same terms adds no ledger entry.
    before = res.ledger.count()
    services.clocks_recalculate(case_id=case.pk, at=utc(2026, 3, 2, 12, 40), reason="noop")
    assert clock(case).ledger.count() == before


def test_priority_change_on_a_paused_case_past_the_new_target_is_a_breach(at, alice):
    case = open_at(at, MONDAY_10)  # resolution 24 h business
    at(utc(2026, 3, 2, 10, 5), cases.case_transition, case=case, to="in_progress", actor=alice)
    at(utc(2026, 3, 2, 14, 30), cases.case_transition, case=case, to="awaiting_client", actor=alice)
    # 4 h 30 min used, paused; critical gives 4 h: already used up, so it is breached (still paused),
    # never "-30 min left".
    at(utc(2026, 3, 2, 15), cases.case_set_priority, case=case, priority="critical", actor=alice)
    res = clock(case)
    assert (res.state, res.target, res.is_paused) == (ClockState.BREACHED, 4 * H, True)
    assert Breach.objects.filter(clock=res).count() == 1
    reasons = [e.reason for e in CaseEvent.objects.filter(case=case, kind=EventKind.SLA).order_by("id")]
    assert not any("-" in r.split("left")[0][-8:] for r in reasons if "left" in r)
    assert any(r.startswith("Resolution breached: was due") for r in reasons)
    assert "the new target is already used up (still paused)" in reasons[-1]
    # The panel says breached and paused, with no time left shown.
    from casework.sla.selectors import case_clocks

    view = next(v for v in case_clocks(case, now=utc(2026, 3, 2, 16)) if v.clock.metric == "resolution")
    assert (view.state, view.paused, view.left) == ("breached", True, None)


def test_team_and_organisation_tier_changes_recalculate(at, alice, teams):
    org = OrganisationFactory(name="Acme", tier="standard")
    case = open_at(at, MONDAY_10, customer=CustomerFactory(organisation=org), priority="low")
    assert clock(case).target == 72 * H
    org.tier = "enterprise"
    at(utc(2026, 3, 2, 11), org.save)
    res = clock(case)
    assert (res.policy_name, res.target, res.customer_tier) == ("Enterprise", 36 * H, "enterprise")
    assert "organisation tier is now enterprise" in res.ledger.order_by("id").last().reason
    # Team change with a team-specific policy.
    special = Policy.objects.create(name="L2 low", order=1, calendar=Calendar.objects.get(name="24×7"))
    special.teams.add(teams[2])
    PolicyTarget.objects.create(policy=special, priority="low", first_response=H, resolution=10 * H)
    at(utc(2026, 3, 2, 12), cases.case_set_team, case=case, team=teams[2], actor=alice)
    res = clock(case)
    assert (res.policy_name, res.calendar.name) == ("L2 low", "24×7")
    assert "→ L2 Support" in res.ledger.order_by("id").last().reason


def test_first_response_by_call_counts_and_automatic_reply_does_not(at, alice):
    case = open_at(at, MONDAY_10)
    at(
        utc(2026, 3, 2, 10, 1),
        cases.case_add_message,
        case=case,
        kind="reply",
        body="We received your request.",
        actor="autoresponder",
        meta={"automatic": True},
    )
    assert clock(case, "first_response").state == ClockState.RUNNING
    at(
        utc(2026, 3, 2, 10, 30),
        cases.case_log_call,
        customer=case.customer,
        case=case,
        summary="Called back",
        direction="outbound",
        duration_seconds=120,
        actor=alice,
    )
    fr = clock(case, "first_response")
    assert fr.state == ClockState.MET and fr.consumed == 30 * MIN
    assert "phone call logged" in fr.ledger.order_by("id").last().reason


def test_late_first_response_is_a_breach_even_before_the_sweep(at, alice):
    case = open_at(at, MONDAY_10, priority="high")  # first response 1 h → 11:00
    at(utc(2026, 3, 2, 11, 20), cases.case_add_message, case=case, kind="reply", body="Sorry!", actor=alice)
    fr = clock(case, "first_response")
    assert fr.state == ClockState.BREACHED and fr.stopped_at == utc(2026, 3, 2, 11, 20)
    breach = Breach.objects.get(clock=fr)
    assert (breach.breached_at, breach.duration, breach.policy_name) == (
        utc(2026, 3, 2, 11),
        20 * MIN,
        "Standard",
    )
    assert [e.kind for e in fr.ledger.order_by("id")] == ["start", "breached", "stopped"]
    assert CaseEvent.objects.filter(case=case, kind=EventKind.SLA, data__state="breached").count() == 1
    # The timeline says "breached" once: the breach event, then what the reply did to the clock.
    sla_events = list(CaseEvent.objects.filter(case=case, kind=EventKind.SLA).order_by("id"))
    assert sum("breached" in e.reason for e in sla_events) == 1
    assert sla_events[-2].data["state"] == "breached"
    assert sla_events[-1].reason.startswith("First response clock stopped")


def test_reply_exactly_at_the_due_time_meets_the_target(at, alice):
    case = open_at(at, MONDAY_10, priority="high")
    at(utc(2026, 3, 2, 11), cases.case_add_message, case=case, kind="reply", body="On it", actor=alice)
    assert clock(case, "first_response").state == ClockState.MET


def test_closed_without_resolution_stops_the_clocks(at, alice):
    case = open_at(at, MONDAY_10)
    at(utc(2026, 3, 2, 11), cases.case_transition, case=case, to="closed", actor=alice, reason="Spam")
    for metric in ("first_response", "resolution"):
        c = clock(case, metric)
        assert (c.state, c.due_at, c.stopped_at) == (ClockState.STOPPED, None, utc(2026, 3, 2, 11))
        assert "closed without resolution" in c.ledger.order_by("id").last().reason


def test_reopen_resumes_resolution_with_time_spent(at, alice):
    case = open_at(at, MONDAY_10, priority="high")  # resolution 8 h
    at(utc(2026, 3, 2, 10, 30), cases.case_add_message, case=case, kind="reply", body="Hi", actor=alice)
    at(utc(2026, 3, 2, 10, 45), cases.case_transition, case=case, to="in_progress", actor=alice)
    at(utc(2026, 3, 2, 12), cases.case_transition, case=case, to="resolved", actor=alice)
    assert clock(case).state == ClockState.MET and clock(case).consumed == 2 * H
    at(utc(2026, 3, 3, 9), cases.case_reopen, case=case, actor=alice, reason="Still broken")
    res = clock(case)
    assert res.state == ClockState.RUNNING and res.stopped_at is None
    assert res.due_at == utc(2026, 3, 3, 15)  # 6 h left from Tuesday 09:00
    assert "reopened" in res.ledger.order_by("id").last().reason
    assert clock(case, "first_response").state == ClockState.MET


def test_hooks_are_idempotent(at):
    case = open_at(at, MONDAY_10)
    event = CaseEvent.objects.get(case=case, kind=EventKind.OPENED)
    services.clocks_start(case_id=case.pk, at=event.created_at)
    services.clocks_resume(case_id=case.pk, at=utc(2026, 3, 2, 11), reason="again")
    assert CaseClock.objects.filter(case=case).count() == 2
    assert sum(c.ledger.count() for c in CaseClock.objects.filter(case=case)) == 2


def test_calendar_cache_is_reused_and_refreshed_on_edit():
    office = Calendar.objects.get(name="Office hours")
    first = business_calendar(office)
    assert business_calendar(Calendar.objects.get(pk=office.pk)) is first
    office.week = {"0": [["08:00", "12:00"], ["13:00", "17:00"]]}
    office.full_clean()
    office.save()
    assert business_calendar(office) is not first
    assert "Mon 08:00–12:00, 13:00–17:00 UTC" in office.describe()


def test_format_duration():
    assert format_duration(timedelta(minutes=3, seconds=45)) == "3 min 45 s"
    assert format_duration(26 * H + 5 * MIN) == "26 h 5 min"
    assert format_duration(-MIN) == "-1 min"
