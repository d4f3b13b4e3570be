"""Service tests: each service writes its change and its event, in one transaction."""

import datetime as dt
import itertools

import pytest
import time_machine
from django.db import IntegrityError
from django.utils import timezone

from casework.cases import pipeline, services
from casework.cases.models import Case, CaseEvent, EventKind, Message, MessageKind
from casework.cases.status import Status, transition_for
from casework.core.errors import InvalidTransition, ValidationFailed
from casework.testing.factories import CustomerFactory, open_case

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def doors_only():
    """These tests check each door's own change and events. The reactions a change implies (triage,
    routing, SLA, mail) are tested in test_pipeline.py and in each app's tests."""
    with pipeline.only():
        yield


# The shortest path from New to each status, through legal transitions.
PATH_TO = {
    "new": [],
    "triaged": ["triaged"],
    "in_progress": ["in_progress"],
    "awaiting_client": ["in_progress", "awaiting_client"],
    "resolved": ["in_progress", "resolved"],
    "closed": ["in_progress", "resolved", "closed"],
}


def kinds(case):
    return list(CaseEvent.objects.filter(case=case).order_by("id").values_list("kind", flat=True))


def test_open_creates_reference_message_and_event(customer):
    case = services.case_open(
        subject="  Export   crashes ", description="Error 500", customer=customer, channel="web"
    )
    assert case.reference == f"CW-{case.number:06d}"
    assert case.subject == "Export crashes"
    assert case.organisation == customer.organisation
    assert case.status == Status.NEW and case.priority == "medium" and case.tier == 1
    assert len(case.public_token) >= 30
    message = case.messages.get()
    assert message.kind == MessageKind.CUSTOMER and message.author_customer == customer
    event = CaseEvent.objects.get(case=case)
    assert event.kind == EventKind.OPENED and event.new["channel"] == "web"
    assert "Nora North" in event.actor_display


def test_references_are_sequential_and_never_reused(customer):
    first = open_case(customer=customer)
    second = open_case(customer=customer)
    assert second.number == first.number + 1
    Case.objects.filter(pk=second.pk).delete()
    third = open_case(customer=customer)
    assert third.number == second.number + 1


@pytest.mark.parametrize("source,target", list(itertools.product(Status.values, Status.values)))
def test_every_status_pair(customer, alice, source, target):
    case = open_case(customer=customer)
    for step in PATH_TO[source]:
        services.case_transition(case=case, to=step, actor=alice)
    assert case.status == source
    before = CaseEvent.objects.filter(case=case).count()
    rule = transition_for(source, target)
    if rule is None:
        with pytest.raises(InvalidTransition) as exc:
            services.case_transition(case=case, to=target, actor=alice, reason="trying")
        assert exc.value.code == "invalid_transition"
        case.refresh_from_db()
        assert case.status == source
        assert CaseEvent.objects.filter(case=case).count() == before
    else:
        services.case_transition(case=case, to=target, actor=alice, reason="because")
        case.refresh_from_db()
        assert case.status == target
        event = CaseEvent.objects.filter(case=case, kind=EventKind.STATUS_CHANGED).latest("id")
        assert (event.old, event.new, event.reason, event.actor) == (source, target, "because", alice)


def test_resolve_and_close_stamp_times_reopen_clears(case, alice):
    services.case_transition(case=case, to="in_progress", actor=alice)
    services.case_transition(case=case, to="resolved", actor=alice)
    assert case.resolved_at is not None
    services.case_transition(case=case, to="in_progress", actor=alice, reason="not fixed")
    assert case.resolved_at is None and case.reopen_count == 1
    assert EventKind.REOPENED in kinds(case)


def test_close_without_resolution_requires_reason(case, alice):
    with pytest.raises(ValidationFailed) as exc:
        services.case_transition(case=case, to="closed", actor=alice)
    assert exc.value.code == "reason_required"
    services.case_transition(case=case, to="closed", actor=alice, reason="spam")
    assert case.status == "closed" and case.closed_at


def test_unknown_status_is_a_validation_error(case, alice):
    with pytest.raises(ValidationFailed):
        services.case_transition(case=case, to="paused", actor=alice)


def test_first_public_reply_sets_first_response_once(case, alice):
    services.case_add_message(case=case, kind=MessageKind.NOTE, body="looking", actor=alice)
    assert case.first_response_at is None
    services.case_add_message(case=case, kind=MessageKind.REPLY, body="On it", actor=alice)
    first = case.first_response_at
    assert first is not None
    services.case_add_message(case=case, kind=MessageKind.REPLY, body="Update", actor=alice)
    case.refresh_from_db()
    assert case.first_response_at == first
    assert kinds(case).count(EventKind.FIRST_RESPONSE) == 1


