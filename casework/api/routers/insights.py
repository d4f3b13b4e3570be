"""Insights API: duplicate suggestions of a case (merge / not a duplicate), problems (list, create, change,
resolve, link cases), clusters. Writes go through `casework.insights.services`."""

from __future__ import annotations

import datetime as dt

from ninja import Field, Router, Schema, Status

from casework.cases import selectors
from casework.cases.models import Case
from casework.core.errors import NotFound
from casework.insights import selectors as insights_selectors
from casework.insights import services
from casework.insights.models import Cluster, DuplicateSuggestion, Problem
from casework.people.permissions import LEAD, require_role

router = Router(tags=["insights"])


class SuggestionOut(Schema):
    id: int
    case: str
    candidate: str
    candidate_subject: str
    score: float
    why: str
    signals: dict
    state: str


class MergeOut(Schema):
    merged_into: str


class ProblemIn(Schema):
    title: str = Field(max_length=200)
    owner: str | None = Field(default=None, description="username")
    root_cause: str = ""
    action: str = ""
    cluster: int | None = None
    cases: list[str] = Field(default_factory=list)


class ProblemPatch(Schema):
    title: str | None = Field(default=None, max_length=200)
    owner: str | None = None
    root_cause: str | None = None
    action: str | None = None
    state: str | None = Field(
        default=None, description="open, investigating, fix_in_progress (resolve: POST …/resolve)"
    )


class ResolveIn(Schema):
    note: str = Field(min_length=1)


class LinkIn(Schema):
    cases: list[str]


class ProblemOut(Schema):
    id: int
    reference: str
    title: str
    owner: str | None
    root_cause: str
    action: str
    state: str
    cluster: int | None
    cases: list[str]
    proposed: list[str]
    resolution_note: str
    resolved_at: dt.datetime | None
    new_cases_since_resolved: int | None
    updated_at: dt.datetime


class ClusterOut(Schema):
    id: int
    label: str
    size: int
    last_case_at: dt.datetime
    alerted: bool
    cases: list[str]


def _suggestion(s: DuplicateSuggestion) -> dict:
    return {
        "id": s.pk,
        "case": s.case.reference,
        "candidate": s.candidate.reference,
        "candidate_subject": s.candidate.subject,
        "score": s.score,
        "why": s.why,
        "signals": s.signals,
        "state": s.state,
    }


def _get_suggestion(pk: int) -> DuplicateSuggestion:
    s = DuplicateSuggestion.objects.select_related("case", "candidate").filter(pk=pk).first()
    if s is None:
        raise NotFound("Suggestion does not exist", code="suggestion_not_found")
    return s


@router.get(
    "/cases/{reference}/duplicates", response=list[SuggestionOut], summary="Possible duplicates of a case"
)
def case_duplicates(request, reference: str):
    case = selectors.case_get(reference, user=request.auth)
    qs = DuplicateSuggestion.objects.filter(case=case).select_related("case", "candidate")
    return [_suggestion(s) for s in qs]


@router.post("/duplicates/{pk}/merge", response=MergeOut, summary="Accept a suggestion: merge the cases")
def merge_duplicate(request, pk: int):
    target = services.duplicate_merge(suggestion=_get_suggestion(pk), actor=request.auth)
    return {"merged_into": target.reference}


@router.post("/duplicates/{pk}/dismiss", response=SuggestionOut, summary="Not a duplicate (remembered)")
def dismiss_duplicate(request, pk: int):
    return _suggestion(services.duplicate_dismiss(suggestion=_get_suggestion(pk), actor=request.auth))


def _lead(request) -> None:
    require_role(request.auth, LEAD, "problems")


def _user(username: str | None):
    if not username:
        return None
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise NotFound(f"No user '{username}'", code="user_not_found")
    return user


def _cases(refs: list[str]) -> list[Case]:
    cases = list(Case.objects.filter(reference__in=[r.upper() for r in refs]))
    missing = sorted({r.upper() for r in refs} - {c.reference for c in cases})
    if missing:
        raise NotFound("Case does not exist", code="case_not_found", details={"references": missing})
    return cases


