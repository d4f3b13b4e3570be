"""A real browser: an agent finds a case by a word that is only in a reply, applies a macro (keyboard m),
attaches a file and sends; a customer reading the help centre finds an article. Screenshots are kept in
test-artifacts/ for a look."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from casework.cases import services as case_services
from casework.cases.models import Attachment, Message
from casework.knowledge import services
from casework.knowledge.models import Macro
from casework.testing.factories import PASSWORD, open_case

pytestmark = [pytest.mark.django_db(transaction=True)]
SHOTS = Path(__file__).resolve().parents[3] / "test-artifacts"


def login(page, live_server, username="alice"):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}/")


def shot(page, name):
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"knowledge-{name}.png"), full_page=True)


def test_agent_finds_a_case_by_a_reply_word_applies_a_macro_and_sends(
    page, live_server, alice, customer, tmp_path
):
    case = open_case(subject="Sync stopped on the tablet", description="Nothing updates.", customer=customer)
    case_services.case_add_message(
        case=case, kind="reply", body="Please try toggling the quokkasync switch.", actor=alice
    )
    case_services.case_transition(case=case, to="in_progress", actor=alice)
    open_case(subject="Another tablet question", description="Battery", customer=customer)
    services.article_create(
        title="Mobile app does not sync",
        body="Pull down to refresh, then sign out and in again.",
        status="published",
        visibility="public",
    )
    Macro.objects.create(
        name="Ask for device details",
        body="Hi {customer_name}, which device and app version is it ({reference})?",
        add_tags=["needs-device"],
        set_status="awaiting_client",
    )
    login(page, live_server)

    # Search while typing: a prefix of a word that only a reply contains.
    page.get_by_test_id("queue-search").fill("quokkas")
    expect(page.get_by_test_id("search-excerpt")).to_have_count(1)
    expect(page.get_by_test_id("search-excerpt")).to_contain_text("quokkasync")
    expect(page.locator("#queue-table")).not_to_contain_text("Another tablet question")
    shot(page, "1-search")
    page.get_by_role("link", name=case.reference).click()
    expect(page).to_have_url(re.compile(rf"/cases/{case.reference}/$"))
    expect(page.get_by_test_id("kb-articles")).to_contain_text("Mobile app does not sync")

    # Keyboard m focuses the macro picker; choosing fills the composer and says what else will change.
    # The panel arrives after the page (deferred) and its script binds the keys once it is in.
    expect(page.locator("[data-testid=kb-panel][data-ready=true]")).to_have_count(1)
    page.locator("body").click()
    page.keyboard.press("m")
    expect(page.get_by_test_id("macro-picker")).to_be_focused()
    page.get_by_test_id("macro-picker").select_option(label="Ask for device details")
    expect(page.get_by_test_id("macro-info")).to_contain_text("status → awaiting client")
    body = page.locator("#composer textarea[name=body]")
    expect(body).to_have_value(f"Hi Nora, which device and app version is it ({case.reference})?")
    body.press("End")
    body.type(" Thanks!")
    attachment = tmp_path / "sync-steps.txt"
    attachment.write_text("1. Pull down to refresh\n")
    page.get_by_test_id("reply-attachments").set_input_files(str(attachment))
    page.get_by_test_id("reply-cc").fill("it@northwind.test")
    shot(page, "2-macro")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("timeline")).to_contain_text("Thanks!")
    expect(page.get_by_test_id("case-status")).to_have_text("Awaiting client")
    shot(page, "3-sent")

    message = Message.objects.filter(case=case, kind="reply").order_by("-id").first()
    assert message.body.endswith("Thanks!") and message.meta["cc"] == ["it@northwind.test"]
    assert Attachment.objects.get(message=message).filename == "sync-steps.txt"
    assert "needs-device" in [t.name for t in case.tags.all()]


def test_customer_sees_suggestions_and_reads_an_article(page, live_server):
    services.article_create(
        title="Update your payment card",
        body="Go to **Billing → Payment method** and add a new card.",
        status="published",
        visibility="public",
        tags=["billing"],
    )
    page.goto(f"{live_server.url}/kb/help/?q=card")
    page.get_by_role("link", name="Update your payment card").click()
    expect(page.get_by_test_id("public-article")).to_contain_text("Billing → Payment method")
    shot(page, "4-public-article")
    response = page.request.get(f"{live_server.url}/kb/suggestions/?q=my+credit+card+expired")
    assert response.json()["suggestions"][0]["title"] == "Update your payment card"


def test_agent_composer_inserts_a_canned_response_and_an_article(page, live_server, alice, customer):
    from casework.knowledge.models import ArticleLink
    from casework.triage.models import CannedReply

    case = open_case(
        subject="Card expired, invoice unpaid", description="My credit card expired.", customer=customer
    )
    article = services.article_create(
        title="Update your payment card",
        body="Go to **Billing → Payment method** and add a new card.",
        status="published",
        visibility="public",
        tags=["billing", "card"],
    )
    canned = CannedReply.objects.create(
        name="Card help", body="Hi {customer_name}, thanks for reporting this on {reference}."
    )
    Macro.objects.create(name="Card help (canned)", canned_reply=canned)
    login(page, live_server)
    page.goto(f"{live_server.url}/cases/{case.reference}/")
    expect(page.locator("[data-testid=kb-panel][data-ready=true]")).to_have_count(1)  # deferred panel

    page.get_by_test_id("macro-picker").select_option(label="Card help (canned)")
    body = page.locator("#composer textarea[name=body]")
    expect(body).to_have_value(f"Hi Nora, thanks for reporting this on {case.reference}.")
    panel = page.get_by_test_id("kb-articles")
    expect(panel).to_contain_text("Update your payment card")
    body.press("End")
    panel.get_by_test_id("kb-insert-article").first.click()
    expect(panel.get_by_test_id("kb-insert-article").first).to_have_text("inserted · linked to the case")
    expect(body).to_have_value(
        re.compile(rf"{case.reference}\.\n\nUpdate your payment card: http://.+/kb/a/")
    )
    shot(page, "5-composer-canned-and-article")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("timeline")).to_contain_text(f"/kb/a/{article.slug}/")
    expect(page.get_by_test_id("timeline")).to_contain_text("Article linked: Update your payment card")

    reply = Message.objects.filter(case=case, kind="reply").order_by("-id").first()
    assert reply.body.startswith("Hi Nora, thanks for reporting this on")
    assert f"/kb/a/{article.slug}/" in reply.body
    assert ArticleLink.objects.filter(article=article, case=case).exists()


def test_customer_typing_in_the_web_form_opens_a_suggestion_and_deflection_is_recorded(
    page, live_server, settings
):
    from casework.cases.models import Case
    from casework.knowledge.models import SuggestionSession
    from casework.reports.filters import ReportFilter
    from casework.reports.registry import get

    settings.CASEWORK = {**settings.CASEWORK, "WEBFORM_MIN_SECONDS": 1}
    article = services.article_create(
        title="Update your payment card",
        body="Go to **Billing → Payment method** and add a new card.",
        status="published",
        visibility="public",
        tags=["billing"],
    )
    page.goto(f"{live_server.url}/portal/new/")
    page.get_by_label("Your name").fill("Nora North")
    page.get_by_label("Your email address").fill("nora@northwind.test")
    page.get_by_label("Subject").press_sequentially("Credit card expired", delay=20)
    page.get_by_label("How can we help?").press_sequentially("How do I change my card?", delay=20)
    suggestion = page.get_by_test_id("kb-suggestion").first
    expect(suggestion).to_have_text("Update your payment card")
    shot(page, "6-web-form-suggestion")
    with page.context.expect_page() as opened:
        suggestion.click()  # a new tab: the form keeps what was typed
    tab = opened.value
    expect(tab.get_by_test_id("public-article")).to_contain_text("Billing → Payment method")
    expect(tab.get_by_test_id("back-to-form")).to_be_visible()
    shot(tab, "7-suggested-article")
    session = SuggestionSession.objects.get()
    assert session.shown[0] == article.pk and session.opened == article and session.submitted_case is None
    today = timezone_today()
    assert get("kb_deflection").headline(ReportFilter(start=today, end=today)) == 100.0
    tab.close()

    # Still not answered: the request is sent anyway, and the same session records it.
    expect(page.get_by_label("How can we help?")).to_have_value("How do I change my card?")
    page.wait_for_timeout(1100)  # the time trap wants a person's pace
    page.get_by_test_id("submit-request").click()
    expect(page.get_by_test_id("request-sent")).to_be_visible()
    session.refresh_from_db()
    assert session.submitted_case == Case.objects.get()
    assert get("kb_deflection").headline(ReportFilter(start=today, end=today)) == 0.0


def timezone_today():
    from casework.reports.filters import local_today

    return local_today()


def test_agent_drafts_a_reply_sees_its_sources_edits_and_sends(page, live_server, alice, customer):
    from casework.knowledge.models import DraftOutcome, ReplyDraft

    case = open_case(subject="Card expired", description="My credit card expired.", customer=customer)
    services.article_create(
        title="Update your payment card",
        body="Go to **Billing → Payment method** and add a new card.",
        status="published",
        visibility="public",
        tags=["card"],
    )
    login(page, live_server)
    page.goto(f"{live_server.url}/cases/{case.reference}/")
    expect(page.locator("[data-testid=kb-panel][data-ready=true]")).to_have_count(1)  # deferred panel
    page.get_by_test_id("draft-reply").click()
    info = page.get_by_test_id("draft-info")
    expect(info).to_contain_text("Drafted reply (offline)")
    expect(info.get_by_test_id("draft-source").first).to_have_text("Update your payment card")
    body = page.locator("#composer textarea[name=body]")
    expect(body).to_have_value(re.compile(r"^Hi Nora,.*Billing → Payment method", re.S))
    assert not Message.objects.filter(case=case, kind="reply").exists()  # a proposal, never sent
    body.press("Control+End")
    body.type("\n\nPS: it can take a minute to show.")
    shot(page, "8-drafted-reply")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("timeline")).to_contain_text("PS: it can take a minute to show.")
    assert ReplyDraft.objects.get(case=case).outcome == DraftOutcome.EDITED