def test_customer_reply_resumes_awaiting_client(case, alice):
    services.case_transition(case=case, to="in_progress", actor=alice)
    services.case_transition(case=case, to="awaiting_client", actor=alice)
    services.case_add_message(case=case, kind=MessageKind.CUSTOMER, body="Here are the logs")
    case.refresh_from_db()
    assert case.status == "in_progress"
    event = CaseEvent.objects.filter(case=case, kind=EventKind.STATUS_CHANGED).latest("id")
    assert event.reason == "Customer replied"


def test_customer_reply_reopens_resolved(case, alice):
    services.case_transition(case=case, to="in_progress", actor=alice)
    services.case_transition(case=case, to="resolved", actor=alice)
    services.case_add_message(case=case, kind=MessageKind.CUSTOMER, body="Still broken")
    case.refresh_from_db()
    assert case.status == "in_progress" and case.reopen_count == 1


def test_customer_message_on_closed_case_past_the_reopen_window_opens_linked_follow_up(case, alice, settings):
    settings.CASEWORK = {**settings.CASEWORK, "REOPEN_WINDOW_DAYS": 14}
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        for step in ("in_progress", "resolved", "closed"):
            services.case_transition(case=case, to=step, actor=alice)
        traveller.shift(dt.timedelta(days=15))
        message = services.case_add_message(case=case, kind=MessageKind.CUSTOMER, body="It's back")
    follow_up = message.case
    assert follow_up.pk != case.pk and follow_up.follow_up_of == case
    assert follow_up.status == "new"
    case.refresh_from_db()
    assert case.status == "closed"
    event = case.events.get(kind=EventKind.FOLLOW_UP_OPENED)
    assert (
        event.reason
        == "Customer wrote 15 days after closing, past the 14-day reopen window: opened a follow-up case"
    )


def test_customer_message_within_the_reopen_window_reopens_a_closed_case(case, alice, settings):
    settings.CASEWORK = {**settings.CASEWORK, "REOPEN_WINDOW_DAYS": 14}
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        for step in ("in_progress", "resolved", "closed"):
            services.case_transition(case=case, to=step, actor=alice)
        traveller.shift(dt.timedelta(days=3))
        message = services.case_add_message(case=case, kind=MessageKind.CUSTOMER, body="Still broken")
    assert message.case.pk == case.pk
    case.refresh_from_db()
    assert (case.status, case.closed_at, case.resolved_at, case.reopen_count) == (
        "in_progress",
        None,
        None,
        1,
    )
    reopened = case.events.get(kind=EventKind.REOPENED)
    assert "within the 14-day reopen window (3 day(s) after closing)" in reopened.reason
    # A case closed without ever being resolved (spam, withdrawn) always gets a follow-up.
    other = services.case_open(subject="Spam", description="buy now", customer=case.customer)
    services.case_transition(case=other, to="closed", actor=alice, reason="spam")
    assert services.case_add_message(case=other, kind=MessageKind.CUSTOMER, body="hi").case.pk != other.pk


def test_reply_and_set_status_in_one_call(case, alice):
    services.case_transition(case=case, to="in_progress", actor=alice)
    services.case_add_message(
        case=case,
        kind=MessageKind.REPLY,
        body="Can you send logs?",
        actor=alice,
        set_status="awaiting_client",
    )
    assert case.status == "awaiting_client"


def test_illegal_set_status_rolls_back_the_message(case, alice):
    with pytest.raises(InvalidTransition):
        services.case_add_message(
            case=case, kind=MessageKind.REPLY, body="Done", actor=alice, set_status="resolved"
        )
    assert not Message.objects.filter(case=case, kind=MessageKind.REPLY).exists()
    case.refresh_from_db()
    assert case.first_response_at is None


def test_assign_team_priority_category_tags_each_write_an_event(case, manager_alice, bob, teams):
    alice = manager_alice
    services.case_assign(case=case, assignee=bob, actor=alice, reason="specialist")
    services.case_set_team(case=case, team=teams[2], actor=alice)
    services.case_set_priority(case=case, priority="critical", actor=alice, reason="outage")
    services.case_set_category(case=case, category="bug", actor=alice)
    services.case_set_tags(case=case, add=["Export", "csv"], actor=alice)
    services.case_set_tags(case=case, remove=["csv"], actor=alice)
    case.refresh_from_db()
    assert (case.assignee, case.team, case.priority, case.category.slug) == (bob, teams[2], "critical", "bug")
    assert list(case.tags.values_list("name", flat=True)) == ["export"]
    assert kinds(case)[1:] == [
        "assigned",
        "team_changed",
        "priority_changed",
        "category_changed",
        "tags_changed",
        "tags_changed",
    ]
    priority_event = CaseEvent.objects.get(case=case, kind="priority_changed")
    assert (priority_event.old, priority_event.new, priority_event.reason) == ("medium", "critical", "outage")


