"""Availability and holiday cover.

An agent is away (a short break, `away_until` optional) or out of office (a planned range with a cover
agent). New cases skip them (routing.services reads both the profile and the ranges in force). When an
agent goes away their open cases go to the cover agent according to each case's team `cover_policy`:

  * "offer"    — the case keeps its owner; a note on the case names the cover, who starts watching it;
  * "reassign" — the case is assigned to the cover (capacity permitting, under the same lock as
                 auto-assignment); without a cover (or a full one) it is auto-assigned within the team.

Planned ranges start and end from the routing job (`apply_due_absences`, every minute).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from casework.cases import services as case_services
from casework.cases.models import EventKind
from casework.cases.services.unit_of_work import door
from casework.core import clock
from casework.core.errors import ValidationFailed
from casework.people.models import AgentProfile, Availability, CoverPolicy

from . import history, services
from .models import OutOfOffice

logger = logging.getLogger(__name__)


@dataclass
class HandoverReport:
    reassigned: list[str] = field(default_factory=list)
    offered: list[str] = field(default_factory=list)
    rerouted: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)


def _check_cover(agent: AgentProfile, cover: AgentProfile | None) -> None:
    if cover is None:
        return
    if cover.pk == agent.pk:
        raise ValidationFailed("An agent cannot cover for themselves", code="invalid_cover")
    if not cover.user.is_active:
        raise ValidationFailed(f"{cover.display_name} is not an active agent", code="invalid_cover")


def _until_text(until: datetime | None) -> str:
    return f" until {until:%d %b %H:%M}" if until else ""


@door
def set_availability(
    *,
    agent: AgentProfile,
    availability: str,
    away_until: datetime | None = None,
    cover: AgentProfile | None = None,
    actor: Any = None,
    hand_over: bool = True,
) -> HandoverReport:
    """Set an agent active, away or out of office now. Going away hands their open cases to the cover."""
    if availability not in Availability.values:
        raise ValidationFailed(
            f"Unknown availability {availability!r}",
            code="invalid_availability",
            details={"allowed": list(Availability.values)},
        )
    now = clock.now()
    if away_until is not None and away_until <= now and availability != Availability.ACTIVE:
        raise ValidationFailed("away_until must be in the future", code="invalid_away_until")
    profile = AgentProfile.objects.select_for_update().select_related("user").get(pk=agent.pk)
    _check_cover(profile, cover)
    was_active = profile.is_available(now)
    profile.availability = availability
    profile.away_until = None if availability == Availability.ACTIVE else away_until
    if cover is not None or availability == Availability.ACTIVE:
        profile.cover = cover
    profile.save(update_fields=["availability", "away_until", "cover", "updated_at"])
    if availability == Availability.ACTIVE:
        # Coming back early ends the planned range in force, so the job does not send them away again.
        OutOfOffice.objects.filter(
            agent=profile, cancelled=False, starts_at__lte=now, ends_at__gt=now, ended_at__isnull=True
        ).update(ended_at=now)
    for field_name in ("availability", "away_until", "cover_id"):
        setattr(agent, field_name, getattr(profile, field_name))
    if hand_over and was_active and availability != Availability.ACTIVE:
        return hand_over_open_cases(agent=profile, cover=profile.cover, until=profile.away_until, actor=actor)
    return HandoverReport()


@door
def schedule_out_of_office(
    *,
    agent: AgentProfile,
    starts_at: datetime,
    ends_at: datetime,
    cover: AgentProfile | None = None,
    note: str = "",
    actor: Any = None,
) -> OutOfOffice:
    """Plan an absence. A range that has already begun starts at once."""
    if ends_at <= starts_at:
        raise ValidationFailed("The absence must end after it starts", code="invalid_range")
    now = clock.now()
    if ends_at <= now:
        raise ValidationFailed("The absence is already over", code="invalid_range")
    _check_cover(agent, cover)
    absence = OutOfOffice.objects.create(
        agent=agent,
        starts_at=starts_at,
        ends_at=ends_at,
        cover=cover,
        note=note[:300],
        created_by=getattr(actor, "pk", None) and actor,
        created_at=now,
    )
    if starts_at <= now:
        _start(absence, actor=actor)
    return absence


@door
def cancel_out_of_office(*, absence: OutOfOffice, actor: Any = None) -> OutOfOffice:
    absence = OutOfOffice.objects.select_for_update().get(pk=absence.pk)
    if absence.cancelled or absence.ended_at:
        return absence
    absence.cancelled = True
    absence.save(update_fields=["cancelled"])
    if absence.started_at:
        _end(absence, actor=actor)
    return absence


def _start(absence: OutOfOffice, *, actor: Any = None) -> HandoverReport:
    absence.started_at = clock.now()
    absence.save(update_fields=["started_at"])
    agent = AgentProfile.objects.select_related("user").get(pk=absence.agent_id)
    cover = AgentProfile.objects.select_related("user").filter(pk=absence.cover_id).first()
    return set_availability(
        agent=agent,
        availability=Availability.OUT_OF_OFFICE,
        away_until=absence.ends_at,
        cover=cover,
        actor=actor or services.ROUTING_ACTOR,
    )


def _end(absence: OutOfOffice, *, actor: Any = None) -> None:
    now = clock.now()
    OutOfOffice.objects.filter(pk=absence.pk).update(ended_at=now)
    profile = AgentProfile.objects.select_for_update().get(pk=absence.agent_id)
    if profile.availability == Availability.OUT_OF_OFFICE:
        profile.availability = Availability.ACTIVE
        profile.away_until = None
        profile.save(update_fields=["availability", "away_until", "updated_at"])


@door
def apply_due_absences(now: datetime | None = None) -> dict[str, int]:
    """Start ranges whose time has come and end those that are over (the routing job, every minute)."""
    now = now or clock.now()
    started = ended = 0
    due = OutOfOffice.objects.filter(
        cancelled=False, started_at__isnull=True, starts_at__lte=now, ends_at__gt=now
    ).select_for_update(skip_locked=True)
    for absence in due:
        _start(absence)
        started += 1
    over = OutOfOffice.objects.filter(
        cancelled=False, ended_at__isnull=True, ends_at__lte=now
    ).select_for_update(skip_locked=True)
    for absence in over:
        _end(absence)
        ended += 1
    # A short "away until" without a planned range also ends by itself.
    ended += AgentProfile.objects.filter(
        availability=Availability.AWAY, away_until__isnull=False, away_until__lte=now
    ).update(availability=Availability.ACTIVE, away_until=None)
    return {"started": started, "ended": ended}


def hand_over_open_cases(
    *, agent: AgentProfile, cover: AgentProfile | None, until: datetime | None, actor: Any = None
) -> HandoverReport:
    """Offer or reassign the agent's open cases, per each case's team cover policy."""
    actor = actor or services.ROUTING_ACTOR
    report = HandoverReport()
    away = f"{agent.display_name} is out of office{_until_text(until)}"
    for case in services.open_cases_of(agent.user_id).order_by("created_at", "id"):
        policy = case.team.cover_policy if case.team_id else CoverPolicy.OFFER
        if policy == CoverPolicy.REASSIGN:
            if cover is not None and _reassign_to_cover(
                case=case, agent=agent, cover=cover, away=away, actor=actor
            ):
                report.reassigned.append(case.reference)
                continue
            outcome = services.auto_assign(
                case=case, actor=actor, reason=f"{away}; no cover could take it", replace_assignee=True
            )
            (report.rerouted if outcome.assigned else report.left).append(case.reference)
            continue
        if cover is None:
            text = f"{away} and named no cover; the case waits for them or a colleague taking it"
            report.left.append(case.reference)
        else:
            text = f"{away}; {cover.display_name} covers — take the case if it cannot wait"
            history.watch(case=case, user=cover.user, reason=f"Covering for {agent.display_name}")
            report.offered.append(case.reference)
        case_services.case_record_system_event(
            case=case,
            kind=EventKind.NOTE,
            actor=actor,
            reason=text,
            data={
                "routing": "cover_offer",
                "explanation": text,
                "away": agent.user.username,
                "cover": cover.user.username if cover else None,
                "until": until.isoformat() if until else None,
            },
        )
    logger.info("routing: handover for %s: %s", agent.user.username, report)
    return report


def _reassign_to_cover(*, case, agent: AgentProfile, cover: AgentProfile, away: str, actor: Any) -> bool:
    text = f"{away}; cover {cover.display_name} takes over"
    data = {
        "routing": "cover_reassign",
        "explanation": text,
        "away": agent.user.username,
        "cover": cover.user.username,
    }
    try:
        services.claim(case=case, profile_id=cover.pk, now=clock.now(), actor=actor, reason=text, data=data)
    except services.CannotTake as exc:
        logger.info("routing: cover %s cannot take %s: %s", cover.user.username, case.reference, exc.reason)
        return False
    history.watch(case=case, user=agent.user, reason="Owned it before going out of office")
    return True
