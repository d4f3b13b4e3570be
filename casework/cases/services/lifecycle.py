"""Opening cases, adding messages and moving cases through the status table."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from casework.core import clock
from casework.core.errors import InvalidTransition, ValidationFailed
from casework.core.models import Counter
from casework.core.text import normalise_whitespace
from casework.people.models import Customer, Team

from ..mentions import mentioned_handles, resolve_mentions
from ..models import (
    Attachment,
    Case,
    CaseEvent,
    Category,
    Direction,
    EventKind,
    Mention,
    Message,
    MessageKind,
)
from ..status import CUSTOMER_REOPEN, Channel, Priority, Status, transition_for
from ._core import (
    Actor,
    _attachment,
    _attachment_event,
    _check_choice,
    _check_custom_fields,
    _check_text,
    _customer_actor,
    _event,
    _lock,
    _record,
    _record_all,
    _reference,
    _set,
    _sync,
    _tags,
    resolve_category,
)
from .unit_of_work import active, door

# --------------------------------------------------------------------------------------------------
# opening cases and adding messages
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewAttachment:
    """A file that arrives with a case's first message (an email attachment, a web-form upload)."""

    filename: str
    content: bytes = field(repr=False)
    content_type: str = ""
    inline: bool = False


@dataclass(frozen=True)
class Opening:
    """Everything needed to open one case with its first message; `case_open_many` opens a list of them.

    `at` is when it happened (an mbox import replays a mailbox's history); it defaults to now."""

    subject: str
    description: str
    customer: Customer
    channel: str = Channel.EMAIL
    actor: Any = None
    priority: str | None = None
    category: Category | str | None = None
    team: Team | None = None
    tags: Iterable[str] = ()
    custom_fields: dict | None = None
    message_kind: str = MessageKind.CUSTOMER
    message_meta: dict | None = None
    message_id: str | None = None
    body_html: str = ""
    follow_up_of: Case | None = None
    attachments: Sequence[NewAttachment] = ()
    at: datetime | None = None

    def cleaned(self) -> Opening:
        """The validated, normalised opening; raises ValidationFailed naming the field."""
        actor = (
            Actor.of(self.actor)
            if self.actor is not None or self.message_kind != MessageKind.CUSTOMER
            else _customer_actor(self.customer)
        )
        if self.priority is not None:
            _check_choice(self.priority, Priority, field="priority")
        return replace(
            self,
            actor=actor,
            subject=normalise_whitespace(_check_text(self.subject, field="subject", max_chars=300)),
            description=_check_text(self.description, field="description", required=False),
            channel=_check_choice(self.channel, Channel, field="channel"),
            category=resolve_category(self.category),
            tags=_tags(self.tags) if self.tags else (),
            custom_fields=_check_custom_fields(self.custom_fields) if self.custom_fields else None,
        )


def case_open_with_message(**kwargs: Any) -> tuple[Case, Message | None]:
    """Open a case with its first message; returns both (the message is None when there was no text), so
    a caller that needs the message (email intake) does not read it back. Triage, SLA and acknowledgements
    react to the `opened` event. The arguments are `Opening`'s fields."""
    return case_open_many([Opening(**kwargs)])[0]


@door
def case_open_many(openings: Sequence[Opening]) -> list[tuple[Case, Message | None]]:
    """Open several cases in one transaction with a handful of statements (an IMAP poll or mbox import
    opens dozens at once). Each case gets exactly what `case_open_with_message` gives one: its number in
    list order, its first message, attachments and the `opened` event; the reactions (triage, clocks,
    routing) are decided for the whole batch together. One invalid opening refuses all."""
    openings = [opening.cleaned() for opening in openings]
    if not openings:
        return []
    work = active()
    work.eager_write()
    numbers = Counter.next_values("case", len(openings))
    cases = []
    for opening, number in zip(openings, numbers, strict=True):
        now = opening.at or clock.now()
        cases.append(
            Case(
                number=number,
                reference=_reference(number),
                subject=opening.subject,
                description=opening.description,
                customer=opening.customer,
                organisation=opening.customer.organisation,
                channel=opening.channel,
                category=opening.category,
                priority=opening.priority or Priority.MEDIUM,
                team=opening.team,
                custom_fields=opening.custom_fields or {},
                follow_up_of=opening.follow_up_of,
                created_at=now,
                last_customer_message_at=now if opening.message_kind == MessageKind.CUSTOMER else None,
            )
        )
    Case.objects.bulk_create(cases)
    work.adopt(cases, opened=True)
    links = []
    for case, opening in zip(cases, openings, strict=True):
        work.tags[case.pk] = list(opening.tags)
        links += [Case.tags.through(case_id=case.pk, tag_id=tag.pk) for tag in opening.tags]
    if links:
        Case.tags.through.objects.bulk_create(links)
    messages: list[Message | None] = []
    for case, opening in zip(cases, openings, strict=True):
        customer_message = opening.message_kind == MessageKind.CUSTOMER
        has_text = opening.description.strip() or opening.body_html
        messages.append(
            Message(
                case=case,
                kind=opening.message_kind,
                channel=opening.channel,
                direction=Direction.INBOUND if customer_message else Direction.OUTBOUND,
                author_customer=opening.customer if customer_message else None,
                author_user=opening.actor.user if not customer_message else None,
                subject=opening.subject,
                body=opening.description,
                body_html=opening.body_html,
                message_id=opening.message_id or None,
                meta=opening.message_meta or {},
                created_at=case.created_at,
            )
            if has_text
            else None
        )
    saved = Message.objects.bulk_create([m for m in messages if m is not None])
    for message in saved:
        work.note_message(message)
    events = [_opened_event(c, m, o) for c, m, o in zip(cases, messages, openings, strict=True)]
    files = [
        _attachment(
            case, message, a.filename, a.content, a.content_type, a.inline, opening.actor, case.created_at
        )
        for case, message, opening in zip(cases, messages, openings, strict=True)
        for a in opening.attachments
    ]
    if files:
        Attachment.objects.bulk_create([attachment for attachment, _ in files])
        events += [_attachment_event(attachment, event) for attachment, event in files]
    _record_all(events)
    return list(zip(cases, messages, strict=True))


