"""Reads for people: agents available for assignment, customers with their history."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from casework.core import config

from .models import AgentProfile, Customer, Organisation, Team


def agent_users() -> QuerySet:
    """Users who work cases: anyone with an agent profile."""
    return (
        get_user_model()
        .objects.filter(is_active=True, agent__isnull=False)
        .select_related("agent")
        .order_by("first_name", "username")
    )


def agent_profiles() -> QuerySet[AgentProfile]:
    return AgentProfile.objects.select_related("user").prefetch_related("teams")


def teams_by_name() -> dict[str, Team]:
    """Every team, read once per configuration version (teams are configuration: core/config.py). The
    instances are shared; treat them as read-only."""
    return config.cached("teams", lambda: {team.name: team for team in Team.objects.order_by("name")})


def teams_in_order() -> list[Team]:
    """Every team in the pickers' order (tier, then name), from the cached teams."""
    return sorted(teams_by_name().values(), key=lambda t: (t.tier_level, t.name, t.pk))


def team_named(name: str | None) -> Team | None:
    return teams_by_name().get(name) if name else None


def team_for_tier(tier: int) -> Team | None:
    """The team that serves a tier: the first by name with that tier level."""
    return next((t for t in teams_by_name().values() if t.tier_level == tier), None)


def team_list() -> QuerySet[Team]:
    return Team.objects.select_related("lead").order_by("tier_level", "name")


def customer_list() -> QuerySet[Customer]:
    return Customer.objects.select_related("organisation").order_by("email")


def organisation_list() -> QuerySet[Organisation]:
    return Organisation.objects.prefetch_related("domains").order_by("name")
