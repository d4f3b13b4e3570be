"""ingest_raw on the database: new cases, threading with its reason, idempotency, noise, quarantine."""

from __future__ import annotations

import pytest

from casework.cases import services as case_services
from casework.cases.models import Attachment, Case, CaseEvent, Message
from casework.cases.status import Status
from casework.intake.identity import message_id_domain, signing_key
from casework.intake.models import InboundMail, Outcome, Quarantine, QuarantineState
from casework.intake.services import ingest_raw, may_acknowledge, quarantine_discard, quarantine_release
from casework.intake.signing import make_message_id, make_reply_token
from casework.intake.tests.mailbuilder import build_bounce, build_mail, raw_mail
from casework.people.models import Customer

pytestmark = pytest.mark.django_db


def _reply(case: Case, **kwargs) -> bytes:
    defaults = {
        "sender": f"Nora North <{case.customer.email}>",
        "subject": f"Re: {case.subject}",
        "text": "Still broken.\n\nOn Mon, 3 Mar 2025 Support wrote:\n> earlier\n",
        "message_id": "<reply1@northwind.test>",
    }
    return build_mail(**{**defaults, **kwargs})


def test_new_mail_opens_an_email_case_with_its_reason_and_attachment():
    raw = build_mail(attachments=[("log.txt", "text/plain", b"line 1\nline 2\n")])
    result = ingest_raw(raw, source="pipe")
    assert result.created and not result.quarantined and result.matched_by == "new_case"
    case = Case.objects.get(reference=result.case_reference)
    assert case.channel == "email" and case.subject == "Printer on fire"
    assert case.customer.email == "alice@example.com" and case.customer.name == "Alice Example"
    message = case.messages.get()
    assert message.message_id == "m1@example.com" and "printer is on fire" in message.body
    assert message.meta["matched_by"] == "new_case" and message.meta["acknowledge"] is True
    assert may_acknowledge(message)
    attachment = Attachment.objects.get(case=case)
    assert attachment.filename == "log.txt" and attachment.message == message
    row = InboundMail.objects.get()
    assert row.outcome == Outcome.INGESTED and row.case == case and row.message == message
    assert bytes(row.raw) == raw and row.source == "pipe"


def test_same_mail_twice_is_one_message():
    raw = build_mail()
    first = ingest_raw(raw, source="imap:support")
    second = ingest_raw(raw, source="pipe")
    assert second.duplicate and not second.created and second.case_reference == first.case_reference
    assert Message.objects.count() == 1 and InboundMail.objects.count() == 1


def test_mail_without_message_id_is_idempotent_by_content():
    raw = build_mail(message_id=None)
    first = ingest_raw(raw, source="pipe")
    assert ingest_raw(raw, source="pipe").duplicate
    assert InboundMail.objects.get().dedup_key.startswith("sha256:") and first.created
    other = ingest_raw(build_mail(message_id=None, text="Another problem\n"), source="pipe")
    assert other.created and Case.objects.count() == 2


def test_reply_threads_by_known_message_id_and_the_timeline_says_why(case, client, alice):
    case_services.case_add_message(
        case=case, kind="customer", body="more", message_id="orig@northwind.test", customer=case.customer
    )
    result = ingest_raw(_reply(case, headers={"In-Reply-To": "<orig@northwind.test>"}), source="pipe")
    assert not result.created and result.case_reference == case.reference
    assert result.matched_by == "references"
    message = Message.objects.get(message_id="reply1@northwind.test")
    assert message.body == "Still broken."  # quoted history stripped
    event = CaseEvent.objects.get(case=case, kind="message_added", message=message)
    assert event.data["matched_by"] == "references" and "orig@northwind.test" in event.data["evidence"]
    client.force_login(alice)
    page = client.get(f"/cases/{case.reference}/").content.decode()
    assert "threaded by: references" in page and "orig@northwind.test" in page


def test_reply_threads_by_signed_message_id(case):
    ours = make_message_id(case_id=case.pk, nonce="n1", key=signing_key(), domain=message_id_domain())
    result = ingest_raw(_reply(case, headers={"In-Reply-To": f"<{ours}>"}), source="pipe")
    assert result.matched_by == "signed_message_id" and result.case_reference == case.reference


def test_reply_threads_by_body_token_when_headers_are_gone(case):
    token = make_reply_token(case.pk, signing_key())
    text = f"Any news?\n\n> Case {case.reference}: reply to this email\n> {token}\n"
    result = ingest_raw(_reply(case, subject="Any news", text=text), source="pipe")
    assert result.matched_by == "body_token" and result.case_reference == case.reference


