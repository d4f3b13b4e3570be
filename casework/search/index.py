"""Keeping case documents current, inside the write that changed the case.

The `search` pipeline stage (`cases/pipeline.py`) asks the unit of work to call `reindex_flushed` at its
flush, with the events that flush writes: every case whose text those events change (opened, message
added or moved, subject or tags changed, merged) gets its document rewritten by one upsert, before the
transaction commits. The document is built from the write's own current instances (the case, its tags as
the write sees them — tag links are written later in the same flush) and the messages, which door
functions insert eagerly. `casework search-backfill` builds the same documents for existing data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Q

from casework.cases.models import Case, CaseEvent, EventKind, Message, MessageKind
from casework.core import clock

from .documents import DocumentParts, build_document
from .models import CaseDocument

# Event kinds after which a case's text may differ. Notes count when they say a message moved or split.
TEXT_EVENTS = frozenset(
    {
        EventKind.OPENED,
        EventKind.MESSAGE_ADDED,
        EventKind.CALL_LOGGED,
        EventKind.TAGS_CHANGED,
        EventKind.FIELD_CHANGED,
        EventKind.MERGED,
        EventKind.MERGED_INTO,
        EventKind.NOTE,
    }
)
_MOVE_KEYS = ("moved_to", "moved_from", "split_to", "split_from")


def changes_text(event: CaseEvent) -> bool:
    if event.kind not in TEXT_EVENTS:
        return False
    if event.kind == EventKind.NOTE:
        return any(key in (event.data or {}) for key in _MOVE_KEYS)
    if event.kind == EventKind.FIELD_CHANGED:
        return "subject" in (event.new or {})
    return True


def react(work, events: list[CaseEvent]) -> None:
    """Pipeline stage: have the flush rewrite the documents of the cases whose text changed."""
    work.on_flush("search-index", lambda flushed: reindex_flushed(work, flushed))


def reindex_flushed(work, events: list[CaseEvent]) -> None:
    pks = sorted({event.case_id for event in events if changes_text(event)})
    if not pks:
        return
    cases = [work.cases[pk] for pk in pks if pk in work.cases]
    others = [pk for pk in pks if pk not in work.cases]
    if others:
        cases += list(Case.objects.select_related("customer", "organisation").filter(pk__in=others))
    work.load_tags(pks)  # none read when triage already read them for this write
    reindex(cases=cases, tags=work.tags, bodies=_bodies_in_memory(work, pks))


def _bodies_in_memory(work, pks: list[int]) -> dict[int, list[str]]:
    """The message texts of cases this write opened, from the write's own messages: every message of
    such a case was inserted by this write (and noted in it), unless one was moved or merged in, which
    an event of this write says. Those cases, and cases opened earlier, are read (one query)."""
    moved = {
        event.case_id
        for event in work.events
        if event.kind in (EventKind.MERGED, EventKind.MERGED_INTO)
        or (event.kind == EventKind.NOTE and any(key in (event.data or {}) for key in _MOVE_KEYS))
    }
    fresh = {pk for pk in pks if pk in work.opened and pk not in moved}
    bodies: dict[int, list[tuple]] = {pk: [] for pk in fresh}
    for message in work.messages.values():
        if message.case_id in bodies and message.kind != MessageKind.SYSTEM:
            bodies[message.case_id].append((message.created_at, message.pk, message.body))
    return {pk: [body for *_, body in sorted(rows)] for pk, rows in bodies.items()}


def reindex(*, cases: Iterable[Case], tags: dict | None = None, bodies: dict | None = None) -> int:
    """Rewrite the documents of these cases (upsert, one statement) from the given instances, their
    messages (`bodies[pk]`, the texts in order, when the caller holds them all; else one query) and
    their tags (`tags[pk]` when the caller holds them current, else read)."""
    cases = list(cases)
    if not cases:
        return 0
    tags = tags or {}
    pks = [case.pk for case in cases]
    bodies = defaultdict(list, bodies or {})
    unread = [pk for pk in pks if pk not in bodies]
    if unread:
        rows = (
            Message.objects.filter(case_id__in=unread)
            .exclude(kind=MessageKind.SYSTEM)
            .order_by("case_id", "created_at", "id")
            .values_list("case_id", "body")
        )
        for case_id, body in rows:
            bodies[case_id].append(body)
    missing = [pk for pk in pks if pk not in tags]
    tag_names: dict[int, list[str]] = defaultdict(list)
    if missing:
        through = Case.tags.through.objects.filter(case_id__in=missing).values_list("case_id", "tag__name")
        for case_id, name in through:
            tag_names[case_id].append(name)
    for pk in pks:
        if pk in tags:
            tag_names[pk] = [t.name for t in tags[pk] or []]
    now = clock.now()
    documents = []
    for case in cases:
        doc = build_document(
            DocumentParts(
                reference=case.reference,
                number=case.number,
                subject=case.subject,
                description=case.description,
                customer_name=case.customer.name if case.customer_id else "",
                customer_email=case.customer.email if case.customer_id else "",
                organisation=case.organisation.name if case.organisation_id else "",
                tags=tuple(tag_names.get(case.pk, ())),
                messages=tuple(bodies.get(case.pk, ())),
            )
        )
        documents.append(
            CaseDocument(
                case_id=case.pk,
                reference=doc.reference,
                subject=doc.subject,
                people=doc.people,
                tags=doc.tags,
                body=doc.body,
                indexed_at=now,
            )
        )
    CaseDocument.objects.bulk_create(
        documents,
        update_conflicts=True,
        unique_fields=["case"],
        update_fields=["reference", "subject", "people", "tags", "body", "indexed_at"],
    )
    return len(documents)


def backfill(*, batch: int = 500, only_missing: bool = False, progress=None) -> int:
    """Build the documents of every case (or only those without one), in batches of `batch` cases, each
    batch its own transaction. Returns how many were written."""
    from django.db import transaction

    qs = Case.objects.select_related("customer", "organisation").order_by("pk")
    if only_missing:
        qs = qs.filter(~Q(pk__in=CaseDocument.objects.values("case_id")))
    done, last = 0, 0
    while True:
        chunk = list(qs.filter(pk__gt=last)[:batch])
        if not chunk:
            return done
        with transaction.atomic():
            done += reindex(cases=chunk)
        last = chunk[-1].pk
        if progress:
            progress(done)
