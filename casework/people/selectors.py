"""Reads for people: agents available for assignment, customers with their history."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

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


def team_list() -> QuerySet[Team]:
    return Team.objects.select_related("lead").order_by("tier_level", "name")


def customer_list() -> QuerySet[Customer]:
    return Customer.objects.select_related("organisation").order_by("email")


def organisation_list() -> QuerySet[Organisation]:
    return Organisation.objects.prefetch_related("domains").order_by("name")
