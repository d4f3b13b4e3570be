"""Micro-benchmark: how many SLA due times `add_business_time` computes per second.

Workload: a Monday–Friday 09:00–17:30 Europe/London calendar with England bank holidays, seeded random
starts over three years (any hour, weekends included) and targets from 15 minutes to 72 business hours. The
calendar is built once, as the sweep and the services will reuse a cached calendar; its per-year tables are
built lazily inside the timed calls, so the figure includes that warm-up.

Run: ``python bench/bench_sla_clock.py [n]`` → JSON on stdout.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from time import perf_counter_ns

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from casework.sla.clock import BusinessCalendar, add_business_time, holiday_dates

SEED = 20260301
TARGETS_MINUTES = [15, 30, 60, 120, 240, 480, 1440, 2880, 4320]


def run(n: int = 20000) -> dict:
    calendar = BusinessCalendar.weekdays(
        time(9),
        time(17, 30),
        "Europe/London",
        holidays=holiday_dates("GB", "ENG", range(2025, 2031)),
    )
    rng = random.Random(SEED)
    origin = datetime(2026, 1, 1, tzinfo=UTC)
    span_us = 3 * 365 * 24 * 3600 * 1_000_000
    cases = [
        (
            origin + timedelta(microseconds=rng.randrange(span_us)),
            timedelta(minutes=rng.choice(TARGETS_MINUTES) * rng.uniform(0.5, 1.0)),
        )
        for _ in range(n)
    ]
    timings_ns: list[int] = []
    clock = perf_counter_ns
    started = clock()
    for start, target in cases:
        before = clock()
        add_business_time(start, target, calendar)
        timings_ns.append(clock() - before)
    elapsed_s = (clock() - started) / 1e9
    timings_ns.sort()
    return {
        "due_times_per_s": round(n / elapsed_s),
        "p50_us": round(timings_ns[len(timings_ns) // 2] / 1000, 2),
        "p95_us": round(timings_ns[int(len(timings_ns) * 0.95)] / 1000, 2),
        "max_us": round(timings_ns[-1] / 1000, 2),
        "n": n,
    }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)))