def _problem(pk: int) -> Problem:
    p = Problem.objects.select_related("owner").filter(pk=pk).first()
    if p is None:
        raise NotFound("Problem does not exist", code="problem_not_found")
    return p


def _problem_dict(p: Problem) -> dict:
    parts = insights_selectors.problem_cases(p)
    loop = insights_selectors.loop_closed(p)
    return {
        "id": p.pk,
        "reference": p.reference,
        "title": p.title,
        "owner": p.owner.username if p.owner_id else None,
        "root_cause": p.root_cause,
        "action": p.action,
        "state": p.state,
        "cluster": p.cluster_id,
        "cases": [pc.case.reference for pc in parts["linked"]],
        "proposed": [pc.case.reference for pc in parts["proposed"]],
        "resolution_note": p.resolution_note,
        "resolved_at": p.resolved_at,
        "new_cases_since_resolved": loop["count"] if loop else None,
        "updated_at": p.updated_at,
    }


@router.get("/problems", response=list[ProblemOut], summary="Problems")
def list_problems(request, state: str = ""):
    return [_problem_dict(p) for p in insights_selectors.problem_list(state=state, limit=100)]


@router.post("/problems", response={201: ProblemOut}, summary="Create a problem (from a cluster or cases)")
def create_problem(request, payload: ProblemIn):
    _lead(request)
    cluster = None
    if payload.cluster is not None:
        cluster = Cluster.objects.filter(pk=payload.cluster).first()
        if cluster is None:
            raise NotFound("Cluster does not exist", code="cluster_not_found")
    p = services.problem_create(
        title=payload.title,
        owner=_user(payload.owner) or request.auth,
        root_cause=payload.root_cause,
        action=payload.action,
        cluster=cluster,
        cases=_cases(payload.cases),
        actor=request.auth,
    )
    return Status(201, _problem_dict(_problem(p.pk)))


@router.get("/problems/{pk}", response=ProblemOut, summary="One problem")
def get_problem(request, pk: int):
    return _problem_dict(_problem(pk))


@router.patch("/problems/{pk}", response=ProblemOut, summary="Change a problem")
def patch_problem(request, pk: int, payload: ProblemPatch):
    _lead(request)
    fields = payload.dict(exclude_unset=True)
    state = fields.pop("state", None)
    # null for a text field means "leave it" (the columns are not nullable); owner null unassigns.
    fields = {k: v for k, v in fields.items() if v is not None or k == "owner"}
    if "owner" in fields:
        fields["owner"] = _user(fields["owner"])
    services.problem_update(problem=_problem(pk), actor=request.auth, state=state, **fields)
    return _problem_dict(_problem(pk))


@router.post(
    "/problems/{pk}/resolve", response=ProblemOut, summary="Resolve: every linked open case is told, once"
)
def resolve_problem(request, pk: int, payload: ResolveIn):
    _lead(request)
    services.problem_resolve(problem=_problem(pk), note=payload.note, actor=request.auth)
    return _problem_dict(_problem(pk))


@router.post("/problems/{pk}/cases", response=ProblemOut, summary="Link cases (accepts proposals too)")
def link_problem_cases(request, pk: int, payload: LinkIn):
    _lead(request)
    services.problem_link_cases(problem=_problem(pk), cases=_cases(payload.cases), actor=request.auth)
    return _problem_dict(_problem(pk))


@router.get(
    "/clusters", response=list[ClusterOut], summary="Recent clusters of similar cases, not yet problems"
)
def list_clusters(request):
    return [
        {
            "id": c.pk,
            "label": c.label,
            "size": c.size,
            "last_case_at": c.last_case_at,
            "alerted": c.alerted_at is not None,
            "cases": [x.reference for x in c.cases],
        }
        for c in insights_selectors.open_clusters()
    ]
