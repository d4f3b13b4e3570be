"""Assignment: gather candidates with a constant number of queries, rank them with the pure scoring
engine, and give the case to the best one through cases.services.case_assign, so the timeline explains
the choice and the runners-up.

Capacity is guarded under concurrency: a write that assigns locks the team's AgentProfile rows (in id
order, after the cases it holds — the lock order everywhere is cases, clocks, profiles) before it reads
their open cases, so two writes assigning at once can never push an agent past `max_open_cases`: the
second waits for the first to commit, then counts its case. The team's candidates are read once per
write (the pool) and kept current in memory, so a batch of mail assigns a hundred cases with the same
four queries as one.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, Q

from casework.cases import services as case_services
from casework.cases.models import Case, EventKind
from casework.cases.services.unit_of_work import Work, active, current, door, unit_of_work
from casework.cases.status import OPEN_STATUSES
from casework.core import clock, config
from casework.core.errors import InvalidTransition, NotFound, ValidationFailed
from casework.people import selectors as people_selectors
from casework.people.models import (
    AgentProfile,
    AgentSkill,
    AssignmentMode,
    Availability,
    OrganisationTier,
    Team,
)

from . import scoring
from .models import OutOfOffice

logger = logging.getLogger(__name__)

ROUTING_ACTOR = "routing"
# Case tags and a "product" custom field also ask for skills, at half the weight of the category.
CATEGORY_SKILL_WEIGHT = 1.0
TAG_SKILL_WEIGHT = 0.5
RUNNERS_UP_IN_EVENT = 3


def _key(name: str) -> str:
    return " ".join(str(name).replace("-", " ").replace("_", " ").lower().split())


# --------------------------------------------------------------------------------------------------
# inputs for the scoring engine
# --------------------------------------------------------------------------------------------------


# The User and AgentProfile fields `_Pool.user` builds an assignee from (the order of gather_candidates'
# rows); the User's others stay deferred.
_USER_EXTRA = ("user__email", "user__is_staff", "user__is_superuser")
_USER_FIELDS = [
    "id",
    "username",
    "first_name",
    "last_name",
    "date_joined",
    "is_active",
    "email",
    "is_staff",
    "is_superuser",
]
_PROFILE_FIELDS = [
    "id",
    "user_id",
    "tier_level",
    "max_open_cases",
    "availability",
    "away_until",
    "last_assigned_at",
]


def case_needs(case: Case, tag_names: list[str] | None = None) -> scoring.CaseNeeds:
    """What the case asks of its owner: skills from category, tags and product; VIP/enterprise; tier."""
    wanted: dict[str, float] = {}
    if case.category_id:
        wanted[_key(case.category.slug)] = CATEGORY_SKILL_WEIGHT
    if tag_names is None:
        tag_names = list(case.tags.values_list("name", flat=True))
    product = (case.custom_fields or {}).get("product")
    for name in [*tag_names, *([product] if isinstance(product, str) and product else [])]:
        wanted.setdefault(_key(name), TAG_SKILL_WEIGHT)
    org = case.organisation
    return scoring.CaseNeeds(
        skills=wanted,
        priority=case.priority,
        vip=bool(org and org.vip),
        enterprise=bool(org and org.tier == OrganisationTier.ENTERPRISE),
        tier=case.tier,
    )


def _seniority(tier: int, date_joined: datetime, now: datetime) -> float:
    """0..1: three quarters the agent's tier (L1 0, L3 1), one quarter tenure (two years = full)."""
    tenure_days = max(0.0, (now - date_joined).total_seconds() / 86400)
    return round(0.75 * (tier - 1) / 2 + 0.25 * min(tenure_days / 730, 1.0), 4)


