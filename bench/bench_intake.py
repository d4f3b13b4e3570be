"""Email intake throughput with every case reaction: parse + thread + store + triage, routing, SLA, notify.

One process, a fresh SQLite file, the benchmark support team (benchlib.setup_team: L1/L2/L3 teams and
agents, so auto-assignment really runs), and the peer's mail shapes from its own generators
(../shared/bench/peer-django-helpdesk/bench.py, imported read-only at run time): 800 new mails (text +
HTML, 10 % with a small attachment), then 200 replies, half threading by In-Reply-To and half by a
"[CW-000123]" subject tag from the customer (the peer uses its "[queue-ID]" tag the same way). They go
through `ingest_many`, exactly what the IMAP poll and the mbox import call (batches of INTAKE_BATCH mails
per transaction; the MTA pipe and the HTTP endpoint take one mail at a time through the same code as a
batch of one). The peer measured ~26 msgs/s for its `get_email` on this workload, which also builds a
notification mail per ticket; `run.py --peer` measures it in the same run.

The headline (`msgs_per_s`, `with_every_reaction`) is that whole workload with every reaction the product
runs on a new case or a customer reply, as `casework fetch-mail` runs in production; `reactions_seen`
counts their traces in the database (priority set by rules, triaged, SLA clocks, assigned…). A second
run of the same workload (other senders and Message-IDs) with no reactions is the `intake_alone`
breakdown: with `casework.cases.pipeline.only()` when the code has it, else by detaching the after-commit
hook dispatch (`mechanism` says which).

Run: ``.venv/bin/python bench/bench_intake.py`` (prints JSON).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

import benchlib  # noqa: E402  (bench/ on sys.path first)

NEW, REPLIES, SEED = 800, 200, 20240501
PEER_MSGS_PER_S = 26


def _workload(peer, *, seed: int, domain: str, start: dt.datetime) -> dict[str, Any]:
    """800 new mails then 200 replies to them through ingest_many; the senders' domain and Message-IDs
    carry `domain`, so a second workload in the same database is new mail, not duplicates."""
    from email import policy

    from casework.intake.services import ingest_many

    def raw(message) -> bytes:
        return message.as_bytes(policy=policy.default).replace(b"@customer.example", domain.encode())

    rng = random.Random(seed)
    news = peer.gen_new_emails(NEW, rng, start)
    raws_new = [raw(m["message"]) for m in news]
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    results_new = list(ingest_many(raws_new, source="bench"))
    t_new = time.perf_counter() - t0

    for mail, result in zip(news, results_new, strict=True):
        mail["ticket_id"] = result.case_reference
        mail["sender"] = mail["sender"].replace("@customer.example", domain)
    originals = [m for m in news if m["ticket_id"]]
    # The peer's tag replies name "[<slug>-<id>] <title>"; ours is "[CW-000123]", so slug=CW, id=000123.
    tagged = [(m["ticket_id"].split("-", 1)[1], m["subject"], m["sender"]) for m in originals]
    replies = peer.gen_reply_emails(originals, tagged, REPLIES, rng, start + dt.timedelta(days=1), "CW")
    raws_replies = [raw(r["message"]) for r in replies]
    t0 = time.perf_counter()
    results_replies = list(ingest_many(raws_replies, source="bench"))
    t_rep = time.perf_counter() - t0
    cpu = time.process_time() - cpu0

    threaded = {"in_reply_to": [0, 0], "subject_tag": [0, 0]}
    for reply, result in zip(replies, results_replies, strict=True):
        expected = reply["expect_ticket"]
        if reply["kind"] == "subject_tag":
            expected = f"CW-{expected}"
        threaded[reply["kind"]][1] += 1
        threaded[reply["kind"]][0] += int(result.case_reference == expected and not result.created)
    matched_by: dict[str, int] = {}
    for result in results_replies:
        matched_by[result.matched_by] = matched_by.get(result.matched_by, 0) + 1
    total, wall = NEW + REPLIES, t_new + t_rep
    return {
        "messages": total,
        "batch_new": {"wall_s": round(t_new, 3), "msgs_per_s": round(NEW / t_new, 1)},
        "batch_replies": {"wall_s": round(t_rep, 3), "msgs_per_s": round(REPLIES / t_rep, 1)},
        "wall_s": round(wall, 3),
        "msgs_per_s": round(total / wall, 1),
        "ms_per_msg": round(wall * 1000 / total, 2),
        "cpu_ms_per_msg": round(cpu * 1000 / total, 2),
        "new_cases_ok": sum(1 for r in results_new if r.created),
        "threading": {
            "in_reply_to_threaded": "{}/{}".format(*threaded["in_reply_to"]),
            "subject_tag_threaded": "{}/{}".format(*threaded["subject_tag"]),
            "matched_by": matched_by,
        },
    }


def run() -> dict:
    peer = benchlib.peer_module()
    with tempfile.TemporaryDirectory(prefix="casework-bench-intake-") as var_dir:
        benchlib.setup_django(var_dir)
        from django.conf import settings
        from django.db import connection
        from django.db.models import Max

        from casework.cases.models import Case, Message

        def last_case_id() -> int:
            return Case.objects.aggregate(last=Max("id"))["last"] or 0

        db = Path(settings.DATABASES["default"]["NAME"])
        team = benchlib.setup_team(capacity=benchlib.agent_capacity(2 * NEW))
        start = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)

        before = last_case_id()
        with benchlib.reactions() as mechanism:
            full = _workload(peer, seed=SEED + 7, domain="@customer.example", start=start)
        full["reactions"] = mechanism
        full["reactions_seen"] = benchlib.reaction_counts(db, since_case_id=before)

        before = last_case_id()
        with benchlib.reactions(none=True) as mechanism:
            alone = _workload(
                peer, seed=SEED + 17, domain="@alone.example", start=start + dt.timedelta(days=3)
            )
        alone["reactions"] = "none"
        alone["switch"] = mechanism  # "pipeline" or "hooks"
        alone["mechanism"] = (
            "casework.cases.pipeline.only() (no reaction stage)"
            if mechanism == "pipeline"
            else "after-commit hook dispatch detached for the run (the code has no pipeline.only)"
        )
        alone["reactions_seen"] = benchlib.reaction_counts(db, since_case_id=before)
        figures = {
            "messages": NEW + REPLIES,
            "new_messages": NEW,
            "reply_messages": REPLIES,
            "database": "SQLite file (WAL), one process",
            "batch_size": settings.CASEWORK["INTAKE_BATCH"],
            "team": team,
            # The headline: the whole workload with every reaction.
            "msgs_per_s": full["msgs_per_s"],
            "ms_per_msg": full["ms_per_msg"],
            "with_every_reaction": full,
            "intake_alone": alone,
            "cases_created": Case.objects.count(),
            "messages_stored": Message.objects.count(),
            "peer_get_email_msgs_per_s": PEER_MSGS_PER_S,
            "ratio_vs_peer": round(full["msgs_per_s"] / PEER_MSGS_PER_S, 1),
            "ratio_note": "vs the peer's documented ~26 msgs/s; run.py --peer measures it in the same run",
        }
        connection.close()
    return figures


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
