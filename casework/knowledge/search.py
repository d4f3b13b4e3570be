"""Article search and suggestions, on SQLite FTS5 (porter stemming) or PostgreSQL tsvector ('english').

Two ways to ask:
* `search_articles(text)` — an agent typing in the knowledge base: every word, each as a prefix;
* `suggest_articles(text)` — a customer's question or a case's text: any of its meaningful words
  (stop words dropped), ranked by bm25 / ts_rank so the articles sharing the most specific words come
  first. Paraphrases share few exact words; stemming ("exporting" → "export") does much of the work.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from casework.search.documents import WORD, keywords

from .models import Article, ArticleStatus, Visibility

# Title and tags outweigh the body (bm25 weights; PostgreSQL's are the A/B/D weights of the vector).
FTS5_WEIGHTS = "6.0, 3.0, 1.0"
TS_WEIGHTS = "'{0.1, 0.2, 0.5, 1.0}'"


def published(*, public_only: bool = False) -> QuerySet[Article]:
    qs = Article.objects.filter(status=ArticleStatus.PUBLISHED)
    return qs.filter(visibility=Visibility.PUBLIC) if public_only else qs


def _words(text: str) -> list[str]:
    return [w.casefold() for w in WORD.findall(text or "")]


def _ranked(qs: QuerySet[Article], match: str, tsq: str) -> QuerySet[Article]:
    table = Article._meta.db_table
    if connection.vendor == "postgresql":
        return qs.extra(
            where=[f"{table}.document @@ to_tsquery('english', %s)"],
            params=[tsq],
            select={"search_rank": f"ts_rank({TS_WEIGHTS}, {table}.document, to_tsquery('english', %s))"},
            select_params=[tsq],
        ).order_by("-search_rank", "title")
    return qs.extra(
        tables=["knowledge_article_fts"],
        where=[f"knowledge_article_fts.rowid = {table}.id", "knowledge_article_fts MATCH %s"],
        params=[match],
        select={"search_rank": f"-bm25(knowledge_article_fts, {FTS5_WEIGHTS})"},
    ).order_by("-search_rank", "title")


def search_articles(text: str, qs: QuerySet[Article] | None = None) -> QuerySet[Article]:
    """Every typed word as a prefix (the agent knowledge-base search box)."""
    qs = qs if qs is not None else Article.objects.all()
    words = list(dict.fromkeys(_words(text)))[:10]
    if not words:
        return qs.order_by("title")
    match = " ".join(f'"{w}"*' for w in words)
    tsq = " & ".join(f"{w}:*" for w in words)
    return _ranked(qs, match, tsq)


def suggest_articles(text: str, *, public_only: bool, limit: int = 5, qs=None) -> list[Article]:
    """The published articles that best answer a question (any of its meaningful words)."""
    words = keywords(text)
    if not words:
        return []
    match = " OR ".join(f'"{w}"' for w in words)
    tsq = " | ".join(words)
    base = qs if qs is not None else published(public_only=public_only)
    return list(_ranked(base, match, tsq)[:limit])
