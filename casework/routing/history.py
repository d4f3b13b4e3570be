"""Tier history and watchers, kept from case events (see hooks.py).

Each function takes the CaseEvent that just committed and is idempotent per event (a unique event_id on
the row a event opens), so a hook that runs twice cannot write two rows.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from casework.cases.models import Case, CaseEvent, EventKind
from casework.people.models import Team

from .models import CaseWatcher, TierHistory

User = get_user_model()


def _user(username: str | None) -> Any:
    if not username:
        return None
    return User.objects.filter(username=username).first()


def _team(name: str | None) -> Team | None:
    if not name:
        return None
    return Team.objects.filter(name=name).first()


def _close_open(case_id: int, *, at, left_by: str) -> TierHistory | None:
    current = TierHistory.objects.select_for_update().filter(case_id=case_id, left_at__isnull=True).first()
    if current is not None:
        current.left_at = max(at, current.entered_at)
        current.left_by = left_by
        current.save(update_fields=["left_at", "left_by"])
    return current


def _open(event: CaseEvent, *, tier: int, team: Team | None, owner: Any, reason: str = "", note: str = ""):
    try:
        with transaction.atomic():
            return TierHistory.objects.create(
                case_id=event.case_id,
                tier=tier,
                team=team,
                owner=owner,
                entered_at=event.created_at,
                entered_by=event.kind,
                reason=reason[:2000],
                handoff_note=note,
                event_id=event.pk,
            )
    except IntegrityError:
        return None  # this event was already recorded


@transaction.atomic
def record_event(event: CaseEvent) -> TierHistory | None:
    """Update the case's tier history for one event; returns the row it opened, if any."""
    if TierHistory.objects.filter(event_id=event.pk).exists():
        return None
    kind = event.kind
    if kind == EventKind.OPENED:
        # Runs for every case opened: read the three columns it needs, not the case joined to its team and
        # owner (most new cases have neither, and building that query cost more than running it).
        case = Case.objects.filter(pk=event.case_id).values("pk", "tier", "team_id", "assignee_id").get()
        if TierHistory.objects.filter(case_id=case["pk"]).exists():
            return None
        # If the case already moved tiers before this hook ran, the first move's "old" side is how it
        # was opened; otherwise the case still is as it was opened.
        first_move = (
            CaseEvent.objects.filter(
                case_id=case["pk"], kind__in=[EventKind.ESCALATED, EventKind.DE_ESCALATED], id__gt=event.pk
            )
            .order_by("id")
            .first()
        )
        if first_move is not None:
            old = first_move.old or {}
            return _open(
                event,
                tier=old.get("tier", 1),
                team=_team(old.get("team")),
                owner=_user(old.get("assignee")),
                reason="Case opened",
            )
        team = Team.objects.get(pk=case["team_id"]) if case["team_id"] else None
        owner = User.objects.get(pk=case["assignee_id"]) if case["assignee_id"] else None
        return _open(event, tier=case["tier"], team=team, owner=owner, reason="Case opened")
    if kind in (EventKind.ESCALATED, EventKind.DE_ESCALATED):
        new = event.new or {}
        _close_open(event.case_id, at=event.created_at, left_by=kind)
        return _open(
            event,
            tier=new.get("tier"),
            team=_team(new.get("team")),
            owner=_user(new.get("assignee")),
            reason=event.reason,
            note=(event.data or {}).get("handoff_note", ""),
        )
    if kind in (EventKind.ASSIGNED, EventKind.TEAM_CHANGED):
        # Built from the event and the stretch it ends, not from the case as it is now: hooks may run
        # after later changes committed in the same transaction (a rule that assigns, then escalates).
        current = TierHistory.objects.filter(case_id=event.case_id, left_at__isnull=True).first()
        if current is None:
            case = Case.objects.select_related("team", "assignee").get(pk=event.case_id)
            if case.status not in _open_statuses():
                return None
            tier, team, owner = case.tier, case.team, case.assignee
        else:
            tier, team, owner = current.tier, current.team, current.owner
        if kind == EventKind.ASSIGNED:
            owner = _user(event.new if isinstance(event.new, str) else None)
        else:
            team = _team(event.new if isinstance(event.new, str) else None)
        if current is not None and (current.owner_id, current.team_id) == (
            getattr(owner, "pk", None),
            getattr(team, "pk", None),
        ):
            return None
        _close_open(event.case_id, at=event.created_at, left_by=kind)
        return _open(
            event,
            tier=tier,
            team=team,
            owner=owner,
            reason=event.reason or (event.data or {}).get("explanation", ""),
        )
    if kind == EventKind.STATUS_CHANGED:
        if event.new in ("resolved", "closed"):
            _close_open(event.case_id, at=event.created_at, left_by=str(event.new))
            return None
        if event.old in ("resolved", "closed") and event.new in _open_statuses():
            case = Case.objects.select_related("team", "assignee").get(pk=event.case_id)
            if not TierHistory.objects.filter(case_id=case.pk, left_at__isnull=True).exists():
                return _open(event, tier=case.tier, team=case.team, owner=case.assignee, reason="Reopened")
    return None


def _open_statuses() -> set[str]:
    from casework.cases.status import OPEN_STATUSES

    return {str(s) for s in OPEN_STATUSES}


def watch(*, case: Case, user: Any, reason: str) -> CaseWatcher | None:
    """Keep someone informed about a case they no longer own. Idempotent."""
    if user is None:
        return None
    from casework.core import clock

    watcher, _ = CaseWatcher.objects.get_or_create(
        case=case, user=user, defaults={"reason": reason[:300], "created_at": clock.now()}
    )
    return watcher


def unwatch(*, case: Case, user: Any) -> int:
    return CaseWatcher.objects.filter(case=case, user=user).delete()[0]


def keep_previous_owner(event: CaseEvent) -> CaseWatcher | None:
    """After an escalation or de-escalation the previous owner keeps watching the case."""
    previous = _user((event.old or {}).get("assignee"))
    if previous is None:
        return None
    direction = "escalated" if event.kind == EventKind.ESCALATED else "de-escalated"
    tier = (event.new or {}).get("tier")
    return watch(case=event.case, user=previous, reason=f"Owned it before it was {direction} to L{tier}")
