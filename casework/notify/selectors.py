"""Reads of the in-app notification list (a constant number of queries per page)."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Notification

PAGE = 50


def notifications_for(user, *, unread_only: bool = False) -> QuerySet[Notification]:
    rows = Notification.objects.filter(user=user).select_related("case")
    if unread_only:
        rows = rows.filter(read_at__isnull=True)
    return rows.order_by("-created_at", "-id")