def _opened_event(case: Case, message: Message | None, opening: Opening) -> CaseEvent:
    explicit = (("priority", opening.priority), ("category", opening.category))
    return _event(
        case,
        EventKind.OPENED,
        opening.actor,
        new={
            "status": case.status,
            "priority": case.priority,
            "channel": case.channel,
            "category": case.category.slug if case.category else None,
            # How the case starts out, for the tier history (reactions may change it in the same write).
            "tier": case.tier,
            "team": case.team.name if case.team_id else None,
        },
        data={
            # Fields a person or client chose; automation may raise priority but not overwrite these.
            "explicit": [name for name, value in explicit if value],
            **({"follow_up_of": opening.follow_up_of.reference} if opening.follow_up_of else {}),
        },
        message=message,
        at=case.created_at,
    )


@door
def case_open_for_contact(
    *, customer_email: str, customer_name: str = "", customer_phone: str = "", **kwargs
) -> Case:
    """Open a case for an email address, finding or creating the customer in the same transaction, so a
    refused case never leaves a stray customer behind."""
    from casework.people.services import customer_get_or_create

    customer, _ = customer_get_or_create(email=customer_email, name=customer_name, phone=customer_phone)
    return case_open(customer=customer, **kwargs)


def reopen_window_decision(case: Case, now: datetime) -> tuple[bool, str]:
    """Does a customer's message on this resolved or closed case reopen it (True) or open a linked
    follow-up (False)? With the sentence the timeline shows. The window (CASEWORK_REOPEN_WINDOW_DAYS)
    runs from when the case was closed, or resolved while it is not closed yet; a case closed without
    ever being resolved (spam, a withdrawn request, a merge) always gets a follow-up."""
    days = settings.CASEWORK["REOPEN_WINDOW_DAYS"]
    if case.status == Status.CLOSED and (case.resolved_at is None or case.merged_into_id):
        return False, "the case was closed without a resolution"
    since = case.closed_at if case.status == Status.CLOSED else case.resolved_at
    if since is None:
        return True, "no close time recorded"
    age = now - since
    what = "closing" if case.status == Status.CLOSED else "resolution"
    if age <= timedelta(days=days):
        return True, f"within the {days}-day reopen window ({age.days} day(s) after {what})"
    return False, f"{age.days} days after {what}, past the {days}-day reopen window"


def _apply_customer_reply_status(case: Case, actor: Actor) -> Case:
    """A customer writing back restarts work: Awaiting Client resumes; Resolved (and Closed, within the
    reopen window) reopens. The caller has already sent a message past the window to a follow-up."""
    if case.status == Status.AWAITING_CLIENT:
        _transition_locked(case, Status.IN_PROGRESS, actor, reason="Customer replied")
    elif case.status in (Status.RESOLVED, Status.CLOSED):
        _, why = reopen_window_decision(case, clock.now())
        reason = (
            f"Customer replied after {'closing' if case.status == Status.CLOSED else 'resolution'}: {why}"
        )
        _set(case, reopen_count=case.reopen_count + 1)
        rule = CUSTOMER_REOPEN if case.status == Status.CLOSED else None
        _record(case, EventKind.REOPENED, actor, reason=reason, data={"reopen_window_days": _window_days()})
        _transition_locked(case, Status.IN_PROGRESS, actor, reason=reason, rule=rule)
    return case


