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
