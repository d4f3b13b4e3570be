"""Agent workspace views: parse the request, call a service or selector, render. No business logic here."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from casework.cases import selectors, services
from casework.cases.models import Attachment, Category, MessageKind, Task
from casework.cases.status import (
    OPEN_STATUSES,
    PRIORITY_CRITERIA,
    Channel,
    Priority,
    Status,
    Tier,
    allowed_targets,
)
from casework.core.errors import ApplicationError
from casework.people.models import Customer, Team
from casework.people.permissions import agent_required as login_required
from casework.people.services import customer_get_or_create
from casework.search import selectors as search_selectors

from .forms import (
    AttachmentForm,
    CallForm,
    CaseFieldsForm,
    EscalateForm,
    MergeForm,
    NewCaseForm,
    ReplyForm,
    TagsForm,
    TaskForm,
    TransitionForm,
)
from .panels import render_panels

QUEUE_VIEWS = [
    ("open", "All open"),
    ("mine", "Mine"),
    ("unassigned", "Unassigned"),
    ("untriaged", "Untriaged"),
    ("frustrated", "Frustrated"),
    ("at_risk", "SLA at risk"),
    ("breached", "SLA breached"),
    ("closed", "Resolved & closed"),
    ("all", "Everything"),
]


def _user_by_username(username: str):
    if not username:
        return None
    return get_object_or_404(get_user_model(), username=username, is_active=True)


def _back_to_case(case) -> HttpResponse:
    return redirect(reverse("web:case", args=[case.reference]))


def _error(request: HttpRequest, exc: ApplicationError) -> None:
    messages.error(request, exc.message)


def healthz(request: HttpRequest) -> JsonResponse:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


# --------------------------------------------------------------------------------------------------
# queue
# --------------------------------------------------------------------------------------------------


def _queue_filter(request: HttpRequest) -> selectors.CaseFilter:
    g = request.GET
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


def _queue_ordering(sort: str, q: str) -> str:
    """An explicit sort wins; otherwise the best search match first when searching, else newest."""
    if sort in selectors.ORDERINGS:
        return sort
    return "relevance" if q.strip() else "newest"


@login_required
def queue(request: HttpRequest) -> HttpResponse:
    filters = _queue_filter(request)
    q = filters.q.strip()
    if q and q.upper().startswith("CW-") and " " not in q:
        # Typing a reference in the search box goes straight to the case.
        try:
            return _back_to_case(selectors.case_get(q))
        except ApplicationError:
            pass
    qs = selectors.case_list(filters=filters, user=request.user)
    from django.conf import settings

    paginator = Paginator(qs, settings.CASEWORK["QUEUE_PAGE_SIZE"])
    page = paginator.get_page(request.GET.get("page"))
    corrected = ""
    if q and not page.object_list:
        # Nothing for a short query: try the closest spelling from recent subjects (casework/search).
        corrected = search_selectors.correct(q) or ""
        if corrected:
            filters.q = corrected
            qs = selectors.case_list(filters=filters, user=request.user)
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
        "counts": selectors.queue_counts(request.user),
        "statuses": Status.choices,
        "priorities": Priority.choices,
        "channels": Channel.choices,
        "categories": Category.objects.filter(active=True),
        "teams": Team.objects.all(),
        "orderings": list(selectors.ORDERINGS),
        "query_string": params.urlencode(),
        "view_title": dict(QUEUE_VIEWS).get(filters.view, "Cases"),
        "sort": request.GET.get("sort", ""),
        "corrected": corrected,
        "typed_query": q,
    }
    template = (
        "web/_queue_table.html" if request.htmx and request.htmx.target == "queue-table" else "web/queue.html"
    )
    return render(request, template, context)


# --------------------------------------------------------------------------------------------------
# case page
# --------------------------------------------------------------------------------------------------


def _case_context(request: HttpRequest, case, **extra) -> dict:
    fields_form = CaseFieldsForm(
        initial={
            "priority": case.priority,
            "category": case.category.slug if case.category_id else "",
            "team": str(case.team_id or ""),
            "assignee": case.assignee.username if case.assignee_id else "",
        }
    )
    return {
        "case": case,
        "timeline": selectors.case_timeline(case),
        "tasks": selectors.case_tasks(case),
        "attachments": case.attachments.order_by("id"),
        "transitions": allowed_targets(case.status),
        "fields_form": fields_form,
        "task_form": TaskForm(),
        "escalate_form": EscalateForm(initial={"to_tier": min(case.tier + 1, 3)}),
        "reply_form": extra.pop("reply_form", None) or ReplyForm(),
        "seen_message_id": selectors.latest_public_message_id(case),
        "priority_criteria": PRIORITY_CRITERIA,
        "tiers": Tier.choices,
        "customer_open_cases": case.customer.cases.filter(status__in=OPEN_STATUSES)
        .exclude(pk=case.pk)
        .count(),
        "tags": list(case.tags.values_list("name", flat=True)),
        "statuses": dict(Status.choices),
        "panels": render_panels(request, case),
        **extra,
    }


@login_required
def case_detail(request: HttpRequest, reference: str) -> HttpResponse:
    try:
        case = selectors.case_get(reference)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    if request.htmx and request.GET.get("part") == "timeline":
        return render(
            request, "web/_timeline.html", {"case": case, "timeline": selectors.case_timeline(case)}
        )
    return render(request, "web/case.html", _case_context(request, case))


def _case_or_404(reference: str):
    try:
        return selectors.case_get(reference)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc


@login_required
@require_POST
def case_reply(request: HttpRequest, reference: str) -> HttpResponse:
    case = _case_or_404(reference)
    form = ReplyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write something before sending.")
        return _back_to_case(case)
    data = form.cleaned_data
    seen = data.get("seen_message_id")
    if seen is not None and not data.get("confirm_collision"):
        newer = list(selectors.messages_since(case, seen, exclude_user=request.user))
        if newer:
            # Someone else wrote on this case while this agent was typing: show it and ask to confirm.
            context = _case_context(request, case, reply_form=form, collision=newer)
            return render(request, "web/case.html", context, status=409)
    set_status = data.get("set_status") or None
    try:
        if data.get("macro") or data.get("cc") or request.FILES:
            # A macro's field changes, CC and attachments go with the reply in one write.
            from casework.knowledge.views import composer_send

            composer_send(request, case, data, set_status if set_status in Status.values else None)
        else:
            services.case_add_message(
                case=case,
                kind=MessageKind.NOTE if data["internal"] else MessageKind.REPLY,
                body=data["body"],
                actor=request.user,
                set_status=set_status if set_status in Status.values else None,
            )
    except ApplicationError as exc:
        _error(request, exc)
        context = _case_context(request, case, reply_form=form)
        return render(request, "web/case.html", context, status=exc.http_status)
    messages.success(request, "Internal note added." if data["internal"] else "Reply sent.")
    return _back_to_case(case)


@login_required
@require_POST
def case_transition(request: HttpRequest, reference: str) -> HttpResponse:
    case = _case_or_404(reference)
    form = TransitionForm(request.POST)
    if form.is_valid():
        try:
            services.case_transition(
                case=case, to=form.cleaned_data["to"], actor=request.user, reason=form.cleaned_data["reason"]
            )
            messages.success(request, f"{case.reference} is now {Status(case.status).label}.")
        except ApplicationError as exc:
            _error(request, exc)
    return _back_to_case(case)


@login_required
@require_POST
def case_reopen(request: HttpRequest, reference: str) -> HttpResponse:
    case = _case_or_404(reference)
    try:
        result = services.case_reopen(case=case, actor=request.user, reason=request.POST.get("reason", ""))
    except ApplicationError as exc:
        _error(request, exc)
        return _back_to_case(case)
    if result.pk != case.pk:
        messages.success(request, f"Opened follow-up case {result.reference}.")
    return _back_to_case(result)


@login_required
@require_POST
def case_fields(request: HttpRequest, reference: str) -> HttpResponse:
    case = _case_or_404(reference)
    form = CaseFieldsForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Check the highlighted fields.")
        return _back_to_case(case)
    data = form.cleaned_data
    try:
        services.case_update(
            case=case,
            actor=request.user,
            reason=data["reason"],
            priority=data["priority"],
            category=data["category"] or None,
            team=Team.objects.filter(pk=data["team"]).first() if data["team"] else None,
            assignee=_user_by_username(data["assignee"]),
        )
        messages.success(request, "Case updated.")
    except ApplicationError as exc:
        _error(request, exc)
    return _back_to_case(case)


@login_required
@require_POST
def case_take(request: HttpRequest, reference: str) -> HttpResponse:
    case = _case_or_404(reference)
    try:
        services.case_assign(
            case=case, assignee=request.user, actor=request.user, reason="Taken by the agent"
        )
        if case.status in (Status.NEW, Status.TRIAGED):
            services.case_transition(
                case=case, to=Status.IN_PROGRESS, actor=request.user, reason="Work started"
            )
        messages.success(request, f"{case.reference} is yours.")
    except ApplicationError as exc:
        _error(request, exc)
    return _back_to_case(case)


@login_required
@require_POST
def case_escalate(request: HttpRequest, reference: str) -> HttpResponse:
    case = _case_or_404(reference)
    form = EscalateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Escalation needs a tier and a handoff note for the next tier.")
        return _back_to_case(case)
    try:
        services.case_escalate(
            case=case,
            to_tier=form.cleaned_data["to_tier"],
            actor=request.user,
            reason=form.cleaned_data["reason"],
            handoff_note=form.cleaned_data["handoff_note"],
        )
        messages.success(request, f"{case.reference} moved to L{case.tier}.")
    except ApplicationError as exc:
        _error(request, exc)
    return _back_to_case(case)


@login_required
@require_POST
def case_tags(request: HttpRequest, reference: str) -> HttpResponse:
    case = _case_or_404(reference)
    form = TagsForm(request.POST)
    if form.is_valid():
        try:
            services.case_set_tags(
                case=case,
                add=[t for t in form.cleaned_data["add"].replace(",", " ").split() if t],
                remove=[form.cleaned_data["remove"]] if form.cleaned_data["remove"] else [],
                actor=request.user,
            )
        except ApplicationError as exc:
            _error(request, exc)
    return _back_to_case(case)


@login_required
@require_POST
def case_sentiment(request: HttpRequest, reference: str) -> HttpResponse:
    case = _case_or_404(reference)
    frustrated = request.POST.get("frustrated") == "1"
    services.case_set_sentiment(
        case=case, frustrated=frustrated, actor=request.user, reason="Corrected by an agent"
    )
    return _back_to_case(case)


@login_required
@require_POST
def case_merge(request: HttpRequest, reference: str) -> HttpResponse:
    case = _case_or_404(reference)
    form = MergeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the reference of the case to merge into.")
        return _back_to_case(case)
    try:
        target = selectors.case_get(form.cleaned_data["target"])
        services.case_merge(
            source=case, target=target, actor=request.user, reason=form.cleaned_data["reason"]
        )
    except ApplicationError as exc:
        _error(request, exc)
        return _back_to_case(case)
    messages.success(request, f"{case.reference} was merged into {target.reference}.")
    return _back_to_case(target)


@login_required
@require_POST
def case_add_task(request: HttpRequest, reference: str) -> HttpResponse:
    case = _case_or_404(reference)
    form = TaskForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A task needs a title.")
        return _back_to_case(case)
    try:
        services.case_add_task(
            case=case,
            title=form.cleaned_data["title"],
            owner=_user_by_username(form.cleaned_data["owner"]),
            due_at=form.cleaned_data["due_at"],
            actor=request.user,
        )
    except ApplicationError as exc:
        _error(request, exc)
    return _back_to_case(case)


@login_required
@require_POST
def task_toggle(request: HttpRequest, reference: str, task_id: int) -> HttpResponse:
    case = _case_or_404(reference)
    task = get_object_or_404(Task, pk=task_id, case=case)
    services.task_complete(task=task, actor=request.user, done=not task.done)
    return _back_to_case(case)


@login_required
@require_POST
def case_upload(request: HttpRequest, reference: str) -> HttpResponse:
    case = _case_or_404(reference)
    form = AttachmentForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a file to attach.")
        return _back_to_case(case)
    upload = form.cleaned_data["file"]
    try:
        services.case_add_attachment(
            case=case,
            filename=upload.name,
            content=upload.read(),
            content_type=upload.content_type or "",
            actor=request.user,
        )
        messages.success(request, f"Attached {upload.name}.")
    except ApplicationError as exc:
        _error(request, exc)
    return _back_to_case(case)


@login_required
def attachment_download(request: HttpRequest, reference: str, attachment_id: int) -> FileResponse:
    case = _case_or_404(reference)
    attachment = get_object_or_404(Attachment, pk=attachment_id, case=case)
    # Served as a download, never inline, so an uploaded HTML/SVG file cannot run script in our origin.
    response = FileResponse(attachment.file.open("rb"), as_attachment=True, filename=attachment.filename)
    response["Content-Type"] = "application/octet-stream"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --------------------------------------------------------------------------------------------------
# creating cases, calls, customers
# --------------------------------------------------------------------------------------------------


@login_required
def case_new(request: HttpRequest) -> HttpResponse:
    form = NewCaseForm(request.POST or None, initial={"channel": Channel.EMAIL})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            case = services.case_open_for_contact(
                customer_email=data["customer_email"],
                customer_name=data["customer_name"],
                subject=data["subject"],
                description=data["description"],
                channel=data["channel"],
                priority=data["priority"] or None,
                category=data["category"] or None,
                actor=request.user,
            )
            messages.success(request, f"Opened {case.reference}.")
            return _back_to_case(case)
        except ApplicationError as exc:
            _error(request, exc)
    return render(request, "web/case_new.html", {"form": form, "priority_criteria": PRIORITY_CRITERIA})


@login_required
def call_new(request: HttpRequest) -> HttpResponse:
    initial = {}
    if ref := request.GET.get("case"):
        try:
            existing = selectors.case_get(ref)
            initial = {
                "case_reference": existing.reference,
                "customer_email": existing.customer.email,
                "customer_name": existing.customer.name,
            }
        except ApplicationError:
            pass
    if email := request.GET.get("email"):
        initial.setdefault("customer_email", email)
    form = CallForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            customer, _ = customer_get_or_create(
                email=data["customer_email"], name=data["customer_name"], phone=data["customer_phone"]
            )
            case = selectors.case_get(data["case_reference"]) if data["case_reference"] else None
            message = services.case_log_call(
                customer=customer,
                case=case,
                summary=data["summary"],
                subject=data["subject"],
                direction=data["direction"],
                duration_seconds=data["duration_minutes"] * 60,
                priority=data["priority"],
                actor=request.user,
            )
            messages.success(request, f"Call logged on {message.case.reference}.")
            return _back_to_case(message.case)
        except ApplicationError as exc:
            _error(request, exc)
    return render(request, "web/call_new.html", {"form": form, "priority_criteria": PRIORITY_CRITERIA})


@login_required
def customer_detail(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = get_object_or_404(Customer.objects.select_related("organisation"), pk=customer_id)
    cases = customer.cases.select_related("category", "assignee", "team").order_by("-created_at")[:200]
    stats = customer.cases.aggregate(
        total=Count("id"),
        open=Count("id", filter=Q(status__in=OPEN_STATUSES)),
        reopened=Count("id", filter=Q(reopen_count__gt=0)),
    )
    colleagues = []
    if customer.organisation_id:
        colleagues = customer.organisation.customers.exclude(pk=customer.pk).order_by("name")[:20]
    return render(
        request,
        "web/customer.html",
        {
            "customer": customer,
            "cases": cases,
            "stats": stats,
            "colleagues": colleagues,
            "new_call_url": reverse("web:call_new") + "?" + urlencode({"email": customer.email}),
        },
    )


# --------------------------------------------------------------------------------------------------
# re-homing a message that threading put on the wrong case
# --------------------------------------------------------------------------------------------------


def _message_or_404(case, message_id: int):
    from casework.cases.models import Message

    return get_object_or_404(Message, pk=message_id, case=case)


@login_required
@require_POST
def message_split(request: HttpRequest, reference: str, message_id: int) -> HttpResponse:
    case = _case_or_404(reference)
    message = _message_or_404(case, message_id)
    try:
        new_case = services.message_split_to_new_case(
            message=message, actor=request.user, reason=request.POST.get("reason", "")[:500]
        )
    except ApplicationError as exc:
        _error(request, exc)
        return _back_to_case(case)
    messages.success(request, f"Message split into the new case {new_case.reference}.")
    return _back_to_case(new_case)


@login_required
@require_POST
def message_move(request: HttpRequest, reference: str, message_id: int) -> HttpResponse:
    case = _case_or_404(reference)
    message = _message_or_404(case, message_id)
    try:
        target = selectors.case_get(request.POST.get("target", "").strip())
        services.message_move(
            message=message, target=target, actor=request.user, reason=request.POST.get("reason", "")[:500]
        )
    except ApplicationError as exc:
        _error(request, exc)
        return _back_to_case(case)
    messages.success(request, f"Message moved to {target.reference}.")
    return _back_to_case(target)
