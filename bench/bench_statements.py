"""SQL statements and transactions per API create and per mail, with every case reaction running.

One process, a fresh SQLite file (migrated here; SLA policies and default triage rules come from the
migrations), the benchmark support team (benchlib.setup_team: L1/L2/L3 teams, agents with tiers and
skills) and an API token. Then, each statement the default connection runs is recorded
(benchlib.StatementLog: a ``connection.execute_wrapper`` plus the COMMIT/ROLLBACK Django sends to the
DB-API connection directly):

* ``api_create``: CREATES × ``POST /api/v1/cases`` through Django's test ``Client`` with the Bearer token
  and the HTTP benchmark's payloads (peer ``gen_payloads``) — the whole request: middleware, auth, the
  create, the reactions and the response. Also the in-process CPU per create (``time.process_time``);
* ``intake_batch``: MAILS new mails from the peer's generator through ``ingest_many`` (what IMAP polls and
  mbox imports call), per batch of INTAKE_BATCH and per mail; then REPLIES replies to them the same way;
* ``intake_single``: SINGLE new mails one at a time through ``ingest_raw`` (the MTA pipe, the HTTP push).

Reported per item: statements (median/p95/max, transaction control excluded), transactions (outermost
BEGIN … COMMIT plus any write run outside one), savepoints, statements by kind and the 10 commonest
statement shapes (literals folded). The test client keeps one connection open, and so does each gunicorn
worker (``CASEWORK_DB_CONN_MAX_AGE``, 60 s by default): the PRAGMAs of ``connection_setup_statements`` run
only when a worker opens a new SQLite connection.

Run: ``.venv/bin/python bench/bench_statements.py`` (JSON on stdout) or ``bench/run.py --only micro
--micro statements``.
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

CREATES, MAILS, REPLIES, SINGLE, SEED = 200, 300, 100, 50, 20240501
AGENT = "benchagent"
# The HTTP benchmark's mapping of the peer's priorities 1..5.
PRIORITY = {1: "critical", 2: "high", 3: "medium", 4: "low", 5: "low"}


def _token() -> str:
    from django.contrib.auth import get_user_model

    from casework.api.models import ApiToken
    from casework.people.models import AgentProfile

    user = get_user_model().objects.create_user(AGENT, password="bench-Pa33w0rd-casework")
    AgentProfile.objects.create(user=user, tier_level=3, max_open_cases=100000)
    return ApiToken.issue(user, name="benchmark")[1]


def _api_create(peer, token: str, log: benchlib.StatementLog) -> tuple[dict, list[str]]:
    from django.db import connection
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    payloads = [
        {
            "subject": p["title"],
            "description": p["description"],
            "customer_email": p["submitter_email"],
            "priority": PRIORITY[p["priority"]],
        }
        for p in peer.gen_payloads(CREATES + 5, SEED)
    ]
    for payload in payloads[:5]:  # warm-up: imports, rule compilation, policy book, first connection
        assert client.post("/api/v1/cases", payload, content_type="application/json").status_code == 201
    groups, cpu_ms, wall_ms, codes = [], [], [], {}
    refs: list[str] = []
    with log.capture():
        for payload in payloads[5:]:
            mark = log.mark()
            c0, w0 = time.process_time(), time.perf_counter()
            response = client.post("/api/v1/cases", payload, content_type="application/json")
            cpu_ms.append((time.process_time() - c0) * 1000)
            wall_ms.append((time.perf_counter() - w0) * 1000)
            groups.append(log.since(mark))
            codes[str(response.status_code)] = codes.get(str(response.status_code), 0) + 1
            if response.status_code == 201:
                refs.append(response.json()["reference"])
    figures = benchlib.summarise_statements(groups)
    figures.update(
        endpoint="POST /api/v1/cases (Django test Client, Bearer token, every reaction)",
        status_counts=codes,
        cpu_ms_per_create={
            "median": round(benchlib.pct(cpu_ms, 50), 2),
            "p95": round(benchlib.pct(cpu_ms, 95), 2),
            "mean": round(sum(cpu_ms) / len(cpu_ms), 2),
        },
        wall_ms_per_create={
            "median": round(benchlib.pct(wall_ms, 50), 2),
            "p95": round(benchlib.pct(wall_ms, 95), 2),
        },
        connection_setup_statements=1 + sum(1 for c in connection.init_commands if c.strip()),
        connection_setup_note="not in the counts: the test client keeps one connection, and so does each "
        "gunicorn worker (CASEWORK_DB_CONN_MAX_AGE, 60 s by default): these PRAGMAs run when it opens one",
    )
    return figures, refs


def _mails(peer, count: int, seed: int, start: dt.datetime, domain: str) -> tuple[list[dict], list[bytes]]:
    from email import policy

    mails = peer.gen_new_emails(count, random.Random(seed), start)
    raws = [
        m["message"].as_bytes(policy=policy.default).replace(b"@customer.example", domain.encode())
        for m in mails
    ]
    return mails, raws


def _intake(peer, log: benchlib.StatementLog) -> dict[str, Any]:
    from email import policy

    from django.conf import settings

    from casework.intake.services import ingest_many, ingest_raw

    size = settings.CASEWORK["INTAKE_BATCH"]
    start = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)
    _, warm_raws = _mails(peer, 20, SEED + 1, start, "@warm.example")
    list(ingest_many(warm_raws, source="bench"))

    news, raws = _mails(peer, MAILS, SEED + 7, start, "@customer.example")
    batches: list[list[str]] = []
    sizes: list[int] = []
    results = []
    cpu0 = time.process_time()
    with log.capture():
        for k in range(0, len(raws), size):
            chunk = raws[k : k + size]
            mark = log.mark()
            results += list(ingest_many(chunk, source="bench"))
            batches.append(log.since(mark))
            sizes.append(len(chunk))
    cpu_new = time.process_time() - cpu0
    for mail, result in zip(news, results, strict=True):
        mail["ticket_id"] = result.case_reference
    originals = [m for m in news if m["ticket_id"]]
    tagged = [(m["ticket_id"].split("-", 1)[1], m["subject"], m["sender"]) for m in originals]
    rng = random.Random(SEED + 8)
    replies = peer.gen_reply_emails(originals, tagged, REPLIES, rng, start + dt.timedelta(days=1), "CW")
    reply_raws = [r["message"].as_bytes(policy=policy.default) for r in replies]
    reply_groups: list[list[str]] = []
    cpu0 = time.process_time()
    with log.capture():
        for k in range(0, len(reply_raws), size):
            mark = log.mark()
            reply_results = list(ingest_many(reply_raws[k : k + size], source="bench"))
            reply_groups.append(log.since(mark))
    cpu_replies = time.process_time() - cpu0

    _, single_raws = _mails(peer, SINGLE, SEED + 9, start + dt.timedelta(days=2), "@single.example")
    single_groups: list[list[str]] = []
    cpu0 = time.process_time()
    with log.capture():
        for raw in single_raws:
            mark = log.mark()
            ingest_raw(raw, source="bench")
            single_groups.append(log.since(mark))
    cpu_single = time.process_time() - cpu0

    per_batch = benchlib.summarise_statements(batches)
    total = sum(len(g) for g in batches)
    return {
        "batch_size": size,
        "new_mails": {
            "mails": MAILS,
            "created": sum(1 for r in results if r.created),
            "per_batch": per_batch,
            "per_mail": {
                "statements_mean": round(per_batch["statements"]["mean"] * len(batches) / MAILS, 2),
                "statements_incl_transaction_control_mean": round(total / MAILS, 2),
                "transactions_mean": round(per_batch["transactions"]["mean"] * len(batches) / MAILS, 3),
                "savepoints_mean": round(per_batch["savepoints"]["mean"] * len(batches) / MAILS, 2),
                "by_kind": {
                    k: round(v * len(batches) / MAILS, 2) for k, v in per_batch["by_kind_per_item"].items()
                },
                "top_shapes": [
                    {"per_mail": round(s["per_item"] * len(batches) / MAILS, 2), "sql": s["sql"]}
                    for s in per_batch["top_shapes_per_item"]
                ],
            },
            "cpu_ms_per_mail": round(cpu_new * 1000 / MAILS, 2),
        },
        "replies": {
            "mails": REPLIES,
            "threaded": sum(1 for r in reply_results if not r.created) if reply_groups else 0,
            "per_mail_statements_mean": round(sum(len(g) for g in reply_groups) / REPLIES, 2),
            "per_batch": benchlib.summarise_statements(reply_groups, top=5),
            "cpu_ms_per_mail": round(cpu_replies * 1000 / REPLIES, 2),
        },
        "single_ingest_raw": {
            **benchlib.summarise_statements(single_groups),
            "cpu_ms_per_mail": round(cpu_single * 1000 / SINGLE, 2),
        },
    }


def run() -> dict[str, Any]:
    peer = benchlib.peer_module()
    with tempfile.TemporaryDirectory(prefix="casework-bench-statements-") as var_dir:
        benchlib.setup_django(var_dir)
        from django.conf import settings

        team = benchlib.setup_team(capacity=benchlib.agent_capacity(CREATES + MAILS + SINGLE + 50))
        token = _token()
        log = benchlib.StatementLog()
        db = Path(settings.DATABASES["default"]["NAME"])
        api, _ = _api_create(peer, token, log)
        api["reactions_seen"] = benchlib.reaction_counts(db)
        from django.db import connection
        from django.db.models import Max

        from casework.cases.models import Case

        last_api_case = Case.objects.aggregate(last=Max("id"))["last"] or 0
        intake = _intake(peer, log)
        intake["reactions_seen"] = benchlib.reaction_counts(db, since_case_id=last_api_case)

        connection.close()
    return {
        "benchmark": "statements",
        "reactions": benchlib.reaction_mechanism(),
        "team": team,
        "database": "SQLite file (WAL, IMMEDIATE transactions), one process",
        "api_create": api,
        "intake": intake,
        "headline": {
            "api_create_statements_median": api["statements"]["median"],
            "api_create_transactions_median": api["transactions"]["median"],
            "mail_statements_mean": intake["new_mails"]["per_mail"]["statements_mean"],
            "mail_transactions_mean": intake["new_mails"]["per_mail"]["transactions_mean"],
            "single_mail_statements_median": intake["single_ingest_raw"]["statements"]["median"],
            "single_mail_transactions_median": intake["single_ingest_raw"]["transactions"]["median"],
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, default=str))
