"""Who may do what: roles as data (`AgentProfile.role`), checked by selectors, door functions, the API and
the UI alike — a template hiding a button is never the check.

Roles rank agent < lead < manager < admin; each includes the rights of the ones below it.

- **agent**: works the cases of their teams, cases assigned to them and cases no team holds yet (someone has
  to triage them). Other teams' cases are read-only, or hidden when `CASEWORK_OTHER_TEAMS=hidden`.
- **lead**: also manages the teams they lead (`Team.lead`) or belong to: routing settings, members'
  availability, triage rules, the review queue.
  Reads the figures (dashboard, reports, CSV, metrics API, CSAT reviews, knowledge gaps) of those teams
  only (`report_team_ids`). Being named a team's lead raises the role to lead (`people/roles.py`).
- **manager**: every team's cases, reports, SLA policies, organisations.
- **admin**: configuration, users, tokens, integrations. A Django superuser is an admin.

A user without an agent profile (and not a superuser) has no role and no access to the workspace; customers
never hold Django users (the portal signs them in by link).
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Q, QuerySet

from casework.core.errors import NotFound, PermissionDenied

AGENT, LEAD, MANAGER, ADMIN = "agent", "lead", "manager", "admin"
RANK = {AGENT: 1, LEAD: 2, MANAGER: 3, ADMIN: 4}


def _is_user(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_active", False)


def role_of(user) -> str | None:
    """The user's role, or None for someone who may not use the workspace."""
    if not _is_user(user):
        return None
    if user.is_superuser:
        return ADMIN
    profile = getattr(user, "agent", None)
    if profile is None:
        return None
    return profile.role if profile.role in RANK else AGENT


def has_role(user, role: str) -> bool:
    mine = role_of(user)
    return mine is not None and RANK[mine] >= RANK[role]


def is_agent(user) -> bool:
    return role_of(user) is not None


def team_ids(user) -> frozenset[int]:
    """The teams the user belongs to, read once per user instance (a request's user)."""
    cached = getattr(user, "_casework_team_ids", None)
    if cached is None:
        profile = getattr(user, "agent", None)
        cached = frozenset(profile.teams.values_list("id", flat=True)) if profile is not None else frozenset()
        user._casework_team_ids = cached
    return cached


def led_team_ids(user) -> frozenset[int]:
    """Teams the user manages as a lead: the ones naming them lead, plus their own teams if their role is
    lead or above."""
    cached = getattr(user, "_casework_led_team_ids", None)
    if cached is None:
        from .models import Team

        led = set(Team.objects.filter(lead=user).values_list("id", flat=True)) if _is_user(user) else set()
        if has_role(user, LEAD):
            led |= team_ids(user)
        cached = user._casework_led_team_ids = frozenset(led)
    return cached


def sees_all_teams(user) -> bool:
    return has_role(user, MANAGER)


def report_team_ids(user) -> frozenset[int] | None:
    """The teams whose figures (dashboard, reports, CSV, metrics API, CSAT reviews, knowledge gaps) the
    user may read: None = every team (managers and admins); a lead the teams they lead
    (`led_team_ids`); anyone else none."""
    if sees_all_teams(user):
        return None
    if not has_role(user, LEAD):
        return frozenset()
    return led_team_ids(user)


def require_report_team(user, team_id: int | None) -> frozenset[int] | None:
    """The teams a report for `user` may count (`report_team_ids`), after checking that the team they
    asked for, if any, is one of them: another team is refused (`not_your_team`, 403), never silently
    widened or emptied."""
    allowed = report_team_ids(user)
    if allowed is None or team_id is None or team_id in allowed:
        return allowed
    from .models import Team

    name = Team.objects.filter(pk=team_id).values_list("name", flat=True).first()
    mine = sorted(Team.objects.filter(pk__in=allowed).values_list("name", flat=True))
    raise PermissionDenied(
        f"Team {name or team_id}'s figures are for its lead, managers and admins; "
        + (f"you lead {', '.join(mine)}." if mine else "you lead no team."),
        code="not_your_team",
        details={"team": team_id, "your_teams": sorted(allowed)},
    )


