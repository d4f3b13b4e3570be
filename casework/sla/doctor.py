"""Doctor check of the SLA app (see core/doctor.py): open cases that never got their clocks.

Repair replays the case's own timeline through the SLA stage — opened, first response, status changes,
priority/team/tier moves, each at the time it happened — so the clocks come out as they would have been,
breaches included, and the timeline says the doctor started them late."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef

from casework.cases.doctor import doctor_note, references
from casework.cases.models import Case, CaseEvent, EventKind
from casework.cases.pipeline import STAGES
from casework.cases.services.unit_of_work import active, unit_of_work
from casework.core.doctor import GRACE, register_check

from . import reactions
from .models import CaseClock

SLA_KINDS = next(stage.kinds for stage in STAGES if stage.name == "sla")


def find(now: datetime, limit: int) -> list[int]:
    # No clock and no SLA event at all: the SLA step never ran (a case no policy covers has an SLA
    # event saying so, and is not broken).
    clocks = CaseClock.objects.filter(case=OuterRef("pk"))
    explained = CaseEvent.objects.filter(case=OuterRef("pk"), kind=EventKind.SLA)
    # `open_flag = 1` (not `status IN (open statuses)`): the open cases in creation order are one range
    # of `case_open_created`; the status filter walked every case's creation index entry (1.5 s at
    # 1,000,000 cases, 26,000 of them open).
    cases = Case.objects.filter(open_flag=1, created_at__lt=now - GRACE).exclude(
        Exists(clocks) | Exists(explained)
    )
    return list(cases.order_by("created_at", "id").values_list("pk", flat=True)[:limit])


def repair(case_ids: list[int], now: datetime) -> list[int]:
    with unit_of_work("doctor: SLA clocks"):
        work = active()
        work.lock_many(case_ids)
        timeline = list(
            CaseEvent.objects.filter(case_id__in=case_ids, kind__in=SLA_KINDS)
            .select_related("actor", "message")
            .order_by("created_at", "id")
        )
        reactions.react(work, timeline)
        for case_id in case_ids:
            doctor_note(
                work,
                case_id,
                "SLA clocks were missing; started late by replaying this case's timeline",
                {"check": "sla-missing-clocks"},
            )
    return []


register_check(
    "sla-missing-clocks",
    "open cases without SLA clocks (repaired by replaying their timeline through the SLA step)",
    find=find,
    repair=repair,
    label=references,
)
