"""The triager's queue in a real browser: a case the model was unsure about, confirmed with one key."""

import pytest
from playwright.sync_api import expect

from casework.cases.models import Case
from casework.testing.factories import PASSWORD, open_case
from casework.triage import training
from casework.triage.tests.test_learned_triage import HISTORY, label

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_needs_human_triage_queue_one_key_confirms(page, live_server, alice, settings, tmp_path):
    for row in HISTORY:
        label(*row, alice)
    training.train(use_corpus=False, cv=False)
    settings.CASEWORK = {**settings.CASEWORK, "TRIAGE_CONFIDENCE": 0.99}
    case = open_case(subject="Parcel question", description="something about our parcel and an idea")
    assert Case.objects.get(pk=case.pk).status == "new"

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/triage/needs-triage/")
    table = page.get_by_test_id("needs-triage")
    expect(table).to_contain_text(case.reference)
    expect(table.locator("form[data-choice='1'] button")).to_be_visible()
    page.screenshot(path=str(tmp_path / "needs-triage.png"), full_page=True)
    page.keyboard.press("j")
    page.keyboard.press("1")
    expect(page.get_by_text(f"{case.reference} confirmed")).to_be_visible()
    expect(table).not_to_contain_text(case.reference)
    case.refresh_from_db()
    assert case.status == "triaged" and not case.tags.filter(name="needs-triage").exists()