def test_no_op_changes_write_no_event(case, alice):
    services.case_set_priority(case=case, priority="medium", actor=alice)
    services.case_assign(case=case, assignee=None, actor=alice)
    assert kinds(case) == ["opened"]


def test_assigning_a_non_agent_is_refused(case, mallory, alice):
    with pytest.raises(ValidationFailed) as exc:
        services.case_assign(case=case, assignee=mallory, actor=alice)
    assert exc.value.code == "invalid_assignee"


def test_unknown_category_lists_the_allowed_ones(case, alice):
    with pytest.raises(ValidationFailed) as exc:
        services.case_set_category(case=case, category="gardening", actor=alice)
    assert "bug" in exc.value.details["allowed"]


def test_case_update_is_all_or_nothing(case, alice):
    with pytest.raises(ValidationFailed):
        services.case_update(case=case, actor=alice, priority="high", category="nope")
    case.refresh_from_db()
    assert case.priority == "medium"
    assert kinds(case) == ["opened"]


def test_escalate_moves_ownership_and_keeps_handoff(case, alice, bob, teams):
    services.case_assign(case=case, assignee=alice, actor=alice)
    services.case_escalate(case=case, to_tier=2, actor=alice, reason="needs L2", handoff_note="Tried X and Y")
    case.refresh_from_db()
    assert (case.tier, case.team, case.assignee) == (2, teams[2], None)
    event = CaseEvent.objects.get(case=case, kind=EventKind.ESCALATED)
    assert event.old == {"tier": 1, "team": None, "assignee": "alice"}
    assert event.data["handoff_note"] == "Tried X and Y"
    assert Message.objects.get(case=case, kind=MessageKind.NOTE).body == "Tried X and Y"
    services.case_escalate(case=case, to_tier=1, actor=bob, handoff_note="Back to you: config issue")
    assert CaseEvent.objects.filter(case=case, kind=EventKind.DE_ESCALATED).exists()


def test_agent_escalation_needs_a_handoff_note(case, alice):
    with pytest.raises(ValidationFailed) as exc:
        services.case_escalate(case=case, to_tier=2, actor=alice, handoff_note="  ")
    assert exc.value.code == "handoff_note_required"


def test_merge_moves_messages_and_closes_the_duplicate(customer, alice):
    keep = open_case(subject="Export broken", customer=customer)
    dup = open_case(subject="Export broken again", customer=customer)
    services.case_add_task(case=dup, title="check logs", actor=alice)
    services.case_merge(source=dup, target=keep, actor=alice, reason="duplicate")
    dup.refresh_from_db()
    assert dup.status == "closed" and dup.merged_into == keep
    assert keep.messages.count() == 2 and keep.tasks.count() == 1
    assert EventKind.MERGED in kinds(keep) and EventKind.MERGED_INTO in kinds(dup)
    # A customer writing to the merged case lands on the survivor.
    message = services.case_add_message(case=dup, kind=MessageKind.CUSTOMER, body="any news?")
    assert message.case == keep
    with pytest.raises(ValidationFailed):
        services.case_merge(source=keep, target=keep, actor=alice)


def test_tasks_and_attachments(case, alice):
    task = services.case_add_task(case=case, title="Check logs", actor=alice, owner=alice)
    services.task_complete(task=task, actor=alice)
    task.refresh_from_db()
    assert task.done and task.done_at
    attachment = services.case_add_attachment(
        case=case, filename="../../etc/passwd log.txt", content=b"hello", actor=alice
    )
    assert attachment.filename == "passwd_log.txt" and attachment.size == 5
    assert attachment.file.read() == b"hello"
    assert kinds(case)[-3:] == ["task_added", "task_completed", "attachment_added"]


def test_oversize_attachment_is_refused_and_nothing_written(case, alice, settings):
    settings.CASEWORK = {**settings.CASEWORK, "MAX_ATTACHMENT_BYTES": 1024}
    with pytest.raises(ValidationFailed) as exc:
        services.case_add_attachment(case=case, filename="big.bin", content=b"x" * 2048, actor=alice)
    assert exc.value.code == "too_large"
    assert not case.attachments.exists()


