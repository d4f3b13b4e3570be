"""Insights pages: problems (list with clusters and spikes, detail), duplicate decisions from the case page,
engineering links, and the signed inbound webhooks of Jira and GitHub. Views parse and authorise; every
write is a door in services.py / issues.py."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from casework.cases.models import Case
from casework.core.errors import ApplicationError
from casework.people.permissions import LEAD, agent_required, case_for_request, has_role, lead_required

from . import findings_services, issues, selectors, services
from .models import (
    Cluster,
    DuplicateSuggestion,
    EngineeringLink,
    KnowledgeGap,
    LinkSystem,
    Problem,
    ProblemState,
)


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(fallback)


def _fail(request: HttpRequest, exc: ApplicationError) -> None:
    messages.error(request, f"{exc} ({exc.code})")


# --- problems -----------------------------------------------------------------------------------------


@agent_required
def problems(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    return render(
        request,
        "insights/problems.html",
        {
            "problems": selectors.problem_list(state=state),
            "clusters": selectors.open_clusters(),
            "spikes": selectors.recent_spikes(),
            "states": ProblemState.choices,
            "state": state,
            "can_manage": has_role(request.user, LEAD),
            "agents": get_user_model().objects.filter(is_active=True).order_by("username"),
        },
    )


@agent_required
def problem_detail(request: HttpRequest, pk: int) -> HttpResponse:
    problem = get_object_or_404(Problem.objects.select_related("owner", "cluster"), pk=pk)
    return render(
        request,
        "insights/problem.html",
        {
            "problem": problem,
            **selectors.problem_cases(problem),
            "loop": selectors.loop_closed(problem),
            "links": problem.engineering_links.all(),
            "states": ProblemState.choices,
            "can_manage": has_role(request.user, LEAD),
            "agents": get_user_model().objects.filter(is_active=True).order_by("username"),
            "systems": LinkSystem.choices,
        },
    )


def _user(value: str):
    if not value:
        return None
    return get_user_model().objects.filter(pk=value, is_active=True).first()


@require_POST
@lead_required
def problem_new(request: HttpRequest) -> HttpResponse:
    cluster = None
    if request.POST.get("cluster"):
        cluster = get_object_or_404(Cluster, pk=request.POST["cluster"])
    refs = [r.strip().upper() for r in request.POST.get("cases", "").replace(",", " ").split() if r.strip()]
    cases = list(Case.objects.filter(reference__in=refs))
    try:
        problem = services.problem_create(
            title=request.POST.get("title", "") or (cluster.label if cluster else ""),
            owner=_user(request.POST.get("owner", "")) or request.user,
            root_cause=request.POST.get("root_cause", ""),
            action=request.POST.get("action", ""),
            cluster=cluster,
            cases=cases,
            actor=request.user,
        )
    except ApplicationError as exc:
        _fail(request, exc)
        return redirect("insights:problems")
    messages.success(request, f"{problem.reference} created with its cases linked.")
    return redirect("insights:problem", pk=problem.pk)


@require_POST
@lead_required
def problem_edit(request: HttpRequest, pk: int) -> HttpResponse:
    problem = get_object_or_404(Problem, pk=pk)
    try:
        if request.POST.get("state") == ProblemState.RESOLVED:
            result = services.problem_resolve(
                problem=problem, note=request.POST.get("resolution_note", ""), actor=request.user
            )
            messages.success(request, f"Resolved: {result['told']} open case(s) told, with their customers.")
        else:
            fields = {k: request.POST[k] for k in ("title", "root_cause", "action") if k in request.POST}
            if "owner" in request.POST:
                fields["owner"] = _user(request.POST["owner"])
            services.problem_update(
                problem=problem, actor=request.user, state=request.POST.get("state") or None, **fields
            )
            messages.success(request, "Problem saved.")
    except ApplicationError as exc:
        _fail(request, exc)
    return redirect("insights:problem", pk=pk)


@require_POST
@lead_required
def problem_link(request: HttpRequest, pk: int) -> HttpResponse:
    problem = get_object_or_404(Problem, pk=pk)
    refs = [r.strip().upper() for r in request.POST.get("cases", "").replace(",", " ").split() if r.strip()]
    cases = list(Case.objects.filter(reference__in=refs))
    missing = sorted(set(refs) - {c.reference for c in cases})
    if missing:
        messages.error(request, f"No such case: {', '.join(missing)}")
    if cases:
        made = services.problem_link_cases(problem=problem, cases=cases, actor=request.user)
        messages.success(request, f"{len(made)} case(s) linked.")
    return _back(request, f"/problems/{pk}/")


@require_POST
@lead_required
def problem_reject(request: HttpRequest, pk: int, reference: str) -> HttpResponse:
    problem = get_object_or_404(Problem, pk=pk)
    case = get_object_or_404(Case, reference=reference)
    try:
        services.problem_reject_case(problem=problem, case=case, actor=request.user)
    except ApplicationError as exc:
        _fail(request, exc)
    return redirect("insights:problem", pk=pk)


# --- findings: repeat contacts, outliers, escalation spikes, knowledge gaps ------------------------------


@lead_required
def findings(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "insights/findings.html",
        {**selectors.findings(), "conf": settings.CASEWORK},
    )


@require_POST
@lead_required
def gap_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    gap = get_object_or_404(KnowledgeGap, pk=pk)
    try:
        findings_services.gap_dismiss(gap=gap, actor=request.user)
        messages.success(request, f"Dismissed: “{gap.label}” will not be suggested again.")
    except ApplicationError as exc:
        _fail(request, exc)
    return redirect("insights:findings")


@require_POST
@lead_required
def gap_draft(request: HttpRequest, pk: int) -> HttpResponse:
    gap = get_object_or_404(KnowledgeGap, pk=pk)
    try:
        article = findings_services.gap_start_draft(gap=gap, actor=request.user)
    except ApplicationError as exc:
        _fail(request, exc)
        return redirect("insights:findings")
    messages.success(request, "Draft article started from the suggestion: edit and publish it.")
    return redirect("knowledge:edit", pk=article.pk)


# --- duplicates (from the case page) ------------------------------------------------------------------


@require_POST
@agent_required
def duplicate_merge(request: HttpRequest, pk: int) -> HttpResponse:
    suggestion = get_object_or_404(DuplicateSuggestion.objects.select_related("case", "candidate"), pk=pk)
    case_for_request(request, suggestion.case.reference)  # 404 hidden, 403 another team's (read-only)
    try:
        target = services.duplicate_merge(suggestion=suggestion, actor=request.user)
    except ApplicationError as exc:
        _fail(request, exc)
        return redirect("web:case", reference=suggestion.case.reference)
    messages.success(request, f"Merged into {target.reference}; the customer is told.")
    return redirect("web:case", reference=target.reference)


@require_POST
@agent_required
def duplicate_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    suggestion = get_object_or_404(DuplicateSuggestion.objects.select_related("case", "candidate"), pk=pk)
    case_for_request(request, suggestion.case.reference)  # 404 hidden, 403 another team's (read-only)
    try:
        services.duplicate_dismiss(suggestion=suggestion, actor=request.user)
        messages.success(request, f"Noted: not a duplicate of {suggestion.candidate.reference}.")
    except ApplicationError as exc:
        _fail(request, exc)
    return redirect("web:case", reference=suggestion.case.reference)


# --- engineering links --------------------------------------------------------------------------------


@require_POST
@agent_required
def link_new(request: HttpRequest) -> HttpResponse:
    case = problem = None
    if request.POST.get("problem"):
        problem = get_object_or_404(Problem, pk=request.POST["problem"])
        back = f"/problems/{problem.pk}/"
    else:
        case = case_for_request(request, request.POST.get("case", ""))
        back = f"/cases/{case.reference}/"
    system = request.POST.get("system", "")
    try:
        if request.POST.get("reference", "").strip():
            issues.link_existing(
                system=system,
                reference=request.POST["reference"],
                case=case,
                problem=problem,
                actor=request.user,
            )
            messages.success(request, "Issue linked.")
        else:
            issues.link_create_issue(system=system, case=case, problem=problem, actor=request.user)
            messages.success(request, "The issue will be created by the worker in a moment.")
    except ApplicationError as exc:
        _fail(request, exc)
    return _back(request, back)


@agent_required
def link_detail(request: HttpRequest, pk: int) -> HttpResponse:
    link = get_object_or_404(EngineeringLink.objects.select_related("case", "problem"), pk=pk)
    return render(request, "insights/link.html", {"link": link, "cases": issues.linked_cases(link)})


@require_POST
@agent_required
def link_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    link = get_object_or_404(EngineeringLink, pk=pk)
    try:
        done = services.cases_resolve(
            cases=issues.linked_cases(link),
            actor=request.user,
            reason=f"Fixed by {link.get_system_display()} issue {link.key} ({link.issue_state})",
        )
        messages.success(request, f"{done} case(s) resolved.")
    except ApplicationError as exc:
        _fail(request, exc)
    return redirect("insights:link", pk=pk)


# --- inbound webhooks (no session, no agent token: the system's own HMAC secret) ------------------------


def _webhook(request: HttpRequest, system: str, secret: str, header: str) -> HttpResponse:
    if request.method != "POST":
        return JsonResponse({"error": {"code": "method_not_allowed", "message": "POST only"}}, status=405)
    body = request.body
    if not issues.signature_ok(secret, body, request.headers.get(header, "")):
        return JsonResponse(
            {"error": {"code": "bad_signature", "message": "Signature missing or wrong"}}, status=403
        )
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return JsonResponse({"error": {"code": "invalid_json", "message": "Body is not JSON"}}, status=400)
    if not isinstance(payload, dict):
        return JsonResponse(
            {"error": {"code": "invalid_payload", "message": "Expected an object"}}, status=400
        )
    if system == LinkSystem.GITHUB:
        parsed = issues.parse_github(request.headers.get("X-GitHub-Event", ""), payload)
    else:
        parsed = issues.parse_jira(payload)
    if parsed is None:
        return JsonResponse({"ignored": True})
    key, state = parsed
    return JsonResponse({"key": key, "state": state, "links": issues.apply_webhook(system, key, state)})


@csrf_exempt
def github_webhook(request: HttpRequest) -> HttpResponse:
    return _webhook(
        request, LinkSystem.GITHUB, settings.CASEWORK["GITHUB_WEBHOOK_SECRET"], "X-Hub-Signature-256"
    )


@csrf_exempt
def jira_webhook(request: HttpRequest) -> HttpResponse:
    return _webhook(request, LinkSystem.JIRA, settings.CASEWORK["JIRA_WEBHOOK_SECRET"], "X-Hub-Signature")
