"""Reads for the insights pages and API (each a constant number of queries)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q

from casework.core import clock

from .models import (
    Cluster,
    ClusterMember,
    DuplicateSuggestion,
    LinkState,
    Problem,
    ProblemCase,
    Spike,
    SuggestionState,
)


def problem_list(*, state: str = "", limit: int = 200) -> list[Problem]:
    qs = Problem.objects.select_related("owner").annotate(
        linked=Count("links", filter=Q(links__state=LinkState.LINKED)),
        proposed=Count("links", filter=Q(links__state=LinkState.PROPOSED)),
    )
    if state:
        qs = qs.filter(state=state)
    return list(qs[:limit])


def open_clusters(*, limit: int = 30) -> list[Cluster]:
    """Recent clusters of two cases or more that are not a problem yet, biggest first."""
    since = clock.now() - timedelta(hours=settings.CASEWORK["CLUSTER_WINDOW_HOURS"])
    clusters = list(
        Cluster.objects.filter(last_case_at__gte=since, size__gte=2, problem__isnull=True).order_by(
            "-size", "-last_case_at"
        )[:limit]
    )
    members = (
        ClusterMember.objects.filter(cluster__in=clusters).select_related("case").order_by("case_created_at")
    )
    by_cluster: dict[int, list] = {}
    for m in members:
        by_cluster.setdefault(m.cluster_id, []).append(m.case)
    for c in clusters:
        c.cases = by_cluster.get(c.pk, [])
    return clusters


def recent_spikes(*, days: int = 7) -> list[Spike]:
    since = clock.now().date() - timedelta(days=days)
    return list(Spike.objects.filter(day__gte=since)[:50])


def problem_cases(problem: Problem) -> dict:
    links = list(
        ProblemCase.objects.filter(problem=problem)
        .select_related("case__customer")
        .order_by("created_at", "id")
    )
    return {
        "linked": [pc for pc in links if pc.state == LinkState.LINKED],
        "proposed": [pc for pc in links if pc.state == LinkState.PROPOSED],
    }


def loop_closed(problem: Problem) -> dict | None:
    """After a problem is resolved: how many new matching cases arrived within PROBLEM_LOOP_DAYS (cases
    that joined its cluster or were proposed/linked after the resolution). 0 = the loop closed."""
    if problem.resolved_at is None:
        return None
    days = settings.CASEWORK["PROBLEM_LOOP_DAYS"]
    end = problem.resolved_at + timedelta(days=days)
    after = Q(case__created_at__gt=problem.resolved_at, case__created_at__lte=end)
    linked = set(
        ProblemCase.objects.filter(after, problem=problem)
        .exclude(state=LinkState.REJECTED)
        .values_list("case_id", flat=True)
    )
    if problem.cluster_id:
        linked |= set(
            ClusterMember.objects.filter(after, cluster_id=problem.cluster_id).values_list(
                "case_id", flat=True
            )
        )
    return {"days": days, "count": len(linked), "until": end, "watching": clock.now() < end}


def suggestions_for(case) -> list[DuplicateSuggestion]:
    return list(
        DuplicateSuggestion.objects.filter(case=case, state=SuggestionState.PROPOSED).select_related(
            "candidate"
        )
    )


# --- findings (findings.py, repeats.py, spikes.py) -------------------------------------------------------


def recent_repeats(*, days: int = 7, limit: int = 50) -> list:
    from .models import RepeatContact

    since = clock.now() - timedelta(days=days)
    return list(
        RepeatContact.objects.filter(case__created_at__gte=since)
        .select_related("case__customer", "previous")
        .order_by("-case__created_at", "-id")[:limit]
    )


def recent_outliers(*, limit: int = 50) -> list:
    """Outliers resolved within the outlier window, slowest against its p90 first."""
    from django.db.models import F

    from .models import ResolutionOutlier

    since = clock.now() - timedelta(days=settings.CASEWORK["OUTLIER_WINDOW_DAYS"])
    return list(
        ResolutionOutlier.objects.filter(resolved_at__gte=since)
        .select_related("case")
        .annotate(ratio=F("seconds") / F("p90_seconds"))
        .order_by("-ratio", "-id")[:limit]
    )


def open_gaps(*, limit: int = 50) -> list:
    from .models import GapState, KnowledgeGap

    return list(KnowledgeGap.objects.filter(state=GapState.OPEN).select_related("best_article")[:limit])


def findings(*, days: int = 7) -> dict:
    """Everything the findings page and `GET /insights/findings` show (a fixed number of queries)."""
    spikes = recent_spikes(days=days)
    return {
        "repeats": recent_repeats(days=days),
        "outliers": recent_outliers(),
        "escalation_spikes": [s for s in spikes if s.dimension == "escalation"],
        "volume_spikes": [s for s in spikes if s.dimension != "escalation"],
        "gaps": open_gaps(),
        "days": days,
    }
