"""The `count` of a case list: exact up to CASEWORK_API_EXACT_COUNT_LIMIT matches, an estimate above.

An exact COUNT reads every matching row (or index entry): ~0.5 s of database time for the unfiltered
list at a million cases, on every first page. A client paging through a list needs the count to size
its pager, not to the row, so the list counts at most `limit + 1` matches (a bounded read, whatever the
table holds) and, when there are more, answers with the database's own estimate and says so:

* PostgreSQL: the planner's row estimate for the very query (`EXPLAIN`, from the statistics ANALYZE
  and autovacuum keep), never below `limit + 1`;
* SQLite: for a list with no condition at all, the table's row count as of the last ANALYZE
  (`sqlite_stat1`, which `casework bench-data` and `PRAGMA optimize` keep); for a filtered list SQLite
  has no estimate to give, so `count` is the lower bound `limit + 1`.

`count_exact` in the response says which: true, the count is the number of matches; false, there are
more than the limit and `count` is an estimate (or the lower bound). Pages are still exact: `offset`
and `limit` select real rows, and an empty page means the end.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.db import connections
from django.db.models import QuerySet


def list_count(qs: QuerySet) -> tuple[int, bool]:
    """(count, exact) for the matches of `qs` (its ordering, slicing and joins are irrelevant)."""
    limit = settings.CASEWORK["API_EXACT_COUNT_LIMIT"]
    matches = qs.order_by().values("pk")
    if not limit:
        return matches.count(), True
    bounded = matches[: limit + 1].count()
    if bounded <= limit:
        return bounded, True
    return max(_estimate(matches), limit + 1), False


def _estimate(qs: QuerySet) -> int:
    connection = connections[qs.db]
    if connection.vendor == "postgresql":
        sql, params = qs.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0]
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])
    if connection.vendor == "sqlite" and not qs.query.where:
        # The first number of an index's stat is its entry count: the table's rows for a full index
        # (partial ones hold fewer, hence MAX). No table until the first ANALYZE.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
            if cursor.fetchone() is None:
                return 0
            cursor.execute(
                "SELECT MAX(CAST(stat AS INTEGER)) FROM sqlite_stat1 WHERE tbl = %s",
                [qs.model._meta.db_table],
            )
            row = cursor.fetchone()
        return int(row[0]) if row and row[0] else 0
    return 0
