"""Agent workspace views: parse the request, call a service or selector, render. No business logic here."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from casework.cases import selectors, services
from casework.cases.models import Attachment, MessageKind, Task
from casework.cases.services.unit_of_work import unit_of_work
from casework.cases.status import (
    PRIORITY_CRITERIA,
    Status,
    Tier,
    allowed_targets,
)
from casework.core import config
from casework.core.errors import ApplicationError
from casework.people.models import Team
from casework.people.permissions import agent_required as login_required
from casework.people.permissions import can_work_case, case_for_request
from casework.people.selectors import teams_in_order

from .forms import (
    AttachmentForm,
    CaseFieldsForm,
    EscalateForm,
    MergeForm,
    ReplyForm,
    TagsForm,
    TaskForm,
    TransitionForm,
    agent_choices,
)
from .panels import deferred_panel, render_panels
from .timeline import names_for
from .timeline import render as render_timeline


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


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers, the admin and the API docs ask for /favicon.ico: point them at the app's icon."""
    from django.templatetags.static import static

    return redirect(static("casework/favicon.svg"))


# --------------------------------------------------------------------------------------------------
# queue
# --------------------------------------------------------------------------------------------------


def _timeline(case) -> selectors.Timeline:
    """The case's messages and events, each event with its sentence (`entry.line`); events with nothing
    to say (a score that changed no flag) are left out."""
    timeline = selectors.case_timeline(case)
    events = [entry.event for entry in timeline.entries if entry.event is not None]
    lines = render_timeline(events, names_for(events))
    shown = []
    for entry in timeline.entries:
        if entry.event is not None:
            entry.line = lines.get(entry.event.pk)
            if entry.line is None:
                continue
        shown.append(entry)
    timeline.entries = shown
    return timeline


def _handoff_choices(case, teams: list[Team]) -> dict:
    """The hand-off form's tiers and teams: the next tier up (or L2 from L3), and for each tier the team
    that serves it selected by default, so an L3 hand-off lands with the L3 team, not the first team."""
    from casework.people.selectors import team_for_tier

    default_tier = case.tier + 1 if case.tier < 3 else 2
    default_team = team_for_tier(default_tier)
    return {
        "handoff_tier": default_tier,
        "handoff_team_id": default_team.pk if default_team else None,
        "handoff_teams": teams,
    }


def _custom_field_rows(case) -> dict:
    """The case page's custom fields: every active definition as an input with the case's value, and
    values under keys nobody defined (shown, not edited)."""
    from casework.cases.custom_fields import display

    values = case.custom_fields or {}
    definitions = selectors.custom_field_definitions()
    defined = [
        {"d": d, "value": values.get(d.key), "shown": display(None, values.get(d.key))}
        for d in definitions
        if d.active
    ]
    known = {d.key for d in definitions}
    labels = {d.key: d.label for d in definitions}
    other = [
        {"key": labels.get(k, k), "shown": display(None, v)}
        for k, v in sorted(values.items())
        if k not in known or k not in {row["d"].key for row in defined}
    ]
    return {"defined": defined, "other": other}


def _case_context(request: HttpRequest, case, **extra) -> dict:
    # Teams and categories come from the configuration cache (core/config.py): the page reads the
    # configuration version, not the tables. A constant number of queries, whatever the case holds.
    from casework.cases.selectors import active_categories

    agents = agent_choices()
    teams = teams_in_order()
    timeline = _timeline(case)
    fields_form = CaseFieldsForm(
        agents=agents,
        teams=teams,
        categories=active_categories(),
        initial={
            "priority": case.priority,
            "category": case.category.slug if case.category_id else "",
            "team": str(case.team_id or ""),
            "assignee": case.assignee.username if case.assignee_id else "",
        },
    )
    return {
        "case": case,
        "timeline": timeline.entries,
        "tasks": selectors.case_tasks(case),
        "attachments": timeline.attachments,
        "transitions": allowed_targets(case.status),
        "fields_form": fields_form,
        "task_form": TaskForm(agents=agents),
        **_handoff_choices(case, teams),
        "reply_form": extra.pop("reply_form", None) or ReplyForm(),
        "seen_message_id": timeline.latest_public_message_id,
        "priority_criteria": PRIORITY_CRITERIA,
        "tiers": Tier.choices,
        "customer_open_cases": case.customer.cases.filter(open_flag=1).exclude(pk=case.pk).count(),
        "tags": list(case.tags.values_list("name", flat=True)),
        "statuses": dict(Status.choices),
        "panels": render_panels(request, case),
        "can_work": can_work_case(request.user, case),
        "custom_fields": _custom_field_rows(case),
        **extra,
    }


@login_required
def case_detail(request: HttpRequest, reference: str) -> HttpResponse:
    with config.pinned():  # a read: the panels' cached configuration costs one version query
        return _case_detail(request, reference)


def _case_detail(request: HttpRequest, reference: str) -> HttpResponse:
    case = _case_or_404(request, reference)
    if request.htmx and request.GET.get("part") == "timeline":
        return render(request, "web/_timeline.html", {"case": case, "timeline": _timeline(case).entries})
    if request.GET.get("part") == "panel":
        panel = deferred_panel(request.GET.get("name", ""))
        if panel is None:
            raise Http404("no such panel")
        return render(
            request, panel.template, {"case": case, "panel": panel.context(request, case), "deferred": True}
        )
    return render(request, "web/case.html", _case_context(request, case, **_take_draft(request, case)))


def _case_or_404(request: HttpRequest, reference: str):
    return case_for_request(request, reference)


def _draft_key(case) -> str:
    return f"casework.draft:{case.reference}"


