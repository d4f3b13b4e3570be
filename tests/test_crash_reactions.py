"""Crash safety of the reactions (issue 12): a real process is SIGKILLed right after its write committed, and
the database, read as it is — no `casework doctor`, no restart of anything but the mail worker — holds
everything the write implied.

    API create       POST /api/v1/cases twice (a text a rule classifies, one no rule matches), killed after
                     the second commit: triaged with category, rules, owner, tier history and two clocks;
                     the other stays New with the "No triage rule matched" note and its clocks
    email intake     `casework ingest-email -` (the MTA pipe), killed after its commit: the same checks
    public reply     POST /cases/<ref>/messages, killed after the commit: the outbox row is pending; a real
                     `casework worker` then delivers it to an SMTP sink exactly once, signed Message-ID and
                     `[CW-…]` subject, and the message's delivery state ends `sent`
    status change    POST /cases/<ref>/transitions to Awaiting Client, killed after the commit: status
                     changed, clocks paused with ledger entries, the timeline says why
    worker mid-send  replies killed after the commit, then a worker killed in the SMTP conversation
                     (`smtp_mid_send`): a restarted worker delivers each mail exactly once

Each scenario runs `CASEWORK_CHAOS_RUNS` times (1 in `make test`, 20 in `make chaos`), each run on a fresh
copy of a seeded template (SQLite, or PostgreSQL when DATABASE_URL says so), varying the text, the
customer and the crash label (`after_commit:<door>` or plain `after_commit`, the first write of the
process) from run to run. See casework/testing/chaos.py and casework/testing/README.md.
"""

from __future__ import annotations

import os
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from django.test import override_settings

from casework.testing import chaos
from casework.testing.chaos import CLASSIFIED, CUSTOMERS, UNCLASSIFIED, Database, Text

RUNS = chaos.chaos_runs()
each_run = pytest.mark.parametrize("run", range(RUNS), ids=lambda run: f"run{run + 1}of{RUNS}")

PRIORITY_ORDER = ("low", "medium", "high", "critical")
# The default rule "Enterprise or VIP" raises these customers' cases to at least high.
ENTERPRISE_DOMAINS = {domain for _, tier, vip, domain in chaos.ORGANISATIONS if vip or tier == "enterprise"}


@pytest.fixture(scope="session")
def template(tmp_path_factory):
    with chaos.database_template(
        tmp_path_factory.mktemp("chaos-template"), os.environ.get("DATABASE_URL")
    ) as t:
        yield t


@pytest.fixture
def db(template, tmp_path) -> Database:
    """This scenario's copy of the template (shadows pytest-django's `db`: these tests never use the
    pytest database, which the subprocesses could not see)."""
    with template.copy(tmp_path) as database:
        yield database


def _env(template, db: Database, tmp_path: Path, smtp_port: int | None = None) -> dict[str, str]:
    return template.env(db.url, tmp_path, chaos.mail_settings(smtp_port) if smtp_port else None)


def _label(run: int, door: str) -> str:
    """Even runs kill after this door's commit, odd runs after any write's (`CASEWORK_CRASH_AFTER` counts)."""
    return "after_commit" if run % 2 else f"after_commit:{door}"


def _customer(run: int) -> tuple[str, str]:
    """A seeded customer (with or without an organisation), or someone writing for the first time."""
    if run % 4 == 3:
        return (f"Fran {run}", f"fran.{run}@fabrikam.test")
    return CUSTOMERS[run % len(CUSTOMERS)]


# --------------------------------------------------------------------------------------------------
# what the database must hold
# --------------------------------------------------------------------------------------------------


def _case(db: Database, reference: str) -> dict:
    case = db.one(
        "SELECT c.*, cat.slug AS category_slug, t.tier_level AS team_tier, u.username AS owner,"
        " p.email AS customer_email"
        " FROM cases_case c"
        " LEFT JOIN cases_category cat ON cat.id = c.category_id"
        " LEFT JOIN people_team t ON t.id = c.team_id"
        " LEFT JOIN auth_user u ON u.id = c.assignee_id"
        " JOIN people_customer p ON p.id = c.customer_id"
        " WHERE c.reference = ?",
        reference,
    )
    assert case is not None, f"{reference} is not in the database"
    return case


