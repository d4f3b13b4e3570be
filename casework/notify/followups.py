"""Periodic customer follow-ups, run by `casework worker`'s scheduler (jobs.py). Each job selects its cases
with one set-based query (by status and time, never a loop over all open cases), then handles a batch in
one write: the cases locked in id order, every change through a door function (so the reactions run and
the timeline explains it), every mail through the engine with a key built from its trigger — a job run
twice, or retried after its worker died, finds the work done and the keys taken.

    awaiting_client_followups  Awaiting Client for AWAITING_REMINDER_DAYS → one reminder;
                               for AWAITING_CLOSE_DAYS → resolved ("closed after no answer" mail)
    resolved_autoclose         Resolved for RESOLVED_CLOSE_DAYS → Closed (announced in the resolution mail)
    critical_updates           open critical cases: every CRITICAL_UPDATE_HOURS since the last word to
                               the customer (a public reply or the previous update), the owner is
                               reminded CRITICAL_OWNER_LEAD_MINUTES before, then the customer gets the
                               latest public reply or a holding message
    agent_digests              agents with a daily digest: one mail with the day's notifications
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from casework.cases import services as case_services
from casework.cases.models import Case, CaseEvent, EventKind, Message, MessageKind
from casework.cases.services.unit_of_work import active, unit_of_work
from casework.cases.status import Status

from . import engine
from .models import AgentPreference, Notification

logger = logging.getLogger(__name__)

ACTOR = "notify"
BATCH = 200
# Critical-case updates per run: each costs 10–20 ms of Python in the engine (rendering, keys, links), so
# 200 took 3–3.7 s at 1,000,000 cases (load 5–6) and 50 up to 1.2 s at load 7; 25 keep a run near half a
# second, and a full batch says "backlog" so the scheduler runs the next one within seconds.
CRITICAL_BATCH = 25


def _days(name: str) -> int:
    return settings.CASEWORK[name]


def _latest_event(**filters) -> Subquery:
    return Subquery(
        CaseEvent.objects.filter(case=OuterRef("pk"), **filters)
        .order_by("-created_at")
        .values("created_at")[:1]
    )


# --------------------------------------------------------------------------------------------------
# Awaiting Client
# --------------------------------------------------------------------------------------------------


def awaiting_client_followups(now: datetime | None = None, *, batch: int = BATCH) -> dict[str, int]:
    now = now or timezone.now()
    remind_after = timedelta(days=_days("AWAITING_REMINDER_DAYS"))
    close_after = timedelta(days=_days("AWAITING_CLOSE_DAYS"))
    # Only the cases with something to do reach the batch: to close, or waiting past the reminder with
    # none sent since they started waiting. (Filtering the reminded ones out after the cut let a batch
    # of already-reminded cases, oldest first, hold back every newer one: at 5,000 cases waiting, the
    # reminders of the newest would wait for the oldest to close.)
    rows = list(
        Case.objects.filter(status=Status.AWAITING_CLIENT)
        .annotate(
            since=_latest_event(kind=EventKind.STATUS_CHANGED, new=Status.AWAITING_CLIENT),
            reminded=_latest_event(kind=EventKind.NOTE, data__notification__kind="awaiting_reminder"),
        )
        .filter(since__lte=now - remind_after)
        .filter(Q(since__lte=now - close_after) | Q(reminded__isnull=True) | Q(reminded__lt=F("since")))
        .order_by("since", "pk")
        .values_list("pk", "since")[:batch]
    )
    todo = {pk: (since, "close" if since <= now - close_after else "remind") for pk, since in rows}
    counts = {"reminded": 0, "closed": 0}
    if not todo:
        return counts
    with unit_of_work("notify: awaiting client follow-ups"):
        locked = active().lock_many(todo)
        for pk, case in locked.items():
            since, action = todo[pk]
            if case.status != Status.AWAITING_CLIENT:
                continue  # the customer answered meanwhile
            waited = (now - since).days
            if action == "close":
                case_services.case_transition(
                    case=case,
                    to=Status.RESOLVED,
                    actor=ACTOR,
                    reason=f"No answer from the customer for {waited} days (closing after "
                    f"{close_after.days}): resolved automatically",
                    data={"auto_close": {"days": waited, "setting": "CASEWORK_AWAITING_CLOSE_DAYS"}},
                )
                counts["closed"] += 1
            else:
                engine.send(
                    "awaiting_reminder",
                    case=case,
                    to_customer=True,
                    context={
                        "need": _last_public_reply(case),
                        "days_waiting": waited,
                        "close_days_left": max(1, close_after.days - waited),
                    },
                    dedup_key=f"awaiting-reminder:{pk}:{since.isoformat()}",
                )
                counts["reminded"] += 1
    if len(rows) == batch:
        counts["backlog"] = True  # there may be more: the scheduler runs the next batch within seconds
    return counts


def _last_public_reply(case: Case) -> str:
    body = (
        Message.objects.filter(case=case, kind=MessageKind.REPLY)
        .order_by("-created_at", "-id")
        .values_list("body", flat=True)
        .first()
    )
    return (body or "").strip()[:1500]


# --------------------------------------------------------------------------------------------------
# Resolved → Closed
# --------------------------------------------------------------------------------------------------


def resolved_autoclose(now: datetime | None = None, *, batch: int = BATCH) -> int:
    now = now or timezone.now()
    days = _days("RESOLVED_CLOSE_DAYS")
    ids = list(
        Case.objects.filter(status=Status.RESOLVED, resolved_at__lte=now - timedelta(days=days))
        .order_by("resolved_at")
        .values_list("pk", flat=True)[:batch]
    )
    if not ids:
        return 0
    closed = 0
    with unit_of_work("notify: close resolved cases"):
        for case in active().lock_many(ids).values():
            if case.status != Status.RESOLVED:
                continue
            case_services.case_transition(
                case=case,
                to=Status.CLOSED,
                actor=ACTOR,
                reason=f"Resolved {days} days ago without a reply from the customer: closed automatically",
                data={"auto_close": {"days": days, "setting": "CASEWORK_RESOLVED_CLOSE_DAYS"}},
            )
            closed += 1
    return closed


# --------------------------------------------------------------------------------------------------
# proactive updates on critical cases
# --------------------------------------------------------------------------------------------------


def critical_update_due(case_created: datetime, last_agent: datetime | None, last_update: datetime | None):
    """When the customer's next update is due: N hours after the last word they got from us."""
    every = timedelta(hours=settings.CASEWORK["CRITICAL_UPDATE_HOURS"])
    return max(t for t in (case_created, last_agent, last_update) if t is not None) + every


