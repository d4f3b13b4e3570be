"""Chaos under load (issue 17): an mbox import, a stream of API writes and the worker run together while
processes are SIGKILLed from outside at random moments and started again; then the database and the SMTP
sink must show that nothing was lost, doubled or half-written.

One round (`run_round`), on a fresh copy of the chaos template (casework/testing/chaos.py):

1. an mbox of MAILS new customer mails (distinct Message-IDs, senders and subjects carrying a token
   `MBX-<round>-<i>`), and an API writer (`api_writer.py`) that makes WRITES writes (opens, public replies,
   status changes), each carrying a token `API-<round>-<i>`;
2. `casework import-mbox`, the writer and `casework worker` (delivering to an aiosmtpd sink) start together;
   KILLS times one of those still running gets SIGKILL mid-work (once it made progress since it started,
   then a random 0–1.5 s more) — the first three kills hit the importer, the writer and the worker, then
   victims are random; a victim that finished first passes its turn on — and is started again at once
   (the importer from the top of the mbox, the writer after the last call it started, a new worker);
3. once the importer and the writer finished, the worker runs until the outbox has nothing left to send,
   a few poll intervals more, and stops;
4. the checks (`check`): every mail imported exactly once (one `intake_inboundmail` row, one case), every
   write that was answered 2xx present (the case, the reply message, the status change), no mail at the
   sink twice (by Message-ID) and every outbox row sent, no case half-written (its `opened` event, both SLA
   clocks, sentiment, a triage trace — a rule applied or the "No triage rule matched" note — and one open
   tier-history stretch).

`CASEWORK_CHAOS_MAILS`, `CASEWORK_CHAOS_WRITES`, `CASEWORK_CHAOS_KILLS` size a round (300/200/4 in
`make test`; `make chaos` sets 1,000/1,000/8); `CASEWORK_CHAOS_RUNS` is the number of rounds.
"""

from __future__ import annotations

import mailbox
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from . import api_writer
from .chaos import CLASSIFIED, OUTBOX_POLL_SECONDS, SUPPORT_ADDRESS, UNCLASSIFIED, Database, mail_settings
from .processes import casework_command, start_worker, stop_worker, wait_until


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, "").strip() or default)


def round_size() -> dict[str, int]:
    return {
        # Enough work that each kill lands mid-work: with 60 mails and 60 writes the importer and the writer
        # were done before their turn came (0 kills of either in the runs looked at).
        "mails": _env_int("CASEWORK_CHAOS_MAILS", 300),
        "writes": _env_int("CASEWORK_CHAOS_WRITES", 200),
        "kills": _env_int("CASEWORK_CHAOS_KILLS", 4),
    }


KILL_DELAY_SECONDS = 1.5  # after the victim made progress, a random 0..this more before the kill

# The writer is one client making requests as fast as it can: give its token a budget it cannot reach, so
# the round measures crash safety, not the limiter. The importer commits INTAKE_BATCH mails a transaction:
# batches of 25 (not 100) give a kill more boundaries to land between, and show the importer's progress
# before it is all but done.
LOAD_ENV = {
    "CASEWORK_RATE_API_TOKEN": "1000000/m",
    "CASEWORK_RATE_API_IP": "1000000/m",
    "CASEWORK_INTAKE_BATCH": "25",
}
MBX_TOKEN = re.compile(r"MBX-(\d+)-(\d{5})")


def mbx_token(round_: int, i: int) -> str:
    return f"MBX-{round_}-{i:05d}"


def mbx_message_id(round_: int, i: int) -> str:
    return f"mbx-{round_}-{i:05d}@customers.test"


def write_mbox(path: Path, round_: int, count: int) -> None:
    texts = CLASSIFIED + UNCLASSIFIED
    box = mailbox.mbox(str(path), create=True)
    box.lock()
    try:
        now = datetime.now(UTC)
        for i in range(count):
            text = texts[i % len(texts)]
            mail = EmailMessage()
            mail["From"] = f"Customer {i} <customer.{i}@mbox{round_}.test>"
            mail["To"] = SUPPORT_ADDRESS
            mail["Subject"] = f"{text.subject} {mbx_token(round_, i)}"
            mail["Message-ID"] = f"<{mbx_message_id(round_, i)}>"
            mail["Date"] = format_datetime(now)
            mail.set_content(text.body)
            box.add(bytes(mail))
        box.flush()
    finally:
        box.unlock()
        box.close()


