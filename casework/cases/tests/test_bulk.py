"""Bulk changes through the doors: one event per change per case, refusals skipped with the reason."""

import pytest

from casework.cases import services
from casework.cases.models import CaseEvent
from casework.core.errors import ValidationFailed
from casework.testing.factories import open_case

pytestmark = pytest.mark.django_db


def test_bulk_assign_priority_status_tags_write_one_event_per_change_per_case(alice, bob, teams, customer):
    cases = [open_case(subject=f"Printer {i}", customer=customer) for i in range(3)]
    services.case_transition(case=cases[2], to="in_progress", actor=alice)
    services.case_transition(case=cases[2], to="resolved", actor=alice)
    services.case_transition(case=cases[2], to="closed", actor=alice)
    before = {c.pk: CaseEvent.objects.filter(case=c).count() for c in cases}
    result = services.cases_bulk_update(
        cases=cases, actor=alice, assignee=bob, priority="critical", status="in_progress", add_tags=["vat"]
    )
    # A closed case takes no new owner or status the status table allows: that case is skipped whole.
    assert result.skipped == {cases[2].reference: result.skipped[cases[2].reference]}
    assert result.skipped[cases[2].reference]
    assert sorted(result.changed) == sorted(c.reference for c in cases[:2])
    for case in cases[:2]:
        case.refresh_from_db()
        assert (case.assignee, case.priority, case.status) == (bob, "critical", "in_progress")
        assert list(case.tags.values_list("name", flat=True)) == ["vat"]
        mine = CaseEvent.objects.filter(case=case, actor=alice).order_by("id")
        kinds = [e.kind for e in mine][-4:]
        assert kinds == ["assigned", "priority_changed", "tags_changed", "status_changed"]
    skipped = cases[2]
    skipped.refresh_from_db()
    assert skipped.assignee is None and skipped.status == "closed"
    assert CaseEvent.objects.filter(case=skipped).count() == before[skipped.pk]
    assert "2 cases" in result.summary() and "1 skipped" in result.summary()


def test_bulk_needs_cases_and_a_change(alice, case):
    with pytest.raises(ValidationFailed, match="Select at least one"):
        services.cases_bulk_update(cases=[], actor=alice, priority="low")
    with pytest.raises(ValidationFailed, match="Choose something"):
        services.cases_bulk_update(cases=[case], actor=alice)
    with pytest.raises(ValidationFailed):
        services.cases_bulk_update(cases=[case], actor=alice, priority="urgent!")


def test_bulk_that_changes_nothing_writes_nothing(alice, case):
    services.case_set_priority(case=case, priority="low", actor=alice)
    count = CaseEvent.objects.filter(case=case).count()
    result = services.cases_bulk_update(cases=[case], actor=alice, priority="low")
    assert result.unchanged == [case.reference] and not result.changed
    assert CaseEvent.objects.filter(case=case).count() == count


def _merge_statements(target, dups, alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        result = services.cases_bulk_merge(cases=dups, target=target, actor=alice, reason="same outage")
    return result, len(queries.captured_queries)


def test_bulk_merge_moves_everything_skips_refusals_and_costs_the_same_for_3_or_12(alice, customer):
    from casework.cases.models import Case, Message

    target = open_case(subject="Checkout down", customer=customer)
    dups = [open_case(subject=f"Checkout down again {i}", customer=customer) for i in range(3)]
    services.case_set_tags(case=dups[0], add=["checkout"], actor=alice)
    services.case_add_message(case=dups[1], body="Still down here", customer=customer, kind="customer")
    already = open_case(subject="Checkout (old duplicate)", customer=customer)
    services.case_merge(source=already, target=target, actor=alice)
    result, small = _merge_statements(target, [*dups, already, target], alice)
    # The case merged before is skipped with the door's reason; the target itself is not a duplicate.
    assert result.skipped == {already.reference: f"{already.reference} was already merged"}
    assert result.changed == [c.reference for c in dups]
    target.refresh_from_db()
    assert set(target.tags.values_list("name", flat=True)) >= {"checkout"}
    for dup in dups:
        dup.refresh_from_db()
        assert (dup.status, dup.merged_into_id) == ("closed", target.pk)
        assert not Message.objects.filter(case=dup).exists()
        kinds = list(CaseEvent.objects.filter(case=dup, actor=alice).values_list("kind", flat=True))
        assert kinds.count("status_changed") == 1 and kinds.count("merged_into") == 1
    merged = CaseEvent.objects.filter(case=target, kind="merged").order_by("id")
    by_ref = {e.new["reference"]: e.new["messages"] for e in merged}
    # Each "merged" line counts that duplicate's own messages (dups[1] had the customer's extra one).
    assert by_ref[dups[1].reference] == by_ref[dups[0].reference] + 1
    # Statements do not grow with the number of duplicates (they did: three UPDATEs and a tag read each).
    more = [open_case(subject=f"Checkout down {i}", customer=customer) for i in range(12)]
    target2 = open_case(subject="Checkout down (main)", customer=customer)
    result, large = _merge_statements(target2, more, alice)
    assert len(result.changed) == 12
    assert large <= small + 2, (small, large)
    assert Case.objects.filter(merged_into=target2).count() == 12


def test_bulk_merge_into_a_closed_case_skips_every_duplicate(alice, customer):
    target = open_case(subject="Closed one", customer=customer)
    for status in ("in_progress", "resolved", "closed"):
        services.case_transition(case=target, to=status, actor=alice)
    dup = open_case(subject="Dup", customer=customer)
    result = services.cases_bulk_merge(cases=[dup], target=target, actor=alice)
    assert result.changed == [] and "cannot receive a merge" in result.skipped[dup.reference]
    dup.refresh_from_db()
    assert dup.status != "closed" and dup.merged_into_id is None