def other_teams_visible() -> bool:
    return settings.CASEWORK["OTHER_TEAMS"] != "hidden"


# --- cases ------------------------------------------------------------------------------------------------


def workable_q(user) -> Q:
    """Cases the user may change (a Q over Case): their teams', the teams they lead, their own."""
    teams = team_ids(user) | led_team_ids(user)
    return Q(team_id__in=teams) | Q(assignee_id=user.pk) | Q(team__isnull=True)


def visible_cases(qs: QuerySet, user) -> QuerySet:
    """Restrict a Case queryset to what the user may read. Everything for managers (or when other teams
    are read-only), nothing for someone without a role."""
    if not is_agent(user):
        return qs.none()
    if sees_all_teams(user) or other_teams_visible():
        return qs
    return qs.filter(workable_q(user))


def can_see_case(user, case) -> bool:
    if not is_agent(user):
        return False
    return sees_all_teams(user) or other_teams_visible() or can_work_case(user, case)


def can_work_case(user, case) -> bool:
    if not is_agent(user):
        return False
    if sees_all_teams(user):
        return True
    if case.team_id is None or case.assignee_id == user.pk or case.team_id in team_ids(user):
        return True
    return case.team_id in led_team_ids(user)  # a team's lead works its cases, member or not


def require_case_read(user, case) -> None:
    if not can_see_case(user, case):
        # Hidden cases answer like missing ones: their existence is not leaked.
        raise NotFound(f"No case with reference '{case.reference}'", code="case_not_found")


def require_case_write(user, case) -> None:
    require_case_read(user, case)
    if not can_work_case(user, case):
        raise PermissionDenied(
            f"{case.reference} belongs to another team; you can read it but not change it",
            code="case_read_only",
        )


def is_user_actor(actor) -> bool:
    """Door functions are called by people (a User), customers, and the system (None or a label): only
    people are checked against roles."""
    from django.contrib.auth import get_user_model

    return isinstance(actor, get_user_model())


# --- teams, agents, configuration --------------------------------------------------------------------------


def can_manage_team(user, team) -> bool:
    return has_role(user, MANAGER) or (team is not None and team.pk in led_team_ids(user))


def require_team_manager(user, team) -> None:
    if not can_manage_team(user, team):
        raise PermissionDenied(
            "Only the team's lead, a manager or an admin change a team's settings", code="not_team_lead"
        )


def can_manage_agent(user, profile) -> bool:
    """An agent sets their own availability; a lead sets their team members'; managers anyone's."""
    if not is_agent(user):
        return False
    if profile.user_id == user.pk or has_role(user, MANAGER):
        return True
    led = led_team_ids(user)
    return bool(led) and profile.teams.filter(id__in=led).exists()


def require_role(user, role: str, what: str = "this") -> None:
    if not has_role(user, role):
        raise PermissionDenied(f"Only a {role} or above may do {what}", code="role_required")


# --- views ------------------------------------------------------------------------------------------------


def agent_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_agent(request.user):
            raise DjangoPermissionDenied("Only agents can use the workspace.")
        return view(request, *args, **kwargs)

    return wrapper


def role_required(role: str):
    """View decorator: signed-in agents below `role` get 403."""

    def decorator(view):
        @wraps(view)
        @agent_required
        def wrapper(request, *args, **kwargs):
            if not has_role(request.user, role):
                raise DjangoPermissionDenied(f"Only a {role} or above can open this page.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def case_for_request(request, reference: str):
    """The case a web request names: Http404 when it is missing or the agent's role hides it, 403 when the
    request is a POST to a case they may only read. The door functions check again."""
    from django.http import Http404

    from casework.cases import selectors
    from casework.core.errors import ApplicationError

    try:
        return selectors.case_get(reference, user=request.user, write=request.method == "POST")
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.message) from exc
    except ApplicationError as exc:
        raise Http404(exc.message) from exc


def lead_required(view):
    """Like `agent_required`, for pages only a lead or above may use (403 for agents)."""
    return role_required(LEAD)(view)