@dataclass
class Proc:
    """One of the round's processes: started again after each kill until it exits on its own."""

    name: str
    command: list[str]
    log: Path
    popen: subprocess.Popen | None = None
    starts: int = 0
    kills: int = 0
    exits: list[int] = field(default_factory=list)

    def start(self, env: Mapping[str, str]) -> None:
        with self.log.open("ab") as sink:
            self.popen = subprocess.Popen(
                self.command, env=dict(env), stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT
            )
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=30)
        self.kills += 1

    def finished(self) -> bool:
        """Exited on its own (after its last start); raises when it failed."""
        if self.popen is None or self.popen.poll() is None:
            return False
        code = self.popen.returncode
        if code != 0:
            raise AssertionError(f"{self.name} exited with {code}:\n{self.log.read_text()[-3000:]}")
        return True


@dataclass
class Round:
    index: int
    database: Database
    env: dict[str, str]
    directory: Path
    token: str
    mails: int
    writes: int
    kills: int
    rng: random.Random
    outbox_before: int = 0  # the template's rows (the seed marked them sent without sending them)

    @property
    def mbox(self) -> Path:
        return self.directory / "customers.mbox"

    @property
    def writer_log(self) -> Path:
        return self.directory / "writer.jsonl"


def run_round(
    *,
    index: int,
    database: Database,
    env: Mapping[str, str],
    directory: Path,
    token: str,
    sink: Any,
    seed: int | None = None,
) -> dict[str, Any]:
    """One round (see the module doc); the figures, after `check` passed."""
    size = round_size()
    rnd = Round(
        index=index,
        database=database,
        env={**env, **LOAD_ENV, **mail_settings(sink.port)},
        directory=directory,
        token=token,
        rng=random.Random(seed if seed is not None else index),
        **size,
    )
    write_mbox(rnd.mbox, index, rnd.mails)
    rnd.outbox_before = database.value("SELECT COALESCE(MAX(id), 0) FROM notify_outbox")
    importer = Proc(
        "importer", casework_command("import-mbox", str(rnd.mbox), "--no-progress"), directory / "import.log"
    )
    writer = Proc(
        "writer",
        [
            sys.executable,
            "-m",
            "casework.testing.api_writer",
            token,
            str(index),
            str(rnd.writes),
            str(rnd.writer_log),
        ],
        directory / "writer.log",
    )
    worker_log = directory / "worker.log"
    worker = Proc("worker", [], worker_log)
    started = time.monotonic()

    def start_worker_proc() -> None:
        worker.popen = start_worker(rnd.env, worker_log)
        worker.starts += 1

    importer.start(rnd.env)
    writer.start(rnd.env)
    start_worker_proc()
    procs = {"importer": importer, "writer": writer, "worker": worker}
    order = ["importer", "writer", "worker"]
    kill_points: list[dict] = []
    try:
        # A kill lands mid-work, not during a process's start-up: wait until the victim made progress
        # since it (re)started, then a random 0–1.5 s more.
        progress = {
            "importer": lambda: database.value(
                "SELECT COUNT(*) FROM intake_inboundmail WHERE header_message_id LIKE '%%mbx-%%'"
            ),
            "writer": lambda: len(rnd.writer_log.read_text().splitlines()) if rnd.writer_log.exists() else 0,
            "worker": lambda: database.value("SELECT COUNT(*) FROM notify_outbox WHERE status = 'sent'"),
        }
        baseline = {name: progress[name]() for name in order}

        def outbox_undelivered() -> int:
            return database.value("SELECT COUNT(*) FROM notify_outbox WHERE status IN ('pending', 'sending')")

        def no_work_left(name: str) -> bool:
            # The importer and the writer exit when done; the worker runs on, idle once both finished and
            # the outbox is delivered: a kill then proves nothing (and its progress would never come).
            if name != "worker":
                return not procs[name].running
            return importer.finished() and writer.finished() and not outbox_undelivered()

        # A victim that finished on its own in the meantime does not use up a kill: the next one goes to a
        # process still running. Once every process is done the round has the kills it got (the test
        # asserts at least 3; the round's size gives each process work while the first kills land).
        attempts = 0
        while len(kill_points) < rnd.kills and attempts < 4 * rnd.kills:
            attempts += 1
            alive = [name for name in order if procs[name].running]
            if not alive:
                break
            k = len(kill_points)
            wanted = order[k] if k < len(order) else rnd.rng.choice(alive)
            name = wanted if wanted in alive else rnd.rng.choice(alive)
            victim = procs[name]
            wait_until(
                lambda: progress[name]() > baseline[name] or no_work_left(name),  # noqa: B023
                timeout=300,
                what=f"{name} to make progress",
                interval=0.1,
            )
            time.sleep(rnd.rng.uniform(0, KILL_DELAY_SECONDS))
            if no_work_left(name):
                if victim is worker:
                    break  # every process is done: the remaining kills could not land mid-work
                order = [n for n in order if n != name] + [name]  # its turn passes to the others
                continue
            victim.kill()
            kill_points.append({"victim": name, "progress": progress[name]()})
            baseline[name] = progress[name]()
            if victim is worker:
                start_worker_proc()
            else:
                victim.start(rnd.env)
        wait_until(
            lambda: importer.finished() and writer.finished(),
            timeout=1800,
            what="the import and the API writes to finish",
            interval=0.2,
        )
        wait_until(
            lambda: not outbox_undelivered(),
            timeout=900,
            what="the outbox to be delivered",
            interval=0.2,
        )
        time.sleep(10 * OUTBOX_POLL_SECONDS)  # a second delivery of anything would arrive now
    finally:
        for proc in procs.values():
            if proc.running:
                if proc is worker:
                    stop_worker(proc.popen)
                else:
                    proc.kill()
    figures = check(rnd, sink, worker_kills=worker.kills)
    figures.update(
        round=index,
        seconds=round(time.monotonic() - started, 1),
        kills={name: proc.kills for name, proc in procs.items()},
        kill_points=kill_points,
        starts={name: proc.starts for name, proc in procs.items()},
    )
    return figures


