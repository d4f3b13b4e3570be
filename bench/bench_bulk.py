"""Benchmark: a bulk change from the queue on 500 open cases, with every reaction.

Fixture: a fresh SQLite database with the benchmark support team and 500 open cases opened through
`case_open_many` (triage, routing, SLA clocks as in production). Then, timed, one
`cases_bulk_update` each (the queue's bulk bar; target < 5 s for 500 cases):

- `priority_s`: priority → critical on all 500 (SLA clocks recalculated onto the 24×7 calendar);
- `assign_s`: owner → one L2 agent (tier history, load);
- `tags_status_s`: a tag and status → In progress together;
- `merge_s`: the other 499 cases merged into the first (the queue's "merge into"); each merge writes the
  duplicate's close + "merged into" and the target's "merged" line (3 events per merged case).

`events_per_case` checks one event per change per case for each step.
Run: ``.venv/bin/python bench/bench_bulk.py [n_cases]`` → JSON on stdout.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

N_CASES = 500


def run(n_cases: int = N_CASES) -> dict:
    import benchlib

    with tempfile.TemporaryDirectory(prefix="bench-bulk-") as var_dir:
        benchlib.setup_django(var_dir)
        from django.contrib.auth import get_user_model

        from casework.cases import services
        from casework.cases.models import Case, CaseEvent
        from casework.people.services import customer_get_or_create

        benchlib.setup_team(benchlib.agent_capacity(n_cases))
        customer, _ = customer_get_or_create(email="bulk@example.test", name="Bulk Customer")
        openings = [
            services.Opening(
                subject=f"Invoice {i} shows the wrong VAT number",
                description="The VAT id on the invoice is the old one.",
                customer=customer,
                priority="medium",
            )
            for i in range(n_cases)
        ]
        for start in range(0, n_cases, 100):
            services.case_open_many(openings[start : start + 100])
        actor = get_user_model().objects.get(username="l1-ana")
        agent = get_user_model().objects.get(username="l2-dev")
        result: dict = {"n_cases": n_cases}

        def step(name: str, expected_kinds: int, **changes) -> None:
            cases = list(Case.objects.order_by("id"))
            before = CaseEvent.objects.filter(actor=actor).count()
            start = time.perf_counter()
            outcome = services.cases_bulk_update(cases=cases, actor=actor, reason="bench", **changes)
            result[f"{name}_s"] = round(time.perf_counter() - start, 3)
            events = CaseEvent.objects.filter(actor=actor).count() - before
            result[f"{name}_changed"] = len(outcome.changed)
            result[f"{name}_events_per_case"] = round(events / max(len(outcome.changed), 1), 3)
            assert result[f"{name}_events_per_case"] == expected_kinds, result

        step("priority", 1, priority="critical")
        step("assign", 1, assignee=agent)
        step("tags_status", 2, add_tags=["vat"], status="in_progress")
        cases = list(Case.objects.order_by("id"))
        before = CaseEvent.objects.filter(actor=actor).count()
        start = time.perf_counter()
        outcome = services.cases_bulk_merge(cases=cases[1:], target=cases[0], actor=actor, reason="bench")
        result["merge_s"] = round(time.perf_counter() - start, 3)
        result["merge_changed"] = len(outcome.changed)
        events = CaseEvent.objects.filter(actor=actor).count() - before
        result["merge_events_per_case"] = round(events / max(len(outcome.changed), 1), 3)
        assert result["merge_events_per_case"] == 3, result
        result["target_s"] = 5.0
        result["within_target"] = all(
            result[f"{n}_s"] < 5.0 for n in ("priority", "assign", "tags_status", "merge")
        )
        return result


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else N_CASES), indent=1))
