"""Reads for cases. Every query a list page runs is decided here, once (select_related/prefetch)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import (
    BigIntegerField,
    DateTimeField,
    Exists,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.lookups import In
from django.utils import timezone

from casework.core import config
from casework.core.errors import NotFound
from casework.people import permissions

from .models import (
    Attachment,
    Case,
    CaseEvent,
    Category,
    CustomFieldDefinition,
    Mention,
    Message,
    MessageKind,
    Task,
)
from .status import OPEN_STATUSES, PRIORITY_RANK, Status

# Sort keys offered to the UI and API; values are ORM orderings with a stable tiebreaker.
ORDERINGS: dict[str, list[str]] = {
    "newest": ["-created_at", "-id"],
    "oldest": ["created_at", "id"],
    "updated": ["-updated_at", "-id"],
    # priority_rank is a stored column (Case.priority_rank), so this order walks case_open_priority.
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


# Every `view` case_list knows ("all" narrows nothing); adapters validate against it.
VIEWS = (
    "open", "mine", "unassigned", "untriaged", "closed", "waiting", "mentioned", "frustrated", "at_risk",
    "breached", "all",
)  # fmt: skip


# The statuses a view can show at all (views not listed: any).
_OPEN_VIEWS = ("open", "mine", "unassigned", "mentioned", "frustrated", "at_risk", "breached")
_VIEW_STATUSES: dict[str, frozenset[str]] = {
    **dict.fromkeys(_OPEN_VIEWS, frozenset(OPEN_STATUSES)),
    "untriaged": frozenset({Status.NEW}),
    "waiting": frozenset({Status.AWAITING_CLIENT}),
    "closed": frozenset({Status.RESOLVED, Status.CLOSED}),
}


def _with_list_relations(qs: QuerySet[Case]) -> QuerySet[Case]:
    """A list row's customer, organisation, category, team and owner, read with the page.

    The page query reads the cases table alone (or with LEFT JOINs, which keep it the outer table), so
    the planner walks a case index in the page's order and stops after the page:
    - the customer is read by id afterwards, never joined: with the inner join, SQLite (no statistics)
      started from the customers table and sorted every matching case for "all cases of a category / a
      team" (3.6 s at 1M cases; a few ms now);
    - on PostgreSQL the four small tables are read by id too: with all of them joined (seven tables once
      the API adds the customer's organisation) it spent 7 ms (quiet) to 22 ms (loaded) *planning* the
      25-row page at 1M cases, against 0.7 ms executing it.
    """
    if connection.vendor == "postgresql":
        return qs.prefetch_related("customer", "organisation", "category", "team", "assignee")
    return qs.select_related("organisation", "category", "team", "assignee").prefetch_related("customer")


def case_list(*, filters: CaseFilter, user: Any = None) -> QuerySet[Case]:
    """Cases matching `filters`; with a `user`, only those their role lets them see."""
    return case_list_window(filters=filters, user=user)[0]


def case_list_window(*, filters: CaseFilter, user: Any = None) -> tuple[QuerySet[Case], bool]:
    """`case_list`, and whether a relevance-ordered search was cut to its newest
    CASEWORK_SEARCH_RANK_LIMIT matches (`search.selectors.ranked_window`)."""
    qs = _with_list_relations(Case.objects.all())
    if user is not None:
        qs = permissions.visible_cases(qs, user)
    view = filters.view
    # Open cases are `open_flag` (a stored column computed from status): one index range in creation
    # or priority order, where `status IN (four values)` is four ranges that need a sort to merge.
    if view == "open":
        qs = qs.filter(open_flag=1)
    elif view == "mine":
        qs = qs.filter(open_flag=1, assignee=user)
    elif view == "unassigned":
        qs = qs.filter(open_flag=1, assignee__isnull=True)
    elif view == "untriaged":
        qs = qs.filter(status=Status.NEW)
    elif view == "closed":
        qs = qs.filter(open_flag=0)  # resolved or closed: one index range, like the open view
    elif view == "waiting":
        qs = qs.filter(status=Status.AWAITING_CLIENT, assignee=user)
    elif view == "mentioned":
        qs = qs.filter(mentions_q(user), open_flag=1)
    elif view == "frustrated":
        qs = qs.filter(open_flag=1, frustrated=True)
    elif view == "at_risk":
        qs = qs.filter(_sla_at_risk_q(), open_flag=1)
    elif view == "breached":
        qs = qs.filter(_sla_breached_q(), open_flag=1)
    if filters.status:
        if not set(filters.status) & _VIEW_STATUSES.get(view, frozenset(Status.values)):
            # "Open cases that are resolved": nothing, without walking every open case to find it out
            # (0.7-1.4 s at 1M cases).
            qs = qs.none()
        qs = qs.filter(status__in=filters.status)
    if filters.priority:
        qs = qs.filter(priority__in=filters.priority)
    # Names to ids first (one indexed lookup each), so the page query needs no join to filter.
    if filters.category:
        qs = _filter_by_id(qs, "category_id", _id_of("cases", "Category", slug=filters.category))
    if filters.team:
        team_id = int(filters.team) if filters.team.isdigit() else _id_of("people", "Team", name=filters.team)
        qs = _filter_by_id(qs, "team_id", team_id)
    if filters.assignee:
        if filters.assignee == "none":
            qs = qs.filter(assignee__isnull=True)
        else:
            # The agent's id first (one indexed lookup), so the cases are found through
            # case_assignee_open_created in order rather than by a join from auth_user and a sort.
            agent_id = _user_id(filters.assignee)
            qs = qs.filter(assignee_id=agent_id) if agent_id is not None else qs.none()
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
        from casework.search.selectors import matching, ranked_window

        if filters.ordering == "relevance":
            return ranked_window(qs, filters.q)  # full-text search (casework/search), best first
        qs = matching(qs, filters.q)  # annotates search_rank
    elif filters.ordering == "relevance":
        return qs.order_by(*ORDERINGS["newest"]), False
    ordering = ORDERINGS.get(filters.ordering, ORDERINGS["newest"])
    if "sla_next_due" in ordering:
        qs = qs.annotate(sla_next_due=_sla_next_due())
        ordering = [F("sla_next_due").asc(nulls_last=True), *ordering[1:]]
    return qs.order_by(*ordering), False


def _id_of(app: str, model: str, **unique) -> int | None:
    from django.apps import apps

    return apps.get_model(app, model).objects.filter(**unique).values_list("id", flat=True).first()


def _filter_by_id(qs: QuerySet[Case], column: str, value: int | None) -> QuerySet[Case]:
    return qs.filter(**{column: value}) if value is not None else qs.none()


def _user_id(username: str) -> int | None:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(username=username).values_list("id", flat=True).first()


# SLA views read the sla app's CaseClock through the reverse relation `sla_clocks`; the model is looked up
# lazily so `cases` keeps no import of the apps that react to it.
def _clock_model():
    from django.apps import apps

    return apps.get_model("sla", "CaseClock")


class _NotIndexed(Func):
    """The column's value, marked for SQLite's planner as not to be looked up by index (a unary `+`,
    SQLite's documented way to steer it). With no statistics it takes `due_at >= now` on the sweep's
    index (every running clock not yet due) over `at_risk_at <= now` on the at-risk window index (the
    few clocks in their window); PostgreSQL's planner has statistics and gets the plain column."""

    template = "%(expressions)s"
    arity = 1

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="+%(expressions)s", **extra)


def _sla_at_risk_clocks(now: datetime):
    """Running clocks inside their at-risk window (before their due time): a range of the partial
    index sla_clock_atrisk_window, which holds running clocks only."""
    return (
        _clock_model()
        .objects.order_by()
        .alias(due=_NotIndexed(F("due_at"), output_field=DateTimeField()))
        .filter(state="running", at_risk_at__lte=now, due__gte=now)
    )


def _sla_breached_clocks(now: datetime):
    """Breached clocks still counting, and running ones past due that the sweep has not reached yet:
    the partial indexes sla_clock_breached_counting and sla_clock_due_running."""
    clocks = _clock_model().objects.order_by()
    return (
        clocks.filter(state="breached", stopped_at__isnull=True).values("case_id"),
        clocks.filter(state="running", due_at__lt=now).values("case_id"),
    )


# As `pk IN (clock subquery)` rather than a correlated EXISTS per case: the database reads the (few)
# matching clocks by index and then their cases by primary key, instead of probing the clocks table
# once for every open case.
def _sla_at_risk_q(now: datetime | None = None) -> Q:
    return Q(pk__in=_sla_at_risk_clocks(now or timezone.now()).values("case_id"))


def _sla_breached_q(now: datetime | None = None) -> Q:
    # A backlog can leave most open cases breached: driving from the clocks would look up and then sort
    # every one of them for a page of 50. With the case id marked not-indexed, SQLite walks the open
    # cases in the page's order and probes the two clock lists (built once), stopping at the page.
    counting, overdue = _sla_breached_clocks(now or timezone.now())
    case_id = _NotIndexed(F("pk"), output_field=BigIntegerField())
    return Q(In(case_id, counting)) | Q(In(case_id, overdue))


def mentions_q(user: Any) -> Exists:
    """Cases where someone named `user` with @ in a note or reply (Mention rows, written with the
    message by the door; one index probe per case)."""
    return Exists(Mention.objects.filter(case=OuterRef("pk"), user=user))


def my_tasks(user: Any) -> QuerySet[Task]:
    """Open internal tasks owned by `user` across cases: overdue and soonest due first, undated last."""
    return (
        Task.objects.filter(owner=user, done=False)
        .select_related("case", "case__customer")
        .order_by(F("due_at").asc(nulls_last=True), "id")
    )


def with_next_due(qs: QuerySet[Case]) -> QuerySet[Case]:
    """`sla_next_due` on each case (the queue's Due column): the earliest due time of a counting clock."""
    if "sla_next_due" in qs.query.annotations:
        return qs
    return qs.annotate(sla_next_due=_sla_next_due())


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


_REFERENCE = re.compile(r"^\s*#?(?:([A-Za-z]+)\s*-?\s*)?#?(\d{1,18})\s*$")


def normalise_reference(text: str) -> str:
    """The stored form of a case reference as people type it: `CW-123`, `cw-000123`, `#123` and `123` are
    all `CW-000123` (the configured prefix, six digits or more). Anything else comes back upper-cased
    and trimmed, so an exact match on the unique index still finds references with an older prefix."""
    text = (text or "").strip()
    match = _REFERENCE.match(text)
    if match is None:
        return text.upper()
    prefix = (match.group(1) or settings.CASEWORK["REFERENCE_PREFIX"]).upper()
    return f"{prefix}-{int(match.group(2)):06d}"


def case_get(reference: str, *, user: Any = None, write: bool = False) -> Case:
    """One case by reference. With a `user`: NotFound when their role hides it, PermissionDenied when
    `write` and they may only read it."""
    case = _case_by_reference(reference)
    if user is not None:
        if write:
            permissions.require_case_write(user, case)
        else:
            permissions.require_case_read(user, case)
    return case


def _case_by_reference(reference: str) -> Case:
    # An exact match on the unique index: `reference__iexact` is LIKE on SQLite and UPPER() on
    # PostgreSQL, which no index serves (every case page and API call scanned the cases table).
    # Not `merged_into` / `follow_up_of`: two more joins of the cases table cost PostgreSQL ~3.3 ms of
    # planning on every lookup (4.8 → 1.5 ms at 1M, 25 indexes each), for references that are NULL on
    # nearly every case (and then read without a query); the rare case that has one loads it on access.
    try:
        return Case.objects.select_related(
            "customer", "customer__organisation", "organisation", "category", "team", "assignee"
        ).get(reference=normalise_reference(reference))
    except Case.DoesNotExist as exc:
        raise NotFound(f"No case with reference '{reference}'", code="case_not_found") from exc


@dataclass
class TimelineEntry:
    at: datetime
    kind: str  # "message" | "event"
    message: Message | None = None
    event: CaseEvent | None = None
    attachments: tuple[Attachment, ...] = ()  # a message's files


@dataclass
class Timeline:
    entries: list[TimelineEntry]
    attachments: list[Attachment]  # every file of the case (with or without a message), by id
    # For the composer's collision warning: the newest non-note message when the agent started typing.
    latest_public_message_id: int


def case_timeline(case: Case) -> Timeline:
    """Messages and events in one chronological list, in three queries (messages, events, the case's
    files: one read serves the message cards and the case's file list). Events that only restate a
    message being added are folded into the message card."""
    messages = list(Message.objects.filter(case=case).select_related("author_user", "author_customer"))
    events = list(
        CaseEvent.objects.filter(case=case).exclude(kind="message_added").select_related("actor", "message")
    )
    attachments = list(Attachment.objects.filter(case=case).order_by("id"))
    files: dict[int, list[Attachment]] = {}
    for attachment in attachments:
        if attachment.message_id is not None:
            files.setdefault(attachment.message_id, []).append(attachment)
    entries = [
        TimelineEntry(at=m.created_at, kind="message", message=m, attachments=tuple(files.get(m.pk, ())))
        for m in messages
    ]
    entries += [TimelineEntry(at=e.created_at, kind="event", event=e) for e in events]
    entries.sort(key=lambda e: (e.at, 0 if e.kind == "message" else 1, (e.message or e.event).pk))
    public = [m.pk for m in messages if m.kind != MessageKind.NOTE]
    return Timeline(entries=entries, attachments=attachments, latest_public_message_id=max(public, default=0))


def categories_by_slug() -> list[Category]:
    """Every category, ordered by slug, read once per configuration version (core/config.py). The
    instances are shared; treat them as read-only."""
    return config.cached("categories", lambda: list(Category.objects.order_by("slug")))


def active_categories() -> list[Category]:
    """The categories an agent may pick, by name (the pickers' order)."""
    return sorted((c for c in categories_by_slug() if c.active), key=lambda c: (c.name, c.pk))


def custom_field_definitions() -> list[CustomFieldDefinition]:
    """Every custom field definition in display order, read once per configuration version. The
    instances are shared; treat them as read-only."""
    return config.cached(
        "custom-fields", lambda: list(CustomFieldDefinition.objects.order_by("order", "label", "id"))
    )


def case_events(case: Case) -> QuerySet[CaseEvent]:
    return CaseEvent.objects.filter(case=case).select_related("actor").order_by("created_at", "id")


def case_tasks(case: Case) -> QuerySet[Task]:
    return Task.objects.filter(case=case).select_related("owner")


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
    """Sidebar counters. The desk-wide ones (open, unassigned, untriaged, frustrated, critical, at risk,
    breached) are one pass over the open cases' entries of the covering index case_queue_counts plus the
    two SLA counters from the clocks' partial indexes: proportional to the open backlog, never to the
    table, but still a pass over every open case (~30k at a million cases). Every agent's every queue
    render asks the same question, so the answer is shared for CASEWORK_QUEUE_COUNTS_SECONDS (per
    visibility scope, in the process's cache; 0 = always count). The agent's own counters (mine,
    waiting, my tasks) are ranges of the agent's indexes and always live, so an agent's own work shows
    at once."""
    from django.core.cache import cache
    from django.db.models import Count

    seconds = settings.CASEWORK["QUEUE_COUNTS_SECONDS"]
    scope = _counts_scope(user)
    key = f"casework:queue_counts:{scope}"
    shared = cache.get(key) if seconds and scope else None
    if shared is None:
        shared = _desk_counts(user)
        if seconds and scope:
            cache.set(key, shared, seconds)
    own = permissions.visible_cases(Case.objects.filter(open_flag=1, assignee=user), user).aggregate(
        mine=Count("id"), waiting=Count("id", filter=Q(status=Status.AWAITING_CLIENT))
    )
    return {
        **shared,
        **own,
        "my_tasks": Task.objects.filter(owner=user, done=False).count(),
    }


# The queue views whose size the sidebar already counts (`queue_counts`, shared for a few seconds): view →
# counter.
COUNTED_VIEWS = {
    "open": "open",
    "unassigned": "unassigned",
    "untriaged": "untriaged",
    "frustrated": "frustrated",
    "at_risk": "sla_at_risk",
    "breached": "sla_breached",
}


def counted_total(filters: CaseFilter, counts: dict[str, int]) -> int | None:
    """The number of cases in a queue view as the sidebar counted it, when the filters add nothing to the
    view (the page's "N cases" and the sidebar then agree, and the breached view's pager does not walk
    every open case again: ~40 ms at a million cases); None when the page must count for itself."""
    key = COUNTED_VIEWS.get(filters.view)
    if key not in counts or filters != CaseFilter(view=filters.view, ordering=filters.ordering):
        return None
    return counts[key]


def _counts_scope(user: Any) -> str:
    """Who sees the same desk-wide counters: everyone who sees every case, else each agent alone."""
    if not permissions.is_agent(user):
        return ""
    if permissions.sees_all_teams(user) or permissions.other_teams_visible():
        return "all"
    return f"user-{user.pk}"


def _desk_counts(user: Any) -> dict[str, int]:
    from django.db.models import Count

    open_cases = permissions.visible_cases(Case.objects.filter(open_flag=1), user)
    agg = open_cases.aggregate(
        open=Count("id"),
        unassigned=Count("id", filter=Q(assignee__isnull=True)),
        untriaged=Count("id", filter=Q(status=Status.NEW)),
        frustrated=Count("id", filter=Q(frustrated=True)),
        critical=Count("id", filter=Q(priority_rank=PRIORITY_RANK["critical"])),
    )
    now = timezone.now()
    agg["sla_at_risk"] = open_cases.filter(_sla_at_risk_q(now)).count()
    agg["sla_breached"] = open_cases.filter(_sla_breached_q(now)).count()
    return agg
