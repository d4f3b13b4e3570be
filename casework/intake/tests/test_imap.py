"""IMAP polling against a real Dovecot: every appended mail becomes a case, and a mail is moved or flagged
only after its transaction committed (a failed ingest leaves it in the inbox, unseen)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from casework.cases import services as case_services
from casework.cases.models import Case
from casework.intake import mailboxes
from casework.intake.jobs import poll_mailboxes_job
from casework.intake.models import InboundMail, Mailbox
from casework.intake.tests.mailbuilder import build_mail

pytestmark = pytest.mark.django_db(transaction=True)
USER = "support@example.test"


@pytest.fixture
def mailbox(dovecot, monkeypatch):
    monkeypatch.setenv("CASEWORK_MAILBOX_SUPPORT_PASSWORD", dovecot.users[USER])
    return Mailbox.objects.create(
        name="support",
        host=dovecot.host,
        port=dovecot.port,
        use_tls=False,
        username=USER,
        folder="INBOX",
        processed_folder="Processed",
    )


def _mails(count: int) -> list[bytes]:
    return [
        build_mail(
            sender=f"c{i}@customer.test", subject=f"Problem {i}", message_id=f"<imap{i}@customer.test>"
        )
        for i in range(count)
    ]


def _folder_uids(dovecot, folder: str, criteria: str = "ALL") -> list[str]:
    with dovecot.login(USER) as client:
        if not client.folder.exists(folder):
            return []
        client.folder.set(folder)
        return client.uids(criteria)


def test_fetch_mail_turns_each_mail_into_a_case_and_moves_it(dovecot, mailbox):
    for raw in _mails(3):
        dovecot.append(USER, raw)
    out = io.StringIO()
    call_command("fetch-mail", "--mailbox", "support", stdout=out)
    line = json.loads(out.getvalue())
    assert line["fetched"] == 3 and line["outcomes"] == {"ingested": 3} and line["error"] == ""
    assert Case.objects.count() == 3
    assert set(InboundMail.objects.values_list("source", flat=True)) == {"imap:support"}
    assert _folder_uids(dovecot, "INBOX") == [] and len(_folder_uids(dovecot, "Processed")) == 3
    mailbox.refresh_from_db()
    assert mailbox.last_success_at is not None and mailbox.last_error == ""
    # The worker's periodic job polls the same way; nothing new, nothing twice.
    assert poll_mailboxes_job()[0]["fetched"] == 0 and Case.objects.count() == 3


def test_without_processed_folder_mail_is_flagged_seen(dovecot, mailbox):
    Mailbox.objects.filter(pk=mailbox.pk).update(processed_folder="")
    for raw in _mails(2):
        dovecot.append(USER, raw)
    result = mailboxes.poll_mailbox(Mailbox.objects.get(pk=mailbox.pk))
    assert result.fetched == 2 and Case.objects.count() == 2
    assert _folder_uids(dovecot, "INBOX", "UNSEEN") == [] and len(_folder_uids(dovecot, "INBOX", "SEEN")) == 2


def test_a_failed_ingest_leaves_the_mail_in_the_inbox_unseen(dovecot, mailbox, monkeypatch):
    for raw in _mails(3):
        dovecot.append(USER, raw)
    real = case_services.case_open_many

    def flaky(openings):
        # The second mail's case cannot be written: its batch fails, and then that mail alone.
        if any(o.subject == "Problem 1" for o in openings):
            raise RuntimeError("database went away")
        return real(openings)

    monkeypatch.setattr(case_services, "case_open_many", flaky)
    result = mailboxes.poll_mailbox(mailbox)
    assert "database went away" in result.error and Case.objects.count() == 1
    assert len(_folder_uids(dovecot, "Processed")) == 1
    assert len(_folder_uids(dovecot, "INBOX", "UNSEEN")) == 2
    mailbox.refresh_from_db()
    assert "database went away" in mailbox.last_error
    monkeypatch.setattr(case_services, "case_open_many", real)
    again = mailboxes.poll_mailbox(mailbox)
    assert again.fetched == 2 and Case.objects.count() == 3 and InboundMail.objects.count() == 3
    assert _folder_uids(dovecot, "INBOX") == []


def test_a_crash_after_commit_before_the_move_gives_a_duplicate_not_a_second_case(
    dovecot, mailbox, monkeypatch
):
    dovecot.append(USER, _mails(1)[0])

    def lost_connection(*args, **kwargs):
        raise ConnectionResetError("IMAP connection dropped")

    with monkeypatch.context() as patch:
        patch.setattr("imap_tools.mailbox.BaseMailBox.move", lost_connection)
        assert "dropped" in mailboxes.poll_mailbox(mailbox).error
    assert Case.objects.count() == 1 and len(_folder_uids(dovecot, "INBOX")) == 1
    again = mailboxes.poll_mailbox(mailbox)
    assert again.results[0].duplicate and Case.objects.count() == 1
    assert _folder_uids(dovecot, "INBOX") == []


def test_wrong_password_is_recorded_on_the_mailbox(dovecot, mailbox, monkeypatch):
    monkeypatch.setenv("CASEWORK_MAILBOX_SUPPORT_PASSWORD", "wrong")
    result = mailboxes.poll_mailbox(mailbox)
    mailbox.refresh_from_db()
    assert result.error and mailbox.last_error == result.error and mailbox.last_success_at is None


def test_poll_refuses_to_run_inside_a_transaction(mailbox):
    from django.db import transaction

    with transaction.atomic(), pytest.raises(RuntimeError):
        mailboxes.poll_mailbox(mailbox)
