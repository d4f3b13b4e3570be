"""The peer's (django-helpdesk) search at N tickets, for `bench_search.py`'s side-by-side comparison.

Runs *inside the peer's venv* (made by ../shared/bench/peer-django-helpdesk/setup.sh), never inside
casework: `bench_search.py` starts it as a subprocess with the same N, seed and samples and reads one
JSON line. Not a micro-benchmark of its own (the name does not start with `bench_`).

1. A copy of the peer site's pristine SQLite database in a temp dir (the harness's site settings read
   `PEER_DH_DB`), then N tickets written with `bulk_create` from the harness's `gen_payloads(N, seed)` —
   the very ticket text `bench_search.py` gives casework — in the harness's queue, all open.
2. In process, logged in as the harness's admin with Django's test client (no HTTP server, like
   casework's side): for each term, what an agent waits for in the peer's UI — `GET
   /helpdesk/tickets/?q=<term>` and the DataTables JSON that page loads (`recordsFiltered` is the hit
   count) — timed end to end, SAMPLES times after one warm-up, nearest-rank p50/p95 (the harness's
   `pct`).

    /tmp/peer-dh-venv/bin/python bench/peer_search.py --n 100000 --seed 20261203 --samples 20 \
        --terms '{"rare_word": "zxqvault", "common_word_10pct": "printer"}'
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "shared" / "bench" / "peer-django-helpdesk" / "bench.py"
MARK = "PEER-SEARCH-JSON:"


def harness():
    spec = importlib.util.spec_from_file_location("peer_dh_bench", os.environ.get("PEER_DH_BENCH", HARNESS))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seed(peer, n: int, seed_value: int) -> dict:
    from django.db import transaction
    from django.utils import timezone
    from helpdesk.models import Queue, Ticket

    queue = Queue.objects.get(slug=peer.QUEUE_SLUG)
    payloads = peer.gen_payloads(n, seed_value)
    start = timezone.now() - dt.timedelta(minutes=5 * n)
    t0 = time.perf_counter()
    for first in range(0, n, 5000):
        with transaction.atomic():
            Ticket.objects.bulk_create(
                [
                    Ticket(
                        title=p["title"][:200],
                        description=p["description"],
                        submitter_email=p["submitter_email"],
                        priority=p["priority"],
                        queue=queue,
                        status=Ticket.OPEN_STATUS,
                        created=start + dt.timedelta(minutes=5 * i),
                        modified=start + dt.timedelta(minutes=5 * i),
                    )
                    for i, p in enumerate(payloads[first : first + 5000], start=first)
                ]
            )
    return {"tickets": Ticket.objects.count(), "seed_s": round(time.perf_counter() - t0, 1)}


def measure(peer, terms: dict[str, str], samples: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")  # the site's ALLOWED_HOSTS are loopback names
    client.force_login(get_user_model().objects.get(username=peer.ADMIN_USER))

    def once(term: str) -> tuple[float, int | None]:
        t0 = time.perf_counter()
        page = client.get("/helpdesk/tickets/", {"q": term})
        found = peer.DT_RE.search(page.content.decode())
        if page.status_code != 200 or not found:
            raise RuntimeError(f"the peer's list page for q={term!r} answered {page.status_code}")
        length = peer.PAGELEN_RE.search(page.content.decode())
        data = client.get(
            f"/helpdesk/datatables_ticket_list/{found.group(1)}",
            {"draw": 1, "start": 0, "length": int(length.group(1)) if length else 25, "search[value]": ""},
        )
        elapsed = (time.perf_counter() - t0) * 1000
        return elapsed, data.json().get("recordsFiltered") if data.status_code == 200 else None

    out = {}
    for name, term in terms.items():
        once(term)  # warm-up
        times, hits = [], None
        for _ in range(samples):
            elapsed, hits = once(term)
            times.append(elapsed)
        out[name] = {
            "q": term,
            "p50_ms": round(peer.pct(times, 50), 2),
            "p95_ms": round(peer.pct(times, 95), 2),
            "max_ms": round(max(times), 2),
            "hits": hits,
        }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--terms", required=True, help="JSON object: name → query")
    p.add_argument("--site", default=os.environ.get("PEER_DH_SITE", "/tmp/peer-dh-site"))
    args = p.parse_args()
    peer = harness()
    with tempfile.TemporaryDirectory(prefix="peer-search-") as tmp:
        db = Path(tmp) / "peer.sqlite3"
        shutil.copyfile(Path(args.site) / "pristine.sqlite3", db)
        peer._django_setup(args.site, str(db))
        out = {"n": args.n, "seed": args.seed, "samples": args.samples, "db": "sqlite"}
        out["seed_data"] = seed(peer, args.n, args.seed)
        out["search_ui"] = measure(peer, json.loads(args.terms), args.samples)
        out["endpoint"] = "GET /helpdesk/tickets/?q=<term> then its DataTables JSON, in process (test client)"
    print(MARK + json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
