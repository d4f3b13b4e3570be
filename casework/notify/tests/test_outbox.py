"""The outbox against real SMTP servers (aiosmtpd): replies leave with signed ids and thread back in,
transient failures retry with backoff, permanent ones fail at once and show on the case."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
import time_machine
from django.utils import timezone

from casework.cases import services as case_services
from casework.cases.models import CaseEvent, Message
from casework.intake.identity import signing_key
from casework.intake.services import ingest_raw
from casework.intake.signing import verify_message_id
from casework.intake.tests.mailbuilder import build_mail
from casework.notify.delivery import is_permanent, outbox_drain
from casework.notify.models import Outbox, OutboxStatus
from casework.notify.services import enqueue_reply_email, reply_subject
from casework.testing.services import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def sink_settings(settings, smtp_sink):
    for key, value in smtp_sink.django_settings.items():
        setattr(settings, key, value)
    settings.DEFAULT_FROM_EMAIL = "Support <support@casework.test>"
    return smtp_sink


def _agent_reply(case, alice, body="Please try version 2.1.", django_capture_on_commit_callbacks=None):
    with django_capture_on_commit_callbacks(execute=True):
        return case_services.case_add_message(case=case, kind="reply", body=body, actor=alice)


def test_public_reply_is_queued_in_its_own_transaction_and_never_sent_there(
    case, alice, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        reply = case_services.case_add_message(case=case, kind="reply", body="On it.", actor=alice)
    # The mail is a row written with the reply (a crash after the commit cannot lose it), nothing is
    # left for after the commit, and nothing was sent: only the worker sends.
    assert callbacks == [] and mailoutbox == []
    row = Outbox.objects.get()
    assert row.message_id == reply.pk and row.to == [case.customer.email]
    assert row.status == OutboxStatus.PENDING and row.subject == f"[{case.reference}] Export crashes"
    with django_capture_on_commit_callbacks(execute=True):
        case_services.case_add_message(case=case, kind="note", body="internal", actor=alice)
    assert Outbox.objects.count() == 1  # notes are never mailed
    assert enqueue_reply_email(message=reply).pk == row.pk  # idempotent


def test_round_trip_reply_threads_back_by_signed_message_id(
    sink_settings, alice, django_capture_on_commit_callbacks
):
    first = ingest_raw(
        build_mail(sender="Ann <ann@customer.test>", subject="VPN drops", message_id="<c1@customer.test>"),
        source="pipe",
    )
    case = Message.objects.get(message_id="c1@customer.test").case
    reply = _agent_reply(case, alice, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    # The acknowledgement of the new case (automatic) and the agent's reply (not automatic).
    assert outbox_drain() == {"sent": 2}
    (_, _, ack_raw), (_, rcpt, raw) = sink_settings.wait_for(2)
    ack = message_from_bytes(ack_raw, policy=policy.default)
    assert ack["Auto-Submitted"] == "auto-generated" and ack["In-Reply-To"] == "<c1@customer.test>"
    sent = message_from_bytes(raw, policy=policy.default)
    assert rcpt == ["ann@customer.test"] and sent["Auto-Submitted"] is None
    assert sent["Subject"] == f"Re: [{first.case_reference}] VPN drops"
    assert sent["In-Reply-To"] == "<c1@customer.test>" and "<c1@customer.test>" in sent["References"]
    our_id = sent["Message-ID"].strip("<>")
    assert verify_message_id(our_id, signing_key()) == case.pk
    reply.refresh_from_db()
    assert reply.message_id == our_id and reply.meta["delivery"]["state"] == "sent"
    assert "[cw-ref:" in sent.get_body(("plain",)).get_content()

    answer = build_mail(
        sender="Ann <ann@customer.test>",
        subject=f"Re: {sent['Subject']}",
        text="That fixed it, thanks!\n\nOn Tue, Support wrote:\n> Please try version 2.1.\n",
        headers={"In-Reply-To": sent["Message-ID"], "References": sent["Message-ID"]},
        message_id="<c2@customer.test>",
    )
    result = ingest_raw(answer, source="pipe")
    assert result.case_reference == case.reference and result.matched_by == "signed_message_id"
    assert Message.objects.get(message_id="c2@customer.test").body == "That fixed it, thanks!"

    # A client that drops In-Reply-To/References still threads by the token quoted from the footer.
    quoted = "\n".join(f"> {line}" for line in sent.get_body(("plain",)).get_content().splitlines())
    bare = build_mail(
        sender="ann@customer.test",
        subject="one more thing",
        text=f"And the printer?\n\n{quoted}\n",
        message_id="<c3@customer.test>",
    )
    assert ingest_raw(bare, source="pipe").matched_by == "body_token"


def test_transient_failures_retry_with_exponential_backoff_then_fail_on_the_case(
    settings, case, alice, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    settings.CASEWORK = {**settings.CASEWORK, "OUTBOX_MAX_ATTEMPTS": 3, "OUTBOX_BACKOFF_SECONDS": 30}
    reply = _agent_reply(case, alice, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        assert outbox_drain() == {"retry": 1}
        row = Outbox.objects.get()
        assert row.attempts == 1 and row.next_attempt_at == start + timedelta(seconds=30)
        assert "Connection" in row.last_error or "refused" in row.last_error.lower()
        assert outbox_drain() == {}  # not due yet
        traveller.shift(timedelta(seconds=31))
        assert outbox_drain() == {"retry": 1}
        row.refresh_from_db()
        assert row.next_attempt_at == start + timedelta(seconds=31 + 60)
        traveller.shift(timedelta(seconds=61))
        assert outbox_drain() == {"failed": 1}
    row.refresh_from_db()
    assert row.status == OutboxStatus.FAILED and row.attempts == 3
    reply.refresh_from_db()
    assert (
        reply.meta["delivery"]["state"] == "failed"
        and "gave up after 3 attempts" in reply.meta["delivery"]["detail"]
    )
    note = CaseEvent.objects.get(case=case, kind="note", message=reply)
    assert "could not be delivered" in note.reason and note.data["delivery_failure"]["permanent"] is False


class _Refusing:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"


@contextlib.contextmanager
def _refusing_server():
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(_Refusing(), hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def test_permanent_5xx_fails_at_once_and_shows_on_the_case(
    settings, case, alice, django_capture_on_commit_callbacks
):
    reply = _agent_reply(case, alice, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    with _refusing_server() as port:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        assert outbox_drain() == {"failed": 1}
    row = Outbox.objects.get()
    assert row.status == OutboxStatus.FAILED and row.attempts == 1 and "550" in row.last_error
    reply.refresh_from_db()
    assert reply.meta["delivery"]["state"] == "failed"
    note = CaseEvent.objects.get(case=case, kind="note", message=reply)
    assert note.data["delivery_failure"]["permanent"] is True


def test_two_drains_never_send_the_same_row_twice(
    sink_settings, case, alice, django_capture_on_commit_callbacks
):
    _agent_reply(case, alice, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    assert outbox_drain() == {"sent": 1}
    assert outbox_drain() == {}
    sink_settings.wait_for(1)
    assert len(sink_settings.messages) == 1


def test_subject_and_permanence_rules(case):
    import smtplib

    case.subject = "Re: AW: Export crashes"
    assert reply_subject(case, is_reply=True) == f"Re: [{case.reference}] Export crashes"
    assert is_permanent(smtplib.SMTPRecipientsRefused({"a@b": (550, b"no")}))
    assert not is_permanent(smtplib.SMTPRecipientsRefused({"a@b": (451, b"later")}))
    assert not is_permanent(smtplib.SMTPAuthenticationError(535, b"bad password"))
    assert not is_permanent(ConnectionRefusedError())
