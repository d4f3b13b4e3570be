"""Writes of the knowledge base: articles, their links to cases, macros applied to a case, suggestion
sessions and reply drafts. Anything that changes a case goes through the case doors, inside one unit of
work, so a macro's reply, status, priority, tags and team stand or fall together."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from casework.cases import services as case_services
from casework.cases.models import Case, Category, EventKind, Message, MessageKind, Tag
from casework.cases.services.unit_of_work import unit_of_work
from casework.cases.status import Priority, Status
from casework.core.errors import NotFound, ValidationFailed

from . import composer
from .models import (
    Article,
    ArticleLink,
    ArticleStatus,
    DraftOutcome,
    Macro,
    ReplyDraft,
    SuggestionSession,
    Visibility,
)
from .render import plain_text, render_markdown

# --------------------------------------------------------------------------------------------------
# articles
# --------------------------------------------------------------------------------------------------

ARTICLE_FIELDS = {"title", "body", "category", "tags", "visibility", "status", "owner", "review_at"}

logger = logging.getLogger(__name__)


def _unique_slug(title: str, exclude: int | None = None) -> str:
    base = slugify(title, allow_unicode=True)[:200] or "article"
    slug, n = base, 1
    while Article.objects.filter(slug=slug).exclude(pk=exclude).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _category(value: Any) -> Category | None:
    if value in (None, ""):
        return None
    if isinstance(value, Category):
        return value
    found = (
        Category.objects.filter(slug=str(value)).first() or Category.objects.filter(name=str(value)).first()
    )
    if found is None:
        raise ValidationFailed(f"Unknown category '{value}'", code="invalid_category")
    return found


def _tag_rows(names: Iterable[str]) -> list[Tag]:
    rows = []
    for raw in names:
        name = slugify(str(raw), allow_unicode=True)[:50]
        if not name:
            raise ValidationFailed(f"'{raw}' is not a usable tag", code="invalid_tag")
        rows.append(Tag.objects.get_or_create(name=name)[0])
    return rows


def _apply(article: Article, changes: dict[str, Any]) -> list[Tag] | None:
    """Validate `changes` and set them on `article` (unsaved); the tags to set after saving, if given."""
    unknown = set(changes) - ARTICLE_FIELDS
    if unknown:
        raise ValidationFailed(
            f"Cannot set {', '.join(sorted(unknown))}",
            code="unknown_field",
            details={"fields": sorted(unknown)},
        )
    values: dict[str, Any] = {}
    if "title" in changes:
        title = " ".join(str(changes["title"] or "").split())
        if not title:
            raise ValidationFailed("title must not be empty", code="required", details={"field": "title"})
        if len(title) > 200:
            raise ValidationFailed("title is longer than 200 characters", code="too_large")
        values["title"] = title
    if "body" in changes:
        values["body"] = str(changes["body"] or "").replace("\x00", "")
    if "visibility" in changes:
        if changes["visibility"] not in Visibility.values:
            raise ValidationFailed("visibility must be public or internal", code="invalid_visibility")
        values["visibility"] = changes["visibility"]
    if "status" in changes:
        if changes["status"] not in ArticleStatus.values:
            raise ValidationFailed(
                "status must be draft, published or archived",
                code="invalid_status",
                details={"allowed": list(ArticleStatus.values)},
            )
        if changes["status"] == ArticleStatus.PUBLISHED and article.status != ArticleStatus.PUBLISHED:
            values["published_at"] = timezone.now()
        values["status"] = changes["status"]
    if "category" in changes:
        values["category"] = _category(changes["category"])
    if "owner" in changes:
        values["owner"] = changes["owner"]
    if "review_at" in changes:
        values["review_at"] = changes["review_at"] or None
    tags = _tag_rows(changes["tags"]) if "tags" in changes else None
    if tags is not None:
        values["keywords"] = " ".join(t.name.replace("-", " ") for t in tags)
    body_html = render_markdown(values.get("body", article.body))
    values.update(body_html=body_html, plain=plain_text(body_html))
    for name, value in values.items():
        setattr(article, name, value)
    return tags


@transaction.atomic
def article_create(*, title: str, body: str, actor: Any = None, **fields: Any) -> Article:
    article = Article(owner=fields.pop("owner", actor))
    tags = _apply(article, {"title": title, "body": body, **fields})
    article.slug = _unique_slug(article.title)
    article.save()
    if tags:
        article.tags.set(tags)
    return article


@transaction.atomic
def article_update(*, article: Article, actor: Any = None, **changes: Any) -> Article:
    article = Article.objects.select_for_update().get(pk=article.pk)
    tags = _apply(article, changes)
    article.save()
    if tags is not None:
        article.tags.set(tags)
    return article


@transaction.atomic
def article_delete(*, article: Article, actor: Any = None) -> None:
    """Delete an article for good (archiving keeps it out of search and suggestions without losing it).
    The cases it was linked to keep their timeline note naming it."""
    logger.info("article %s (%s) deleted by %s", article.pk, article.title, actor)
    Article.objects.filter(pk=article.pk).delete()


@transaction.atomic
def article_link_case(*, article: Article, case: Case, actor: Any = None, reason: str = "") -> ArticleLink:
    """Link an article to a case (used in a reply, or found relevant); the case's timeline says so."""
    with unit_of_work("article_link_case"):
        link, created = ArticleLink.objects.get_or_create(
            article=article, case=case, defaults={"created_by": actor}
        )
        if created:
            case_services.case_record_system_event(
                case=case,
                kind=EventKind.NOTE,
                actor=actor,
                reason=f"Article linked: {article.title}" + (f" ({reason})" if reason else ""),
                data={"article": {"id": article.pk, "title": article.title}},
            )
    return link


