"""The engine's contract: rows only inside a write, one row per key, and the fences (suppression,
acknowledgement gate, opt-out, rate limits, safe templates)."""

from __future__ import annotations

import pytest

from casework.cases.models import CaseEvent
from casework.cases.services.unit_of_work import unit_of_work
from casework.notify import engine, templating
from casework.notify.models import (
    AgentPreference,
    CustomerPreference,
    Notification,
    NotificationKind,
    NotificationTemplate,
    Outbox,
    Suppression,
    TeamChannel,
)

pytestmark = pytest.mark.django_db


def _send(kind="acknowledgement", **kwargs):
    kwargs.setdefault("dedup_key", "t:1")
    with unit_of_work("test"):
        return engine.send(kind, **kwargs)


def test_send_outside_a_write_is_refused(case):
    with pytest.raises(RuntimeError, match="inside a write"):
        engine.send("acknowledgement", case=case, to_customer=True, dedup_key="x")


def test_customer_email_is_automatic_threaded_and_on_the_timeline(case):
    sent = _send(case=case, to_customer=True, context={"first_response": "within 4 business hours"})
    row = Outbox.objects.get()
    assert row.to == ["nora@northwind.test"] and row.kind == "acknowledgement" and row.channel == "email"
    assert row.headers["Auto-Submitted"] == "auto-generated"
    assert row.header_message_id and row.headers["Message-ID"] == f"<{row.header_message_id}>"
    assert case.reference in row.subject and "within 4 business hours" in row.body_text
    assert "[cw-ref:" in row.body_text and "<a href=" in row.body_html
    assert sent.emails and not sent.skipped
    note = CaseEvent.objects.filter(case=case, data__notification__kind="acknowledgement").get()
    assert note.reason == "Acknowledgement of a new case emailed to nora@northwind.test"


def test_same_key_is_queued_once(case):
    _send(case=case, to_customer=True)
    again = _send(case=case, to_customer=True)
    assert Outbox.objects.count() == 1 and not again.emails


def test_suppressed_address_gets_nothing_and_the_timeline_says_why(case):
    Suppression.objects.create(address="Nora@Northwind.test", source="bounce", reason="550 no such user")
    sent = _send(case=case, to_customer=True)
    assert not Outbox.objects.exists()
    assert "suppression list" in sent.skipped[0][1]
    assert CaseEvent.objects.filter(
        case=case, data__notification__kind="acknowledgement", reason__contains="suppression"
    ).exists()


def test_auto_reply_gate(case):
    message = case.messages.get()
    message.meta = {"acknowledge": False, "no_acknowledgement_reason": "auto-reply: Auto-Submitted"}
    sent = _send(case=case, to_customer=True, gate=message)
    assert not sent.emails and "auto-replies" in sent.skipped[0][1]
    message.meta = {"acknowledge": True}
    assert _send(case=case, to_customer=True, gate=message, dedup_key="t:2").emails


def test_opt_out_only_for_non_essential_kinds(case):
    CustomerPreference.objects.create(
        customer=case.customer, muted_kinds=["critical_update", "acknowledgement"]
    )
    assert not _send("critical_update", case=case, to_customer=True).emails
    assert _send("acknowledgement", case=case, to_customer=True).emails  # essential


def test_rate_limit_per_case_and_recipient(case, alice, settings):
    settings.CASEWORK = {**settings.CASEWORK, "NOTIFY_RATE_PER_CASE": 2, "NOTIFY_RATE_PER_RECIPIENT": 3}
    alice.email = "alice@casework.test"
    alice.save()
    results = [_send("customer_replied", case=case, to_agents=[alice], dedup_key=f"r:{i}") for i in range(4)]
    assert [bool(r.emails) for r in results] == [True, True, False, False]
    assert "about this case" in results[2].skipped[0][1]
    # In-app notifications are not rate limited: the list shows everything.
    assert Notification.objects.filter(user=alice).count() == 4
    # Essential kinds always go.
    assert _send("assigned", case=case, to_agents=[alice], dedup_key="a:1").emails


