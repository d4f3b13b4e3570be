"""A stored `<script>`, `onerror=` or `javascript:` payload in a customer's mail never runs in the agent UI:
autoescaping shows it as text, and the Content-Security-Policy would block inline script anyway."""

import pytest

from casework.testing.factories import PASSWORD, CustomerFactory, open_case

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PAYLOADS = [
    "<script>window.__pwned = 'script'</script>",
    "<img src=x onerror=\"window.__pwned = 'onerror'\">",
    "<a href=\"javascript:window.__pwned='link'\" id=evil>click</a>",
    "<svg onload=\"window.__pwned='svg'\"></svg>",
]


def test_stored_payloads_never_run(page, live_server, manager_alice, tmp_path):
    body = "\n".join(PAYLOADS)
    customer = CustomerFactory(name="<img src=x onerror=\"window.__pwned='name'\">", email="x@example.test")
    case = open_case(subject="<script>window.__pwned='subject'</script>", description=body, customer=customer)
    violations = []
    page.on(
        "console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None
    )
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    for path in ("/?view=all", f"/cases/{case.reference}/", f"/customers/{customer.pk}/"):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__pwned") is None, path
    # The payload is on the page as text, not as elements.
    page.goto(f"{live_server.url}/cases/{case.reference}/")
    assert "<script>window.__pwned = 'script'</script>" in page.inner_text("body")
    assert page.locator("#evil").count() == 0 and page.locator("img[src=x]").count() == 0
    page.screenshot(path=str(tmp_path / "xss-case-page.png"), full_page=True)
    # Our own pages need no inline script: nothing of ours tripped the policy.
    assert [v for v in violations if "script-src" in v] == []