def article_draft_from_case(*, case: Case, actor: Any = None) -> Article:
    """A draft article pre-filled from a resolved case: the subject, the customer's problem and the
    resolution (the last public reply, and the last internal note when there is one), linked to it."""
    if case.status not in (Status.RESOLVED, Status.CLOSED):
        raise ValidationFailed(
            "Only a resolved or closed case can become an article", code="case_not_resolved"
        )
    messages = list(Message.objects.filter(case=case).order_by("created_at", "id"))
    problem = next((m.body for m in messages if m.kind == MessageKind.CUSTOMER), case.description)
    reply = next((m.body for m in reversed(messages) if m.kind == MessageKind.REPLY), "")
    note = next((m.body for m in reversed(messages) if m.kind == MessageKind.NOTE), "")
    body = "\n\n".join(
        part
        for part in (
            "## Problem",
            _quote(problem),
            "## Solution",
            reply.strip() or "_Describe the solution._",
            "## Internal notes (edit or remove before publishing)" if note else "",
            _quote(note) if note else "",
        )
        if part
    )
    with transaction.atomic():
        article = article_create(
            title=case.subject,
            body=body,
            actor=actor,
            category=case.category,
            tags=[t.name for t in case.tags.all()],
            status=ArticleStatus.DRAFT,
            visibility=Visibility.INTERNAL,
        )
        Article.objects.filter(pk=article.pk).update(source_case=case)
        article.source_case = case
        article_link_case(article=article, case=case, actor=actor, reason="written from this case")
    return article


def _quote(text: str) -> str:
    return "\n".join(line.rstrip() for line in (text or "").strip().splitlines()[:40])


# --------------------------------------------------------------------------------------------------
# macros
# --------------------------------------------------------------------------------------------------


def placeholder_values(case: Case, agent: Any) -> dict[str, str]:
    from django.apps import apps

    clock = apps.get_model("sla", "CaseClock")
    due = (
        clock.objects.filter(case=case, state="running", due_at__isnull=False, paused_since__isnull=True)
        .order_by("due_at")
        .values_list("due_at", flat=True)
        .first()
    )
    name = ""
    if agent is not None and getattr(agent, "is_authenticated", False):
        name = agent.get_full_name() or agent.username
    return {
        "customer_name": (case.customer.name or "").split(" ")[0] or "there",
        "reference": case.reference,
        "subject": case.subject,
        "agent_name": name or "the support team",
        "sla_due": timezone.localtime(due).strftime("%a %d %b %H:%M") if due else "soon",
    }


def macros_for(user: Any):
    """Shared macros and the user's own, active ones."""
    from django.db.models import Q

    return Macro.objects.filter(Q(owner__isnull=True) | Q(owner=user), active=True).select_related(
        "canned_reply"
    )


@dataclass(frozen=True)
class ReplyAttachment:
    filename: str
    content: bytes
    content_type: str = ""


def _clean_cc(cc: Iterable[str]) -> list[str]:
    out = []
    for raw in cc:
        address = (raw or "").strip()
        if not address:
            continue
        try:
            validate_email(address)
        except ValidationError as exc:
            raise ValidationFailed(f"'{address}' is not an email address", code="invalid_cc") from exc
        out.append(address.lower())
    return list(dict.fromkeys(out))[:10]


