"""Planner statistics on SQLite: the `sqlite-statistics` job keeps `sqlite_stat1` whole and current.

SQLite chooses an index from `sqlite_stat1`, which only `ANALYZE` writes; nothing runs it on its own
(PostgreSQL's autovacuum does, so the job does nothing there). Measured on the 1,000,000-case SQLite copy
with a sweep of 60 list and queue filter × order combinations (docs/scaling.md):

- **no statistics at all** (every install that never ran ANALYZE): closed cases in "updated" order
  2.7 s, every case of one team 0.9 s — SQLite guessed and sorted;
- **statistics for some indexes only** (ANALYZE once, then migrations add indexes): an index without a
  row looks like ten rows a key, so "my cases of one category" walked the whole category's index,
  125,000 cases: 22 s cold;
- **every index analysed**: every combination under 60 ms.

A whole ANALYZE took 10 s at 1M cases (`cases_case` alone 2.3 s) and holds the write lock throughout,
so the job analyses **one index at a time** (0.03-0.3 s each at 1M with a warm cache; a run on a cold
one took 1.28 s) while one as long as the longest so far fits in BUDGET_SECONDS (at least one a run),
indexes without statistics first, then the rest in name order from where the last run stopped (a cursor in
`core.Counter`). A run that has not finished the round reports a backlog, so the scheduler runs it again
after a few seconds; a whole round at 1M is 3.6 s of work in eight short runs, once a day. Connections
opened afterwards plan with the new statistics (web connections live CASEWORK_DB_CONN_MAX_AGE seconds).
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.db import connection, transaction

from .budget import StepBudget
from .models import Counter
from .scheduler import register

BUDGET_SECONDS = 0.5
CURSOR = "sqlite-statistics-cursor"


def _indexes(cursor) -> list[str]:
    return list(_index_tables(cursor))


def _index_tables(cursor) -> dict[str, str]:
    cursor.execute(
        "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND tbl_name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    )
    return dict(cursor.fetchall())


def _missing(cursor, tables: dict[str, str], analysed: set[str]) -> list[str]:
    """Indexes without statistics whose table has rows (ANALYZE writes no line for an empty table)."""
    has_rows: dict[str, bool] = {}
    missing = []
    for name, table in tables.items():
        if name in analysed:
            continue
        if table not in has_rows:
            cursor.execute(f'SELECT 1 FROM "{table}" LIMIT 1')
            has_rows[table] = cursor.fetchone() is not None
        if has_rows[table]:
            missing.append(name)
    return missing


def _analysed(cursor) -> set[str]:
    cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
    if not cursor.fetchone():
        return set()
    cursor.execute("SELECT idx FROM sqlite_stat1 WHERE idx IS NOT NULL")
    return {row[0] for row in cursor.fetchall()}


def refresh(budget: float = BUDGET_SECONDS) -> str | dict[str, object]:
    """Analyse indexes for up to `budget` seconds (at least one); see the module doc."""
    if connection.vendor != "sqlite":
        return "not SQLite: the database keeps its own statistics (autovacuum's ANALYZE)"
    started = time.perf_counter()
    with connection.cursor() as cursor:
        tables = _index_tables(cursor)
        names = list(tables)
        missing = _missing(cursor, tables, _analysed(cursor))
        position, _ = Counter.objects.get_or_create(name=CURSOR)
        at = position.value if 0 <= position.value < len(names) else 0
        done: list[str] = []
        tried: set[str] = set()
        steps = StepBudget(budget, started=started, clock=time.perf_counter)
        # Another index only while one as long as the longest so far still fits (at least one a run).
        while steps.fits():
            if missing:
                name = missing.pop(0)
            elif at < len(names):
                name = names[at]
                at += 1
            else:
                break
            if name in tried:
                continue
            tried.add(name)
            cursor.execute(
                "PRAGMA analysis_limit = 0"
            )  # exact counts: a sampled ANALYZE misleads (1001 a key)
            with steps.step():
                cursor.execute(f'ANALYZE "{name}"')
            done.append(name)
    finished_round = at >= len(names)
    with transaction.atomic():
        Counter.objects.filter(name=CURSOR).update(value=0 if finished_round else at)
    return {
        "analysed": len(done),
        "indexes": len(names),
        "seconds": round(time.perf_counter() - started, 2),
        "backlog": not finished_round,
    }


register("sqlite-statistics", timedelta(days=1), refresh)
