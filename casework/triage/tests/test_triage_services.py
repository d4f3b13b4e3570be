"""Triage on real cases: rules from the database applied through the case services, with explanations."""

import pytest

from casework.cases import pipeline
from casework.cases import services as case_services
from casework.cases.models import CaseEvent, EventKind, MessageKind
from casework.testing.factories import CustomerFactory, open_case
from casework.triage import alerts, dryrun, services
from casework.triage.models import CannedReply, Rule, TriageShift

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_hooks(django_capture_on_commit_callbacks):
    """Run on-commit hooks (triage, sentiment) as production does after each service call."""

    def opener(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            case = open_case(**kwargs)
        case.refresh_from_db()
        return case

    return opener


def events(case, kind):
    return list(CaseEvent.objects.filter(case=case, kind=kind).order_by("id"))


def test_default_rules_are_installed_by_migration():
    assert Rule.objects.filter(key="outage", enabled=True).exists()
    assert Rule.objects.count() >= 20


def test_outage_becomes_critical_with_explanation_and_triaged(run_hooks, teams):
    case = run_hooks(subject="System down", description="The whole app is down for everyone since 9am.")
    assert case.priority == "critical"
    assert case.status == "triaged"
    applied = events(case, EventKind.RULE_APPLIED)
    assert any("system down" in e.data["explanation"] for e in applied)
    change = events(case, EventKind.PRIORITY_CHANGED)[-1]
    assert change.actor_label.startswith("rule:") and "critical" in change.reason
    triaged = events(case, EventKind.STATUS_CHANGED)[-1]
    assert triaged.actor_label == "triage" and "Classified by rules" in triaged.reason


def test_password_case_is_authentication(run_hooks):
    case = run_hooks(
        subject="Can't sign in", description="I reset my password but the login page rejects it."
    )
    assert case.category.slug == "authentication"


def test_data_loss_escalates_to_tier_2(run_hooks, teams):
    case = run_hooks(subject="Data missing", description="Since the import our data is missing for March.")
    assert (case.priority, case.category.slug, case.tier, case.team) == ("high", "data", 2, teams[2])
    escalation = events(case, EventKind.ESCALATED)[0]
    assert escalation.actor_label.startswith("rule:")
    # The rule explains itself on the event; no hand-off note repeating the rule sentence.
    assert escalation.reason == escalation.data["explanation"] and not escalation.data["handoff_note"]
    assert not case.messages.filter(kind="note").exists()


def test_how_to_question_is_low(run_hooks):
    case = run_hooks(subject="Question", description="How do I invite a colleague?")
    assert (case.priority, case.category.slug) == ("low", "question")


def test_enterprise_customer_gets_at_least_high(run_hooks, customer):
    case = run_hooks(subject="Question", description="How do I export a report?", customer=customer)
    assert case.priority == "high"  # Northwind is enterprise + VIP


def test_explicit_priority_is_not_lowered_by_rules(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        case = open_case(
            subject="How do I export?",
            description="how do i export",
            priority="high",
            customer=CustomerFactory(),
        )
    case.refresh_from_db()
    assert case.priority == "high" and case.category.slug == "question"


def test_negative_message_flags_frustration_and_routes_high_cases_to_l2(run_hooks, teams):
    case = run_hooks(
        subject="Export broken again",
        description="This is the third time the export crashed with an error. This is unacceptable, I am "
        "furious and we are losing money. Terrible service, nobody helps!",
    )
    assert case.frustrated and case.sentiment < -0.5
    assert events(case, EventKind.SENTIMENT_CHANGED)[0].reason.startswith("latest customer message scored")


def test_frustrated_customer_on_an_urgent_case_moves_tier_and_team(run_hooks, teams):
    case = run_hooks(
        subject="Export broken again",
        priority="high",
        description="This is the third time the export crashed with an error. This is unacceptable, I am "
        "furious and we are losing money. Terrible service, nobody helps!",
    )
    assert case.frustrated
    # The tier-2 team is reached by escalating: tier and team move together, with the rule's handoff.
    assert (case.tier, case.team) == (2, teams[2])
    escalated = events(case, EventKind.ESCALATED)[-1]
    assert escalated.data["rule"] == "Frustrated customer on an urgent case"
    assert (escalated.old["tier"], escalated.new["tier"]) == (1, 2)
    assert not events(case, EventKind.TEAM_CHANGED) or all(
        e.new != teams[2].name for e in events(case, EventKind.TEAM_CHANGED)
    )


def test_a_calm_message_keeps_its_score_without_a_timeline_entry(run_hooks):
    case = run_hooks(subject="Report layout", description="Thanks, the new report looks great.")
    assert not case.frustrated and case.sentiment > 0
    assert case.messages.get().sentiment == case.sentiment
    assert events(case, EventKind.SENTIMENT_CHANGED) == []  # the mood did not turn: nothing to explain


def test_customer_reply_is_scored_and_runs_message_rules(
    run_hooks, django_capture_on_commit_callbacks, alice
):
    case = run_hooks(subject="Report layout", description="The report header is misaligned.")
    with django_capture_on_commit_callbacks(execute=True):
        message = case_services.case_add_message(
            case=case, kind=MessageKind.CUSTOMER, body="Update: now the system is down for everyone!"
        )
    message.refresh_from_db()
    case.refresh_from_db()
    assert message.sentiment is not None
    assert case.priority == "critical"


def test_a_rule_that_errors_is_disabled_and_intake_goes_on(run_hooks):
    broken = Rule.objects.create(
        name="Broken",
        trigger="case_opened",
        order=1,
        conditions={"field": "colour", "op": "eq", "value": "red"},
        actions=[],
    )
    case = run_hooks(subject="System down", description="outage for all users")
    broken.refresh_from_db()
    assert not broken.enabled and "unknown field 'colour'" in broken.last_error
    assert case.priority == "critical"


def test_a_rule_routing_to_a_missing_team_stays_enabled_and_says_what_is_missing(run_hooks):
    rule = Rule.objects.create(
        name="To ghosts",
        trigger="case_opened",
        order=500,
        conditions={"field": "subject", "op": "contains_any", "value": ["ghost"]},
        actions=[{"type": "assign_team", "value": "Ghostbusters"}],
    )
    case = run_hooks(subject="ghost in the machine", description="boo")
    rule.refresh_from_db()
    assert rule.enabled and "no team named 'Ghostbusters'" in rule.last_error
    note = next(e for e in events(case, EventKind.NOTE) if "no team named" in e.reason)
    assert "create it" in note.reason and note.data["missing"] == {"team": "Ghostbusters"}


def test_each_action_type_applies_through_services(run_hooks, alice, teams):
    CannedReply.objects.create(
        name="ack-vip", body="Hi {customer_name}, {reference} is with our senior team."
    )
    Rule.objects.create(
        name="Everything",
        trigger="case_opened",
        order=900,
        conditions={"field": "subject", "op": "contains_any", "value": ["kitchen sink"]},
        actions=[
            {"type": "set_priority", "value": "high"},
            {"type": "set_category", "value": "billing"},
            {"type": "add_tag", "value": "sink"},
            {"type": "assign_team", "value": "L1 Support"},
            {"type": "assign_agent", "value": "alice"},
            {"type": "notify", "value": {"to": "team_lead", "message": "Look at this"}},
            {"type": "send_canned_reply", "value": "ack-vip"},
            {"type": "set_frustrated"},
        ],
    )
    case = run_hooks(
        subject="kitchen sink", description="everything at once", customer=CustomerFactory(name="Kim")
    )
    assert (case.priority, case.category.slug, case.team, case.assignee) == (
        "high",
        "billing",
        teams[1],
        alice,
    )
    assert list(case.tags.values_list("name", flat=True)) == ["sink"]
    assert case.frustrated
    reply = case.messages.get(kind=MessageKind.REPLY)
    assert reply.body == f"Hi Kim, {case.reference} is with our senior team." and reply.meta["automatic"]
    assert case.first_response_at is None  # an automatic reply is not a human first response
    notes = [e for e in events(case, EventKind.NOTE) if e.data.get("notify")]
    assert notes[0].data["notify"] == "team_lead" and notes[0].reason == "Look at this"


def test_dry_run_lists_matches_without_changing_anything(customer):
    with pipeline.only():  # cases as an import left them, before any rule ran
        open_case(subject="Invoice wrong", description="refund please", customer=customer)
        open_case(subject="Hello", description="nothing here", customer=customer)
    spec = dryrun.spec_from_draft(
        name="Billing",
        trigger="case_opened",
        conditions={"field": "text", "op": "contains_any", "value": ["refund"]},
        actions=[{"type": "set_category", "value": "billing"}],
    )
    rows = dryrun.dry_run(spec=spec, last=10)
    matched = [r for r in rows if r.matched]
    assert len(rows) == 2 and len(matched) == 1
    assert matched[0].changes["category"] == (None, "billing")
    assert not CaseEvent.objects.filter(kind=EventKind.CATEGORY_CHANGED).exists()


def test_untriaged_alert_names_the_triager_on_shift_once(alice, customer, settings):
    import datetime as dt

    import time_machine

    settings.CASEWORK = {**settings.CASEWORK, "TRIAGE_AUTO_TRIAGED": False}
    monday_10 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
    TriageShift.objects.create(agent=alice, weekday=0, start=dt.time(9), end=dt.time(17), timezone="UTC")
    with time_machine.travel(monday_10, tick=False):
        case = open_case(subject="Waiting", customer=customer)
    with time_machine.travel(monday_10 + dt.timedelta(minutes=20), tick=False):
        assert alerts.triagers_on_shift() == [alice]
        assert alerts.alert_untriaged() == 1
        assert alerts.alert_untriaged() == 0
    note = events(case, EventKind.NOTE)[0]
    assert note.data["notify"] == ["alice"] and "20 min" in note.reason


def test_overnight_shift_covers_the_next_morning(alice):
    import datetime as dt

    shift = TriageShift(agent=alice, weekday=4, start=dt.time(22), end=dt.time(6), timezone="Europe/London")
    friday_23 = dt.datetime(2026, 11, 27, 23, 0, tzinfo=dt.UTC)
    saturday_5 = dt.datetime(2026, 11, 28, 5, 0, tzinfo=dt.UTC)
    saturday_7 = dt.datetime(2026, 11, 28, 7, 0, tzinfo=dt.UTC)
    assert shift.covers(friday_23) and shift.covers(saturday_5) and not shift.covers(saturday_7)


def test_scheduled_rules_fire_once_per_case(customer):
    rule = Rule.objects.create(
        name="Stale",
        trigger="scheduled",
        order=1,
        conditions={"field": "status", "op": "eq", "value": "new"},
        actions=[{"type": "add_tag", "value": "stale"}],
    )
    case = open_case(subject="old", customer=customer)
    assert services.run_scheduled_rules() == 1
    assert services.run_scheduled_rules() == 0
    assert list(case.tags.values_list("name", flat=True)) == ["stale"]
    assert rule.firings.count() == 1


def test_rule_validation_in_model_clean():
    from django.core.exceptions import ValidationError

    rule = Rule(
        name="bad", trigger="case_opened", conditions={"field": "subject", "op": "containz", "value": "x"}
    )
    with pytest.raises(ValidationError) as exc:
        rule.full_clean()
    assert "containz" in str(exc.value)
