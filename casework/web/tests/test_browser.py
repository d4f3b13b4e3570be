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


WIDTHS = (1280, 390)


def test_workspace_pages_fit_desktop_and_phone_without_console_errors(
    page, live_server, alice, bob, customer, teams
):
    """Queue, team queue, case, customer, API tokens and a 404 at 1280 px and 390 px: nothing wider than
    the window, no console errors (a missing favicon was one), and a screenshot of each to look at."""
    from pathlib import Path

    from casework.cases import services
    from casework.cases.models import CustomFieldDefinition

    CustomFieldDefinition.objects.create(
        key="product", label="Product", kind="choice", choices=["Web app", "Mobile app"]
    )
    case = open_case(
        subject="Invoices for the whole finance department show the wrong VAT number since Monday",
        description="Our accountant noticed the VAT id is the old one on every invoice.",
        customer=customer,
    )
    services.case_assign(case=case, assignee=bob, actor=alice, reason="Knows billing")
    from casework.api.services import token_issue

    token_issue(user=alice, name="Nightly export to the finance warehouse")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    login(page, live_server)
    shots = Path("test-artifacts")
    shots.mkdir(exist_ok=True)
    pages = {
        "queue": "/",
        "team": "/?view=open&team=L2+Support",
        "case": f"/cases/{case.reference}/",
        "customer": f"/customers/{customer.pk}/",
        "tokens": "/me/tokens/",
        "organisation": f"/organisations/{customer.organisation_id}/",
        "tasks": "/me/tasks/",
    }
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in pages.items():
            page.goto(live_server.url + path)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{name} at {width} px is {overflow} px too wide"
            page.screenshot(path=str(shots / f"workspace-{name}-{width}.png"), full_page=True)
        # The search box stays usable on a phone (it was a sliver).
        page.goto(live_server.url + "/")
        assert page.locator("#global-search").bounding_box()["width"] >= min(width - 40, 500)
    assert errors == []
    # A missing case: a page that helps, not a bare "Not Found" (its 404 status is the one console line).
    page.goto(f"{live_server.url}/cases/CW-999999/")
    expect(page.get_by_test_id("error-404")).to_contain_text("Back to the queue")
    expect(page).to_have_title(re.compile("Not found"))


def test_handoff_tier_choice_selects_that_tiers_team(page, live_server, alice, customer, teams):
    case = open_case(subject="Report totals look odd", description="The totals differ.", customer=customer)
    login(page, live_server)
    page.goto(f"{live_server.url}/cases/{case.reference}/")
    form = page.get_by_test_id("escalate-form")
    team = form.locator("select[name=team]")
    tier = form.locator("select[name=to_tier]")
    start = int(tier.input_value())
    expect(team).to_have_value(str(teams[start].pk))
    other = 3 if start != 3 else 2
    tier.select_option(str(other))
    expect(team).to_have_value(str(teams[other].pk))


def test_bulk_change_from_the_queue_with_the_keyboard(page, live_server, alice, bob, customer, teams):
    from casework.cases import pipeline
    from casework.cases.models import Case

    with pipeline.only():
        cases = [open_case(subject=f"Printer {i} jams", customer=customer) for i in range(3)]
    login(page, live_server)
    bar = page.locator("[data-bulk-bar]")
    expect(bar).to_be_hidden()
    # j moves the cursor, x ticks the row under it: the two newest cases.
    for key in ("j", "x", "j", "x"):
        page.keyboard.press(key)
    expect(bar).to_be_visible()
    expect(bar.locator("[data-bulk-count]")).to_have_text("2")
    bar.locator("select[name=priority]").select_option("low")
    bar.locator("select[name=assignee]").select_option("bob")
    page.get_by_test_id("bulk-apply").click()
    expect(page.locator(".flash-success")).to_contain_text("Updated 2 cases.")
    changed = Case.objects.filter(priority="low", assignee=bob).values_list("pk", flat=True)
    assert sorted(changed) == sorted(c.pk for c in cases[1:])
    # Saved view of the result, shown in the sidebar with its count.
    page.goto(f"{live_server.url}/?view=open&priority=low")
    page.get_by_test_id("save-view").locator("summary").click()
    page.get_by_test_id("save-view").locator("input[name=name]").fill("Low printers")
    page.get_by_test_id("save-view").get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("saved-views")).to_contain_text("Low printers")
    expect(page.get_by_test_id("saved-views").locator("a.active .count")).to_have_text("2")
