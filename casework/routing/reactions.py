"""The `routing` stage of the reaction pipeline (`cases/pipeline.py`).

    opened, assigned, team changed, escalated, de-escalated, status changed
                        keep the tier history (history.py)
    status → triaged    a case with no owner is auto-assigned in its team (the tier's team if none)
    escalated / de-escalated
                        the previous owner watches the case; the new tier's team auto-assigns it

It runs after triage, so the case it assigns is already classified (category, tags and priority are the
skills and load it is matched on), and before SLA, whose clocks follow the team it lands in. A team's
candidates are read once per write, under their profiles' locks (services._Pool).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model

from casework.cases.models import CaseEvent, EventKind
from casework.cases.services.unit_of_work import Work
from casework.cases.status import OPEN_STATUSES, Status
from casework.core import clock

from . import history, services
from .models import TierHistory

User = get_user_model()


def react(work: Work, events: list[CaseEvent]) -> None:
    history.record(work, events)
    for event in events:
        if event.kind == EventKind.STATUS_CHANGED and event.new == Status.TRIAGED:
            _assign_if_unowned(work, event, "Case triaged")
        elif event.kind in (EventKind.ESCALATED, EventKind.DE_ESCALATED):
            case = work.case(event.case_id)
            previous = (event.old or {}).get("assignee")
            if previous:
                direction = "escalated" if event.kind == EventKind.ESCALATED else "de-escalated"
                user = User.objects.filter(username=previous).first()
                history.watch(
                    case=case,
                    user=user,
                    reason=f"Owned it before it was {direction} to L{(event.new or {}).get('tier')}",
                    work=work,
                )
            why = ""
            if event.kind == EventKind.DE_ESCALATED:
                taken, why = _back_to_previous_owner(work, event)
                if taken:
                    continue
            direction = "Escalated" if event.kind == EventKind.ESCALATED else "De-escalated"
            _assign_if_unowned(work, event, f"{direction} to L{case.tier}{why}")


def _back_to_previous_owner(work: Work, event: CaseEvent) -> tuple[bool, str]:
    """A case sent back down a tier goes to whoever owned it at that tier last, when they can take it
    (active, not away, under capacity); otherwise the team's auto-assignment decides, saying why."""
    case = work.case(event.case_id)
    if case.assignee_id or case.status not in OPEN_STATUSES:
        return False, ""
    row = (
        TierHistory.objects.filter(
            case_id=case.pk, tier=case.tier, owner__isnull=False, owner__agent__isnull=False
        )
        .select_related("owner", "owner__agent")
        .order_by("-entered_at", "-id")
        .first()
    )
    if row is None:
        return False, ""
    owner = row.owner
    name = owner.get_full_name() or owner.username
    try:
        services.claim(
            case=case,
            profile_id=owner.agent.pk,
            now=clock.now(),
            actor=services.ROUTING_ACTOR,
            reason=f"De-escalated to L{case.tier}: back to {name}, who had it at L{case.tier}",
            data={
                "routing": "previous_owner",
                "explanation": f"back to {name}, the previous L{case.tier} owner",
            },
        )
    except services.CannotTake as exc:
        return False, f" ({name}, the previous owner, {exc.reason})"
    return True, ""


def _assign_if_unowned(work: Work, event: CaseEvent, reason: str) -> None:
    case = work.case(event.case_id)
    if case.assignee_id or case.status not in OPEN_STATUSES:
        return
    services.auto_assign(case=case, reason=reason)
