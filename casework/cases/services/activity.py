"""Internal work on a case: tasks, attachments, logged calls and system events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from casework.core import clock
from casework.core.errors import NotFound, ValidationFailed
from casework.core.text import normalise_whitespace
from casework.people.models import Customer

from ..models import (
    Attachment,
    Case,
    CaseEvent,
    Category,
    EventKind,
    Message,
    MessageKind,
    Task,
)
from ..status import Channel
from ._core import (
    Actor,
    _attachment,
    _attachment_event,
    _check_choice,
    _check_text,
    _lock,
    _record,
    _record_all,
    _set,
    _sync,
)
from .lifecycle import case_add_message, case_open_with_message
from .unit_of_work import active, door

# --------------------------------------------------------------------------------------------------
# tasks, attachments, calls
# --------------------------------------------------------------------------------------------------


@door
def case_add_task(
    *, case: Case, title: str, actor: Any = None, owner: Any = None, due_at: datetime | None = None
) -> Task:
    actor = Actor.of(actor)
    title = normalise_whitespace(_check_text(title, field="title", max_chars=300))
    locked = _lock(case)
    active().eager_write()
    task = Task.objects.create(case=locked, title=title, owner=owner, due_at=due_at, created_by=actor.user)
    _record(
        locked,
        EventKind.TASK_ADDED,
        actor,
        new={
            "task": task.pk,
            "title": title,
            "owner": owner.username if owner else None,
            "due_at": due_at.isoformat() if due_at else None,
        },
    )
    return task


@door
def task_complete(*, task: Task, actor: Any = None, done: bool = True) -> Task:
    actor = Actor.of(actor)
    _lock(task.case)
    task = Task.objects.select_for_update().get(pk=task.pk)
    if task.done == done:
        return task
    task.done = done
    task.done_at = clock.now() if done else None
    active().eager_write()
    task.save(update_fields=["done", "done_at", "updated_at"])
    _record(
        task.case, EventKind.TASK_COMPLETED, actor, new={"task": task.pk, "title": task.title, "done": done}
    )
    return task


@door
def case_add_attachment(
    *,
    case: Case,
    filename: str,
    content: bytes,
    content_type: str = "",
    actor: Any = None,
    message: Message | None = None,
    inline: bool = False,
) -> Attachment:
    actor = Actor.of(actor)
    locked = _lock(case)
    attachment, event = _attachment(locked, message, filename, content, content_type, inline, actor)
    active().eager_write()
    attachment.save()
    _record_all([_attachment_event(attachment, event)])
    return attachment


@door
def case_log_call(
    *,
    customer: Customer,
    summary: str,
    direction: str,
    duration_seconds: int,
    actor: Any,
    case: Case | None = None,
    subject: str = "",
    priority: str | None = None,
    category: Category | str | None = None,
) -> Message:
    """Log a phone call: as a new case with channel `phone`, or as a call note on an existing case."""
    actor = Actor.of(actor)
    if direction not in ("inbound", "outbound"):
        raise ValidationFailed("Call direction must be inbound or outbound", code="invalid_direction")
    if not isinstance(duration_seconds, int) or duration_seconds < 0 or duration_seconds > 24 * 3600:
        raise ValidationFailed("Call duration must be between 0 and 24 hours", code="invalid_duration")
    call = {"direction": direction, "duration_seconds": duration_seconds}
    if case is None:
        new_case, message = case_open_with_message(
            subject=subject or _call_subject(summary),
            description=summary,
            customer=customer,
            channel=Channel.PHONE,
            actor=actor,
            priority=priority,
            category=category,
            message_kind=MessageKind.CALL,
            message_meta={"call": call},
        )
        _record(new_case, EventKind.CALL_LOGGED, actor, new=call, message=message)
        return message
    message = case_add_message(
        case=case,
        kind=MessageKind.CALL,
        body=summary,
        actor=actor,
        channel=Channel.PHONE,
        meta={"call": call},
    )
    # A call to the customer is a response: it stops the first-response clock like a reply would.
    locked = _lock(case)
    if locked.first_response_at is None:
        _set(locked, first_response_at=clock.now())
        _record(
            locked,
            EventKind.FIRST_RESPONSE,
            actor,
            new={"at": locked.first_response_at.isoformat()},
            message=message,
        )
    _record(locked, EventKind.CALL_LOGGED, actor, new=call, message=message)
    _sync(case, locked)
    return message


def _call_subject(summary: str) -> str:
    first_line = normalise_whitespace((summary or "").strip().splitlines()[0] if summary.strip() else "")
    return first_line[:120] or "Phone call"


@door
def case_record_system_event(
    *,
    case: Case,
    kind: str,
    actor: Any = None,
    reason: str = "",
    data: dict | None = None,
    old: Any = None,
    new: Any = None,
) -> CaseEvent:
    """For engines that only need to explain themselves on the timeline (a rule that matched without
    changing anything, an SLA clock pausing) without changing case fields."""
    _check_choice(kind, EventKind, field="kind")
    locked = _lock(case)
    return _record(locked, kind, Actor.of(actor), old=old, new=new, reason=reason, data=data)


@dataclass(frozen=True)
class SystemEvent:
    """One entry for `case_record_system_events`."""

    case: Case
    kind: str
    reason: str = ""
    data: dict | None = None
    old: Any = None
    new: Any = None


@door
def case_record_system_events(
    *, events: list[SystemEvent], actor: Any = None, related: bool = True
) -> list[CaseEvent]:
    """Bulk form of `case_record_system_event` for engines that explain many cases at once (the SLA
    sweep): the cases are locked in id order with one query and the events join the write like any
    other (the pipeline reacts to them, the flush saves them with one INSERT). `related=False` locks the
    case rows without their relations (`Work.lock_many`): for notes no stage reads them for (the
    clustering job's batches of 2,000 notes spent a quarter of their time building those objects)."""
    if not events:
        return []
    for entry in events:
        _check_choice(entry.kind, EventKind, field="kind")
    actor = Actor.of(actor)
    ids = sorted({entry.case.pk for entry in events})
    locked = active().lock_many(ids, related=related)
    missing = [pk for pk in ids if pk not in locked]
    if missing:
        raise NotFound("Case does not exist", code="case_not_found", details={"ids": missing})
    now = clock.now()
    return _record_all(
        [
            CaseEvent(
                case=locked[entry.case.pk],
                kind=entry.kind,
                actor=actor.user,
                actor_label="" if actor.user is not None else actor.label,
                old=entry.old,
                new=entry.new,
                reason=entry.reason or "",
                data=entry.data or {},
                created_at=now,
            )
            for entry in events
        ]
    )
