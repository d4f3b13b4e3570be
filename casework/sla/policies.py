"""Which policy applies to a case, and the deadlines that follow from it.

`PolicyBook.load()` reads the active policies once (three queries); `match()` and `deadlines()` are then
pure, which is what the services call per case and what the benchmark measures per second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Prefetch

from casework.core import config

from . import clock
from .calendars import business_calendar
from .models import Calendar, Metric, Policy, PolicyTarget


@dataclass(frozen=True)
class Match:
    """The policy in force for one metric of one case, with the words that explain it."""

    policy: Policy
    calendar: Calendar
    business_calendar: clock.BusinessCalendar
    target: timedelta
    at_risk_lead: timedelta
    priority: str
    customer_tier: str
    team_id: int | None

    @property
    def explanation(self) -> str:
        conditions = []
        if self.policy.customer_tiers:
            conditions.append(f"tier {self.customer_tier}")
        if self.policy.priorities:
            conditions.append(f"priority {self.priority}")
        if self.policy.teams.all():
            conditions.append("team")
        matched = f"matched on {', '.join(conditions)}" if conditions else "default policy"
        return (
            f"policy '{self.policy.name}' ({matched}), {self.priority}: {format_duration(self.target)} "
            f"on {self.calendar.describe()}"
        )

    def same_terms(self, other: Match | None) -> bool:
        return other is not None and (self.policy.pk, self.calendar.pk, self.target) == (
            other.policy.pk,
            other.calendar.pk,
            other.target,
        )


@dataclass
class PolicyBook:
    """The active policies, loaded once; `match` is then pure and memoised per distinct set of facts,
    so evaluating thousands of cases costs a dictionary lookup each, plus the due-time maths."""

    policies: list[Policy]
    _memo: dict[tuple, Match | None] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls) -> PolicyBook:
        policies = list(
            Policy.objects.filter(active=True)
            .select_related("calendar")
            .prefetch_related(
                "teams", Prefetch("targets", queryset=PolicyTarget.objects.select_related("calendar"))
            )
            .order_by("order", "name")
        )
        return cls(policies=policies)

    @classmethod
    def current(cls) -> PolicyBook:
        """The active policies as of now, reused while the configuration is unchanged.

        Every case opened starts two clocks; loading and compiling the book for each one cost more than
        the rest of the SLA reaction together. The configuration version (core/config.py) is bumped by
        triggers on the policy, target, calendar and policy-team tables, so a queryset `.update()`, an
        edit made by another process and a rolled-back transaction are all seen. The holiday window is
        part of the key, so a long-running process rebuilds the calendars when the year turns."""
        from .calendars import holiday_window

        return config.cached(f"sla-policy-book:{holiday_window().start}", cls.load)

    def match(self, *, metric: str, priority: str, customer_tier: str, team_id: int | None) -> Match | None:
        key = (metric, priority, customer_tier, team_id)
        if key not in self._memo:
            self._memo[key] = self._match(*key)
        return self._memo[key]

    def _match(self, metric: str, priority: str, customer_tier: str, team_id: int | None) -> Match | None:
        for policy in self.policies:
            if policy.customer_tiers and customer_tier not in policy.customer_tiers:
                continue
            if policy.priorities and priority not in policy.priorities:
                continue
            team_ids = {team.pk for team in policy.teams.all()}
            if team_ids and team_id not in team_ids:
                continue
            target_row = next((t for t in policy.targets.all() if t.priority == priority), None)
            if target_row is None:
                continue
            target = target_row.first_response if metric == Metric.FIRST_RESPONSE else target_row.resolution
            calendar = target_row.calendar or policy.calendar
            return Match(
                policy=policy,
                calendar=calendar,
                business_calendar=business_calendar(calendar),
                target=target,
                at_risk_lead=clock.at_risk_lead(
                    target, cap=policy.at_risk_cap, fraction=policy.at_risk_fraction
                ),
                priority=priority,
                customer_tier=customer_tier,
                team_id=team_id,
            )
        return None


def deadlines(
    *, since: datetime, remaining: timedelta, lead: timedelta, calendar: clock.BusinessCalendar
) -> tuple[datetime, datetime]:
    """Due and at-risk instants for a clock counting from `since` with `remaining` business time left.

    The at-risk instant is `lead` of *business* time before due, so "25 min left" on the alert is 25
    working minutes, not wall-clock minutes across a night.
    """
    remaining = max(remaining, timedelta(0))
    due = clock.add_business_time(since, remaining, calendar)
    if remaining > lead:
        at_risk = clock.add_business_time(since, remaining - lead, calendar)
    else:
        at_risk = since
    return due, at_risk


def format_duration(value: timedelta) -> str:
    """ "4 h", "1 h 30 min", "7 min 30 s", "0 min" — how targets and time left read on the timeline."""
    negative = value < timedelta(0)
    seconds = int(abs(value).total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    hours += days * 24
    parts = []
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    if secs and not hours:
        parts.append(f"{secs} s")
    text = " ".join(parts) or "0 min"
    return f"-{text}" if negative else text
