"""Engineering links against local fake Jira and GitHub servers on 127.0.0.1: an issue created through the
outbox by the worker's job, signed inbound webhooks (forged → 403), the owner told once, the linked cases
resolved in one step."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from casework.cases.models import CaseEvent
from casework.insights import issues, services
from casework.insights.models import EngineeringLink, IssueOutbox
from casework.notify.models import Notification
from casework.testing.factories import CustomerFactory, open_case

pytestmark = pytest.mark.django_db


class FakeTracker:
    """A tiny Jira/GitHub stand-in: records the POSTs, answers like the real API (or with `fail_with`)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict, dict]] = []
        self.fail_with: int | None = None
        tracker = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                tracker.requests.append((self.path, dict(self.headers), body))
                if tracker.fail_with:
                    self.send_response(tracker.fail_with)
                    self.end_headers()
                    self.wfile.write(b'{"errorMessages": ["no"]}')
                    return
                if self.path.startswith("/rest/api/2/issue"):
                    answer = {"id": "10001", "key": "OPS-7", "self": "http://x/rest/api/2/issue/10001"}
                else:
                    answer = {"number": 34, "html_url": "https://github.example/acme/app/issues/34"}
                data = json.dumps(answer).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _bob_works_every_team(bob):
    """bob files issues for cases of any team here: a manager (what each role may do is the access
    matrix's job)."""
    bob.agent.role = "manager"
    bob.agent.save(update_fields=["role"])


@pytest.fixture
def tracker(settings):
    fake = FakeTracker()
    settings.CASEWORK = {
        **settings.CASEWORK,
        "JIRA_URL": fake.url,
        "JIRA_PROJECT": "OPS",
        "JIRA_WEBHOOK_SECRET": "jira-secret",
        "GITHUB_URL": fake.url,
        "GITHUB_REPO": "acme/app",
        "GITHUB_WEBHOOK_SECRET": "github-secret",
    }
    yield fake
    fake.stop()


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def problem(bob, customer):
    cases = [
        open_case(subject="Dashboard does not load", description="spins forever", customer=customer),
        open_case(subject="Dashboard not loading", description="spinner", customer=CustomerFactory()),
    ]
    return services.problem_create(
        title="Dashboard outage", owner=bob, cases=cases, actor=bob, root_cause="Steps: open /dashboard"
    )


def test_create_a_jira_issue_from_a_problem_through_the_outbox(tracker, bob, problem):
    link = issues.link_create_issue(system="jira", problem=problem, actor=bob)
    assert link.issue_state == "pending" and not tracker.requests  # nothing sent inside the write
    assert issues.deliver_due() == {"sent": 1, "failed": 0, "retry": 0}
    path, _headers, body = tracker.requests[0]
    assert path == "/rest/api/2/issue"
    assert body["fields"]["project"] == {"key": "OPS"} and body["fields"]["summary"] == "Dashboard outage"
    assert "Affected: 2 case(s), 2 customer(s)" in body["fields"]["description"]
    assert "Steps: open /dashboard" in body["fields"]["description"]
    link.refresh_from_db()
    assert (link.key, link.issue_state) == ("OPS-7", "open") and link.url.endswith("/browse/OPS-7")
    assert IssueOutbox.objects.get().state == "sent"
    assert issues.deliver_due() == {"sent": 0, "failed": 0, "retry": 0}  # delivered once
    case = problem.links.first().case
    assert CaseEvent.objects.filter(case=case, reason__contains="issue OPS-7 created").exists()


def test_a_refused_creation_fails_and_says_why(tracker, bob, case):
    tracker.fail_with = 400
    link = issues.link_create_issue(system="github", case=case, actor=bob)
    assert issues.deliver_due()["failed"] == 1
    link.refresh_from_db()
    assert link.issue_state == "failed" and "HTTP 400" in link.last_error
    assert CaseEvent.objects.filter(case=case, reason__contains="could not be created").exists()


def test_server_down_is_retried_later(tracker, bob, case):
    tracker.stop()
    issues.link_create_issue(system="github", case=case, actor=bob)
    assert issues.deliver_due()["retry"] == 1
    row = IssueOutbox.objects.get()
    assert row.state == "pending" and row.attempts == 1 and row.next_attempt_at > row.created_at
    tracker.server = type("S", (), {"shutdown": lambda s: None, "server_close": lambda s: None})()