def test_log_call_opens_phone_case_or_adds_to_existing(customer, alice, case):
    message = services.case_log_call(
        customer=customer,
        summary="Customer can't export.\nWalked through steps.",
        direction="inbound",
        duration_seconds=420,
        actor=alice,
    )
    assert message.case.channel == "phone" and message.kind == MessageKind.CALL
    assert message.meta["call"] == {"direction": "inbound", "duration_seconds": 420}
    assert message.case.subject == "Customer can't export."
    services.case_log_call(
        customer=customer,
        case=case,
        summary="Called back",
        direction="outbound",
        duration_seconds=60,
        actor=alice,
    )
    case.refresh_from_db()
    assert case.first_response_at is not None
    assert EventKind.CALL_LOGGED in kinds(case)
    with pytest.raises(ValidationFailed):
        services.case_log_call(
            customer=customer, summary="x", direction="sideways", duration_seconds=1, actor=alice
        )


def test_oversize_description_is_refused_before_anything_is_written(customer, settings):
    settings.CASEWORK = {**settings.CASEWORK, "MAX_MESSAGE_BYTES": 2048}
    count = Case.objects.count()
    with pytest.raises(ValidationFailed) as exc:
        open_case(customer=customer, description="x" * 4096)
    assert exc.value.code == "too_large"
    assert Case.objects.count() == count


def test_crash_mid_open_leaves_no_half_written_case(customer, monkeypatch):
    """If anything fails after the case row is inserted, the transaction leaves no case, message or event."""
    counts = (Case.objects.count(), Message.objects.count(), CaseEvent.objects.count())

    def explode(*args, **kwargs):
        raise IntegrityError("disk full")

    # The events are the last rows written (in one INSERT), so the case and message rows already exist.
    monkeypatch.setattr(CaseEvent.objects, "bulk_create", explode)
    with pytest.raises(IntegrityError):
        open_case(customer=customer)
    assert (Case.objects.count(), Message.objects.count(), CaseEvent.objects.count()) == counts


def test_sentiment_correction_is_recorded(case, alice):
    services.case_set_sentiment(case=case, frustrated=True, actor=alice, reason="angry call")
    event = CaseEvent.objects.get(case=case, kind=EventKind.SENTIMENT_CHANGED)
    assert event.new["frustrated"] is True and event.reason == "angry call"


def test_sentiment_that_changes_no_flag_writes_no_event(case, alice):
    # A new score with the flag unchanged, or an agent setting the flag the case already has: no event.
    services.case_set_sentiment(case=case, frustrated=False, sentiment=0.3, actor="sentiment")
    services.case_set_sentiment(case=case, frustrated=True, actor=alice, reason="angry call")
    services.case_set_sentiment(case=case, frustrated=True, sentiment=-0.9, actor="sentiment")
    services.case_set_sentiment(case=case, frustrated=True, actor=alice, reason="again")
    case.refresh_from_db()
    assert case.sentiment == -0.9
    assert CaseEvent.objects.filter(case=case, kind=EventKind.SENTIMENT_CHANGED).count() == 1


def test_reopen_closed_case_opens_follow_up(case, alice):
    for step in ("in_progress", "resolved", "closed"):
        services.case_transition(case=case, to=step, actor=alice)
    follow_up = services.case_reopen(case=case, actor=alice, reason="same problem")
    assert follow_up.follow_up_of == case and follow_up.pk != case.pk
    with pytest.raises(InvalidTransition):
        services.case_reopen(case=follow_up, actor=alice)


def test_case_open_many_opens_each_case_like_a_single_open(customer):
    other = CustomerFactory()
    openings = [
        services.Opening(subject="First", description="one", customer=customer),
        services.Opening(
            subject="Second",
            description="two",
            customer=other,
            priority="high",
            tags=["vip"],
            attachments=[services.NewAttachment("log.txt", b"boot failed\n")],
        ),
        services.Opening(subject="Third", description="", customer=customer, channel="phone"),
    ]
    opened = services.case_open_many(openings)
    cases = [case for case, _ in opened]
    assert [c.number for c in cases] == list(range(cases[0].number, cases[0].number + 3))
    assert [c.reference for c in cases] == [f"CW-{c.number:06d}" for c in cases]
    first, second, third = cases
    assert opened[0][1].body == "one" and opened[2][1] is None  # no text, no message
    assert second.priority == "high" and list(second.tags.values_list("name", flat=True)) == ["vip"]
    attachment = second.attachments.get()
    assert attachment.filename == "log.txt" and attachment.file.read() == b"boot failed\n"
    # (the reactions then add their own events: sentiment, rules, SLA…)
    assert list(second.events.order_by("id").values_list("kind", flat=True))[:2] == [
        EventKind.OPENED,
        EventKind.ATTACHMENT_ADDED,
    ]
    assert second.events.get(kind=EventKind.ATTACHMENT_ADDED).new["attachment"] == attachment.pk
    assert second.events.get(kind=EventKind.OPENED).data["explicit"] == ["priority"]
    assert third.channel == "phone" and first.last_customer_message_at is not None
    opened_events = CaseEvent.objects.filter(kind=EventKind.OPENED, case__in=cases).order_by("id")
    assert [e.case_id for e in opened_events] == [c.pk for c in cases]  # in order, one each


