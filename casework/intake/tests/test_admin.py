"""The quarantine admin: reason and an escaped preview, release and discard actions; mailbox admin."""

from __future__ import annotations

import pytest

from casework.cases.models import Case
from casework.intake.models import Mailbox, Quarantine, QuarantineState
from casework.intake.services import ingest_raw
from casework.intake.tests.mailbuilder import build_mail

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(settings):
    settings.CASEWORK = {**settings.CASEWORK, "INTAKE_RATE_LIMIT": 1}
    ingest_raw(build_mail(message_id="<ok@example.com>"), source="pipe")
    text = "Click <script>alert(1)</script> here\n"
    ingest_raw(build_mail(message_id="<storm@example.com>", text=text), source="pipe")
    return Quarantine.objects.get()


def test_change_page_shows_reason_and_an_escaped_preview(client, carol, held):
    client.force_login(carol)
    page = client.get(f"/admin/intake/quarantine/{held.pk}/change/").content.decode()
    assert "rate_limited" in page or "Sender rate limit" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert client.get("/admin/intake/quarantine/").status_code == 200
    assert client.get("/admin/intake/inboundmail/").status_code == 200


def test_release_action_ingests_and_discard_action_closes(client, carol, held):
    client.force_login(carol)
    response = client.post(
        "/admin/intake/quarantine/", {"action": "release", "_selected_action": [held.pk]}, follow=True
    )
    assert response.status_code == 200 and Case.objects.count() == 2
    assert Quarantine.objects.get().state == QuarantineState.RELEASED
    ingest_raw(build_mail(message_id="<storm2@example.com>"), source="pipe")
    second = Quarantine.objects.get(state=QuarantineState.HELD)
    client.post("/admin/intake/quarantine/", {"action": "discard", "_selected_action": [second.pk]})
    assert Quarantine.objects.get(pk=second.pk).state == QuarantineState.DISCARDED


def test_mailbox_admin_names_the_password_variable(client, carol):
    client.force_login(carol)
    box = Mailbox.objects.create(name="sales", host="imap.example.com", username="sales@example.com")
    page = client.get(f"/admin/intake/mailbox/{box.pk}/change/").content.decode()
    assert "CASEWORK_MAILBOX_SALES_PASSWORD" in page
