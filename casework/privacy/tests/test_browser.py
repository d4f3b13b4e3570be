"""A manager in a real browser: sets a legal hold, sees an erasure blocked, releases the hold, previews the
erasure and confirms it."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from casework.privacy.models import RetentionAction, RetentionPolicy
from casework.testing.factories import PASSWORD, CustomerFactory, make_agent, open_case

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_manager_holds_and_erases_in_the_browser(page, live_server, tmp_path):
    manager = make_agent("mona", role="manager")
    manager.first_name = "Mona"
    manager.save()
    customer = CustomerFactory(email="gwen@example.test", name="Gwen Gone")
    case = open_case(subject="Gwen's invoice", customer=customer)
    RetentionPolicy.objects.create(name="Default", action=RetentionAction.ANONYMISE, after_days=365)

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", manager.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.get_by_role("link", name="Privacy").click()
    expect(page.get_by_test_id("retention-preview")).to_contain_text("Default")

    hold = page.get_by_test_id("hold-form")
    hold.locator("input[name=reference]").fill(case.reference)
    hold.locator("input[name=reason]").fill("Litigation 2026-17")
    hold.get_by_role("button", name="Set legal hold").click()
    expect(page.get_by_test_id("legal-holds")).to_contain_text("Litigation 2026-17")

    erase = page.get_by_test_id("erase-form")
    erase.locator("input[name=email]").fill("gwen@example.test")
    erase.locator("input[name=reason]").fill("Request #42")
    erase.get_by_role("button", name="Show what would be erased").click()
    expect(page.get_by_test_id("erase-preview")).to_contain_text("Blocked by legal hold")
    if os.environ.get("CASEWORK_SCREENSHOTS"):
        page.screenshot(
            path=os.path.join(os.environ["CASEWORK_SCREENSHOTS"], "privacy-blocked.png"), full_page=True
        )

    holds = page.get_by_test_id("legal-holds")
    holds.locator("input[name=reason]").first.fill("Settled")
    holds.get_by_role("button", name="Release").click()
    expect(page.get_by_test_id("legal-holds")).to_contain_text("No active hold")

    erase = page.get_by_test_id("erase-form")
    erase.locator("input[name=email]").fill("gwen@example.test")
    erase.locator("input[name=reason]").fill("Request #42")
    erase.get_by_role("button", name="Show what would be erased").click()
    expect(page.get_by_test_id("erase-preview")).to_contain_text("1 case(s)")
    page.get_by_role("button", name="Erase gwen@example.test now").click()
    expect(page.locator(".flash")).to_contain_text("Erased: 1 case(s) anonymised")

    page.goto(f"{live_server.url}/cases/{case.reference}/")
    expect(page.locator("body")).to_contain_text("[anonymised]")
    expect(page.locator("body")).not_to_contain_text("Gwen")
    expect(page.locator("body")).to_contain_text("Litigation 2026-17")  # the hold's own events stay