def test_case_open_many_refuses_all_when_one_opening_is_invalid(customer):
    count = (Case.objects.count(), CaseEvent.objects.count())
    with pytest.raises(ValidationFailed) as exc:
        services.case_open_many(
            [
                services.Opening(subject="Fine", description="ok", customer=customer),
                services.Opening(subject="   ", description="no subject", customer=customer),
            ]
        )
    assert exc.value.code == "required" and (Case.objects.count(), CaseEvent.objects.count()) == count


def test_case_open_many_can_replay_history(customer):
    when = dt.datetime(2024, 2, 29, 9, 30, tzinfo=dt.UTC)
    ((case, message),) = services.case_open_many(
        [services.Opening(subject="Old mail", description="from 2024", customer=customer, at=when)]
    )
    case.refresh_from_db()
    assert case.created_at == message.created_at == when
    assert case.events.get(kind=EventKind.OPENED).created_at == when


def test_case_add_customer_messages_appends_like_one_at_a_time(
    customer, alice, django_assert_max_num_queries
):
    plain = [open_case(customer=customer, subject=f"Plain {n}") for n in range(3)]
    waiting = open_case(customer=customer, subject="Waiting")
    services.case_transition(case=waiting, to=Status.IN_PROGRESS, actor=alice)
    services.case_transition(case=waiting, to=Status.AWAITING_CLIENT, actor=alice)
    closed = open_case(customer=customer, subject="Closed")
    services.case_transition(case=closed, to=Status.CLOSED, actor=alice, reason="spam")
    dup, keep = open_case(customer=customer, subject="Dup"), open_case(customer=customer, subject="Keep")
    services.case_merge(source=dup, target=keep, actor=alice, reason="duplicate")
    targets = [*plain, plain[0], waiting, closed, dup]
    items = [
        services.CustomerMessage(
            case=Case(pk=case.pk), customer=customer, body=f"reply {n}", meta={"matched_by": "references"}
        )
        for n, case in enumerate(targets)
    ]
    messages = services.case_add_customer_messages(items)

    assert [m.body for m in messages] == [f"reply {n}" for n in range(len(targets))]
    # Plain appends, including a second message for the same case, stay on their case.
    assert [m.case_id for m in messages[:4]] == [c.pk for c in [*plain, plain[0]]]
    assert plain[0].messages.filter(kind=MessageKind.CUSTOMER).count() == 3
    for case in plain:
        case.refresh_from_db()
        event = case.events.filter(kind=EventKind.MESSAGE_ADDED).latest("id")
        assert event.data == {"matched_by": "references"} and event.message.case_id == case.pk
        assert case.last_customer_message_at == event.created_at
    # The others get what case_add_message gives them: resume, follow-up, redirect to the survivor.
    waiting.refresh_from_db()
    assert waiting.status == Status.IN_PROGRESS and messages[4].case_id == waiting.pk
    assert messages[5].case.follow_up_of_id == closed.pk
    assert messages[6].case_id == keep.pk and messages[6].meta["redirected_from"] == dup.reference
    # The caller's case objects carry the committed values.
    assert items[1].case.last_customer_message_at is not None


def test_case_add_customer_messages_writes_plain_appends_in_a_fixed_number_of_statements(
    customer, django_assert_max_num_queries
):
    cases = [open_case(customer=customer, subject=f"Case {n}") for n in range(30)]
    items = [services.CustomerMessage(case=case, customer=customer, body="thanks") for case in cases]
    # The door's own cost, reactions aside: savepoint, lock, message insert, case update, event insert,
    # release; plus the search index upkeep that always runs in the write (the cases' messages and tags
    # read, one document upsert), whatever the batch size. (test_pipeline.py counts every reaction.)
    with pipeline.only(), django_assert_max_num_queries(9):
        services.case_add_customer_messages(items)
    assert Message.objects.filter(body="thanks").count() == 30
