"""Drafted replies: a proposal the agent edits and sends, never sent by itself.

`propose(case, agent)` writes a `ReplyDraft`. The offline provider (the default) assembles the draft from
the best-matching articles and the answers of similar resolved cases and cites them as its sources.
With `CASEWORK_DRAFT_URL` set, an OpenAI-compatible chat-completions endpoint writes it instead — called
by the worker (`draft_with_http_provider` task), never inside a web request: the draft starts with the
offline text and `ready=False`, and the worker replaces the text (or records the error and keeps the
offline text). Timeouts, HTTP errors and malformed answers become `error`, never an exception for the
agent. What the agent did with each draft is recorded (`services.draft_decided`).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django_tasks import task

from casework.cases.models import Case

from . import composer, suggest
from .models import ReplyDraft


@dataclass
class Draft:
    text: str
    sources: list[dict] = field(default_factory=list)


class DraftError(Exception):
    pass


def _sources(case: Case) -> tuple[list, list[dict]]:
    found = suggest.for_case(case, articles=3, cases=2)
    sources = [
        {
            "kind": "article",
            "id": a.pk,
            "title": a.title,
            "url": settings.BASE_URL + suggest.public_url(a) if a.is_public else "",
        }
        for a in found["articles"]
    ] + [
        {"kind": "case", "id": s["case"].pk, "title": f"{s['case'].reference} {s['case'].subject}", "url": ""}
        for s in found["similar"]
    ]
    return [found["articles"], found["similar"]], sources


def offline_draft(case: Case, agent: Any) -> Draft:
    """Greeting, the gist of the best article (with its public link), a similar case's answer when no
    article fits, sign-off. Sources listed in the order used."""
    from .services import placeholder_values

    (articles, similar), sources = _sources(case)
    values = placeholder_values(case, agent)
    parts = [composer.fill("Hi {customer_name},", values), "Thanks for getting in touch about {subject}."]
    parts[1] = composer.fill(parts[1], values)
    if articles:
        best = articles[0]
        gist = best.plain[:700].rsplit(" ", 1)[0] + ("…" if len(best.plain) > 700 else "")
        parts.append(gist)
        if best.is_public:
            # The customer reads this in a mail: the article's full address (CASEWORK_BASE_URL).
            url = settings.BASE_URL + suggest.public_url(best)
            parts.append(f"The full steps are in our article “{best.title}”: {url}")
    elif similar and similar[0]["answer"]:
        parts.append(similar[0]["answer"][:1200])
    else:
        parts.append("We're looking into this and will get back to you shortly.")
    parts.append(composer.fill("Best regards,\n{agent_name}", values))
    return Draft(text="\n\n".join(parts), sources=sources)


def http_draft(case: Case, agent: Any, *, url: str, model: str, api_key: str, timeout: float) -> Draft:
    """Ask an OpenAI-compatible endpoint (`POST {url}/chat/completions`) for a draft grounded in the same
    sources the offline provider would use."""
    (articles, similar), sources = _sources(case)
    context = "\n\n".join(
        [f"ARTICLE {a.title}:\n{a.plain[:2000]}" for a in articles]
        + [f"PAST CASE {s['case'].reference} answer:\n{s['answer'][:1500]}" for s in similar if s["answer"]]
    )
    body = {
        "model": model,
        "temperature": 0.2,
        "messages": [
            {
                "role": "system",
                "content": "You draft replies for a support agent, who will edit them before sending. "
                "Use only the facts in the sources; if they do not answer the question, say that the team "
                "is looking into it. Plain text, no markdown headings.",
            },
            {
                "role": "user",
                "content": f"Customer: {case.customer.name}\nSubject: {case.subject}\n\n"
                f"{suggest.case_text(case)[:4000]}\n\nSources:\n{context or '(none)'}",
            },
        ],
    }
    request = urllib.request.Request(
        url.rstrip("/") + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {api_key}"} if api_key else {}),
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read(2_000_000))
    except urllib.error.HTTPError as exc:
        raise DraftError(f"draft provider answered HTTP {exc.code}") from exc
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        raise DraftError(f"draft provider unreachable or too slow: {exc}") from exc
    except ValueError as exc:
        raise DraftError("draft provider answered something that is not JSON") from exc
    try:
        text = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise DraftError("draft provider's answer has no choices[0].message.content") from exc
    if not isinstance(text, str) or not text.strip():
        raise DraftError("draft provider returned an empty draft")
    return Draft(text=text.strip()[:20_000], sources=sources)


def propose(*, case: Case, agent: Any) -> ReplyDraft:
    offline = offline_draft(case, agent)
    conf = settings.CASEWORK
    if not conf["DRAFT_URL"]:
        return ReplyDraft.objects.create(
            case=case, requested_by=agent, provider="offline", text=offline.text, sources=offline.sources
        )
    with transaction.atomic():  # the draft and its task row together, or neither
        draft = ReplyDraft.objects.create(
            case=case,
            requested_by=agent,
            provider="http",
            text=offline.text,
            sources=offline.sources,
            ready=False,
        )
        # A task row in this transaction; the worker calls the endpoint (no HTTP inside a request).
        draft_with_http_provider.enqueue(draft.pk)
    return draft


def complete_http_draft(draft_id: int) -> ReplyDraft:
    draft = ReplyDraft.objects.select_related("case__customer", "requested_by").get(pk=draft_id)
    conf = settings.CASEWORK
    try:
        result = http_draft(
            draft.case,
            draft.requested_by,
            url=conf["DRAFT_URL"],
            model=conf["DRAFT_MODEL"],
            api_key=conf["DRAFT_API_KEY"],
            timeout=conf["DRAFT_TIMEOUT_SECONDS"],
        )
    except DraftError as exc:
        draft.error = str(exc)[:500]
        draft.provider = "offline"  # the offline text stays; the agent sees why
    else:
        draft.text, draft.sources = result.text, result.sources
    draft.ready = True
    draft.save(update_fields=["text", "sources", "error", "provider", "ready"])
    return draft


@task()
def draft_with_http_provider(draft_id: int) -> str:
    draft = complete_http_draft(draft_id)
    return draft.error or "ok"
