"""The door for who leads a team and what role an agent holds: `Team.lead` and `AgentProfile.role` are
written here only (the Django admin, the API, the demo and commands call these), each change in one
transaction with a `StaffChange` row saying who, when, from → to and why.

**A team's lead holds the lead role.** Naming someone a team's lead raises their role to at least `lead`
(the review queue, the dashboard and the rule editor check the role); a manager or admin is never lowered.
Lowering the role of someone who still leads a team is refused (`leads_team`): choose another lead first.

**Stopping leading a team leaves the role as it is.** When someone stops leading their last team, their
role stays `lead` and the `StaffChange` row says they lead no team any more; an admin decides whether to
lower it (`agent_set_role`). Why not lower it automatically: the lead role also covers the teams a lead
belongs to (`permissions.led_team_ids`), it may have been granted for reasons of its own (a deputy, a
rule owner), and silently taking rights away in the middle of a hand-over (old lead replaced first, new
team assigned a minute later) locks people out of work they are doing. Raising is automatic because the
opposite — a named lead who cannot open their team's review queue — is always a mistake; lowering is a
decision, so a person makes it, and the audit line tells them it is due.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from casework.core.errors import Conflict, ValidationFailed

from . import permissions
from .models import AgentProfile, Role, StaffChange, Team


def _label(user: Any) -> str:
    if user is None:
        return ""
    if isinstance(user, str):
        return user[:200]
    return (user.get_full_name() or user.username)[:200]


def _actor_fields(actor: Any) -> dict:
    user = actor if permissions.is_user_actor(actor) else None
    return {"actor": user, "actor_label": _label(actor) or "system"}


def _reason(reason: str) -> str:
    return (reason or "").replace("\x00", "").strip()[:500]


def leads_any_team(user: Any, *, besides: Team | None = None) -> bool:
    qs = Team.objects.filter(lead=user)
    if besides is not None:
        qs = qs.exclude(pk=besides.pk)
    return qs.exists()


@transaction.atomic
def team_set_lead(*, team: Team, lead: Any, actor: Any = None, reason: str = "") -> Team:
    """Make `lead` (a user, or None for no lead) the team's lead; raise their role to lead if it is
    below. People are checked: only managers and admins choose leads (the system and commands may)."""
    if permissions.is_user_actor(actor):
        permissions.require_role(actor, permissions.MANAGER, "choosing a team's lead")
    reason = _reason(reason)
    team = Team.objects.select_for_update().get(pk=team.pk)
    profile = None
    if lead is not None:
        if not lead.is_active:
            raise ValidationFailed(
                f"{_label(lead)} is deactivated and cannot lead a team", code="inactive_user"
            )
        profile = AgentProfile.objects.select_for_update().filter(user=lead).first()
        if profile is None and not lead.is_superuser:
            raise ValidationFailed(
                f"{_label(lead)} has no agent profile: only agents lead teams", code="not_an_agent"
            )
    former = team.lead
    if (former.pk if former else None) == (lead.pk if lead else None):
        return team
    team.lead = lead
    team.save(update_fields=["lead", "updated_at"])
    after: dict[str, Any] = {"lead": lead.username if lead else None}
    if former is not None and not leads_any_team(former):
        former_role = permissions.role_of(former)
        after["former_lead_leads_no_team"] = True
        after["former_lead_role"] = former_role
    StaffChange.objects.create(
        kind=StaffChange.Kind.LEAD_SET,
        team=team,
        subject=lead,
        subject_label=_label(lead),
        before={"lead": former.username if former else None},
        after=after,
        reason=reason,
        **_actor_fields(actor),
    )
    if profile is not None and permissions.RANK.get(profile.role, 1) < permissions.RANK[permissions.LEAD]:
        old = profile.role
        profile.role = Role.LEAD
        profile.save(update_fields=["role", "updated_at"])
        lead.agent = profile  # the caller's user object (a request's) sees the new role at once
        StaffChange.objects.create(
            kind=StaffChange.Kind.ROLE_CHANGED,
            team=team,
            subject=lead,
            subject_label=_label(lead),
            before={"role": old},
            after={"role": Role.LEAD},
            reason=f"Raised to lead: leads {team.name}" + (f" ({reason})" if reason else ""),
            **_actor_fields(actor),
        )
    for cached in ("_casework_led_team_ids", "_casework_team_ids"):
        for user in (lead, former):
            if user is not None and hasattr(user, cached):
                delattr(user, cached)
    return team


@transaction.atomic
def agent_set_role(*, profile: AgentProfile, role: str, actor: Any = None, reason: str = "") -> AgentProfile:
    """Change an agent's role (admins only when a person does it). Lowering someone below lead while they
    lead a team is refused: the team would have a lead who cannot open its review queue."""
    if permissions.is_user_actor(actor):
        permissions.require_role(actor, permissions.ADMIN, "changing roles")
    if role not in Role.values:
        raise ValidationFailed(
            f"Unknown role '{role}'", code="invalid_role", details={"allowed": list(Role.values)}
        )
    profile = AgentProfile.objects.select_for_update().select_related("user").get(pk=profile.pk)
    old = profile.role
    if old == role:
        return profile
    if permissions.RANK[role] < permissions.RANK[permissions.LEAD]:
        led = list(Team.objects.filter(lead=profile.user).order_by("name").values_list("name", flat=True))
        if led:
            raise Conflict(
                f"{_label(profile.user)} leads {', '.join(led)}: choose another lead for "
                f"{'it' if len(led) == 1 else 'them'} before lowering the role",
                code="leads_team",
                details={"teams": led},
            )
    profile.role = role
    profile.save(update_fields=["role", "updated_at"])
    StaffChange.objects.create(
        kind=StaffChange.Kind.ROLE_CHANGED,
        subject=profile.user,
        subject_label=_label(profile.user),
        before={"role": old},
        after={"role": role},
        reason=_reason(reason),
        **_actor_fields(actor),
    )
    return profile
