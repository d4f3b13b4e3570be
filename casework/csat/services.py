"""CSAT writes: recording an answer (and opening a manager review for a low score) and closing a review.

Both are door functions: they lock the case, write their rows and explain themselves with an event on
the case timeline, inside one unit of work, so the lead's notification (an outbox row / in-app
notification from the notify engine) commits with the answer or not at all.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.urls import reverse

from casework.cases import services as case_services
from casework.cases.models import Case, EventKind
from casework.cases.services import Actor
from casework.cases.services.unit_of_work import active, door
from casework.core import clock
from casework.core.errors import Conflict, ValidationFailed
from casework.notify import engine

from .links import LABELS
from .models import CsatAnswer, CsatReview, ReviewOutcome, ReviewStatus

MAX_COMMENT = 5000


def change_window() -> timedelta:
    return timedelta(days=settings.CASEWORK["CSAT_CHANGE_DAYS"])


def review_threshold() -> int:
    return settings.CASEWORK["CSAT_REVIEW_THRESHOLD"]


def may_change(answer: CsatAnswer, now=None) -> bool:
    return (now or clock.now()) - answer.first_answered_at <= change_window()


def _check_score(score) -> int:
    try:
        value = int(score)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= 5:
        raise ValidationFailed(
            "A rating is a whole number from 1 to 5", code="invalid_score", details={"field": "score"}
        )
    return value


def lead_for(case: Case):
    """Who reviews a low score: the lead of the case's team, else the lead of one of the assignee's teams."""
    if case.team_id and case.team.lead_id:
        return case.team, case.team.lead
    if case.assignee_id:
        from casework.people.models import Team

        team = (
            Team.objects.filter(agents__user_id=case.assignee_id, lead__isnull=False)
            .select_related("lead")
            .first()
        )
        if team is not None:
            return team, team.lead
    return (case.team if case.team_id else None), None


@door
def csat_record(*, case: Case, score: int, resolution: int = 1, comment: str | None = None) -> CsatAnswer:
    """Store the customer's rating of `case` (one answer per case; changing it is allowed within
    CASEWORK_CSAT_CHANGE_DAYS of the first answer). `comment=None` leaves an existing comment alone.
    A score at or below CASEWORK_CSAT_REVIEW_THRESHOLD opens a manager review and notifies the lead."""
    score = _check_score(score)
    if comment is not None:
        comment = comment.strip()[:MAX_COMMENT]
    work = active()
    locked = work.lock(case)
    now = clock.now()
    answer = CsatAnswer.objects.filter(case_id=locked.pk).first()
    previous = None
    if answer is not None:
        if not may_change(answer, now):
            raise Conflict(
                f"The rating of {locked.reference} can no longer be changed",
                code="csat_locked",
                details={"answered_at": answer.first_answered_at.isoformat()},
            )
        if answer.score == score and (comment is None or comment == answer.comment):
            return answer
        previous = answer.score
        if previous != score:
            answer.changes += 1
        answer.score, answer.answered_at = score, now
        if comment is not None:
            answer.comment = comment
    else:
        answer = CsatAnswer(
            case=locked,
            customer=locked.customer,
            score=score,
            comment=comment or "",
            resolution=resolution,
            first_answered_at=now,
            answered_at=now,
        )
    work.eager_write()
    answer.save()
    actor = Actor(label=f"{locked.customer.display_name} (customer, survey)")
    if previous is None:
        reason = f"Customer rated the help {score}/5 ({LABELS[score]}) in the satisfaction survey"
    elif previous != score:
        reason = f"Customer changed their satisfaction rating from {previous}/5 to {score}/5"
    else:
        reason = f"Customer added a comment to their {score}/5 satisfaction rating"
    review = _open_review(locked, answer, now) if score <= review_threshold() else None
    case_services.case_record_system_event(
        case=locked,
        kind=EventKind.NOTE,
        actor=actor,
        reason=reason,
        data={
            "csat": {
                "score": score,
                "previous": previous,
                "resolution": answer.resolution,
                "comment": bool(answer.comment),
                "threshold": review_threshold(),
                **({"review": review.pk} if review is not None else {}),
            }
        },
    )
    return answer


def _open_review(case: Case, answer: CsatAnswer, now) -> CsatReview | None:
    """A review for this answer, unless it already has one (a changed low score keeps its review)."""
    if CsatReview.objects.filter(answer=answer).exists():
        return None
    team, lead = lead_for(case)
    review = CsatReview.objects.create(
        answer=answer, case=case, team=team, lead=lead, opening_score=answer.score, opened_at=now
    )
    engine.send(
        "low_csat",
        case=case,
        to_agents=[lead] if lead is not None else [],
        context={
            "score": answer.score,
            "comment": answer.comment,
            "review_url": f"{settings.BASE_URL}{reverse('csat:reviews')}#review-{review.pk}",
        },
        dedup_key=f"low-csat:{review.pk}",
        fresh=True,
    )
    return review


@door
def csat_review_close(*, review: CsatReview, outcome: str, note: str, actor) -> CsatReview:
    """Close a review with its outcome (coaching, process fix, no action) and a note, on the case timeline."""
    if outcome not in ReviewOutcome.values:
        raise ValidationFailed(
            "Choose an outcome",
            code="invalid_outcome",
            details={"field": "outcome", "allowed": ReviewOutcome.values},
        )
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(
            "Write a short note on what was decided", code="note_required", details={"field": "note"}
        )
    work = active()
    locked = work.lock(review.case)
    current = CsatReview.objects.select_for_update().get(pk=review.pk)
    if current.status == ReviewStatus.CLOSED:
        raise Conflict("This review is already closed", code="review_closed")
    now = clock.now()
    current.status, current.outcome, current.note = ReviewStatus.CLOSED, outcome, note[:5000]
    current.closed_at, current.closed_by = now, actor
    work.eager_write()
    current.save(update_fields=["status", "outcome", "note", "closed_at", "closed_by"])
    case_services.case_record_system_event(
        case=locked,
        kind=EventKind.NOTE,
        actor=actor,
        reason=f"CSAT review closed: {ReviewOutcome(outcome).label}. {note[:500]}",
        data={"csat_review": {"review": current.pk, "outcome": outcome}},
    )
    review.status, review.outcome, review.note = current.status, current.outcome, current.note
    review.closed_at, review.closed_by = current.closed_at, current.closed_by
    return current
