"""The notification list in a real browser: the unread counter in the header, opening a notification
goes to its case and marks it read, "mark all read" empties the counter."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from casework.cases import services as case_services
from casework.cases.models import MessageKind
from casework.testing.factories import PASSWORD, CustomerFactory, make_agent, open_case

pytestmark = [pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-artifacts"


def test_notification_list_counter_open_and_mark_read(page, live_server, teams):
    ana = make_agent("ana", tier=1, teams=[teams[1]])
    lena = make_agent("lena", tier=1, teams=[teams[1]])
    customer = CustomerFactory(name="Nora North", email="nora@northwind.test")
    case = open_case(subject="Export crashes", description="The CSV export fails.", customer=customer)
    other = open_case(subject="VPN drops hourly", description="Since Monday.", customer=customer)
    case_services.case_assign(case=case, assignee=ana, actor=lena, reason="she knows exports")
    case_services.case_add_message(case=case, kind=MessageKind.CUSTOMER, body="Any news? It still fails.")
    case_services.case_add_message(
        case=other, kind=MessageKind.NOTE, body="@ana could you look at the VPN logs?", actor=lena
    )

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "ana")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("unread-count")).to_have_text("3")

    page.get_by_role("link", name="Notifications, 3 unread").click()
    items = page.get_by_test_id("notifications").locator("li")
    expect(items).to_have_count(3)
    expect(items.first).to_contain_text("Lena mentioned you on")
    expect(page.locator("li.notification.unread")).to_have_count(3)
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "notifications-list.png"), full_page=True)

    page.get_by_role("button", name=f"Assigned to you: {case.reference} Export crashes").click()
    expect(page).to_have_url(f"{live_server.url}/cases/{case.reference}/")
    expect(page.get_by_test_id("unread-count")).to_have_text("2")

    page.goto(f"{live_server.url}/notifications/?show=unread")
    expect(page.get_by_test_id("notifications").locator("li")).to_have_count(2)
    page.get_by_role("button", name="Mark all read").click()
    expect(page.get_by_test_id("unread-count")).to_have_count(0)
    expect(page.get_by_text("You are all caught up")).to_be_visible()
