"""Reads for cases. Every query a list page runs is decided here, once (select_related/prefetch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from casework.core.errors import NotFound

from .models import Attachment, Case, CaseEvent, Message, Task
from .status import OPEN_STATUSES, PRIORITY_RANK, Status

# Sort keys offered to the UI and API; values are ORM orderings with a stable tiebreaker.
ORDERINGS: dict[str, list[str]] = {
    "newest": ["-created_at", "-id"],
    "oldest": ["created_at", "id"],
    "updated": ["-updated_at", "-id"],
    "priority": ["priority_rank", "created_at", "id"],
    "reference": ["number"],
    # Next SLA due time first (cases without a live clock last); see _sla_next_due.
    "due": ["sla_next_due", "created_at", "id"],
    # Best search match first (casework/search); newest first when there is no query.
    "relevance": ["-created_at", "-id"],
}


@dataclass
class CaseFilter:
    view: str = "open"  # open | mine | unassigned | all | closed
    status: list[str] = field(default_factory=list)
    priority: list[str] = field(default_factory=list)
    category: str = ""
    team: str = ""
    assignee: str = ""
    customer_email: str = ""
    organisation: str = ""
    channel: str = ""
    tier: int | None = None
    tag: str = ""
    q: str = ""
    created_after: datetime | None = None
    created_before: datetime | None = None
    ordering: str = "newest"


def _priority_rank_annotation():
    from django.db.models import Case as When_
    from django.db.models import IntegerField, Value, When

    return When_(
        *[When(priority=p, then=Value(rank)) for p, rank in PRIORITY_RANK.items()],
        default=Value(9),
        output_field=IntegerField(),
    )


def case_list(*, filters: CaseFilter, user: Any = None) -> QuerySet[Case]:
    qs = Case.objects.select_related("customer", "organisation", "category", "team", "assignee")
    view = filters.view
    if view == "open":
        qs = qs.filter(status__in=OPEN_STATUSES)
    elif view == "mine":
        qs = qs.filter(status__in=OPEN_STATUSES, assignee=user)
    elif view == "unassigned":
        qs = qs.filter(status__in=OPEN_STATUSES, assignee__isnull=True)
    elif view == "untriaged":
        qs = qs.filter(status=Status.NEW)
    elif view == "closed":
        qs = qs.filter(status__in=[Status.RESOLVED, Status.CLOSED])
    elif view == "frustrated":
        qs = qs.filter(status__in=OPEN_STATUSES, frustrated=True)
    elif view == "at_risk":
        qs = qs.filter(_sla_at_risk_q(), status__in=OPEN_STATUSES)
    elif view == "breached":
        qs = qs.filter(_sla_breached_q(), status__in=OPEN_STATUSES)
    if filters.status:
        qs = qs.filter(status__in=filters.status)
    if filters.priority:
        qs = qs.filter(priority__in=filters.priority)
    if filters.category:
        qs = qs.filter(category__slug=filters.category)
    if filters.team:
        qs = (
            qs.filter(team__name=filters.team)
            if not filters.team.isdigit()
            else qs.filter(team_id=filters.team)
        )
    if filters.assignee:
        if filters.assignee == "none":
            qs = qs.filter(assignee__isnull=True)
        else:
            qs = qs.filter(assignee__username=filters.assignee)
    if filters.customer_email:
        qs = qs.filter(customer__email__iexact=filters.customer_email.strip())
    if filters.organisation:
        qs = qs.filter(organisation__name=filters.organisation)
    if filters.channel:
        qs = qs.filter(channel=filters.channel)
    if filters.tier:
        qs = qs.filter(tier=filters.tier)
    if filters.tag:
        qs = qs.filter(tags__name=filters.tag)
    if filters.created_after:
        qs = qs.filter(created_at__gte=filters.created_after)
    if filters.created_before:
        qs = qs.filter(created_at__lt=filters.created_before)
    if filters.q:
        from casework.search.selectors import matching

        qs = matching(qs, filters.q)  # full-text search (casework/search), annotates search_rank
    if filters.ordering == "relevance":
        ordering = ["-search_rank", "-created_at", "-id"] if filters.q else ORDERINGS["newest"]
        return qs.order_by(*ordering)
    ordering = ORDERINGS.get(filters.ordering, ORDERINGS["newest"])
    if "priority_rank" in ordering:
        qs = qs.annotate(priority_rank=_priority_rank_annotation())
    if "sla_next_due" in ordering:
        qs = qs.annotate(sla_next_due=_sla_next_due())
        ordering = [F("sla_next_due").asc(nulls_last=True), *ordering[1:]]
    return qs.order_by(*ordering)


# SLA views read the sla app's CaseClock through the reverse relation `sla_clocks`; the model is looked up
# lazily so `cases` keeps no import of the apps that react to it. Exists() keeps one row per case.
def _clock_model():
    from django.apps import apps

    return apps.get_model("sla", "CaseClock")


def _sla_at_risk_q(now: datetime | None = None) -> Exists:
    """A running clock inside its at-risk window (before its due time)."""
    now = now or timezone.now()
    return Exists(
        _clock_model().objects.filter(
            case=OuterRef("pk"), state="running", at_risk_at__lte=now, due_at__gte=now
        )
    )


def _sla_breached_q(now: datetime | None = None) -> Exists:
    """A breached clock still counting, or a running one past due that the sweep has not reached yet."""
    now = now or timezone.now()
    return Exists(
        _clock_model().objects.filter(
            Q(state="breached", stopped_at__isnull=True) | Q(state="running", due_at__lt=now),
            case=OuterRef("pk"),
        )
    )


def _sla_next_due() -> Subquery:
    return Subquery(
        _clock_model()
        .objects.filter(
            case=OuterRef("pk"),
            state__in=["running", "breached"],
            stopped_at__isnull=True,
            paused_since__isnull=True,
        )
        .order_by("due_at")
        .values("due_at")[:1]
    )


def search_q(text: str) -> Q:
    """Keyword search: a reference jumps straight to its case; otherwise every word must appear in the
    subject, description, customer email/name or organisation. (Full-text indexes replace this in the
    search issue; the selector keeps the same signature.)"""
    text = text.strip()
    q = Q()
    for word in text.split()[:8]:
        q &= (
            Q(reference__iexact=word)
            | Q(subject__icontains=word)
            | Q(description__icontains=word)
            | Q(customer__email__icontains=word)
            | Q(customer__name__icontains=word)
            | Q(organisation__name__icontains=word)
        )
    return q


def case_get(reference: str) -> Case:
    try:
        return Case.objects.select_related(
            "customer",
            "customer__organisation",
            "organisation",
            "category",
            "team",
            "assignee",
            "merged_into",
            "follow_up_of",
        ).get(reference__iexact=(reference or "").strip())
    except Case.DoesNotExist as exc:
        raise NotFound(f"No case with reference '{reference}'", code="case_not_found") from exc


@dataclass
class TimelineEntry:
    at: datetime
    kind: str  # "message" | "event"
    message: Message | None = None
    event: CaseEvent | None = None


def case_timeline(case: Case) -> list[TimelineEntry]:
    """Messages and events in one chronological list. Events that only restate a message being added
    are folded into the message card."""
    messages = list(
        Message.objects.filter(case=case)
        .select_related("author_user", "author_customer")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("id")))
    )
    events = list(
        CaseEvent.objects.filter(case=case).exclude(kind="message_added").select_related("actor", "message")
    )
    entries = [TimelineEntry(at=m.created_at, kind="message", message=m) for m in messages]
    entries += [TimelineEntry(at=e.created_at, kind="event", event=e) for e in events]
    entries.sort(key=lambda e: (e.at, 0 if e.kind == "message" else 1, (e.message or e.event).pk))
    return entries


def case_events(case: Case) -> QuerySet[CaseEvent]:
    return CaseEvent.objects.filter(case=case).select_related("actor").order_by("created_at", "id")


def case_tasks(case: Case) -> QuerySet[Task]:
    return Task.objects.filter(case=case).select_related("owner")


def latest_public_message_id(case: Case) -> int:
    """For the composer's collision warning: the newest message id when the agent started typing."""
    return (
        Message.objects.filter(case=case)
        .exclude(kind="note")
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
        or 0
    )


def messages_since(case: Case, message_id: int, exclude_user: Any = None) -> QuerySet[Message]:
    qs = (
        Message.objects.filter(case=case, id__gt=message_id)
        .exclude(kind="note")
        .select_related("author_user")
    )
    if exclude_user is not None:
        qs = qs.exclude(author_user=exclude_user)
    return qs


def queue_counts(user: Any) -> dict[str, int]:
    """Sidebar counters in one query."""
    from django.db.models import Count

    open_q = Q(status__in=OPEN_STATUSES)
    agg = Case.objects.aggregate(
        open=Count("id", filter=open_q),
        mine=Count("id", filter=open_q & Q(assignee=user)),
        unassigned=Count("id", filter=open_q & Q(assignee__isnull=True)),
        untriaged=Count("id", filter=Q(status=Status.NEW)),
        frustrated=Count("id", filter=open_q & Q(frustrated=True)),
        critical=Count("id", filter=open_q & Q(priority="critical")),
        sla_at_risk=Count("id", filter=open_q & Q(_sla_at_risk_q())),
        sla_breached=Count("id", filter=open_q & Q(_sla_breached_q())),
    )
    return agg
