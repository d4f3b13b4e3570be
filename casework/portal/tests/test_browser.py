"""The customer's journey in a real browser (Playwright + system Chromium) against the app on loopback,
with mail delivered by the outbox worker code to a real SMTP sink.

Screenshots of each page a customer and a lead sees are written to test-artifacts/portal/ (look at
them: they are the UI review of this issue)."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

import pytest
import time_machine
from playwright.sync_api import expect

from casework.cases import services as case_services
from casework.cases.models import Case, Message, MessageKind
from casework.cases.status import Status
from casework.notify.delivery import outbox_drain
from casework.portal import links
from casework.testing.factories import PASSWORD, CustomerFactory, OrganisationFactory, open_case

pytestmark = [pytest.mark.django_db(transaction=True)]

SHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "portal"
LINK = re.compile(r"https?://[\w.-]+:\d+/portal/go/[^\s\"<>]+/")


@pytest.fixture
def served(settings, live_server, smtp_sink):
    """The app on loopback, links in mail pointing at it, mail going to the SMTP sink."""
    settings.BASE_URL = live_server.url
    for key, value in smtp_sink.django_settings.items():
        setattr(settings, key, value)
    settings.CASEWORK = {**settings.CASEWORK, "WEBFORM_MIN_SECONDS": 1}
    return live_server


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def delivered(smtp_sink, count: int) -> list[email.message.EmailMessage]:
    """Run the worker's delivery once, then read what the SMTP sink received."""
    outbox_drain()
    raw = smtp_sink.wait_for(count)
    return [email.message_from_bytes(data, policy=policy.default) for _, _, data in raw]


def text_of(mail) -> str:
    return mail.get_body(preferencelist=("plain",)).get_content()


def test_customer_submits_the_web_form_signs_in_from_the_mail_sees_only_their_case_and_replies(
    page, browser, served, smtp_sink
):
    stranger = CustomerFactory(
        name="Sam Stranger", email="sam@contoso.test", organisation=OrganisationFactory()
    )
    other = open_case(subject="Contoso invoice", description="Wrong total.", customer=stranger)
    smtp_sink.clear()

    page.set_viewport_size({"width": 420, "height": 900})  # a phone
    page.goto(f"{served.url}/portal/new/")
    page.get_by_label("Your name").fill("Nora North")
    page.get_by_label("Your email address").fill("nora@northwind.test")
    page.get_by_label("Subject").fill("Export to CSV fails")
    page.get_by_label("How can we help?").fill("Since this morning the CSV export ends with error 500.")
    page.get_by_label("Topic").select_option(label="Bug")
    page.get_by_label("Attach files (optional)").set_input_files(
        files=[{"name": "error.txt", "mimeType": "text/plain", "buffer": b"HTTP 500 at /export"}]
    )
    shot(page, "1-web-form-mobile")
    page.wait_for_timeout(1100)  # the time trap wants a person's pace
    page.get_by_test_id("submit-request").click()
    expect(page.get_by_test_id("request-sent")).to_be_visible()
    reference = page.get_by_test_id("reference").inner_text().strip()
    case = Case.objects.get(reference=reference)
    assert (case.channel, case.customer.email, case.category.slug) == ("web", "nora@northwind.test", "bug")
    assert case.attachments.get().filename == "error.txt"
    shot(page, "2-web-form-sent")

    # Nothing reaches the customer until the worker delivers the outbox.
    assert smtp_sink.messages == []
    mails = [m for m in delivered(smtp_sink, 1) if m["To"] == "nora@northwind.test"]
    ack = next(m for m in mails if reference in m["Subject"])
    assert ack["Auto-Submitted"] == "auto-generated"
    link = LINK.search(text_of(ack)).group(0)

    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(link)
    expect(page).to_have_url(re.compile(rf"/portal/c/{case.public_token}/$"))
    expect(page.get_by_test_id("case-reference")).to_have_text(reference)
    expect(page.get_by_test_id("timeline")).to_contain_text(
        "Since this morning the CSV export ends with error 500."
    )
    expect(page.get_by_test_id("timeline")).to_contain_text("error.txt")

    page.get_by_role("link", name="My requests").click()
    expect(page.get_by_test_id("case-list")).to_contain_text("Export to CSV fails")
    expect(page.get_by_test_id("case-list")).not_to_contain_text("Contoso invoice")
    assert page.get_by_test_id("case-list").locator("li").count() == 1
    shot(page, "3-case-list")

    page.get_by_text("Export to CSV fails").click()
    page.get_by_label("Your reply").fill("It also fails for the PDF export.")
    page.get_by_label("Attach files").set_input_files(
        files=[{"name": "pdf-error.png", "mimeType": "image/png", "buffer": b"\x89PNG fake"}]
    )
    page.get_by_test_id("send-reply").click()
    expect(page.get_by_role("status")).to_contain_text("your reply was added")
    expect(page.get_by_test_id("timeline")).to_contain_text("It also fails for the PDF export.")
    expect(page.get_by_test_id("timeline")).to_contain_text("pdf-error.png")
    reply = Message.objects.get(case=case, body="It also fails for the PDF export.")
    assert reply.kind == MessageKind.CUSTOMER and reply.channel == "web"
    shot(page, "4-case-page-after-reply")

    # Another customer's case: a plain 404, whether or not it exists.
    response = page.goto(f"{served.url}/portal/c/{other.public_token}/")
    assert response.status == 404

    # The acknowledgement's link again, in a browser without the session: refused with a clear page.
    fresh = browser.new_context()
    try:
        other_page = fresh.new_page()
        response = other_page.goto(link)
        assert response.status == 410
        expect(other_page.get_by_role("heading")).to_have_text("This link was already used")
        expect(other_page.get_by_test_id("fresh-link")).to_be_visible()
        shot(other_page, "5-link-already-used")
        other_page.get_by_test_id("fresh-link").click()
        expect(other_page.get_by_test_id("check-email")).to_be_visible()
        magic = [
            m for m in delivered(smtp_sink, len(smtp_sink.messages) + 1) if "sign-in" in m["Subject"].lower()
        ]
        assert magic and LINK.search(text_of(magic[-1]))
    finally:
        fresh.close()