def _window_days() -> int:
    return settings.CASEWORK["REOPEN_WINDOW_DAYS"]


@door
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
    late = kind == MessageKind.CUSTOMER and locked.status in (Status.RESOLVED, Status.CLOSED)
    reopens, why = reopen_window_decision(locked, now) if late else (True, "")
    if late and not reopens:
        follow_up, first = case_open_with_message(
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
            reason=f"Customer wrote {why}: opened a follow-up case",
            data={"reopen_window_days": _window_days()},
        )
        return first if first is not None else follow_up.messages.order_by("id").first()
    if set_status and set_status != locked.status and kind != MessageKind.CUSTOMER:
        # Refuse before anything is written: the message and its status move stand or fall together.
        _check_transition(locked, set_status, status_reason)
    if kind == MessageKind.CUSTOMER:
        _apply_customer_reply_status(locked, actor)
    message = _new_message(
        locked,
        kind,
        actor,
        customer=(customer or locked.customer) if kind == MessageKind.CUSTOMER else None,
        channel=channel,
        body=body,
        body_html=body_html,
        subject=subject,
        message_id=message_id,
        in_reply_to=in_reply_to,
        meta=meta,
        at=now,
    )
    work = active()
    work.eager_write()
    message.save(force_insert=True)
    work.note_message(message)
    added = _message_added(locked, message, actor)
    mentioned = _record_mentions(work, locked, message, actor)
    if mentioned:
        added.data = {**(added.data or {}), "mentions": [user.username for user in mentioned]}
    _record_all([added])
    if kind == MessageKind.REPLY and locked.first_response_at is None and not (meta or {}).get("automatic"):
        _set(locked, first_response_at=now)
        _record(locked, EventKind.FIRST_RESPONSE, actor, new={"at": now.isoformat()}, message=message)
    if set_status and set_status != locked.status:
        _transition_locked(locked, set_status, actor, reason=status_reason)
    _sync(case, locked)
    return message


def _record_mentions(work, case: Case, message: Message, actor: Actor) -> list:
    """Agents an agent's note or reply names with @: a Mention row each (the "mentioned me" list); the
    event lists them so the notify stage tells them."""
    if message.kind not in (MessageKind.NOTE, MessageKind.REPLY) or actor.user is None:
        return []
    users = resolve_mentions(mentioned_handles(message.body), exclude_user_id=actor.user.pk)
    for user in users:
        work.insert(
            Mention(message=message, case=case, user=user, author=actor.user, created_at=message.created_at)
        )
    return users


def _new_message(
    case: Case,
    kind: str,
    actor: Actor,
    *,
    customer: Customer | None,
    channel: str,
    body: str,
    body_html: str,
    subject: str,
    message_id: str | None,
    in_reply_to: str,
    meta: dict | None,
    at: datetime,
) -> Message:
    """An unsaved message on a locked case, with the case's last-message time moved on."""
    if kind == MessageKind.CUSTOMER:
        _set(case, last_customer_message_at=at)
    elif kind == MessageKind.REPLY:
        _set(case, last_agent_message_at=at)
    return Message(
        case=case,
        kind=kind,
        channel=channel,
        direction=Direction.INBOUND if kind == MessageKind.CUSTOMER else Direction.OUTBOUND,
        author_user=actor.user if kind != MessageKind.CUSTOMER else None,
        author_customer=customer if kind == MessageKind.CUSTOMER else None,
        subject=subject,
        body=body,
        body_html=body_html,
        message_id=message_id or None,
        in_reply_to=in_reply_to,
        meta=meta or {},
        created_at=at,
    )


def _message_added(case: Case, message: Message, actor: Actor) -> CaseEvent:
    signals = ("matched_by", "evidence", "call")
    return _event(
        case,
        EventKind.MESSAGE_ADDED,
        actor,
        new={"kind": message.kind, "channel": message.channel},
        data={k: v for k, v in message.meta.items() if k in signals},
        message=message,
        at=message.created_at,
    )


@dataclass(frozen=True)
class CustomerMessage:
    """A message a customer sent on an existing case (an email reply, later a chat or portal message)."""

    case: Case
    customer: Customer
    body: str
    channel: str = Channel.EMAIL
    body_html: str = ""
    subject: str = ""
    message_id: str | None = None
    in_reply_to: str = ""
    meta: dict | None = None
    at: datetime | None = None


# Statuses in which a customer message is a plain append: nothing resumes, reopens or follows up.
_PLAIN_APPEND = (Status.NEW, Status.TRIAGED, Status.IN_PROGRESS)