def critical_updates(now: datetime | None = None, *, batch: int = CRITICAL_BATCH) -> dict[str, int]:
    now = now or timezone.now()
    lead = timedelta(minutes=settings.CASEWORK["CRITICAL_OWNER_LEAD_MINUTES"])
    every_delta = timedelta(hours=settings.CASEWORK["CRITICAL_UPDATE_HOURS"])
    # Set-based: the database computes each open critical case's last word to the customer (opening,
    # last agent reply, last update: `critical_update_due` without the interval) and returns only the
    # due ones, soonest first — one query over the open critical cases (`case_priority_status`), never
    # a Python pass over them, and never a cut that could leave some cases unseen.
    last_word = Greatest(
        F("created_at"),
        Coalesce(F("last_agent_message_at"), F("created_at")),
        Coalesce(F("last_update"), F("created_at")),
    )
    rows = (
        Case.objects.filter(priority="critical", status__in=[Status.NEW, Status.TRIAGED, Status.IN_PROGRESS])
        .annotate(last_update=_latest_event(kind=EventKind.NOTE, data__notification__kind="critical_update"))
        .annotate(last_word=last_word)
        .filter(last_word__lte=now + lead - every_delta)
        .order_by("last_word", "pk")
        .values_list("pk", "created_at", "last_agent_message_at", "last_update")[:batch]
    )
    due = {pk: critical_update_due(created, agent, update) for pk, created, agent, update in rows}
    counts = {"owner_reminders": 0, "customer_updates": 0}
    if not due:
        return counts
    every = settings.CASEWORK["CRITICAL_UPDATE_HOURS"]
    with unit_of_work("notify: critical case updates"):
        for pk, case in active().lock_many(due).items():
            at = due[pk]
            owner = case.assignee if case.assignee_id else (case.team.lead if case.team_id else None)
            if owner is not None:
                sent = engine.send(
                    "critical_update_due",
                    case=case,
                    to_agents=[owner],
                    context={"minutes": max(0, int((at - now).total_seconds() // 60))},
                    dedup_key=f"critical-due:{pk}:{at.isoformat()}",
                )
                counts["owner_reminders"] += bool(sent.anything)
            if at <= now:
                engine.send(
                    "critical_update",
                    case=case,
                    to_customer=True,
                    context={"update": _last_public_reply(case), "every_hours": _hours(every)},
                    dedup_key=f"critical-update:{pk}:{at.isoformat()}",
                )
                counts["customer_updates"] += 1
    if len(due) == batch and any(counts.values()):
        # There may be more due: the next run follows within seconds. (A full batch of cases whose
        # owners were reminded and whose update is not due yet sends nothing: no backlog, the interval.)
        counts["backlog"] = True
    return counts


def _hours(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


# --------------------------------------------------------------------------------------------------
# daily digest
# --------------------------------------------------------------------------------------------------


def agent_digests(now: datetime | None = None) -> int:
    """One mail per agent who chose a digest, at most once a day, listing what arrived since the last."""
    now = now or timezone.now()
    day = timedelta(days=1)
    prefs = list(
        AgentPreference.objects.filter(daily_digest=True, user__is_active=True)
        .exclude(last_digest_at__gt=now - day)
        .select_related("user")
    )
    sent = 0
    for pref in prefs:
        items = list(
            Notification.objects.filter(user=pref.user, digested_at__isnull=True).order_by("created_at")[:200]
        )
        with unit_of_work("notify: daily digest"):
            if items:
                engine.send(
                    "digest",
                    to_agents=[pref.user],
                    context={
                        "count": len(items),
                        "items": [
                            {
                                "when": timezone.localtime(n.created_at).strftime("%a %H:%M"),
                                "title": n.title,
                                "url": f"{settings.BASE_URL}{n.url}" if n.url.startswith("/") else n.url,
                            }
                            for n in items
                        ],
                    },
                    dedup_key=f"digest:{pref.user_id}:{now.date().isoformat()}",
                )
                Notification.objects.filter(pk__in=[n.pk for n in items]).update(digested_at=now)
                sent += 1
            AgentPreference.objects.filter(pk=pref.pk).update(last_digest_at=now)
    return sent
