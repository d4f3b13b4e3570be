"""The agent's queue: views and filters over the cases, saved views, bulk actions, the agent's tasks."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from casework.cases import selectors, services
from casework.cases.status import (
    Channel,
    Priority,
    Status,
)
from casework.core import config
from casework.core.errors import ApplicationError
from casework.people.models import Team
from casework.people.permissions import agent_required as login_required
from casework.people.selectors import teams_in_order
from casework.search import selectors as search_selectors

from .forms import (
    agent_choices,
)
from .views import _back_to_case, _error, _user_by_username

QUEUE_VIEWS = [
    ("open", "All open"),
    ("mine", "Mine"),
    ("waiting", "Waiting on customer"),
    ("mentioned", "Mentioning me"),
    ("unassigned", "Unassigned"),
    ("untriaged", "Untriaged"),
    ("frustrated", "Frustrated"),
    ("at_risk", "SLA at risk"),
    ("breached", "SLA breached"),
    ("closed", "Resolved & closed"),
    ("all", "Everything"),
]


def _queue_filter(request: HttpRequest, params=None) -> selectors.CaseFilter:
    g = request.GET if params is None else params
    tier = g.get("tier", "")
    return selectors.CaseFilter(
        view=g.get("view", "open") if g.get("view", "open") in dict(QUEUE_VIEWS) else "open",
        status=[s for s in g.getlist("status") if s in Status.values],
        priority=[p for p in g.getlist("priority") if p in Priority.values],
        category=g.get("category", ""),
        team=g.get("team", ""),
        assignee=g.get("assignee", ""),
        channel=g.get("channel", "") if g.get("channel", "") in Channel.values else "",
        tier=int(tier) if tier in ("1", "2", "3") else None,
        tag=g.get("tag", ""),
        q=g.get("q", "")[:200],
        ordering=_queue_ordering(g.get("sort", ""), g.get("q", "")),
    )


def _queue_heading(filters: selectors.CaseFilter) -> dict:
    """Which sidebar entry is the page (one, never two) and its title: a team's queue is named after
    the team, the Critical shortcut after itself."""
    view_label = dict(QUEUE_VIEWS).get(filters.view, "Cases")
    if filters.team:
        title = filters.team if filters.view == "open" else f"{filters.team} · {view_label}"
        return {"view_title": title, "active_view": f"team:{filters.team}"}
    if filters.priority == [Priority.CRITICAL] and filters.view == "open":
        return {"view_title": "Critical", "active_view": "critical"}
    return {"view_title": view_label, "active_view": filters.view}


SAVED_VIEWS_SHOWN = 12


def _saved_views(request: HttpRequest) -> list[dict]:
    """The agent's own and the shared saved views with their case counts (one count each, at most
    SAVED_VIEWS_SHOWN of them), marking the one this page is."""
    from django.http import QueryDict

    from .models import SavedView

    here = request.GET.copy()
    here.pop("page", None)
    rows = []
    views = SavedView.objects.filter(Q(owner=request.user) | Q(shared=True)).select_related("owner")
    for saved in views.order_by("-shared", "name")[:SAVED_VIEWS_SHOWN]:
        params = QueryDict(saved.query)
        count = selectors.case_list(filters=_queue_filter(request, params), user=request.user).count()
        rows.append(
            {
                "view": saved,
                "count": count,
                "active": sorted(params.lists()) == sorted(here.lists()),
                "mine": saved.owner_id == request.user.pk,
            }
        )
    return rows


@login_required
@require_POST
def saved_view_create(request: HttpRequest) -> HttpResponse:
    from django.http import QueryDict

    from .models import SavedView

    name = " ".join(request.POST.get("name", "").split())[:80]
    query = QueryDict(request.POST.get("query", "")).copy()
    query.pop("page", None)
    if not name:
        messages.error(request, "Give the view a name.")
    elif SavedView.objects.filter(owner=request.user, name__iexact=name).exists():
        messages.error(request, f"You already have a view called “{name}”.")
    else:
        SavedView.objects.create(
            owner=request.user, name=name, shared=request.POST.get("shared") == "on", query=query.urlencode()
        )
        messages.success(request, f"Saved the view “{name}”.")
    return redirect(reverse("web:queue") + "?" + query.urlencode())


@login_required
@require_POST
def saved_view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    from .models import SavedView

    saved = get_object_or_404(SavedView, pk=view_id, owner=request.user)
    saved.delete()
    messages.success(request, f"Removed the view “{saved.name}”.")
    return redirect("web:queue")


def _queue_ordering(sort: str, q: str) -> str:
    """An explicit sort wins; otherwise the best search match first when searching, else newest."""
    if sort in selectors.ORDERINGS:
        return sort
    return "relevance" if q.strip() else "newest"


@login_required
def queue(request: HttpRequest) -> HttpResponse:
    with config.pinned():  # a read: pickers (teams, categories, agents) cost one version query
        return _queue(request)


def _queue(request: HttpRequest) -> HttpResponse:
    filters = _queue_filter(request)
    q = filters.q.strip()
    if q and q.upper().startswith("CW-") and " " not in q:
        # Typing a reference in the search box goes straight to the case.
        try:
            return _back_to_case(selectors.case_get(q, user=request.user))
        except ApplicationError:
            pass
    qs, cut = selectors.case_list_window(filters=filters, user=request.user)
    qs = selectors.with_next_due(qs)
    from django.conf import settings

    counts = selectors.queue_counts(request.user)
    paginator = Paginator(qs, settings.CASEWORK["QUEUE_PAGE_SIZE"])
    total = selectors.counted_total(filters, counts)
    if total is not None:
        paginator.count = total  # a cached_property: the sidebar's figure instead of a COUNT(*)
    page = paginator.get_page(request.GET.get("page"))
    corrected = ""
    if q and not page.object_list:
        # Nothing for a short query: try the closest spelling from recent subjects (casework/search).
        corrected = search_selectors.correct(q) or ""
        if corrected:
            filters.q = corrected
            qs, cut = selectors.case_list_window(filters=filters, user=request.user)
            paginator = Paginator(qs, settings.CASEWORK["QUEUE_PAGE_SIZE"])
            page = paginator.get_page(1)
    if filters.q:
        found = search_selectors.hits(list(page.object_list), filters.q)
        for case in page.object_list:
            case.hit = found.get(case.pk)
    params = request.GET.copy()
    params.pop("page", None)
    context = {
        "page": page,
        "filters": filters,
        "views": QUEUE_VIEWS,
        "counts": counts,
        "statuses": Status.choices,
        "priorities": Priority.choices,
        "channels": Channel.choices,
        "categories": selectors.active_categories(),
        "teams": teams_in_order(),
        "agents": agent_choices()[1:],
        "orderings": list(selectors.ORDERINGS),
        "query_string": params.urlencode(),
        "saved_views": _saved_views(request),
        **_queue_heading(filters),
        "sort": request.GET.get("sort", ""),
        "corrected": corrected,
        "search_cut": cut,
        "typed_query": q,
    }
    template = (
        "web/_queue_table.html" if request.htmx and request.htmx.target == "queue-table" else "web/queue.html"
    )
    return render(request, template, context)


@login_required
def my_tasks(request: HttpRequest) -> HttpResponse:
    """The agent's open internal tasks across cases, soonest due first."""
    from django.utils import timezone

    return render(
        request,
        "web/my_tasks.html",
        {"tasks": selectors.my_tasks(request.user)[:300], "now": timezone.now(), "counts": None},
    )