def gather_candidates(
    *,
    team: Team | None = None,
    profile_ids: list[int] | None = None,
    now: datetime | None = None,
    lock: bool = False,
    users: dict[int, int] | None = None,
    people: dict[int, Any] | None = None,
) -> list[scoring.Candidate]:
    """Every member of the team (or the given profiles) as a scoring Candidate, in two queries whatever
    the team size: profiles+users and open-case load (one GROUP BY); skills and out-of-office ranges are
    configuration, cached per version. With `lock`, the profiles are locked first (in id order), so the
    load read after it is the truth until this transaction ends. `users`, if given, is filled with
    profile id → user id; `people` with profile id → the row the agent's User is built from when a
    case is given to them (`_Pool.user`), so an assignment reads nobody again.

    Plain value rows, not model instances: building 200 AgentProfile+User objects cost more than the
    queries themselves (bench/bench_assign.py)."""
    now = now or clock.now()
    if team is not None:
        mine, theirs = {"teams": team}, "agent__teams"
    else:
        mine, theirs = {"pk__in": list(profile_ids or [])}, "agent__in"
    by_assignee = {f"assignee__{theirs}": mine.get("teams", mine.get("pk__in"))}
    profiles = AgentProfile.objects.filter(**mine)
    if lock:
        profiles = profiles.select_for_update(of=("self",))
    profiles = list(
        profiles.order_by("pk").values_list(
            "pk",
            "user_id",
            "tier_level",
            "max_open_cases",
            "availability",
            "away_until",
            "last_assigned_at",
            "user__is_active",
            "user__first_name",
            "user__last_name",
            "user__username",
            "user__date_joined",
            *_USER_EXTRA,
        )
    )
    if not profiles:
        return []
    # One row per agent (not per agent and priority): a quarter of the rows to turn into Python.
    per_priority = {p: Count("id", filter=Q(priority=p)) for p in scoring.PRIORITY_LOAD}
    counts: dict[int, dict[str, int]] = {}
    rows = (
        Case.objects.filter(**by_assignee, status__in=OPEN_STATUSES)
        .order_by()
        .values("assignee_id")
        .annotate(**per_priority)
        .values_list("assignee_id", *per_priority)
    )
    for user_id, *numbers in rows:
        counts[user_id] = {p: n for p, n in zip(per_priority, numbers, strict=True) if n}
    skills = agent_skills()
    absences = absences_in_force(now)
    candidates = []
    for (
        pk,
        user_id,
        tier,
        capacity,
        avail,
        away_until,
        last,
        is_active,
        first,
        last_name,
        username,
        joined,
        *extra,
    ) in profiles:
        by_priority = counts.get(user_id, {})
        if users is not None:
            users[pk] = user_id
        if people is not None:
            people[pk] = (
                (user_id, username, first, last_name, joined, is_active, *extra),
                (pk, user_id, tier, capacity, avail, away_until, last),
            )
        reason = _reason(is_active, avail, away_until, absences.get(pk), now)
        name = f"{first} {last_name}".strip() or username
        candidates.append(
            scoring.Candidate(
                id=pk,
                name=name,
                skills=skills.get(pk, {}),
                open_cases=sum(by_priority.values()),
                load=scoring.weighted_load(by_priority),
                capacity=capacity,
                last_assigned_at=last,
                tier=tier,
                seniority=_seniority(tier, joined, now),
                available=not reason,
                unavailable_reason=reason,
            )
        )
    return candidates


def agent_skills() -> dict[int, dict[str, float]]:
    """Every agent's skills with their levels, by profile id (configuration: read once per version)."""

    def load() -> dict[int, dict[str, float]]:
        skills: dict[int, dict[str, float]] = defaultdict(dict)
        for agent_id, name, level in AgentSkill.objects.values_list("agent_id", "skill__name", "level"):
            skills[agent_id][_key(name)] = level
        return dict(skills)

    return config.cached("agent-skills", load)


def absences_in_force(now: datetime) -> dict[int, datetime]:
    """Planned absences in force at `now`, by profile id → when they end. The ranges not over yet are
    read once per configuration version (a new or cancelled range changes it); `now` picks from them."""

    def load() -> list[tuple[int, datetime, datetime]]:
        return list(
            OutOfOffice.objects.filter(cancelled=False, ends_at__gt=clock.now()).values_list(
                "agent_id", "starts_at", "ends_at"
            )
        )

    found: dict[int, datetime] = {}
    for agent_id, starts_at, ends_at in config.cached("absences", load):
        if starts_at <= now < ends_at:
            found[agent_id] = max(ends_at, found.get(agent_id, ends_at))
    return found


def _reason(active: bool, availability: str, away_until, absence_ends, now: datetime) -> str:
    """Why an agent cannot take a case now ('' when they can); mirrors AgentProfile.is_available."""
    if not active:
        return "is deactivated"
    if absence_ends is not None:
        return f"is out of office until {absence_ends:%d %b %H:%M}"
    if availability == Availability.ACTIVE or (away_until is not None and away_until <= now):
        return ""
    label = Availability(availability).label.lower()
    return f"is {label}" + (f" until {away_until:%d %b %H:%M}" if away_until else "")


