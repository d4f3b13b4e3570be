"""Doctor check of triage (see core/doctor.py): cases still New after a minute that triage never saw —
no rule applied and no "no rule matched" note. Repair runs triage on their `opened` event now, in a
write of its own, so routing, clocks and mail react to the outcome as they would have."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, Q

from casework.cases.doctor import doctor_note, references
from casework.cases.models import Case, CaseEvent, EventKind
from casework.cases.services.unit_of_work import active, unit_of_work
from casework.cases.status import Status
from casework.core.doctor import GRACE, register_check

from . import reactions


def find(now: datetime, limit: int) -> list[int]:
    # Triage saw a case when a rule applied, nothing matched, or it left the case New for a person on
    # purpose ("needs human triage"): without the last, every daily run re-triaged those cases and wrote
    # "Triage never ran on this case" on their timelines (seen at 1M cases: 200 per run).
    seen = CaseEvent.objects.filter(case=OuterRef("pk")).filter(
        Q(kind=EventKind.RULE_APPLIED)
        | Q(kind=EventKind.NOTE, data__triage="no_rule_matched")
        | Q(kind=EventKind.NOTE, data__triage="needs_human")
    )
    cases = Case.objects.filter(status=Status.NEW, created_at__lt=now - GRACE).exclude(Exists(seen))
    return list(cases.order_by("created_at", "id").values_list("pk", flat=True)[:limit])


def repair(case_ids: list[int], now: datetime) -> list[int]:
    with unit_of_work("doctor: triage"):
        work = active()
        work.lock_many(case_ids)
        opened = list(
            CaseEvent.objects.filter(case_id__in=case_ids, kind=EventKind.OPENED)
            .select_related("actor", "message")
            .order_by("created_at", "id")
        )
        for case_id in case_ids:
            doctor_note(work, case_id, "Triage never ran on this case; ran it now", {"check": "untriaged"})
        reactions.react(work, opened)
    return []


register_check(
    "untriaged",
    "cases in New for over a minute that triage never saw (repaired by running triage now)",
    find=find,
    repair=repair,
    label=references,
)
