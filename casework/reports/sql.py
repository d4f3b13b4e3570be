"""Portable SQL pieces for the metric selectors: durations in seconds and distribution summaries
(median, p90, max) computed by the database on SQLite and PostgreSQL alike.

Percentiles use the nearest-rank definition with window functions (ROW_NUMBER and COUNT over a
partition, both in SQLite ≥ 3.25 and PostgreSQL): the p-th percentile of n sorted values is the value
at rank ⌈p·n/100⌉. PostgreSQL's `percentile_cont` interpolates and SQLite has no equivalent, so one
definition for both keeps the figures identical whichever database runs the install.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import DateField, Expression, FloatField, Func, QuerySet


class SecondsBetween(Func):
    """`end - start` in seconds (float), for two datetime expressions."""

    output_field = FloatField()

    def __init__(self, end: Any, start: Any) -> None:
        super().__init__(end, start)

    def as_sql(self, compiler, connection, **extra):
        end_sql, end_params = compiler.compile(self.source_expressions[0])
        start_sql, start_params = compiler.compile(self.source_expressions[1])
        if connection.vendor == "postgresql":
            sql = f"EXTRACT(EPOCH FROM ({end_sql} - {start_sql}))::double precision"
        else:
            # Django stores SQLite datetimes as ISO text in UTC; julianday() reads it (≈10 µs precision).
            sql = f"((julianday({end_sql}) - julianday({start_sql})) * 86400.0)"
        return sql, (*end_params, *start_params)


class DurationSeconds(Func):
    """A DurationField in seconds (float): an interval on PostgreSQL, microseconds on SQLite."""

    output_field = FloatField()

    def __init__(self, expression: Any) -> None:
        super().__init__(expression)

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "postgresql":
            return f"EXTRACT(EPOCH FROM {sql})::double precision", params
        return f"({sql} / 1000000.0)", params


class LocalPeriod(Func):
    """The local day, or ISO week (its Monday), that a datetime falls in, as a date — for a bounded range
    of periods (`first` … `last`, both period starts), in the report's zone, DST days included.

    PostgreSQL truncates natively (`AT TIME ZONE`, then `date_trunc`). On SQLite Django's `TruncDate` and
    `TruncWeek` with a zone call a Python function for every row, which was most of the time of the
    12-week first-response chart at a million cases; here the periods' boundaries are converted to UTC
    in Python once and the row is placed by a balanced tree of `CASE WHEN x < boundary` comparisons on
    the stored UTC text (log₂ n comparisons per row, no Python per row). Outside the range: NULL."""

    output_field = DateField()

    def __init__(self, expression: Any, *, kind: str, first: date, last: date, zone: ZoneInfo) -> None:
        if kind not in ("day", "week"):
            raise ValueError(f"LocalPeriod kind must be 'day' or 'week', not {kind!r}")
        super().__init__(expression)
        self.kind, self.zone = kind, zone
        step = timedelta(days=1 if kind == "day" else 7)
        if kind == "week":
            first -= timedelta(days=first.weekday())
        self.starts: list[date] = []
        while first <= last:
            self.starts.append(first)
            first += step
        self.end = (self.starts[-1] + step) if self.starts else first

    def _start_at(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.zone)

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        if not self.starts:
            return "NULL", ()
        local = f"(({sql}) AT TIME ZONE %s)"
        period = f"(DATE_TRUNC('week', {local}))::date" if self.kind == "week" else f"({local})::date"
        outside = f"{sql} < %s OR {sql} >= %s"
        return (
            f"(CASE WHEN {outside} THEN NULL ELSE {period} END)",
            (
                *params,
                self._start_at(self.starts[0]),
                *params,
                self._start_at(self.end),
                *params,
                str(self.zone),
            ),
        )

    def as_sql(self, compiler, connection, **extra):
        if not self.starts:
            return "NULL", ()
        sql, params = compiler.compile(self.source_expressions[0])

        def utc(day: date) -> str:
            return connection.ops.adapt_datetimefield_value(self._start_at(day).astimezone(UTC))

        bounds = [utc(d) for d in self.starts]
        labels = [d.isoformat() for d in self.starts]
        out_params: list[Any] = []

        def tree(lo: int, hi: int) -> str:
            if lo == hi:
                out_params.append(labels[lo])
                return "%s"
            mid = (lo + hi + 1) // 2
            out_params.extend(params)
            out_params.append(bounds[mid])
            left = tree(lo, mid - 1)
            right = tree(mid, hi)
            return f"(CASE WHEN {sql} < %s THEN {left} ELSE {right} END)"

        out_params.extend(params)
        out_params.append(bounds[0])
        out_params.extend(params)
        out_params.append(utc(self.end))
        body = tree(0, len(self.starts) - 1)
        return f"(CASE WHEN {sql} < %s OR {sql} >= %s THEN NULL ELSE {body} END)", tuple(out_params)


@dataclass(frozen=True)
class Summary:
    """A distribution of durations in seconds (None when there are no values)."""

    count: int = 0
    median: float | None = None
    p90: float | None = None
    max: float | None = None
    mean: float | None = None


def summarise(qs: QuerySet, value: Expression, *, group: Expression | None = None) -> dict[Any, Summary]:
    """One query: count, nearest-rank median and p90, max and mean of `value` over `qs`, per `group`
    (the key is the group's value, or 1 without a group). Rows where the value is NULL are left out."""
    qs = qs.order_by().annotate(rpt_v=value)
    if group is None:
        return summarise_rows(qs.values_list("rpt_v"))
    return summarise_rows(qs.annotate(rpt_g=group).values_list("rpt_g", "rpt_v"))


def summarise_rows(rows: QuerySet) -> dict[Any, Summary]:
    """The summary of a `values_list` query giving (value) or (group, value) rows — which may itself be
    an aggregate (e.g. the total time per case and tier).

    The database ranks the values per group with window functions (ROW_NUMBER, COUNT OVER) and picks the
    ranks with conditional aggregates, so it returns one row per group whatever the number of cases."""
    grouped = len(rows.query.values_select) + len(rows.query.annotation_select) > 1
    try:
        inner, params = rows.query.sql_with_params()
    except EmptyResultSet:  # a .none() queryset or an always-false filter
        return {}
    base = "g, v" if grouped else "v"
    key = "t.g" if grouped else "1"
    partition = "PARTITION BY g " if grouped else ""
    # Ranks compared in integers (rn·100 ≥ p·n) so 0.9·n never rounds the wrong way.
    sql = (
        f"WITH base({base}) AS ({inner}), "
        f"t AS (SELECT {base}, ROW_NUMBER() OVER ({partition}ORDER BY v) AS rn, "
        f"COUNT(*) OVER ({partition.strip()}) AS n FROM base WHERE v IS NOT NULL) "
        f"SELECT {key}, COUNT(*), "
        "MIN(CASE WHEN t.rn * 100 >= t.n * 50 THEN t.v END), "
        "MIN(CASE WHEN t.rn * 100 >= t.n * 90 THEN t.v END), "
        "MAX(t.v), AVG(t.v) FROM t" + (" GROUP BY t.g" if grouped else "")
    )
    with connections[rows.db].cursor() as cursor:
        cursor.execute(sql, params)
        result = cursor.fetchall()
    return {
        g: Summary(count=n, median=_f(med), p90=_f(p90), max=_f(mx), mean=_f(mean))
        for g, n, med, p90, mx, mean in result
        if n
    }


def _f(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def summarise_one(qs: QuerySet, value: Expression) -> Summary:
    return summarise(qs, value).get(1, Summary())


def rate(part: int, whole: int) -> float | None:
    """A share in percent, None when there is nothing to divide by."""
    return round(100.0 * part / whole, 1) if whole else None
