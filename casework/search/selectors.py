"""Case search, one selector for both databases: SQLite FTS5 or PostgreSQL tsvector + GIN.

`matching(qs, text)` narrows any case queryset (the queue's and the API's filters included) to the cases
whose document matches every typed word as a prefix, and annotates `search_rank` (higher is better): the
case whose reference is exactly what was typed first, then reference and subject matches, then tags,
people and the rest of the text. `cases.selectors.case_list` calls it for the `q` of the queue and the API.
`hits` gives the highlighted subject and excerpt for the cases of one page; `correct` proposes a spelling
for a short query that found nothing (rapidfuzz against recent subjects' words).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import FloatField, QuerySet, Value
from django.utils.safestring import SafeString, mark_safe

from casework.cases.models import Case

from .documents import WORD, ParsedQuery, fts5_match, highlight, keywords, mark, parse_query, tsquery
from .models import CaseDocument

# The exact reference outranks any text score (bm25 and ts_rank stay far below this).
EXACT_REFERENCE_BOOST = 1000.0
# bm25 column weights for reference, subject, people, tags, body (the PostgreSQL weights A/A/C/B/D).
FTS5_WEIGHTS = "10.0, 10.0, 2.0, 4.0, 1.0"
# PostgreSQL ts_rank weights for {D, C, B, A}.
TS_WEIGHTS = "'{0.05, 0.2, 0.4, 1.0}'"
_PG_DOCUMENT = "search_casedocument.document"
FUZZY_SUBJECTS = 5000
FUZZY_MIN_SCORE = 75


def parse(text: str) -> ParsedQuery:
    return parse_query(text, prefix=settings.CASEWORK["REFERENCE_PREFIX"])


def matching(qs: QuerySet[Case], text: str | ParsedQuery, *, rank: bool = True) -> QuerySet[Case]:
    """`qs` narrowed to the cases matching `text`, annotated with `search_rank` (not ordered). With
    `rank=False` only narrowed (no rank work: what a count or a recency order needs)."""
    query = text if isinstance(text, ParsedQuery) else parse(text)
    if query.empty:
        # Punctuation only: nothing to look for (an empty query is the caller's "no search").
        qs = qs.annotate(search_rank=Value(0.0, output_field=FloatField()))
        return qs.none() if query.text else qs
    table = Case._meta.db_table
    number = query.number if query.number is not None else -1
    boost = f"(CASE WHEN {table}.number = %s THEN {EXACT_REFERENCE_BOOST} ELSE 0.0 END)"
    if connection.vendor == "postgresql":
        select = {
            "search_rank": f"{boost} + ts_rank({TS_WEIGHTS}, search_casedocument.document,"
            " to_tsquery('simple', %s))"
        }
        return qs.extra(
            tables=[CaseDocument._meta.db_table],
            where=[
                f"search_casedocument.case_id = {table}.id",
                "search_casedocument.document @@ to_tsquery('simple', %s)",
            ],
            params=[tsquery(query)],
            select=select if rank else None,
            select_params=[number, tsquery(query)] if rank else None,
        )
    return qs.extra(
        tables=["search_case_fts"],
        where=[f"search_case_fts.rowid = {table}.id", "search_case_fts MATCH %s"],
        params=[fts5_match(query)],
        select={"search_rank": f"{boost} - bm25(search_case_fts, {FTS5_WEIGHTS})"} if rank else None,
        select_params=[number] if rank else None,
    )


def ranked(qs: QuerySet[Case], text: str | ParsedQuery) -> QuerySet[Case]:
    """`matching`, best first (newest first among equals)."""
    return matching(qs, text).order_by("-search_rank", "-created_at", "-id")


def ranked_window(qs: QuerySet[Case], text: str | ParsedQuery, *, limit: int | None = None):
    """`ranked` over at most `limit` (CASEWORK_SEARCH_RANK_LIMIT; 0: every match) matches: when the
    query and the filters match more cases, only the newest `limit` of them are ranked and returned.
    Returns the queryset and whether it was cut (the caller says "the N most recent of more matches").

    Why: bm25 / ts_rank is computed per matching row and the rows are sorted whole, so a word in every
    case cost ~0.4 s at 100,000 cases (bench/bench_search.py). Finding the cut is one walk of the index in
    id order, newest first, that stops after `limit` rows (no rank, no sort); the ranked query and its
    count then touch only the rows above it. A reference is a handful of rows: never cut."""
    query = text if isinstance(text, ParsedQuery) else parse(text)
    limit = settings.CASEWORK["SEARCH_RANK_LIMIT"] if limit is None else limit
    if query.empty or limit <= 0:  # 0: rank every match
        return ranked(qs, query), False
    newest = _newest_first(matching(qs.order_by(), query, rank=False))
    cut = list(newest.values_list("id", flat=True)[limit : limit + 1])
    if cut:
        # On the index's key, so the full-text scan itself starts above the cut (FTS5 takes a rowid
        # range; on PostgreSQL the case id range joins the GIN bitmap). The exact reference stays in.
        key = "search_casedocument.case_id" if connection.vendor == "postgresql" else "search_case_fts.rowid"
        if query.number is None:
            qs = qs.extra(where=[f"{key} > %s"], params=[cut[0]])
        else:
            qs = qs.extra(
                where=[f"({key} > %s OR {Case._meta.db_table}.number = %s)"], params=[cut[0], query.number]
            )
    return ranked(qs, query), bool(cut)


def _newest_first(qs: QuerySet[Case]) -> QuerySet[Case]:
    # Order by the index's own key (FTS5 rowid / the document's case id), not cases_case.id: SQLite then
    # walks the full-text index backwards and stops at the limit instead of sorting every match.
    if connection.vendor == "postgresql":
        return qs.extra(order_by=["-search_casedocument.case_id"])
    return qs.extra(order_by=["-search_case_fts.rowid"])


@dataclass(frozen=True)
class Hit:
    subject: SafeString
    excerpt: SafeString


def hits(cases: list[Case], text: str | ParsedQuery) -> dict[int, Hit]:
    """Highlighted subject and text excerpt for each case of a page (one query for their documents)."""
    query = text if isinstance(text, ParsedQuery) else parse(text)
    if query.empty or not cases:
        return {}
    documents = dict(
        CaseDocument.objects.filter(case_id__in=[c.pk for c in cases]).values_list("case_id", "body")
    )
    terms = query.terms
    out = {}
    for case in cases:
        body = documents.get(case.pk, case.description or "")
        out[case.pk] = Hit(
            subject=mark_safe(mark(case.subject, terms)), excerpt=mark_safe(highlight(body, terms))
        )
    return out


def correct(text: str, qs: QuerySet[Case] | None = None) -> str | None:
    """A spelling of a short query (up to three words) that may find something: each word not seen in
    the subjects of the most recent cases is replaced by the closest one there (rapidfuzz ratio ≥ 75,
    words of four letters or more). None when nothing changes."""
    from rapidfuzz import fuzz, process

    query = parse(text)
    if query.empty or len(query.terms) > 3 or query.number is not None:
        return None
    base = qs if qs is not None else Case.objects.all()
    subjects = base.order_by("-created_at").values_list("subject", flat=True)[:FUZZY_SUBJECTS]
    vocabulary = {w.casefold() for s in subjects for w in WORD.findall(s) if len(w) >= 3}
    if not vocabulary:
        return None
    words = sorted(vocabulary)
    corrected, changed = [], False
    for term in query.terms:
        if term in vocabulary or len(term) < 4 or any(w.startswith(term) for w in words):
            corrected.append(term)
            continue
        best = process.extractOne(term, words, scorer=fuzz.ratio, score_cutoff=FUZZY_MIN_SCORE)
        if best is None:
            corrected.append(term)
        else:
            corrected.append(best[0])
            changed = True
    return " ".join(corrected) if changed else None


def similar(text: str, qs: QuerySet[Case], *, limit: int = 3) -> list[Case]:
    """The cases of `qs` sharing the most specific words with `text` (any of its keywords, each as a
    prefix), best first: similar resolved cases for the case page and drafted replies."""
    words = keywords(text, limit=16)
    if not words:
        return []
    table = Case._meta.db_table
    if connection.vendor == "postgresql":
        tsq = " | ".join(f"{w}:*" for w in words)
        qs = qs.extra(
            tables=[CaseDocument._meta.db_table],
            where=[
                f"search_casedocument.case_id = {table}.id",
                "search_casedocument.document @@ to_tsquery('simple', %s)",
            ],
            params=[tsq],
            select={"search_rank": f"ts_rank({TS_WEIGHTS}, {_PG_DOCUMENT}, to_tsquery('simple', %s))"},
            select_params=[tsq],
        )
    else:
        qs = qs.extra(
            tables=["search_case_fts"],
            where=[f"search_case_fts.rowid = {table}.id", "search_case_fts MATCH %s"],
            params=[" OR ".join(f'"{w}"*' for w in words)],
            select={"search_rank": f"-bm25(search_case_fts, {FTS5_WEIGHTS})"},
        )
    return list(qs.order_by("-search_rank", "-created_at")[:limit])
