"""Tier history and watchers, kept from case events inside the write that recorded them (see
reactions.py).

The history of a case is a row per stretch with the same tier, team and owner. It is built from the
events in order — never from the case as it is at the end of the write, because one write can open a
case, escalate it and assign it (a rule, then routing) and each of those is a stretch. The open stretch
of a batch's existing cases is read with one query; the rows are written by the unit of work, each
naming the event that opened it (unique, so a re-run cannot write two rows for one event).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model

from casework.cases.models import Case, CaseEvent, EventKind
from casework.cases.pipeline import STAGES
from casework.cases.services.unit_of_work import Work
from casework.cases.status import OPEN_STATUSES
from casework.core import clock
from casework.people.models import Team
from casework.people.selectors import teams_by_name

from .models import CaseWatcher, TierHistory

User = get_user_model()

# Every event the routing stage is given (cases/pipeline.py) moves the history or may.
HISTORY_KINDS = next(stage.kinds for stage in STAGES if stage.name == "routing")
_CLOSING = ("resolved", "closed")


class _Names:
    """Teams and users named in a write's events, read with one query each (and only if named)."""

    def __init__(self, work: Work, events: list[CaseEvent]) -> None:
        teams: set[str] = set()
        users: set[str] = set()
        for event in events:
            old, new = event.old, event.new
            if event.kind == EventKind.OPENED and isinstance(new, dict) and new.get("team"):
                teams.add(new["team"])
            elif event.kind in (EventKind.ESCALATED, EventKind.DE_ESCALATED):
                for side in (old, new):
                    if isinstance(side, dict):
                        teams.update(filter(None, [side.get("team")]))
                        users.update(filter(None, [side.get("assignee")]))
            elif event.kind == EventKind.ASSIGNED and isinstance(new, str):
                users.add(new)
            elif event.kind == EventKind.TEAM_CHANGED and isinstance(new, str):
                teams.add(new)
        self.teams = teams_by_name() if teams else {}
        # Owners this write assigned are on its cases already; only others are read.
        self.users = {
            case.assignee.username: case.assignee for case in work.cases.values() if case.assignee_id
        }
        missing = users - set(self.users)
        if missing:
            self.users.update((u.username, u) for u in User.objects.filter(username__in=missing))

    def team(self, name: str | None) -> Team | None:
        return self.teams.get(name) if name else None

    def user(self, username: str | None) -> Any:
        return self.users.get(username) if username else None


def _open_stretches(work: Work, case_ids: set[int]) -> dict[int, TierHistory | None]:
    """The open stretch of each case as this write sees it (read once per write)."""
    held: dict[int, TierHistory | None] = work.scratch["routing"].setdefault("history", {})
    missing = [pk for pk in case_ids if pk not in held and pk not in work.opened]
    for pk in case_ids:
        if pk in work.opened:
            held.setdefault(pk, None)
    if missing:
        held.update(dict.fromkeys(missing))
        rows = TierHistory.objects.filter(case_id__in=missing, left_at__isnull=True).select_related(
            "team", "owner"
        )
        for row in rows:
            held[row.case_id] = row
    return held


def record(work: Work, events: list[CaseEvent]) -> None:
    """Update the tier history of the events' cases, in event order."""
    events = [event for event in events if event.kind in HISTORY_KINDS]
    if not events:
        return
    current = _open_stretches(work, {event.case_id for event in events})
    names = _Names(work, events)
    for event in events:
        _apply(work, current, names, event)


def _close(work: Work, stretch: TierHistory, *, at: datetime, left_by: str) -> None:
    work.set(stretch, left_at=max(at, stretch.entered_at), left_by=left_by)


def _open(
    work: Work,
    current: dict[int, TierHistory | None],
    event: CaseEvent,
    *,
    tier: int,
    team: Team | None,
    owner: Any,
    reason: str = "",
    note: str = "",
) -> None:
    row = TierHistory(
        case_id=event.case_id,
        tier=tier,
        team=team,
        owner=owner,
        entered_at=event.created_at,
        entered_by=event.kind,
        reason=(reason or "")[:2000],
        handoff_note=note,
    )
    work.insert(row, links={"event_id": event})
    current[event.case_id] = row


def _apply(work: Work, current: dict[int, TierHistory | None], names: _Names, event: CaseEvent) -> None:
    stretch = current.get(event.case_id)
    kind = event.kind
    if kind == EventKind.OPENED:
        if stretch is not None:
            return  # already recorded (a repair run)
        new = event.new if isinstance(event.new, dict) else {}
        _open(
            work,
            current,
            event,
            tier=new.get("tier") or 1,
            team=names.team(new.get("team")),
            owner=None,
            reason="Case opened",
        )
    elif kind in (EventKind.ESCALATED, EventKind.DE_ESCALATED):
        new = event.new or {}
        if stretch is not None:
            _close(work, stretch, at=event.created_at, left_by=kind)
        _open(
            work,
            current,
            event,
            tier=new.get("tier"),
            team=names.team(new.get("team")),
            owner=names.user(new.get("assignee")),
            reason=event.reason,
            note=(event.data or {}).get("handoff_note", ""),
        )
    elif kind in (EventKind.ASSIGNED, EventKind.TEAM_CHANGED):
        if stretch is None:
            case = work.case(event.case_id)
            if case.status not in OPEN_STATUSES:
                return
            tier, team, owner = case.tier, case.team, case.assignee
        else:
            tier, team, owner = stretch.tier, stretch.team, stretch.owner
        if kind == EventKind.ASSIGNED:
            owner = names.user(event.new if isinstance(event.new, str) else None)
        else:
            team = names.team(event.new if isinstance(event.new, str) else None)
        if stretch is not None and (stretch.owner_id, stretch.team_id) == (
            getattr(owner, "pk", None),
            getattr(team, "pk", None),
        ):
            return
        if stretch is not None:
            _close(work, stretch, at=event.created_at, left_by=kind)
        _open(
            work,
            current,
            event,
            tier=tier,
            team=team,
            owner=owner,
            reason=event.reason or (event.data or {}).get("explanation", ""),
        )
    elif kind == EventKind.STATUS_CHANGED:
        if event.new in _CLOSING:
            if stretch is not None:
                _close(work, stretch, at=event.created_at, left_by=str(event.new))
                current[event.case_id] = None
        elif event.old in _CLOSING and event.new in OPEN_STATUSES and stretch is None:
            case = work.case(event.case_id)
            _open(
                work, current, event, tier=case.tier, team=case.team, owner=case.assignee, reason="Reopened"
            )


# --------------------------------------------------------------------------------------------------
# watchers
# --------------------------------------------------------------------------------------------------


def watch(*, case: Case, user: Any, reason: str, work: Work | None = None) -> CaseWatcher | None:
    """Keep someone informed about a case they no longer own. Idempotent. Inside a write the row joins
    its flush (a duplicate is skipped by the unique constraint); on its own it is written at once."""
    if user is None:
        return None
    if work is not None:
        return work.insert(
            CaseWatcher(case_id=case.pk, user=user, reason=reason[:300], created_at=clock.now()),
            ignore_conflicts=True,
        )
    watcher, _ = CaseWatcher.objects.get_or_create(
        case=case, user=user, defaults={"reason": reason[:300], "created_at": clock.now()}
    )
    return watcher


def unwatch(*, case: Case, user: Any) -> int:
    return CaseWatcher.objects.filter(case=case, user=user).delete()[0]
