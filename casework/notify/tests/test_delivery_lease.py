"""Outbox delivery with a lease, in one process (real SMTP sink): idempotency keys, a live lease is never
reclaimed, an expired one is (same Message-ID, counted, logged), the Message-ID is fixed before the first
attempt, and the crash point sits before the server has the mail.

Real workers killed mid-send: test_crash_outbox.py."""

from __future__ import annotations

import logging
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from casework.cases.models import CaseEvent
from casework.notify import delivery, handover
from casework.notify.delivery import outbox_drain, outbox_has_due, outbox_poll
from casework.notify.models import Outbox, OutboxStatus
from casework.testing.services import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def sink(settings, smtp_sink):
    for key, value in smtp_sink.django_settings.items():
        setattr(settings, key, value)
    return smtp_sink


def _row(**fields) -> Outbox:
    now = timezone.now()
    values = {
        "from_address": "Support <support@casework.test>",
        "to": ["ann@customer.test"],
        "subject": "Your case",
        "body_text": "Hello",
        "next_attempt_at": now,
        "created_at": now,
    }
    return Outbox.objects.create(**{**values, **fields})


def _message_id(raw: bytes) -> str:
    return message_from_bytes(raw, policy=policy.default)["Message-ID"].strip("<>")


def test_every_row_has_an_idempotency_key():
    _row()
    _row(dedup_key=None)
    Outbox.objects.bulk_create([Outbox(**{**_fields(), "dedup_key": ""})])
    keys = list(Outbox.objects.values_list("dedup_key", flat=True))
    assert len(set(keys)) == 3 and all(key.startswith("outbox:") for key in keys)
    assert _row(dedup_key="reply:7").dedup_key == "reply:7"


def _fields() -> dict:
    now = timezone.now()
    return {"from_address": "s@casework.test", "to": ["a@b.test"], "subject": "s", "body_text": "b",
            "next_attempt_at": now, "created_at": now}  # fmt: skip


def test_a_claimed_row_is_sent_marked_and_released(sink):
    row = _row()
    assert outbox_drain(holder="w1") == {"sent": 1}
    row.refresh_from_db()
    assert row.status == OutboxStatus.SENT and row.claimed_by == "w1" and row.lease_expires_at is None
    assert row.attempts == 1 and row.reclaims == 0 and row.sent_at is not None
    ((_, _, raw),) = sink.wait_for(1)
    assert _message_id(raw) == row.header_message_id  # fixed on the row before it was sent
    assert not outbox_has_due() and outbox_drain(holder="w2") == {}


def test_a_live_lease_is_never_reclaimed_an_expired_one_is_with_the_same_message_id(sink, caplog):
    now = timezone.now()
    row = _row(
        status=OutboxStatus.SENDING,
        claimed_by="w1",
        claimed_at=now,
        lease_expires_at=now + timedelta(seconds=60),
        attempts=1,
        header_message_id="m1@casework.test",
        headers={"Message-ID": "<m1@casework.test>"},
    )
    # w1 is alive and renewing: nobody else touches its row.
    assert not outbox_has_due()
    assert outbox_drain(holder="w2") == {}
    row.refresh_from_db()
    assert row.status == OutboxStatus.SENDING and row.claimed_by == "w1" and row.attempts == 1
    assert sink.messages == []

    # w1 was killed: its lease runs out and w2 sends the mail again, as the same Message-ID.
    with time_machine.travel(now + timedelta(seconds=61), tick=False):
        assert outbox_has_due()
        with caplog.at_level(logging.WARNING, logger="casework.notify.delivery"):
            assert outbox_drain(holder="w2") == {"sent": 1}
    assert "reclaimed from w1" in caplog.text and "possible duplicate" in caplog.text
    row.refresh_from_db()
    assert row.status == OutboxStatus.SENT and row.claimed_by == "w2"
    assert row.attempts == 2 and row.reclaims == 1
    ((_, _, raw),) = sink.wait_for(1)
    assert _message_id(raw) == "m1@casework.test"


def test_the_message_id_is_fixed_before_the_first_attempt_and_kept_for_the_retry(settings, smtp_sink):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    row = _row(headers={"X-Case": "CW-1"})
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        assert outbox_drain() == {"retry": 1}
        row.refresh_from_db()
        first_id = row.header_message_id
        assert first_id and first_id.endswith("@casework.test")
        assert row.headers == {"X-Case": "CW-1", "Message-ID": f"<{first_id}>"}
        assert row.status == OutboxStatus.PENDING and row.lease_expires_at is None
        settings.EMAIL_PORT = smtp_sink.port
        traveller.shift(timedelta(seconds=settings.CASEWORK["OUTBOX_BACKOFF_SECONDS"] + 1))
        assert outbox_drain() == {"sent": 1}
    ((_, _, raw),) = smtp_sink.wait_for(1)
    assert _message_id(raw) == first_id


