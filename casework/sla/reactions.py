"""The `sla` stage of the reaction pipeline (`cases/pipeline.py`): case events → clock changes.

    opened                    start the first-response and resolution clocks under the matching policy
    first_response            the first-response clock is met (a public reply or a logged call)
    status_changed            pause (Awaiting Client), resume, stop (resolved / closed), resume on reopen
    priority/team/tier moved  recalculate against the policy that now applies

It runs after triage and routing, so a case opened and classified in the same write starts its clocks
under the priority and team it ended up with, and the explanation says which policy that was. The clocks
of a batch's existing cases are read with one query; everything is written by the unit of work.
"""

from __future__ import annotations

from casework.cases.models import CaseEvent, EventKind, MessageKind
from casework.cases.services.unit_of_work import Work

from . import services
from .models import Metric


def react(work: Work, events: list[CaseEvent]) -> None:
    services.load_clocks(work, {event.case_id for event in events})
    for event in events:
        who = event.actor_display
        if event.kind == EventKind.OPENED:
            services.clocks_start(case_id=event.case_id, at=event.created_at, actor_label=who)
        elif event.kind == EventKind.FIRST_RESPONSE:
            # cases.services emits first_response only for a public agent reply or a logged call, never
            # for an automatic acknowledgement, which is exactly what stops this clock.
            message = event.message
            how = (
                "phone call logged"
                if message is not None and message.kind == MessageKind.CALL
                else "public reply"
            )
            services.clocks_stop(
                case_id=event.case_id,
                at=event.created_at,
                metrics=(Metric.FIRST_RESPONSE,),
                met=True,
                reason=f"{how} by {who}",
                actor_label=who,
            )
        elif event.kind == EventKind.STATUS_CHANGED:
            services.clocks_on_status(
                case_id=event.case_id,
                old=event.old,
                new=event.new,
                at=event.created_at,
                actor_label=who,
                reason=event.reason,
            )
        else:
            services.clocks_recalculate(
                case_id=event.case_id, at=event.created_at, reason=_why(event), actor_label=who
            )


def _why(event: CaseEvent) -> str:
    if event.kind == EventKind.PRIORITY_CHANGED:
        return f"priority {event.old} → {event.new}"
    if event.kind == EventKind.TEAM_CHANGED:
        return f"team {event.old or 'none'} → {event.new or 'none'}"
    return f"{event.get_kind_display().lower()} to L{(event.new or {}).get('tier')}"
