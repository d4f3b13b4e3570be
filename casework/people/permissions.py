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


def is_team_lead(user) -> bool:
    """Who may change how the whole team works (triage rules). Until the hardening issue's roles land:
    staff users and agents who lead a team. Swap this one function for the role check then."""
    if not is_agent(user):
        return False
    return user.is_staff or user.is_superuser or user.led_teams.exists()


def lead_required(view):
    """Like `agent_required`, for pages only a team lead (see `is_team_lead`) may use."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_team_lead(request.user):
            raise PermissionDenied("Only team leads can change triage rules.")
        return view(request, *args, **kwargs)

    return wrapper
