"""The `insights` stage of the reaction pipeline (`cases/pipeline.py`).

opened   one `find_duplicates` task row for the write's new cases (a batch of mail is one task),
         written at the write's flush, inside its transaction: it commits with the cases or not at
         all, and a worker runs it (duplicates.py). The ranking is deferrable work, so the write
         does not wait for it. At the flush (not eagerly) so the stage costs one INSERT and no
         savepoint, and a case whose opening was undone gets no task.
"""

from __future__ import annotations

from django.conf import settings

from casework.cases.models import CaseEvent, EventKind
from casework.cases.services.unit_of_work import Work

from .duplicates import find_duplicates


def react(work: Work, events: list[CaseEvent]) -> None:
    if settings.CASEWORK["DUPLICATE_DETECTION"] and any(e.kind == EventKind.OPENED for e in events):
        work.on_flush("insights-duplicates", enqueue_opened)


def enqueue_opened(flushed: list[CaseEvent]) -> None:
    opened = sorted({event.case_id for event in flushed if event.kind == EventKind.OPENED})
    if opened:
        find_duplicates.enqueue(opened)
