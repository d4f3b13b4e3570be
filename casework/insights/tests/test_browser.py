"""A real browser: a lead sees a duplicate suggestion on the case page and merges it with one click, opens
the problems page with `p`, turns a cluster into a problem and resolves it. Screenshots in test-artifacts/."""

from __future__ import annotations

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