def test_subject_reference_needs_a_sender_of_the_customer(case):
    colleague = ingest_raw(
        _reply(case, sender="ned@northwind.test", subject=f"Re: [{case.reference}] Export"), source="pipe"
    )
    assert colleague.matched_by == "subject_reference" and colleague.case_reference == case.reference
    stranger = ingest_raw(
        _reply(
            case,
            sender="eve@evil.test",
            subject=f"Re: [{case.reference}] Export",
            message_id="<eve1@evil.test>",
        ),
        source="pipe",
    )
    assert stranger.created and stranger.case_reference != case.reference
    message = Message.objects.get(message_id="eve1@evil.test")
    assert any("outside the customer" in r for r in message.meta["rejected_signals"])


def test_customer_mail_to_closed_case_opens_follow_up_past_the_reopen_window(case, settings):
    settings.CASEWORK = {**settings.CASEWORK, "REOPEN_WINDOW_DAYS": 0}  # any later mail is past it
    for status in (Status.TRIAGED, Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED):
        if case.status != status:
            case_services.case_transition(case=case, to=status, reason="done")
    ours = make_message_id(case_id=case.pk, nonce="n2", key=signing_key(), domain=message_id_domain())
    result = ingest_raw(_reply(case, headers={"In-Reply-To": f"<{ours}>"}), source="pipe")
    assert result.created and result.case_reference != case.reference
    assert Case.objects.get(reference=result.case_reference).follow_up_of == case


def test_customer_mail_to_a_case_closed_within_the_reopen_window_reopens_it(case):
    for status in (Status.TRIAGED, Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED):
        if case.status != status:
            case_services.case_transition(case=case, to=status, reason="done")
    ours = make_message_id(case_id=case.pk, nonce="n3", key=signing_key(), domain=message_id_domain())
    result = ingest_raw(_reply(case, headers={"In-Reply-To": f"<{ours}>"}), source="pipe")
    assert not result.created and result.case_reference == case.reference
    case.refresh_from_db()
    assert case.status == Status.IN_PROGRESS and case.reopen_count == 1


def test_mail_from_our_own_address_is_ignored(settings):
    settings.DEFAULT_FROM_EMAIL = "Support <support@casework.test>"
    result = ingest_raw(build_mail(sender="support@casework.test"), source="pipe")
    assert result.outcome == Outcome.IGNORED_OWN and result.case_reference is None
    settings.CASEWORK = {**settings.CASEWORK, "INTAKE_OWN_ADDRESSES": ["alerts@casework.test"]}
    assert ingest_raw(
        build_mail(sender="alerts@casework.test", message_id="<a2@x>"), source="pipe"
    ).outcome == (Outcome.IGNORED_OWN)
    assert Case.objects.count() == 0 and Customer.objects.count() == 0


def test_rate_limit_quarantines_a_mail_storm_and_release_bypasses_it(settings, alice):
    settings.CASEWORK = {**settings.CASEWORK, "INTAKE_RATE_LIMIT": 3}
    results = [
        ingest_raw(build_mail(message_id=f"<storm{i}@example.com>", text=f"mail {i}\n"), source="pipe")
        for i in range(5)
    ]
    assert [r.quarantined for r in results] == [False, False, False, True, True]
    assert results[3].reason.startswith("rate_limited")
    held = Quarantine.objects.order_by("id")
    assert held.count() == 2 and all(q.reason_code == "rate_limited" for q in held)
    released = quarantine_release(quarantine=held[0], actor=alice)
    assert released.created and not released.quarantined
    first = Quarantine.objects.get(pk=held[0].pk)
    assert first.state == QuarantineState.RELEASED and first.resolved_by == alice
    assert first.inbound.outcome == Outcome.INGESTED and first.inbound.case is not None
    quarantine_discard(quarantine=held[1], actor=alice)
    assert Quarantine.objects.get(pk=held[1].pk).state == QuarantineState.DISCARDED
    assert Case.objects.count() == 4 and InboundMail.objects.count() == 5


def test_release_of_a_mail_that_is_still_refused_keeps_it_held(alice):
    result = ingest_raw(raw_mail("To: support@casework.test\nSubject: who am I"), source="pipe")
    assert result.quarantined and "no sender" in result.reason
    item = Quarantine.objects.get()
    assert bytes(item.raw).startswith(b"To: support") and item.reason_code == "not_acceptable"
    again = quarantine_release(quarantine=item, actor=alice)
    assert again.quarantined and Quarantine.objects.get().state == QuarantineState.HELD
    assert InboundMail.objects.count() == 1