def test_the_crash_point_is_before_the_server_has_the_mail(sink, monkeypatch):
    row = _row()
    seen = {}

    class Killed(BaseException):  # like SIGKILL, not an error the drain would handle
        pass

    def crash_point(point, detail=""):
        assert point == "smtp_mid_send" and detail == str(row.pk)
        current = Outbox.objects.get(pk=row.pk)
        seen.update(status=current.status, lease=current.lease_expires_at, delivered=len(sink.messages))
        raise Killed

    monkeypatch.setattr(delivery, "crash_point", crash_point)
    with pytest.raises(Killed):
        outbox_drain(holder="w1")
    assert seen["status"] == OutboxStatus.SENDING and seen["lease"] is not None and seen["delivered"] == 0


def test_a_row_whose_worker_keeps_dying_fails_on_the_case(case, settings):
    settings.CASEWORK = {**settings.CASEWORK, "OUTBOX_MAX_ATTEMPTS": 3}
    past = timezone.now() - timedelta(seconds=1)
    row = _row(case=case, status=OutboxStatus.SENDING, claimed_by="w3", lease_expires_at=past, attempts=3)
    assert outbox_drain(holder="w4") == {"failed": 1}
    row.refresh_from_db()
    assert row.status == OutboxStatus.FAILED and "WorkerLost" in row.last_error and row.reclaims == 1
    note = CaseEvent.objects.get(case=case, kind="note", data__has_key="delivery_failure")
    assert "could not be delivered" in note.reason and len(mail.outbox) == 0


def test_the_poller_drains_only_when_something_is_due():
    assert outbox_poll() is False and mail.outbox == []
    _row(next_attempt_at=timezone.now() + timedelta(minutes=5))
    assert outbox_poll() is False and mail.outbox == []
    _row(subject="Due now")
    assert outbox_poll() is False  # less than a full batch: nothing left behind
    assert [m.subject for m in mail.outbox] == ["Due now"]


def test_the_admin_lists_claims_and_reclaims(admin_client):
    _row(subject="Reclaimed once", claimed_by="w2", reclaims=1, status=OutboxStatus.SENT)
    page = admin_client.get("/admin/notify/outbox/").content.decode()
    assert "Reclaimed once" in page and "w2" in page


# --------------------------------------------------------------------------------------------------
# the hand-over journal (handover.py): a reclaimed row the lost worker had handed over is not sent again
# --------------------------------------------------------------------------------------------------


def _lost_mid_send(**fields) -> Outbox:
    """A row whose worker w1 died while sending it: `sending`, lease run out, Message-ID fixed."""
    past = timezone.now() - timedelta(seconds=5)
    values = {
        "status": OutboxStatus.SENDING,
        "claimed_by": "w1",
        "claimed_at": past,
        "lease_expires_at": past,
        "attempts": 1,
        "header_message_id": "lost@casework.test",
        "headers": {"Message-ID": "<lost@casework.test>"},
    }
    return _row(**{**values, **fields})


def test_a_reclaimed_row_whose_hand_over_is_recorded_is_marked_sent_without_a_second_conversation(
    sink, case, caplog
):
    message = case.messages.get()
    row = _lost_mid_send(case=case, message=message)
    handed_at = timezone.now() - timedelta(seconds=4)
    handover.journal().record(
        outbox_id=row.pk, message_id="lost@casework.test", holder="w1", attempt=1, now=handed_at
    )
    with caplog.at_level(logging.WARNING, logger="casework.notify.delivery"):
        assert outbox_drain(holder="w2") == {"recovered": 1}
    assert sink.messages == []  # no second SMTP conversation
    row.refresh_from_db()
    assert row.status == OutboxStatus.SENT and row.sent_at == handed_at and row.lease_expires_at is None
    assert row.reclaims == 1 and row.claimed_by == "w2"
    assert "the hand-over journal says it was handed over to the SMTP server" in caplog.text
    assert "by w1 (attempt 1)" in caplog.text and "possible duplicate" not in caplog.text
    message.refresh_from_db()
    assert message.meta["delivery"]["state"] == "sent"
    assert "not sent again" in message.meta["delivery"]["detail"]
    assert not outbox_has_due() and outbox_drain(holder="w3") == {}