@login_required
@require_POST
def cases_bulk(request: HttpRequest) -> HttpResponse:
    """Apply the queue's bulk bar to the selected cases (through the bulk door: one event per change per
    case), then back to the same queue page with what happened."""
    from django.utils.http import url_has_allowed_host_and_scheme

    from casework.cases.models import Case

    back = request.POST.get("next") or reverse("web:queue")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("web:queue")
    refs = [r.strip() for r in request.POST.getlist("refs") if r.strip()][:1000]
    cases = list(Case.objects.filter(reference__in=refs))
    post = request.POST
    if post.get("merge_into", "").strip():
        return _bulk_merge(request, cases, post["merge_into"].strip(), post.get("reason", "")[:500], back)
    changes: dict = {}
    if post.get("assignee"):
        changes["assignee"] = None if post["assignee"] == "-" else _user_by_username(post["assignee"])
    if post.get("team"):
        changes["team"] = get_object_or_404(Team, pk=post["team"]) if post["team"].isdigit() else None
    if post.get("priority"):
        changes["priority"] = post["priority"]
    if post.get("status"):
        changes["status"] = post["status"]
    if post.get("tags", "").strip():
        changes["add_tags"] = post["tags"].replace(",", " ").split()
    try:
        result = services.cases_bulk_update(
            cases=cases, actor=request.user, reason=post.get("reason", "")[:500], **changes
        )
    except ApplicationError as exc:
        _error(request, exc)
        return redirect(back)
    (messages.warning if result.skipped else messages.success)(request, result.summary())
    return redirect(back)


def _bulk_merge(request: HttpRequest, cases: list, reference: str, reason: str, back: str) -> HttpResponse:
    """The bulk bar's "merge into": the ticked duplicates folded into one case, each through case_merge."""
    try:
        target = selectors.case_get(reference)
        result = services.cases_bulk_merge(cases=cases, target=target, actor=request.user, reason=reason)
    except ApplicationError as exc:
        _error(request, exc)
        return redirect(back)
    text = (
        f"Merged {len(result.changed)} case{'s' if len(result.changed) != 1 else ''} into {target.reference}"
    )
    if result.skipped:
        text += (
            f"; {len(result.skipped)} skipped ("
            + "; ".join(f"{r}: {w}" for r, w in list(result.skipped.items())[:5])
            + ")"
        )
    (messages.warning if result.skipped else messages.success)(request, text + ".")
    return redirect(back)


# --------------------------------------------------------------------------------------------------
# case page
# --------------------------------------------------------------------------------------------------
