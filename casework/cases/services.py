"""THE door for writes to cases.

Every change to a case — from the agent UI, the API, email intake, commands, tasks or rules — goes through
one of these keyword-only functions. Each one runs in a transaction, locks the case row
(`select_for_update`), validates, writes the change and the CaseEvent(s) that record it, and hands the
events to hooks after commit (see hooks.py). Nothing else assigns `Case.status` or creates events.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.text import get_valid_filename, slugify

from casework.core import clock
from casework.core.errors import InvalidTransition, NotFound, ValidationFailed
from casework.core.models import Counter
from casework.core.text import normalise_whitespace
from casework.people.models import Customer, Team

from . import hooks
from .models import (
    Attachment,
    Case,
    CaseEvent,
    Category,
    Direction,
    EventKind,
    Message,
    MessageKind,
    Tag,
    Task,
)
from .status import PRIORITY_RANK, Channel, Priority, Status, Tier, transition_for

User = get_user_model()

# --------------------------------------------------------------------------------------------------
# shared plumbing
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user, or an automated source named by `label` ("rule:Outage", "email", "api")."""

    user: Any = None
    label: str = ""

    @classmethod
    def of(cls, actor: Any) -> Actor:
        if isinstance(actor, Actor):
            return actor
        if actor is None:
            return cls(label="system")
        if isinstance(actor, str):
            return cls(label=actor)
        return cls(user=actor)

    @property
    def display(self) -> str:
        if self.user is not None:
            return self.user.get_full_name() or self.user.username
        return self.label or "system"


def _limits() -> dict[str, int]:
    return settings.CASEWORK


def _lock(case: Case) -> Case:
    if case.pk is None:
        raise NotFound("Case does not exist", code="case_not_found")
    try:
        return Case.objects.select_for_update().get(pk=case.pk)
    except Case.DoesNotExist as exc:
        raise NotFound(f"Case {case.reference} does not exist", code="case_not_found") from exc


def _sync(stale: Case, fresh: Case) -> None:
    """Give the caller's instance the committed values, so `case.status` is right after a service call."""
    if stale is fresh:
        return
    for field in Case._meta.concrete_fields:
        setattr(stale, field.attname, getattr(fresh, field.attname))


def _record(
    case: Case,
    kind: str,
    actor: Actor,
    *,
    old: Any = None,
    new: Any = None,
    reason: str = "",
    data: dict | None = None,
    message: Message | None = None,
) -> CaseEvent:
    event = CaseEvent.objects.create(
        case=case,
        kind=kind,
        actor=actor.user,
        actor_label="" if actor.user is not None else actor.label,
        old=old,
        new=new,
        reason=reason or "",
        data=data or {},
        message=message,
        created_at=clock.now(),
    )
    hooks.dispatch_on_commit(event)
    return event


def _customer_actor(customer: Customer) -> Actor:
    return Actor(label=f"{customer.display_name} (customer)")


def _check_text(value: str, *, field: str, required: bool = True, max_chars: int | None = None) -> str:
    value = value if isinstance(value, str) else ""
    if required and not value.strip():
        raise ValidationFailed(f"{field} must not be empty", code="required", details={"field": field})
    limit = max_chars or _limits()["MAX_MESSAGE_BYTES"]
    if len(value.encode("utf-8", "surrogatepass")) > limit and max_chars is None:
        raise ValidationFailed(
            f"{field} is larger than {limit} bytes",
            code="too_large",
            details={"field": field, "limit": limit},
        )
    if max_chars is not None and len(value) > max_chars:
        raise ValidationFailed(
            f"{field} is longer than {max_chars} characters",
            code="too_large",
            details={"field": field, "limit": max_chars},
        )
    return value


def _check_choice(value: str, choices: type, *, field: str) -> str:
    if value not in choices.values:
        raise ValidationFailed(
            f"Unknown {field} '{value}'",
            code=f"invalid_{field}",
            details={"field": field, "allowed": list(choices.values)},
        )
    return value


def resolve_category(category: Category | str | None) -> Category | None:
    if category is None or category == "":
        return None
    if isinstance(category, Category):
        return category
    found = (
        Category.objects.filter(slug=slugify(str(category))).first()
        or Category.objects.filter(name__iexact=str(category)).first()
    )
    if found is None:
        allowed = list(Category.objects.filter(active=True).values_list("slug", flat=True))
        raise ValidationFailed(
            f"Unknown category '{category}'",
            code="invalid_category",
            details={"field": "category", "allowed": allowed},
        )
    return found


