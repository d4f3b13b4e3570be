"""Repeat contacts: a customer writing again about the same topic within `REPEAT_CONTACT_DAYS` (7).

This is the one definition of a repeat contact in casework (reports' `repeat_contact` metric counts the
`RepeatContact` rows it writes, docs/metrics.md):

    a case is a repeat contact when its customer had contacted support in the REPEAT_CONTACT_DAYS before
    it (opened a case, or wrote on one) about the same topic — the stored-vector score of the two cases
    is ≥ REPEAT_CONTACT_THRESHOLD, or the new case is that case's follow-up (it continues its thread).

"Same topic" is the duplicate engine's score on the stored vectors (`vectors.rerank`: 0.45 · word cosine
+ 0.35 · char cosine + 0.20 · subject ratio), so "a duplicate", "a cluster" and "a repeat" are measured
with one ruler. The threshold (0.30) was measured on hand-written pairs of a customer's first and second
message (`tests/data/repeat_pairs.json`, README.md "Repeat contacts"): lower than the duplicate threshold
(0.35) because the candidates are only the customer's own few recent cases, not every recent case, and a
second message is often short ("still can't export, any news?").

Run by the duplicate task after each opening (`duplicates.find_duplicates`, a durable task row written in
the opening write); the flag is written by a door (`findings_services.repeat_contact_record`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q

from casework.cases.models import Case

from . import vectorising, vectors
from .similarity import Doc, Match


@dataclass(frozen=True)
class Repeat:
    previous: Case
    match: Match
    via: str  # "similarity" | "follow_up"
    gap_seconds: float


def score(query: Doc, earlier: Sequence[Doc], snapshot: vectors.Snapshot) -> list[Match]:
    """The same-topic score of `query` against each of `earlier` (best first), computed in memory with
    the snapshot's IDF — the same numbers as over stored vectors (used to measure the threshold)."""
    if not earlier:
        return []
    full = vectors.vectorise([query, *earlier], snapshot)
    return vectors.rerank(
        full[0], query.subject, [d.key for d in earlier], full[1:], [d.subject for d in earlier]
    )


def _last_contact(candidate: Case, before) -> object:
    """When the customer last wrote on `candidate` before `before`: its latest customer message if that
    is earlier than the new case, else its opening."""
    last = candidate.last_customer_message_at
    return last if last is not None and candidate.created_at <= last < before else candidate.created_at


def find_repeat(case: Case) -> Repeat | None:
    """The customer's case in the window before `case` most like it, when it counts as the same topic."""
    conf = settings.CASEWORK
    window = timedelta(days=conf["REPEAT_CONTACT_DAYS"])
    since = case.created_at - window
    contacted = Q(created_at__gte=since, created_at__lt=case.created_at) | Q(
        created_at__lt=case.created_at,
        last_customer_message_at__gte=since,
        last_customer_message_at__lt=case.created_at,
    )
    earlier = list(
        Case.objects.filter(contacted, customer_id=case.customer_id, merged_into__isnull=True)
        .exclude(pk=case.pk)
        .only("id", "reference", "subject", "description", "created_at", "last_customer_message_at")
        .order_by("-created_at")[:50]
    )
    if not earlier:
        return None
    space = vectorising.ensure_space()
    have = vectorising.ensure_vectors([case, *earlier], space)
    by_id = {c.pk: c for c in earlier}
    keys = [c.pk for c in earlier]
    from scipy.sparse import vstack

    matches = vectors.rerank(
        have[case.pk][0],
        case.subject or "",
        keys,
        vstack([have[k][0] for k in keys], format="csr"),
        [by_id[k].subject or "" for k in keys],
    )
    follow_up = case.follow_up_of_id
    best = None
    for m in matches:
        if m.key == follow_up:
            best, via = m, "follow_up"
            break
    if best is None:
        if not matches or matches[0].score < conf["REPEAT_CONTACT_THRESHOLD"]:
            return None
        best, via = matches[0], "similarity"
    previous = by_id[best.key]
    shared = vectors.shared_terms(vectorising.doc_of(case), vectorising.doc_of(previous), space.snapshot)
    gap = (case.created_at - _last_contact(previous, case.created_at)).total_seconds()
    match = Match(best.key, best.score, best.word, best.char, best.subject, shared)
    return Repeat(previous=previous, match=match, via=via, gap_seconds=max(gap, 0.0))


def flag(case_id: int) -> bool:
    """Check one case and record the flag (idempotent: a case is flagged once)."""
    from .findings_services import repeat_contact_record
    from .models import RepeatContact

    case = Case.objects.filter(pk=case_id).first()
    if case is None or case.merged_into_id or RepeatContact.objects.filter(case_id=case_id).exists():
        return False
    found = find_repeat(case)
    if found is None:
        return False
    return repeat_contact_record(case=case, repeat=found) is not None
