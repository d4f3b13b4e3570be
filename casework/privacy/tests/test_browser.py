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


def test_admin_edits_a_policy_with_the_keyboard_on_a_phone(page, live_server):
    """An admin at 390 px, keyboard only in the form: a wrong value is refused with a clear error, the
    dry run shows the next run's counts, saving records the change; nothing is wider than the screen and
    the CSP refuses nothing (a refusal is a console error)."""
    from datetime import timedelta
    from pathlib import Path

    from casework.cases.models import Case
    from casework.core import clock
    from casework.privacy.models import PrivacyChange

    from .test_retention import close

    admin = make_agent("ada", role="admin")
    for _ in range(2):
        case = close(open_case(subject="Old printer case"))
        Case.objects.filter(pk=case.pk).update(closed_at=clock.now() - timedelta(days=500))
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", admin.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/privacy/")
    page.get_by_test_id("policy-new").click()

    expect(page.locator("#f-name")).to_be_focused()
    page.keyboard.type("Default")
    page.keyboard.press("Tab")  # category
    page.keyboard.press("Tab")  # organisation
    page.keyboard.press("Tab")  # action
    page.keyboard.press("Tab")  # days
    page.keyboard.type("-3")
    page.locator("#f-reason").fill("DPA review 2026")
    page.locator("#f-reason").press("Enter")  # submits with the form's first button: the dry run
    expect(page.get_by_test_id("policy-errors")).to_contain_text("cannot be negative")
    expect(page.locator("#f-after_days")).to_have_attribute("aria-invalid", "true")

    page.locator("#f-after_days").fill("365")
    page.locator("#f-after_days").press("Enter")
    expect(page.get_by_test_id("policy-preview")).to_contain_text("2 case(s) anonymised")
    shots = Path("test-artifacts")
    shots.mkdir(exist_ok=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    page.screenshot(path=str(shots / "privacy-policy-preview-390.png"), full_page=True)
    assert overflow <= 0, f"the policy editor at 390 px is {overflow} px too wide"
    page.get_by_test_id("policy-save").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".flash")).to_contain_text("Policy “Default” created")
    expect(page.get_by_test_id("privacy-changes")).to_contain_text("DPA review 2026")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    page.screenshot(path=str(shots / "privacy-page-390.png"), full_page=True)
    assert overflow <= 0, f"the privacy page at 390 px is {overflow} px too wide"
    change = PrivacyChange.objects.get()
    assert change.actor == admin and change.dry_run["total"]["anonymise"] == 2
    # The refused form is a 400 on purpose (Chromium logs it); anything else would be a CSP refusal.
    assert [e for e in errors if "status of 400" not in e] == []