def _next_reference() -> tuple[int, str]:
    number = Counter.next_value("case")
    return number, f"{_limits()['REFERENCE_PREFIX']}-{number:06d}"


# --------------------------------------------------------------------------------------------------
# opening cases and adding messages
# --------------------------------------------------------------------------------------------------


@transaction.atomic
def case_open(
    *,
    subject: str,
    description: str,
    customer: Customer,
    channel: str = Channel.EMAIL,
    actor: Any = None,
    priority: str | None = None,
    category: Category | str | None = None,
    team: Team | None = None,
    tags: Iterable[str] = (),
    custom_fields: dict | None = None,
    message_kind: str = MessageKind.CUSTOMER,
    message_meta: dict | None = None,
    message_id: str | None = None,
    body_html: str = "",
    follow_up_of: Case | None = None,
) -> Case:
    """Open a case with its first message. Triage, SLA and acknowledgements react to the `opened` event."""
    actor = (
        Actor.of(actor)
        if actor is not None or message_kind != MessageKind.CUSTOMER
        else _customer_actor(customer)
    )
    subject = normalise_whitespace(_check_text(subject, field="subject", max_chars=300))
    description = _check_text(description, field="description", required=False)
    channel = _check_choice(channel, Channel, field="channel")
    if priority is not None:
        _check_choice(priority, Priority, field="priority")
    now = clock.now()
    number, reference = _next_reference()
    case = Case.objects.create(
        number=number,
        reference=reference,
        subject=subject,
        description=description,
        customer=customer,
        organisation=customer.organisation,
        channel=channel,
        category=resolve_category(category),
        priority=priority or Priority.MEDIUM,
        team=team,
        custom_fields=custom_fields or {},
        follow_up_of=follow_up_of,
        created_at=now,
        last_customer_message_at=now if message_kind == MessageKind.CUSTOMER else None,
    )
    if tags:
        case.tags.set(_tags(tags))
    message = None
    if description.strip() or body_html:
        message = Message.objects.create(
            case=case,
            kind=message_kind,
            channel=channel,
            direction=Direction.INBOUND if message_kind == MessageKind.CUSTOMER else Direction.OUTBOUND,
            author_customer=customer if message_kind == MessageKind.CUSTOMER else None,
            author_user=actor.user if message_kind != MessageKind.CUSTOMER else None,
            subject=subject,
            body=description,
            body_html=body_html,
            message_id=message_id or None,
            meta=message_meta or {},
            created_at=now,
        )
    _record(
        case,
        EventKind.OPENED,
        actor,
        new={
            "status": case.status,
            "priority": case.priority,
            "channel": channel,
            "category": case.category.slug if case.category else None,
        },
        data={
            # Fields a person or client chose; automation may raise priority but not overwrite these.
            "explicit": [name for name, value in (("priority", priority), ("category", category)) if value],
            **({"follow_up_of": follow_up_of.reference} if follow_up_of else {}),
        },
        message=message,
    )
    return case


@transaction.atomic
def case_open_for_contact(
    *, customer_email: str, customer_name: str = "", customer_phone: str = "", **kwargs
) -> Case:
    """Open a case for an email address, finding or creating the customer in the same transaction, so a
    refused case never leaves a stray customer behind."""
    from casework.people.services import customer_get_or_create

    customer, _ = customer_get_or_create(email=customer_email, name=customer_name, phone=customer_phone)
    return case_open(customer=customer, **kwargs)


def _apply_customer_reply_status(case: Case, actor: Actor) -> Case:
    """A customer writing back restarts work: Awaiting Client resumes, Resolved reopens. Returns the case
    that should receive the message (a follow-up case when this one is closed)."""
    if case.status == Status.AWAITING_CLIENT:
        _transition_locked(case, Status.IN_PROGRESS, actor, reason="Customer replied")
    elif case.status == Status.RESOLVED:
        case.reopen_count += 1
        _transition_locked(case, Status.IN_PROGRESS, actor, reason="Customer replied after resolution")
        _record(case, EventKind.REOPENED, actor, reason="Customer replied after resolution")
    return case


