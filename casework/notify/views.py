"""The agent's notifications: the list (all or unread), mark one or all read, and the digest choice.
Only the owner's rows are ever touched: another agent's notification id is a 404."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from casework.people.permissions import agent_required

from .config import notify_config
from .models import AgentPreference, Notification
from .selectors import PAGE, notifications_for


@agent_required
def notification_list(request: HttpRequest) -> HttpResponse:
    unread_only = request.GET.get("show") == "unread"
    rows = list(notifications_for(request.user, unread_only=unread_only)[: PAGE + 1])
    config = notify_config()
    for row in rows:
        try:
            row.kind_label = config.kind(row.kind).label
        except KeyError:
            row.kind_label = row.kind
    preference = AgentPreference.objects.filter(user=request.user).first()
    return render(
        request,
        "notify/notifications.html",
        {
            "notifications": rows[:PAGE],
            "more": len(rows) > PAGE,
            "unread_only": unread_only,
            "daily_digest": bool(preference and preference.daily_digest),
        },
    )


@agent_required
@require_POST
def notification_open(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark read and go to the case (the list's links post here, so reading is one click)."""
    row = Notification.objects.filter(pk=pk, user=request.user).first()
    if row is None:
        raise Http404("No such notification")
    if row.read_at is None:
        Notification.objects.filter(pk=pk, read_at__isnull=True).update(read_at=timezone.now())
    return redirect(row.url or "notify:list")


@agent_required
@require_POST
def notification_mark_read(request: HttpRequest, pk: int) -> HttpResponse:
    updated = Notification.objects.filter(pk=pk, user=request.user, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    if not updated and not Notification.objects.filter(pk=pk, user=request.user).exists():
        raise Http404("No such notification")
    return redirect(_back(request))


@agent_required
@require_POST
def notification_mark_all_read(request: HttpRequest) -> HttpResponse:
    Notification.objects.filter(user=request.user, read_at__isnull=True).update(read_at=timezone.now())
    return redirect(_back(request))


@agent_required
@require_POST
def digest_preference(request: HttpRequest) -> HttpResponse:
    AgentPreference.objects.update_or_create(
        user=request.user, defaults={"daily_digest": request.POST.get("daily_digest") == "on"}
    )
    return redirect(_back(request))


def _back(request: HttpRequest) -> str:
    show = request.POST.get("show")
    return "/notifications/?show=unread" if show == "unread" else "/notifications/"