def _keep_draft(request: HttpRequest, case, data: dict, collision: list[int] | None = None) -> HttpResponse:
    """The reply could not go out as it was (someone else wrote meanwhile, or it was refused): keep the
    agent's text in the session and redirect to the case page, which shows it again (POST/redirect/GET:
    a reload never posts twice)."""
    request.session[_draft_key(case)] = {
        "body": data.get("body") or "",
        "internal": bool(data.get("internal")),
        "set_status": data.get("set_status") or "",
        "collision": collision or [],
    }
    return _back_to_case(case)


def _take_draft(request: HttpRequest, case) -> dict:
    """Context for a draft kept by _keep_draft (read once): the composer's text and the collision list."""
    draft = request.session.pop(_draft_key(case), None)
    if not draft:
        return {}
    extra: dict = {"reply_form": ReplyForm(initial={"body": draft["body"], "internal": draft["internal"]})}
    if draft.get("collision"):
        from casework.cases.models import Message

        extra["collision"] = list(
            Message.objects.filter(case=case, pk__in=draft["collision"])
            .select_related("author_user", "author_customer")
            .order_by("id")
        )
    extra["draft_status"] = draft.get("set_status", "")
    return extra


@login_required
@require_POST
def case_reply(request: HttpRequest, reference: str) -> HttpResponse:
    case = _case_or_404(request, reference)
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
            messages.warning(request, "Not sent yet: someone else wrote on this case while you were typing.")
            return _keep_draft(request, case, data, collision=[m.pk for m in newer])
    set_status = data.get("set_status") or None
    try:
        with unit_of_work("case reply"):
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
            if data.get("draft"):
                # The reply started from a proposed draft: sent as is or edited, recorded in this write.
                from casework.knowledge.services import draft_used

                draft_used(draft_id=data["draft"], case=case, sent_text=data["body"])
    except ApplicationError as exc:
        _error(request, exc)
        return _keep_draft(request, case, data)
    messages.success(request, "Internal note added." if data["internal"] else "Reply sent.")
    return _back_to_case(case)


@login_required
@require_POST
def case_transition(request: HttpRequest, reference: str) -> HttpResponse:
    case = _case_or_404(request, reference)
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
    case = _case_or_404(request, reference)
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
    case = _case_or_404(request, reference)
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
def case_custom_fields(request: HttpRequest, reference: str) -> HttpResponse:
    """Save the case's defined custom fields; values under undefined keys are kept as they are."""
    case = _case_or_404(request, reference)
    values = dict(case.custom_fields or {})
    for definition in (d for d in selectors.custom_field_definitions() if d.active):
        if definition.kind == "boolean":
            raw = request.POST.get(f"cf_{definition.key}", "")
            values[definition.key] = {"yes": True, "no": False}.get(raw)
        else:
            values[definition.key] = request.POST.get(f"cf_{definition.key}", "")
    try:
        services.case_update(case=case, actor=request.user, custom_fields=values)
        messages.success(request, "Custom fields saved.")
    except ApplicationError as exc:
        _error(request, exc)
    return _back_to_case(case)


@login_required
@require_POST
def case_take(request: HttpRequest, reference: str) -> HttpResponse:
    case = _case_or_404(request, reference)
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
    case = _case_or_404(request, reference)
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
            team=form.cleaned_data["team"],
        )
        messages.success(request, f"{case.reference} moved to L{case.tier}.")
    except ApplicationError as exc:
        _error(request, exc)
    return _back_to_case(case)


@login_required
@require_POST
def case_tags(request: HttpRequest, reference: str) -> HttpResponse:
    case = _case_or_404(request, reference)
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
    case = _case_or_404(request, reference)
    frustrated = request.POST.get("frustrated") == "1"
    services.case_set_sentiment(
        case=case, frustrated=frustrated, actor=request.user, reason="Corrected by an agent"
    )
    return _back_to_case(case)


@login_required
@require_POST
def case_merge(request: HttpRequest, reference: str) -> HttpResponse:
    case = _case_or_404(request, reference)
    form = MergeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the reference of the case to merge into.")
        return _back_to_case(case)
    try:
        target = selectors.case_get(form.cleaned_data["target"], user=request.user, write=True)
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
    case = _case_or_404(request, reference)
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
    case = _case_or_404(request, reference)
    task = get_object_or_404(Task, pk=task_id, case=case)
    services.task_complete(task=task, actor=request.user, done=not task.done)
    return _back_to_case(case)


@login_required
@require_POST
def case_upload(request: HttpRequest, reference: str) -> HttpResponse:
    case = _case_or_404(request, reference)
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
    case = _case_or_404(request, reference)
    attachment = get_object_or_404(Attachment, pk=attachment_id, case=case)
    # Served as a download, never inline, so an uploaded HTML/SVG file cannot run script in our origin.
    response = FileResponse(attachment.file.open("rb"), as_attachment=True, filename=attachment.filename)
    response["Content-Type"] = "application/octet-stream"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --------------------------------------------------------------------------------------------------
# re-homing a message that threading put on the wrong case
# --------------------------------------------------------------------------------------------------


def _message_or_404(case, message_id: int):
    from casework.cases.models import Message

    return get_object_or_404(Message, pk=message_id, case=case)


@login_required
@require_POST
def message_split(request: HttpRequest, reference: str, message_id: int) -> HttpResponse:
    case = _case_or_404(request, reference)
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
    case = _case_or_404(request, reference)
    message = _message_or_404(case, message_id)
    try:
        target = selectors.case_get(request.POST.get("target", "").strip(), user=request.user, write=True)
        services.message_move(
            message=message, target=target, actor=request.user, reason=request.POST.get("reason", "")[:500]
        )
    except ApplicationError as exc:
        _error(request, exc)
        return _back_to_case(case)
    messages.success(request, f"Message moved to {target.reference}.")
    return _back_to_case(target)
