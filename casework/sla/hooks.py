"""How the SLA engine follows a case: case events (after commit) → clock services, plus the case-page panel.

Every handler is cheap (a few indexed queries on one case) and idempotent (see services.py), because hooks
run synchronously in the process that made the change.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from casework.cases.hooks import on
from casework.cases.models import EventKind, MessageKind
from casework.core import clock as core_clock
from casework.people.models import Organisation
from casework.web.panels import register_case_panel

from . import services
from .models import Metric
from .selectors import case_panel_context


def _who(event) -> str:
    return event.actor_display


@on(EventKind.OPENED)
def start_clocks(event) -> None:
    services.clocks_start(case_id=event.case_id, at=event.created_at, actor_label=_who(event))


@on(EventKind.FIRST_RESPONSE)
def first_response(event) -> None:
    # cases.services emits first_response only for a public agent reply or a logged call, never for an
    # automatic acknowledgement, which is exactly what stops this clock.
    message = event.message if event.message_id else None
    how = "phone call logged" if message is not None and message.kind == MessageKind.CALL else "public reply"
    services.clocks_stop(
        case_id=event.case_id,
        at=event.created_at,
        metrics=(Metric.FIRST_RESPONSE,),
        met=True,
        reason=f"{how} by {_who(event)}",
        actor_label=_who(event),
    )


@on(EventKind.STATUS_CHANGED)
def status_changed(event) -> None:
    services.clocks_on_status(
        case_id=event.case_id,
        old=event.old,
        new=event.new,
        at=event.created_at,
        actor_label=_who(event),
        reason=event.reason,
    )


@on(EventKind.PRIORITY_CHANGED, EventKind.TEAM_CHANGED, EventKind.ESCALATED, EventKind.DE_ESCALATED)
def terms_changed(event) -> None:
    if event.kind == EventKind.PRIORITY_CHANGED:
        why = f"priority {event.old} → {event.new}"
    elif event.kind == EventKind.TEAM_CHANGED:
        why = f"team {event.old or 'none'} → {event.new or 'none'}"
    else:
        why = f"{event.get_kind_display().lower()} to L{(event.new or {}).get('tier')}"
    services.clocks_recalculate(
        case_id=event.case_id, at=event.created_at, reason=why, actor_label=_who(event)
    )


@receiver(post_save, sender=Organisation, dispatch_uid="sla_organisation_tier")
def organisation_saved(sender, instance: Organisation, created: bool, **kwargs) -> None:
    # Organisations are edited in the admin (no case service); clocks matched on another tier are found
    # by their stored tier, so an edit that does not change the tier touches nothing.
    if created or kwargs.get("raw"):
        return
    at = core_clock.now()
    transaction.on_commit(
        lambda: services.clocks_recalculate_for_organisation(
            organisation_id=instance.pk, at=at, actor_label="organisation settings"
        ),
        robust=True,
    )


register_case_panel("sla/_case_panel.html", context=case_panel_context, order=10)
