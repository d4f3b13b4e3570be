"""Email intake throughput: parse + thread + store, one process, a fresh SQLite file, the peer's mail shapes.

The mails come from the peer harness's own generators (../shared/bench/peer-django-helpdesk/bench.py,
imported read-only at run time): 800 new mails (text + HTML, 10 % with a small attachment), then 200
replies, half threading by In-Reply-To and half by a "[CW-000123]" subject tag from the customer (the peer
uses its "[queue-ID]" tag the same way). They go through `ingest_many`, exactly what the IMAP poll and the
mbox import call (batches of INTAKE_BATCH mails per transaction; the MTA pipe and the HTTP endpoint take
one mail at a time through the same code as a batch of one). The peer measured ~26 msgs/s for its
`get_email` on this workload; `run.py --peer` measures it in the same run.

The headline figure is intake alone (parse + thread + store): the case hooks of other apps (triage, SLA,
routing), which run in-process after each commit, are detached for it. A second, smaller batch of 200 new
mails runs with every hook attached, as `casework fetch-mail` runs in production, and is reported beside it.

Run: ``.venv/bin/python bench/bench_intake.py`` (prints JSON).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEER_BENCH = ROOT.parent / "shared" / "bench" / "peer-django-helpdesk" / "bench.py"
NEW, REPLIES, SEED = 800, 200, 20240501
WITH_HOOKS = 200
PEER_MSGS_PER_S = 26


def _peer_module():
    spec = importlib.util.spec_from_file_location("peer_dh_bench", PEER_BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _setup_django(var_dir: str) -> None:
    os.environ["CASEWORK_VAR_DIR"] = var_dir
    os.environ["CASEWORK_MEDIA_DIR"] = str(Path(var_dir) / "media")
    os.environ["DATABASE_URL"] = f"sqlite:///{Path(var_dir) / 'casework.sqlite3'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casework.settings")
    os.environ.setdefault("CASEWORK_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def run() -> dict:
    peer = _peer_module()
    with tempfile.TemporaryDirectory(prefix="casework-bench-intake-") as var_dir:
        _setup_django(var_dir)
        from email import policy

        from django.conf import settings

        from casework.cases.models import Case, Message
        from casework.intake.services import ingest_many

        rng = random.Random(SEED + 7)
        start = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)
        news = peer.gen_new_emails(NEW, rng, start)
        raws_new = [m["message"].as_bytes(policy=policy.default) for m in news]

        from casework.cases import hooks

        attached = hooks.dispatch_on_commit
        hooks.dispatch_on_commit = lambda event: None  # intake alone; see the module docstring

        t0 = time.perf_counter()
        results_new = list(ingest_many(raws_new, source="bench"))
        t_new = time.perf_counter() - t0

        for mail, result in zip(news, results_new, strict=True):
            mail["ticket_id"] = result.case_reference
        originals = [m for m in news if m["ticket_id"]]
        # The peer's tag replies name "[<slug>-<id>] <title>"; ours is "[CW-000123]", so slug=CW, id=000123.
        tagged = [(m["ticket_id"].split("-", 1)[1], m["subject"], m["sender"]) for m in originals]
        replies = peer.gen_reply_emails(originals, tagged, REPLIES, rng, start + dt.timedelta(days=1), "CW")
        raws_replies = [r["message"].as_bytes(policy=policy.default) for r in replies]

        t0 = time.perf_counter()
        results_replies = list(ingest_many(raws_replies, source="bench"))
        t_rep = time.perf_counter() - t0

        hooks.dispatch_on_commit = attached
        extra = peer.gen_new_emails(WITH_HOOKS, random.Random(SEED + 99), start + dt.timedelta(days=2))
        raws_extra = [
            m["message"].as_bytes(policy=policy.default).replace(b"@customer.example", b"@hooks.example")
            for m in extra
        ]
        t0 = time.perf_counter()
        list(ingest_many(raws_extra, source="bench"))
        t_hooks = time.perf_counter() - t0

        threaded = {"in_reply_to": [0, 0], "subject_tag": [0, 0]}
        for reply, result in zip(replies, results_replies, strict=True):
            expected = reply["expect_ticket"]
            if reply["kind"] == "subject_tag":
                expected = f"CW-{expected}"
            threaded[reply["kind"]][1] += 1
            threaded[reply["kind"]][0] += int(result.case_reference == expected and not result.created)
        total = NEW + REPLIES
        wall = t_new + t_rep
        matched_by: dict[str, int] = {}
        for result in results_replies:
            matched_by[result.matched_by] = matched_by.get(result.matched_by, 0) + 1
        figures = {
            "messages": total,
            "new_messages": NEW,
            "reply_messages": REPLIES,
            "database": "SQLite file (WAL), one process",
            "batch_size": settings.CASEWORK["INTAKE_BATCH"],
            "batch_new": {"wall_s": round(t_new, 3), "msgs_per_s": round(NEW / t_new, 1)},
            "batch_replies": {"wall_s": round(t_rep, 3), "msgs_per_s": round(REPLIES / t_rep, 1)},
            "msgs_per_s": round(total / wall, 1),
            "ms_per_msg": round(wall * 1000 / total, 2),
            "threading": {
                "in_reply_to_threaded": "{}/{}".format(*threaded["in_reply_to"]),
                "subject_tag_threaded": "{}/{}".format(*threaded["subject_tag"]),
                "matched_by": matched_by,
            },
            "cases_created": Case.objects.count(),
            "messages_stored": Message.objects.count(),
            "new_cases_ok": sum(1 for r in results_new if r.created),
            "with_case_hooks": {
                "new_messages": WITH_HOOKS,
                "wall_s": round(t_hooks, 3),
                "msgs_per_s": round(WITH_HOOKS / t_hooks, 1),
                "note": "triage, SLA, routing and notify hooks run in-process after each commit",
            },
            "peer_get_email_msgs_per_s": PEER_MSGS_PER_S,
            "ratio_vs_peer": round(total / wall / PEER_MSGS_PER_S, 1),
        }
    return figures


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