def check(rnd: Round, sink: Any, *, worker_kills: int = 0) -> dict[str, Any]:
    db = rnd.database
    problems: list[str] = []

    # every mail exactly once: one inbound-mail row and one case per Message-ID/token
    inbound = Counter(
        row["header_message_id"].strip("<>")
        for row in db.rows(
            "SELECT header_message_id FROM intake_inboundmail WHERE header_message_id LIKE '%%mbx-%%'"
        )
    )
    cases_by_token = Counter(
        m.group(0)
        for row in db.rows("SELECT subject FROM cases_case WHERE subject LIKE '%%MBX-%%'")
        if (m := MBX_TOKEN.search(row["subject"]))
    )
    missing_mails = [i for i in range(rnd.mails) if inbound[mbx_message_id(rnd.index, i)] == 0]
    doubled_mails = [mid for mid, n in inbound.items() if n > 1]
    missing_cases = [i for i in range(rnd.mails) if cases_by_token[mbx_token(rnd.index, i)] == 0]
    doubled_cases = [t for t, n in cases_by_token.items() if n > 1]
    quarantined = db.value("SELECT COUNT(*) FROM intake_quarantine")
    if missing_mails or missing_cases:
        problems.append(
            f"mails lost: {len(missing_mails)} rows, {len(missing_cases)} cases {missing_cases[:10]}"
        )
    if doubled_mails or doubled_cases:
        problems.append(f"mails doubled: {doubled_mails[:10]} {doubled_cases[:10]}")
    if quarantined:
        problems.append(f"{quarantined} mails quarantined")

    # every accepted write present
    _, _, answers = api_writer.read_log(rnd.writer_log)
    accepted = [a for a in answers if 200 <= a["status"] < 300]
    refused = [a for a in answers if not 200 <= a["status"] < 300]
    lost_writes = []
    for a in accepted:
        if a["kind"] == "create":
            subject = db.value("SELECT subject FROM cases_case WHERE reference = ?", a["reference"])
            present = subject is not None and a["token"] in subject
        elif a["kind"] == "reply":
            present = (
                db.value(
                    "SELECT COUNT(*) FROM cases_message WHERE body = ?", api_writer.reply_body(a["token"])
                )
                == 1
            )
        else:
            present = (
                db.value(
                    "SELECT COUNT(*) FROM cases_caseevent WHERE kind = 'status_changed' AND reason = ?",
                    a["token"],
                )
                == 1
            )
        if not present:
            lost_writes.append(a)
    if lost_writes:
        problems.append(f"accepted writes missing: {lost_writes[:10]}")
    if refused:
        problems.append(f"writes refused: {refused[:10]}")

    # no mail twice, every outbox row delivered
    ids = Counter(
        (message_from_bytes(raw, policy=policy.default)["Message-ID"] or "").strip("<>")
        for _, _, raw in sink.messages
    )
    delivered_twice = {mid: n for mid, n in ids.items() if n > 1}
    # SMTP cannot be exactly-once, but the window is closed as far as it can be: the worker appends the
    # hand-over to its journal (notify/handover.py: one write() to an append-only file) the moment the
    # server's 250 arrives, before its "sent" UPDATE, and a reclaimed row the journal knows becomes sent
    # without a second conversation (logged: "the hand-over journal says"). What is left is the moment
    # between the server storing the mail and the worker reading its 250 and writing the line: a worker
    # killed there leaves a row the journal does not know, reclaimed and sent again with the same
    # Message-ID. Such a copy is counted apart (at most one per worker kill, only for a reclaimed row);
    # any other mail at the sink twice fails the round.
    reclaimed = {
        row["header_message_id"]
        for row in db.rows(
            "SELECT header_message_id FROM notify_outbox WHERE reclaims > 0 AND id > ?", rnd.outbox_before
        )
    }
    worker_log = rnd.directory / "worker.log"
    recovered = (
        worker_log.read_text(errors="replace").count("the hand-over journal says")
        if worker_log.exists()
        else 0
    )
    outbox = dict(
        (row["status"], row["n"])
        for row in db.rows(
            "SELECT status, COUNT(*) AS n FROM notify_outbox WHERE id > ? GROUP BY status", rnd.outbox_before
        )
    )
    sent_ids = {
        row["header_message_id"]
        for row in db.rows(
            "SELECT header_message_id FROM notify_outbox WHERE status = 'sent' AND channel = 'email'"
            " AND id > ?",
            rnd.outbox_before,
        )
    }
    in_window = sorted(mid for mid, n in delivered_twice.items() if n == 2 and mid in reclaimed)
    if len(in_window) > worker_kills:
        in_window = []
    other_twice = {mid: n for mid, n in delivered_twice.items() if mid not in in_window}
    if other_twice:
        problems.append(
            f"mails delivered twice: {other_twice} (reclaimed: {sorted(set(other_twice) & reclaimed)};"
            f" worker kills: {worker_kills})"
        )
    if set(outbox) - {"sent", "suppressed", "skipped"}:
        problems.append(f"outbox rows not sent: {outbox}")
    not_arrived = sent_ids - set(ids)
    if not_arrived:
        detail = [
            db.one(
                "SELECT id, kind, dedup_key, attempts, reclaims, last_error, sent_at, header_message_id"
                " FROM notify_outbox WHERE header_message_id = ?",
                mid,
            )
            for mid in sorted(not_arrived)[:5]
        ]
        problems.append(f"{len(not_arrived)} outbox rows marked sent never reached the sink: {detail}")

    # no case half-written
    half = half_written(db)
    if half:
        problems.append(f"half-written cases: {half[:10]}")

    figures = {
        "mails": rnd.mails,
        "mails_imported": len(inbound),
        "mail_cases": len(cases_by_token),
        "mails_lost": len(set(missing_mails) | set(missing_cases)),
        "mail_duplicates": len(doubled_mails) + len(doubled_cases),
        "writes": rnd.writes,
        "writes_answered": len(answers),
        "writes_cut_off_by_a_kill": api_writer.read_log(rnd.writer_log)[0] - len(answers),
        "writes_accepted": len(accepted),
        "writes_refused": len(refused),
        "accepted_writes_lost": len(lost_writes),
        "mails_delivered": sum(ids.values()),
        "mails_delivered_twice": len(other_twice),
        "mails_sent_again_after_a_kill_in_the_smtp_window": len(in_window),
        "outbox_reclaims": len(reclaimed),
        "outbox_reclaims_saved_by_the_handover_journal": recovered,
        "outbox": outbox,
        "cases": db.value("SELECT COUNT(*) FROM cases_case"),
        "half_written_cases": len(half),
        "problems": problems,
    }
    return figures


def half_written(db: Database) -> list[dict]:
    """Cases missing part of what opening them implies."""
    rows = db.rows(
        "SELECT c.id, c.reference, c.sentiment,"
        " (SELECT COUNT(*) FROM cases_caseevent e WHERE e.case_id = c.id AND e.kind = 'opened') AS opened,"
        " (SELECT COUNT(DISTINCT k.metric) FROM sla_caseclock k WHERE k.case_id = c.id) AS clocks,"
        " (SELECT COUNT(*) FROM cases_caseevent e WHERE e.case_id = c.id AND (e.kind = 'rule_applied'"
        "   OR (e.kind = 'note' AND e.reason LIKE 'No triage rule matched%%'))) AS triage,"
        " (SELECT COUNT(*) FROM routing_tierhistory h WHERE h.case_id = c.id AND h.left_at IS NULL)"
        "   AS open_tiers"
        " FROM cases_case c"
    )
    return [
        row
        for row in rows
        if row["opened"] != 1
        or row["clocks"] != 2
        or row["sentiment"] is None
        or row["triage"] < 1
        or row["open_tiers"] != 1
    ]
