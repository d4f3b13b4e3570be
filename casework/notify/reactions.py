"""The `notify` stage of the reaction pipeline (`cases/pipeline.py`): what a write tells people, decided in
the write's own transaction. Every effect is a row the engine (engine.py) adds to the write: Outbox rows
(email, Slack) and in-app notifications, delivered by the worker after the commit.

    opened                    acknowledgement to the customer (a person, never an auto-responder);
                              "new case in my team's queue" while nobody owns it
    message_added  reply      the reply email (signed Message-ID, threading, reply token)
                   customer   "customer replied" to the owner
                   note/reply "mentioned" to each agent the door found @mentioned in it
    assigned                  "assigned to me" (not when agents take a case themselves)
    team_changed              "new case in my team's queue" while nobody owns it
    escalated                 "escalated to me": the new owner, else the new team's lead; the team on Slack
    status_changed            Awaiting Client → "we need something" (reminder and closing announced);
                              Resolved → the resolution summary (or "closed after no answer")
    sla (at risk / breached)  the people the event names (owner and team lead), the team on Slack
    note with data.notify     a triage rule's notify action

Each notification's idempotency key is built from its trigger (the case and the event's time, or the
message), so it is created once per triggering change: the trigger and the rows commit together, and
a repeat asks for a key that already exists.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from casework.cases.models import Case, CaseEvent, EventKind, MessageKind
from casework.cases.services.unit_of_work import Work
from casework.cases.status import Status
from casework.people.models import AgentProfile, Team

from . import engine, wording
from .services import enqueue_reply_email

SCRATCH = "notify"


CUSTOMER_FACING = frozenset({EventKind.OPENED, EventKind.STATUS_CHANGED})


def react(work: Work, events: list[CaseEvent]) -> None:
    facing = {event.case_id for event in events if event.kind in CUSTOMER_FACING}
    if len(facing) > 1:
        engine.prefetch_customers(work.case(pk).customer for pk in facing)
    for event in events:
        handler = HANDLERS.get(event.kind)
        if handler is not None:
            handler(work, event)


def _key(event: CaseEvent, what: str) -> str:
    return f"ev:{event.case_id}:{what}:{event.created_at.isoformat()}"


def _done(work: Work, *key) -> bool:
    """Remember that this write already handled `key` (a case's queue alert, an escalation's owner)."""
    seen = work.scratch[SCRATCH].setdefault("seen", set())
    if key in seen:
        return True
    seen.add(key)
    return False


def _users(work: Work, usernames) -> list:
    names = [n for n in usernames if n]
    if not names:
        return []
    cache = work.scratch[SCRATCH].setdefault("users", {})
    missing = [n for n in names if n not in cache]
    if missing:
        for user in get_user_model().objects.filter(username__in=missing, is_active=True):
            cache[user.username] = user
        for name in missing:
            cache.setdefault(name, None)
    return [cache[n] for n in names if cache.get(n) is not None]


def _team_members(work: Work, team: Team) -> list:
    cache = work.scratch[SCRATCH].setdefault("teams", {})
    if team.pk not in cache:
        cache[team.pk] = [
            p.user
            for p in AgentProfile.objects.filter(teams=team, user__is_active=True).select_related("user")
        ]
    return cache[team.pk]


def _team_lead(case: Case):
    return case.team.lead if case.team_id and case.team.lead_id else None


# --------------------------------------------------------------------------------------------------
# opened, queue, assignment, escalation
# --------------------------------------------------------------------------------------------------


def _opened(work: Work, event: CaseEvent) -> None:
    case = work.case(event.case_id)
    message = event.message
    if message is not None and message.kind == MessageKind.CUSTOMER and _should_acknowledge(message):
        engine.send(
            "acknowledgement",
            case=case,
            to_customer=True,
            gate=message,
            context={"first_response": first_response_text(work, case)},
            dedup_key=f"ack:{case.pk}",
            fresh=case.pk in work.opened,
        )
    _queue_alert(work, case, event)


def _should_acknowledge(message) -> bool:
    """Intake decided for email (`acknowledge` in the meta, True or False: a refusal is explained on the
    timeline); other channels are acknowledged when settings say a person types them (web form, chat)."""
    meta = message.meta or {}
    return "acknowledge" in meta or message.channel in settings.CASEWORK["NOTIFY_ACK_CHANNELS"]


def first_response_text(work: Work, case: Case) -> str:
    """The first-response promise of the case's running clock ('' when no policy applies)."""
    from casework.sla.models import CaseClock, ClockState, Metric

    clocks = work.scratch["sla"].get("clocks", {}).get(case.pk)
    if clocks is None:
        clocks = list(CaseClock.objects.filter(case_id=case.pk))
    clock = next((c for c in clocks if c.metric == Metric.FIRST_RESPONSE), None)
    if clock is None or clock.state != ClockState.RUNNING:
        return ""
    calendars = work.scratch[SCRATCH].setdefault("calendars", {})
    if clock.calendar_id not in calendars:
        calendars[clock.calendar_id] = clock.calendar if clock.calendar_id else None
    calendar = calendars[clock.calendar_id]
    return wording.first_response_promise(
        target=clock.target - clock.consumed,
        due_at=clock.due_at,
        timezone=calendar.timezone if calendar else "UTC",
        week=calendar.week if calendar else {},
        always_open=calendar.always_open if calendar else True,
        now=timezone.now(),
    )


