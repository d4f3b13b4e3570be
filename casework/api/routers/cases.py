"""/api/v1/cases — a thin adapter: parse, authorise, call cases.services, serialise."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from ninja import Query, Router, Schema, Status
from pydantic import Field

from casework.cases import keyset, selectors, services
from casework.cases.models import Case, EventKind, MessageKind, Tag
from casework.cases.services.unit_of_work import unit_of_work
from casework.core.errors import NotFound, ValidationFailed
from casework.people.models import Team

from ..counts import list_count
from ..filters import CaseFilterQuery, case_filter
from ..schemas import (
    CaseCreateIn,
    CaseDetailOut,
    CaseListOut,
    CasePatchIn,
    EventOut,
    MessageIn,
    MessageOut,
    TransitionIn,
)
from ..serializers import case_detail_dict, case_dict, event_dict, message_dict

router = Router(tags=["cases"])


class CaseListQuery(CaseFilterQuery):
    q: str = Field(default="", max_length=200)
    ordering: str = Field(
        default="",
        description="relevance (the default with q) | newest (the default without) | oldest | updated | "
        "priority | reference | due",
    )
    limit: int = Field(default=25, ge=1, le=200)
    # Bounded: a 30-digit offset was a 500 (SQLite integers are 64-bit; found by make fuzz).
    offset: int = Field(default=0, ge=0, le=1_000_000_000)
    cursor: str = Field(
        default="",
        max_length=400,
        description="next_cursor of the previous page: the page after it, as fast at any depth (an offset "
        "walks every row before it). Not with offset; the same ordering and filters as that page",
    )


def _get_case(request, reference: str) -> Case:
    # Read for GET; for a write the role must allow changing the case (the door checks it again).
    return selectors.case_get(reference, user=request.auth, write=request.method != "GET")


def _reload(case: Case) -> Case:
    return selectors.case_get(case.reference)


@router.post("/cases", response={201: CaseDetailOut}, summary="Open a case")
def create_case(request, payload: CaseCreateIn):
    with unit_of_work("api create") as work:
        case = services.case_open_for_contact(
            customer_email=payload.customer_email,
            customer_name=payload.customer_name,
            subject=payload.subject,
            description=payload.description,
            channel=payload.channel,
            priority=payload.priority,
            category=payload.category,
            tags=payload.tags,
            custom_fields=payload.custom_fields,
            actor=request.auth,
        )
    # The write's own instance is what it committed, reactions included (triage, owner, clocks): the
    # response is built from it and the write's events, without reading the case back.
    applied = [e for e in work.events if e.case_id == case.pk and e.kind == EventKind.RULE_APPLIED]
    return Status(201, case_detail_dict(case, tags=work.tags.get(case.pk, []), applied_rules=applied))


@router.get("/cases", response=CaseListOut, summary="List and search cases")
def list_cases(request, filters: Query[CaseListQuery]):
    wanted = case_filter(filters, q=filters.q, ordering=filters.ordering)
    qs, cut = selectors.case_list_window(filters=wanted, user=request.auth)
    # The merged-into and follow-up cases (their references) by a prefetch, not two more joins of the
    # case table: those self-joins cost PostgreSQL ~40 ms of planning per request (10 relations; 0.1 ms
    # to run), and on a page with no merged or follow-up case the prefetch runs no query at all.
    refs = Case.objects.only("id", "reference")
    qs = qs.prefetch_related(
        "customer__organisation",
        Prefetch("merged_into", queryset=refs),
        Prefetch("follow_up_of", queryset=refs),
    )
    count, exact = list_count(qs)
    qs = qs.prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))
    ordering = wanted.ordering
    by_cursor = keyset.pages_by_cursor(ordering)
    if filters.cursor:
        if filters.offset:
            raise ValidationFailed("Send either cursor or offset, not both", code="invalid_cursor")
        if not by_cursor:
            raise ValidationFailed(
                f"The {ordering!r} order pages by offset only",
                code="invalid_cursor",
                details={"field": "cursor", "orderings": list(keyset.KEYSET_ORDERINGS)},
            )
        qs = keyset.after(qs, ordering, keyset.decode(filters.cursor, ordering))
        start = 0
    else:
        start = filters.offset
    # One row more than the page says whether there is a next one, without another query.
    rows = list(qs[start : start + filters.limit + 1])
    page, more = rows[: filters.limit], len(rows) > filters.limit
    return {
        "count": count,
        "count_exact": exact,
        "limit": filters.limit,
        "offset": filters.offset,
        "items": [case_dict(c) for c in page],
        "next_cursor": keyset.cursor_after(page[-1], ordering) if more and by_cursor else None,
        "search_cut": cut,
    }


class BulkIn(Schema):
    references: list[str] = Field(min_length=1, max_length=1000)
    assignee: str | None = Field(default=None, description='username; "-" puts the cases back in the queue')
    team: str | None = None
    priority: str | None = None
    status: str | None = None
    add_tags: list[str] = Field(default_factory=list)
    reason: str = Field(default="", max_length=500)
    merge_into: str | None = Field(
        default=None, description="Merge the cases into this one (a reference); not with other changes"
    )


class BulkOut(Schema):
    changed: list[str]
    unchanged: list[str]
    skipped: dict[str, str]


@router.post(
    "/cases/bulk",
    response=BulkOut,
    summary="Change many cases at once (owner, team, priority, status, tags), or merge them into one case: "
    "one event per change per case",
)
def bulk_update(request, payload: BulkIn):
    if payload.merge_into is not None:
        return _bulk_merge(request, payload)
    changes: dict = {}
    if payload.assignee is not None:
        if payload.assignee == "-":
            changes["assignee"] = None
        else:
            user = get_user_model().objects.filter(username=payload.assignee, is_active=True).first()
            if user is None:
                raise NotFound(f"No active agent '{payload.assignee}'", code="agent_not_found")
            changes["assignee"] = user
    if payload.team is not None:
        team = Team.objects.filter(name=payload.team).first()
        if team is None:
            raise NotFound(f"No team '{payload.team}'", code="team_not_found")
        changes["team"] = team
    if payload.priority is not None:
        changes["priority"] = payload.priority
    if payload.status is not None:
        changes["status"] = payload.status
    if payload.add_tags:
        changes["add_tags"] = payload.add_tags
    cases = list(Case.objects.filter(reference__in=payload.references))
    missing = sorted(set(payload.references) - {c.reference for c in cases})
    if missing:
        raise NotFound(
            f"No case {', '.join(missing[:5])}", code="case_not_found", details={"missing": missing}
        )
    result = services.cases_bulk_update(cases=cases, actor=request.auth, reason=payload.reason, **changes)
    return {"changed": result.changed, "unchanged": result.unchanged, "skipped": result.skipped}


def _bulk_merge(request, payload):
    other = [
        name for name in ("assignee", "team", "priority", "status") if getattr(payload, name) is not None
    ]
    if other or payload.add_tags:
        raise ValidationFailed(
            "Merge on its own: send the other changes in a second request", code="merge_with_changes"
        )
    target = selectors.case_get(payload.merge_into)
    cases = list(Case.objects.filter(reference__in=payload.references))
    missing = sorted(set(payload.references) - {c.reference for c in cases})
    if missing:
        raise NotFound(
            f"No case {', '.join(missing[:5])}", code="case_not_found", details={"missing": missing}
        )
    result = services.cases_bulk_merge(cases=cases, target=target, actor=request.auth, reason=payload.reason)
    return {"changed": result.changed, "unchanged": result.unchanged, "skipped": result.skipped}


# Declared after /cases/bulk: "bulk" would otherwise match {reference}.
@router.get("/cases/{reference}", response=CaseDetailOut, summary="One case")
def get_case(request, reference: str):
    return case_detail_dict(_get_case(request, reference))


@router.patch("/cases/{reference}", response=CaseDetailOut, summary="Change priority, category, owner, team")
def patch_case(request, reference: str, payload: CasePatchIn):
    case = _get_case(request, reference)
    changes = payload.model_dump(exclude_unset=True)
    reason = changes.pop("reason", "")
    if "assignee" in changes and changes["assignee"] is not None:
        user = get_user_model().objects.filter(username=changes["assignee"], is_active=True).first()
        if user is None:
            raise NotFound(f"No active agent '{changes['assignee']}'", code="agent_not_found")
        changes["assignee"] = user
    if "team" in changes and changes["team"] is not None:
        team = Team.objects.filter(name=changes["team"]).first()
        if team is None:
            raise NotFound(f"No team '{changes['team']}'", code="team_not_found")
        changes["team"] = team
    if "priority" in changes and changes["priority"] is None:
        raise ValidationFailed("priority cannot be null", code="invalid_priority")
    if "subject" in changes and changes["subject"] is None:
        raise ValidationFailed("subject cannot be null", code="invalid_subject")
    services.case_update(case=case, actor=request.auth, reason=reason, **changes)
    return case_detail_dict(_reload(case))


@router.post(
    "/cases/{reference}/transitions", response=CaseDetailOut, summary="Move the case to another status"
)
def transition_case(request, reference: str, payload: TransitionIn):
    case = _get_case(request, reference)
    services.case_transition(case=case, to=payload.to, actor=request.auth, reason=payload.reason)
    return case_detail_dict(_reload(case))


@router.post(
    "/cases/{reference}/messages", response={201: MessageOut}, summary="Reply or add an internal note"
)
def add_message(request, reference: str, payload: MessageIn):
    case = _get_case(request, reference)
    message = services.case_add_message(
        case=case,
        kind=MessageKind.NOTE if payload.internal else MessageKind.REPLY,
        body=payload.body,
        actor=request.auth,
    )
    return Status(201, message_dict(message))


@router.get("/cases/{reference}/messages", response=list[MessageOut], summary="Messages on a case")
def list_messages(request, reference: str):
    case = _get_case(request, reference)
    return [message_dict(m) for m in case.messages.select_related("author_user", "author_customer")]


class EventPageQuery(Schema):
    after: int = Field(
        default=0,
        ge=0,
        le=2**63 - 1,
        description="Only events after this event id (the previous page's `next`)",
    )
    limit: int = Field(default=100, ge=1, le=500)


class EventPage(Schema):
    items: list[EventOut]
    limit: int
    next: int | None = Field(description="Pass as `after` for the next page; null on the last page")


@router.get(
    "/cases/{reference}/events",
    response=EventPage,
    summary="The case timeline (audit trail), oldest first, a page at a time",
)
def list_events(request, reference: str, page: Query[EventPageQuery]):
    case = _get_case(request, reference)
    # Keyset paging on the id: a busy case's timeline is hundreds of KB; a page stays small and every page
    # costs the same, however deep.
    rows = list(selectors.case_events(case).filter(id__gt=page.after).order_by("id")[: page.limit + 1])
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return {
        "items": [event_dict(e) for e in rows],
        "limit": page.limit,
        "next": rows[-1].pk if more else None,
    }
