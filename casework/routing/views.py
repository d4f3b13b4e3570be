"""Routing pages in the agent workspace: the case page's Auto-assign button and "My availability".
Parse, call a service, redirect; no business logic here."""

from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from casework.cases import selectors as case_selectors
from casework.core import clock
from casework.core.errors import ApplicationError, PermissionDenied, ValidationFailed
from casework.people.models import AgentProfile, Availability
from casework.people.permissions import agent_required

from . import availability, services
from .models import CaseWatcher, OutOfOffice


@agent_required
@require_POST
def case_auto_assign(request: HttpRequest, reference: str) -> HttpResponse:
    try:
        case = case_selectors.case_get(reference, user=request.user, write=True)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.message) from exc
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    try:
        outcome = services.auto_assign(
            case=case, actor=request.user, reason="Auto-assign requested", replace_assignee=False
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        if outcome.assigned:
            name = outcome.assignee.get_full_name() or outcome.assignee.username
            messages.success(request, f"{case.reference} assigned to {name}.")
        elif case.assignee_id:
            messages.info(request, f"{case.reference} already has an owner.")
        else:
            messages.warning(request, outcome.explanation)
    return redirect(reverse("web:case", args=[case.reference]))


def _parse_dt(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


@agent_required
def my_availability(request: HttpRequest) -> HttpResponse:
    profile = AgentProfile.objects.select_related("user", "cover__user").filter(user=request.user).first()
    if profile is None:
        raise Http404("Only agents with a profile have an availability")
    if request.method == "POST":
        action = request.POST.get("action", "")
        cover = AgentProfile.objects.select_related("user").filter(pk=request.POST.get("cover") or 0).first()
        try:
            if action == "schedule":
                starts_at = _parse_dt(request.POST.get("starts_at", "")) or clock.now()
                ends_at = _parse_dt(request.POST.get("ends_at", ""))
                if ends_at is None:
                    raise ValidationFailed("Give the date you are back", code="invalid_range")
                availability.schedule_out_of_office(
                    agent=profile,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    cover=cover,
                    note=request.POST.get("note", ""),
                    actor=request.user,
                )
                messages.success(request, "Out of office planned.")
            elif action == "cancel":
                absence = OutOfOffice.objects.filter(
                    pk=request.POST.get("absence") or 0, agent=profile
                ).first()
                if absence is not None:
                    availability.cancel_out_of_office(absence=absence, actor=request.user)
                    messages.success(request, "Absence cancelled.")
            elif request.POST.get("availability") in Availability.values:
                report = availability.set_availability(
                    agent=profile,
                    availability=request.POST["availability"],
                    away_until=_parse_dt(request.POST.get("away_until", "")),
                    cover=cover,
                    actor=request.user,
                )
                handed = len(report.reassigned) + len(report.offered) + len(report.rerouted)
                messages.success(
                    request,
                    f"You are now {Availability(request.POST['availability']).label.lower()}."
                    + (f" {handed} open case(s) handed to your cover." if handed else ""),
                )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect(reverse("routing:my_availability"))
    now = clock.now()
    context = {
        "profile": profile,
        "available_now": profile.is_available(now),
        "availabilities": Availability.choices,
        "colleagues": AgentProfile.objects.select_related("user")
        .filter(user__is_active=True)
        .exclude(pk=profile.pk)
        .order_by("user__first_name", "user__username"),
        "absences": OutOfOffice.objects.filter(agent=profile, cancelled=False, ends_at__gt=now)
        .select_related("cover__user")
        .order_by("starts_at"),
        "covering": CaseWatcher.objects.filter(user=request.user, case__status__in=services.OPEN_STATUSES)
        .select_related("case")
        .order_by("-created_at")[:50],
        "open_count": services.open_cases_of(request.user.pk).count(),
    }
    return render(request, "routing/availability.html", context)