@transaction.atomic
def case_add_message(
    *,
    case: Case,
    kind: str,
    body: str,
    actor: Any = None,
    customer: Customer | None = None,
    channel: str | None = None,
    body_html: str = "",
    subject: str = "",
    message_id: str | None = None,
    in_reply_to: str = "",
    meta: dict | None = None,
    set_status: str | None = None,
    status_reason: str = "",
) -> Message:
    """Add a customer message, public reply, internal note or call note.

    A customer message on a closed case opens a follow-up case linked to it; the returned message's
    `case` tells the caller where it landed. `set_status` lets the composer "reply and wait for client"
    in one transaction.
    """
    if actor is None and kind == MessageKind.CUSTOMER:
        actor = _customer_actor(customer or case.customer)
    actor = Actor.of(actor)
    _check_choice(kind, MessageKind, field="kind")
    body = _check_text(body, field="body", required=not body_html)
    channel = _check_choice(channel or case.channel, Channel, field="channel")
    locked = _lock(case)
    if locked.merged_into_id and kind == MessageKind.CUSTOMER:
        # Mail threading can still point at a merged case; the conversation continues on the survivor.
        target = Case.objects.get(pk=locked.merged_into_id)
        message = case_add_message(
            case=target,
            kind=kind,
            body=body,
            actor=actor,
            customer=customer,
            channel=channel,
            body_html=body_html,
            subject=subject,
            message_id=message_id,
            in_reply_to=in_reply_to,
            meta={**(meta or {}), "redirected_from": locked.reference},
        )
        return message
    now = clock.now()
    if kind == MessageKind.CUSTOMER and locked.status == Status.CLOSED:
        follow_up = case_open(
            subject=subject or locked.subject,
            description=body,
            customer=customer or locked.customer,
            channel=channel,
            actor=actor,
            category=locked.category,
            team=locked.team,
            message_id=message_id,
            body_html=body_html,
            message_meta={**(meta or {}), "follow_up_of": locked.reference},
            follow_up_of=locked,
        )
        _record(
            locked,
            EventKind.FOLLOW_UP_OPENED,
            actor,
            new={"reference": follow_up.reference},
            reason="Customer wrote after the case was closed",
        )
        return follow_up.messages.order_by("id").first()
    if kind == MessageKind.CUSTOMER:
        _apply_customer_reply_status(locked, actor)
    message = Message.objects.create(
        case=locked,
        kind=kind,
        channel=channel,
        direction=Direction.INBOUND if kind == MessageKind.CUSTOMER else Direction.OUTBOUND,
        author_user=actor.user if kind != MessageKind.CUSTOMER else None,
        author_customer=(customer or locked.customer) if kind == MessageKind.CUSTOMER else None,
        subject=subject,
        body=body,
        body_html=body_html,
        message_id=message_id or None,
        in_reply_to=in_reply_to,
        meta=meta or {},
        created_at=now,
    )
    if kind == MessageKind.CUSTOMER:
        locked.last_customer_message_at = now
    elif kind == MessageKind.REPLY:
        locked.last_agent_message_at = now
    _record(
        locked,
        EventKind.MESSAGE_ADDED,
        actor,
        new={"kind": kind, "channel": channel},
        data={k: v for k, v in (meta or {}).items() if k in ("matched_by", "evidence", "call")},
        message=message,
    )
    if kind == MessageKind.REPLY and locked.first_response_at is None and not (meta or {}).get("automatic"):
        locked.first_response_at = now
        _record(locked, EventKind.FIRST_RESPONSE, actor, new={"at": now.isoformat()}, message=message)
    if set_status and set_status != locked.status:
        _transition_locked(locked, set_status, actor, reason=status_reason)
    locked.save()
    _sync(case, locked)
    return message


# --------------------------------------------------------------------------------------------------
# lifecycle
# --------------------------------------------------------------------------------------------------


def _transition_locked(
    case: Case, to: str, actor: Actor, *, reason: str = "", data: dict | None = None
) -> None:
    source = case.status
    rule = transition_for(source, to)
    if rule is None:
        target = Status(to).label if to in Status.values else repr(to)
        raise InvalidTransition(
            f"{case.reference} cannot move from {Status(source).label} to {target}",
            details={"from": source, "to": to},
        )
    reason = (reason or "").strip()
    if rule.reason_required and not reason:
        raise ValidationFailed(
            f"Moving {case.reference} from {Status(source).label} to {Status(to).label} needs a reason",
            code="reason_required",
        )
    now = clock.now()
    case.status = to
    if to == Status.RESOLVED:
        case.resolved_at = now
    elif to == Status.CLOSED:
        case.closed_at = now
    elif rule.is_reopen:
        case.resolved_at = None
    _record(case, EventKind.STATUS_CHANGED, actor, old=source, new=to, reason=reason, data=data)


