"""Duplicates at intake: after a case opens, the `find_duplicates` task (enqueued by the `insights` stage
of the reaction pipeline, in the opening write) looks for the cases it most likely repeats.

Candidates (reads, outside any write):
  - open cases of the same customer or organisation (the most recent `DUPLICATE_POOL`);
  - recent cases overall (`DUPLICATE_RECENT_DAYS`) that share words with it, found by the full-text
    index (`search.selectors.similar`, the same engine as the case search) — the best `DUPLICATE_POOL`.
They are re-ranked by `similarity.rank` (TF-IDF word + char n-grams, rapidfuzz on subjects); the best
`DUPLICATE_MAX` scoring ≥ `DUPLICATE_THRESHOLD` become suggestions, minus pairs already decided either way
round (a "not a duplicate" is never proposed again). Writing them is a door (`services.suggestions_record`).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django_tasks import task

from casework.cases.models import Case
from casework.cases.status import OPEN_STATUSES
from casework.core import clock
from casework.search.selectors import similar

from .models import DuplicateSuggestion
from .similarity import Doc, Match, rank


def doc_of(case: Case) -> Doc:
    return Doc(case.pk, case.subject or "", case.description or "")


def candidates(case: Case) -> list[Case]:
    conf = settings.CASEWORK
    pool = conf["DUPLICATE_POOL"]
    base = Case.objects.exclude(pk=case.pk).filter(merged_into__isnull=True)
    same_party = Q(customer_id=case.customer_id)
    if case.organisation_id:
        same_party |= Q(organisation_id=case.organisation_id)
    mine = list(
        base.filter(same_party, status__in=sorted(OPEN_STATUSES)).only("id", "subject", "description")[:pool]
    )
    since = clock.now() - timedelta(days=conf["DUPLICATE_RECENT_DAYS"])
    text = f"{case.subject} {case.description[:2000]}"
    recent = similar(
        text, base.filter(created_at__gte=since).only("id", "subject", "description"), limit=pool
    )
    seen: dict[int, Case] = {c.pk: c for c in mine}
    for c in recent:
        seen.setdefault(c.pk, c)
    return list(seen.values())


def decided_pairs(case: Case) -> set[int]:
    """Cases already proposed or decided with this one, either way round."""
    forward = DuplicateSuggestion.objects.filter(case=case).values_list("candidate_id", flat=True)
    backward = DuplicateSuggestion.objects.filter(candidate=case).values_list("case_id", flat=True)
    return set(forward) | set(backward)


def find(case: Case) -> list[tuple[Case, Match]]:
    conf = settings.CASEWORK
    pool = candidates(case)
    skip = decided_pairs(case)
    pool = [c for c in pool if c.pk not in skip]
    if not pool:
        return []
    by_id = {c.pk: c for c in pool}
    matches = rank(
        doc_of(case),
        [doc_of(c) for c in pool],
        limit=conf["DUPLICATE_MAX"],
        min_score=conf["DUPLICATE_THRESHOLD"],
    )
    return [(by_id[m.key], m) for m in matches]


def suggest_for(case_id: int) -> int:
    from .services import suggestions_record

    case = Case.objects.filter(pk=case_id).select_related("customer").first()
    if case is None or case.merged_into_id:
        return 0
    found = find(case)
    if not found:
        return 0
    return len(suggestions_record(case=case, matches=found))


@task()
def find_duplicates(case_ids: list[int]) -> str:
    """The durable half of duplicate detection: a task row written in the opening write, run by a worker."""
    made = sum(suggest_for(pk) for pk in case_ids)
    return f"{made} suggestion(s) for {len(case_ids)} case(s)"
