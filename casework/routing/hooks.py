"""Routing reacts to case events (after they commit):

* `opened`, `assigned`, `team_changed`, `escalated`, `de_escalated`, `status_changed` keep the tier history;
* a case becoming `triaged` with no owner is auto-assigned;
* after an escalation or de-escalation the previous owner watches the case and the new tier's team
  auto-assigns it.

Also registers the case-page panel (tier history, watchers, the Auto-assign button).
"""

from __future__ import annotations

import logging

from casework.cases.hooks import on
from casework.cases.models import Case, EventKind
from casework.cases.status import OPEN_STATUSES, Status
from casework.web.panels import register_case_panel

from . import history, selectors, services

logger = logging.getLogger(__name__)


@on(
    EventKind.OPENED,
    EventKind.ASSIGNED,
    EventKind.TEAM_CHANGED,
    EventKind.ESCALATED,
    EventKind.DE_ESCALATED,
    EventKind.STATUS_CHANGED,
)
def keep_tier_history(event) -> None:
    history.record_event(event)


@on(EventKind.STATUS_CHANGED)
def assign_when_triaged(event) -> None:
    if event.new != Status.TRIAGED:
        return
    case = Case.objects.filter(pk=event.case_id).only("id", "status", "assignee_id").first()
    if case is None or case.assignee_id or case.status not in OPEN_STATUSES:
        return
    services.auto_assign(case=case, reason="Case triaged")


@on(EventKind.ESCALATED, EventKind.DE_ESCALATED)
def assign_in_new_tier(event) -> None:
    history.keep_previous_owner(event)
    case = Case.objects.filter(pk=event.case_id).first()
    if case is None or case.assignee_id or case.status not in OPEN_STATUSES:
        return
    direction = "Escalated" if event.kind == EventKind.ESCALATED else "De-escalated"
    services.auto_assign(case=case, reason=f"{direction} to L{case.tier}")


register_case_panel("routing/_case_panel.html", context=selectors.case_panel_context, order=20)
