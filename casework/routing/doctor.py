"""Doctor check of routing (see core/doctor.py): triaged cases with no owner that routing never looked
at — no assignment and no note saying why they wait in the queue. Repair auto-assigns them now."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, Q

from casework.cases.doctor import doctor_note, references
from casework.cases.models import Case, CaseEvent, EventKind
from casework.cases.services.unit_of_work import active, unit_of_work
from casework.cases.status import Status
from casework.core.doctor import GRACE, register_check

from . import services


def find(now: datetime, limit: int) -> list[int]:
    routed = CaseEvent.objects.filter(case=OuterRef("pk")).filter(
        Q(kind=EventKind.ASSIGNED) | Q(kind=EventKind.NOTE, data__has_key="routing")
    )
    cases = Case.objects.filter(
        status=Status.TRIAGED, assignee__isnull=True, updated_at__lt=now - GRACE
    ).exclude(Exists(routed))
    return list(cases.order_by("created_at", "id").values_list("pk", flat=True)[:limit])


def repair(case_ids: list[int], now: datetime) -> list[int]:
    with unit_of_work("doctor: routing"):
        work = active()
        for case in work.lock_many(case_ids).values():
            doctor_note(
                work, case.pk, "Routing never looked at this triaged case; did now", {"check": "unrouted"}
            )
            services.auto_assign(case=case, reason="Case triaged (routed late by casework doctor)")
    return []


register_check(
    "unrouted",
    "triaged cases without an owner that routing never looked at (repaired by auto-assigning now)",
    find=find,
    repair=repair,
    label=references,
)
