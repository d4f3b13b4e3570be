"""Telling people that a clock is at risk or breached.

Today this writes the `sla` event on the case timeline (who should be told, and why), logs it, and hands a
`SlaNotice` to every registered sender after commit. The notify app plugs its channels in with

    from casework.sla.notifications import register_sender
    register_sender(send_sla_notice)   # (notice: SlaNotice) -> None, called after commit

so in-app, email and Slack alerts need no change here. Recipients: the case's assignee and its team's
lead (or nobody but the timeline when the case is unowned; the team's address is in `team_email`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.db import transaction

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
    event_id: int | None = None
    data: dict = field(default_factory=dict)


Sender = Callable[[SlaNotice], None]
_senders: list[Sender] = []


def register_sender(sender: Sender) -> Sender:
    if sender not in _senders:
        _senders.append(sender)
    return sender


def unregister_sender(sender: Sender) -> None:
    if sender in _senders:
        _senders.remove(sender)


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
    """Write the timeline events (one bulk insert), log, and hand the notices to senders after commit."""
    events = case_record_system_events(events=[event for event, _ in prepared], actor=SLA_ACTOR)
    notices = []
    for event, (_, notice) in zip(events, prepared, strict=True):
        notices.append(replace(notice, event_id=event.pk))
        logger.info(
            "SLA %s on %s: %s (notify: %s)",
            notice.kind,
            notice.reference,
            notice.text,
            ", ".join(u.username for u in notice.recipients) or "-",
        )

    def deliver() -> None:
        for notice in notices:
            for sender in list(_senders):
                try:
                    sender(notice)
                except Exception:
                    logger.exception("SLA notice sender %s failed for %s", sender, notice.reference)

    if _senders and notices:
        transaction.on_commit(deliver, robust=True)
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
