"""Benchmark: every dashboard tile, the dashboard's trend charts and the weekly report on a database of N
synthetic cases (two years of history from `casework bench-data`, casework/testing/benchdata.py).

Each figure is timed cold (the dashboard cache is off) `SAMPLES` times; the JSON holds the best and the
median in seconds. Target: each < 2 s.

    make bench                                          # N = 20,000 on a fresh SQLite file (fits the
                                                        # harness's 300 s per micro-benchmark)
    .venv/bin/python bench/bench_reports.py --n 100000  # a bigger fresh SQLite file
    .venv/bin/python bench/bench_reports.py --database-url postgres://… --n 100000   # adds to that db
    .venv/bin/python bench/bench_reports.py --var-dir DIR   # reuse a database filled before (no --n)
    .venv/bin/python bench/bench_reports.py --var-dir DIR --database-url postgres://…  # e.g. bench_scale's
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLES = 3
DEFAULT_N = int(os.environ.get("CASEWORK_BENCH_REPORTS_N", "20000"))


def _setup(var_dir: str, database_url: str | None) -> None:
    os.environ["CASEWORK_VAR_DIR"] = var_dir
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ["CASEWORK_REPORTS_CACHE_SECONDS"] = "0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casework.settings")
    os.environ.setdefault("CASEWORK_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, skip_checks=True)


def _db_cpu() -> float | None:
    """CPU seconds of the PostgreSQL server's processes so far, when it runs here (None on SQLite, whose
    work is in this process's own CPU time, or when the server is elsewhere)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW data_directory")
            data_dir = cursor.fetchone()[0]
        pid = int(Path(data_dir, "postmaster.pid").read_text().split()[0])
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                parts = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(d) == pid or int(parts[1]) == pid:
                total += (int(parts[11]) + int(parts[12])) / tick
        return total
    except Exception:
        return None


def _time(fn, before=None) -> dict:
    """Wall seconds (best, median) and CPU seconds per run (this process; and the database server's on
    PostgreSQL): on a shared machine the CPU figures say what the work costs, the wall ones what the
    load made of it. `before` runs ahead of each sample, untimed (e.g. the worker's job that fills a
    cache)."""
    runs, cpu, db = [], 0.0, 0.0
    for _ in range(SAMPLES):
        if before is not None:
            before()
        cpu0, db0 = time.process_time(), _db_cpu()
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
        cpu += time.process_time() - cpu0
        if db0 is not None:
            db += _db_cpu() - db0
    out = {
        "best_s": round(min(runs), 4),
        "median_s": round(statistics.median(runs), 4),
        "cpu_s_per_run": round(cpu / SAMPLES, 4),
    }
    if _db_cpu() is not None:
        out["db_cpu_s_per_run"] = round(db / SAMPLES, 4)
    return out


def measure() -> dict:
    from datetime import timedelta

    from django.core.cache import caches

    cache = caches["reports"]
    from django.db import connection

    from casework.cases.models import Case
    from casework.reports import dashboard, selectors, services
    from casework.reports.filters import ReportFilter, local_today

    today = local_today()
    monday = today - timedelta(days=today.weekday())
    base = ReportFilter(start=today, end=today)
    day = base
    week = base.with_range(monday, today)
    month = base.with_range(today - timedelta(days=29), today)
    weeks12 = base.with_range(monday - timedelta(weeks=11), today)
    last_week = services.last_full_week(today)[0]
    figures = {
        "tile_live_counts (open, unassigned, at risk, breached)": lambda: selectors.live_counts(base),
        "tile_new_today": lambda: selectors.new_cases(day),
        "tile_first_response_today": lambda: selectors.first_response_business(day),
        "tile_sla_this_week": lambda: selectors.sla_compliance_total(week),
        "tile_resolution_this_week": lambda: selectors.resolution_business(week),
        "tile_tier1_this_week": lambda: selectors.tier1_resolution(week),
        "chart_volume_30_days": lambda: selectors.volume(month),
        "chart_backlog_30_days": lambda: selectors.backlog(month),
        # With no kept weeks (each run clears the cache): all twelve weeks read.
        "chart_weekly_frt_p90_and_sla_12_weeks": lambda: (cache.clear(), selectors.weekly_series(weeks12)),
        "chart_weekly_12_weeks_past_weeks_kept": lambda: selectors.weekly_series(weeks12),
        # The day's first dashboard (nothing kept), then a cold one later the same day (the dashboard's own
        # cache off, the ended weeks' rows kept: CASEWORK_REPORTS_PAST_WEEKS_SECONDS).
        "dashboard_first_of_the_day": lambda: (cache.clear(), dashboard.build(base)),
        # The same, when the worker's `reports-warm` job has run since midnight (as it does every 15 min).
        "dashboard_first_of_the_day_after_reports_warm": (
            lambda: dashboard.build(base),
            lambda: (cache.clear(), dashboard.warm()),
        ),
        "dashboard_whole_cold": lambda: dashboard.build(base),
        "weekly_report_build": lambda: services.weekly_report(week_start=last_week),
        "report_first_response_90_days": lambda: selectors.response_times(
            base.with_range(today - timedelta(days=89), today)
        ),
        "report_agents_30_days": lambda: selectors.agent_performance(month),
    }
    result = {
        "database": connection.vendor,
        "cases": Case.objects.count(),
        "samples": SAMPLES,
        "load_before": os.getloadavg(),
        "figures": {name: _time(*fn) if isinstance(fn, tuple) else _time(fn) for name, fn in figures.items()},
        "cpu_s": round(time.process_time(), 2),  # this process (client side) over all figures
        "load_after": os.getloadavg(),
    }
    result["over_2s"] = [name for name, t in result["figures"].items() if t["best_s"] >= 2.0]
    result["over_2s_cpu"] = [
        name
        for name, t in result["figures"].items()
        if t["cpu_s_per_run"] + (t.get("db_cpu_s_per_run") or 0) >= 2.0
    ]
    return result


def run(
    n: int = DEFAULT_N, *, var_dir: str | None = None, database_url: str | None = None, fill: bool = True
) -> dict:
    own = var_dir is None
    directory = var_dir or tempfile.mkdtemp(prefix="bench-reports-")
    _setup(directory, database_url)
    generated = None
    if fill:
        from casework.testing.benchdata import generate

        generated = generate(n).as_dict()
    result = measure()
    result["generated"] = generated
    if own:
        import shutil

        shutil.rmtree(directory, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, default=None, help="cases to generate (default: none with --var-dir)"
    )
    parser.add_argument("--var-dir", help="use (and keep) this CASEWORK_VAR_DIR")
    parser.add_argument("--database-url", help="a PostgreSQL database (filled with --n)")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    fill = args.n is not None or not args.var_dir
    text = json.dumps(
        run(args.n or DEFAULT_N, var_dir=args.var_dir, database_url=args.database_url, fill=fill), indent=1
    )
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
