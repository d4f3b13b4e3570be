"""Who may work cases. Roles (manager, admin, read-only) arrive with the hardening issue; today an agent
is an active user with an agent profile, and staff users count as agents for administration."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied


def is_agent(user) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return user.is_staff or hasattr(user, "agent")


def agent_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_agent(request.user):
            raise PermissionDenied("Only agents can use the workspace.")
        return view(request, *args, **kwargs)

    return wrapper