def _queue_alert(work: Work, case: Case, event: CaseEvent) -> None:
    if (
        not case.team_id
        or case.assignee_id
        or not case.is_open
        or _done(work, "queue", case.pk, case.team_id)
    ):
        return
    engine.send(
        "new_in_queue",
        case=case,
        to_agents=_team_members(work, case.team),
        to_teams=[case.team],
        context={"team": case.team.name},
        dedup_key=f"queue:{case.pk}:{case.team_id}:{event.created_at.isoformat()}",
        fresh=True,
    )


def _team_changed(work: Work, event: CaseEvent) -> None:
    _queue_alert(work, work.case(event.case_id), event)


def _assigned(work: Work, event: CaseEvent) -> None:
    case = work.case(event.case_id)
    user = case.assignee if case.assignee_id else None
    if user is None or user.username != event.new or event.actor_id == user.pk:
        return  # unassigned, reassigned again later in this write, or taken by the agent themself
    if _done(work, "owner", case.pk, user.pk):
        return  # the escalation notice already told them
    engine.send(
        "assigned",
        case=case,
        to_agents=[user],
        context={"by": event.actor_display, "reason": event.reason},
        dedup_key=_key(event, f"assigned:{user.pk}"),
        fresh=True,
    )


def _escalated(work: Work, event: CaseEvent) -> None:
    case = work.case(event.case_id)
    owner = case.assignee if case.assignee_id else _team_lead(case)
    if owner is not None:
        _done(work, "owner", case.pk, owner.pk)
    engine.send(
        "escalated",
        case=case,
        to_agents=[owner] if owner is not None else [],
        to_teams=[case.team] if case.team_id else [],
        context={
            "tier": f"L{case.tier}",
            "by": event.actor_display,
            "handoff_note": (event.data or {}).get("handoff_note", ""),
        },
        dedup_key=_key(event, "escalated"),
        fresh=True,
    )


# --------------------------------------------------------------------------------------------------
# messages
# --------------------------------------------------------------------------------------------------


def _message_added(work: Work, event: CaseEvent) -> None:
    message = event.message
    if message is None:
        return
    kind = (event.new or {}).get("kind")
    if kind == MessageKind.REPLY:
        # The message was added by this very write, so no mail can be queued for it yet.
        enqueue_reply_email(message=message, check_existing=False)
    elif kind == MessageKind.CUSTOMER:
        case = work.case(event.case_id)
        if case.assignee_id:
            engine.send(
                "customer_replied",
                case=case,
                to_agents=[case.assignee],
                context={"excerpt": _excerpt(message.body)},
                dedup_key=f"msg:{message.pk}",
                fresh=True,
            )
    if (event.data or {}).get("mentions"):
        # The door found the @mentions when it wrote the message (cases/mentions.py, Mention rows).
        users = _users(work, event.data["mentions"])
        if users:
            engine.send(
                "mentioned",
                case=work.case(event.case_id),
                to_agents=users,
                context={
                    "by": event.actor_display,
                    "excerpt": _excerpt(message.body),
                    "where": "a public reply" if kind == MessageKind.REPLY else "an internal note",
                },
                dedup_key=f"mention:{message.pk}",
                fresh=True,
            )


