"""The `csat` stage of the reaction pipeline (`cases/pipeline.py`): on resolution, the survey.

    status_changed → resolved   a `csat_survey` notification (notify engine: an outbox row in this
                                write, with Auto-Submitted: auto-generated) with five signed one-click
                                rating links and the comment page; idempotency key
                                `csat:<case id>:<resolution n>` (n = reopen count + 1), so a repeated
                                reaction or a retried write queues it once

Not sent when the customer resolved the case themselves in the portal (`by_customer`), or when the case
already has an answer (one answer per case). Suppressed addresses, opt-outs and rate limits are the
engine's, and it writes on the timeline what it sent or why not.
"""

from __future__ import annotations

from casework.cases.models import CaseEvent, EventKind
from casework.cases.services.unit_of_work import Work
from casework.cases.status import Status
from casework.notify import engine

from .links import survey_context
from .models import CsatAnswer


def react(work: Work, events: list[CaseEvent]) -> None:
    resolved = [
        event
        for event in events
        if event.kind == EventKind.STATUS_CHANGED
        and event.new == Status.RESOLVED
        and not (event.data or {}).get("by_customer")
    ]
    if not resolved:
        return
    answered = set(
        CsatAnswer.objects.filter(case_id__in={e.case_id for e in resolved}).values_list("case_id", flat=True)
    )
    for event in resolved:
        if event.case_id in answered:
            continue
        case = work.case(event.case_id)
        resolution = case.reopen_count + 1
        engine.send(
            "csat_survey",
            case=case,
            to_customer=True,
            context=survey_context(case.pk, resolution),
            dedup_key=f"csat:{case.pk}:{resolution}",
        )
