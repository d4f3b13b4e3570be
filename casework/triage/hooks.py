"""Triage reacts to case events: classify new cases, score customer messages, re-check on replies,
status changes and SLA alerts."""

from __future__ import annotations

import logging

from django.conf import settings

from casework.cases import hooks
from casework.cases import services as case_services
from casework.cases.models import EventKind, MessageKind
from casework.cases.status import Status

from . import services

logger = logging.getLogger(__name__)


@hooks.on(EventKind.OPENED)
def triage_new_case(event) -> None:
    case = event.case
    # The opened event carries the message the case was opened with, created with the case and so its
    # first; only without one (a split opens an empty case and moves a message in) is there a query.
    first = event.message if event.message_id else None
    if first is None or first.kind != MessageKind.CUSTOMER:
        first = case.messages.filter(kind=MessageKind.CUSTOMER).order_by("id").first()
    if first is not None:
        services.score_customer_message(message=first)
    explicit = frozenset(event.data.get("explicit", []))
    result = services.run_rules(case=case, trigger="case_opened", message=first, explicit=explicit)
    # Only the two fields read below; case_transition locks and reloads the whole row itself.
    case.refresh_from_db(fields=["status", "category"])
    if not settings.CASEWORK["TRIAGE_AUTO_TRIAGED"] or case.status != Status.NEW:
        return
    classified = "category" in result.changed or ("category" in explicit and case.category_id)
    if result.outcomes and classified:
        names = ", ".join(repr(o.rule_name) for o in result.outcomes)
        case_services.case_transition(
            case=case,
            to=Status.TRIAGED,
            actor="triage",
            reason=f"Classified by rules {names}",
            data={"rules": [o.rule_name for o in result.outcomes]},
        )


@hooks.on(EventKind.MESSAGE_ADDED)
def triage_customer_message(event) -> None:
    message = event.message
    if message is None or message.kind != MessageKind.CUSTOMER:
        return
    services.score_customer_message(message=message)
    services.run_rules(case=message.case, trigger="message_received", message=message)


@hooks.on(EventKind.STATUS_CHANGED)
def triage_status_change(event) -> None:
    services.run_rules(case=event.case, trigger="status_changed")


@hooks.on(EventKind.SLA)
def triage_sla_alert(event) -> None:
    # Contract with the SLA app: its events carry data {"metric", "state", "due_at", "policy"}.
    state = (event.data or {}).get("state")
    trigger = {"at_risk": "sla_at_risk", "breached": "sla_breached"}.get(state)
    if trigger:
        services.run_rules(case=event.case, trigger=trigger)
