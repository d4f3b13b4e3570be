"""A resolved problem tells every linked customer exactly once, also when the worker delivering those mails
is SIGKILLed in the middle of an SMTP conversation and another worker takes over (issue 15).

The problem is made and resolved through the doors in a `casework shell` on a migrated SQLite file; real
`casework worker` processes deliver the outbox to a real SMTP sink (`smtp_sink`, aiosmtpd on loopback).
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
from email import message_from_bytes, policy
from pathlib import Path

from casework.notify.tests.test_crash_outbox import db, migrated_db  # noqa: F401  (fixtures)
from casework.testing.chaos import mail_settings, start_doomed_worker
from casework.testing.processes import casework_env, run_casework, start_worker, stop_worker, wait_until

CUSTOMERS = ("ann@customer.test", "ben@customer.test", "cat@customer.test")

RESOLVE = f"""
from casework.insights import services
from casework.testing.factories import CustomerFactory, TeamFactory, make_agent, open_case
team = TeamFactory(name="L1 Support", tier_level=1)
lead = make_agent("lead", tier=1, teams=[team])
team.lead = lead
team.save()
lead.agent.role = "lead"
lead.agent.save(update_fields=["role"])
cases = [
    open_case(subject="Dashboard does not load", description="Spinner forever since 9am.",
              customer=CustomerFactory(email=email), team=team)
    for email in {CUSTOMERS!r}
]
problem = services.problem_create(title="Dashboard outage", owner=lead, cases=cases, actor=lead)
services.problem_resolve(problem=problem, note="We rolled back the cache change.", actor=lead)
"""


def _pending(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as con:
        return con.execute("SELECT COUNT(*) FROM notify_outbox WHERE status != 'sent'").fetchone()[0]


def _problem_mails(messages) -> dict[str, list[str]]:
    """Recipient → Message-IDs of the problem-resolved mails the sink received."""
    out: dict[str, list[str]] = {}
    for _, rcpt, raw in messages:
        mail = message_from_bytes(raw, policy=policy.default)
        if "rolled back the cache change" in mail.get_body(("plain",)).get_content():
            for address in rcpt:
                out.setdefault(address, []).append(mail["Message-ID"])
    return out


def test_problem_resolution_reaches_each_customer_once_across_a_worker_killed_mid_send(
    db,  # noqa: F811  (the fixture imported above)
    smtp_sink,
    tmp_path,
):
    env = casework_env(db.parent, f"sqlite:///{db}", mail_settings(smtp_sink.port))
    run_casework(env, "shell", "-c", RESOLVE)
    log = tmp_path / "worker.log"

    assert start_doomed_worker(env, log) == -signal.SIGKILL, log.read_text()
    assert "crash point smtp_mid_send" in log.read_text()
    assert _pending(db) > 0  # the kill left work behind

    restarted = start_worker(env, log)
    try:
        wait_until(lambda: _pending(db) == 0, timeout=90, what="every outbox row to be sent")
    finally:
        assert stop_worker(restarted) == 0, log.read_text()
    told = _problem_mails(smtp_sink.messages)
    assert sorted(told) == sorted(CUSTOMERS), told
    assert all(len(ids) == 1 for ids in told.values()), told
    all_ids = [mail for _, _, raw in smtp_sink.messages for mail in [message_from_bytes(raw)["Message-ID"]]]
    assert len(all_ids) == len(set(all_ids))  # no mail of the write (acknowledgements too) went out twice
