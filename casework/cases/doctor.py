"""Doctor checks of the case core (see core/doctor.py), and what the apps' checks share: examples by
reference, and a note on each repaired case saying what the doctor did and why."""

from __future__ import annotations

from datetime import datetime, timedelta

from casework.core.doctor import register_check

from .models import Case, CaseEvent, EventKind
from .services.unit_of_work import Work

DOCTOR = "casework doctor"
# Failed reaction steps this recent are listed; the state checks of the other apps repair their effects.
FAILURES_WITHIN = timedelta(days=7)


def references(case_ids: list[int]) -> list[str]:
    by_id = dict(Case.objects.filter(pk__in=case_ids).values_list("pk", "reference"))
    return [by_id[pk] for pk in case_ids if pk in by_id]


def doctor_note(work: Work, case_id: int, reason: str, data: dict) -> None:
    """Say on the case's timeline what the doctor repaired (inside the repairing write)."""
    from .services import case_record_system_event

    case_record_system_event(
        case=work.case(case_id), kind=EventKind.NOTE, actor=DOCTOR, reason=reason, data={"doctor": data}
    )


def _failed_steps(now: datetime, limit: int) -> list[int]:
    events = CaseEvent.objects.filter(
        kind=EventKind.NOTE, data__has_key="automation_failure", created_at__gte=now - FAILURES_WITHIN
    )
    return list(events.order_by("created_at", "id").values_list("case_id", flat=True).distinct()[:limit])


register_check(
    "failed-reaction-steps",
    f"cases where a reaction step failed in the last {FAILURES_WITHIN.days} days (see their timeline; the "
    "other checks repair what the step left undone)",
    find=_failed_steps,
    label=references,
)
