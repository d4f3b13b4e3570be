"""Notifications to customers, end to end: decided in the write that causes them, delivered by the worker
to a real SMTP server; never to auto-responders; follow-ups by the scheduled jobs exactly once."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes, policy
from urllib.parse import urlsplit

import pytest
import time_machine
from django.utils import timezone

from casework.cases import services as case_services
from casework.cases.models import Case, CaseEvent, EventKind, Message, MessageKind
from casework.intake.services import ingest_raw
from casework.intake.tests.mailbuilder import build_mail
from casework.notify import followups
from casework.notify.delivery import outbox_drain
from casework.notify.models import Notification, Outbox, Suppression
from casework.testing.factories import open_case
from casework.triage.models import CannedReply, Rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def sink(settings, smtp_sink):
    for key, value in smtp_sink.django_settings.items():
        setattr(settings, key, value)
    settings.DEFAULT_FROM_EMAIL = "Support <support@casework.test>"
    settings.BASE_URL = "http://testserver"
    return smtp_sink


def _mail(**kwargs):
    kwargs.setdefault("sender", "Ann Smith <ann@customer.test>")
    kwargs.setdefault("subject", "VPN drops every hour")
    kwargs.setdefault("text", "Hello,\nour VPN connection drops every hour since Monday.\n")
    return build_mail(**kwargs)


def _body(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def test_acknowledgement_reaches_a_real_smtp_server_with_reference_promise_and_portal_link(sink, client):
    result = ingest_raw(_mail(message_id="<ack1@customer.test>"), source="pipe")
    case = Case.objects.get(reference=result.case_reference)
    row = Outbox.objects.get(kind="acknowledgement")
    assert row.case_id == case.pk and row.status == "pending"  # queued in intake's own transaction
    assert outbox_drain() == {"sent": 1}
    ((_, rcpt, raw),) = sink.wait_for(1)
    mail = message_from_bytes(raw, policy=policy.default)
    body = _body(mail)
    assert rcpt == ["ann@customer.test"]
    assert mail["Subject"] == f"[{case.reference}] We have received your request: VPN drops every hour"
    assert mail["Auto-Submitted"] == "auto-generated" and mail["In-Reply-To"] == "<ack1@customer.test>"
    assert "Hello Ann Smith," in body and case.reference in body
    assert "our VPN connection drops every hour since Monday." in body  # the summary of the request
    # The first-response promise of the case's SLA clock, in words and business hours.
    assert "We aim to reply within" in body and ", that is by " in body
    link = next(line for line in body.splitlines() if "/portal/go/" in line).strip()
    assert link.startswith("http://testserver/portal/go/")
    # The link works: it signs Ann in and opens her case.
    response = client.get(urlsplit(link).path)
    assert response.status_code == 302 and response["Location"].endswith(f"/portal/c/{case.public_token}/")
    assert client.get(response["Location"]).status_code == 200
    note = CaseEvent.objects.get(case=case, kind=EventKind.NOTE, data__notification__kind="acknowledgement")
    assert note.reason == "Acknowledgement of a new case emailed to ann@customer.test"


@pytest.mark.parametrize(
    "headers,why",
    [
        ({"List-Id": "<users.lists.example.com>"}, "mailing list"),
        ({"Precedence": "list"}, "Precedence: list"),
    ],
)
def test_no_acknowledgement_for_mail_from_machines_and_the_timeline_says_why(headers, why):
    result = ingest_raw(_mail(headers=headers, message_id="<list1@customer.test>"), source="pipe")
    case = Case.objects.get(reference=result.case_reference)  # list mail may open a case…
    assert not Outbox.objects.filter(kind="acknowledgement").exists()  # …but is never answered
    note = CaseEvent.objects.get(case=case, kind=EventKind.NOTE, data__notification__kind="acknowledgement")
    assert note.reason.startswith("No acknowledgement of a new case sent to ann@customer.test: automatic")
    assert why in note.reason


def test_auto_reply_on_a_case_gets_nothing(case):
    # An out-of-office answer to our mail threads onto the case: no acknowledgement, no alert to anyone.
    ingest_raw(
        _mail(
            sender="nora@northwind.test",
            subject=f"Out of office: [{case.reference}] Export crashes",
            headers={"Auto-Submitted": "auto-replied"},
            message_id="<ooo1@northwind.test>",
        ),
        source="pipe",
    )
    assert not Outbox.objects.exists()


def test_a_rules_canned_reply_respects_the_gate_and_is_marked_automatic():
    CannedReply.objects.create(name="ack", body="Hi {customer_name}, {reference} is with us.")
    Rule.objects.create(
        name="Canned",
        trigger="case_opened",
        order=1,
        conditions={"field": "subject", "op": "contains_any", "value": ["printer"]},
        actions=[{"type": "send_canned_reply", "value": "ack"}],
    )
    person = ingest_raw(_mail(subject="printer jam", message_id="<p1@customer.test>"), source="pipe")
    reply = Message.objects.get(case__reference=person.case_reference, kind=MessageKind.REPLY)
    row = Outbox.objects.get(message=reply)
    assert row.headers["Auto-Submitted"] == "auto-generated"
    machine = ingest_raw(
        _mail(subject="printer jam", headers={"List-Id": "<x.example>"}, message_id="<p2@customer.test>"),
        source="pipe",
    )
    assert not Message.objects.filter(case__reference=machine.case_reference, kind=MessageKind.REPLY).exists()
    note = CaseEvent.objects.get(case__reference=machine.case_reference, data__skipped="acknowledgement gate")
    assert note.reason.startswith("Canned reply 'ack' not sent: the message it would answer was auto-reply")


def test_a_hard_bounce_suppresses_the_address(sink, case, alice):
    case_services.case_add_message(case=case, kind="reply", body="Try again please.", actor=alice)
    reply = Outbox.objects.get(kind="")
    bounce = build_mail(
        sender="MAILER-DAEMON@northwind.test",
        subject="Undelivered Mail Returned to Sender",
        text=f"This is the mail system.\n\n<nora@northwind.test>: host said: 550 5.1.1 user unknown\n\n"
        f"Message-ID: <{reply.header_message_id}>\n",
        headers={"Auto-Submitted": "auto-replied", "In-Reply-To": f"<{reply.header_message_id}>"},
        message_id="<bounce1@northwind.test>",
    )
    ingest_raw(bounce, source="pipe")
    assert Suppression.objects.get().address == "nora@northwind.test"
    case_services.case_transition(case=case, to="in_progress", actor=alice)
    case_services.case_transition(case=case, to="resolved", actor=alice, reason="Fixed in 2.1")
    assert not Outbox.objects.filter(kind="resolution").exists()


def test_awaiting_client_mail_reminder_and_closing_each_once(case, alice, settings):
    settings.CASEWORK = {**settings.CASEWORK, "AWAITING_REMINDER_DAYS": 3, "AWAITING_CLOSE_DAYS": 7}
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        case_services.case_transition(case=case, to="in_progress", actor=alice)
        case_services.case_add_message(
            case=case,
            kind="reply",
            body="Could you send us the CSV file that fails?",
            actor=alice,
            set_status="awaiting_client",
        )
        notice = Outbox.objects.get(kind="awaiting_client")
        assert "Could you send us the CSV file that fails?" in notice.body_text
        assert "in 3 days, we will send you a reminder" in notice.body_text
        assert "after 7 days, we will close the case" in notice.body_text
        traveller.shift(timedelta(days=2))
        assert followups.awaiting_client_followups() == {"reminded": 0, "closed": 0}
        traveller.shift(timedelta(days=1, minutes=1))
        assert followups.awaiting_client_followups() == {"reminded": 1, "closed": 0}
        assert followups.awaiting_client_followups() == {"reminded": 0, "closed": 0}  # a second run
        reminder = Outbox.objects.get(kind="awaiting_reminder")
        assert "3 days ago" in reminder.body_text and "within 4 days" in reminder.body_text
        traveller.shift(timedelta(days=4))
        assert followups.awaiting_client_followups() == {"reminded": 0, "closed": 1}
        assert followups.awaiting_client_followups() == {"reminded": 0, "closed": 0}
    case.refresh_from_db()
    assert case.status == "resolved"
    closed = Outbox.objects.get(kind="awaiting_closed")
    assert "for 7 days, so we have closed it" in closed.body_text
    assert not Outbox.objects.filter(kind="resolution").exists()
    assert Outbox.objects.filter(kind="awaiting_reminder").count() == 1


def _awaiting(case, agent):
    case_services.case_transition(case=case, to="in_progress", actor=agent)
    case_services.case_add_message(
        case=case, kind="reply", body="Which version do you run?", actor=agent, set_status="awaiting_client"
    )


def test_already_reminded_cases_do_not_hold_back_newer_reminders(customer, alice, settings):
    settings.CASEWORK = {**settings.CASEWORK, "AWAITING_REMINDER_DAYS": 3, "AWAITING_CLOSE_DAYS": 7}
    cases = [
        open_case(subject=f"Export {n} fails", description="Error 500.", customer=customer) for n in range(4)
    ]
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for case in cases[:3]:
            _awaiting(case, alice)
        traveller.shift(timedelta(days=3, minutes=1))
        # Batches of two: a full batch says there may be more, so the scheduler comes back in seconds.
        assert followups.awaiting_client_followups(batch=2) == {"reminded": 2, "closed": 0, "backlog": True}
        assert followups.awaiting_client_followups(batch=2) == {"reminded": 1, "closed": 0}
        _awaiting(cases[3], alice)
        traveller.shift(timedelta(days=3, minutes=1))
        # Three older cases, reminded and not yet due to close, come first by waiting time; the newest
        # still gets its reminder in a batch of two.
        assert followups.awaiting_client_followups(batch=2) == {"reminded": 1, "closed": 0}
        traveller.shift(timedelta(days=1))
        assert followups.awaiting_client_followups(batch=2) == {"reminded": 0, "closed": 2, "backlog": True}
        assert followups.awaiting_client_followups(batch=2) == {"reminded": 0, "closed": 1}
    reminded = Outbox.objects.filter(kind="awaiting_reminder")
    assert sorted(reminded.values_list("case_id", flat=True)) == sorted(c.pk for c in cases)
    assert [Case.objects.get(pk=c.pk).status for c in cases] == ["resolved"] * 3 + ["awaiting_client"]


def test_resolution_summary_and_automatic_close(case, alice, settings):
    settings.CASEWORK = {**settings.CASEWORK, "RESOLVED_CLOSE_DAYS": 5, "REOPEN_WINDOW_DAYS": 14}
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        case_services.case_transition(case=case, to="in_progress", actor=alice)
        case_services.case_transition(
            case=case, to="resolved", actor=alice, reason="Version 2.1 fixes the export of long files."
        )
        mail = Outbox.objects.get(kind="resolution")
        assert "How it was resolved:\nVersion 2.1 fixes the export of long files." in mail.body_text
        assert "reply to this email within 14 days and the case reopens" in mail.body_text
        assert "The case closes automatically in 5 days" in mail.body_text
        traveller.shift(timedelta(days=5, minutes=1))
        assert followups.resolved_autoclose() == 1
        assert followups.resolved_autoclose() == 0
    case.refresh_from_db()
    assert case.status == "closed"
    event = case.events.filter(kind=EventKind.STATUS_CHANGED).last()
    assert event.reason == "Resolved 5 days ago without a reply from the customer: closed automatically"


def test_critical_case_owner_is_reminded_then_the_customer_gets_an_update(case, alice, settings):
    settings.CASEWORK = {**settings.CASEWORK, "CRITICAL_UPDATE_HOURS": 2.0, "CRITICAL_OWNER_LEAD_MINUTES": 15}
    start = case.created_at
    with time_machine.travel(start, tick=False) as traveller:
        case_services.case_set_priority(case=case, priority="critical", actor=alice)
        case_services.case_assign(case=case, assignee=alice, actor="routing")
        traveller.shift(timedelta(hours=1, minutes=40))
        assert followups.critical_updates() == {"owner_reminders": 0, "customer_updates": 0}
        traveller.shift(timedelta(minutes=6))
        assert followups.critical_updates() == {"owner_reminders": 1, "customer_updates": 0}
        assert followups.critical_updates() == {"owner_reminders": 0, "customer_updates": 0}
        reminder = Notification.objects.get(user=alice, kind="critical_update_due")
        assert reminder.title.startswith("Update due in 14 min")
        traveller.shift(timedelta(minutes=15))
        assert followups.critical_updates()["customer_updates"] == 1
        assert followups.critical_updates()["customer_updates"] == 0
        update = Outbox.objects.get(kind="critical_update")
        assert "still working on it with top priority" in update.body_text  # no public reply yet: holding
        # An agent's public reply restarts the clock; the next update carries it.
        traveller.shift(timedelta(minutes=30))
        case_services.case_add_message(case=case, kind="reply", body="We found the faulty node.", actor=alice)
        traveller.shift(timedelta(hours=2, minutes=1))
        followups.critical_updates()
    updates = list(Outbox.objects.filter(kind="critical_update").order_by("id"))
    assert len(updates) == 2 and "We found the faulty node." in updates[1].body_text


def test_each_notification_once_per_change_even_when_a_write_asks_twice(case, alice):
    from casework.cases.services.unit_of_work import unit_of_work
    from casework.notify import engine

    for _ in range(3):
        with unit_of_work("repeat"):
            engine.send("acknowledgement", case=case, to_customer=True, dedup_key=f"ack:{case.pk}")
    assert Outbox.objects.filter(kind="acknowledgement").count() == 1


def test_no_resolution_summary_when_the_customer_resolved_it_themselves(case, alice):
    case_services.case_transition(case=case, to="in_progress", actor=alice)
    case_services.case_transition(
        case=case, to="resolved", actor="customer", data={"by_customer": True, "via": "portal"}
    )
    assert not Outbox.objects.filter(kind="resolution").exists()
