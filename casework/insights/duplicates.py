"""Duplicates at intake: after a case opens, the `find_duplicates` task (enqueued by the `insights` stage
of the reaction pipeline, in the opening write) looks for the cases it most likely repeats.

Candidates (reads, outside any write): cases of the last `DUPLICATE_RECENT_DAYS`, and open cases of the
same customer or organisation, not merged. They are found in two stages over stored vectors
(`vectors.py`, `vectorising.py`): the worker's in-memory inverted index of short vectors gives the
`DUPLICATE_POOL` best by text among the allowed rows (their creation time and parties are in the index,
so the filter is a numpy mask), then their full vectors (one query) give the exact text score and
rapidfuzz the subject likeness (`vectors.rerank`). The best `DUPLICATE_MAX` scoring ≥
`DUPLICATE_THRESHOLD` become suggestions, minus pairs already decided either way round (a "not a
duplicate" is never proposed again). Writing them is a door (`services.suggestions_record`).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django_tasks import task

from casework.cases.models import Case
from casework.cases.status import OPEN_STATUSES
from casework.core import clock

from . import vectorising, vectors
from .models import CaseVector, DuplicateSuggestion
from .similarity import Match
from .vectorising import doc_of

__all__ = ["doc_of", "find", "find_duplicates", "suggest_for"]


def decided_pairs(case: Case) -> set[int]:
    """Cases already proposed or decided with this one, either way round."""
    forward = DuplicateSuggestion.objects.filter(case=case).values_list("candidate_id", flat=True)
    backward = DuplicateSuggestion.objects.filter(candidate=case).values_list("case_id", flat=True)
    return set(forward) | set(backward)


def find(case: Case) -> list[tuple[Case, Match]]:
    conf = settings.CASEWORK
    space = vectorising.ensure_space()
    full, short = vectorising.ensure_vectors([case], space)[case.pk]
    since = clock.now() - timedelta(days=conf["DUPLICATE_RECENT_DAYS"])
    # Candidates the vectorise job has not reached yet (just after a refit, or before its first run)
    # would be invisible: the index says which recent and same-party open cases it lacks (two id
    # queries by index), and those are vectorised now, newest first, at most a batch.
    idx = vectorising.index(space)
    same_party = Q(customer_id=case.customer_id)
    if case.organisation_id:
        same_party |= Q(organisation_id=case.organisation_id)
    recent = Case.objects.filter(created_at__gte=since)
    ids = set(Case.objects.filter(same_party, status__in=sorted(OPEN_STATUSES)).values_list("id", flat=True))
    # Usually every recent case is in the index: comparing two counts (one by the created_at index, one
    # in numpy) spares reading thousands of ids per lookup.
    indexed_recent = int(((idx.meta["created"] >= since.timestamp()) & idx.alive).sum())
    if recent.count() > indexed_recent:
        ids |= set(recent.values_list("id", flat=True))
    lacking = sorted(vectorising.missing_from(idx, ids - {case.pk}), reverse=True)[: conf["VECTOR_BATCH"]]
    if lacking:
        vectorising.vectorise_cases(
            list(Case.objects.filter(pk__in=lacking).only("id", "subject", "description")), space
        )
        idx = vectorising.index(space)
    meta = idx.meta
    party = meta["customer"] == (case.customer_id or -2)
    if case.organisation_id:
        party |= meta["organisation"] == case.organisation_id
    allowed = ((meta["created"] >= since.timestamp()) | party) & (idx.all_keys() != case.pk)
    skip = decided_pairs(case)
    top = [k for k, _ in idx.top(short, conf["DUPLICATE_POOL"] + len(skip), allowed) if k not in skip]
    if not top:
        return []
    rows = CaseVector.objects.filter(case_id__in=top[: conf["DUPLICATE_POOL"]]).values_list(
        "case_id",
        "space_id",
        "full",
        "case__subject",
        "case__status",
        "case__merged_into_id",
        "case__customer_id",
        "case__organisation_id",
        "case__created_at",
    )
    keys, blobs, subjects = [], [], []
    for pk, space_id, blob, subject, status, merged, customer, org, created in rows:
        same_party = customer == case.customer_id or (case.organisation_id and org == case.organisation_id)
        if (
            space_id != space.pk
            or merged is not None
            or not (created >= since or (same_party and status in OPEN_STATUSES))
        ):
            continue
        keys.append(pk)
        blobs.append(bytes(blob))
        subjects.append(subject or "")
    matches = vectors.rerank(full, case.subject or "", keys, vectors.decode_many(blobs), subjects)
    best = [m for m in matches if m.score >= conf["DUPLICATE_THRESHOLD"]][: conf["DUPLICATE_MAX"]]
    if not best:
        return []
    by_id = Case.objects.in_bulk([m.key for m in best])
    out = []
    for m in best:
        candidate = by_id[m.key]
        shared = vectors.shared_terms(doc_of(case), doc_of(candidate), space.snapshot)
        out.append((candidate, Match(m.key, m.score, m.word, m.char, m.subject, shared)))
    return out


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
    """The durable half of duplicate detection: a task row written in the opening write, run by a worker.
    It also checks each case for a repeat contact (`repeats.py`): the same stored vectors, the same run."""
    from . import repeats

    made = sum(suggest_for(pk) for pk in case_ids)
    flagged = sum(repeats.flag(pk) for pk in case_ids)
    return f"{made} suggestion(s), {flagged} repeat contact(s) for {len(case_ids)} case(s)"
