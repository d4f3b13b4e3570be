"""Knowledge-base pages: agents write, review and search articles; customers read public ones and get
suggestions while they type (JSON); the case page's composer helpers (macro preview and apply)."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from casework.cases.models import Category
from casework.core.errors import ApplicationError
from casework.people.permissions import agent_required, case_for_request

from . import composer, services, suggest
from .models import Article, ArticleStatus, Visibility
from .search import published, search_articles


class ArticleForm(forms.Form):
    title = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 18}), required=False)
    category = forms.ChoiceField(required=False)
    tags = forms.CharField(required=False, help_text="Comma-separated")
    visibility = forms.ChoiceField(choices=Visibility.choices)
    status = forms.ChoiceField(choices=ArticleStatus.choices)
    review_at = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", "—")] + [
            (c.slug, c.name) for c in Category.objects.filter(active=True)
        ]

    def changes(self) -> dict:
        data = self.cleaned_data
        return {
            "title": data["title"],
            "body": data["body"],
            "category": data["category"] or None,
            "tags": [t.strip() for t in data["tags"].split(",") if t.strip()],
            "visibility": data["visibility"],
            "status": data["status"],
            "review_at": data["review_at"],
        }


@agent_required
def article_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "")[:200]
    status = request.GET.get("status", "")
    qs = Article.objects.select_related("owner", "category")
    if status == "review":
        qs = qs.filter(review_at__lte=timezone.localdate()).exclude(status=ArticleStatus.ARCHIVED)
    elif status in ArticleStatus.values:
        qs = qs.filter(status=status)
    articles = list(search_articles(q, qs)[:100]) if q.strip() else list(qs.order_by("-updated_at")[:100])
    return render(
        request,
        "knowledge/list.html",
        {"articles": articles, "q": q, "status": status, "statuses": ArticleStatus.choices},
    )


@agent_required
def article_detail(request: HttpRequest, pk: int) -> HttpResponse:
    article = get_object_or_404(Article.objects.select_related("owner", "category", "source_case"), pk=pk)
    links = article.links.select_related("case").order_by("-created_at")[:50]
    return render(request, "knowledge/detail.html", {"article": article, "links": links})


def _article_form(request: HttpRequest, article: Article | None) -> HttpResponse:
    if request.method == "POST":
        form = ArticleForm(request.POST)
        if form.is_valid():
            try:
                if article is None:
                    changes = form.changes()
                    article = services.article_create(
                        title=changes.pop("title"), body=changes.pop("body"), actor=request.user, **changes
                    )
                else:
                    article = services.article_update(article=article, actor=request.user, **form.changes())
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Saved “{article.title}”.")
                return redirect("knowledge:detail", pk=article.pk)
    elif article is not None:
        form = ArticleForm(
            initial={
                "title": article.title,
                "body": article.body,
                "category": article.category.slug if article.category_id else "",
                "tags": ", ".join(t.name for t in article.tags.all()),
                "visibility": article.visibility,
                "status": article.status,
                "review_at": article.review_at,
            }
        )
    else:
        form = ArticleForm(
            initial={
                "status": ArticleStatus.DRAFT,
                "visibility": Visibility.INTERNAL,
                "review_at": timezone.localdate() + dt.timedelta(days=180),
            }
        )
    return render(request, "knowledge/edit.html", {"form": form, "article": article})


@agent_required
def article_new(request: HttpRequest) -> HttpResponse:
    return _article_form(request, None)


@agent_required
def article_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _article_form(request, get_object_or_404(Article, pk=pk))


@agent_required
@require_POST
def article_from_case(request: HttpRequest, reference: str) -> HttpResponse:
    case = case_for_request(request, reference)
    try:
        article = services.article_draft_from_case(case=case, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("web:case", reference=case.reference)
    messages.success(request, "Draft article written from the case: check it, then publish.")
    return redirect("knowledge:edit", pk=article.pk)


@agent_required
@require_POST
def article_link(request: HttpRequest, reference: str, pk: int) -> HttpResponse:
    case = case_for_request(request, reference)
    article = get_object_or_404(Article, pk=pk)
    services.article_link_case(article=article, case=case, actor=request.user)
    return JsonResponse({"linked": True, "article": article.pk, "case": case.reference})


# --------------------------------------------------------------------------------------------------
# composer helpers on the case page
# --------------------------------------------------------------------------------------------------


@agent_required
@require_GET
def macro_preview(request: HttpRequest, reference: str, pk: int) -> JsonResponse:
    """The macro's text with this case's placeholders filled, and what else it will change."""
    case = case_for_request(request, reference)
    macro = get_object_or_404(services.macros_for(request.user), pk=pk)
    changes = []
    if macro.set_status:
        changes.append(f"status → {macro.set_status.replace('_', ' ')}")
    if macro.set_priority:
        changes.append(f"priority → {macro.set_priority}")
    if macro.set_team_id:
        changes.append(f"team → {macro.set_team.name}")
    if macro.add_tags:
        changes.append("tags + " + ", ".join(macro.add_tags))
    if macro.remove_tags:
        changes.append("tags − " + ", ".join(macro.remove_tags))
    return JsonResponse(
        {
            "id": macro.pk,
            "name": macro.name,
            "text": composer.fill(macro.text, services.placeholder_values(case, request.user)),
            "internal": macro.internal,
            "changes": changes,
        }
    )


def _draft_json(draft) -> JsonResponse:
    return JsonResponse(
        {
            "id": draft.pk,
            "text": draft.text,
            "sources": draft.sources,
            "provider": draft.provider,
            "ready": draft.ready,
            "error": draft.error,
            "outcome": draft.outcome,
        }
    )


@agent_required
@require_POST
def draft_propose(request: HttpRequest, reference: str) -> JsonResponse:
    """ "Draft a reply": a proposal for the composer, never sent (`drafting.propose`). With the HTTP
    provider the worker completes it; the page polls `draft_show` until `ready`."""
    from . import drafting

    case = case_for_request(request, reference)
    return _draft_json(drafting.propose(case=case, agent=request.user))


@agent_required
@require_GET
def draft_show(request: HttpRequest, pk: int) -> JsonResponse:
    from .models import ReplyDraft

    # Only the agent who asked for a draft reads or discards it: another agent's id is a 404.
    return _draft_json(get_object_or_404(ReplyDraft, pk=pk, requested_by=request.user))


@agent_required
@require_POST
def draft_discard(request: HttpRequest, pk: int) -> JsonResponse:
    from .models import ReplyDraft

    draft = get_object_or_404(ReplyDraft, pk=pk, requested_by=request.user)
    return _draft_json(services.draft_decided(draft=draft, sent_text=None))


# --------------------------------------------------------------------------------------------------
# customer side: public articles and suggestions while typing
# --------------------------------------------------------------------------------------------------


@require_GET
def suggestions(request: HttpRequest) -> JsonResponse:
    """`GET /kb/suggestions/?q=…&s=<session token>`: the web form's suggestion contract
    (`{"query", "suggestions": [{"title", "url", "excerpt"}]}`), recorded against the session."""
    query = " ".join(request.GET.get("q", "").split())[:500]
    found = suggest.suggestions_for_visitor(query, request.GET.get("s", ""))
    return JsonResponse({"query": query, "suggestions": found})


@require_GET
def public_article(request: HttpRequest, slug: str) -> HttpResponse:
    article = Article.objects.filter(slug=slug).first()
    if article is None or not article.is_public:
        raise Http404("No such article")
    token = suggest.valid_session_token(request.GET.get("s", ""))
    if token:
        services.suggestion_opened(token=token, article=article)
    return render(request, "knowledge/public_article.html", {"article": article, "session": token})


@require_GET
def public_search(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "")[:200]
    qs = published(public_only=True)
    articles = list(search_articles(q, qs)[:30]) if q.strip() else list(qs.order_by("title")[:100])
    return render(request, "knowledge/public_list.html", {"articles": articles, "q": q})


def composer_send(request: HttpRequest, case, data: dict, set_status: str | None) -> None:
    """The case composer with a macro, CC or attachments (called by `web.views.case_reply`)."""
    from casework.core.errors import NotFound, ValidationFailed

    cc = [a for a in (data.get("cc") or "").replace(";", ",").split(",") if a.strip()]
    files = [
        services.ReplyAttachment(filename=f.name, content=f.read(), content_type=f.content_type or "")
        for f in request.FILES.getlist("attachments")
    ]
    if data.get("macro"):
        macro = services.macros_for(request.user).filter(pk=data["macro"]).first()
        if macro is None:
            raise NotFound("That macro is not available", code="macro_not_found")
        if set_status and macro.set_status and set_status != macro.set_status:
            raise ValidationFailed(
                "The macro and the status menu ask for different statuses", code="conflict"
            )
        macro_apply_kwargs = {"body": data["body"], "cc": cc, "attachments": files}
        # For this send only (the macro row is not saved): the composer's note/reply choice and status.
        macro.internal = bool(data["internal"])
        if set_status and not macro.set_status:
            macro.set_status = set_status
        services.macro_apply(case=case, macro=macro, actor=request.user, **macro_apply_kwargs)
        return
    services.reply_send(
        case=case,
        body=data["body"],
        actor=request.user,
        internal=bool(data["internal"]),
        cc=cc,
        attachments=files,
        set_status=set_status,
    )