@transaction.atomic
def case_transition(
    *, case: Case, to: str, actor: Any = None, reason: str = "", data: dict | None = None
) -> Case:
    actor = Actor.of(actor)
    if to not in Status.values:
        raise ValidationFailed(
            f"Unknown status '{to}'", code="invalid_status", details={"allowed": list(Status.values)}
        )
    locked = _lock(case)
    if transition_for(locked.status, to) and transition_for(locked.status, to).is_reopen:
        locked.reopen_count += 1
        _record(locked, EventKind.REOPENED, actor, reason=reason)
    _transition_locked(locked, to, actor, reason=reason, data=data)
    locked.save()
    _sync(case, locked)
    return locked


@transaction.atomic
def case_reopen(*, case: Case, actor: Any = None, reason: str = "") -> Case:
    """Reopen a resolved case, or open a follow-up linked to a closed one. Returns the case to work on."""
    actor = Actor.of(actor)
    locked = _lock(case)
    if locked.status == Status.RESOLVED:
        return case_transition(case=case, to=Status.IN_PROGRESS, actor=actor, reason=reason or "Reopened")
    if locked.status == Status.CLOSED:
        follow_up = case_open(
            subject=locked.subject,
            description="",
            customer=locked.customer,
            channel=locked.channel,
            actor=actor,
            category=locked.category,
            priority=locked.priority,
            team=locked.team,
            follow_up_of=locked,
        )
        _record(
            locked, EventKind.FOLLOW_UP_OPENED, actor, new={"reference": follow_up.reference}, reason=reason
        )
        return follow_up
    raise InvalidTransition(
        f"{locked.reference} is {Status(locked.status).label}; only resolved or closed cases can be reopened",
        details={"from": locked.status},
    )


# --------------------------------------------------------------------------------------------------
# ownership and classification
# --------------------------------------------------------------------------------------------------


@transaction.atomic
def case_assign(
    *, case: Case, assignee: Any, actor: Any = None, reason: str = "", data: dict | None = None
) -> Case:
    """Give the case to an agent (or None to put it back in the team queue)."""
    actor = Actor.of(actor)
    locked = _lock(case)
    if assignee is not None and (not assignee.is_active or not hasattr(assignee, "agent")):
        raise ValidationFailed(f"{assignee} is not an active agent", code="invalid_assignee")
    if locked.assignee_id == (assignee.pk if assignee else None):
        _sync(case, locked)
        return locked
    old = locked.assignee.username if locked.assignee_id else None
    locked.assignee = assignee
    locked.save(update_fields=["assignee", "updated_at"])
    _record(
        locked,
        EventKind.ASSIGNED,
        actor,
        old=old,
        new=assignee.username if assignee else None,
        reason=reason,
        data=data,
    )
    _sync(case, locked)
    return locked


@transaction.atomic
def case_set_team(
    *, case: Case, team: Team | None, actor: Any = None, reason: str = "", data: dict | None = None
) -> Case:
    actor = Actor.of(actor)
    locked = _lock(case)
    if locked.team_id == (team.pk if team else None):
        _sync(case, locked)
        return locked
    old = locked.team.name if locked.team_id else None
    locked.team = team
    locked.save(update_fields=["team", "updated_at"])
    _record(
        locked,
        EventKind.TEAM_CHANGED,
        actor,
        old=old,
        new=team.name if team else None,
        reason=reason,
        data=data,
    )
    _sync(case, locked)
    return locked


@transaction.atomic
def case_set_priority(
    *, case: Case, priority: str, actor: Any = None, reason: str = "", data: dict | None = None
) -> Case:
    actor = Actor.of(actor)
    _check_choice(priority, Priority, field="priority")
    locked = _lock(case)
    if locked.priority == priority:
        _sync(case, locked)
        return locked
    old = locked.priority
    locked.priority = priority
    locked.save(update_fields=["priority", "updated_at"])
    _record(locked, EventKind.PRIORITY_CHANGED, actor, old=old, new=priority, reason=reason, data=data)
    _sync(case, locked)
    return locked


def priority_is_higher(candidate: str, current: str) -> bool:
    return PRIORITY_RANK[candidate] < PRIORITY_RANK[current]


