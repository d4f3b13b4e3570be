"""The managers' privacy page: preview, holds and erasure through the doors."""

import pytest
from django.urls import reverse

from casework.cases.models import Case
from casework.people.models import Customer
from casework.privacy.models import LegalHold
from casework.testing.factories import CustomerFactory, make_agent, open_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_client(client):
    client.force_login(make_agent("mona", role="manager"))
    return client


def test_agents_are_refused(client):
    client.force_login(make_agent("arno"))
    assert client.get(reverse("privacy:page")).status_code == 403


def test_hold_then_erase_with_preview(manager_client):
    customer = CustomerFactory(email="gone@example.test", name="Gwen Gone")
    case = open_case(customer=customer)
    page = manager_client.get(reverse("privacy:page"))
    assert page.status_code == 200 and b"No active retention policy" in page.content

    manager_client.post(reverse("privacy:hold"), {"reference": case.reference, "reason": "Audit"})
    assert LegalHold.objects.filter(case=case, released_at=None).exists()
    preview = manager_client.post(reverse("privacy:erase"), {"email": "gone@example.test", "reason": "req"})
    assert b"Blocked by legal hold" in preview.content and case.reference.encode() in preview.content

    manager_client.post(
        reverse("privacy:hold"), {"action": "release", "reference": case.reference, "reason": "ok"}
    )
    preview = manager_client.post(reverse("privacy:erase"), {"email": "gone@example.test", "reason": "req"})
    assert b"Erase gone@example.test now" in preview.content
    assert Customer.objects.filter(email="gone@example.test").exists()  # the preview changed nothing
    done = manager_client.post(
        reverse("privacy:erase"),
        {"email": "gone@example.test", "reason": "req", "confirm": "yes"},
        follow=True,
    )
    assert b"Erased: 1 case(s)" in done.content
    assert not Customer.objects.filter(email="gone@example.test").exists()
    assert Case.objects.get(pk=case.pk).subject == "[anonymised]"


def test_bad_input_is_a_clear_message(manager_client):
    answer = manager_client.post(reverse("privacy:hold"), {"reason": "x"}, follow=True)
    assert b"Name a case reference or choose an organisation" in answer.content
    answer = manager_client.post(
        reverse("privacy:erase"), {"email": "nobody@example.test", "reason": "x"}, follow=True
    )
    assert b"No customer with the address" in answer.content