def _events(db: Database, case_id: int, *, after: int = 0) -> list[dict]:
    return db.rows(
        "SELECT id, kind, actor_label, old, new, reason, data FROM cases_caseevent"
        " WHERE case_id = ? AND id > ? ORDER BY id",
        case_id,
        after,
    )


def _clocks(db: Database, case_id: int) -> list[dict]:
    return db.rows(
        "SELECT id, metric, state, due_at, paused_since, stopped_at FROM sla_caseclock"
        " WHERE case_id = ? ORDER BY metric",
        case_id,
    )


def _ledger(db: Database, clock_id: int, *, after: int = 0) -> list[dict]:
    return db.rows(
        "SELECT id, kind, reason FROM sla_clockledgerentry WHERE clock_id = ? AND id > ? ORDER BY id",
        clock_id,
        after,
    )


def _enterprise(customer_email: str) -> bool:
    return customer_email.rpartition("@")[2] in ENTERPRISE_DOMAINS


def _expected_priority(text: Text, customer_email: str) -> str:
    if _enterprise(customer_email):
        return max(text.priority, "high", key=PRIORITY_ORDER.index)
    return text.priority


def _summary(db: Database, case: dict) -> str:
    """The case's timeline, for assertion messages."""
    lines = [
        f"{case['reference']} status={case['status']} category={case['category_slug']} owner={case['owner']}"
    ]
    lines += [
        f"  {e['kind']} by {e['actor_label']!r}: {e['new']!r} {e['reason'][:100]}"
        for e in _events(db, case["id"])
    ]
    return "\n".join(lines)


def assert_opened_with_reactions(db: Database, reference: str, text: Text, *, channel: str) -> dict:
    """A case opened by the killed write carries its triage outcome, clocks, tier history and owner."""
    case = _case(db, reference)
    story = _summary(db, case)
    events = _events(db, case["id"])
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "opened" and case["channel"] == channel, story
    assert case["subject"] == text.subject, story
    # triage: the customer's text was scored
    assert case["sentiment"] is not None, story
    # sla: both clocks run under a policy, each with its start in the ledger, and the timeline says so
    clocks = _clocks(db, case["id"])
    assert [c["metric"] for c in clocks] == ["first_response", "resolution"], story
    for clock in clocks:
        assert clock["state"] == "running" and clock["due_at"] is not None, (clock, story)
        assert [entry["kind"] for entry in _ledger(db, clock["id"])] == ["start"], (clock, story)
    assert any(e["kind"] == "sla" and "clock started" in e["reason"] for e in events), story
    # routing: one open tier-history stretch at the case's tier, owned by the case's owner
    history = db.rows(
        "SELECT tier, owner_id, left_at FROM routing_tierhistory WHERE case_id = ? ORDER BY id", case["id"]
    )
    open_stretches = [h for h in history if h["left_at"] is None]
    assert len(open_stretches) == 1, (history, story)
    assert (
        open_stretches[0]["tier"] == case["tier"] and open_stretches[0]["owner_id"] == case["assignee_id"]
    ), (
        history,
        story,
    )
    applied = [e for e in events if e["kind"] == "rule_applied"]
    if text.category is None:
        assert case["status"] == "new" and case["category_id"] is None, story
        assert case["assignee_id"] is None and case["priority"] == _expected_priority(
            text, case["customer_email"]
        )
        notes = [
            e for e in events if e["kind"] == "note" and (e["data"] or {}).get("triage") == "no_rule_matched"
        ]
        if _enterprise(case["customer_email"]):
            # Only the priority rule matched: nothing classified the case, so it waits in New unannounced.
            assert [e["new"]["rule"] for e in applied] == ["Enterprise or VIP"] and not notes, story
        else:
            assert not applied, story
            assert len(notes) == 1 and notes[0]["reason"].startswith("No triage rule matched"), story
        return case
    assert case["status"] == "triaged" and case["category_slug"] == text.category, story
    assert case["tier"] == text.tier and case["priority"] == _expected_priority(
        text, case["customer_email"]
    ), story
    assert applied and all(e["new"]["trigger"] == "case_opened" for e in applied), story
    categorised = [e for e in events if e["kind"] == "category_changed"]
    assert [e["new"] for e in categorised] == [text.category], story
    assert categorised[0]["actor_label"].startswith("rule:"), story
    assert [e["actor_label"] for e in events if e["kind"] == "status_changed" and e["new"] == "triaged"] == [
        "triage"
    ], story
    # the owner the routing rules give: an agent of the team of the case's tier, and the timeline says so
    assert case["owner"] in chaos.AGENTS_BY_TIER[text.tier] and case["team_tier"] == text.tier, story
    assigned = [e for e in events if e["kind"] == "assigned"]
    assert [e["new"] for e in assigned] == [case["owner"]] and assigned[0]["actor_label"] == "routing", story
    return case


