"""Duplicates at intake: a durable task per opening write, suggestions with reasons, one-click merge that
keeps both references and tells the customer, "not a duplicate" remembered."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from casework.cases.models import Case, CaseEvent, EventKind
from casework.insights import duplicates
from casework.insights.models import DuplicateSuggestion, SuggestionState
from casework.notify.models import Outbox
from casework.testing.factories import CustomerFactory, open_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def original(customer):
    return open_case(
        subject="CSV export crashes with error 500",
        description="Exporting the monthly report to CSV fails with error 500 since this morning.",
        customer=customer,
    )


@pytest.fixture
def repeat(customer, original):
    return open_case(
        subject="Export to CSV fails (error 500)",
        description="The CSV export of my monthly report gives an error 500 again.",
        customer=customer,
    )


def test_opening_a_case_writes_a_durable_task_row_in_the_same_write(customer):
    before = DBTaskResult.objects.filter(task_path__endswith="find_duplicates").count()
    case = open_case(subject="Login broken", description="cannot log in", customer=customer)
    rows = DBTaskResult.objects.filter(task_path__endswith="find_duplicates")
    assert rows.count() == before + 1
    assert rows.order_by("-enqueued_at").first().args_kwargs["args"] == [[case.pk]]


def test_the_task_suggests_the_likely_original_and_explains_it(original, repeat):
    assert duplicates.find_duplicates.call([repeat.pk]).startswith("1 suggestion")
    suggestion = DuplicateSuggestion.objects.get(case=repeat)
    assert suggestion.candidate == original
    assert suggestion.score >= 0.35
    assert "export" in suggestion.signals["shared"]
    note = CaseEvent.objects.filter(
        case=repeat, kind=EventKind.NOTE, data__insights__has_key="duplicates"
    ).get()
    assert f"Possible duplicate of {original.reference}" in note.reason
    # running again proposes nothing new
    assert duplicates.suggest_for(repeat.pk) == 0


def test_unrelated_cases_are_not_suggested(customer, original):
    other = open_case(
        subject="Invoice address wrong", description="Our invoice shows an old address.", customer=customer
    )
    duplicates.suggest_for(other.pk)
    assert not DuplicateSuggestion.objects.filter(case=other).exists()


def test_recent_cases_of_other_customers_are_candidates_too(original):
    stranger = open_case(
        subject="CSV export crashes with error 500 for us too",
        description="Exporting the monthly report to CSV fails with error 500.",
        customer=CustomerFactory(),
    )
    duplicates.suggest_for(stranger.pk)
    assert DuplicateSuggestion.objects.get(case=stranger).candidate == original


def test_merge_from_the_case_page_is_one_click_keeps_both_references_and_tells_the_customer(
    client, alice, original, repeat
):
    duplicates.suggest_for(repeat.pk)
    client.force_login(alice)
    page = client.get(reverse("web:case", args=[repeat.reference]))
    assert b"duplicate-suggestion" in page.content and original.reference.encode() in page.content
    suggestion = DuplicateSuggestion.objects.get(case=repeat)
    response = client.post(reverse("insights:duplicate_merge", args=[suggestion.pk]))
    assert response.status_code == 302 and original.reference in response["Location"]
    repeat.refresh_from_db()
    assert repeat.merged_into == original and repeat.status == "closed"
    suggestion.refresh_from_db()
    assert suggestion.state == SuggestionState.MERGED and suggestion.decided_by == alice
    # both references still resolve
    assert client.get(reverse("web:case", args=[repeat.reference])).status_code == 200
    assert client.get(reverse("web:case", args=[original.reference])).status_code == 200
    mail = Outbox.objects.get(kind="duplicate_merged")
    assert mail.to == [repeat.customer.email]
    assert repeat.reference in mail.body_text and original.reference in mail.body_text
    # a second click is refused, nothing is sent twice
    again = client.post(reverse("insights:duplicate_merge", args=[suggestion.pk]))
    assert again.status_code == 302
    assert Outbox.objects.filter(kind="duplicate_merged").count() == 1


def test_merge_is_atomic_when_it_is_refused(alice, original, repeat):
    from casework.cases.services import case_transition
    from casework.core.errors import ApplicationError
    from casework.insights import services

    duplicates.suggest_for(repeat.pk)
    suggestion = DuplicateSuggestion.objects.get(case=repeat)
    # both cases closed: the merge door refuses, and nothing of the accept is written
    for c in (original, repeat):
        case_transition(case=c, to="closed", actor=alice, reason="spam")
    with pytest.raises(ApplicationError):
        services.duplicate_merge(suggestion=suggestion, actor=alice)
    suggestion.refresh_from_db()
    assert suggestion.state == SuggestionState.PROPOSED
    assert not Outbox.objects.filter(kind="duplicate_merged").exists()
    assert not Case.objects.filter(merged_into__isnull=False).exists()


def test_not_a_duplicate_is_remembered_either_way_round(client, alice, customer, original, repeat):
    duplicates.suggest_for(repeat.pk)
    suggestion = DuplicateSuggestion.objects.get(case=repeat)
    client.force_login(alice)
    client.post(reverse("insights:duplicate_dismiss", args=[suggestion.pk]))
    suggestion.refresh_from_db()
    assert suggestion.state == SuggestionState.DISMISSED
    assert b"duplicate-suggestion" not in client.get(reverse("web:case", args=[repeat.reference])).content
    assert duplicates.suggest_for(repeat.pk) == 0
    assert duplicates.suggest_for(original.pk) == 0  # the pair, the other way round
    assert CaseEvent.objects.filter(case=repeat, reason__startswith="Not a duplicate").exists()


def test_api_lists_merges_and_dismisses(api, original, repeat):
    duplicates.suggest_for(repeat.pk)
    listed = api.get(f"/api/v1/cases/{repeat.reference}/duplicates").json()
    assert listed[0]["candidate"] == original.reference and listed[0]["why"]
    merged = api.post(f"/api/v1/duplicates/{listed[0]['id']}/merge")
    assert merged.status_code == 200 and merged.json() == {"merged_into": original.reference}
    again = api.post(f"/api/v1/duplicates/{listed[0]['id']}/merge")
    assert again.status_code == 409 and again.json()["error"]["code"] == "suggestion_decided"
    assert api.post("/api/v1/duplicates/999999/dismiss").json()["error"]["code"] == "suggestion_not_found"
