"""What a change to a case implies, decided inside the change's own transaction: the reaction pipeline.

This file is the whole story of "what happens when…". A door function in `cases.services` records
events in the unit of work (`services/unit_of_work.py`); before the transaction commits, `run` hands
the new events to each stage below, in this order:

    triage   sentiment of customer messages; the rules of the event's trigger (case opened, message
             received, status changed, SLA at risk/breached) → priority, category, tags, team, tier,
             owner, notes, canned replies; New → Triaged when the rules classified the case
    routing  tier history and watchers; auto-assignment when a case is triaged or changes tier
    sla      clocks start, stop, pause, resume or are recalculated, with their due and at-risk times
    notify   every effect that leaves the database becomes a row the worker delivers: the reply
             email, acknowledgements and status mails to customers, agent alerts by email, Slack
             and in-app (casework/notify/reactions.py)
    csat     on resolution, the satisfaction survey mail (casework/csat/reactions.py)
    insights a new case gets a durable task that looks for its likely duplicates (insights/reactions.py)
    search   the search documents of cases whose text changed are rewritten at the flush

A stage changes cases only through the door functions (so every change is an event that explains it)
and writes its own rows through the unit of work; `Work.flush` then writes everything in a few bulk
statements. Events a stage records are seen by the stages after it in the same round and by the ones
before it in the next round (an SLA breach found while stopping a clock goes back to triage's
`sla_breached` rules), until no stage has anything new — at most `MAX_ROUNDS` rounds.

Failures: a stage that raises an unexpected error is undone (its in-memory changes and any rows it
wrote), the error is recorded on each case it was handling (`automation_failure` note, which
`casework doctor` finds and retries), and the write commits without that stage's decisions: a
broken step must not lose the customer's mail. A database error is not a broken step but a broken
write: it propagates and the whole transaction rolls back, leaving nothing half-done.

Stages are found by dotted path so `cases` does not import the apps that react to it.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property

from django.db import DatabaseError
from django.utils.module_loading import import_string

from .models import CaseEvent, EventKind
from .services.unit_of_work import Work

logger = logging.getLogger(__name__)

MAX_ROUNDS = 5


@dataclass(frozen=True)
class Stage:
    name: str
    path: str
    kinds: frozenset[str]
    # Upkeep of derived data rather than a decision (the search index): runs even inside `only(...)`,
    # so narrowing the pipeline for a test or a benchmark never leaves a write's index stale.
    always: bool = False

    @cached_property
    def react(self) -> Callable[[Work, list[CaseEvent]], None]:
        return import_string(self.path)


STAGES: tuple[Stage, ...] = (
    Stage(
        "triage",
        "casework.triage.reactions.react",
        # category/priority changes: a person correcting triage is counted (and becomes a training label)
        frozenset(
            {
                EventKind.OPENED,
                EventKind.MESSAGE_ADDED,
                EventKind.STATUS_CHANGED,
                EventKind.SLA,
                EventKind.CATEGORY_CHANGED,
                EventKind.PRIORITY_CHANGED,
            }
        ),
    ),
    Stage(
        "routing",
        "casework.routing.reactions.react",
        frozenset(
            {
                EventKind.OPENED,
                EventKind.ASSIGNED,
                EventKind.TEAM_CHANGED,
                EventKind.ESCALATED,
                EventKind.DE_ESCALATED,
                EventKind.STATUS_CHANGED,
            }
        ),
    ),
    Stage(
        "sla",
        "casework.sla.reactions.react",
        frozenset(
            {
                EventKind.OPENED,
                EventKind.FIRST_RESPONSE,
                EventKind.STATUS_CHANGED,
                EventKind.PRIORITY_CHANGED,
                EventKind.TEAM_CHANGED,
                EventKind.ESCALATED,
                EventKind.DE_ESCALATED,
            }
        ),
    ),
    Stage(
        "notify",
        "casework.notify.reactions.react",
        frozenset(
            {
                EventKind.OPENED,
                EventKind.MESSAGE_ADDED,
                EventKind.ASSIGNED,
                EventKind.TEAM_CHANGED,
                EventKind.ESCALATED,
                EventKind.STATUS_CHANGED,
                EventKind.SLA,
                EventKind.NOTE,
            }
        ),
    ),
    # On resolution, the satisfaction survey (an outbox row through the notify engine).
    Stage("csat", "casework.csat.reactions.react", frozenset({EventKind.STATUS_CHANGED})),
    # New cases: one durable task row that looks for their likely duplicates (casework/insights).
    Stage("insights", "casework.insights.reactions.react", frozenset({EventKind.OPENED})),
    # Last: the search documents of cases whose text changed are rewritten at the flush, in the write.
    Stage(
        "search",
        "casework.search.index.react",
        frozenset(
            {
                EventKind.OPENED,
                EventKind.MESSAGE_ADDED,
                EventKind.CALL_LOGGED,
                EventKind.TAGS_CHANGED,
                EventKind.FIELD_CHANGED,
                EventKind.MERGED,
                EventKind.MERGED_INTO,
                EventKind.NOTE,
            }
        ),
        always=True,
    ),
)

_only: contextvars.ContextVar[frozenset[str] | None] = contextvars.ContextVar("pipeline_only", default=None)


@contextlib.contextmanager
def only(*names: str) -> Iterator[None]:
    """Run only these stages (none with no names) inside the block. For benchmarks that measure a part
    and for tests of one stage; production code never narrows the pipeline."""
    unknown = set(names) - {stage.name for stage in STAGES}
    if unknown:
        raise ValueError(f"unknown stages {sorted(unknown)}")
    token = _only.set(frozenset(names))
    try:
        yield
    finally:
        _only.reset(token)


def stages() -> tuple[Stage, ...]:
    wanted = _only.get()
    return STAGES if wanted is None else tuple(s for s in STAGES if s.name in wanted or s.always)


def run(work: Work) -> None:
    """React to every event recorded in `work` (see the module docstring)."""
    active = stages()
    seen = dict.fromkeys((stage.name for stage in active), 0)
    for _ in range(MAX_ROUNDS):
        for stage in active:
            start, seen[stage.name] = seen[stage.name], len(work.events)
            events = [event for event in work.events[start:] if event.kind in stage.kinds]
            if events:
                _run_stage(stage, work, events)
        if all(position == len(work.events) for position in seen.values()):
            return
    # Rules that keep triggering each other (a status_changed rule moving the status…): stop, and say so.
    cases = {event.case_id for event in work.events[min(seen.values()) :]}
    logger.error("reaction pipeline stopped after %s rounds for cases %s", MAX_ROUNDS, sorted(cases))
    _record_failure(work, cases, "pipeline", f"stopped after {MAX_ROUNDS} rounds of reactions (a rule loop?)")


def _run_stage(stage: Stage, work: Work, events: list[CaseEvent]) -> None:
    try:
        with work.savepoint(eager=True):
            stage.react(work, events)
    except DatabaseError:
        raise
    except Exception as exc:
        work.scratch.pop(stage.name, None)
        cases = {event.case_id for event in events}
        logger.exception("reaction stage %s failed for cases %s", stage.name, sorted(cases))
        _record_failure(work, cases, stage.name, f"{type(exc).__name__}: {exc}")


def _record_failure(work: Work, case_ids: set[int], stage: str, error: str) -> None:
    from .services import case_record_system_event

    for case_id in sorted(case_ids):
        case_record_system_event(
            case=work.case(case_id),
            kind=EventKind.NOTE,
            actor="automation",
            reason=f"Automation step '{stage}' failed ({error[:500]}); the change itself is saved, "
            "`casework doctor` retries the step",
            data={"automation_failure": {"stage": stage, "error": error[:2000]}},
        )