@door
def case_add_customer_messages(items: Sequence[CustomerMessage]) -> list[Message]:
    """`case_add_message` for many customer messages at once (the replies in a batch of mail): the same
    messages and events, with the cases locked in one query and the rows written with bulk inserts.

    A message that needs more than an append — its case is merged, closed, awaiting the client or
    resolved, or an earlier message of the batch is on the same case — goes through `case_add_message`
    itself, in order. Returns the messages in the order given; each message's `case` is where it landed."""
    work = active()
    locked = work.lock_many(item.case.pk for item in items)
    results: list[Message | None] = [None] * len(items)
    plain: list[tuple[int, Case, Message, Actor]] = []
    taken: set[int] = set()
    for index, item in enumerate(items):
        case = locked.get(item.case.pk)
        if case is None or case.merged_into_id or case.status not in _PLAIN_APPEND or case.pk in taken:
            continue
        taken.add(case.pk)
        actor = _customer_actor(item.customer)
        message = _new_message(
            case,
            MessageKind.CUSTOMER,
            actor,
            customer=item.customer,
            channel=_check_choice(item.channel, Channel, field="channel"),
            body=_check_text(item.body, field="body", required=not item.body_html),
            body_html=item.body_html,
            subject=item.subject,
            message_id=item.message_id,
            in_reply_to=item.in_reply_to,
            meta=item.meta,
            at=item.at or clock.now(),
        )
        plain.append((index, case, message, actor))
    if plain:
        work.eager_write()
        for message in Message.objects.bulk_create([message for _, _, message, _ in plain]):
            work.note_message(message)
        _record_all([_message_added(case, message, actor) for _, case, message, actor in plain])
        for index, case, message, _ in plain:
            _sync(items[index].case, case)
            results[index] = message
    for index, item in enumerate(items):
        if results[index] is not None:
            continue
        with clock.frozen(item.at) if item.at else contextlib.nullcontext():
            results[index] = case_add_message(
                case=item.case,
                kind=MessageKind.CUSTOMER,
                body=item.body,
                customer=item.customer,
                channel=item.channel,
                body_html=item.body_html,
                subject=item.subject,
                message_id=item.message_id,
                in_reply_to=item.in_reply_to,
                meta=item.meta,
            )
    return results


# --------------------------------------------------------------------------------------------------
# lifecycle
# --------------------------------------------------------------------------------------------------


def _check_transition(case: Case, to: str, reason: str):
    """The transition rule for moving `case` to `to`; raises if the table or a missing reason forbids it."""
    source = case.status
    rule = transition_for(source, to)
    if rule is None:
        target = Status(to).label if to in Status.values else repr(to)
        raise InvalidTransition(
            f"{case.reference} cannot move from {Status(source).label} to {target}",
            details={"from": source, "to": to},
        )
    if rule.reason_required and not (reason or "").strip():
        raise ValidationFailed(
            f"Moving {case.reference} from {Status(source).label} to {Status(to).label} needs a reason",
            code="reason_required",
        )
    return rule


def _transition_locked(
    case: Case, to: str, actor: Actor, *, reason: str = "", data: dict | None = None, rule=None
) -> None:
    """Move a locked case; `rule` is a transition outside the agents' table that the caller has decided
    applies (a customer reopening a closed case within the window: `status.CUSTOMER_REOPEN`)."""
    source = case.status
    if rule is None or (rule.source, rule.target) != (source, to):
        rule = _check_transition(case, to, reason)
    reason = (reason or "").strip()
    now = clock.now()
    _set(case, status=to)
    if to == Status.RESOLVED:
        _set(case, resolved_at=now)
    elif to == Status.CLOSED:
        _set(case, closed_at=now)
    elif rule.is_reopen:
        _set(case, resolved_at=None, closed_at=None)
    _record(case, EventKind.STATUS_CHANGED, actor, old=source, new=to, reason=reason, data=data)


@door
def case_transition(
    *, case: Case, to: str, actor: Any = None, reason: str = "", data: dict | None = None
) -> Case:
    actor = Actor.of(actor)
    if to not in Status.values:
        raise ValidationFailed(
            f"Unknown status '{to}'", code="invalid_status", details={"allowed": list(Status.values)}
        )
    locked = _lock(case)
    rule = _check_transition(locked, to, reason)
    if rule.is_reopen:
        _set(locked, reopen_count=locked.reopen_count + 1)
        _record(locked, EventKind.REOPENED, actor, reason=reason)
    _transition_locked(locked, to, actor, reason=reason, data=data)
    _sync(case, locked)
    return locked


@door
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


def case_open(**kwargs: Any) -> Case:
    """Open a case with its first message; the arguments are `Opening`'s fields."""
    return case_open_with_message(**kwargs)[0]