def _excerpt(text: str, limit: int = 600) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _latest_public_reply(work: Work, case: Case) -> str:
    """The public reply this write added to the case, if any (what an agent just told the customer)."""
    replies = [m for m in work.messages.values() if m.case_id == case.pk and m.kind == MessageKind.REPLY]
    return replies[-1].body.strip() if replies else ""


# --------------------------------------------------------------------------------------------------
# status
# --------------------------------------------------------------------------------------------------


def _status_changed(work: Work, event: CaseEvent) -> None:
    case = work.case(event.case_id)
    days = settings.CASEWORK
    if event.new == Status.AWAITING_CLIENT:
        engine.send(
            "awaiting_client",
            case=case,
            to_customer=True,
            context={
                "need": event.reason if event.reason else _latest_public_reply(work, case),
                "reminder_days": days["AWAITING_REMINDER_DAYS"],
                "close_days": days["AWAITING_CLOSE_DAYS"],
            },
            dedup_key=_key(event, "awaiting"),
            fresh=True,
        )
    elif event.new == Status.RESOLVED:
        auto = (event.data or {}).get("auto_close")
        if auto:
            engine.send(
                "awaiting_closed",
                case=case,
                to_customer=True,
                context={"days_waiting": auto.get("days", 0), "reopen_days": days["REOPEN_WINDOW_DAYS"]},
                dedup_key=_key(event, "awaiting-closed"),
                fresh=True,
            )
            return
        if (event.data or {}).get("by_customer"):
            return  # the customer closed it themselves (the portal): no summary of their own decision
        engine.send(
            "resolution",
            case=case,
            to_customer=True,
            context={
                "resolution_note": event.reason or _latest_public_reply(work, case),
                "reopen_days": days["REOPEN_WINDOW_DAYS"],
                "close_days": days["RESOLVED_CLOSE_DAYS"],
            },
            dedup_key=_key(event, "resolved"),
            fresh=True,
        )


# --------------------------------------------------------------------------------------------------
# SLA and rule alerts
# --------------------------------------------------------------------------------------------------


def _sla(work: Work, event: CaseEvent) -> None:
    data = event.data or {}
    state = data.get("state")
    if state not in ("at_risk", "breached") or "notified" not in data:
        return
    from casework.sla.policies import format_duration
    from casework.sla.services import metric_label

    case = work.case(event.case_id)
    due = _when(data.get("due_at"))
    left = data.get("left_seconds")
    engine.send(
        "sla_at_risk" if state == "at_risk" else "sla_breached",
        case=case,
        to_agents=_users(work, data["notified"]),
        to_teams=[case.team] if case.team_id else [],
        context={
            "metric": metric_label(data.get("metric", "resolution")),
            "due": due,
            "left": format_duration(_seconds(left)) if left is not None else "",
        },
        dedup_key=f"sla:{case.pk}:{data.get('metric')}:{state}:{data.get('due_at')}",
        fresh=True,
    )


def _seconds(value):
    from datetime import timedelta

    return timedelta(seconds=int(value))


def _when(iso: str | None) -> str:
    if not iso:
        return "?"
    from datetime import datetime

    value = timezone.localtime(datetime.fromisoformat(iso))
    return f"{value:%a %d %b %H:%M} {value.tzname()}"


def _note(work: Work, event: CaseEvent) -> None:
    data = event.data or {}
    target = data.get("notify")
    if not target:
        return
    case = work.case(event.case_id)
    names = target if isinstance(target, list) else [target]
    users = _users(work, [n for n in names if n != "team_lead"])
    if "team_lead" in names and (lead := _team_lead(case)) is not None:
        users.append(lead)
    engine.send(
        "rule_alert",
        case=case,
        to_agents=users,
        context={"rule": data.get("rule") or "Alert", "message": event.reason},
        dedup_key=_key(event, f"note:{data.get('rule') or data.get('alert') or 'alert'}"),
        fresh=True,
    )


HANDLERS: dict[str, Callable[[Work, CaseEvent], None]] = {
    EventKind.OPENED: _opened,
    EventKind.MESSAGE_ADDED: _message_added,
    EventKind.ASSIGNED: _assigned,
    EventKind.TEAM_CHANGED: _team_changed,
    EventKind.ESCALATED: _escalated,
    EventKind.STATUS_CHANGED: _status_changed,
    EventKind.SLA: _sla,
    EventKind.NOTE: _note,
}