def _new_cases(db: Database, template) -> list[dict]:
    seeded = len(template.prepared["triaged"]) + len(template.prepared["in_progress"])
    return db.rows("SELECT id, reference, subject FROM cases_case ORDER BY id")[seeded:]


def _outbox(db: Database, case_id: int) -> list[dict]:
    """The reply mails of a case (agent notifications about it are checked in casework/notify/tests)."""
    return db.rows(
        'SELECT id, dedup_key, status, attempts, reclaims, header_message_id, subject, "to", message_id'
        " FROM notify_outbox WHERE case_id = ? AND dedup_key LIKE 'reply:%%' ORDER BY id",
        case_id,
    )


def _message(db: Database, message_id: int) -> dict:
    return db.one("SELECT id, kind, body, message_id, meta FROM cases_message WHERE id = ?", message_id)


def _signing_key() -> bytes:
    from casework.intake.identity import signing_key

    with override_settings(SECRET_KEY=chaos.SECRET_KEY):
        return signing_key()


def assert_replies_queued(db: Database, case: dict, bodies: list[str]) -> list[dict]:
    """The killed replies are messages with a pending outbox row each, signed Message-ID fixed, and the
    first one met the first-response clock."""
    from casework.intake.signing import verify_message_id

    story = _summary(db, case)
    rows = _outbox(db, case["id"])
    assert len(rows) == len(bodies), (rows, story)
    for row, body in zip(rows, bodies, strict=True):
        message = _message(db, row["message_id"])
        assert message["kind"] == "reply" and message["body"] == body, (message, story)
        assert row["dedup_key"] == f"reply:{message['id']}", row
        assert row["status"] == "pending" and row["attempts"] == 0, row
        assert row["to"] == [case["customer_email"]] and f"[{case['reference']}]" in row["subject"], row
        assert row["header_message_id"] == message["message_id"], (row, message)
        assert verify_message_id(row["header_message_id"], _signing_key()) == case["id"], row
        assert message["meta"]["delivery"]["state"] == "queued", message
    first_response = _clocks(db, case["id"])[0]
    assert first_response["metric"] == "first_response" and first_response["state"] == "met", story
    assert _case(db, case["reference"])["first_response_at"] is not None
    return rows


def assert_delivered_once(
    db: Database, case: dict, rows: list[dict], messages: list, bodies: list[str]
) -> None:
    """Each queued reply reached the customer exactly once, as the row fixed it, and says `sent`."""
    by_id = {
        message_from_bytes(raw, policy=policy.default)["Message-ID"].strip("<>"): raw
        for _, _, raw in messages
    }
    assert len(by_id) == len(messages) == len(rows), f"duplicate Message-IDs among {list(by_id)}"
    for row, body in zip(rows, bodies, strict=True):
        raw = by_id.get(row["header_message_id"])
        assert raw is not None, f"no mail with Message-ID {row['header_message_id']} among {list(by_id)}"
        mail = message_from_bytes(raw, policy=policy.default)
        assert mail["Subject"] == row["subject"] and f"[{case['reference']}]" in mail["Subject"]
        assert mail["To"] == case["customer_email"]
        assert body in mail.get_body(("plain",)).get_content()
        sent = db.one("SELECT status, sent_at FROM notify_outbox WHERE id = ?", row["id"])
        assert sent["status"] == "sent" and sent["sent_at"] is not None, sent
        assert _message(db, row["message_id"])["meta"]["delivery"]["state"] == "sent"
    for _, rcpt, _ in messages:
        assert rcpt == [case["customer_email"]]


