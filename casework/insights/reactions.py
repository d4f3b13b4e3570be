"""The `insights` stage of the reaction pipeline (`cases/pipeline.py`).

opened   one `find_duplicates` task row for the write's new cases (a batch of mail is one task),
         written in the opening transaction: it commits with the cases or not at all, and a worker
         runs it (duplicates.py). The ranking is deferrable work, so the write does not wait for it.
"""

from __future__ import annotations

from django.conf import settings

from casework.cases.models import CaseEvent, EventKind
from casework.cases.services.unit_of_work import Work

from .duplicates import find_duplicates


def react(work: Work, events: list[CaseEvent]) -> None:
    if not settings.CASEWORK["DUPLICATE_DETECTION"]:
        return
    opened = sorted({event.case_id for event in events if event.kind == EventKind.OPENED})
    if opened:
        work.eager_write()
        find_duplicates.enqueue(opened)
