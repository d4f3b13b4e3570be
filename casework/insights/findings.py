"""The daily findings: resolution-time outliers and knowledge gaps (the `insights-findings` job). Volume and
escalation spikes are `spikes.py` (the hourly `insights-spikes` job); repeat contacts are `repeats.py`
(after each opening, in the duplicate task).

Resolution-time outliers — cases resolved within the last `OUTLIER_WINDOW_DAYS` (90) whose resolution
time (wall time, opening → latest resolution, as reports' `resolution` metric) is above the p90 of their
priority over those same days. The p90 is the nearest-rank percentile that reports compute
(`reports.sql.summarise`: window functions, one query for every priority, identical on SQLite and
PostgreSQL); the outliers are one more query (a filter per priority). A priority with fewer than
`OUTLIER_MIN_SAMPLE` resolved cases in the window has no meaningful p90 and lists none. "Above" means by
more than a second: with a flat distribution (every case the same time) nothing is above its p90.

Knowledge gaps — a recent cluster (`Cluster.size`, last case within `GAP_WINDOW_DAYS`) or a category
with at least `GAP_MIN_CASES` cases opened in the last `GAP_WINDOW_DAYS`, whose top terms (the words most
of its subjects share, rarer first: `grouping.label`) no published article answers: knowledge's own
suggestion search and threshold (`knowledge.gaps.best_match` / `answered`, `CASEWORK_KB_GAP_MIN_SCORE`)
— the same test as knowledge's gap report. Each becomes "Write an article about X" with its cases.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import F

from casework.cases.models import Case, Category
from casework.cases.status import Status
from casework.core import clock
from casework.reports.sql import SecondsBetween, Summary

from .models import Cluster, ClusterMember, GapState, KnowledgeGap, ResolutionOutlier

# A case above the p90 by less than this is a rounding artefact, not an outlier (SQLite's julianday()
# arithmetic is precise to ~10 µs, the summary is rounded to milliseconds).
MARGIN_SECONDS = 1.0


def nearest_rank_summary(values) -> Summary:
    """The summary `reports.sql.summarise` computes in SQL (nearest-rank median and p90: the smallest value
    whose rank r has r·100 ≥ n·p), of values sorted ascending."""
    n = len(values)

    def rank(p: int) -> float:
        return round(float(values[-(-n * p // 100) - 1]), 3)

    return Summary(
        count=n,
        median=rank(50),
        p90=rank(90),
        max=round(float(values[-1]), 3),
        mean=round(float(np.sum(values)) / n, 3),
    )


# Outliers recorded a run, the furthest above their p90 first. A first run on an imported history finds
# the whole window's (15,645 at a million cases: 1.5–2.1 s to record at once); a run records at most
# this many and answers {"backlog": True}, so the scheduler runs the next within seconds.
OUTLIER_BATCH = 2000


def resolution_outliers(*, now: Any = None, limit: int | None = None) -> dict[str, Any]:
    """{"p90": {priority: Summary}, "rows": [...], "more": bool} for the trailing window; the rows are
    the outliers not recorded yet, at most `limit` of them (the furthest above the p90 first; "more" when
    some were left for the next call).

    One read of the window's (id, priority, seconds) from `case_resolved_facets` (index entries only), the
    percentiles in Python: at 1,000,000 cases (157,000 resolved in 90 days) SQLite's window functions
    took 1.4–2.4 s over the same rows and the second pass for the outliers 0.7 s. Then the ids already
    recorded and the resolution times of the new ones."""
    conf = settings.CASEWORK
    now = now or clock.now()
    days = conf["OUTLIER_WINDOW_DAYS"]
    since = now - timedelta(days=days)
    cases = Case.objects.filter(
        resolved_at__gte=since,
        resolved_at__lte=now,
        status__in=[Status.RESOLVED, Status.CLOSED],
        merged_into__isnull=True,
    )
    seconds = SecondsBetween(F("resolved_at"), F("created_at"))
    window = cases.order_by().annotate(seconds=seconds).values_list("priority", "seconds", "id")
    # Compiled by the ORM, fetched without its per-row converters (plain numbers: 0.4 s of 157,000 rows).
    sql, params = window.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    by_priority: dict[str, list[int]] = defaultdict(list)
    for n, (priority, value, _) in enumerate(fetched):
        if value is not None:
            by_priority[priority].append(n)
    summaries, above = {}, []
    for priority, rows in by_priority.items():
        secs = np.fromiter((fetched[n][1] for n in rows), dtype=np.float64, count=len(rows))
        summaries[priority] = nearest_rank_summary(np.sort(secs))
        s = summaries[priority]
        if s.p90 is None or s.count < conf["OUTLIER_MIN_SAMPLE"]:
            continue
        for k in np.flatnonzero(secs > s.p90 + MARGIN_SECONDS):
            n = rows[k]
            above.append((fetched[n][1], fetched[n][2], priority))
    usable = {p: summaries[p] for _, _, p in above}
    # Cases recorded by an earlier run are left out (~10 % of the window, every day); `outliers_record`
    # checks again by case (one re-resolved since it was recorded).
    recorded = set(ResolutionOutlier.objects.filter(resolved_at__gte=since).values_list("case_id", flat=True))
    fresh = sorted(((v, pk, p) for v, pk, p in above if pk not in recorded), reverse=True)
    more = limit is not None and len(fresh) > limit
    fresh = fresh[:limit]
    resolved = dict(Case.objects.filter(pk__in=[pk for _, pk, _ in fresh]).values_list("pk", "resolved_at"))
    rows = [
        {
            "case_id": pk,
            "priority": priority,
            "seconds": value,
            "resolved_at": resolved[pk],
            "p90": usable[priority].p90,
            "median": usable[priority].median,
            "sample": usable[priority].count,
        }
        for value, pk, priority in fresh
    ]
    return {"p90": summaries, "rows": rows, "window_days": days, "more": more}


def _terms(subjects: list[str], snapshot) -> list[str]:
    from . import grouping

    return [t.strip() for t in grouping.label(subjects, snapshot, limit=6).split(",") if t.strip()]


SUBJECTS_PER_GAP = 50


def _newest_per_key(rows, minimum: int) -> dict[Any, tuple[int, list[int]]]:
    """{key: (count, ids of its SUBJECTS_PER_GAP newest cases)} of (key, id) rows given newest first, for
    the keys with at least `minimum` rows. (No timestamps are read: converting 80,000 of them cost
    Django 1 s.)"""
    by_key: dict[Any, list[int]] = defaultdict(list)
    for key, pk in rows:
        if key is not None:
            by_key[key].append(pk)
    return {key: (len(ids), ids[:SUBJECTS_PER_GAP]) for key, ids in by_key.items() if len(ids) >= minimum}


def knowledge_gaps(*, now: Any = None) -> list[dict[str, Any]]:
    """Clusters and categories with many recent cases and no article answering their top terms.

    Reads (a constant number, whatever the number of cases or candidates): the window's cases as
    (category, id, created) from `case_created_facets` (an index range, no table rows: at 1,000,000
    cases the per-category `GROUP BY` walked the category index over every case, 2 s, and a count per
    candidate cost 0.3–0.5 s each); the recent members of the 50 largest recent clusters; the subjects of
    the newest 50 cases of each candidate by primary key; then one article search per candidate. Sources
    dismissed or drafted before are not looked at again."""
    from casework.knowledge.gaps import answered, best_match

    from . import vectorising

    conf = settings.CASEWORK
    now = now or clock.now()
    days, minimum = conf["GAP_WINDOW_DAYS"], conf["GAP_MIN_CASES"]
    since = now - timedelta(days=days)
    decided = set(KnowledgeGap.objects.exclude(state=GapState.OPEN).values_list("source", "key"))
    recent = Case.objects.filter(created_at__gte=since, merged_into__isnull=True)
    # Newest first by `created_at` alone: the order of `case_created_facets`, read without table rows (with
    # `id` as a tie-break the planner walks the created_at index and reads 62,000 rows at 1M cases).
    by_category = _newest_per_key(recent.order_by("-created_at").values_list("category_id", "id"), minimum)
    clusters = list(Cluster.objects.filter(last_case_at__gte=since, size__gte=minimum).order_by("-size")[:50])
    by_cluster = _newest_per_key(
        ClusterMember.objects.filter(
            cluster__in=clusters, case_created_at__gte=since, case__merged_into__isnull=True
        )
        .order_by("-case_created_at", "-case_id")
        .values_list("cluster_id", "case_id"),
        minimum,
    )
    candidates: list[tuple[str, str, str, tuple[int, list[int]]]] = [
        ("category", c.slug, c.name, by_category[c.pk])
        for c in Category.objects.filter(pk__in=list(by_category))
    ]
    candidates += [("cluster", str(c.pk), c.label, by_cluster[c.pk]) for c in clusters if c.pk in by_cluster]
    candidates = [c for c in candidates if (c[0], c[1]) not in decided]
    wanted = sorted({pk for *_, (_, ids) in candidates for pk in ids})
    shown = {
        pk: (reference, subject)
        for pk, reference, subject in Case.objects.filter(pk__in=wanted)
        .order_by()
        .values_list("pk", "reference", "subject")
    }
    snapshot = vectorising.ensure_space().snapshot if candidates else None
    out = []
    for source, key, label, (count, ids) in candidates:
        cases = [shown[pk] for pk in ids if pk in shown]
        terms = _terms([s or "" for _, s in cases], snapshot)
        article, score = best_match(" ".join([label, label, *terms]))
        if answered(score):
            continue
        out.append(
            {
                "source": source,
                "key": key,
                "label": label or ", ".join(terms[:4]),
                "terms": terms,
                "cases": [r for r, _ in cases],
                "case_count": count,
                "window_days": days,
                "best_article_id": article.pk if article is not None else None,
                "best_score": score,
                "min_score": conf["GAP_MIN_SCORE"],
            }
        )
    return out


def run_daily(*, outlier_batch: int = OUTLIER_BATCH) -> dict[str, Any]:
    """The `insights-findings` job: record new outliers (`outlier_batch` a run) and knowledge gaps
    (idempotent). `"backlog": True` when outliers were left for the next run."""
    from .findings_services import gaps_record, outliers_record

    found = resolution_outliers(limit=outlier_batch)
    outliers = outliers_record(rows=found["rows"], window_days=found["window_days"])
    gaps = gaps_record(gaps=knowledge_gaps())
    summary: dict[str, Any] = {"outliers": len(outliers), "gaps": len(gaps)}
    if found["more"]:
        summary["backlog"] = True
    return summary
