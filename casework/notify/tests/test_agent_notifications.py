"""Notifications to agents: each created once per triggering change, in the app, by email and on Slack
(posted by the worker to a local HTTP server), and the in-app list."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.utils import timezone

from casework.cases import services as case_services
from casework.cases.models import MessageKind
from casework.notify import followups
from casework.notify.delivery import outbox_drain
from casework.notify.models import AgentPreference, Notification, Outbox, TeamChannel
from casework.sla.sweep import sweep
from casework.testing.factories import CustomerFactory, make_agent, open_case

pytestmark = pytest.mark.django_db


class SlackSink:
    """A loopback stand-in for Slack's incoming webhooks: records every POST; answers `status`."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.status = 200
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sink.posts.append(
                    {
                        "path": self.path,
                        "json": json.loads(body),
                        "key": self.headers["X-Casework-Idempotency-Key"],
                    }
                )
                self.send_response(sink.status)
                self.end_headers()
                self.wfile.write(b"ok" if sink.status == 200 else b"invalid_token")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slack():
    with SlackSink() as sink:
        yield sink


@pytest.fixture
def lead(teams):
    lena = make_agent("lena", tier=1, teams=[teams[1]])
    lena.email = "lena@casework.test"
    lena.save()
    teams[1].lead = lena
    teams[1].save()
    return lena


@pytest.fixture
def ana(teams):
    user = make_agent("ana", tier=1, teams=[teams[1]])
    user.email = "ana@casework.test"
    user.save()
    return user


def test_new_case_in_the_queue_reaches_the_team_in_app_and_on_slack(
    slack, teams, ana, lead, customer, mailoutbox
):
    TeamChannel.objects.create(team=teams[1], slack_webhook_url=f"{slack.url}/services/T1/B1/x")
    # No agent can take it (everyone at capacity), so it waits in the queue.
    ana.agent.max_open_cases = 0
    ana.agent.save()
    lead.agent.max_open_cases = 0
    lead.agent.save()
    case = open_case(
        subject="Printer offline", description="It says offline.", customer=customer, team=teams[1]
    )
    assert case.assignee_id is None
    assert set(Notification.objects.filter(kind="new_in_queue").values_list("user__username", flat=True)) == {
        "ana",
        "lena",
    }
    row = Outbox.objects.get(channel="slack")
    assert row.status == "pending" and slack.posts == []  # nothing leaves before the worker
    assert outbox_drain() == {"sent": 1}
    (post,) = slack.posts
    assert post["path"] == "/services/T1/B1/x" and post["key"] == row.dedup_key
    assert f"New case in L1 Support: {case.reference} Printer offline" in post["json"]["text"]
    assert f"/cases/{case.reference}/" in post["json"]["text"]
    assert outbox_drain() == {} and len(slack.posts) == 1  # sent once


def test_a_revoked_slack_webhook_fails_at_once_and_shows_on_the_case(slack, teams, customer):
    slack.status = 404
    TeamChannel.objects.create(team=teams[1], slack_webhook_url=f"{slack.url}/services/gone")
    case = open_case(subject="Printer offline", description="offline", customer=customer, team=teams[1])
    assert outbox_drain() == {"failed": 1}
    row = Outbox.objects.get(channel="slack")
    assert row.status == "failed" and "HTTP 404" in row.last_error
    assert case.events.filter(reason__startswith="Slack post could not be delivered").exists()


def test_a_slack_server_error_is_retried(slack, teams, customer):
    slack.status = 503
    TeamChannel.objects.create(team=teams[1], slack_webhook_url=f"{slack.url}/hook")
    open_case(subject="Printer offline", description="offline", customer=customer, team=teams[1])
    assert outbox_drain() == {"retry": 1}
    slack.status = 200
    Outbox.objects.update(next_attempt_at=timezone.now())
    assert outbox_drain() == {"sent": 1} and len(slack.posts) == 2


def test_assigned_to_me_but_not_when_i_take_it(case, ana, alice):
    case_services.case_assign(case=case, assignee=ana, actor=alice, reason="she knows exports")
    n = Notification.objects.get(user=ana, kind="assigned")
    assert n.title == f"Assigned to you: {case.reference} Export crashes" and "she knows exports" in n.body
    assert Outbox.objects.get(kind="assigned").to == ["ana@casework.test"]
    case_services.case_assign(case=case, assignee=alice, actor=alice)  # taking it yourself
    assert not Notification.objects.filter(user=alice).exists()