def test_expired_and_forged_links_are_refused_and_the_sign_in_page_mails_a_new_one(page, served, smtp_sink):
    customer = CustomerFactory(name="Nora North", email="nora@northwind.test")
    case = open_case(subject="Password reset mail never arrives", customer=customer)
    smtp_sink.clear()
    with time_machine.travel("2026-01-01 09:00Z", tick=False):
        old = links.case_url(case)
    response = page.goto(old)
    assert response.status == 410
    expect(page.get_by_role("heading")).to_have_text("This link has expired")
    shot(page, "6-link-expired")

    response = page.goto(old.replace("/go/", "/go/x"))
    assert response.status == 400
    expect(page.get_by_role("heading")).to_have_text("This link is not valid")
    page.get_by_label("Your email address").fill("nora@northwind.test")
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page.get_by_test_id("check-email")).to_be_visible()
    mail = delivered(smtp_sink, 1)[0]
    assert mail["To"] == "nora@northwind.test" and mail["Auto-Submitted"] == "auto-generated"
    page.goto(LINK.search(text_of(mail)).group(0))
    expect(page.get_by_test_id("case-list")).to_contain_text("Password reset mail never arrives")


def test_low_csat_from_the_survey_mail_lands_in_the_leads_review_queue(
    page, browser, served, smtp_sink, teams, alice, bob
):
    team = teams[1]
    team.lead = bob
    team.save()
    bob.agent.role = "lead"  # the review queue is for the lead role
    bob.agent.save(update_fields=["role"])
    customer = CustomerFactory(name="Nora North", email="nora@northwind.test")
    case = open_case(subject="Invoices show the wrong VAT", customer=customer, team=team)
    case_services.case_assign(case=case, assignee=alice, actor=alice)
    case_services.case_transition(case=case, to=Status.IN_PROGRESS, actor=alice)
    case_services.case_add_message(case=case, kind=MessageKind.REPLY, body="Fixed the VAT rate.", actor=alice)
    case_services.case_transition(case=case, to=Status.RESOLVED, actor=alice)
    smtp_sink.clear()

    mails = delivered(smtp_sink, 1)
    survey = next(m for m in mails if "How did we do" in m["Subject"])
    assert survey["Auto-Submitted"] == "auto-generated"
    two = re.search(r"2 – [^:]+: (\S+/rate/2/)", text_of(survey)).group(1)
    page.goto(two)
    expect(page.get_by_test_id("csat-score")).to_have_text("2/5")
    page.get_by_label("Anything you would like to tell us? (optional)").fill(
        "It took three days to get an answer."
    )
    shot(page, "7-csat-thanks")
    page.get_by_test_id("csat-send-comment").click()
    expect(page.get_by_test_id("csat-done")).to_contain_text("A team lead will look at what went wrong")

    lead = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        lead_page = lead.new_page()
        lead_page.goto(f"{served.url}/login/")
        lead_page.fill("input[name=username]", "bob")
        lead_page.fill("input[name=password]", PASSWORD)
        lead_page.click("button[type=submit]")
        lead_page.goto(f"{served.url}/csat/reviews/")
        item = lead_page.get_by_test_id(f"review-{case.reference}")
        expect(item).to_contain_text("2/5")
        expect(item).to_contain_text("It took three days to get an answer.")
        expect(item).to_contain_text("Alice")
        expect(item).to_contain_text("Reopened")
        shot(lead_page, "8-lead-review-queue")
        item.locator("select[name=outcome]").select_option("coaching")
        item.locator("textarea[name=note]").fill("Talked with Alice about first replies on billing cases.")
        item.get_by_role("button", name="Close review").click()
        expect(lead_page.get_by_test_id("review-queue-empty")).to_be_visible()
        lead_page.goto(f"{served.url}/csat/reviews/?status=closed")
        expect(lead_page.get_by_test_id(f"review-{case.reference}")).to_contain_text("Coaching")
    finally:
        lead.close()
