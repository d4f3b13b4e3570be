"""Case search at N existing cases (default 100,000): p50/p95 of the queue's search path, the backfill
rate, and what keeping the index in the writing transaction costs an API-style create.

One process, a fresh SQLite file. The cases are written with bulk inserts (not through the services —
opening 100,000 cases with every reaction takes far longer than the thing measured here): the peer
harness's ticket text (`gen_payloads`, 10 % mention printers, 0.5 % an asset tag ZXQVAULT-nnnn), 3,000
customers in 40 organisations, the opening message per case and a public reply on a third of them. Then:

* ``backfill``: `casework search-backfill`'s function over every case (documents/s);
* ``queries``: for each term, SAMPLES runs of what the queue page does for `?q=` — `case_list` with the
  query and relevance order, the COUNT for the pager, the first page of 25 and its highlighted excerpts —
  timed end to end (ms). Terms: a rare word, a common word (10 %), a word in every case, two words typed
  as prefixes, an exact reference, a bare case number, a partial number, and a misspelling (which finds
  nothing, then asks the typo correction);
* ``rank_every_match``: before/after of the rank cut (`CASEWORK_SEARCH_RANK_LIMIT`, issue 14): the broad
  terms again with the limit at 0 — every match ranked and sorted, the behaviour before the cut —
  alternating sample by sample with the default limit, and the ratio;
* ``ui_queue`` and ``peer``: the side-by-side with django-helpdesk (issue 14). The same N tickets from
  the same generator and seed are bulk-written into the peer's site (`bench/peer_search.py`, run in the
  peer's venv), then the same terms — a rare word, a common word, a case number — are timed on both
  sides as an agent waits for them, in process through Django's test client: our queue page
  (`/?view=all&q=`) against the peer's list page plus the DataTables JSON it loads. ``comparison`` has
  the p95 of each and the ratio (peer ÷ casework; > 1: casework is faster), from this one run.
  ``CASEWORK_BENCH_SEARCH_PEER``: ``auto`` (default: when /tmp/peer-dh-venv and the site exist),
  ``1`` (build them with the harness's setup.sh if missing), ``0`` (skip);
* ``articles``: ARTICLES (1,000) published articles written through the service, then the customer
  suggestion query and the agent article search (p50/p95 ms);
* ``create``: CREATES cases opened through `cases.services.case_open_with_message` with every reaction,
  alternating with and without the search index upkeep (its flush hook stubbed out), ms per create.

Run: ``.venv/bin/python bench/bench_search.py`` (JSON on stdout), ``bench/run.py --only micro --micro
search``; ``CASEWORK_BENCH_SEARCH_N`` sets N. ``--postgres`` runs it on a throwaway PostgreSQL cluster
(``--database-url`` on an existing empty database) instead of SQLite; ``--skip-creates`` and
``--skip-articles`` leave those parts out.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import re
import secrets
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

import benchlib  # noqa: E402  (bench/ on sys.path first)

N = int(os.environ.get("CASEWORK_BENCH_SEARCH_N", "100000"))
SAMPLES = int(os.environ.get("CASEWORK_BENCH_SEARCH_SAMPLES", "20"))
CREATES = int(os.environ.get("CASEWORK_BENCH_SEARCH_CREATES", "100"))
SEED = 20261203
BATCH = 5000


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _seed(n: int) -> dict:
    from django.db import transaction

    from casework.cases.models import Case, Message
    from casework.people.models import Customer, Organisation

    peer = benchlib.peer_module()
    payloads = peer.gen_payloads(n, SEED)
    rng = random.Random(SEED)
    orgs = Organisation.objects.bulk_create(
        [Organisation(name=f"Org {i:02d} {rng.choice(['Labs', 'GmbH', 'Inc', 'Ltd'])}") for i in range(40)]
    )
    customers = Customer.objects.bulk_create(
        [
            Customer(
                name=f"Customer {i}",
                email=f"customer{i}@org{i % 40}.example",
                organisation=orgs[i % 40],
            )
            for i in range(3000)
        ]
    )
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    replies = [
        "Thanks, we restarted the spooler service and cleared the queue.",
        "Please try again after clearing the browser cache.",
        "We reset your password; the link is valid for an hour.",
        "Engineering found the cause and deployed a fix.",
    ]
    t0 = time.perf_counter()
    for first in range(0, n, BATCH):
        with transaction.atomic():
            cases = []
            for i in range(first, min(n, first + BATCH)):
                p = payloads[i]
                customer = customers[i % len(customers)]
                cases.append(
                    Case(
                        number=i + 1,
                        reference=f"CW-{i + 1:06d}",
                        public_token=secrets.token_urlsafe(24),
                        subject=p["title"],
                        description=p["description"],
                        customer=customer,
                        organisation_id=customer.organisation_id,
                        channel="email",
                        status=rng.choice(["new", "triaged", "in_progress", "resolved", "closed"]),
                        created_at=start + dt.timedelta(minutes=5 * i),
                    )
                )
            Case.objects.bulk_create(cases)
            messages = []
            for case in cases:
                messages.append(
                    Message(
                        case=case,
                        kind="customer",
                        channel="email",
                        direction="inbound",
                        body=case.description,
                        created_at=case.created_at,
                    )
                )
                if rng.random() < 0.33:
                    messages.append(
                        Message(
                            case=case,
                            kind="reply",
                            channel="email",
                            direction="outbound",
                            body=rng.choice(replies),
                            created_at=case.created_at,
                        )
                    )
            Message.objects.bulk_create(messages)
        log(f"seeded {min(n, first + BATCH)} cases")
    from casework.core.models import Counter

    Counter.objects.update_or_create(name="case", defaults={"value": n})
    return {
        "cases": n,
        "seed_s": round(time.perf_counter() - t0, 1),
        "expected_hits": {
            term: peer.expected_hits(payloads, term) for term in ("printer", "zxqvault", "hello")
        },
    }


def _message(case, kind: str, direction: str, body: str):
    from casework.cases.models import Message

    return Message(
        case=case, kind=kind, channel="email", direction=direction, body=body, created_at=case.created_at
    )


def _time(fn, samples: int) -> dict:
    times = []
    result = None
    for _ in range(samples):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {
        "p50_ms": round(benchlib.pct(times, 50), 2),
        "p95_ms": round(benchlib.pct(times, 95), 2),
        "max_ms": round(max(times), 2),
        "hits": result,
    }


def _queue_search(q: str):
    from casework.cases import selectors
    from casework.search import selectors as search

    def run():
        qs = selectors.case_list(filters=selectors.CaseFilter(view="all", q=q, ordering="relevance"))
        count = qs.count()
        page = list(qs[:25])
        if not page:
            corrected = search.correct(q)
            if corrected:
                qs = selectors.case_list(
                    filters=selectors.CaseFilter(view="all", q=corrected, ordering="relevance")
                )
                count, page = qs.count(), list(qs[:25])
        search.hits(page, q)
        return {"count": count, "first": page[0].reference if page else None}

    return run


def _creates(n: int) -> dict:
    from unittest import mock

    from casework.cases import services
    from casework.people.models import Customer
    from casework.search import index

    customer = Customer.objects.order_by("pk").first()
    timings: dict[str, list[float]] = {"with_search": [], "without_search": []}
    for i in range(2 * n):
        key = "with_search" if i % 2 == 0 else "without_search"
        # The search stage always runs (pipeline.Stage.always); "without" stubs its flush hook out.
        skip = mock.patch.object(index, "reindex_flushed", lambda work, events: None)
        with skip if key == "without_search" else contextlib.nullcontext():
            t0 = time.perf_counter()
            services.case_open_with_message(
                subject=f"Printer jam number {i}",
                description="The printer on floor 3 jams on every second page since the update.",
                customer=customer,
                channel="api",
                actor="api",
            )
            timings[key].append((time.perf_counter() - t0) * 1000)
    out = {
        key: {"median_ms": round(benchlib.pct(v, 50), 2), "p95_ms": round(benchlib.pct(v, 95), 2)}
        for key, v in timings.items()
    }
    out["search_cost_median_ms"] = round(
        out["with_search"]["median_ms"] - out["without_search"]["median_ms"], 2
    )
    return out


ARTICLES = int(os.environ.get("CASEWORK_BENCH_SEARCH_ARTICLES", "1000"))


def _articles(n: int) -> dict:
    """N published articles (titles and bodies from the peer's ticket text), then p50/p95 of a customer's
    suggestion query (any of its words) and of an agent's article search (every word as a prefix)."""
    from casework.knowledge import services, suggest
    from casework.knowledge.search import search_articles

    peer = benchlib.peer_module()
    payloads = peer.gen_payloads(n, SEED + 1)
    t0 = time.perf_counter()
    for i, p in enumerate(payloads):
        services.article_create(
            title=f"{p['title']} ({i})", body=p["description"], status="published", visibility="public"
        )
    written = time.perf_counter() - t0
    out = {"articles": n, "write_ms_each": round(written * 1000 / n, 2)}
    out["suggest"] = _time(
        lambda: len(suggest.find_suggestions("my printer at the desk is jammed again")), SAMPLES
    )
    out["agent_search"] = _time(lambda: len(list(search_articles("print")[:25])), SAMPLES)
    return out


BROAD = ("common_word_10pct", "word_in_every_case", "two_prefixes")
# The terms both helpdesks are asked (the peer matches a number against ticket ids, among other fields).
SIDE_BY_SIDE = ("rare_word", "common_word_10pct", "bare_number")
PEER_DIR = ROOT.parent / "shared" / "bench" / "peer-django-helpdesk"
PEER_VENV = Path(os.environ.get("PEER_DH_VENV", "/tmp/peer-dh-venv"))
PEER_SITE = Path(os.environ.get("PEER_DH_SITE", "/tmp/peer-dh-site"))
PEER_MARK = "PEER-SEARCH-JSON:"
QUEUE_COUNT = re.compile(r'class="queue-title">.*?<span class="muted">([\d,]+) case', re.S)


def _ui_queue(terms: dict[str, str]) -> dict:
    """The agent queue page for each term, rendered in process (Django's test client, an agent signed
    in): what the peer's side is timed on."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username=benchlib.AGENTS[0][0]))
    out = {}
    for name in SIDE_BY_SIDE:
        term = terms[name]

        def page(term=term):
            response = client.get("/", {"view": "all", "q": term})
            assert response.status_code == 200, response.status_code
            found = QUEUE_COUNT.search(response.content.decode())
            return int(found.group(1).replace(",", "")) if found else None

        page()  # warm-up, as on the peer's side
        out[name] = {"q": term, **_time(page, SAMPLES)}
        log(f"ui queue {name} {term!r}: {out[name]}")
    out["endpoint"] = "GET /?view=all&q=<term> (agent queue, all statuses), in process (test client)"
    return out


def _peer(terms: dict[str, str]) -> dict:
    """The peer's search on the same N tickets (`bench/peer_search.py` in the peer's venv)."""
    import json
    import subprocess

    mode = os.environ.get("CASEWORK_BENCH_SEARCH_PEER", "auto")
    python = PEER_VENV / "bin" / "python"
    ready = python.exists() and (PEER_SITE / "pristine.sqlite3").exists()
    if mode == "0" or (mode == "auto" and not ready):
        return {"ok": False, "skipped": f"CASEWORK_BENCH_SEARCH_PEER={mode}; peer venv/site ready: {ready}"}
    if not ready:
        log("peer: building its venv and site with setup.sh")
        setup = subprocess.run(
            ["bash", str(PEER_DIR / "setup.sh")], capture_output=True, text=True, timeout=1200
        )
        if setup.returncode != 0:
            return {"ok": False, "error": "setup.sh failed:\n" + setup.stderr[-3000:]}
    peer_terms = {name: terms[name] for name in SIDE_BY_SIDE}
    cmd = [str(python), str(BENCH / "peer_search.py"), "--n", str(N), "--seed", str(SEED)]
    cmd += ["--samples", str(SAMPLES), "--terms", json.dumps(peer_terms), "--site", str(PEER_SITE)]
    log("peer: " + " ".join(cmd[1:]))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, cwd=str(PEER_DIR))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(PEER_MARK)]
    if proc.returncode != 0 or not lines:
        return {"ok": False, "returncode": proc.returncode, "error": proc.stderr[-3000:]}
    return {
        "ok": True,
        "wall_s": round(time.perf_counter() - t0, 1),
        **json.loads(lines[-1][len(PEER_MARK) :]),
    }


def _comparison(ours: dict, peer: dict) -> list[dict]:
    rows = []
    for name in SIDE_BY_SIDE:
        mine, theirs = ours.get(name, {}), peer.get("search_ui", {}).get(name, {})
        ratio = None
        if mine.get("p95_ms") and theirs.get("p95_ms"):
            ratio = round(theirs["p95_ms"] / mine["p95_ms"], 2)
        rows.append(
            {
                "measure": f"UI search {name} p95 (ms)",
                "q": mine.get("q"),
                "casework": mine.get("p95_ms"),
                "peer": theirs.get("p95_ms"),
                "ratio_peer_over_casework": ratio,
                "hits": {"casework": mine.get("hits"), "peer": theirs.get("hits")},
            }
        )
    return rows


def _rank_every_match(terms: dict[str, str]) -> dict:
    """The broad terms with CASEWORK_SEARCH_RANK_LIMIT at 0 (rank every match: before the cut) and at
    its default, alternating sample by sample so both see the same machine load."""
    from django.conf import settings

    default = settings.CASEWORK["SEARCH_RANK_LIMIT"]
    out: dict = {"limit": default}
    for name in BROAD:
        run = _queue_search(terms[name])
        times: dict[str, list[float]] = {"every_match": [], "cut": []}
        result: dict = {}
        for _ in range(SAMPLES):
            for key, limit in (("every_match", 0), ("cut", default)):
                settings.CASEWORK["SEARCH_RANK_LIMIT"] = limit
                t0 = time.perf_counter()
                result[key] = run()
                times[key].append((time.perf_counter() - t0) * 1000)
        settings.CASEWORK["SEARCH_RANK_LIMIT"] = default
        row = {"q": terms[name]}
        for key, values in times.items():
            row[key] = {
                "p50_ms": round(benchlib.pct(values, 50), 2),
                "p95_ms": round(benchlib.pct(values, 95), 2),
                "hits": result[key],
            }
        row["p95_speedup"] = round(row["every_match"]["p95_ms"] / max(row["cut"]["p95_ms"], 0.01), 2)
        out[name] = row
        log(f"rank cut {name}: {row}")
    return out


def run(database_url: str = "", creates: bool = True, articles: bool = True) -> dict:
    """Everything above; on PostgreSQL (`database_url`) the peer still runs on its SQLite quick start."""
    var_dir = os.environ.get("CASEWORK_VAR_DIR") or tempfile.mkdtemp(prefix="casework-search-")
    benchlib.setup_django(var_dir, database_url)
    benchlib.setup_team(capacity=benchlib.agent_capacity(4 * CREATES))
    from django.db import connection

    from casework.search.index import backfill

    out: dict = {"n": N, "samples": SAMPLES, "database": connection.vendor}
    out["seed"] = _seed(N)
    t0 = time.perf_counter()
    done = backfill(batch=2000)
    seconds = time.perf_counter() - t0
    out["backfill"] = {"documents": done, "seconds": round(seconds, 1), "per_s": round(done / seconds)}
    log(f"backfill: {done} documents in {seconds:.1f} s")
    terms = {
        "rare_word": "zxqvault",
        "common_word_10pct": "printer",
        "word_in_every_case": "hello",
        "two_prefixes": "print des",
        "reference": f"CW-{N // 2:06d}",
        "bare_number": str(N // 3),
        "partial_number": f"{N // 4:06d}"[:4],
        "typo": "priter",
    }
    out["queries"] = {}
    for name, term in terms.items():
        out["queries"][name] = {"q": term, **_time(_queue_search(term), SAMPLES)}
        log(f"{name} {term!r}: {out['queries'][name]}")
    out["rank_every_match"] = _rank_every_match(terms)
    out["ui_queue"] = _ui_queue(terms)
    out["peer"] = _peer(terms)
    if out["peer"].get("ok"):
        out["comparison"] = _comparison(out["ui_queue"], out["peer"])
        log(f"comparison: {out['comparison']}")
    if articles:
        out["articles"] = _articles(ARTICLES)
        log(f"articles: {out['articles']}")
    if creates:
        out["create"] = _creates(CREATES)
        log(f"create: {out['create']}")
    return out


def main(argv: list[str] | None = None) -> dict:
    import argparse

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL cluster for the run")
    p.add_argument("--database-url", default="", help="an existing, empty database instead of SQLite")
    p.add_argument("--skip-creates", action="store_true")
    p.add_argument("--skip-articles", action="store_true")
    args = p.parse_args(argv)
    with contextlib.ExitStack() as stack:
        url = args.database_url
        if args.postgres and not url:
            from casework.testing.services import postgres_cluster

            url = stack.enter_context(postgres_cluster()).url
        return run(url, creates=not args.skip_creates, articles=not args.skip_articles)


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2, default=str))
