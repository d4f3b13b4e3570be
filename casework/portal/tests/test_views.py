"""Portal views with the Django test client: sign-in links, the case list and page, reply/close/reopen,
and isolation — every portal URL refuses other customers, other organisations and forged tokens."""

from __future__ import annotations

import re

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from casework.cases import services as case_services
from casework.cases.models import CaseEvent, EventKind, Message, MessageKind
from casework.cases.status import Status
from casework.notify.models import Outbox
from casework.portal import links
from casework.testing.factories import open_case

from .conftest import sign_in

pytestmark = pytest.mark.django_db


def path_of(url: str) -> str:
    return url.removeprefix("http://127.0.0.1:8000")


def case_urls(case, attachment_id: int = 1) -> list[tuple[str, str]]:
    token = case.public_token
    return [
        ("get", reverse("portal:case", args=[token])),
        ("post", reverse("portal:case_reply", args=[token])),
        ("post", reverse("portal:case_close", args=[token])),
        ("post", reverse("portal:case_reopen", args=[token])),
        ("get", reverse("portal:attachment", args=[token, attachment_id])),
    ]


# --- sign-in ----------------------------------------------------------------------------------------


def test_case_link_signs_in_and_opens_the_case_once(client, case, customer):
    url = path_of(links.case_url(case))
    response = client.get(url)
    assert response.status_code == 302 and response["Location"] == reverse(
        "portal:case", args=[case.public_token]
    )
    assert client.get(response["Location"]).status_code == 200
    # The same link again in the same browser: still signed in, so it just opens the page.
    again = client.get(url)
    assert again.status_code == 302 and again["Location"] == reverse("portal:case", args=[case.public_token])


def test_reused_link_without_a_session_gets_a_clear_page_offering_a_fresh_link(client, case, customer):
    url = path_of(links.case_url(case))
    client.get(url)
    client.post(reverse("portal:sign_out"))
    response = client.get(url)
    assert response.status_code == 410
    assert b"already used" in response.content and b"Email me a fresh link" in response.content
    token = url.rstrip("/").rsplit("/", 1)[-1]
    fresh = client.post(reverse("portal:resend"), {"token": token})
    assert fresh.status_code == 200 and b"Check your email" in fresh.content
    mail = Outbox.objects.get(dedup_key__startswith="portal-link:")
    assert mail.to == [customer.email] and mail.headers["Auto-Submitted"] == "auto-generated"
    link = re.search(r"http://\S+/portal/go/\S+/", mail.body_text).group(0)
    assert client.get(path_of(link))["Location"] == reverse("portal:case", args=[case.public_token])


def test_expired_link_is_refused_with_a_clear_page(client, case):
    with time_machine.travel("2026-01-01 09:00Z", tick=False):
        url = path_of(links.case_url(case))
    with time_machine.travel("2026-02-01 09:00Z", tick=False):
        response = client.get(url)
    assert response.status_code == 410 and b"expired" in response.content
    assert client.get(reverse("portal:cases")).status_code == 302  # not signed in


def test_forged_token_is_refused_and_signs_nobody_in(client, case, customer):
    url = path_of(links.case_url(case))
    forged = url[:-3] + ("x/" if url[-2] != "x" else "y/")
    response = client.get(forged)
    assert response.status_code == 400 and b"not valid" in response.content
    assert b"fresh-link" not in response.content  # a forged link gets no one-click resend
    assert client.get(reverse("portal:cases")).status_code == 302
    assert client.post(reverse("portal:resend"), {"token": "forged"}).status_code == 400
    assert not Outbox.objects.exists()


def test_link_for_a_deleted_customer_is_invalid(client):
    token = links.make_token(customer_id=987654, case_id=None, kind=links.MAGIC)
    assert client.get(reverse("portal:follow", args=[token])).status_code == 400