def team_for_tier(tier: int) -> Team | None:
    return people_selectors.team_for_tier(tier)


# --------------------------------------------------------------------------------------------------
# assignment
# --------------------------------------------------------------------------------------------------


@dataclass
class AssignOutcome:
    case: Case
    team: Team | None
    assignee: Any = None
    explanation: str = ""
    ranking: scoring.Ranking | None = None
    skipped: list[dict] = field(default_factory=list)

    @property
    def assigned(self) -> bool:
        return self.assignee is not None


class CannotTake(Exception):
    """The named agent cannot take the case now (away, full); nothing was changed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _open_count(user_id: int) -> int:
    """Open cases of an agent, as this write sees them (the database plus the write's own changes)."""
    stored = Case.objects.filter(assignee_id=user_id, status__in=OPEN_STATUSES).count()
    work = current()
    return stored + (sum(_changes_in(work).get(user_id, {}).values()) if work else 0)


def _changes_in(work: Work) -> dict[int, dict[str, int]]:
    """How this write changes agents' open cases, by user id and priority: the cases it holds whose
    owner, status or priority it changed, counted out as stored and back in as they are now. Loads read
    from the database before the flush plus this are the truth, however often the write assigns."""
    delta: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for case in work.changed_cases({"assignee", "status", "priority"}):
        owner, status = work.original(case, "assignee"), work.original(case, "status")
        if owner is not None and status in OPEN_STATUSES:
            delta[owner][work.original(case, "priority")] -= 1
        if case.assignee_id is not None and case.status in OPEN_STATUSES:
            delta[case.assignee_id][case.priority] += 1
    return delta


class _Pool:
    """Agents as one write sees them: their profiles locked (so two writes assigning at once never push
    an agent past capacity: the second waits, then reads the first one's cases) and read once per
    write, however many cases it assigns; the write's own assignments are added at each ranking."""

    def __init__(
        self, now: datetime, *, team: Team | None = None, profile_ids: list[int] | None = None
    ) -> None:
        self.user_of: dict[int, int] = {}
        self.rows: dict[int, Any] = {}
        self.baseline = gather_candidates(
            team=team, profile_ids=profile_ids, now=now, lock=True, users=self.user_of, people=self.rows
        )
        self.users: dict[int, Any] = {}

    def candidates(self, work: Work) -> list[scoring.Candidate]:
        changes = _changes_in(work)
        assigned = work.scratch["routing"].get("last_assigned", {})
        result = []
        for candidate in self.baseline:
            change = changes.get(self.user_of[candidate.id])
            if change:
                candidate = replace(
                    candidate,
                    open_cases=candidate.open_cases + sum(change.values()),
                    load=candidate.load + scoring.weighted_load(change),
                )
            if candidate.id in assigned:
                candidate = replace(candidate, last_assigned_at=assigned[candidate.id])
            result.append(candidate)
        return result

    def user(self, candidate_id: int) -> Any:
        """The agent's User, with its profile cached on it (case_assign checks `user.agent`), built from
        the row the pool read under the profiles' locks: no query. Fields that row leaves out (the
        password hash, last login) are deferred, loaded if something reads them."""
        if candidate_id not in self.users:
            user_values, profile_values = self.rows[candidate_id]
            user = _partial(get_user_model(), dict(zip(_USER_FIELDS, user_values, strict=True)))
            profile = _partial(AgentProfile, dict(zip(_PROFILE_FIELDS, profile_values, strict=True)))
            AgentProfile.user.field.set_cached_value(profile, user)
            AgentProfile.user.field.remote_field.set_cached_value(user, profile)
            self.users[candidate_id] = user
        return self.users[candidate_id]


def _partial(model: type, values: dict[str, Any]) -> Any:
    """An instance as the database has it, with only these fields loaded (the others deferred, as
    `.only()` makes them): `from_db` wants the values in the model's field order."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(connection.alias, names, [values[name] for name in names])


def _pool(work: Work, now: datetime, *, team: Team | None = None, profile_id: int | None = None) -> _Pool:
    pools = work.scratch["routing"].setdefault("pools", {})
    key = ("team", team.pk) if team is not None else ("profile", profile_id)
    if key not in pools:
        pools[key] = _Pool(now, team=team, profile_ids=[profile_id] if team is None else None)
    return pools[key]


def _took(work: Work, candidate_id: int, now: datetime) -> None:
    """Round-robin fairness counts from here; written once per agent at the flush."""
    work.scratch["routing"].setdefault("last_assigned", {})[candidate_id] = now
    profiles = work.scratch["routing"].setdefault("profiles", {})
    profile = profiles.setdefault(candidate_id, AgentProfile(pk=candidate_id))
    work.set(profile, last_assigned_at=now)


@door
def claim(*, case: Case, profile_id: int, now: datetime, actor: Any, reason: str, data: dict) -> Any:
    """Give the case to one named agent (a cover): lock their profile, re-check availability and
    capacity as this write sees them, then assign. Raises CannotTake."""
    work = active()
    pool = _pool(work, now, profile_id=profile_id)
    candidate = next((c for c in pool.candidates(work) if c.id == profile_id), None)
    if candidate is None:
        raise CannotTake("is not an agent")
    if not candidate.available:
        raise CannotTake(candidate.unavailable_reason)
    if candidate.open_cases >= candidate.capacity:
        raise CannotTake(f"filled up meanwhile ({candidate.open_cases}/{candidate.capacity})")
    user = pool.user(profile_id)
    case_services.case_assign(case=case, assignee=user, actor=actor, reason=reason, data=data)
    _took(work, profile_id, now)
    return user


@door
def auto_assign(
    *,
    case: Case,
    actor: Any = ROUTING_ACTOR,
    reason: str = "Automatic assignment",
    replace_assignee: bool = False,
    exclude_user_ids: tuple[int, ...] = (),
) -> AssignOutcome:
    """Pick the best available agent in the case's team (the tier's team when it has none) and assign.

    Manual teams and cases nobody can take stay in the team queue, with a note on the timeline and the
    team lead notified. A case that already has an owner is left alone unless `replace_assignee`.
    Inside a write (the routing stage) it uses the write's in-memory case and the team's pool."""
    work = active()
    locked = work.lock(case)
    if locked.status not in OPEN_STATUSES:
        raise InvalidTransition(f"{locked.reference} is not open; only open cases are assigned")
    if locked.assignee_id and not replace_assignee:
        return AssignOutcome(case=locked, team=locked.team, assignee=locked.assignee, explanation="")
    team = locked.team
    if team is None:
        team = team_for_tier(locked.tier)
        if team is None:
            return _leave_in_queue(locked, None, f"no team serves L{locked.tier}", actor=actor)
        case_services.case_set_team(
            case=locked, team=team, actor=actor, reason=f"L{locked.tier} cases go to {team.name}"
        )
    mode = team.assignment_mode
    if mode == AssignmentMode.MANUAL:
        return _leave_in_queue(locked, team, f"{team.name} assigns cases by hand", actor=actor, notify=False)
    now = clock.now()
    pool = _pool(work, now, team=team)
    needs = case_needs(locked, [tag.name for tag in work.tags_of(locked)])
    excluded_ids = _profile_ids_for(
        (*exclude_user_ids, *([locked.assignee_id] if locked.assignee_id else []))
    )
    candidates = [c for c in pool.candidates(work) if c.id not in excluded_ids]
    ranking = scoring.rank(candidates, needs, now=now, mode=mode)
    if not ranking.ranked:
        return _leave_in_queue(locked, team, ranking.explain(None), actor=actor, ranking=ranking)
    # The pool was read under the profiles' locks and counts this write's own assignments, so the
    # ranking's best candidate can take the case: the scoring engine never ranks a full agent.
    scored = ranking.ranked[0]
    explanation = ranking.explain(scored)
    data = {
        "routing": "auto_assign",
        "explanation": explanation,
        "mode": mode,
        "team": team.name,
        "candidates": [s.as_dict() for s in ranking.ranked[:RUNNERS_UP_IN_EVENT]],
        "excluded": [e.as_dict() for e in ranking.excluded][:20],
        "skipped": [],
    }
    user = pool.user(scored.candidate.id)
    case_services.case_assign(case=locked, assignee=user, actor=actor, reason=reason, data=data)
    _took(work, scored.candidate.id, now)
    work.sync(case, locked)
    return AssignOutcome(case=case, team=team, assignee=user, explanation=explanation, ranking=ranking)


def _profile_ids_for(user_ids: tuple[int, ...]) -> set[int]:
    if not user_ids:
        return set()
    return set(AgentProfile.objects.filter(user_id__in=user_ids).values_list("pk", flat=True))


def _leave_in_queue(
    case: Case,
    team: Team | None,
    why: str,
    *,
    actor: Any,
    ranking: scoring.Ranking | None = None,
    notify: bool = True,
) -> AssignOutcome:
    where = f"the {team.name} queue" if team else "the unassigned queue"
    lead = notify_team_lead(case=case, team=team, reason=why) if notify else None
    text = f"Left in {where}: {why}" + (f"; {lead} notified" if lead else "")
    case_services.case_record_system_event(
        case=case,
        kind=EventKind.NOTE,
        actor=actor,
        reason=text,
        data={
            "routing": "no_candidate" if notify else "manual_team",
            "explanation": text,
            "team": team.name if team else None,
            "notified": lead,
            "excluded": [e.as_dict() for e in ranking.excluded][:20] if ranking else [],
        },
    )
    logger.info("routing: %s %s", case.reference, text)
    return AssignOutcome(case=case, team=team, explanation=text, ranking=ranking)


def notify_team_lead(*, case: Case, team: Team | None, reason: str) -> str | None:
    """Tell the team lead (or the team address) that a case is waiting with nobody to take it.

    Returns who was told. Today this logs a warning and the caller writes the timeline note; the notify
    app replaces the body of this function (or subscribes to `note` events whose data.routing is
    "no_candidate") to send the mail/Slack message."""
    if team is None:
        logger.warning("routing: %s has no team and nobody to take it (%s)", case.reference, reason)
        return None
    who = None
    if team.lead_id:
        lead = team.lead
        who = lead.get_full_name() or lead.username
    elif team.email:
        who = team.email
    logger.warning(
        "routing: %s waits in %s with nobody available (%s); notify %s",
        case.reference,
        team.name,
        reason,
        who or "nobody (team has no lead or address)",
    )
    return who


def assign_to(*, case: Case, user: Any, actor: Any, reason: str = "") -> Case:
    """A person chose the owner: assign through the door and count it for round-robin fairness. People
    may overrule capacity (a lead knows best); the event says so when they do."""
    profile = getattr(user, "agent", None)
    if profile is None or not user.is_active:
        raise ValidationFailed(f"{user} is not an active agent", code="invalid_assignee")
    with unit_of_work("assign_to") as work:
        open_now = _open_count(user.pk)
        data = {}
        if open_now >= profile.max_open_cases:
            data["explanation"] = f"over capacity by choice: {open_now}/{profile.max_open_cases} open"
        result = case_services.case_assign(case=case, assignee=user, actor=actor, reason=reason, data=data)
        _took(work, profile.pk, clock.now())
    return result


@transaction.atomic
def team_update(*, team: Team, assignment_mode: str | None = None, cover_policy: str | None = None) -> Team:
    """Change how a team routes: skills_load / round_robin / manual, and offer / reassign on holiday."""
    from casework.people.models import CoverPolicy

    changed = []
    if assignment_mode is not None:
        if assignment_mode not in AssignmentMode.values:
            raise ValidationFailed(f"Unknown assignment mode {assignment_mode!r}", code="invalid_mode")
        team.assignment_mode = assignment_mode
        changed.append("assignment_mode")
    if cover_policy is not None:
        if cover_policy not in CoverPolicy.values:
            raise ValidationFailed(f"Unknown cover policy {cover_policy!r}", code="invalid_cover_policy")
        team.cover_policy = cover_policy
        changed.append("cover_policy")
    if changed:
        team.save(update_fields=[*changed, "updated_at"])
    return team


def agent_profile(username: str) -> AgentProfile:
    profile = AgentProfile.objects.select_related("user").filter(user__username=username).first()
    if profile is None:
        raise NotFound(f"No agent {username!r}", code="agent_not_found")
    return profile


def open_cases_of(user_id: int):
    return Case.objects.filter(Q(assignee_id=user_id) & Q(status__in=OPEN_STATUSES)).select_related("team")
