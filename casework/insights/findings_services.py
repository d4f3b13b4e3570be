"""The doors of the daily findings (findings.py, repeats.py): each writes its rows in one transaction,
idempotently — a finding already recorded is left as it is, so running the job twice raises nothing new.
Only the repeat contact changes what a case shows: its door writes a note on the case's timeline (a
`@door`, the case's unit of work). Outliers, escalation spikes and knowledge gaps are listed on the
insights pages with their cases and numbers; a lead dismisses a gap or starts a draft article from it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction

from casework.cases.models import Case
from casework.cases.services.unit_of_work import door
from casework.core import clock
from casework.core.errors import InvalidTransition

from .models import GapState, KnowledgeGap, RepeatContact, ResolutionOutlier
from .services import _note


def ago(seconds: float) -> str:
    """'3 days ago', '5 hours ago', 'minutes ago' (the timeline sentence)."""
    days = seconds / 86400
    if days >= 1:
        n = round(days)
        return f"{n} day{'s' if n != 1 else ''} ago"
    hours = round(seconds / 3600)
    return f"{hours} hour{'s' if hours != 1 else ''} ago" if hours >= 1 else "minutes ago"


@door
def repeat_contact_record(*, case: Case, repeat: Any) -> RepeatContact | None:
    """Flag `case` as a repeat contact of `repeat.previous` (repeats.Repeat), once, and explain it on the
    case's timeline with the earlier case, when, the score and the words both share."""
    if RepeatContact.objects.filter(case=case).exists():
        return None
    conf = settings.CASEWORK
    m, previous = repeat.match, repeat.previous
    threshold = conf["REPEAT_CONTACT_THRESHOLD"]
    row = RepeatContact.objects.create(
        case=case,
        previous=previous,
        similarity=round(m.score, 4),
        via=repeat.via,
        threshold=threshold,
        gap_seconds=repeat.gap_seconds,
        shared=list(m.shared[:8]),
        created_at=clock.now(),
    )
    words = ", ".join(m.shared[:5]) or "similar wording"
    how = (
        f"this case follows it up; similarity {m.score:.2f}"
        if repeat.via == "follow_up"
        else f"similarity {m.score:.2f} ≥ {threshold:.2f}"
    )
    _note(
        case,
        "insights",
        f"Repeat contact: same customer wrote about “{previous.subject}” ({words}) in "
        f"{previous.reference} {ago(repeat.gap_seconds)} ({how}; window {conf['REPEAT_CONTACT_DAYS']} days).",
        repeat_contact={
            "previous": previous.reference,
            "similarity": row.similarity,
            "threshold": threshold,
            "via": repeat.via,
            "gap_seconds": round(repeat.gap_seconds),
            "shared": row.shared,
        },
    )
    return row


@transaction.atomic
def outliers_record(*, rows: Sequence[dict], window_days: int) -> list[ResolutionOutlier]:
    """Store newly found resolution-time outliers (`findings.resolution_outliers` rows); a case already
    recorded is skipped."""
    known = set(
        ResolutionOutlier.objects.filter(case_id__in=[r["case_id"] for r in rows]).values_list(
            "case_id", flat=True
        )
    )
    now = clock.now()
    fresh = [
        ResolutionOutlier(
            case_id=r["case_id"],
            priority=r["priority"],
            seconds=r["seconds"],
            p90_seconds=r["p90"],
            median_seconds=r["median"],
            sample=r["sample"],
            window_days=window_days,
            resolved_at=r["resolved_at"],
            created_at=now,
        )
        for r in rows
        if r["case_id"] not in known
    ]
    ResolutionOutlier.objects.bulk_create(fresh, ignore_conflicts=True)
    return fresh


@transaction.atomic
def gaps_record(*, gaps: Sequence[dict]) -> list[KnowledgeGap]:
    """Raise or refresh "write an article about X" suggestions (`findings.knowledge_gaps` dicts). An open
    gap's cases and numbers are brought up to date; a dismissed or drafted one is left alone (remembered),
    so it is never raised again. Returns the gaps raised for the first time."""
    existing = {
        (g.source, g.key): g
        for g in KnowledgeGap.objects.select_for_update().filter(
            source__in={g["source"] for g in gaps}, key__in=[g["key"] for g in gaps]
        )
    }
    now = clock.now()
    raised = []
    for g in gaps:
        fields = {
            "label": g["label"][:200],
            "terms": g["terms"],
            "cases": g["cases"][:50],
            "case_count": g["case_count"],
            "window_days": g["window_days"],
            "best_article_id": g["best_article_id"],
            "best_score": g["best_score"],
            "min_score": g["min_score"],
        }
        row = existing.get((g["source"], g["key"]))
        if row is None:
            raised.append(
                KnowledgeGap.objects.create(
                    source=g["source"], key=g["key"], created_at=now, updated_at=now, **fields
                )
            )
        elif row.state == GapState.OPEN:
            KnowledgeGap.objects.filter(pk=row.pk).update(updated_at=now, **fields)
    return raised


def _open_gap(gap: KnowledgeGap) -> KnowledgeGap:
    fresh = KnowledgeGap.objects.select_for_update().get(pk=gap.pk)
    if fresh.state != GapState.OPEN:
        raise InvalidTransition(
            f"This suggestion was already decided ({fresh.get_state_display()})", code="gap_decided"
        )
    return fresh


@transaction.atomic
def gap_dismiss(*, gap: KnowledgeGap, actor: Any) -> KnowledgeGap:
    """ "Not worth an article": remembered, the job does not raise this cluster/category again."""
    gap = _open_gap(gap)
    KnowledgeGap.objects.filter(pk=gap.pk).update(
        state=GapState.DISMISSED, decided_by=actor, decided_at=clock.now()
    )
    gap.refresh_from_db()
    return gap


def _draft_body(gap: KnowledgeGap) -> str:
    refs = ", ".join(gap.cases[:20])
    return "\n\n".join(
        [
            f"_Suggested by insights: {gap.case_count} cases in {gap.window_days} days about "
            f"{', '.join(gap.terms[:6]) or gap.label} and no published article answering them._",
            "## Problem",
            "_What the customers ask (see the cases below)._",
            "## Solution",
            "_Describe the answer._",
            f"## Cases\n\n{refs}",
        ]
    )


@transaction.atomic
def gap_start_draft(*, gap: KnowledgeGap, actor: Any):
    """Start a draft article (knowledge's door `article_create`, internal draft) from the gap: titled
    with its label, the cases and terms in the body; the gap is marked drafted and points at it."""
    from casework.cases.models import Category
    from casework.knowledge.models import ArticleStatus, Visibility
    from casework.knowledge.services import article_create

    gap = _open_gap(gap)
    category = Category.objects.filter(slug=gap.key).first() if gap.source == "category" else None
    article = article_create(
        title=f"About {gap.label}"[:200],
        body=_draft_body(gap),
        actor=actor,
        category=category,
        status=ArticleStatus.DRAFT,
        visibility=Visibility.INTERNAL,
    )
    KnowledgeGap.objects.filter(pk=gap.pk).update(
        state=GapState.DRAFTED, article=article, decided_by=actor, decided_at=clock.now()
    )
    return article