def test_github_issue_closed_by_signed_webhook_notifies_the_owner_once_and_cases_resolve_in_one_step(
    client, tracker, alice, bob, problem
):
    link = issues.link_create_issue(system="github", problem=problem, actor=bob)
    issues.deliver_due()
    link.refresh_from_db()
    assert link.key == "acme/app#34"
    body = json.dumps(
        {
            "action": "closed",
            "issue": {"number": 34, "state": "closed"},
            "repository": {"full_name": "acme/app"},
        }
    ).encode()
    url = reverse("insights:github_webhook")
    for _ in range(2):
        answer = client.post(
            url,
            body,
            content_type="application/json",
            HTTP_X_GITHUB_EVENT="issues",
            HTTP_X_HUB_SIGNATURE_256=sign("github-secret", body),
        )
        assert answer.status_code == 200 and answer.json()["links"] == 1
    link.refresh_from_db()
    assert link.issue_state == "closed"
    note = Notification.objects.get(kind="engineering_issue_closed")
    assert note.user == bob
    client.force_login(alice)
    assert b"resolve-linked" in client.get(reverse("insights:link", args=[link.pk])).content
    client.post(reverse("insights:link_resolve", args=[link.pk]))
    assert {pc.case.status for pc in problem.links.select_related("case")} == {"resolved"}


@pytest.mark.parametrize("header", ["", "sha256=deadbeef", None])
def test_forged_or_missing_signatures_get_403(client, tracker, bob, case, header):
    issues.link_existing(system="github", reference="acme/app#34", case=case, actor=bob)
    body = json.dumps(
        {
            "action": "closed",
            "issue": {"number": 34, "state": "closed"},
            "repository": {"full_name": "acme/app"},
        }
    ).encode()
    headers = {"HTTP_X_GITHUB_EVENT": "issues"}
    if header is None:
        header = sign("wrong-secret", body)
    if header:
        headers["HTTP_X_HUB_SIGNATURE_256"] = header
    answer = client.post(reverse("insights:github_webhook"), body, content_type="application/json", **headers)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "bad_signature"
    # a Jira signature does not open the GitHub door, and an agent session is no substitute
    client.force_login(bob)
    answer = client.post(
        reverse("insights:jira_webhook"),
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE=sign("github-secret", body),
    )
    assert answer.status_code == 403
    assert EngineeringLink.objects.get().issue_state == "open"


def test_jira_release_webhook_and_existing_links(client, tracker, bob, case):
    link = issues.link_existing(system="jira", reference=f"{tracker.url}/browse/OPS-12", case=case, actor=bob)
    assert link.key == "OPS-12"
    body = json.dumps(
        {
            "webhookEvent": "jira:issue_updated",
            "issue": {
                "key": "OPS-12",
                "fields": {"status": {"name": "Done"}, "fixVersions": [{"name": "2.1", "released": True}]},
            },
        }
    ).encode()
    answer = client.post(
        reverse("insights:jira_webhook"),
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE=sign("jira-secret", body),
    )
    assert answer.json() == {"key": "OPS-12", "state": "released", "links": 1}
    link.refresh_from_db()
    assert link.issue_state == "released"
    bad = client.post(
        reverse("insights:jira_webhook"),
        b"not json",
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE=sign("jira-secret", b"not json"),
    )
    assert bad.status_code == 400


def test_parse_reference_accepts_keys_and_urls_and_refuses_the_rest():
    from casework.core.errors import ValidationFailed

    assert issues.parse_reference("github", "https://github.com/acme/app/issues/9") == (
        "acme/app#9",
        "https://github.com/acme/app/issues/9",
    )
    assert issues.parse_reference("github", "acme/app#9")[0] == "acme/app#9"
    assert issues.parse_reference("jira", "OPS-3")[0] == "OPS-3"
    for system, value in (("jira", "ops 3"), ("github", "acme#3"), ("jira", "")):
        with pytest.raises(ValidationFailed):
            issues.parse_reference(system, value)
