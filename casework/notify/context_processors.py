"""The unread counter in the agent UI's header: one indexed COUNT per page (`notification_inbox`)."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject


def unread_notifications(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def count() -> int:
        from .models import Notification

        return Notification.objects.filter(user=user, read_at__isnull=True).count()

    # Lazy: pages that never show the header (the API, the portal) pay nothing.
    return {"unread_notifications": SimpleLazyObject(count)}
