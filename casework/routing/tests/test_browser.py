"""A real browser escalates a case from L1 to L2 with a handoff note; L2 auto-assigns and the tier
history shows who held it and why it moved."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from casework.testing.factories import PASSWORD, open_case

from .helpers import agent_with

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_escalate_to_l2_auto_assigns_and_shows_history(page, live_server, teams, plain_customer):
    ana = agent_with("ana", team=teams[1])
    agent_with("bea", team=teams[2], tier=2)
    case = open_case(subject="Hello", description="Please see below.", customer=plain_customer, team=teams[1])
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", ana.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/cases/{case.reference}/")
    page.get_by_test_id("auto-assign-form").get_by_role("button", name="Auto-assign").click()
    expect(page.get_by_test_id("case-owner")).to_have_text("Ana")

    form = page.get_by_test_id("escalate-form")
    form.locator("select[name=to_tier]").select_option("2")
    form.locator("textarea[name=handoff_note]").fill(
        "Sync fails on invoices over 1,000 lines; logs attached."
    )
    form.locator("input[name=reason]").fill("Needs database access")
    form.get_by_role("button", name="Hand off").click()

    expect(page.get_by_test_id("case-owner")).to_have_text("Bea")
    history = page.get_by_test_id("tier-history")
    expect(history.get_by_test_id("tier-row")).to_have_count(4)
    expect(history).to_contain_text("L2 · L2 Support · Bea")
    expect(history).to_contain_text("escalated: Needs database access")
    expect(history).to_contain_text("Handoff: Sync fails on invoices over 1,000 lines")
    expect(page.get_by_test_id("watchers")).to_contain_text("Ana")
    expect(page.get_by_test_id("timeline")).to_contain_text("assigned to Bea")
