"""The rule editor in a real browser at desktop and phone widths: a lead writes a rule with form rows,
sees the dry run, gives a reason and saves; no page is wider than the window, no console errors."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from casework.cases import pipeline
from casework.testing.factories import PASSWORD, open_case
from casework.triage.models import Rule, RuleChange

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

WIDTHS = (1280, 390)


def _fits(page, name: str, width: int, shots: Path) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    page.screenshot(path=str(shots / f"rules-{name}-{width}.png"), full_page=True)
    assert overflow <= 0, f"{name} at {width} px is {overflow} px too wide"


@pytest.mark.parametrize("width", WIDTHS)
def test_lead_writes_a_rule_with_rows_dry_run_and_reason(page, live_server, carol, customer, width):
    with pipeline.only():
        hit = open_case(
            subject="Refund for the duplicate charge on our invoice",
            description="We were charged twice and want our money back.",
            customer=customer,
        )
        open_case(subject="Printer jams", description="It jams on page two.", customer=customer)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    shots = Path("test-artifacts")
    shots.mkdir(exist_ok=True)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "carol")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")

    page.goto(f"{live_server.url}/triage/rules/")
    expect(page.get_by_test_id("rules-case_opened")).to_contain_text("Outage")
    _fits(page, "list", width, shots)

    page.get_by_test_id("new-rule").click()
    page.fill("input[name=name]", "Refunds to billing")
    rows = page.get_by_test_id("condition-rows").locator("li")
    rows.nth(0).locator("select.c-field").select_option("text")
    # The operator list narrows to the field; the first that fits is chosen.
    expect(rows.nth(0).locator("select.c-op")).to_have_value("eq")
    rows.nth(0).locator("select.c-op").select_option("contains_any")
    rows.nth(0).locator("input.c-value").fill("refund, money back")
    actions = page.get_by_test_id("action-rows").locator("li")
    actions.nth(0).locator("select.a-type").select_option("set_category")
    expect(actions.nth(0).locator("input.a-message")).to_be_hidden()  # only notify takes a message
    actions.nth(0).locator("input.a-value").fill("billing")
    _fits(page, "new", width, shots)
    # Keyboard: Ctrl+Enter in a field runs the dry run.
    actions.nth(0).locator("input.a-value").press("Control+Enter")
    result = page.get_by_test_id("dry-run-result")
    expect(result).to_contain_text("1 of 2 recent cases would match")
    expect(result).to_contain_text(hit.reference)
    expect(result).to_contain_text("→ billing")
    _fits(page, "dry-run", width, shots)

    page.get_by_test_id("save-rule").click()  # no reason: refused, nothing saved
    expect(page.get_by_test_id("rule-errors")).to_contain_text("Say why you are changing this rule")
    assert not Rule.objects.filter(name="Refunds to billing").exists()
    _fits(page, "error", width, shots)
    page.get_by_test_id("reason").fill("Refund mails landed in 'other'")
    page.get_by_test_id("save-rule").click()
    expect(page.locator(".flash-success")).to_contain_text("Rule 'Refunds to billing' saved disabled")
    expect(page.get_by_test_id("rule-history")).to_contain_text("Refund mails landed in 'other'")
    rule = Rule.objects.get(name="Refunds to billing")
    assert RuleChange.objects.get(rule=rule).actor == carol

    page.goto(f"{live_server.url}/triage/rules/{rule.pk}/")
    _fits(page, "edit", width, shots)
    page.goto(f"{live_server.url}/triage/rules/{Rule.objects.get(key='outage').pk}/")
    expect(page.get_by_test_id("condition-rows")).to_be_visible()
    _fits(page, "edit-grouped", width, shots)
    assert errors == []


def test_a_field_picked_before_the_script_runs_still_gets_its_first_operator(page, live_server, carol):
    """The editor's script is deferred: on a slow link (or a loaded CI machine) a field can be picked
    before it runs, and that change event had no listener. The script's first pass fills the operator."""
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "carol")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.route("**/rule_editor.js", lambda route: route.abort())  # the script has not arrived yet
    page.goto(f"{live_server.url}/triage/rules/new/")
    src = page.locator("script[src*='rule_editor.js']").get_attribute("src")
    row = page.get_by_test_id("condition-rows").locator("li").nth(0)
    row.locator("select.c-field").select_option("text")
    expect(row.locator("select.c-op")).to_have_value("")  # nobody narrowed it
    page.unroute("**/rule_editor.js")
    page.add_script_tag(url=src)  # now it arrives
    expect(row.locator("select.c-op")).to_have_value("eq")
    assert row.locator("select.c-op option[value=is_true]").get_attribute("hidden") is not None