def _all_sent(db: Database, rows: list[dict]):
    ids = [row["id"] for row in rows]
    return lambda: all(db.value("SELECT status FROM notify_outbox WHERE id = ?", i) == "sent" for i in ids)


# --------------------------------------------------------------------------------------------------
# the scenarios
# --------------------------------------------------------------------------------------------------


@each_run
def test_api_create_killed_after_commit_keeps_its_reactions(run, template, db, tmp_path):
    classified, unclassified = CLASSIFIED[run % len(CLASSIFIED)], UNCLASSIFIED[run % len(UNCLASSIFIED)]
    texts = [classified, unclassified] if run % 2 == 0 else [unclassified, classified]
    name, email = _customer(run)
    calls = [
        (
            "post",
            "/api/v1/cases",
            {"subject": t.subject, "description": t.body, "customer_email": email, "customer_name": name},
        )
        for t in texts
    ]
    killed = chaos.run_until_killed(
        _env(template, db, tmp_path),
        chaos.api_command(template.token),
        crash_at=_label(run, "api create"),
        door="api create",
        after=1,  # the first create answers, the second dies right after its commit
        stdin=chaos.api_requests(*calls),
    )
    (answered,) = killed.responses()
    assert answered["status"] == 201, answered
    created = _new_cases(db, template)
    assert [c["subject"] for c in created] == [t.subject for t in texts]
    assert answered["body"]["reference"] == created[0]["reference"]
    for case, text in zip(created, texts, strict=True):
        assert_opened_with_reactions(db, case["reference"], text, channel="api")


INTAKE_TEXTS = (CLASSIFIED[2], UNCLASSIFIED[0], *CLASSIFIED[:2], UNCLASSIFIED[1], *CLASSIFIED[3:])


@each_run
def test_email_intake_killed_after_commit_keeps_its_reactions(run, template, db, tmp_path):
    text = INTAKE_TEXTS[run % len(INTAKE_TEXTS)]
    sender = _customer(run + 1)
    raw = chaos.customer_mail(sender=sender, subject=text.subject, body=text.body)
    chaos.run_until_killed(
        _env(template, db, tmp_path),
        chaos.ingest_command(),
        crash_at=_label(run, "ingest"),
        door="ingest",
        stdin=raw,
    )
    (created,) = _new_cases(db, template)
    case = assert_opened_with_reactions(db, created["reference"], text, channel="email")
    assert case["customer_email"] == sender[1]
    inbound = db.rows("SELECT case_id, outcome FROM intake_inboundmail")
    assert [row["case_id"] for row in inbound] == [case["id"]], inbound


REPLIES = (
    "Thanks for the report: we reset your access, please try again.",
    "We found the cause and a fix is on its way; I will keep you posted.",
    "Could you send us a screenshot of what you see?",
)


def _reply_killed(run: int, template, db: Database, tmp_path: Path, reference: str, count: int) -> list[str]:
    bodies = [f"{REPLIES[(run + i) % len(REPLIES)]} (run {run + 1}, reply {i + 1})" for i in range(count)]
    calls = [("post", f"/api/v1/cases/{reference}/messages", {"body": body}) for body in bodies]
    killed = chaos.run_until_killed(
        _env(template, db, tmp_path),
        chaos.api_command(template.token),
        crash_at=_label(run, "case_add_message"),
        door="case_add_message",
        after=count - 1,
        stdin=chaos.api_requests(*calls),
    )
    assert [r["status"] for r in killed.responses()] == [201] * (count - 1)
    return bodies


@each_run
def test_public_reply_killed_after_commit_is_mailed_exactly_once(run, template, db, smtp_sink, tmp_path):
    case = _case(db, template.prepared["triaged"][run % len(template.prepared["triaged"])])
    bodies = _reply_killed(run, template, db, tmp_path, case["reference"], 1)
    rows = assert_replies_queued(db, case, bodies)
    assert smtp_sink.messages == []

    messages = chaos.deliver(
        _env(template, db, tmp_path, smtp_sink.port),
        smtp_sink,
        tmp_path / "worker.log",
        expected=1,
        until=_all_sent(db, rows),
    )
    assert_delivered_once(db, case, rows, messages, bodies)
    (row,) = db.rows(
        "SELECT attempts, reclaims FROM notify_outbox WHERE case_id = ? AND dedup_key LIKE 'reply:%%'",
        case["id"],
    )
    assert row == {"attempts": 1, "reclaims": 0}