def test_empty_and_oversized_mail_go_to_quarantine(settings):
    assert ingest_raw(b"\r\n\r\n", source="pipe").reason.startswith("unparseable")
    settings.CASEWORK = {**settings.CASEWORK, "INTAKE_MAX_BYTES": 2000}
    big = ingest_raw(build_mail(text="x" * 5000 + "\n", message_id="<big@x>"), source="pipe")
    assert big.quarantined and big.reason.startswith("too_large")
    assert Quarantine.objects.count() == 2 and Case.objects.count() == 0


def test_unthreaded_auto_reply_never_opens_a_case():
    raw = build_mail(subject="Out of office", headers={"Auto-Submitted": "auto-replied"})
    result = ingest_raw(raw, source="pipe")
    assert result.outcome == Outcome.IGNORED_AUTO_REPLY and result.case_reference is None
    assert Case.objects.count() == 0 and "auto-reply" in InboundMail.objects.get().reason


def test_threaded_auto_reply_is_stored_but_never_acknowledged(case):
    case_services.case_add_message(
        case=case, kind="customer", body="more", message_id="orig2@northwind.test", customer=case.customer
    )
    raw = _reply(
        case,
        subject="Automatic reply: Export crashes",
        headers={"Auto-Submitted": "auto-replied", "In-Reply-To": "<orig2@northwind.test>"},
        message_id="<ooo@northwind.test>",
    )
    result = ingest_raw(raw, source="pipe")
    assert result.outcome == Outcome.THREADED
    message = Message.objects.get(message_id="ooo@northwind.test")
    assert message.meta["acknowledge"] is False and not may_acknowledge(message)
    assert "auto-reply" in message.meta["no_acknowledgement_reason"]


def test_bounce_marks_our_mail_failed_on_its_case_and_opens_nothing(case, alice):
    from casework.notify.models import Outbox
    from casework.notify.services import enqueue_reply_email

    reply = case_services.case_add_message(case=case, kind="reply", body="Try again", actor=alice)
    row = enqueue_reply_email(message=reply)
    reply.refresh_from_db()
    assert reply.message_id == row.header_message_id
    cases_before = Case.objects.count()
    result = ingest_raw(build_bounce(original_message_id=reply.message_id), source="pipe")
    assert result.outcome == Outcome.BOUNCE and result.case_reference == case.reference
    assert Case.objects.count() == cases_before
    assert Outbox.objects.get().status == "failed"
    reply.refresh_from_db()
    assert reply.meta["delivery"]["state"] == "failed" and "5.1.1" in reply.meta["delivery"]["detail"]
    note = CaseEvent.objects.get(case=case, kind="note", message=reply)
    assert "could not be delivered" in note.reason and note.data["delivery_failure"]["bounce"]


def test_bounce_for_unknown_mail_is_recorded_not_a_case():
    result = ingest_raw(build_bounce(original_message_id="nobody@else.test"), source="pipe")
    assert result.outcome == Outcome.BOUNCE and result.case_reference is None and not result.quarantined
    assert Case.objects.count() == 0 and InboundMail.objects.get().outcome == Outcome.BOUNCE


@pytest.mark.parametrize(
    "step",
    [(Attachment, "bulk_create"), (InboundMail, "bulk_create")],
    ids=["attachments, after the case and message rows", "the intake record, the last write"],
)
def test_a_crash_mid_ingest_leaves_nothing_behind(monkeypatch, step):
    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    model, method = step
    monkeypatch.setattr(model.objects, method, explode)
    with pytest.raises(RuntimeError):
        ingest_raw(build_mail(attachments=[("a.txt", "text/plain", b"x")]), source="pipe")
    assert Case.objects.count() == 0 and InboundMail.objects.count() == 0
    assert Customer.objects.count() == 0 and Message.objects.count() == 0
    monkeypatch.undo()
    assert ingest_raw(build_mail(attachments=[("a.txt", "text/plain", b"x")]), source="pipe").created


def test_too_long_body_is_truncated_and_big_attachments_skipped(settings):
    settings.CASEWORK = {**settings.CASEWORK, "MAX_MESSAGE_BYTES": 2048, "MAX_ATTACHMENT_BYTES": 1024}
    raw = build_mail(text="word " * 2000, attachments=[("big.bin", "application/octet-stream", b"0" * 4096)])
    result = ingest_raw(raw, source="pipe")
    message = Case.objects.get(reference=result.case_reference).messages.get()
    assert message.meta["truncated"] and "truncated by casework" in message.body
    assert message.meta["skipped_attachments"] == [{"filename": "big.bin", "size": 4096}]
