"""Query plans for tests: what the database would do with a query, on SQLite and on PostgreSQL.

The read paths that must stay fast at a million cases (a case by reference, the queue's orders and
filters, the sidebar counters) are held to their plans by tests, so a change that turns an index walk
into a scan fails CI instead of a benchmark weeks later. Timings never go in tests; plans do.

* SQLite: `EXPLAIN QUERY PLAN`; a table read without an index shows as `SCAN <table>` (a `SCAN … USING
  COVERING INDEX x` reads index `x` in full), a sort as `USE TEMP B-TREE FOR ORDER BY`, a per-row
  subquery as `CORRELATED`.
* PostgreSQL: `EXPLAIN` with sequential scans and explicit sorts priced out (`enable_seqscan`,
  `enable_sort`, `enable_incremental_sort` off), because on a test database of a few rows the planner
  rightly prefers scanning; what is left is whether an index *can* serve the query: `Seq Scan` or `Sort`
  still in the plan means none can. Tests ANALYZE the rows they made, so no planner tie decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext


@dataclass(frozen=True)
class Plan:
    sql: str
    lines: list[str]
    vendor: str

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def uses_index(self, name: str) -> bool:
        return re.search(rf"\b{re.escape(name)}\b", self.text) is not None

    def problems(self, *, allow_full_index: Iterable[str] = (), allow_tie_sort: bool = False) -> list[str]:
        """Lines that read a whole table, sort rows, or run a subquery per row. `allow_full_index`
        names (partial) indexes that may be read in full: they hold only the rows being counted.
        `allow_tie_sort`: a PostgreSQL `Incremental Sort` over an index walk (it sorts only the rows
        that tie on the index's key, e.g. cases created in the same microsecond, by id)."""
        allowed = set(allow_full_index)
        found = []
        for line in self.lines:
            if self.vendor == "sqlite":
                # "SCAN t" reads table t in full; "SCAN t USING [COVERING] INDEX x" reads index x in
                # full. "SCAN (subquery-1)" and "SCAN CONSTANT ROW" read what is already bounded.
                scan = re.match(r"SCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?$", line.strip())
                if scan and (scan.group(2) is None or scan.group(2) not in allowed):
                    found.append(line)
                if "TEMP B-TREE FOR ORDER BY" in line or "CORRELATED" in line:
                    found.append(line)
            else:
                if "Seq Scan" in line:
                    found.append(line)
                tie_sort = allow_tie_sort and "Incremental Sort" in line
                if re.search(r"\bSort\b", line) and "Sort Key" not in line and not tie_sort:
                    found.append(line)
                # "(hashed SubPlan 1)" runs once and is probed as a hash table; a plain "(SubPlan 1)"
                # in a condition runs once per row.
                stripped = line.strip()
                if not stripped.startswith("SubPlan") and re.search(r"(?<!hashed )SubPlan \d", stripped):
                    found.append(line)
        return found


def _explain(sql: str, params: Iterable, *, incremental_sort: bool = False) -> Plan:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            # (id, parent, notused, detail)
            lines = [row[3] for row in cursor.fetchall()]
        else:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
            if not incremental_sort:
                cursor.execute("SET LOCAL enable_incremental_sort = off")
            try:
                cursor.execute(f"EXPLAIN {sql}", params)
                lines = [row[0] for row in cursor.fetchall()]
            finally:
                cursor.execute("SET LOCAL enable_seqscan = on")
                cursor.execute("SET LOCAL enable_sort = on")
                cursor.execute("SET LOCAL enable_incremental_sort = on")
    return Plan(sql=sql, lines=lines, vendor=connection.vendor)


def plan_of(qs: QuerySet, *, incremental_sort: bool = False) -> Plan:
    """The plan of `qs`. `incremental_sort`: PostgreSQL may sort the ties of an index walk (see
    `Plan.problems(allow_tie_sort=...)`), for an order whose index lacks the tie-break column."""
    sql, params = qs.query.sql_with_params()
    return _explain(sql, params, incremental_sort=incremental_sort)


def plans_of(fn, *args, incremental_sort: bool = False, **kwargs) -> tuple[object, list[Plan]]:
    """Run `fn` and explain every SELECT it ran (with the SQL as run: literals inlined by Django's
    capture are re-parameterised by running EXPLAIN on the captured text). `incremental_sort` as in
    `plan_of`."""
    with CaptureQueriesContext(connection) as captured:
        result = fn(*args, **kwargs)
    plans = [
        _explain(query["sql"], (), incremental_sort=incremental_sort)
        for query in captured.captured_queries
        if query["sql"].lstrip().upper().startswith("SELECT")
    ]
    return result, plans