def test_language_and_fallback(case):
    kind = NotificationKind.objects.get(key="acknowledgement")
    NotificationTemplate.objects.create(
        kind=kind,
        language="de",
        subject="[{{ case.reference }}] Anfrage erhalten",
        body="Hallo {{ customer.name }}",
    )
    CustomerPreference.objects.create(customer=case.customer, language="de")
    _send(case=case, to_customer=True)
    assert Outbox.objects.get().subject == f"[{case.reference}] Anfrage erhalten"
    CustomerPreference.objects.filter(customer=case.customer).update(language="fr")
    _send(case=case, to_customer=True, dedup_key="t:fr")
    assert Outbox.objects.order_by("id").last().subject.startswith(f"[{case.reference}] We have received")


def test_agent_channels_preferences_and_digest(case, alice, teams):
    alice.email = "alice@casework.test"
    alice.save()
    AgentPreference.objects.create(user=alice, muted_channels=["email"])
    sent = _send("assigned", case=case, to_agents=[alice])
    assert len(sent.inapp) == 1 and not sent.emails
    AgentPreference.objects.filter(user=alice).update(muted_channels=[], daily_digest=True)
    sent = _send("customer_replied", case=case, to_agents=[alice], dedup_key="t:2")
    assert sent.inapp and not sent.emails and ("alice", "daily digest") in sent.skipped
    n = Notification.objects.filter(kind="customer_replied").get()
    assert n.url == case.get_absolute_url() and "replied" in n.title


def test_slack_row_for_a_team_with_a_webhook(case, teams):
    TeamChannel.objects.create(team=teams[1], slack_webhook_url="http://127.0.0.1:9/hook")
    sent = _send(
        "sla_breached",
        case=case,
        to_teams=[teams[1], teams[2]],
        context={"metric": "Resolution", "due": "10:00"},
    )
    row = Outbox.objects.get(channel="slack")
    assert row.endpoint == "http://127.0.0.1:9/hook" and case.reference in row.payload["text"]
    assert (f"slack:{teams[2].name}", "the team has no Slack webhook") in sent.skipped
    assert sent.slack == [row] or sent.slack[0].dedup_key == row.dedup_key


def test_disabled_kind_sends_nothing(case):
    NotificationKind.objects.filter(key="acknowledgement").update(enabled=False)
    assert not _send(case=case, to_customer=True).anything


def test_context_must_be_plain(case):
    with pytest.raises(TypeError, match=r"context\.case_obj is a Case"):
        _send(case=case, to_customer=True, context={"case_obj": case})


@pytest.mark.parametrize(
    "source",
    ["{% load static %}", "{% debug %}", "{% include 'x.html' %}", "{% url 'web:queue' %}", "{% if %}"],
)
def test_unsafe_or_broken_templates_are_refused(source):
    with pytest.raises(templating.TemplateProblem):
        templating.check(source)


def test_templates_render_plain_text_without_escaping():
    assert templating.render("{{ a }} & {{ b.c }}", {"a": "<x>", "b": {"c": "d"}}) == "<x> & d"
    assert templating.render_subject("a\n  b {{ missing.thing }}", {}) == "a b"


def test_admin_pages_and_template_validation(client, carol):
    client.force_login(carol)
    kind = NotificationKind.objects.get(key="acknowledgement")
    assert client.get("/admin/notify/notificationkind/").status_code == 200
    page = client.get(f"/admin/notify/notificationkind/{kind.pk}/change/")
    assert page.status_code == 200 and b"first_response" in page.content
    response = client.post(
        "/admin/notify/notificationtemplate/add/",
        {"kind": kind.pk, "channel": "email", "language": "fr", "subject": "x", "body": "{% debug %}"},
    )
    assert response.status_code == 200 and b"is not allowed in notification templates" in response.content
    assert not NotificationTemplate.objects.filter(language="fr").exists()
