"""A real browser (system Chromium via Playwright) working a case end to end."""

import re

import pytest
from playwright.sync_api import expect

from casework.testing.factories import PASSWORD, open_case

pytestmark = [pytest.mark.django_db(transaction=True)]


def login(page, live_server, username="alice"):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}/")


def test_agent_logs_in_opens_case_replies_and_starts_work(page, live_server, alice, customer):
    case = open_case(subject="Export crashes with error 500", customer=customer)
    login(page, live_server)
    expect(page.get_by_text(case.reference)).to_be_visible()

    # Keyboard: j selects the first row, Enter opens it.
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/cases/{case.reference}/$"))
    # The triage rules classified it on arrival ("error" → bug), so it is already Triaged.
    expect(page.get_by_test_id("case-status")).to_have_text("Triaged")

    page.keyboard.press("r")
    page.keyboard.type("Thanks Nora, we're looking at the export now.")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("timeline")).to_contain_text("we're looking at the export now")
    expect(page.get_by_test_id("timeline")).to_contain_text("sent the first response")

    page.get_by_test_id("to-in_progress").click()
    expect(page.get_by_test_id("case-status")).to_have_text("In progress")
    expect(page.get_by_test_id("timeline")).to_contain_text("changed the status from Triaged to In progress")
    expect(page.get_by_test_id("timeline")).to_contain_text("Rule ‘Bug report’ matched")
    case.refresh_from_db()
    assert case.status == "in_progress"


def test_escalation_with_handoff_note_shows_new_owner_and_history(page, live_server, alice, customer, teams):
    case = open_case(
        subject="Report totals look odd", description="The monthly totals differ.", customer=customer
    )
    login(page, live_server)
    page.goto(f"{live_server.url}/cases/{case.reference}/")
    form = page.get_by_test_id("escalate-form")
    form.locator("select[name=to_tier]").select_option("2")
    form.locator("textarea[name=handoff_note]").fill(
        "Import log shows 300 rows skipped; customer needs them today."
    )
    form.get_by_role("button", name="Hand off").click()
    expect(page.get_by_text("moved to L2")).to_be_visible()
    expect(page.get_by_test_id("timeline")).to_contain_text("Import log shows 300 rows skipped")
    expect(page.get_by_test_id("timeline")).to_contain_text("escalated")
    expect(page.locator(".who")).to_contain_text("L2 Support")