def reply_send(
    *,
    case: Case,
    body: str,
    actor: Any,
    internal: bool = False,
    cc: Iterable[str] = (),
    attachments: Sequence[ReplyAttachment] = (),
    set_status: str | None = None,
    status_reason: str = "",
    meta: dict | None = None,
) -> Message:
    """A reply (or note) with CC addresses and attachments, as one write."""
    cc = _clean_cc(cc)
    if internal and cc:
        raise ValidationFailed("An internal note has no recipients", code="invalid_cc")
    with unit_of_work("reply_send"):
        message = case_services.case_add_message(
            case=case,
            kind=MessageKind.NOTE if internal else MessageKind.REPLY,
            body=body,
            actor=actor,
            set_status=set_status or None,
            status_reason=status_reason,
            meta={**(meta or {}), **({"cc": cc} if cc else {})},
        )
        for item in attachments:
            case_services.case_add_attachment(
                case=message.case,
                filename=item.filename,
                content=item.content,
                content_type=item.content_type,
                actor=actor,
                message=message,
            )
    return message


def macro_apply(
    *,
    case: Case,
    macro: Macro,
    actor: Any,
    body: str | None = None,
    cc: Iterable[str] = (),
    attachments: Sequence[ReplyAttachment] = (),
) -> Message | None:
    """Apply a macro in one write: its field changes (priority, team, tags), its reply or note (the
    macro's text with placeholders filled, or `body` as the agent edited it) and its status change. If
    any part is refused — a status the case cannot move to, a bad CC — nothing is written."""
    if macro.owner_id and getattr(actor, "pk", None) != macro.owner_id:
        raise NotFound("No such macro", code="macro_not_found")
    if macro.set_priority and macro.set_priority not in Priority.values:
        raise ValidationFailed(
            f"Macro has an unknown priority '{macro.set_priority}'", code="invalid_priority"
        )
    if macro.set_status and macro.set_status not in Status.values:
        raise ValidationFailed(f"Macro has an unknown status '{macro.set_status}'", code="invalid_status")
    reason = f"Macro '{macro.name}'"
    with unit_of_work("macro_apply"):
        if macro.set_priority:
            case_services.case_set_priority(
                case=case, priority=macro.set_priority, actor=actor, reason=reason
            )
        if macro.set_team_id:
            case_services.case_set_team(case=case, team=macro.set_team, actor=actor, reason=reason)
        if macro.add_tags or macro.remove_tags:
            case_services.case_set_tags(
                case=case, add=macro.add_tags, remove=macro.remove_tags, actor=actor, reason=reason
            )
        text = body if body is not None else composer.fill(macro.text, placeholder_values(case, actor))
        message = None
        if text.strip():
            message = reply_send(
                case=case,
                body=text,
                actor=actor,
                internal=macro.internal,
                cc=cc,
                attachments=attachments,
                set_status=macro.set_status or None,
                status_reason=reason,
                meta={"macro": {"id": macro.pk, "name": macro.name}},
            )
        elif macro.set_status and macro.set_status != case.status:
            case_services.case_transition(case=case, to=macro.set_status, actor=actor, reason=reason)
        Macro.objects.filter(pk=macro.pk).update(uses=F("uses") + 1)
    return message


# --------------------------------------------------------------------------------------------------
# suggestions shown to customers (deflection) and reply drafts
# --------------------------------------------------------------------------------------------------


def suggestion_shown(*, token: str, query: str, article_ids: Sequence[int]) -> None:
    """The articles (best first) shown for the latest query of a web-form session."""
    if not token:
        return
    SuggestionSession.objects.update_or_create(
        token=token[:64], defaults={"query": query[:500], "shown": list(article_ids)}
    )


def suggestion_opened(*, token: str, article: Article) -> None:
    if not token:
        return
    SuggestionSession.objects.update_or_create(
        token=token[:64], defaults={"opened": article, "opened_at": timezone.now()}
    )


def suggestion_submitted(*, token: str, case: Case) -> None:
    """The visitor sent the form anyway (the web form calls this with the token its script kept)."""
    if not token:
        return
    SuggestionSession.objects.filter(token=token[:64]).update(
        submitted_case=case, submitted_at=timezone.now()
    )


def draft_used(*, draft_id: int, case: Case, sent_text: str) -> ReplyDraft | None:
    """The composer sent a reply that started from draft `draft_id` (of this case): sent or edited."""
    draft = ReplyDraft.objects.filter(pk=draft_id, case=case).first()
    return draft_decided(draft=draft, sent_text=sent_text) if draft is not None else None


def draft_decided(*, draft: ReplyDraft, sent_text: str | None) -> ReplyDraft:
    """Record what the agent did with a proposed draft: sent as is, sent edited, or discarded (None)."""
    if sent_text is None:
        outcome = DraftOutcome.DISCARDED
    elif " ".join(sent_text.split()) == " ".join(draft.text.split()):
        outcome = DraftOutcome.SENT
    else:
        outcome = DraftOutcome.EDITED
    ReplyDraft.objects.filter(pk=draft.pk, outcome=DraftOutcome.PROPOSED).update(
        outcome=outcome, decided_at=timezone.now()
    )
    draft.refresh_from_db()
    return draft
