"""Benchmark: one SLA sweep over 100,000 open cases with 1,000 clocks past due, and due-time evaluation.

Fixture: a temporary SQLite file database (migrated from scratch), 100,000 open cases, each with a met
first-response clock and a running resolution clock; 1,000 of the resolution clocks are past due, 1,000
more inside their at-risk window, the rest due in the future. The rows are bulk-created directly — a
benchmark fixture, not application code. Then:

- `sweep_s`: one `casework.sla.sweep.sweep()` pass, which must breach the 1,000 overdue clocks (Breach
  row, ledger entry, timeline event, notification) and alert the 1,000 at-risk ones; `*_reactions_s` is
  the part spent in the reaction stages of the sweep's writes (triage's `sla_*` rules), `*_own_s` the
  rest. Target < 1 s for the breaches (`breach_pass_s`); the whole pass including at-risk alerts is
  `sweep_s`.
- `second_sweep_s`: the next pass, with nothing left to fire (what every 30 s tick costs at rest).
- `due_evaluations_per_s`: policy match + due and at-risk time (`PolicyBook.match` + `deadlines`) for
  random cases on the seeded policies and calendars; target >= 10,000/s.
- `plan`: SQLite's plan for the sweep's candidate query (must use the partial index).

Run: ``.venv/bin/python bench/bench_sla_sweep.py [n_cases]`` → JSON on stdout.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_CASES = 100_000
N_DUE = 1_000
N_AT_RISK = 1_000
SEED = 20260306


def _setup_django(db_dir: str) -> None:
    # A throwaway database of our own, whatever DATABASE_URL the shell has.
    os.environ["DATABASE_URL"] = f"sqlite:///{db_dir}/bench_sla.sqlite3"
    os.environ["CASEWORK_VAR_DIR"] = db_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casework.settings")
    os.environ.setdefault("CASEWORK_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, skip_checks=True)


def _fixture(n_cases: int, now: datetime) -> None:
    from django.db import transaction

    from casework.cases.models import Case
    from casework.people.models import Customer
    from casework.sla.models import Calendar, CaseClock, Policy

    customer = Customer.objects.create(name="Bench", email="bench@example.test")
    policy = Policy.objects.get(name="Standard")
    office = Calendar.objects.get(name="Office hours")
    opened = now - timedelta(days=2)
    with transaction.atomic():
        Case.objects.bulk_create(
            [
                Case(
                    number=i,
                    reference=f"CW-{i:06d}",
                    public_token=f"bench-{i}",
                    subject=f"Bench case {i}",
                    customer=customer,
                    priority="medium",
                    status="in_progress",
                    created_at=opened,
                )
                for i in range(1, n_cases + 1)
            ],
            batch_size=5000,
        )
    case_ids = list(Case.objects.order_by("id").values_list("id", flat=True))
    rng = random.Random(SEED)
    due_ids = set(rng.sample(case_ids, N_DUE))
    risk_ids = set(rng.sample([c for c in case_ids if c not in due_ids], N_AT_RISK))
    common = {
        "policy": policy,
        "policy_name": policy.name,
        "calendar": office,
        "priority": "medium",
        "customer_tier": "",
        "started_at": opened,
    }
    clocks = []
    for case_id in case_ids:
        clocks.append(
            CaseClock(
                case_id=case_id,
                metric="first_response",
                state="met",
                target=timedelta(hours=4),
                at_risk_lead=timedelta(minutes=30),
                consumed=timedelta(hours=1),
                stopped_at=opened + timedelta(hours=1),
                due_at=opened + timedelta(hours=4),
                at_risk_at=opened + timedelta(hours=3, minutes=30),
                at_risk_notified=False,
                **common,
            )
        )
        if case_id in due_ids:
            due = now - timedelta(minutes=rng.randint(1, 600))
        elif case_id in risk_ids:
            due = now + timedelta(minutes=rng.randint(1, 29))
        else:
            due = now + timedelta(hours=rng.randint(1, 200))
        clocks.append(
            CaseClock(
                case_id=case_id,
                metric="resolution",
                state="running",
                target=timedelta(hours=24),
                at_risk_lead=timedelta(minutes=30),
                consumed=timedelta(hours=10),
                running_since=opened,
                due_at=due,
                at_risk_at=due - timedelta(minutes=30),
                **common,
            )
        )
    with transaction.atomic():
        CaseClock.objects.bulk_create(clocks, batch_size=5000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _plan(now: datetime) -> list[str]:
    from django.db import connection

    from casework.sla.models import CaseClock

    qs = CaseClock.objects.filter(state="running", due_at__lt=now).order_by("due_at").values_list("id")[:500]
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return [row[-1] for row in cursor.fetchall()]


def _due_throughput(n: int) -> dict:
    from casework.sla.policies import PolicyBook, deadlines

    book = PolicyBook.load()
    rng = random.Random(SEED)
    origin = datetime(2026, 1, 1, tzinfo=UTC)
    samples = [
        (
            rng.choice(["critical", "high", "medium", "low"]),
            rng.choice(["", "standard", "enterprise"]),
            rng.choice(["first_response", "resolution"]),
            origin + timedelta(seconds=rng.randrange(3 * 365 * 86400)),
        )
        for _ in range(n)
    ]
    started = time.perf_counter()
    for priority, tier, metric, since in samples:
        match = book.match(metric=metric, priority=priority, customer_tier=tier, team_id=None)
        deadlines(
            since=since, remaining=match.target, lead=match.at_risk_lead, calendar=match.business_calendar
        )
    elapsed = time.perf_counter() - started
    return {"due_evaluations_per_s": round(n / elapsed), "due_evaluations": n}


def run(n_cases: int = N_CASES) -> dict:
    with tempfile.TemporaryDirectory(prefix="casework-bench-sla-") as db_dir:
        _setup_django(db_dir)
        # Time spent in the reaction stages of the sweep's writes (triage evaluates its sla_at_risk /
        # sla_breached rules on every SLA event, inside the batch's transaction) is measured apart from
        # the sweep's own work.
        from casework.cases import pipeline
        from casework.cases.models import CaseEvent
        from casework.sla import sweep as sweep_module
        from casework.sla.models import Breach, CaseClock

        hook_time = [0.0]
        original_stage = pipeline._run_stage

        def timed_stage(stage, work, events) -> None:
            t0 = time.perf_counter()
            try:
                original_stage(stage, work, events)
            finally:
                hook_time[0] += time.perf_counter() - t0

        pipeline._run_stage = timed_stage
        now = datetime.now(UTC).replace(microsecond=0)
        started = time.perf_counter()
        _fixture(n_cases, now)
        fixture_s = time.perf_counter() - started
        plan = _plan(now)

        started = time.perf_counter()
        breached = 0
        for _ in range(sweep_module.MAX_BATCHES):
            done = sweep_module._breach_batch(now, sweep_module.DEFAULT_BATCH)
            breached += done
            if done < sweep_module.DEFAULT_BATCH:
                break
        breach_s = time.perf_counter() - started
        breach_hooks_s = hook_time[0]
        result = sweep_module.sweep(now=now)  # the at-risk half (breaches already done)
        sweep_s = time.perf_counter() - started
        sweep_hooks_s = hook_time[0]
        started = time.perf_counter()
        again = sweep_module.sweep(now=now)
        second_s = time.perf_counter() - started

        figures = {
            "cases": n_cases,
            "clocks": CaseClock.objects.count(),
            "due": N_DUE,
            "at_risk": N_AT_RISK,
            "breached": breached + result.breached,
            "alerted_at_risk": result.at_risk,
            "breach_rows": Breach.objects.count(),
            "sla_events": CaseEvent.objects.filter(kind="sla").count(),
            "breach_pass_s": round(breach_s, 3),
            "breach_pass_reactions_s": round(breach_hooks_s, 3),
            "breach_pass_own_s": round(breach_s - breach_hooks_s, 3),
            "sweep_s": round(sweep_s, 3),
            "sweep_reactions_s": round(sweep_hooks_s, 3),
            "sweep_own_s": round(sweep_s - sweep_hooks_s, 3),
            "second_sweep_s": round(second_s, 4),
            "second_sweep_fired": again.breached + again.at_risk,
            "fixture_s": round(fixture_s, 1),
            "plan": plan,
            "target_breach_pass_lt_1s": breach_s < 1.0,
            "target_sweep_lt_1s": sweep_s < 1.0,
        }
        figures.update(_due_throughput(50_000))
        figures["target_due_ge_10k_per_s"] = figures["due_evaluations_per_s"] >= 10_000
        return figures


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N_CASES
    print(json.dumps(run(n), indent=2))
