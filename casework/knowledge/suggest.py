"""Suggestions: articles (and similar resolved cases) for a question, for customers while they type and
for agents on the case page."""

from __future__ import annotations

import secrets

from django.core import signing
from django.urls import reverse

from casework.cases.models import Case, Message, MessageKind
from casework.cases.status import Status
from casework.search import selectors as case_search
from casework.search.documents import highlight, keywords

from .models import Article
from .search import suggest_articles

MAX_QUERY = 500
SESSION_SALT = "casework.knowledge.suggestion-session"


def new_session_token() -> str:
    """A deflection session token for one visit of the web form: random, signed by the server, so the
    suggestion endpoints record only sessions a form page handed out (≤ 64 characters)."""
    return signing.Signer(salt=SESSION_SALT).sign(secrets.token_urlsafe(12))


def valid_session_token(token: str) -> str:
    """`token` if this server signed it, else "" (a forged or truncated token records nothing)."""
    if not token or len(token) > 64:
        return ""
    try:
        signing.Signer(salt=SESSION_SALT).unsign(token)
    except signing.BadSignature:
        return ""
    return token


def suggestions_for_visitor(query: str, token: str = "") -> list[dict]:
    """What the web form and the portal show while a customer types (`find_suggestions`), recorded
    against the visit's deflection session when the token is one of ours: the articles shown now, and
    (through the token in their URLs) the one the customer opens."""
    from . import services

    token = valid_session_token(token)
    query = " ".join((query or "").split())[:MAX_QUERY]
    found = find_suggestions(query, token) if len(query) >= 3 else []
    if token and found:
        services.suggestion_shown(token=token, query=query, article_ids=[f["id"] for f in found])
    return found


def public_url(article: Article, token: str = "") -> str:
    url = reverse("knowledge:public_article", args=[article.slug])
    return f"{url}?s={token}" if token else url


def find_suggestions(query: str, token: str = "") -> list[dict]:
    """The web form's contract (`portal/webform.py::suggestions`): up to 5 public, published articles,
    best first, as {"title", "url", "excerpt"}. `token` (the form's suggestion session) is carried in
    the URLs so an opened article is recorded against it."""
    query = " ".join((query or "").split())[:MAX_QUERY]
    articles = suggest_articles(query, public_only=True, limit=5)
    words = keywords(query)
    return [
        {
            "id": a.pk,
            "title": a.title,
            "url": public_url(a, token),
            "excerpt": _text_excerpt(a.plain, words),
        }
        for a in articles
    ]


def _text_excerpt(text: str, words: list[str]) -> str:
    import html

    # The portal's script inserts the excerpt as text: give it plain text, not markup.
    marked = highlight(text, words, width=160)
    return html.unescape(marked.replace("<mark>", "").replace("</mark>", ""))


def case_text(case: Case) -> str:
    """What a case is about: its subject, description and the customer's latest message."""
    last = (
        Message.objects.filter(case=case, kind=MessageKind.CUSTOMER)
        .order_by("-created_at", "-id")
        .values_list("body", flat=True)
        .first()
    )
    parts = [case.subject, case.subject, case.description]  # the subject counts twice: it is the summary
    if last and last != case.description:
        parts.append(last[:4000])
    return "\n".join(p for p in parts if p)


def for_case(case: Case, *, articles: int = 3, cases: int = 3) -> dict:
    """Top articles (published, internal ones too) and similar resolved cases for the case page."""
    text = case_text(case)
    found = suggest_articles(text, public_only=False, limit=articles)
    resolved = Case.objects.filter(
        status__in=[Status.RESOLVED, Status.CLOSED], merged_into__isnull=True
    ).exclude(pk=case.pk)
    similar = case_search.similar(text, resolved, limit=cases)
    answers = dict(
        Message.objects.filter(case__in=similar, kind=MessageKind.REPLY)
        .order_by("case_id", "created_at", "id")
        .values_list("case_id", "body")
    )  # the last reply per case wins in the dict
    return {
        "articles": found,
        "similar": [{"case": c, "answer": answers.get(c.pk, "")} for c in similar],
    }
