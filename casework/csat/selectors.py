"""Reads for the CSAT review queue: everything a lead needs to judge a low score, in a fixed number of
queries however many reviews the page shows."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet

from casework.cases.models import CaseEvent, Message
from casework.sla.models import CaseClock

from .models import CsatReview, ReviewStatus


def reviews_for(user) -> QuerySet[CsatReview]:
    """The reviews `user` may see: managers and admins all, a lead those of the teams they lead
    (`permissions.report_team_ids`) or addressed to them, anyone else none."""
    qs = CsatReview.objects.select_related(
        "answer", "case", "case__customer", "case__assignee", "case__team", "team", "lead", "closed_by"
    )
    from casework.people import permissions

    allowed = permissions.report_team_ids(user)
    if allowed is None:  # managers and admins
        return qs
    if not permissions.has_role(user, permissions.LEAD):
        return qs.none()
    # The teams they lead (the same set as the dashboard and reports), and any addressed to them.
    return qs.filter(Q(lead=user) | Q(team_id__in=allowed))


def is_reviewer(user) -> bool:
    from casework.people import permissions

    return permissions.sees_all_teams(user) or (
        permissions.has_role(user, permissions.LEAD) and bool(permissions.led_team_ids(user))
    )


@dataclass
class ReviewRow:
    review: CsatReview
    sla: list[tuple[str, str]] = field(default_factory=list)  # (metric label, state label)
    agents: list[str] = field(default_factory=list)


def review_queue(user, *, status: str = ReviewStatus.OPEN, limit: int = 100) -> list[ReviewRow]:
    reviews = list(reviews_for(user).filter(status=status)[:limit])
    case_ids = [r.case_id for r in reviews]
    clocks: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for clock in CaseClock.objects.filter(case_id__in=case_ids).order_by("metric"):
        clocks[clock.case_id].append((clock.get_metric_display(), clock.get_state_display()))
    agents: dict[int, set[str]] = defaultdict(set)
    for case_id, first, last, username in (
        CaseEvent.objects.filter(case_id__in=case_ids, actor__isnull=False)
        .values_list("case_id", "actor__first_name", "actor__last_name", "actor__username")
        .distinct()
    ):
        agents[case_id].add(f"{first} {last}".strip() or username)
    for case_id, first, last, username in (
        Message.objects.filter(case_id__in=case_ids, author_user__isnull=False)
        .values_list("case_id", "author_user__first_name", "author_user__last_name", "author_user__username")
        .distinct()
    ):
        agents[case_id].add(f"{first} {last}".strip() or username)
    rows = []
    for review in reviews:
        involved = agents[review.case_id]
        if review.case.assignee_id:
            assignee = review.case.assignee
            involved.add(assignee.get_full_name() or assignee.username)
        rows.append(ReviewRow(review, clocks[review.case_id], sorted(involved)))
    return rows
