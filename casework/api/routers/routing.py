"""/api/v1 routing: assign (by name or automatically), escalate / de-escalate, agent availability and
team routing settings. A thin adapter over casework.routing and cases.services."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.contrib.auth import get_user_model
from django.db import transaction
from ninja import Router
from pydantic import Field, StrictBool, model_validator

from casework.cases import selectors, services
from casework.core import clock
from casework.core.errors import NotFound, PermissionDenied, ValidationFailed
from casework.people import permissions
from casework.people.models import AgentProfile, Team
from casework.routing import availability
from casework.routing import services as routing

from ..schemas import CaseDetailOut, StrictIn
from ..serializers import case_detail_dict

router = Router(tags=["routing"])


class AssignIn(StrictIn):
    agent: str | None = Field(default=None, description="Username of the new owner")
    auto: StrictBool = Field(default=False, description="Let routing choose (skills, workload, fairness)")
    reason: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def one_of(self):
        if bool(self.agent) == bool(self.auto):
            raise ValueError('send either {"agent": username} or {"auto": true}')
        return self


class EscalateIn(StrictIn):
    to_tier: int | None = Field(default=None, ge=1, le=3, description="Default: one tier up (or down)")
    handoff_note: str = Field(min_length=1, max_length=10_000)
    reason: str = Field(default="", max_length=2000)


class AssignOut(CaseDetailOut):
    routing: dict | None = None


class AvailabilityIn(StrictIn):
    availability: Literal["active", "away", "out_of_office"]
    away_until: datetime | None = None
    cover: str | None = Field(default=None, description="Username of the cover agent")


class AvailabilityOut(StrictIn):
    username: str
    availability: str
    available_now: bool
    away_until: datetime | None
    cover: str | None
    open_cases: int
    max_open_cases: int
    handed_over: dict | None = None


class TeamPatchIn(StrictIn):
    assignment_mode: Literal["skills_load", "round_robin", "manual"] | None = None
    cover_policy: Literal["offer", "reassign"] | None = None
    lead: str | None = Field(
        default=None,
        max_length=150,
        description="The lead's username; null removes the lead. Managers and admins only; it raises the "
        "new lead's role to lead (never lowers one).",
    )
    reason: str = Field(default="", max_length=500, description="Why the lead changes (kept in the audit)")


class TeamOut(StrictIn):
    name: str
    tier_level: int | None
    lead: str | None
    assignment_mode: str
    cover_policy: str
    members: list[str]


def _routing_dict(case) -> dict | None:
    event = case.events.filter(kind="assigned").order_by("-created_at", "-id").first()
    if event is None:
        return None
    return {"explanation": event.data.get("explanation", ""), "candidates": event.data.get("candidates", [])}


@router.post("/cases/{reference}/assign", response=AssignOut, summary="Assign to an agent, or automatically")
def assign_case(request, reference: str, payload: AssignIn):
    case = selectors.case_get(reference, user=request.auth, write=True)
    if payload.auto:
        outcome = routing.auto_assign(case=case, actor=request.auth, reason=payload.reason or "Auto-assign")
        fresh = selectors.case_get(reference)
        body = case_detail_dict(fresh)
        body["routing"] = (
            _routing_dict(fresh)
            if outcome.assigned
            else {"explanation": outcome.explanation, "candidates": []}
        )
        return body
    user = get_user_model().objects.filter(username=payload.agent, is_active=True).first()
    if user is None:
        raise NotFound(f"No agent {payload.agent!r}", code="agent_not_found")
    routing.assign_to(case=case, user=user, actor=request.auth, reason=payload.reason)
    return {**case_detail_dict(selectors.case_get(reference)), "routing": None}


def _move(request, reference: str, payload: EscalateIn, *, up: bool):
    case = selectors.case_get(reference, user=request.auth, write=True)
    to_tier = payload.to_tier or (case.tier + 1 if up else case.tier - 1)
    if up and to_tier <= case.tier:
        raise ValidationFailed(f"L{to_tier} is not above L{case.tier}; use de-escalate", code="not_higher")
    if not up and to_tier >= case.tier:
        raise ValidationFailed(f"L{to_tier} is not below L{case.tier}; use escalate", code="not_lower")
    services.case_escalate(
        case=case,
        to_tier=to_tier,
        actor=request.auth,
        reason=payload.reason,
        handoff_note=payload.handoff_note,
    )
    # The new tier's team auto-assigned it in the same write (routing stage); the reload shows the owner.
    return case_detail_dict(selectors.case_get(reference))


@router.post("/cases/{reference}/escalate", response=CaseDetailOut, summary="Hand over to a higher tier")
def escalate_case(request, reference: str, payload: EscalateIn):
    return _move(request, reference, payload, up=True)


@router.post("/cases/{reference}/de-escalate", response=CaseDetailOut, summary="Hand back to a lower tier")
def de_escalate_case(request, reference: str, payload: EscalateIn):
    return _move(request, reference, payload, up=False)


def _availability_dict(profile: AgentProfile, handed_over: dict | None = None) -> dict:
    return {
        "username": profile.user.username,
        "availability": profile.availability,
        "available_now": profile.is_available(clock.now()),
        "away_until": profile.away_until,
        "cover": profile.cover.user.username if profile.cover_id else None,
        "open_cases": routing.open_cases_of(profile.user_id).count(),
        "max_open_cases": profile.max_open_cases,
        "handed_over": handed_over,
    }


def _profile(username: str) -> AgentProfile:
    profile = (
        AgentProfile.objects.select_related("user", "cover__user").filter(user__username=username).first()
    )
    if profile is None:
        raise NotFound(f"No agent {username!r}", code="agent_not_found")
    return profile


@router.get("/agents/{username}/availability", response=AvailabilityOut, summary="An agent's availability")
def get_availability(request, username: str):
    return _availability_dict(_profile(username))


@router.put(
    "/agents/{username}/availability", response=AvailabilityOut, summary="Set an agent's availability"
)
def put_availability(request, username: str, payload: AvailabilityIn):
    profile = _profile(username)
    if not permissions.can_manage_agent(request.auth, profile):
        raise PermissionDenied(
            "Agents set their own availability; leads their team's; managers anyone's",
            code="not_team_lead",
        )
    cover = _profile(payload.cover) if payload.cover else None
    report = availability.set_availability(
        agent=profile,
        availability=payload.availability,
        away_until=payload.away_until,
        cover=cover,
        actor=request.auth,
    )
    return _availability_dict(_profile(username), handed_over=vars(report))


def _team(name: str) -> Team:
    team = Team.objects.select_related("lead").filter(name=name).first()
    if team is None:
        raise NotFound(f"No team {name!r}", code="team_not_found")
    return team


def _team_dict(team: Team) -> dict:
    return {
        "name": team.name,
        "tier_level": team.tier_level,
        "lead": team.lead.username if team.lead_id else None,
        "assignment_mode": team.assignment_mode,
        "cover_policy": team.cover_policy,
        "members": list(team.agents.order_by("user__username").values_list("user__username", flat=True)),
    }


@router.get("/teams/{name}", response=TeamOut, summary="A team's routing settings")
def get_team(request, name: str):
    return _team_dict(_team(name))


@router.patch(
    "/teams/{name}", response=TeamOut, summary="Change a team's assignment mode, cover policy or lead"
)
def patch_team(request, name: str, payload: TeamPatchIn):
    team = _team(name)
    permissions.require_team_manager(request.auth, team)
    with transaction.atomic():
        if "lead" in payload.model_fields_set:
            from casework.people.roles import team_set_lead

            lead = _profile(payload.lead).user if payload.lead else None
            team_set_lead(team=team, lead=lead, actor=request.auth, reason=payload.reason)
        routing.team_update(
            team=team,
            assignment_mode=payload.assignment_mode,
            cover_policy=payload.cover_policy,
        )
    return _team_dict(_team(name))
