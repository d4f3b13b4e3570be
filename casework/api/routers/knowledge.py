"""Knowledge API: articles CRUD and search, suggestions for a case, macros (canned responses with field
changes) listed and applied, reply drafts. Writes go through `casework.knowledge.services`."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from ninja import Field, Query, Router, Schema, Status

from casework.cases import selectors
from casework.core.errors import NotFound
from casework.knowledge import drafting, services, suggest
from casework.knowledge.models import Article, ReplyDraft
from casework.knowledge.search import search_articles
from casework.people.permissions import LEAD, require_role

router = Router(tags=["knowledge"])


class ArticleIn(Schema):
    title: str = Field(max_length=200)
    body: str = ""
    category: str | None = None
    tags: list[str] = Field(default_factory=list)
    visibility: str = "internal"
    status: str = "draft"
    review_at: dt.date | None = None


class ArticlePatch(Schema):
    title: str | None = Field(default=None, max_length=200)
    body: str | None = None
    category: str | None = None
    tags: list[str] | None = None
    visibility: str | None = None
    status: str | None = None
    review_at: dt.date | None = None


class ArticleOut(Schema):
    id: int
    slug: str
    title: str
    body: str
    body_html: str
    category: str | None
    tags: list[str]
    visibility: str
    status: str
    owner: str | None
    review_at: dt.date | None
    linked_cases: list[str]
    updated_at: dt.datetime


class ArticleListQuery(Schema):
    q: str = Field(default="", max_length=200)
    status: Literal["", "draft", "published", "archived"] = ""
    visibility: Literal["", "public", "internal"] = ""
    limit: int = Field(default=25, ge=1, le=100)
    # Bounded like every list: a 30-digit offset is past any database's integer (a 500 on SQLite).
    offset: int = Field(default=0, ge=0, le=1_000_000_000)


class ArticleListOut(Schema):
    count: int
    items: list[ArticleOut]


def _article_dict(a: Article) -> dict:
    return {
        "id": a.pk,
        "slug": a.slug,
        "title": a.title,
        "body": a.body,
        "body_html": a.body_html,
        "category": a.category.slug if a.category_id else None,
        "tags": [t.name for t in a.tags.all()],
        "visibility": a.visibility,
        "status": a.status,
        "owner": a.owner.username if a.owner_id else None,
        "review_at": a.review_at,
        "linked_cases": [c.reference for c in a.linked_cases.all()],
        "updated_at": a.updated_at,
    }


def _article(pk: int) -> Article:
    article = Article.objects.select_related("category", "owner").filter(pk=pk).first()
    if article is None:
        raise NotFound(f"No article {pk}", code="article_not_found")
    return article


@router.get("/articles", response=ArticleListOut, summary="List or search articles")
def list_articles(request, filters: Query[ArticleListQuery]):
    qs = Article.objects.select_related("category", "owner")
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.visibility:
        qs = qs.filter(visibility=filters.visibility)
    qs = search_articles(filters.q, qs) if filters.q.strip() else qs.order_by("title")
    page = qs.prefetch_related("tags", "linked_cases")[filters.offset : filters.offset + filters.limit]
    return {"count": qs.count(), "items": [_article_dict(a) for a in page]}


@router.post("/articles", response={201: ArticleOut}, summary="Write an article")
def create_article(request, payload: ArticleIn):
    data = payload.model_dump()
    article = services.article_create(
        title=data.pop("title"), body=data.pop("body"), actor=request.auth, **data
    )
    return Status(201, _article_dict(_article(article.pk)))


@router.get("/articles/{pk}", response=ArticleOut, summary="One article")
def get_article(request, pk: int):
    return _article_dict(_article(pk))


@router.patch("/articles/{pk}", response=ArticleOut, summary="Change an article (publish, archive, edit)")
def patch_article(request, pk: int, payload: ArticlePatch):
    changes = payload.model_dump(exclude_unset=True)
    services.article_update(article=_article(pk), actor=request.auth, **changes)
    return _article_dict(_article(pk))


@router.delete("/articles/{pk}", response={204: None}, summary="Delete an article")
def delete_article(request, pk: int):
    require_role(request.auth, LEAD, "deleting articles (archive one instead)")
    services.article_delete(article=_article(pk), actor=request.auth)
    return Status(204, None)


class SuggestionArticle(Schema):
    id: int
    title: str
    visibility: str
    url: str | None


class SuggestionCase(Schema):
    reference: str
    subject: str
    answer: str


class CaseSuggestionsOut(Schema):
    articles: list[SuggestionArticle]
    similar_cases: list[SuggestionCase]


@router.get(
    "/cases/{reference}/suggestions", response=CaseSuggestionsOut, summary="Articles and similar cases"
)
def case_suggestions(request, reference: str):
    found = suggest.for_case(selectors.case_get(reference, user=request.auth))
    return {
        "articles": [
            {
                "id": a.pk,
                "title": a.title,
                "visibility": a.visibility,
                "url": suggest.public_url(a) if a.is_public else None,
            }
            for a in found["articles"]
        ],
        "similar_cases": [
            {"reference": s["case"].reference, "subject": s["case"].subject, "answer": s["answer"]}
            for s in found["similar"]
        ],
    }


class MacroOut(Schema):
    id: int
    name: str
    text: str
    shared: bool
    internal: bool
    set_status: str
    set_priority: str
    add_tags: list[str]
    remove_tags: list[str]
    set_team: str | None


class MacroApplyIn(Schema):
    body: str | None = Field(default=None, description="The text as edited; default: the macro's, filled in")
    cc: list[str] = Field(default_factory=list)


class MacroApplyOut(Schema):
    reference: str
    status: str
    priority: str
    message_id: int | None


@router.get("/macros", response=list[MacroOut], summary="Canned responses and macros (shared and mine)")
def list_macros(request):
    return [
        {
            "id": m.pk,
            "name": m.name,
            "text": m.text,
            "shared": m.owner_id is None,
            "internal": m.internal,
            "set_status": m.set_status,
            "set_priority": m.set_priority,
            "add_tags": m.add_tags,
            "remove_tags": m.remove_tags,
            "set_team": m.set_team.name if m.set_team_id else None,
        }
        for m in services.macros_for(request.auth).select_related("set_team")
    ]


@router.post("/cases/{reference}/macros/{pk}", response=MacroApplyOut, summary="Apply a macro in one write")
def apply_macro(request, reference: str, pk: int, payload: MacroApplyIn):
    case = selectors.case_get(reference, user=request.auth, write=True)
    macro = services.macros_for(request.auth).filter(pk=pk).first()
    if macro is None:
        raise NotFound(f"No macro {pk}", code="macro_not_found")
    message = services.macro_apply(
        case=case, macro=macro, actor=request.auth, body=payload.body, cc=payload.cc
    )
    case = selectors.case_get(reference)
    return {
        "reference": case.reference,
        "status": case.status,
        "priority": case.priority,
        "message_id": message.pk if message else None,
    }


class DraftOut(Schema):
    id: int
    provider: str
    text: str
    sources: list[dict]
    error: str


class DraftDecisionIn(Schema):
    sent_text: str | None = Field(default=None, description="What was sent; null when discarded")


@router.post("/cases/{reference}/drafts", response={201: DraftOut}, summary="Propose a reply (never sent)")
def draft_reply(request, reference: str):
    draft = drafting.propose(
        case=selectors.case_get(reference, user=request.auth, write=True), agent=request.auth
    )
    return Status(
        201,
        {
            "id": draft.pk,
            "provider": draft.provider,
            "text": draft.text,
            "sources": draft.sources,
            "error": draft.error,
        },
    )


@router.post("/drafts/{pk}/decision", response=DraftOut, summary="Record what became of a draft")
def draft_decision(request, pk: int, payload: DraftDecisionIn):
    # The agent who asked for it records its outcome; another agent's draft id is a 404.
    draft = ReplyDraft.objects.filter(pk=pk, requested_by=request.auth).first()
    if draft is None:
        raise NotFound(f"No draft {pk}", code="draft_not_found")
    draft = services.draft_decided(draft=draft, sent_text=payload.sent_text)
    return {
        "id": draft.pk,
        "provider": draft.provider,
        "text": draft.text,
        "sources": draft.sources,
        "error": draft.error,
    }


class GapsOut(Schema):
    since: dt.datetime
    cases: int
    gaps: int
    by_category: dict[str, int]
    examples: dict[str, list[str]]


class GapsQuery(Schema):
    days: int = 30
    team: int | None = Field(default=None, ge=1, le=2**63 - 1, description="One of your teams (team id)")


@router.get(
    "/knowledge/gaps",
    response=GapsOut,
    summary="Resolved cases no article answers, by category",
    description="A lead sees the cases of the teams they lead (`team`: one of them; another team is a 403 "
    "`not_your_team`); managers and admins every team.",
)
def knowledge_gaps(request, query: Query[GapsQuery]):
    require_role(request.auth, LEAD, "knowledge reports")
    from casework.knowledge.gaps import knowledge_gaps as report
    from casework.people.permissions import require_report_team

    allowed = require_report_team(request.auth, query.team)
    teams = frozenset([query.team]) if query.team is not None else allowed
    return report(days=max(1, min(query.days, 365)), teams=teams).__dict__


class DeflectionOut(Schema):
    since: dt.datetime
    sessions: int
    opened: int
    opened_then_submitted: int
    deflected: int


@router.get("/knowledge/deflection", response=DeflectionOut, summary="Web-form suggestions opened vs sent")
def knowledge_deflection(request, days: int = 30):
    require_role(request.auth, LEAD, "knowledge reports")
    from casework.knowledge.gaps import deflection

    return deflection(days=max(1, min(days, 365))).__dict__