TRANSITION_REASONS = (
    "Asked which browser version they use",
    "Waiting for the export file from the customer",
    "",  # no reason given: the timeline names the move itself
)


@each_run
def test_status_change_killed_after_commit_pauses_the_clocks(run, template, db, tmp_path):
    case = _case(db, template.prepared["in_progress"][run % len(template.prepared["in_progress"])])
    assert case["status"] == "in_progress"
    reason = TRANSITION_REASONS[run % len(TRANSITION_REASONS)]
    before = {clock["id"]: clock for clock in _clocks(db, case["id"])}
    running = [i for i, clock in before.items() if clock["state"] == "running"]
    assert running, before
    last_ledger = db.value("SELECT MAX(id) FROM sla_clockledgerentry")
    last_event = db.value("SELECT MAX(id) FROM cases_caseevent")

    chaos.run_until_killed(
        _env(template, db, tmp_path),
        chaos.api_command(template.token),
        crash_at=_label(run, "case_transition"),
        door="case_transition",
        stdin=chaos.api_requests(
            (
                "post",
                f"/api/v1/cases/{case['reference']}/transitions",
                {"to": "awaiting_client", "reason": reason},
            )
        ),
    )
    after = _case(db, case["reference"])
    story = _summary(db, after)
    assert after["status"] == "awaiting_client" and after["assignee_id"] == case["assignee_id"], story
    events = _events(db, case["id"], after=last_event)
    moved = [e for e in events if e["kind"] == "status_changed"]
    assert [(e["old"], e["new"], e["actor_label"]) for e in moved] == [("in_progress", "awaiting_client", "")]
    assert moved[0]["reason"] == reason, story
    for clock in _clocks(db, case["id"]):
        if clock["id"] not in running:
            continue
        assert clock["state"] == "paused" and clock["paused_since"] is not None and clock["due_at"] is None, (
            clock
        )
        entries = _ledger(db, clock["id"], after=last_ledger)
        assert [e["kind"] for e in entries] == ["pause"], entries
        assert "paused (case is Awaiting client)" in entries[0]["reason"], entries
    sla = [e for e in events if e["kind"] == "sla"]
    assert len(sla) == 1 and sla[0]["data"]["change"] == "pause", story
    assert "paused (case is Awaiting client)" in sla[0]["reason"], story


@each_run
def test_worker_killed_mid_send_delivers_after_restart_exactly_once(run, template, db, smtp_sink, tmp_path):
    case = _case(db, template.prepared["triaged"][(run + 1) % len(template.prepared["triaged"])])
    count = 1 + run % 2  # one reply, or two that the worker claims together
    bodies = _reply_killed(run, template, db, tmp_path, case["reference"], count)
    rows = assert_replies_queued(db, case, bodies)
    env = _env(template, db, tmp_path, smtp_sink.port)
    log = tmp_path / "worker.log"

    code = chaos.start_doomed_worker(env, log)
    assert code == -9 and "crash point smtp_mid_send" in log.read_text(), (code, log.read_text()[-3000:])
    assert smtp_sink.messages == []
    killed = _outbox(db, case["id"])
    sending = [row for row in killed if row["status"] == "sending"]
    assert sending and all(row["attempts"] == 1 for row in sending), killed
    assert [row["header_message_id"] for row in killed] == [row["header_message_id"] for row in rows]

    messages = chaos.deliver(env, smtp_sink, log, expected=count, until=_all_sent(db, rows))
    assert_delivered_once(db, case, rows, messages, bodies)
    final = {row["id"]: row for row in _outbox(db, case["id"])}
    for row in sending:
        assert final[row["id"]]["reclaims"] == 1 and final[row["id"]]["attempts"] == 2, final[row["id"]]
    assert "reclaimed from" in log.read_text()
