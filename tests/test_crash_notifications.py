"""Crash safety of notifications: a real `casework ingest-email` is SIGKILLed right after its commit, the
MTA delivers the same mail again, a worker dies in the middle of the SMTP conversation and a new one
starts. The customer gets exactly one acknowledgement, and every notification the write decided (the
acknowledgement, the agents' alerts) arrives exactly once, with its fixed Message-ID.
See tests/test_crash_reactions.py and casework/testing/chaos.py for the harness."""

from __future__ import annotations

import os
import subprocess
from email import message_from_bytes, policy

import pytest

from casework.testing import chaos
from casework.testing.chaos import CLASSIFIED, Database

RUNS = chaos.chaos_runs()
each_run = pytest.mark.parametrize("run", range(RUNS), ids=lambda run: f"run{run + 1}of{RUNS}")


@pytest.fixture(scope="session")
def template(tmp_path_factory):
    with chaos.database_template(
        tmp_path_factory.mktemp("chaos-notify-template"), os.environ.get("DATABASE_URL")
    ) as t:
        yield t


@pytest.fixture
def db(template, tmp_path) -> Database:
    with template.copy(tmp_path) as database:
        yield database


@each_run
def test_acknowledgement_once_through_an_intake_kill_a_redelivery_and_a_worker_kill(
    run, template, db, smtp_sink, tmp_path
):
    text = CLASSIFIED[run % len(CLASSIFIED)]
    sender = (f"Gil {run}", f"gil.{run}@fabrikam.test")
    raw = chaos.customer_mail(sender=sender, subject=text.subject, body=text.body)
    env = template.env(db.url, tmp_path)
    label = "after_commit" if run % 2 else "after_commit:ingest"
    chaos.run_until_killed(env, chaos.ingest_command(), crash_at=label, door="ingest", stdin=raw)
    # The MTA saw no answer and delivers the same mail again: a duplicate, and no second acknowledgement.
    again = subprocess.run(chaos.ingest_command(), env=env, input=raw, capture_output=True, timeout=120)
    assert again.returncode == 0 and b'"duplicate": true' in again.stdout, again
    rows = db.rows(
        "SELECT id, kind, status, \"to\", header_message_id FROM notify_outbox WHERE status = 'pending'"
    )
    acks = [row for row in rows if row["kind"] == "acknowledgement"]
    assert len(acks) == 1 and acks[0]["to"] == [sender[1]], rows

    mail_env = template.env(db.url, tmp_path, chaos.mail_settings(smtp_sink.port))
    log = tmp_path / "worker.log"
    code = chaos.start_doomed_worker(mail_env, log)
    assert code == -9 and "crash point smtp_mid_send" in log.read_text(), log.read_text()[-3000:]
    assert smtp_sink.messages == []

    ids = [row["id"] for row in rows]
    messages = chaos.deliver(
        mail_env,
        smtp_sink,
        log,
        expected=len(rows),
        until=lambda: all(
            db.value("SELECT status FROM notify_outbox WHERE id = ?", i) == "sent" for i in ids
        ),
    )
    mails = [message_from_bytes(raw, policy=policy.default) for _, _, raw in messages]
    # Each row's Message-ID was fixed before its first attempt: one mail per row, none twice.
    fixed = [db.value("SELECT header_message_id FROM notify_outbox WHERE id = ?", i) for i in ids]
    assert sorted(m["Message-ID"].strip("<>") for m in mails) == sorted(fixed)
    to_customer = [m for m in mails if m["To"] == sender[1]]
    assert len(to_customer) == 1, [m["Subject"] for m in mails]
    ack = to_customer[0]
    assert ack["Auto-Submitted"] == "auto-generated" and "We have received your request" in ack["Subject"]
    assert "/portal/go/" in ack.get_body(("plain",)).get_content()
