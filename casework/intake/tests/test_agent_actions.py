"""Agents fix threading: split a message into a new case, or move it to another case (service + page)."""

from __future__ import annotations

import pytest

from casework.cases import services as case_services
from casework.cases.models import Case, CaseEvent, Message
from casework.core.errors import ValidationFailed
from casework.intake.services import ingest_raw
from casework.intake.tests.mailbuilder import build_mail

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _alice_works_every_team(manager_alice):
    """The standard test case lands in L2; alice acts on it as a manager."""


def _second_message(case) -> Message:
    raw = build_mail(
        sender=case.customer.email,
        subject=f"Re: [{case.reference}] Export",
        text="Also, unrelated: my invoice is wrong.\n",
        attachments=[("invoice.pdf", "application/pdf", b"%PDF-1.4")],
    )
    result = ingest_raw(raw, source="pipe")
    assert result.case_reference == case.reference
    return Message.objects.get(message_id="m1@example.com")


def test_split_moves_the_message_and_its_attachment_to_a_new_case(case, alice):
    message = _second_message(case)
    new_case = case_services.message_split_to_new_case(message=message, actor=alice, reason="invoice topic")
    message.refresh_from_db()
    assert message.case == new_case and new_case.customer == case.customer
    assert new_case.attachments.get().filename == "invoice.pdf" and not case.attachments.exists()
    assert message.meta["matched_by"] == "manual" and case.reference in message.meta["evidence"]
    assert (
        CaseEvent.objects.get(case=case, kind="note", data__has_key="split_to").data["split_to"]
        == new_case.reference
    )
    assert (
        CaseEvent.objects.get(case=new_case, kind="note", data__has_key="split_from").data["split_from"]
        == case.reference
    )
    assert new_case.messages.count() == 1


def test_split_refuses_the_only_message(case, alice):
    with pytest.raises(ValidationFailed):
        case_services.message_split_to_new_case(message=case.messages.get(), actor=alice)


def test_move_to_another_case_writes_both_timelines(case, alice, customer):
    message = _second_message(case)
    other = case_services.case_open(subject="Invoice wrong", description="Invoice 42", customer=customer)
    case_services.message_move(message=message, target=other, actor=alice, reason="belongs there")
    message.refresh_from_db()
    assert message.case == other and other.attachments.count() == 1
    assert (
        CaseEvent.objects.get(case=case, kind="note", data__has_key="moved_to").data["moved_to"]
        == other.reference
    )
    assert (
        CaseEvent.objects.get(case=other, kind="note", data__has_key="moved_from").data["moved_from"]
        == case.reference
    )


def test_buttons_on_the_case_page_split_and_move(client, alice, case, customer):
    client.force_login(alice)
    message = _second_message(case)
    page = client.get(f"/cases/{case.reference}/").content.decode()
    assert f'data-testid="split-{message.pk}"' in page and f'data-testid="move-{message.pk}"' in page
    response = client.post(f"/cases/{case.reference}/messages/{message.pk}/split", {"reason": "x"})
    new_case = Case.objects.exclude(pk=case.pk).get()
    assert response.status_code == 302 and response["Location"].endswith(f"/cases/{new_case.reference}/")
    response = client.post(
        f"/cases/{new_case.reference}/messages/{message.pk}/move", {"target": case.reference}
    )
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.case == case
    # Someone else's message id under this case: 404, not a move.
    assert (
        client.post(f"/cases/{new_case.reference}/messages/{message.pk}/move", {"target": "x"}).status_code
        == 404
    )
