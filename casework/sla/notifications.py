"""Telling people that a clock is at risk or breached.

This writes the `sla` event on the case timeline — who should be told, and why, in its data
(`state`, `metric`, `due_at`, `policy`, `notified`) — inside the write that found it. Delivering it is a
reaction like any other: the pipeline hands the event to triage (`sla_at_risk` / `sla_breached` rules)
and to the notify stage, which turns it into outbox rows (email, Slack, in-app) that the worker
delivers. Nothing is sent or called after the commit. Recipients: the case's assignee and its team's
lead (or nobody but the timeline when the case is unowned; the team's address is in `team_email`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from casework.cases.models import CaseEvent, EventKind
from casework.cases.services import SystemEvent, case_record_system_events

from .clock import business_time_between
from .models import CaseClock, ClockState
from .policies import format_duration
from .services import SLA_ACTOR, calendar_of, clock_data, local_time, metric_label

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlaNotice:
    kind: str  # "at_risk" | "breached"
    case_id: int
    reference: str
    metric: str
    text: str
    due_at: datetime | None
    recipients: tuple[Any, ...] = ()  # users
    team_email: str = ""
    data: dict = field(default_factory=dict)


def recipients_for(clock: CaseClock) -> list[Any]:
    case = clock.case
    people = []
    if case.assignee_id:
        people.append(case.assignee)
    if case.team_id and case.team.lead_id and case.team.lead_id != case.assignee_id:
        people.append(case.team.lead)
    return people


def _prepare(kind: str, clock: CaseClock, text: str, extra: dict) -> tuple[SystemEvent, SlaNotice]:
    people = recipients_for(clock)
    names = [p.username for p in people]
    data = {**clock_data(clock), **extra, "notified": names}
    event = SystemEvent(
        case=clock.case,
        kind=EventKind.SLA,
        reason=text + (f" — notified {', '.join(names)}" if names else " — no owner or team lead to notify"),
        data=data,
    )
    notice = SlaNotice(
        kind=kind,
        case_id=clock.case_id,
        reference=clock.case.reference,
        metric=clock.metric,
        text=text,
        due_at=clock.due_at,
        recipients=tuple(people),
        team_email=clock.case.team.email if clock.case.team_id else "",
        data=data,
    )
    return event, notice


def _send(prepared: list[tuple[SystemEvent, SlaNotice]]) -> list[CaseEvent]:
    """Record the timeline events in the write (the pipeline reacts to them) and log each notice."""
    events = case_record_system_events(events=[event for event, _ in prepared], actor=SLA_ACTOR)
    for _, notice in prepared:
        logger.info(
            "SLA %s on %s: %s (notify: %s)",
            notice.kind,
            notice.reference,
            notice.text,
            ", ".join(u.username for u in notice.recipients) or "-",
        )
    return events


def _at_risk(clock: CaseClock, now: datetime) -> tuple[SystemEvent, SlaNotice]:
    left = business_time_between(now, clock.due_at, calendar_of(clock)) if clock.due_at else None
    text = (
        f"{metric_label(clock.metric)} at risk: due {local_time(clock.due_at, clock, reference=now)}, "
        f"{format_duration(left) if left is not None else '?'} left"
    )
    extra = {"state": "at_risk", "left_seconds": int(left.total_seconds()) if left is not None else None}
    return _prepare("at_risk", clock, text, extra)


def _breach(clock: CaseClock, now: datetime) -> tuple[SystemEvent, SlaNotice]:
    assert clock.state == ClockState.BREACHED
    text = (
        f"{metric_label(clock.metric)} breached: was due {local_time(clock.due_at, clock, reference=now)} "
        f"(policy '{clock.policy_name}', {clock.priority}: {format_duration(clock.target)})"
    )
    return _prepare("breached", clock, text, {"state": "breached"})


def notify_at_risk_many(*, clocks: list[CaseClock], now: datetime) -> list[CaseEvent]:
    return _send([_at_risk(clock, now) for clock in clocks])


def notify_breach_many(*, clocks: list[CaseClock], now: datetime) -> list[CaseEvent]:
    return _send([_breach(clock, now) for clock in clocks])


def notify_at_risk(*, clock: CaseClock, now: datetime) -> CaseEvent:
    """Tell the owner and team lead that `clock` is inside its at-risk window; returns the timeline event
    (data: {"metric", "state": "at_risk", "due_at", "policy", "left_seconds", "notified"})."""
    return notify_at_risk_many(clocks=[clock], now=now)[0]


def notify_breach(*, clock: CaseClock, now: datetime) -> CaseEvent:
    """Tell the owner and team lead that `clock` breached; returns the timeline event
    (data: {"metric", "state": "breached", "due_at", "policy", "notified"})."""
    return notify_breach_many(clocks=[clock], now=now)[0]
