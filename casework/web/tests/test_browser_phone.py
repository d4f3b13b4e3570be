"""The queue on a phone with the bulk bar open and saved views in the sidebar: nothing wider than the
window, no console errors (the desktop run is in test_browser.py)."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from casework.cases import pipeline
from casework.testing.factories import PASSWORD, open_case

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_queue_with_bulk_bar_and_saved_views_fits_a_phone(page, live_server, alice, customer):
    from casework.web.models import SavedView

    with pipeline.only():
        for i in range(3):
            open_case(subject=f"Printer {i} jams on every second page of long reports", customer=customer)
    SavedView.objects.create(owner=alice, name="Printers waiting on the vendor", query="view=open&q=printer")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_text("Printer 2 jams")).to_be_visible()
    for key in ("j", "x", "j", "x"):
        page.keyboard.press(key)
    expect(page.locator("[data-bulk-bar]")).to_be_visible()
    expect(page.get_by_test_id("saved-views")).to_contain_text("Printers waiting on the vendor")
    shots = Path("test-artifacts")
    shots.mkdir(exist_ok=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    page.screenshot(path=str(shots / "queue-bulk-saved-views-390.png"), full_page=True)
    assert overflow <= 0, f"queue with the bulk bar at 390 px is {overflow} px too wide"
    assert errors == []
