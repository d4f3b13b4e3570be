"""Search API: ranked case search with highlighted excerpts (the engine behind `GET /cases?q=`)."""

from __future__ import annotations

from ninja import Field, Query, Router, Schema

from casework.cases import selectors
from casework.cases.models import Case
from casework.core.errors import ValidationFailed
from casework.search import selectors as search

from ..filters import CaseFilterQuery, case_filter

router = Router(tags=["search"])


class CaseSearchQuery(CaseFilterQuery):
    q: str = Field(max_length=200)
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0)


class CaseHitOut(Schema):
    reference: str
    subject: str
    status: str
    priority: str
    rank: float
    subject_html: str = Field(description="The subject, HTML-escaped, matched words in <mark>")
    excerpt: str = Field(description="HTML-escaped excerpt around the first match, matched words in <mark>")


class CaseSearchOut(Schema):
    query: str
    corrected_query: str | None = Field(description="Set when the query found nothing and a spelling did")
    count: int
    search_cut: bool = Field(
        description="More cases matched than CASEWORK_SEARCH_RANK_LIMIT: count and items are the most "
        "recent that many, best first"
    )
    items: list[CaseHitOut]


def _run(filters: CaseSearchQuery, q: str, user) -> tuple[int, list[Case], bool]:
    qs, cut = selectors.case_list_window(filters=case_filter(filters, q=q, ordering="relevance"), user=user)
    return qs.count(), list(qs[filters.offset : filters.offset + filters.limit]), cut


@router.get("/search/cases", response=CaseSearchOut, summary="Ranked full-text case search")
def search_cases(request, filters: Query[CaseSearchQuery]):
    q = filters.q.strip()
    if not q:
        raise ValidationFailed("q must not be empty", code="required", details={"field": "q"})
    count, page, cut = _run(filters, q, request.auth)
    corrected = None
    if count == 0:
        corrected = search.correct(q)
        if corrected:
            count, page, cut = _run(filters, corrected, request.auth)
    found = search.hits(page, corrected or q)
    return {
        "query": q,
        "corrected_query": corrected,
        "count": count,
        "search_cut": cut,
        "items": [
            {
                "reference": c.reference,
                "subject": c.subject,
                "status": c.status,
                "priority": c.priority,
                "rank": round(float(c.search_rank), 6),
                "subject_html": found[c.pk].subject,
                "excerpt": found[c.pk].excerpt,
            }
            for c in page
        ],
    }
