"""The unit of work: one lock per case per write, changes held in memory and written once, undone
exactly when a nested door refuses — and the configuration caches it reads through."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from casework.cases import pipeline, services
from casework.cases.models import Case, CaseEvent, EventKind
from casework.cases.services.unit_of_work import active, current, unit_of_work
from casework.core import config
from casework.core.errors import ValidationFailed
from casework.testing.factories import open_case
from casework.triage.models import Rule

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def doors_only():
    with pipeline.only():
        yield


def test_a_write_locks_each_case_once_and_writes_its_changes_once(case, alice, django_assert_num_queries):
    # lock, then one UPDATE of the case with every field and one INSERT of all three events
    # + savepoint and release (the test's own transaction)
    with django_assert_num_queries(1 + 2 + 2), unit_of_work("three changes"):
        services.case_set_priority(case=case, priority="high", actor=alice)
        services.case_assign(case=case, assignee=alice, actor=alice)
        services.case_transition(case=case, to="in_progress", actor=alice)
    case.refresh_from_db()
    assert (case.priority, case.assignee, case.status) == ("high", alice, "in_progress")
    kinds = list(case.events.order_by("id").values_list("kind", flat=True))
    assert kinds[-3:] == ["priority_changed", "assigned", "status_changed"]


def test_a_refused_nested_door_leaves_nothing_of_itself(case, alice):
    """A door refuses before it writes anything to the database (the contract every door keeps); what
    the refused block changed in memory is undone from the undo log."""
    with unit_of_work("partly refused") as work:
        services.case_set_priority(case=case, priority="high", actor=alice)
        with pytest.raises(ValidationFailed), work.savepoint():
            services.case_set_category(case=case, category="billing", actor=alice)
            services.case_escalate(case=case, to_tier=1, actor=alice, handoff_note="x")  # already L1
        locked = work.cases[case.pk]
        assert locked.category_id is None and locked.tier == 1
        assert [e.kind for e in work.events] == [EventKind.PRIORITY_CHANGED]
    case.refresh_from_db()
    assert (case.priority, case.category, case.tier) == ("high", None, 1)
    assert not case.messages.filter(meta__handoff=True).exists()


def test_the_callers_instance_sees_what_the_reactions_decided(customer, alice, teams):
    with pipeline.only("triage", "routing"):
        case = open_case(customer=customer, subject="Can't log in", description="Password reset fails")
        stale = Case.objects.get(pk=case.pk)
        services.case_transition(case=stale, to="in_progress", actor=alice)
    assert stale.status == "in_progress" and stale.assignee == alice  # routed before it was taken


def test_original_is_the_stored_value_until_the_flush(case, alice):
    with unit_of_work("originals") as work:
        locked = work.lock(case)
        services.case_set_priority(case=case, priority="critical", actor=alice)
        services.case_set_priority(case=case, priority="low", actor=alice)
        assert work.original(locked, "priority") == "medium" and locked.priority == "low"
        assert work.original(locked, "status") == locked.status  # unchanged: the current value


def test_outside_a_write_there_is_no_work_and_door_changes_need_one(case):
    assert current() is None
    with pytest.raises(RuntimeError, match="door function"):
        active()
    with transaction.atomic():
        services.case_set_tags(case=case, add=["vip"], actor="test")
        assert current() is None  # the door's write ended with it, inside the caller's transaction
    assert list(case.tags.values_list("name", flat=True)) == ["vip"]


def test_events_are_saved_in_the_order_they_were_recorded(case, alice):
    with unit_of_work("order"):
        for priority in ("high", "low", "critical"):
            services.case_set_priority(case=case, priority=priority, actor=alice)
    changes = CaseEvent.objects.filter(case=case, kind=EventKind.PRIORITY_CHANGED).order_by("id")
    assert [e.new for e in changes] == ["high", "low", "critical"]


# --------------------------------------------------------------------------------------------------
# configuration caches
# --------------------------------------------------------------------------------------------------


def test_a_cached_configuration_is_read_again_after_any_edit_and_only_then():
    config.clear()
    loads = []

    def load():
        loads.append(1)
        return list(Rule.objects.filter(enabled=True).values_list("pk", flat=True))

    first = config.cached("test-rules", load)
    assert config.cached("test-rules", load) == first and len(loads) == 1
    rule = Rule.objects.get(key="outage")
    Rule.objects.filter(pk=rule.pk).update(enabled=False)  # a queryset update: no signal
    assert rule.pk not in config.cached("test-rules", load) and len(loads) == 2
    # A rule's match counters are statistics, not configuration: no reload.
    Rule.objects.filter(pk=rule.pk).update(matched_count=5)
    config.cached("test-rules", load)
    assert len(loads) == 2


def test_a_rolled_back_edit_leaves_no_stale_cache():
    config.clear()
    before = config.version()
    try:
        with transaction.atomic():
            Rule.objects.filter(key="outage").update(enabled=False)
            inside = config.version()
            assert inside != before
            config.cached("test-enabled", lambda: Rule.objects.get(key="outage").enabled)
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert config.version() == before
    Rule.objects.filter(key="question").update(order=11)  # another edit: a value never seen before
    assert config.version() not in (before, inside)
    assert config.cached("test-enabled", lambda: Rule.objects.get(key="outage").enabled) is True


def test_the_version_is_read_once_per_write(case, alice, django_assert_num_queries):
    with unit_of_work("reads") as work:
        work.lock(case)
        with django_assert_num_queries(1):
            config.version()
            config.version()
    assert connection.vendor in ("sqlite", "postgresql")


def test_a_pinned_read_asks_the_version_once_and_a_write_inside_still_sees_its_change(
    django_assert_num_queries,
):
    from casework.cases.models import CustomFieldDefinition
    from casework.cases.selectors import custom_field_definitions

    config.clear()
    with django_assert_num_queries(1):  # pinning reads the version
        pinned = config.pinned()
        pinned.__enter__()
    try:
        with django_assert_num_queries(1):  # the definitions, once; no more version reads
            custom_field_definitions()
            custom_field_definitions()
            with config.pinned():  # nested: the outer reading holds
                config.version()
        outer = config.version()
        with unit_of_work("adds a field"):
            CustomFieldDefinition.objects.create(key="product", label="Product")
            assert config.version() != outer  # the write reads its own version, not the pinned one
            assert [d.key for d in custom_field_definitions()] == ["product"]
        assert config.version() == outer  # the rest of the read keeps its reading
    finally:
        pinned.__exit__(None, None, None)
    with django_assert_num_queries(1):  # unpinned: the version moved, the cache is read once more
        assert [d.key for d in custom_field_definitions()] == ["product"]


def test_pickers_follow_edits_of_people_but_not_logins(alice, django_assert_num_queries):
    """Agent pickers are cached per configuration version: a new name shows at once, a login does not
    throw the caches away (cases migration 0014 watches only the columns the pickers show)."""
    from django.utils import timezone

    from casework.web.forms import agent_choices

    config.clear()
    agent_choices()
    before = config.version()
    type(alice).objects.filter(pk=alice.pk).update(last_login=timezone.now())
    assert config.version() == before
    type(alice).objects.filter(pk=alice.pk).update(first_name="Alicia", last_name="Ames")
    assert ("alice", "Alicia Ames") in agent_choices()


def test_bulk_notes_lock_the_case_rows_without_their_relations(case, django_assert_num_queries):
    """`related=False` (the clustering job's 2,000-note batches): one locking read of the case rows, no
    joined organisation/customer objects built; the notes are written like any other event."""
    with unit_of_work("notes"):
        with django_assert_num_queries(1):
            services.case_record_system_events(
                events=[services.SystemEvent(case=case, kind=EventKind.NOTE, reason="grouped")],
                actor="insights",
                related=False,
            )
        held = active().cases[case.pk]
        assert "customer" not in held._state.fields_cache
    assert case.events.filter(kind=EventKind.NOTE, reason="grouped").exists()
