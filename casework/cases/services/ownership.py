"""Ownership and classification: assignee, team, priority, category, tags, mood, tier, merges."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db.models import Count
from django.utils.text import slugify

from casework.core import clock
from casework.core.errors import ApplicationError, InvalidTransition, ValidationFailed
from casework.core.text import normalise_whitespace
from casework.people.models import Team
from casework.people.selectors import team_for_tier

from ..models import (
    Attachment,
    Case,
    Category,
    Direction,
    EventKind,
    Message,
    MessageKind,
    Task,
)
from ..status import PRIORITY_RANK, Priority, Status, Tier
from ._core import (
    Actor,
    _check_choice,
    _check_custom_fields,
    _check_text,
    _lock,
    _record,
    _set,
    _sync,
    _tags,
    resolve_category,
)
from .unit_of_work import active, door

# --------------------------------------------------------------------------------------------------
# ownership and classification
# --------------------------------------------------------------------------------------------------


def _key(value: Any) -> Any:
    return value.pk if hasattr(value, "pk") else value


def _change_field(
    case: Case,
    *,
    field: str,
    value: Any,
    kind: str,
    actor: Actor,
    reason: str,
    data: dict | None,
    show: Callable[[Any], Any],
) -> Case:
    """The shape every single-field change shares: lock, skip a no-op, save, record old → new."""
    locked = _lock(case)
    current = getattr(locked, field)
    if _key(current) == _key(value):
        _sync(case, locked)
        return locked
    _set(locked, **{field: value})
    _record(locked, kind, actor, old=show(current), new=show(value), reason=reason, data=data)
    _sync(case, locked)
    return locked


@door
def case_assign(
    *, case: Case, assignee: Any, actor: Any = None, reason: str = "", data: dict | None = None
) -> Case:
    """Give the case to an agent (or None to put it back in the team queue)."""
    if assignee is not None and (not assignee.is_active or not hasattr(assignee, "agent")):
        raise ValidationFailed(f"{assignee} is not an active agent", code="invalid_assignee")
    return _change_field(
        case,
        field="assignee",
        value=assignee,
        kind=EventKind.ASSIGNED,
        actor=Actor.of(actor),
        reason=reason,
        data=data,
        show=lambda user: user.username if user else None,
    )


@door
def case_set_team(
    *, case: Case, team: Team | None, actor: Any = None, reason: str = "", data: dict | None = None
) -> Case:
    return _change_field(
        case,
        field="team",
        value=team,
        kind=EventKind.TEAM_CHANGED,
        actor=Actor.of(actor),
        reason=reason,
        data=data,
        show=lambda t: t.name if t else None,
    )


@door
def case_set_priority(
    *, case: Case, priority: str, actor: Any = None, reason: str = "", data: dict | None = None
) -> Case:
    _check_choice(priority, Priority, field="priority")
    return _change_field(
        case,
        field="priority",
        value=priority,
        kind=EventKind.PRIORITY_CHANGED,
        actor=Actor.of(actor),
        reason=reason,
        data=data,
        show=lambda p: p,
    )


def priority_is_higher(candidate: str, current: str) -> bool:
    return PRIORITY_RANK[candidate] < PRIORITY_RANK[current]


@door
def case_set_category(
    *,
    case: Case,
    category: Category | str | None,
    actor: Any = None,
    reason: str = "",
    data: dict | None = None,
) -> Case:
    category = resolve_category(category)
    return _change_field(
        case,
        field="category",
        value=category,
        kind=EventKind.CATEGORY_CHANGED,
        actor=Actor.of(actor),
        reason=reason,
        data=data,
        show=lambda c: c.slug if c else None,
    )


@door
def case_set_tags(
    *,
    case: Case,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    actor: Any = None,
    reason: str = "",
    data: dict | None = None,
) -> Case:
    actor = Actor.of(actor)
    work = active()
    locked = _lock(case)
    current = work.tags_of(locked)
    before = sorted(tag.name for tag in current)
    to_remove = {slugify(str(n), allow_unicode=True) for n in remove}
    kept = [tag for tag in current if tag.name not in to_remove]
    added = []
    for tag in _tags(add):
        if tag.name not in {t.name for t in kept + added}:
            added.append(tag)
    after = sorted(tag.name for tag in kept + added)
    if before != after:
        removed = [tag.pk for tag in current if tag.name in to_remove]
        if removed:
            work.eager_write()
            Case.tags.through.objects.filter(case_id=locked.pk, tag_id__in=removed).delete()
        for tag in added:
            work.insert(Case.tags.through(case_id=locked.pk, tag_id=tag.pk))
        work.set_tags(locked, sorted(kept + added, key=lambda t: t.name))
        work.touch(locked)
        _record(locked, EventKind.TAGS_CHANGED, actor, old=before, new=after, reason=reason, data=data)
    _sync(case, locked)
    return locked


@door
def case_set_sentiment(
    *,
    case: Case,
    frustrated: bool,
    sentiment: float | None = None,
    actor: Any = None,
    reason: str = "",
) -> Case:
    """Record the customer's mood: automatically from a message score, or an agent's correction.

    A new score that leaves the frustrated flag as it was is kept without an event: the score is on its
    message already, and the timeline says when the customer's mood turned, not every time a number
    moved (nor when an agent sets the flag it already has)."""
    actor = Actor.of(actor)
    locked = _lock(case)
    old = {"frustrated": locked.frustrated, "sentiment": locked.sentiment}
    new = {"frustrated": frustrated, "sentiment": locked.sentiment if sentiment is None else sentiment}
    if old != new:
        _set(locked, frustrated=new["frustrated"], sentiment=new["sentiment"])
        if old["frustrated"] != new["frustrated"]:
            _record(locked, EventKind.SENTIMENT_CHANGED, actor, old=old, new=new, reason=reason)
    _sync(case, locked)
    return locked


@door
def case_update(*, case: Case, actor: Any = None, reason: str = "", **changes: Any) -> Case:
    """Apply several field changes at once (API PATCH, the case side panel): all or nothing."""
    allowed = {"priority", "category", "assignee", "team", "subject", "custom_fields"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(
            f"Cannot change {', '.join(sorted(unknown))}",
            code="unknown_field",
            details={"fields": sorted(unknown)},
        )
    if "custom_fields" in changes:
        # Checked before anything changes: a wrong value refuses the whole update.
        changes["custom_fields"] = _check_custom_fields(changes["custom_fields"])
    actor = Actor.of(actor)
    if "priority" in changes:
        case_set_priority(case=case, priority=changes["priority"], actor=actor, reason=reason)
    if "category" in changes:
        case_set_category(case=case, category=changes["category"], actor=actor, reason=reason)
    if "team" in changes:
        case_set_team(case=case, team=changes["team"], actor=actor, reason=reason)
    if "assignee" in changes:
        case_assign(case=case, assignee=changes["assignee"], actor=actor, reason=reason)
    if "subject" in changes or "custom_fields" in changes:
        locked = _lock(case)
        for field in ("subject", "custom_fields"):
            if field not in changes:
                continue
            value = changes[field]
            if field == "subject":
                value = normalise_whitespace(_check_text(value, field="subject", max_chars=300))
            old = getattr(locked, field)
            if old != value:
                _set(locked, **{field: value})
                _record(
                    locked,
                    EventKind.FIELD_CHANGED,
                    actor,
                    old={field: old},
                    new={field: value},
                    reason=reason,
                )
        _sync(case, locked)
    return case


@door
def case_escalate(
    *,
    case: Case,
    to_tier: int,
    actor: Any = None,
    reason: str = "",
    handoff_note: str = "",
    team: Team | None = None,
    data: dict | None = None,
) -> Case:
    """Move the case to another support tier: the tier's team takes ownership, the handoff note is kept
    as an internal note, and the previous owner stays on record in the event. Works both ways."""
    actor = Actor.of(actor)
    if to_tier not in Tier.values:
        raise ValidationFailed(f"Tier must be one of {Tier.values}", code="invalid_tier")
    locked = _lock(case)
    if locked.status not in (Status.NEW, Status.TRIAGED, Status.IN_PROGRESS, Status.AWAITING_CLIENT):
        raise InvalidTransition(
            f"{locked.reference} is {Status(locked.status).label}; only open cases move tiers"
        )
    if to_tier == locked.tier:
        raise ValidationFailed(f"{locked.reference} is already at L{to_tier}", code="same_tier")
    if not handoff_note.strip() and actor.user is not None:
        raise ValidationFailed(
            "Escalation needs a handoff note for the next tier", code="handoff_note_required"
        )
    team = team or team_for_tier(to_tier)
    previous = {
        "tier": locked.tier,
        "team": locked.team.name if locked.team_id else None,
        "assignee": locked.assignee.username if locked.assignee_id else None,
    }
    kind = EventKind.ESCALATED if to_tier > locked.tier else EventKind.DE_ESCALATED
    note = None
    if handoff_note.strip():
        active().eager_write()
        note = Message.objects.create(
            case=locked,
            kind=MessageKind.NOTE,
            channel=locked.channel,
            direction=Direction.OUTBOUND,
            author_user=actor.user,
            body=handoff_note.strip(),
            meta={"handoff": True, "to_tier": to_tier},
            created_at=clock.now(),
        )
    if note is not None:
        active().note_message(note)
    _set(locked, tier=to_tier, team=team, assignee=None)
    _record(
        locked,
        kind,
        actor,
        old=previous,
        new={"tier": to_tier, "team": team.name if team else None, "assignee": None},
        reason=reason,
        data={**(data or {}), "handoff_note": handoff_note.strip()},
        message=note,
    )
    _sync(case, locked)
    return locked


def merge_refusal(src: Case, dst: Case) -> ApplicationError | None:
    """Why `src` cannot be folded into `dst` (both the write's locked rows), or None: pure, so a bulk
    merge checks every duplicate before it moves anything."""
    if src.pk == dst.pk:
        return ValidationFailed("A case cannot be merged into itself", code="merge_self")
    if src.merged_into_id:
        return InvalidTransition(f"{src.reference} was already merged", code="already_merged")
    if dst.merged_into_id or dst.status == Status.CLOSED:
        return InvalidTransition(
            f"{dst.reference} is closed and cannot receive a merge", code="merge_target_closed"
        )
    return None


def merge_move(sources: list[Case], dst: Case) -> dict[int, int]:
    """Move the duplicates' messages, attachments, tasks and tags to `dst`: one statement per table
    whatever the number of duplicates. Returns how many messages each duplicate gave."""
    ids = [src.pk for src in sources]
    active().eager_write()
    moved = dict(
        Message.objects.filter(case_id__in=ids)
        .values_list("case_id")
        .annotate(n=Count("id"))
        .values_list("case_id", "n")
    )
    Message.objects.filter(case_id__in=ids).update(case=dst)
    Attachment.objects.filter(case_id__in=ids).update(case=dst)
    Task.objects.filter(case_id__in=ids).update(case=dst)
    tag_ids = set(Case.tags.through.objects.filter(case_id__in=ids).values_list("tag_id", flat=True))
    if tag_ids:
        dst.tags.add(*tag_ids)
    active().tags.pop(dst.pk, None)  # read again if anything in this write asks
    return {pk: moved.get(pk, 0) for pk in ids}


def _merge_record(src: Case, dst: Case, actor: Actor, reason: str, moved: int) -> None:
    """The duplicate closed with a pointer, and both timelines saying so (in memory; flushed with the
    write). Private: only the doors `case_merge` and `cases_bulk_merge` call it, inside their unit of work."""
    old_status = src.status
    _set(src, merged_into=dst, status=Status.CLOSED, closed_at=clock.now())
    active().touch(dst)
    _record(
        src,
        EventKind.STATUS_CHANGED,
        actor,
        old=old_status,
        new=Status.CLOSED,
        reason=f"Merged into {dst.reference}",
    )
    _record(src, EventKind.MERGED_INTO, actor, new={"reference": dst.reference}, reason=reason)
    _record(dst, EventKind.MERGED, actor, new={"reference": src.reference, "messages": moved}, reason=reason)


@door
def case_merge(*, source: Case, target: Case, actor: Any = None, reason: str = "") -> Case:
    """Fold a duplicate into the case that carries on: its messages, attachments and tasks move over,
    the duplicate is closed with a pointer, and both timelines say so."""
    actor = Actor.of(actor)
    if source.pk == target.pk:
        raise ValidationFailed("A case cannot be merged into itself", code="merge_self")
    # Lock in id order so two opposite merges cannot deadlock.
    first, second = sorted([source, target], key=lambda c: c.pk)
    locked = {c.pk: _lock(c) for c in (first, second)}
    src, dst = locked[source.pk], locked[target.pk]
    refusal = merge_refusal(src, dst)
    if refusal is not None:
        raise refusal
    moved = merge_move([src], dst)
    _merge_record(src, dst, actor, reason, moved[src.pk])
    _sync(source, src)
    _sync(target, dst)
    return dst