def test_customer_reply_and_mentions_reach_the_owner_and_the_named(case, ana, alice, lead):
    case_services.case_assign(case=case, assignee=ana, actor="routing")
    case_services.case_add_message(case=case, kind=MessageKind.CUSTOMER, body="Any news? It still fails.")
    replied = Notification.objects.get(user=ana, kind="customer_replied")
    assert "Any news? It still fails." in replied.body
    case_services.case_add_message(
        case=case, kind=MessageKind.NOTE, body="@lena can you approve a refund? cc @ana @nobody", actor=ana
    )
    mentioned = Notification.objects.filter(kind="mentioned")
    assert list(mentioned.values_list("user__username", flat=True)) == ["lena"]  # not the author, not nobody
    assert mentioned.get().title == f"Ana mentioned you on {case.reference}"


def test_escalation_tells_the_new_owner_once(case, alice, bob, teams):
    case_services.case_escalate(case=case, to_tier=2, actor=alice, handoff_note="Needs DB access")
    case.refresh_from_db()
    assert case.assignee == bob  # routing picked the L2 agent in the same write
    assert list(Notification.objects.filter(user=bob).values_list("kind", flat=True)) == ["escalated"]
    assert "Needs DB access" in Notification.objects.get(user=bob).body


def test_sla_at_risk_and_breach_go_to_owner_and_lead_once_each(teams, ana, lead):
    customer = CustomerFactory()  # the Standard policy: critical first response in 15 min, around the clock
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        case = open_case(subject="Down", description="all down", customer=customer, priority="critical")
        case_services.case_set_team(case=case, team=teams[1], actor="test")
        case_services.case_assign(case=case, assignee=ana, actor="routing")
        Notification.objects.all().delete()
        traveller.shift(timedelta(minutes=12))
        sweep()
        sweep()
        risk = Notification.objects.filter(kind="sla_at_risk")
        assert sorted(risk.values_list("user__username", flat=True)) == ["ana", "lena"]
        assert "left)" in risk.first().title
        traveller.shift(timedelta(minutes=10))
        sweep()
        sweep()
    breach = Notification.objects.filter(kind="sla_breached")
    assert sorted(breach.values_list("user__username", flat=True)) == ["ana", "lena"]
    assert Outbox.objects.filter(kind="sla_breached").count() == 2


def test_daily_digest_collects_non_essential_notifications(case, ana):
    AgentPreference.objects.create(user=ana, daily_digest=True)
    case_services.case_assign(case=case, assignee=ana, actor="routing")
    case_services.case_add_message(case=case, kind=MessageKind.CUSTOMER, body="Hello?")
    assert not Outbox.objects.filter(kind="customer_replied").exists()  # waits for the digest
    assert Outbox.objects.filter(kind="assigned").exists()  # essential: at once
    assert followups.agent_digests() == 1
    assert followups.agent_digests() == 0  # once a day
    digest = Outbox.objects.get(kind="digest")
    assert "2 notifications since your last digest" in digest.subject
    assert "replied on" in digest.body_text and f"/cases/{case.reference}/" in digest.body_text


# --------------------------------------------------------------------------------------------------
# the list page
# --------------------------------------------------------------------------------------------------


def _login(client, user):
    client.force_login(user)


def test_list_counter_mark_read_and_isolation(client, case, ana, alice, django_assert_max_num_queries):
    case_services.case_assign(case=case, assignee=ana, actor=alice)
    case_services.case_add_message(case=case, kind=MessageKind.CUSTOMER, body="Hello?")
    _login(client, ana)
    with django_assert_max_num_queries(8):
        page = client.get("/notifications/")
    html = page.content.decode()
    assert page.status_code == 200 and 'data-testid="unread-count">2<' in html
    assert f"Assigned to you: {case.reference}" in html
    first = Notification.objects.filter(user=ana).order_by("id").first()
    response = client.post(f"/notifications/{first.pk}/open")
    assert response.status_code == 302 and response["Location"] == f"/cases/{case.reference}/"
    first.refresh_from_db()
    assert first.read_at is not None
    assert 'data-testid="unread-count">1<' in client.get("/notifications/").content.decode()
    client.post("/notifications/read-all")
    assert "unread-count" not in client.get("/notifications/?show=unread").content.decode()
    # Someone else's notification is a 404 for every action.
    _login(client, alice)
    assert client.post(f"/notifications/{first.pk}/open").status_code == 404
    assert client.post(f"/notifications/{first.pk}/read").status_code == 404
    client.post("/notifications/digest", {"daily_digest": "on"})
    assert AgentPreference.objects.get(user=alice).daily_digest