@transaction.atomic
def case_set_category(
    *,
    case: Case,
    category: Category | str | None,
    actor: Any = None,
    reason: str = "",
    data: dict | None = None,
) -> Case:
    actor = Actor.of(actor)
    category = resolve_category(category)
    locked = _lock(case)
    if locked.category_id == (category.pk if category else None):
        _sync(case, locked)
        return locked
    old = locked.category.slug if locked.category_id else None
    locked.category = category
    locked.save(update_fields=["category", "updated_at"])
    _record(
        locked,
        EventKind.CATEGORY_CHANGED,
        actor,
        old=old,
        new=category.slug if category else None,
        reason=reason,
        data=data,
    )
    _sync(case, locked)
    return locked


def _tags(names: Iterable[str]) -> list[Tag]:
    tags = []
    for raw in names:
        name = slugify(str(raw), allow_unicode=True)[:50]
        if not name:
            raise ValidationFailed(f"'{raw}' is not a usable tag", code="invalid_tag")
        tags.append(Tag.objects.get_or_create(name=name)[0])
    return tags


@transaction.atomic
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
    locked = _lock(case)
    before = sorted(locked.tags.values_list("name", flat=True))
    to_add = _tags(add)
    to_remove = [slugify(str(n), allow_unicode=True) for n in remove]
    if to_add:
        locked.tags.add(*to_add)
    if to_remove:
        locked.tags.remove(*Tag.objects.filter(name__in=to_remove))
    after = sorted(locked.tags.values_list("name", flat=True))
    if before != after:
        locked.save(update_fields=["updated_at"])
        _record(locked, EventKind.TAGS_CHANGED, actor, old=before, new=after, reason=reason, data=data)
    _sync(case, locked)
    return locked


@transaction.atomic
def case_set_sentiment(
    *, case: Case, frustrated: bool, sentiment: float | None = None, actor: Any = None, reason: str = ""
) -> Case:
    """Record the customer's mood: automatically from a message score, or an agent's correction."""
    actor = Actor.of(actor)
    locked = _lock(case)
    old = {"frustrated": locked.frustrated, "sentiment": locked.sentiment}
    locked.frustrated = frustrated
    if sentiment is not None:
        locked.sentiment = sentiment
    new = {"frustrated": locked.frustrated, "sentiment": locked.sentiment}
    if old != new:
        locked.save(update_fields=["frustrated", "sentiment", "updated_at"])
        _record(locked, EventKind.SENTIMENT_CHANGED, actor, old=old, new=new, reason=reason)
    _sync(case, locked)
    return locked


@transaction.atomic
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
            elif not isinstance(value, dict):
                raise ValidationFailed("custom_fields must be an object", code="invalid_custom_fields")
            old = getattr(locked, field)
            if old != value:
                setattr(locked, field, value)
                locked.save(update_fields=[field, "updated_at"])
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


@transaction.atomic
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
    team = team or Team.objects.filter(tier_level=to_tier).order_by("name").first()
    previous = {
        "tier": locked.tier,
        "team": locked.team.name if locked.team_id else None,
        "assignee": locked.assignee.username if locked.assignee_id else None,
    }
    kind = EventKind.ESCALATED if to_tier > locked.tier else EventKind.DE_ESCALATED
    note = None
    if handoff_note.strip():
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
    locked.tier = to_tier
    locked.team = team
    locked.assignee = None
    locked.save(update_fields=["tier", "team", "assignee", "updated_at"])
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


@transaction.atomic
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
    if src.merged_into_id:
        raise InvalidTransition(f"{src.reference} was already merged", code="already_merged")
    if dst.merged_into_id or dst.status == Status.CLOSED:
        raise InvalidTransition(
            f"{dst.reference} is closed and cannot receive a merge", code="merge_target_closed"
        )
    moved = Message.objects.filter(case=src).update(case=dst)
    Attachment.objects.filter(case=src).update(case=dst)
    Task.objects.filter(case=src).update(case=dst)
    dst.tags.add(*src.tags.all())
    src.merged_into = dst
    old_status = src.status
    src.status = Status.CLOSED
    src.closed_at = clock.now()
    src.save(update_fields=["merged_into", "status", "closed_at", "updated_at"])
    dst.save(update_fields=["updated_at"])
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
    _sync(source, src)
    _sync(target, dst)
    return dst


