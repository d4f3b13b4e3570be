"""The reaction pipeline: stages in order, rounds until nothing is new, failures recorded and undone, a
database error rolling the whole write back — and the real stages deciding inside the write."""

from __future__ import annotations

import pytest
from django.db import DatabaseError

from casework.cases import pipeline, services
from casework.cases.models import Case, CaseEvent, EventKind, Message
from casework.cases.pipeline import Stage
from casework.notify.models import Outbox
from casework.sla.models import CaseClock
from casework.testing.factories import CustomerFactory, open_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def stages(monkeypatch):
    """Replace the pipeline's stages with test ones: `stages(("name", kinds, react), …)`."""

    def install(*specs):
        fakes = []
        for name, kinds, react in specs:
            stage = Stage(name, f"test.{name}", frozenset(kinds))
            stage.__dict__["react"] = react  # the cached_property's slot: no import
            fakes.append(stage)
        monkeypatch.setattr(pipeline, "STAGES", tuple(fakes))

    return install


def test_stages_run_in_order_and_see_later_stages_events_in_the_next_round(stages, customer):
    seen = []

    def first(work, events):
        seen.append(("first", [e.kind for e in events]))

    def second(work, events):
        seen.append(("second", [e.kind for e in events]))
        if any(e.kind == EventKind.OPENED for e in events):
            services.case_set_priority(case=work.case(events[0].case_id), priority="high", actor="second")

    stages(
        ("first", {EventKind.OPENED, EventKind.PRIORITY_CHANGED}, first),
        ("second", {EventKind.OPENED, EventKind.PRIORITY_CHANGED}, second),
    )
    case = open_case(customer=customer)
    assert seen == [
        ("first", ["opened"]),
        ("second", ["opened"]),
        ("first", ["priority_changed"]),  # next round: an earlier stage sees a later stage's event
        ("second", ["priority_changed"]),  # and so does the stage that made it
    ]
    case.refresh_from_db()
    assert case.priority == "high"  # written by the same write's flush


def test_a_failing_stage_is_undone_and_recorded_and_the_write_commits(stages, customer):
    def tidy(work, events):
        case = work.case(events[0].case_id)
        services.case_set_priority(case=case, priority="low", actor="tidy")

    def broken(work, events):
        case = work.case(events[0].case_id)
        services.case_set_priority(case=case, priority="critical", actor="broken")
        services.case_add_message(case=case, kind="note", body="half done", actor="broken")
        first = events[0].message
        first.subject = "rewritten by a broken step"
        work.save_fields(first, "subject")
        raise KeyError("boom")

    stages(("tidy", {EventKind.OPENED}, tidy), ("broken", {EventKind.OPENED}, broken))
    case = open_case(customer=customer)
    case.refresh_from_db()
    # The broken stage's change and its eagerly written note are gone; the tidy stage's change stays.
    assert case.priority == "low"
    assert not Message.objects.filter(body="half done").exists()
    assert not Message.objects.filter(subject="rewritten by a broken step").exists()  # its row update too
    note = CaseEvent.objects.get(case=case, kind=EventKind.NOTE)
    assert note.data["automation_failure"] == {"stage": "broken", "error": "KeyError: 'boom'"}
    assert "Automation step 'broken' failed" in note.reason and "casework doctor" in note.reason
    assert not CaseEvent.objects.filter(case=case, actor_label="broken").exists()


def test_a_database_error_rolls_the_whole_write_back(stages, customer):
    def broken(work, events):
        raise DatabaseError("disk full")

    stages(("broken", {EventKind.OPENED}, broken))
    before = (Case.objects.count(), Message.objects.count(), CaseEvent.objects.count())
    with pytest.raises(DatabaseError):
        open_case(customer=customer)
    assert (Case.objects.count(), Message.objects.count(), CaseEvent.objects.count()) == before


def test_reactions_that_keep_triggering_each_other_stop_and_say_so(stages, customer):
    def flip(work, events):
        case = work.case(events[0].case_id)
        services.case_set_priority(
            case=case, priority="high" if case.priority != "high" else "low", actor="flip"
        )

    stages(("flip", {EventKind.OPENED, EventKind.PRIORITY_CHANGED}, flip))
    case = open_case(customer=customer)
    changes = CaseEvent.objects.filter(case=case, kind=EventKind.PRIORITY_CHANGED).count()
    assert changes == pipeline.MAX_ROUNDS
    note = CaseEvent.objects.get(case=case, kind=EventKind.NOTE)
    assert note.data["automation_failure"]["stage"] == "pipeline" and "rounds" in note.reason


