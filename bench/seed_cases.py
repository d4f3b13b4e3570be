"""Seed an install with N existing cases, through the case services, for the big-install HTTP benchmark.

Run by ``bench_api.py --big N`` with the install's environment (before gunicorn starts), not a
micro-benchmark. The cases look like a year of real history:

* 40 organisations (a few enterprise and VIP) with their mail domains, through
  ``people.services.organisation_create``, and 3,000 customers (60 % at those domains, the rest at free-mail
  domains) through ``customers_get_or_create``, which matches them to their organisation;
* the case text from the peer's ``gen_payloads`` (another seed than the HTTP run's), opened by email
  (60 %, no priority given), web form (25 %) and API (15 %, with the client's priority), spread evenly
  over the past 365 days, oldest first;
* opened with ``cases.services.case_open_many`` in batches of BATCH inside ``core.batching.gc_paused`` and
  ``core.clock.frozen`` (the batch's time), so every reaction the code runs on a new case (triage, SLA
  clocks, tier history, auto-assignment…) runs as it would have then.

The seeded cases stay open: closing 100,000 cases one by one through the services would cost more than
opening them. So that the agents who take the benchmark's new cases do not carry a year of open cases
(which would make every assignment count ~50,000 open cases, nothing like a real desk), the seeding is
done by a separate roster of the same agents ("hist-" usernames) that leaves the teams afterwards: the
old cases keep their owners, the queue keeps them open.

Prints JSON on stdout: counts, seconds, cases/s, CPU, the expected search hits among the seeded text.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import benchlib  # noqa: E402  (bench/ on sys.path first)

BATCH = 500
ROSTER = "hist-"
ORGANISATIONS = 40
CUSTOMERS = 3000
FREE_MAIL = ["gmail.example", "outlook.example", "proton.example", "yahoo.example"]
PRIORITY = {1: "critical", 2: "high", 3: "medium", 4: "low", 5: "low"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _people(rng: random.Random) -> list:
    from casework.people.models import Organisation
    from casework.people.services import Contact, customers_get_or_create, organisation_create

    domains = []
    for i in range(ORGANISATIONS):
        tier = "enterprise" if i % 10 == 0 else "business" if i % 3 == 0 else "standard"
        domain = f"org{i:02d}.example"
        if not Organisation.objects.filter(name=f"Organisation {i:02d}").exists():
            organisation_create(name=f"Organisation {i:02d}", tier=tier, vip=i % 13 == 0, domains=[domain])
        domains.append(domain)
    contacts = []
    for i in range(CUSTOMERS):
        domain = rng.choice(domains) if rng.random() < 0.6 else rng.choice(FREE_MAIL)
        contacts.append(Contact(f"customer{i:04d}@{domain}", f"Customer {i:04d}"))
    customers = []
    for k in range(0, len(contacts), 500):
        found = customers_get_or_create(contacts[k : k + 500])
        customers += [found[c.email][0] for c in contacts[k : k + 500]]
    return customers


def seed(n: int, seed: int, capacity: int) -> dict:
    from django.conf import settings

    from casework.cases import services
    from casework.cases.models import Case
    from casework.core import clock
    from casework.core.batching import gc_paused

    peer = benchlib.peer_module()
    rng = random.Random(seed)
    started = time.perf_counter()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    team = benchlib.setup_team(capacity=capacity, prefix=ROSTER)
    customers = _people(rng)
    t_people = time.perf_counter() - started
    payloads = peer.gen_payloads(n, seed)
    now = dt.datetime.now(dt.UTC)
    first = now - dt.timedelta(days=365)
    step = dt.timedelta(days=365) / max(n, 1)
    t0 = time.perf_counter()
    done = 0
    for k in range(0, n, BATCH):
        openings = []
        for i in range(k, min(n, k + BATCH)):
            p = payloads[i]
            r = rng.random()
            channel = "email" if r < 0.6 else "web" if r < 0.85 else "api"
            openings.append(
                services.Opening(
                    subject=p["title"],
                    description=p["description"],
                    customer=rng.choice(customers),
                    channel=channel,
                    priority=PRIORITY[p["priority"]] if channel == "api" else None,
                    at=first + step * i,
                )
            )
        with clock.frozen(openings[-1].at), gc_paused():
            services.case_open_many(openings)
        done += len(openings)
        if (k // BATCH) % max(1, n // BATCH // 20) == 0 or done == n:
            rate = done / (time.perf_counter() - t0)
            log(f"  seeded {done}/{n} cases ({rate:.0f}/s)")
    t_cases = time.perf_counter() - t0
    left = benchlib.leave_teams(ROSTER)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return {
        "cases": n,
        "cases_in_db": Case.objects.count(),
        "organisations": ORGANISATIONS,
        "customers": len({c.pk for c in customers}),
        "batch": BATCH,
        "reactions": benchlib.reaction_mechanism(),
        "people_s": round(t_people, 1),
        "cases_s": round(t_cases, 1),
        "cases_per_s": round(n / t_cases, 1) if t_cases else None,
        "cpu_ms_per_case": round(cpu * 1000 / max(n, 1), 2),
        "roster": {**team, "prefix": ROSTER, "memberships_ended": left},
        "expected_hits": {
            term: peer.expected_hits(payloads, term)
            for term in (peer.TERM_COMMON, peer.TERM_RARE, peer.TERM_NONE)
        },
        "last_case_id": Case.objects.order_by("-id").values_list("id", flat=True).first() or 0,
        "reactions_seen": benchlib.reaction_counts(settings.DATABASES["default"]["NAME"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, required=True, help="cases to seed")
    ap.add_argument("--seed", type=int, default=20240503)
    args = ap.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casework.settings")
    import django

    django.setup()
    log(f"seeding {args.n} cases in batches of {BATCH} ({benchlib.reaction_mechanism()})")
    print(json.dumps(seed(args.n, args.seed, capacity=max(40, args.n))))


if __name__ == "__main__":
    main()
