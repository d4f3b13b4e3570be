"""The public web form: case creation through the door with channel `web`, spam defences that keep what
was typed, frame headers on the form's routes only."""

from __future__ import annotations

import time

import pytest
import time_machine
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from casework.cases.models import Case, CaseEvent, EventKind
from casework.portal.forms import TIME_TRAP_SALT, time_stamp

pytestmark = pytest.mark.django_db


def stamp(seconds_ago: float = 60) -> str:
    return signing.dumps(time.time() - seconds_ago, salt=TIME_TRAP_SALT)


def form_data(**overrides):
    data = {
        "name": "Nora North",
        "email": "nora@northwind.test",
        "subject": "Export fails",
        "description": "The CSV export ends with error 500.",
        "category": "bug",
        "website": "",
        "started": stamp(),
    }
    data.update(overrides)
    return data


def test_form_opens_a_web_case_and_shows_the_reference(client):
    upload = SimpleUploadedFile("error.txt", b"HTTP 500", content_type="text/plain")
    response = client.post(reverse("portal:new"), {**form_data(), "attachments": [upload]})
    assert response.status_code == 302
    case = Case.objects.get()
    assert (case.channel, case.subject, case.category.slug) == ("web", "Export fails", "bug")
    assert case.customer.email == "nora@northwind.test" and case.customer.name == "Nora North"
    first = case.messages.get()
    assert first.meta["acknowledge"] is True and first.meta["via"] == "web_form"
    assert [a.filename for a in first.attachments.all()] == ["error.txt"]
    assert CaseEvent.objects.filter(case=case, kind=EventKind.OPENED).exists()
    sent = client.get(response["Location"])
    assert sent.status_code == 200 and case.reference.encode() in sent.content


def test_the_sent_page_cannot_be_forged(client):
    forged = reverse("portal:new_sent", args=["CW-999999"])
    assert client.get(forged)["Location"] == reverse("portal:new")


def test_honeypot_is_refused_and_keeps_what_was_typed(client):
    response = client.post(reverse("portal:new"), form_data(website="http://spam.example"))
    assert response.status_code == 400 and not Case.objects.exists()
    page = response.content.decode()
    assert "Leave this field empty" in page and "The CSV export ends with error 500." in page
    assert 'value="http://spam.example"' not in page


def test_time_trap_refuses_a_too_fast_or_forged_post_and_keeps_the_text(client, settings):
    settings.CASEWORK = {**settings.CASEWORK, "WEBFORM_MIN_SECONDS": 3}
    fast = client.post(reverse("portal:new"), form_data(started=stamp(seconds_ago=0.5)))
    assert fast.status_code == 400 and b"very quick" in fast.content
    assert b"Export fails" in fast.content
    forged = client.post(reverse("portal:new"), form_data(started="12345"))
    assert forged.status_code == 400 and b"send it again" in forged.content
    assert not Case.objects.exists()


def test_stale_form_asks_to_send_again(client):
    with time_machine.travel("2026-01-01 09:00Z", tick=False):
        old = time_stamp()
    response = client.post(reverse("portal:new"), form_data(started=old))
    assert response.status_code == 400 and not Case.objects.exists()


def test_invalid_input_is_explained_per_field(client):
    response = client.post(reverse("portal:new"), form_data(email="nope", subject=""))
    assert response.status_code == 422
    assert (
        b"Enter a valid email address" in response.content and b"This field is required" in response.content
    )


def test_unknown_category_is_a_clear_error(client):
    response = client.post(reverse("portal:new"), form_data(category="made-up"))
    assert response.status_code == 422 and b"made-up" in response.content


def test_per_ip_rate_limit(client, settings):
    settings.CASEWORK = {**settings.CASEWORK, "WEBFORM_POSTS_PER_IP_HOUR": 2}
    codes = [client.post(reverse("portal:new"), form_data(subject=f"Case {n}")).status_code for n in range(3)]
    assert codes == [302, 302, 429]
    assert Case.objects.count() == 2
    other_ip = client.post(reverse("portal:new"), form_data(subject="From elsewhere"), REMOTE_ADDR="10.0.0.9")
    assert other_ip.status_code == 302


def test_only_the_form_routes_may_be_framed(client, settings):
    settings.CASEWORK = {**settings.CASEWORK, "WEBFORM_FRAME_ANCESTORS": ["https://www.example.com"]}
    form = client.get(reverse("portal:new") + "?embed=1")
    assert form.status_code == 200
    assert "X-Frame-Options" not in form.headers
    assert form["Content-Security-Policy"] == "frame-ancestors https://www.example.com"
    assert b'name="embed" value="1"' in form.content and b"Support portal</a>" not in form.content
    assert "X-Frame-Options" not in client.get(reverse("portal:suggestions")).headers
    for url in (reverse("portal:sign_in"), reverse("portal:cases"), "/login/"):
        assert client.get(url)["X-Frame-Options"] == "DENY", url


def test_embedded_post_stays_embedded(client):
    response = client.post(reverse("portal:new"), {**form_data(), "embed": "1"})
    assert response["Location"].endswith("?embed=1")
    sent = client.get(response["Location"])
    assert "X-Frame-Options" not in sent.headers and b"Follow your request" not in sent.content


def test_signed_in_customer_gets_the_form_prefilled(client, customer):
    from .conftest import sign_in

    sign_in(client, customer)
    page = client.get(reverse("portal:new")).content.decode()
    assert 'value="nora@northwind.test"' in page and 'value="Nora North"' in page


def test_deflection_session_from_suggestions_to_the_request_sent_anyway(client):
    """The form page hands out a signed deflection session; the suggestions it asks for, the article
    opened from them and the request sent anyway are recorded against it."""
    from casework.knowledge import services as kb
    from casework.knowledge.models import SuggestionSession

    article = kb.article_create(
        title="Exporting to CSV", body="Use **Reports → Export**; large exports arrive by email.",
        visibility="public", status="published",
    )  # fmt: skip
    page = client.get(reverse("portal:new"))
    token = page.context["form"]["suggestion_session"].value()
    assert token and f'value="{token}"'.encode() in page.content
    found = client.get(reverse("portal:suggestions"), {"q": "csv export fails", "s": token}).json()
    assert found["suggestions"][0]["title"] == "Exporting to CSV"
    assert client.get(found["suggestions"][0]["url"]).status_code == 200
    session = SuggestionSession.objects.get(token=token)
    assert session.shown[0] == article.pk and session.opened == article and session.submitted_case is None
    response = client.post(reverse("portal:new"), form_data(suggestion_session=token))
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.submitted_case == Case.objects.get() and session.submitted_at is not None


def test_a_refused_post_keeps_the_deflection_session(client):
    token = client.get(reverse("portal:new")).context["form"]["suggestion_session"].value()
    again = client.post(reverse("portal:new"), form_data(email="nope", suggestion_session=token))
    assert again.status_code == 422 and f'value="{token}"'.encode() in again.content


def test_a_forged_session_is_ignored_and_the_request_still_opens(client):
    response = client.post(reverse("portal:new"), form_data(suggestion_session="forged"))
    assert response.status_code == 302 and Case.objects.count() == 1
