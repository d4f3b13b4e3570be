"""Knowledge gaps: resolved cases no article answers well, counted by category — what the insights issue
turns into "write an article about X".

A case is a gap when the best published article for its text (`suggest.case_text`) scores below
`CASEWORK_KB_GAP_MIN_SCORE` (bm25 on SQLite, ts_rank × 10 on PostgreSQL, so one threshold reads the same
on both) or when none matches at all. Computed on demand over a window of recently resolved cases (one
article query per case: a report, not a page that loads on every request).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.utils import timezone

from casework.cases.models import Case
from casework.cases.status import Status

from . import suggest
from .search import suggest_articles


@dataclass
class GapReport:
    since: dt.datetime
    cases: int = 0
    gaps: int = 0
    by_category: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)


def _score(rank: float) -> float:
    return rank * 10 if connection.vendor == "postgresql" else rank


def best_match(text: str) -> tuple[object | None, float | None]:
    """The best published article (internal ones too) for `text` and its score on the one scale of
    `GAP_MIN_SCORE`; (None, None) when no article matches at all. The one test of "an article answers
    this", shared by the gap report below and insights' "write an article about X" suggestions."""
    best = suggest_articles(text, public_only=False, limit=1)
    if not best:
        return None, None
    return best[0], round(_score(float(best[0].search_rank)), 3)


def answered(score: float | None, min_score: float | None = None) -> bool:
    threshold = settings.CASEWORK["GAP_MIN_SCORE"] if min_score is None else min_score
    return score is not None and score >= threshold


def knowledge_gaps(
    *,
    days: int = 30,
    limit: int = 500,
    min_score: float | None = None,
    teams: frozenset[int] | None = None,
) -> GapReport:
    """`teams`: only cases of these teams (a lead's, `permissions.report_team_ids`); None = every case."""
    threshold = settings.CASEWORK["GAP_MIN_SCORE"] if min_score is None else min_score
    since = timezone.now() - dt.timedelta(days=days)
    cases = Case.objects.filter(status__in=[Status.RESOLVED, Status.CLOSED], resolved_at__gte=since)
    if teams is not None:
        cases = cases.filter(team_id__in=sorted(teams))
    cases = cases.select_related("category").order_by("-resolved_at")[:limit]
    report = GapReport(since=since)
    counts: Counter[str] = Counter()
    for case in cases:
        report.cases += 1
        if answered(best_match(suggest.case_text(case))[1], threshold):
            continue
        report.gaps += 1
        key = case.category.slug if case.category_id else "uncategorised"
        counts[key] += 1
        report.examples.setdefault(key, [])
        if len(report.examples[key]) < 5:
            report.examples[key].append(case.reference)
    report.by_category = dict(counts.most_common())
    return report


@dataclass
class DeflectionReport:
    since: dt.datetime
    sessions: int  # web-form sessions that were shown at least one article
    opened: int  # … in which the visitor opened one
    opened_then_submitted: int  # … and still sent a request
    deflected: int  # opened an article and sent nothing


def count_sessions(shown) -> dict:
    """Deflection counts over a queryset of `SuggestionSession`s that were shown suggestions: sessions,
    opened (an article), opened_then_sent, sent_without_opening, deflected (opened, sent nothing)."""
    from django.db.models import Count, Q

    # (aggregate names must not be field names: `opened` is one)
    n = shown.aggregate(
        sessions=Count("id"),
        n_opened=Count("id", filter=Q(opened__isnull=False)),
        opened_then_sent=Count("id", filter=Q(opened__isnull=False, submitted_case__isnull=False)),
        sent_without_opening=Count("id", filter=Q(opened__isnull=True, submitted_case__isnull=False)),
    )
    counts = {**n, "opened": n.pop("n_opened")}
    counts["deflected"] = counts["opened"] - counts["opened_then_sent"]
    return counts


def deflection(*, days: int = 30) -> DeflectionReport:
    from .models import SuggestionSession

    since = timezone.now() - dt.timedelta(days=days)
    counts = count_sessions(SuggestionSession.objects.filter(created_at__gte=since).exclude(shown=[]))
    return DeflectionReport(
        since=since,
        sessions=counts["sessions"],
        opened=counts["opened"],
        opened_then_submitted=counts["opened_then_sent"],
        deflected=counts["deflected"],
    )