def test_only_narrows_the_stages_for_a_block(customer):
    with pipeline.only("sla"):
        case = open_case(customer=customer, subject="System down", description="Outage for everyone")
    assert case.status == "new" and case.priority == "medium"  # no triage
    assert CaseClock.objects.filter(case=case).count() == 2
    with pytest.raises(ValueError), pipeline.only("nonsense"):
        pass


# --------------------------------------------------------------------------------------------------
# the real stages, in the write
# --------------------------------------------------------------------------------------------------


def test_an_opened_case_is_triaged_routed_and_clocked_before_the_open_returns(
    alice, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(email="sam@example.test")
    with django_capture_on_commit_callbacks() as callbacks:
        case = open_case(
            customer=customer, subject="Can't log in", description="The password reset link fails."
        )
    assert callbacks == []  # nothing is left for after the commit
    # The caller's instance already carries what the reactions decided.
    assert (case.status, case.category.slug, case.assignee) == ("triaged", "authentication", alice)
    kinds = list(case.events.order_by("id").values_list("kind", flat=True))
    assert kinds[0] == "opened" and {"rule_applied", "status_changed", "assigned", "sla"} <= set(kinds)
    assigned = case.events.get(kind="assigned")
    assert assigned.data["explanation"] and assigned.data["routing"] == "auto_assign"
    assert case.events.get(kind="status_changed").reason.startswith("Classified by rules")
    assert CaseClock.objects.filter(case=case).count() == 2
    # Opened with no team, given L1's team, then owned by alice: three stretches, one write.
    history = case.tier_history.order_by("id").values_list("entered_by", flat=True)
    assert list(history) == ["opened", "team_changed", "assigned"]


def test_a_case_no_rule_matches_says_why_it_waits(customer):
    case = open_case(customer=CustomerFactory(), subject="Hello", description="Just saying hi.")
    assert case.status == "new"
    note = case.events.get(kind="note", data__triage="no_rule_matched")
    assert "waits in New" in note.reason


def test_a_public_reply_is_its_email_in_the_same_write(case, alice):
    reply = services.case_add_message(case=case, kind="reply", body="Fixed in 2.1", actor=alice)
    row = Outbox.objects.get(message=reply)
    reply.refresh_from_db()
    assert row.dedup_key == f"reply:{reply.pk}" and row.header_message_id == reply.message_id
    assert reply.meta["delivery"]["state"] == "queued"


def test_one_write_decides_a_whole_batch_of_cases_with_about_the_statements_of_a_few(
    alice, bob, django_assert_max_num_queries
):
    def batch(n, tag):
        return [
            services.Opening(
                subject=f"Can't log in {tag}{i}",
                description="The password reset link fails.",
                customer=CustomerFactory(),
            )
            for i in range(n)
        ]

    services.case_open_many(batch(2, "warm"))  # configuration caches
    few, many = batch(3, "a"), batch(40, "b")
    # 20 before notifications; the notify stage adds 4: "assigned" to alice in the app and by email
    # (her preferences and the suppression list read once per write, one insert per kind of row).
    # +1: the search documents' upsert (from the write's own messages: no read); +1: the
    # duplicate-detection task row (insights); -1: the assignee is built from the row routing read
    # under the profiles' locks, not read again. 24 today (bench/bench_statements.py: every one).
    with django_assert_max_num_queries(24) as counted:
        services.case_open_many(few)
    # Shared reads once; each kind of row one statement — Django splits the widest inserts for
    # SQLite's 999-parameter limit, and cases that ended differently (some over capacity and left in the
    # queue) are updated as separate groups, so a few more, not forty times more.
    with django_assert_max_num_queries(len(counted.captured_queries) + 10):
        opened = services.case_open_many(many)
    assert all(case.status == "triaged" for case, _ in opened)
    assert sum(1 for case, _ in opened if case.assignee_id) == 20 - 3 - 2  # alice's capacity
