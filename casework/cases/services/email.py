"""Email bookkeeping on messages and re-homing messages that landed on the wrong case."""

from __future__ import annotations

from typing import Any

from casework.core import clock
from casework.core.errors import InvalidTransition, ValidationFailed

from ..models import (
    Attachment,
    Case,
    EventKind,
    Message,
    MessageKind,
)
from ..status import Status
from ._core import Actor, _lock, _record, _set
from .lifecycle import case_open
from .unit_of_work import active, door

# --------------------------------------------------------------------------------------------------
# email bookkeeping and message re-homing (email channel, issue 4)
# --------------------------------------------------------------------------------------------------


@door
def message_record_email(
    *,
    message: Message,
    message_id: str | None = None,
    delivery: str | None = None,
    detail: str = "",
    actor: Any = None,
    data: dict | None = None,
) -> Message:
    """Outbound mail bookkeeping on a message: the Message-ID it was sent with (so replies thread) and
    its delivery state (queued/sent/failed). A failure is written to the timeline so agents see it."""
    actor = Actor.of(actor or "email")
    work = active()
    locked = _lock(message.case)
    # A message this write inserted is current in memory; an older one is read (and locked) once.
    row = work.messages.get(message.pk)
    if row is None:
        row = Message.objects.select_for_update().get(pk=message.pk)
        work.note_message(row)
    if message_id and row.message_id != message_id:
        work.set(row, message_id=message_id)
    if delivery:
        state = {"state": delivery, "detail": detail[:500], "at": clock.now().isoformat()}
        work.set(row, meta={**row.meta, "delivery": state})
    if delivery == "failed":
        _record(
            locked,
            EventKind.NOTE,
            actor,
            reason=f"Email could not be delivered: {detail}"[:1000],
            data={"delivery_failure": {"message": row.pk, **(data or {})}},
            message=row,
        )
    message.message_id, message.meta = row.message_id, row.meta
    return row


def _rehome_message(message: Message, target: Case, meta: dict) -> None:
    active().eager_write()
    Message.objects.filter(pk=message.pk).update(case=target, meta={**message.meta, **meta})
    Attachment.objects.filter(message=message).update(case=target)


@door
def message_split_to_new_case(
    *, message: Message, actor: Any = None, subject: str = "", reason: str = ""
) -> Case:
    """Take a message that started a different topic out of its case and open a new case with it, for the
    same customer. Both timelines say where it went and who decided."""
    actor = Actor.of(actor)
    source = _lock(message.case)
    message = Message.objects.select_for_update().get(pk=message.pk)
    if message.kind != MessageKind.CUSTOMER:
        raise ValidationFailed("Only customer messages can be split into a new case", code="split_kind")
    if not Message.objects.filter(case=source).exclude(pk=message.pk).exists():
        raise ValidationFailed(f"This is the only message on {source.reference}", code="split_only_message")
    new_case = case_open(
        subject=subject or message.subject or source.subject,
        description="",
        customer=message.author_customer or source.customer,
        channel=message.channel,
        actor=actor,
    )
    _rehome_message(
        message,
        new_case,
        {"matched_by": "manual", "evidence": f"split from {source.reference} by {actor.display}"},
    )
    _set(new_case, last_customer_message_at=message.created_at)
    _record(
        source,
        EventKind.NOTE,
        actor,
        reason=f"Message split into new case {new_case.reference}" + (f": {reason}" if reason else ""),
        data={"split_to": new_case.reference, "message": message.pk},
    )
    _record(
        new_case,
        EventKind.NOTE,
        actor,
        reason=f"Split from {source.reference}" + (f": {reason}" if reason else ""),
        data={"split_from": source.reference, "message": message.pk},
        message=message,
    )
    return new_case


@door
def message_move(*, message: Message, target: Case, actor: Any = None, reason: str = "") -> Message:
    """Move a message (and its attachments) that threading put on the wrong case to the right one."""
    actor = Actor.of(actor)
    if message.case_id == target.pk:
        raise ValidationFailed(f"The message is already on {target.reference}", code="move_same_case")
    first, second = sorted([message.case, target], key=lambda c: c.pk)
    locked = {c.pk: _lock(c) for c in (first, second)}
    source, dest = locked[message.case_id], locked[target.pk]
    if dest.merged_into_id or dest.status == Status.CLOSED:
        raise InvalidTransition(f"{dest.reference} is closed and cannot receive messages", code="move_closed")
    message = Message.objects.select_for_update().get(pk=message.pk)
    _rehome_message(
        message,
        dest,
        {"matched_by": "manual", "evidence": f"moved from {source.reference} by {actor.display}"},
    )
    suffix = f": {reason}" if reason else ""
    _record(
        source,
        EventKind.NOTE,
        actor,
        reason=f"Message moved to {dest.reference}{suffix}",
        data={"moved_to": dest.reference, "message": message.pk},
    )
    _record(
        dest,
        EventKind.NOTE,
        actor,
        reason=f"Message moved here from {source.reference}{suffix}",
        data={"moved_from": source.reference, "message": message.pk},
        message=message,
    )
    active().touch(dest)
    message.refresh_from_db()
    return message
