"""What the signed-in agent's role lets them open, for the navigation (`casework/people/permissions.py`
enforces it in views and services; the template only hides links a role would be refused)."""

from __future__ import annotations

from . import permissions


def role(request) -> dict:
    user = getattr(request, "user", None)
    mine = permissions.role_of(user)
    rank = permissions.RANK.get(mine, 0) if mine else 0
    return {
        "user_role": mine,
        "can_lead": rank >= permissions.RANK[permissions.LEAD],
        "can_manage": rank >= permissions.RANK[permissions.MANAGER],
        "can_admin": rank >= permissions.RANK[permissions.ADMIN],
    }