def test_sign_in_page_mails_a_magic_link_and_does_not_reveal_unknown_addresses(client, customer):
    known = client.post(reverse("portal:sign_in"), {"email": "NORA@northwind.test"})
    unknown = client.post(reverse("portal:sign_in"), {"email": "nobody@nowhere.test"})
    assert known.status_code == unknown.status_code == 200
    assert b"If <strong>" in known.content and b"If <strong>" in unknown.content
    assert Outbox.objects.count() == 1
    mail = Outbox.objects.get()
    assert mail.to == ["nora@northwind.test"] and "for 30 minutes" in mail.body_text
    assert mail.headers["Auto-Submitted"] == "auto-generated"
    follow = client.get(path_of(re.search(r"http://\S+/portal/go/\S+/", mail.body_text).group(0)))
    assert follow.status_code == 302 and follow["Location"] == reverse("portal:cases")


def test_magic_link_requests_are_rate_limited_per_address_and_per_ip(client, customer, settings):
    settings.CASEWORK = {
        **settings.CASEWORK,
        "PORTAL_LINKS_PER_ADDRESS_HOUR": 2,
        "PORTAL_LINKS_PER_IP_HOUR": 4,
    }
    codes = [client.post(reverse("portal:sign_in"), {"email": customer.email}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert Outbox.objects.count() == 2
    # Other addresses from the same IP: the per-IP limit (4 counted attempts, the refused one included
    # in neither) stops the fourth.
    codes = [
        client.post(reverse("portal:sign_in"), {"email": f"x{n}@example.test"}).status_code for n in range(3)
    ]
    assert codes == [200, 429, 429]


def test_sign_in_form_errors_are_clear(client):
    response = client.post(reverse("portal:sign_in"), {"email": "not an address"})
    assert response.status_code == 200 and b"Enter a valid email address" in response.content


# --- what a customer sees -----------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client, case):
    assert client.get(reverse("portal:cases"))["Location"].startswith(reverse("portal:sign_in"))
    for method, url in case_urls(case):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("portal:sign_in")), url


def test_customer_sees_own_cases_only(client, customer, case, colleague_case, stranger_case):
    sign_in(client, customer)
    page = client.get(reverse("portal:cases")).content.decode()
    assert case.reference in page
    assert colleague_case.reference not in page and stranger_case.reference not in page


def test_admin_contact_sees_the_organisation_but_not_other_organisations(
    client, org_admin, case, colleague_case, stranger_case
):
    sign_in(client, org_admin)
    page = client.get(reverse("portal:cases")).content.decode()
    assert case.reference in page and colleague_case.reference in page
    assert stranger_case.reference not in page
    assert client.get(reverse("portal:case", args=[colleague_case.public_token])).status_code == 200
    assert client.get(reverse("portal:case", args=[stranger_case.public_token])).status_code == 404


@pytest.mark.parametrize("who", ["colleague", "stranger"])
def test_every_case_url_of_another_customer_is_404(client, request, who, case, customer):
    attachment = case_services.case_add_attachment(
        case=case, filename="log.txt", content=b"secret", message=case.messages.first()
    )
    status_before = case.status
    sign_in(client, request.getfixturevalue(who))
    for method, url in case_urls(case, attachment.pk):
        response = getattr(client, method)(
            url, {"body": "hijack", "reason": "x"} if method == "post" else None
        )
        assert response.status_code == 404, (who, url)
    case.refresh_from_db()
    assert case.messages.count() == 1 and case.status == status_before


def test_a_link_minted_for_another_customers_case_opens_nothing_of_it(client, customer, stranger_case):
    # A genuine link of Nora's that names Sam's case (cannot be minted by anyone without the key, but the
    # case page still decides): she is signed in, the case is a 404 and she lands on her own list.
    token = links.make_token(customer_id=customer.pk, case_id=stranger_case.pk)
    response = client.get(reverse("portal:follow", args=[token]))
    assert response.status_code == 302
    assert client.get(response["Location"]).status_code == 404


def test_public_timeline_hides_internal_notes_and_internal_events(client, customer, case, alice):
    case_services.case_add_message(
        case=case, kind=MessageKind.NOTE, body="INTERNAL: customer is grumpy", actor=alice
    )
    case_services.case_add_message(case=case, kind=MessageKind.REPLY, body="We are on it.", actor=alice)
    note = case.messages.get(kind=MessageKind.NOTE)
    secret = case_services.case_add_attachment(
        case=case, filename="internal.txt", content=b"x", message=note, actor=alice
    )
    case_services.case_set_priority(case=case, priority="critical", actor=alice, reason="VIP escalation")
    sign_in(client, customer)
    page = client.get(reverse("portal:case", args=[case.public_token])).content.decode()
    assert "We are on it." in page and "The CSV export fails" in page
    assert "INTERNAL" not in page and "grumpy" not in page and "internal.txt" not in page
    assert "VIP escalation" not in page and "rule" not in page.lower()
    assert client.get(reverse("portal:attachment", args=[case.public_token, secret.pk])).status_code == 404


def test_attachment_of_a_public_message_downloads(client, customer, case):
    attachment = case_services.case_add_attachment(
        case=case, filename="screen.png", content=b"PNG", message=case.messages.first()
    )
    sign_in(client, customer)
    response = client.get(reverse("portal:attachment", args=[case.public_token, attachment.pk]))
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"PNG"
    assert response["Content-Disposition"].startswith("attachment")


# --- changes ------------------------------------------------------------------------------------------


def test_reply_with_attachment_goes_through_the_customer_message_door(client, customer, case, alice):
    case_services.case_transition(case=case, to=Status.IN_PROGRESS, actor=alice)
    case_services.case_add_message(
        case=case,
        kind=MessageKind.REPLY,
        body="Which browser?",
        actor=alice,
        set_status=Status.AWAITING_CLIENT,
    )
    sign_in(client, customer)
    upload = SimpleUploadedFile("har.txt", b"network log", content_type="text/plain")
    response = client.post(
        reverse("portal:case_reply", args=[case.public_token]),
        {"body": "Firefox 128.", "attachments": [upload]},
    )
    assert response.status_code == 302
    message = Message.objects.filter(case=case, kind=MessageKind.CUSTOMER).last()
    assert message.body == "Firefox 128." and message.channel == "web" and message.author_customer == customer
    assert [a.filename for a in message.attachments.all()] == ["har.txt"]
    case.refresh_from_db()
    # The same reaction as an emailed reply: Awaiting Client resumes.
    assert case.status == Status.IN_PROGRESS
    assert CaseEvent.objects.filter(
        case=case, kind=EventKind.STATUS_CHANGED, reason="Customer replied"
    ).exists()
    page = client.get(response["Location"]).content.decode()
    assert "Firefox 128." in page and "har.txt" in page


def test_empty_reply_is_refused_and_keeps_nothing(client, customer, case):
    sign_in(client, customer)
    response = client.post(reverse("portal:case_reply", args=[case.public_token]), {"body": "  "})
    assert response.status_code == 422 and b"This field is required" in response.content
    assert case.messages.count() == 1


def test_close_and_reopen(client, customer, case, alice):
    case_services.case_transition(case=case, to=Status.IN_PROGRESS, actor=alice)
    sign_in(client, customer)
    client.post(reverse("portal:case_close", args=[case.public_token]))
    case.refresh_from_db()
    assert case.status == Status.RESOLVED
    event = CaseEvent.objects.filter(case=case, kind=EventKind.STATUS_CHANGED).last()
    assert event.data["by_customer"] is True and "(customer, portal)" in event.actor_label
    client.post(reverse("portal:case_reopen", args=[case.public_token]), {"reason": "Still broken"})
    case.refresh_from_db()
    assert case.status == Status.IN_PROGRESS and case.reopen_count == 1
    assert CaseEvent.objects.filter(case=case, kind=EventKind.REOPENED, reason="Still broken").exists()


def test_withdrawing_a_new_case_closes_it_and_a_reply_then_opens_a_follow_up(client, customer):
    from casework.cases import pipeline

    with pipeline.only():
        case = open_case(subject="Question", customer=customer)
    sign_in(client, customer)
    client.post(reverse("portal:case_close", args=[case.public_token]))
    case.refresh_from_db()
    assert case.status == Status.CLOSED
    response = client.post(reverse("portal:case_reply", args=[case.public_token]), {"body": "One more thing"})
    landed = Message.objects.get(body="One more thing").case
    assert landed.pk != case.pk and landed.follow_up_of_id == case.pk
    assert response["Location"] == reverse("portal:case", args=[landed.public_token])


def test_closing_a_closed_case_says_why(client, customer, case):
    case_services.case_transition(case=case, to=Status.CLOSED, reason="spam", actor="system")
    sign_in(client, customer)
    response = client.post(reverse("portal:case_close", args=[case.public_token]), follow=True)
    assert b"already closed" in response.content


def test_case_list_runs_a_constant_number_of_queries(client, customer, django_assert_max_num_queries):
    for n in range(8):
        open_case(subject=f"Case {n}", customer=customer)
    sign_in(client, customer)
    with django_assert_max_num_queries(8):
        assert client.get(reverse("portal:cases")).status_code == 200


def test_a_portal_session_opens_nothing_in_the_agent_ui_or_the_api(client, customer, case):
    sign_in(client, customer)
    response = client.get(reverse("web:case", args=[case.reference]))
    assert response.status_code == 302 and "/login/" in response["Location"]
    for url in ("/api/v1/cases", f"/api/v1/cases/{case.reference}"):
        api = client.get(url)
        assert api.status_code == 401 and api.json()["error"]["code"], url
    assert client.get(reverse("csat:reviews")).status_code == 302


def test_suggestions_endpoint_answers_with_public_articles(client):
    from casework.knowledge.services import article_create

    response = client.get(reverse("portal:suggestions"), {"q": "  export   fails  "})
    assert response.status_code == 200
    assert response.json() == {"query": "export fails", "suggestions": []}
    article_create(
        title="When the CSV export fails",
        body="If the **export** fails, check the date range and try again.",
        status="published",
        visibility="public",
    )
    found = client.get(reverse("portal:suggestions"), {"q": "my export fails"}).json()["suggestions"]
    assert [s["title"] for s in found] == ["When the CSV export fails"]
    assert client.post(reverse("portal:suggestions")).status_code == 405


def test_session_of_a_deleted_customer_is_signed_out(client, stranger):
    sign_in(client, stranger)
    stranger.delete()
    assert client.get(reverse("portal:cases")).status_code == 302


def test_forged_case_tokens_are_404_on_every_case_url(client, customer, case):
    sign_in(client, customer)
    forged = type(
        "Forged",
        (),
        {"public_token": case.public_token[:-1] + ("A" if case.public_token[-1] != "A" else "B")},
    )
    for method, url in case_urls(forged) + case_urls(type("Ref", (), {"public_token": case.reference})):
        response = getattr(client, method)(url, {"body": "x"} if method == "post" else None)
        assert response.status_code == 404, url


def test_sign_in_from_a_case_url_mails_a_link_that_lands_on_that_case(client, customer, case, stranger_case):
    target = reverse("portal:case", args=[case.public_token])
    redirect_to_sign_in = client.get(target)["Location"]
    page = client.get(redirect_to_sign_in).content.decode()
    assert f'name="next" value="{target}"' in page
    client.post(reverse("portal:sign_in"), {"email": customer.email, "next": target})
    link = re.search(r"http://\S+/portal/go/\S+/", Outbox.objects.get().body_text).group(0)
    assert client.get(path_of(link))["Location"] == target
    # Someone else's case as `next`: the link lands on the list, revealing nothing.
    client.post(reverse("portal:sign_out"))
    other = reverse("portal:case", args=[stranger_case.public_token])
    client.post(reverse("portal:sign_in"), {"email": customer.email, "next": other})
    link = re.search(r"http://\S+/portal/go/\S+/", Outbox.objects.order_by("-id").first().body_text).group(0)
    assert client.get(path_of(link))["Location"] == reverse("portal:cases")
