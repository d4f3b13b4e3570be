"""A real browser: a lead sees a duplicate suggestion on the case page and merges it with one click, opens
the problems page with `p`, turns a cluster into a problem and resolves it. Screenshots in test-artifacts/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from casework.insights import clustering, duplicates
from casework.testing.factories import PASSWORD, CustomerFactory, open_case

pytestmark = [pytest.mark.django_db(transaction=True)]
SHOTS = Path(__file__).resolve().parents[3] / "test-artifacts"


def shot(page, name):
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"insights-{name}.png"), full_page=True)


def test_lead_merges_a_duplicate_and_makes_a_problem_of_a_cluster(page, live_server, teams, bob, customer):
    teams[1].lead = bob
    teams[1].save()
    bob.agent.role = "lead"
    bob.agent.teams.add(teams[1])  # the lead of L1 works its cases
    bob.agent.save(update_fields=["role"])
    original = open_case(
        subject="Dashboard does not load",
        description="The dashboard page spins forever.",
        customer=customer,
        team=teams[1],
    )
    repeat = open_case(
        subject="Dashboard not loading",
        description="Our dashboard will not load, spinner forever.",
        customer=customer,
        team=teams[1],
    )
    open_case(
        subject="dashboard loading forever",
        description="The dashboard keeps loading forever.",
        customer=CustomerFactory(),
        team=teams[1],
    )
    duplicates.suggest_for(repeat.pk)
    clustering.cluster_recent()

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/cases/{repeat.reference}/")
    suggestion = page.get_by_test_id("duplicate-suggestion").filter(has_text=original.reference)
    expect(suggestion).to_contain_text(f"Possible duplicate of {original.reference}")
    expect(suggestion).to_contain_text("Why: shared words")
    shot(page, "case-duplicate")
    suggestion.get_by_test_id("merge-duplicate").click()
    expect(page).to_have_url(f"{live_server.url}/cases/{original.reference}/")
    expect(page.locator("body")).to_contain_text(f"Merged into {original.reference}")

    page.keyboard.press("p")
    expect(page).to_have_url(f"{live_server.url}/problems/")
    expect(page.get_by_test_id("cluster").first).to_contain_text("possible incident")
    shot(page, "problems")
    page.get_by_test_id("make-problem").first.click()
    expect(page.get_by_test_id("problem-state")).to_have_text("Open")
    page.get_by_test_id("state-select").select_option("resolved")
    page.get_by_test_id("resolution-note").fill("Rolled back the cache change.")
    page.get_by_test_id("save-problem").click()
    expect(page.get_by_test_id("problem-state")).to_have_text("Resolved")
    expect(page.get_by_test_id("loop")).to_contain_text("No new matching case since the fix")
    shot(page, "problem-resolved")


def test_lead_reads_the_findings_and_starts_an_article_from_a_gap(page, live_server, teams, bob, customer):
    from datetime import timedelta

    import time_machine

    from casework.cases.models import Category
    from casework.core import clock
    from casework.insights import findings, repeats

    bob.agent.role = "lead"
    bob.agent.save(update_fields=["role"])
    with time_machine.travel(clock.now() - timedelta(days=3), tick=False):
        first = open_case(
            subject="CSV export fails with error 500",
            description="Exporting the monthly report to CSV gives an error 500.",
            customer=customer,
        )
    again = open_case(
        subject="Export still broken",
        description="The CSV export of the monthly report still fails with error 500.",
        customer=customer,
    )
    repeats.flag(again.pk)
    auth = Category.objects.get_or_create(slug="authentication", defaults={"name": "Authentication"})[0]
    for n in range(5):
        open_case(
            subject=f"Password reset email missing {n}",
            description="The password reset email never arrives.",
            customer=CustomerFactory(),
            category=auth,
        )
    findings.run_daily()

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    # The shortcut listens once the landing page's scripts ran: under load, a key pressed while the
    # login POST was still answering went to the old page.
    page.wait_for_url(lambda url: "/login/" not in url)
    page.wait_for_load_state("load")
    page.keyboard.press("f")
    expect(page).to_have_url(f"{live_server.url}/insights/findings/")
    repeat_row = page.get_by_test_id("repeats").locator("tbody tr").first
    expect(repeat_row).to_contain_text(again.reference)
    expect(repeat_row).to_contain_text(first.reference)
    expect(repeat_row).to_contain_text("3 days ago")
    expect(page.get_by_test_id("gap").first).to_contain_text("Write an article about Authentication")
    shot(page, "findings")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/cases/{again.reference}/")
    expect(page.locator("body")).to_contain_text("Repeat contact: same customer wrote about")
    shot(page, "case-repeat-contact")
    page.go_back()
    page.get_by_test_id("gap-draft").first.click()
    expect(page).to_have_url(re.compile(r"/kb/\d+/edit/$"))
    expect(page.locator("body")).to_contain_text("Draft article started")
    shot(page, "gap-draft")