def test_a_line_for_another_message_id_or_no_journal_means_sending_again(sink, settings, caplog):
    row = _lost_mid_send()
    handover.journal().record(outbox_id=row.pk, message_id="other@casework.test", holder="w1", attempt=1,
                              now=timezone.now())  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="casework.notify.delivery"):
        assert outbox_drain(holder="w2") == {"sent": 1}
    assert "has no record of it" in caplog.text and "possible duplicate" in caplog.text
    ((_, _, raw),) = sink.wait_for(1)
    assert _message_id(raw) == "lost@casework.test"

    settings.CASEWORK = {**settings.CASEWORK, "OUTBOX_HANDOVER_DIR": "off"}
    assert handover.journal() is None
    second = _lost_mid_send(
        header_message_id="lost2@casework.test", headers={"Message-ID": "<lost2@casework.test>"}
    )
    assert outbox_drain(holder="w2") == {"sent": 1}
    second.refresh_from_db()
    assert second.status == OutboxStatus.SENT and len(sink.wait_for(2)) == 2


def test_the_hand_over_is_in_the_journal_before_the_sent_update(sink, monkeypatch):
    row = _row()

    class Killed(BaseException):  # like SIGKILL between the journal write and the UPDATE
        pass

    def killed(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(delivery, "_mark_sent", killed)
    with pytest.raises(Killed):
        outbox_drain(holder="w1")
    row.refresh_from_db()
    assert row.status == OutboxStatus.SENDING and len(sink.wait_for(1)) == 1
    found = handover.journal().find(outbox_id=row.pk, message_id=row.header_message_id)
    assert found is not None and found.holder == "w1" and found.attempt == 1


def test_a_journal_that_cannot_be_written_loses_nothing(sink, settings, tmp_path, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings.CASEWORK = {**settings.CASEWORK, "OUTBOX_HANDOVER_DIR": str(blocker / "journal")}
    row = _row()
    with caplog.at_level(logging.ERROR, logger="casework.notify.delivery"):
        assert outbox_drain(holder="w1") == {"sent": 1}
    assert "hand-over journal" in caplog.text
    row.refresh_from_db()
    assert row.status == OutboxStatus.SENT and len(sink.wait_for(1)) == 1


def test_a_reclaimed_slack_post_that_was_handed_over_is_not_posted_again(settings):
    # The endpoint refuses connections: a POST would be a retry, not a recovery.
    row = _lost_mid_send(channel="slack", endpoint=f"http://127.0.0.1:{free_port()}/services/T/B/X",
                         payload={"text": "hi"})  # fmt: skip
    handover.journal().record(outbox_id=row.pk, message_id=row.header_message_id, holder="w1", attempt=1,
                              now=timezone.now())  # fmt: skip
    assert outbox_drain(holder="w2") == {"recovered": 1}
    row.refresh_from_db()
    assert row.status == OutboxStatus.SENT and row.last_error == ""


def test_the_journal_lives_next_to_the_sqlite_file_or_under_var_on_postgresql(settings, tmp_path):
    from django.db import connection

    settings.CASEWORK = {**settings.CASEWORK, "OUTBOX_HANDOVER_DIR": ""}
    settings.VAR_DIR = tmp_path
    directory = handover.journal_directory()
    if connection.vendor == "sqlite":
        name = str(connection.settings_dict["NAME"])
        in_memory = name == ":memory:" or "mode=memory" in name or name.startswith("file:")
        assert directory is None if in_memory else directory.name.endswith("-outbox-handover")
    else:
        assert directory == tmp_path / "outbox-handover"
    settings.CASEWORK = {**settings.CASEWORK, "OUTBOX_HANDOVER_DIR": str(tmp_path / "mine")}
    assert handover.journal_directory() == tmp_path / "mine"


def test_a_reclaim_by_a_worker_on_another_host_sends_again_and_loses_nothing(sink, settings, tmp_path):
    """PostgreSQL with workers on several hosts: each host has its own journal. Host A's worker handed the
    mail over and died; host B's worker finds no line in its journal and sends again (at-least-once, same
    Message-ID) — a journal never marks a row sent that its host did not see handed over."""
    host_a, host_b = tmp_path / "host-a", tmp_path / "host-b"
    settings.CASEWORK = {**settings.CASEWORK, "OUTBOX_HANDOVER_DIR": str(host_a)}
    row = _lost_mid_send()
    handover.journal().record(outbox_id=row.pk, message_id="lost@casework.test", holder="a:w1", attempt=1,
                              now=timezone.now())  # fmt: skip
    settings.CASEWORK = {**settings.CASEWORK, "OUTBOX_HANDOVER_DIR": str(host_b)}
    assert outbox_drain(holder="b:w2") == {"sent": 1}
    ((_, _, raw),) = sink.wait_for(1)
    assert _message_id(raw) == "lost@casework.test"
    row.refresh_from_db()
    assert row.status == OutboxStatus.SENT and row.reclaims == 1
    # host B's journal now has its own hand-over; host A's line stays where it was
    assert handover.journal().find(outbox_id=row.pk, message_id="lost@casework.test").holder == "b:w2"
