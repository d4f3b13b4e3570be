"""The intake paths that need no external server: pipe command, mbox/Maildir import, HTTP push."""

from __future__ import annotations

import io
import json
import mailbox
import sys

import pytest
from django.core.management import call_command

from casework.cases.models import Case, Message
from casework.intake.models import InboundMail
from casework.intake.tests.mailbuilder import build_mail

pytestmark = pytest.mark.django_db


def _run(*args, stdin: bytes | None = None, monkeypatch=None) -> str:
    out = io.StringIO()
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_ingest_email_from_file_prints_one_json_line(tmp_path):
    path = tmp_path / "mail.eml"
    path.write_bytes(build_mail())
    line = json.loads(_run("ingest-email", str(path)))
    case = Case.objects.get()
    assert line["case"] == case.reference and line["created"] is True
    assert line["matched_by"] == "new_case" and line["quarantined"] is False
    again = json.loads(_run("ingest-email", str(path)))
    assert again["duplicate"] is True and again["case"] == case.reference


def test_ingest_email_from_stdin_and_quarantine_is_not_an_error(monkeypatch):
    line = json.loads(
        _run("ingest-email", "-", stdin=b"Subject: no sender\r\n\r\nhi\r\n", monkeypatch=monkeypatch)
    )
    assert line["quarantined"] is True and line["case"] is None
    assert InboundMail.objects.get().source == "pipe"


def _mails(count: int) -> list[bytes]:
    mails = []
    for i in range(count):
        headers = {"In-Reply-To": f"<m{i - 1}@example.com>"} if i % 3 == 2 else {}
        mails.append(build_mail(subject=f"Problem {i}", message_id=f"<m{i}@example.com>", headers=headers))
    return mails


def test_import_mbox_summary_and_rerun_imports_nothing_twice(tmp_path):
    path = tmp_path / "old.mbox"
    box = mailbox.mbox(str(path))
    for raw in _mails(9):
        box.add(raw)
    box.add(b"From: nobody\r\n\r\n")  # no subject, no body: quarantine
    box.flush()
    summary = json.loads(_run("import-mbox", str(path), "--no-progress"))
    assert summary == {
        "total": 10,
        "created": 6,
        "threaded": 3,
        "duplicates": 0,
        "quarantined": 1,
        "ignored": 0,
        "bounces": 0,
        "quarantine_reasons": {"not_acceptable": 1},
    }
    # Imported history keeps its dates.
    assert Case.objects.order_by("created_at").first().created_at.year == 2025
    again = json.loads(_run("import-mbox", str(path), "--no-progress"))
    assert again["duplicates"] == 10 and again["created"] == 0
    assert Message.objects.count() == 9


def test_import_maildir(tmp_path):
    box = mailbox.Maildir(str(tmp_path / "Maildir"))
    for raw in _mails(4):
        box.add(raw)
    summary = json.loads(_run("import-mbox", str(tmp_path / "Maildir"), "--no-progress"))
    assert (summary["created"], summary["threaded"]) == (3, 1)


def test_maildir_names_sort_in_delivery_order_not_as_strings():
    from importlib import import_module

    order = import_module("casework.intake.management.commands.import-mbox")._delivery_order
    names = [
        "1764755732.M100000P7Q2.host",
        "1764755732.M99999P7Q1.host",
        "1764755731.M5P7Q9.host",
        "odd-name",
    ]
    assert sorted(names, key=order) == [
        "1764755731.M5P7Q9.host",
        "1764755732.M99999P7Q1.host",
        "1764755732.M100000P7Q2.host",
        "odd-name",
    ]


def test_mbox_is_read_one_mail_at_a_time_as_the_stdlib_splits_it(tmp_path):
    from importlib import import_module

    command = import_module("casework.intake.management.commands.import-mbox")
    path = tmp_path / "odd.mbox"
    path.write_bytes(
        b"preamble before any From line\n"
        b"From a@example.com Mon Jan  5 08:00:00 2026\nSubject: one\n\nbody\n>From quoted\n\n"
        b"From b@example.com Mon Jan  5 08:00:01 2026\nSubject: two\n\nno blank line before the next\n"
        b"From c@example.com Mon Jan  5 08:00:02 2026\r\nSubject: three\r\n\r\ncrlf\r\n\r\n"
        b"From d@example.com Mon Jan  5 08:00:03 2026\nSubject: four\n\nlast, no newline at the end"
    )
    stdlib = mailbox.mbox(str(path), factory=None, create=False)
    expected = [stdlib.get_bytes(key) for key in list(stdlib.iterkeys())]
    assert list(command.mbox_messages(path)) == expected and len(expected) == 4
    assert command.mbox_count(path) == 4
    # A generator: nothing is read before the first mail is asked for, one mail is held at a time.
    assert next(command.mbox_messages(path)).startswith(b"Subject: one")


def test_http_inbound_endpoint_needs_its_secret_and_returns_the_result(api, anon_api, inbound_headers):
    raw = build_mail()
    refused = anon_api.client.post("/api/v1/inbound/email", data=raw, content_type="message/rfc822")
    assert refused.status_code == 401 and Case.objects.count() == 0
    # An agent's token (even with every scope) is not the endpoint's secret.
    agent = api.client.post(
        "/api/v1/inbound/email", data=raw, content_type="message/rfc822", **api._headers()
    )
    assert agent.status_code == 401 and Case.objects.count() == 0
    response = api.client.post(
        "/api/v1/inbound/email", data=raw, content_type="message/rfc822", **inbound_headers
    )
    assert response.status_code == 200
    body = response.json()
    assert body["created"] is True and body["case"] == Case.objects.get().reference
    assert body["matched_by"] == "new_case" and body["quarantined"] is False
    again = api.client.post(
        "/api/v1/inbound/email", data=raw, content_type="message/rfc822", **inbound_headers
    )
    assert again.json()["duplicate"] is True
    empty = api.client.post(
        "/api/v1/inbound/email", data=b"", content_type="message/rfc822", **inbound_headers
    )
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "empty_body"


def test_http_inbound_takes_mail_up_to_the_mail_limit_not_the_request_limit(api, settings, inbound_headers):
    """The request limit (10 MB) refused mail that the pipe and IMAP take (40 MB): one limit for mail."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 50_000
    settings.CASEWORK = {**settings.CASEWORK, "INTAKE_MAX_BYTES": 200_000}
    big = build_mail(text="x" * 100_000 + "\n")
    response = api.client.post(
        "/api/v1/inbound/email", data=big, content_type="message/rfc822", **inbound_headers
    )
    assert response.status_code == 200 and response.json()["created"] is True
    huge = build_mail(text="x" * 300_000 + "\n", message_id="<huge@example.com>")
    refused = api.client.post(
        "/api/v1/inbound/email", data=huge, content_type="message/rfc822", **inbound_headers
    )
    assert refused.status_code == 413 and refused.json()["error"]["code"] == "mail_too_large"
