"""A manager's walk through the dashboard in a real browser (system Chromium): tiles against targets,
a drill-down, a report and its CSV. Screenshots of the dashboard and the report are kept in
test-artifacts/ to look at."""

from __future__ import annotations

import csv
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from casework.testing.factories import PASSWORD

from .conftest import build_week, utc

pytestmark = [pytest.mark.django_db(transaction=True)]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


def test_manager_reads_dashboard_drills_in_runs_a_report_and_exports_csv(
    page, live_server, alice, bob, settings
):
    settings.CASEWORK = {**settings.CASEWORK, "REPORTS_CACHE_SECONDS": 0}
    for person in (alice, bob):  # the manager reading, and bob answering in both tiers
        person.agent.role = "manager"
        person.agent.save(update_fields=["role"])
    # The hand-built week (conftest.py) as last week and the two before it, so the trends have points.
    monday = timezone.localdate() - timedelta(days=timezone.localdate().weekday())
    last_week = (monday - timedelta(weeks=1) - utc(2026, 11, 30).date()).days // 7
    for back in (2, 1, 0):
        week = build_week(alice, bob, weeks_later=last_week - back)
    open_case_ref = week.cases["E"].reference

    errors: list[str] = []  # a CSP refusal (an inline chart style was one) is a console error
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.get_by_role("link", name="Dashboard").click()
    expect(page).to_have_url(re.compile(r"/reports/dashboard/$"))

    tiles = page.get_by_test_id("tiles")
    expect(tiles.locator("article")).to_have_count(10)
    expect(page.get_by_test_id("tile-tier1")).to_contain_text("target ≥ 70 %")
    expect(page.get_by_test_id("tile-csat")).to_contain_text("No CSAT data yet")
    breached = page.get_by_test_id("tile-breached")
    expect(breached).to_have_class(re.compile(r"rp-bad"))
    expect(page.get_by_test_id("chart")).to_have_count(4)
    # The charts are styled by the linked stylesheet: the plot is not filled black.
    background = page.locator(".cw-chart .background").first.evaluate("e => getComputedStyle(e).fill")
    assert background != "rgb(0, 0, 0)", background
    assert errors == []
    # The definition appears as a tooltip on hover/focus.
    page.get_by_test_id("tile-sla").locator(".def").focus()
    expect(page.get_by_test_id("tile-sla").locator(".def-text")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reports-dashboard.png"), full_page=True)

    breached.locator("a.rp-value").click()
    expect(page.get_by_test_id("drill-title")).to_contain_text("Open cases past an SLA target")
    expect(page.get_by_test_id("drill-cases")).to_contain_text(open_case_ref)

    start = (monday - timedelta(weeks=1)).isoformat()
    end = (monday - timedelta(days=1)).isoformat()
    page.goto(f"{live_server.url}/reports/?metric=volume&start={start}&end={end}")
    page.get_by_test_id("metric-first_response").click()
    form = page.get_by_test_id("report-form")
    form.locator("input[name=start]").fill(start)
    form.locator("input[name=end]").fill(end)
    form.get_by_role("button", name="Run").click()
    table = page.get_by_test_id("table-first_response-business")
    expect(table).to_contain_text("All priorities")
    expect(table).to_contain_text("1 h 30 min")  # B's business-time first response, the high-priority row
    page.screenshot(path=str(ARTIFACTS / "reports-first-response.png"), full_page=True)

    with page.expect_download() as download_info:
        page.get_by_test_id("csv-first_response-business").click()
    path = download_info.value.path()
    rows = list(csv.reader(Path(path).read_text().splitlines()))
    assert rows[0] == ["Priority", "Cases", "Median", "p90", "Max"]
    assert ["High", "1", "5400.0", "5400.0", "5400.0"] in rows