# --------------------------------------------------------------------------------------------------
# tasks, attachments, calls
# --------------------------------------------------------------------------------------------------


@transaction.atomic
def case_add_task(
    *, case: Case, title: str, actor: Any = None, owner: Any = None, due_at: datetime | None = None
) -> Task:
    actor = Actor.of(actor)
    title = normalise_whitespace(_check_text(title, field="title", max_chars=300))
    locked = _lock(case)
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


@transaction.atomic
def task_complete(*, task: Task, actor: Any = None, done: bool = True) -> Task:
    actor = Actor.of(actor)
    _lock(task.case)
    task = Task.objects.select_for_update().get(pk=task.pk)
    if task.done == done:
        return task
    task.done = done
    task.done_at = clock.now() if done else None
    task.save(update_fields=["done", "done_at", "updated_at"])
    _record(
        task.case, EventKind.TASK_COMPLETED, actor, new={"task": task.pk, "title": task.title, "done": done}
    )
    return task


@transaction.atomic
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
    limit = _limits()["MAX_ATTACHMENT_BYTES"]
    if len(content) > limit:
        raise ValidationFailed(
            f"Attachment {filename!r} is larger than {limit} bytes",
            code="too_large",
            details={"field": "attachment", "limit": limit},
        )
    safe_name = get_valid_filename(filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1])[:200] or "attachment"
    content_type = content_type or mimetypes.guess_type(safe_name)[0] or "application/octet-stream"
    locked = _lock(case)
    attachment = Attachment(
        case=locked,
        message=message,
        filename=safe_name,
        content_type=content_type[:200],
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        inline=inline,
        uploaded_by=actor.user,
        created_at=clock.now(),
    )
    # The file is written before the row; if the transaction then fails, an orphan file is harmless and
    # the retention job removes it, whereas a row pointing at no file would be a broken case.
    attachment.file.save(safe_name, ContentFile(content), save=False)
    attachment.save()
    _record(
        locked,
        EventKind.ATTACHMENT_ADDED,
        actor,
        new={
            "attachment": attachment.pk,
            "filename": safe_name,
            "size": len(content),
            "content_type": content_type,
        },
        message=message,
    )
    return attachment


@transaction.atomic
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
        new_case = case_open(
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
        message = new_case.messages.order_by("id").first()
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
        locked.first_response_at = clock.now()
        locked.save(update_fields=["first_response_at", "updated_at"])
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


@transaction.atomic
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


@transaction.atomic
def case_record_system_events(*, events: list[SystemEvent], actor: Any = None) -> list[CaseEvent]:
    """Bulk form of `case_record_system_event` for engines that explain many cases at once (the SLA
    sweep): the cases are locked in id order with one query, the events written with one INSERT, and
    each is dispatched to hooks after commit like any other event."""
    if not events:
        return []
    for entry in events:
        _check_choice(entry.kind, EventKind, field="kind")
    actor = Actor.of(actor)
    ids = sorted({entry.case.pk for entry in events})
    locked = {c.pk: c for c in Case.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
    missing = [pk for pk in ids if pk not in locked]
    if missing:
        raise NotFound("Case does not exist", code="case_not_found", details={"ids": missing})
    now = clock.now()
    rows = CaseEvent.objects.bulk_create(
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
    for event in rows:
        hooks.dispatch_on_commit(event)
    return rows


# --------------------------------------------------------------------------------------------------
# email bookkeeping and message re-homing (email channel, issue 4)
# --------------------------------------------------------------------------------------------------


@transaction.atomic
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
    locked = _lock(message.case)
    row = Message.objects.select_for_update().get(pk=message.pk)
    fields = []
    if message_id and row.message_id != message_id:
        row.message_id = message_id
        fields.append("message_id")
    if delivery:
        state = {"state": delivery, "detail": detail[:500], "at": clock.now().isoformat()}
        row.meta = {**row.meta, "delivery": state}
        fields.append("meta")
    if fields:
        row.save(update_fields=fields)
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
    Message.objects.filter(pk=message.pk).update(case=target, meta={**message.meta, **meta})
    Attachment.objects.filter(message=message).update(case=target)


@transaction.atomic
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
    new_case.last_customer_message_at = message.created_at
    new_case.save(update_fields=["last_customer_message_at", "updated_at"])
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


@transaction.atomic
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
    dest.save(update_fields=["updated_at"])
    message.refresh_from_db()
    return message
