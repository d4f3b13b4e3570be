"""Who may see what in the portal, decided per request (never by the link that signed someone in).

A customer sees the cases they are the customer of; an organisation's admin contact
(`Customer.is_admin_contact`) also sees every case of their organisation. Anything else is a 404, never
a 403, so the portal does not confirm that a case exists. The public timeline is the customer's side of
the conversation: their messages, public replies and automatic messages, the status changes, with the
attachments of those messages — never internal notes, calls, rules, SLA, assignment or other events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from casework.cases.models import Attachment, Case, CaseEvent, EventKind, Message, MessageKind
from casework.cases.status import Status
from casework.people.models import Customer

PUBLIC_MESSAGE_KINDS = (MessageKind.CUSTOMER, MessageKind.REPLY, MessageKind.SYSTEM)
PUBLIC_EVENT_KINDS = (EventKind.OPENED, EventKind.STATUS_CHANGED, EventKind.FOLLOW_UP_OPENED)

# What a customer reads instead of the internal status names.
CUSTOMER_STATUS = {
    Status.NEW: "Received",
    Status.TRIAGED: "Received",
    Status.IN_PROGRESS: "We're working on it",
    Status.AWAITING_CLIENT: "Waiting for your reply",
    Status.RESOLVED: "Resolved",
    Status.CLOSED: "Closed",
}


def visible_cases_q(customer: Customer) -> Q:
    q = Q(customer=customer)
    if customer.is_admin_contact and customer.organisation_id:
        q |= Q(organisation_id=customer.organisation_id)
    return q


def portal_cases(customer: Customer) -> QuerySet[Case]:
    """The cases this customer may see, newest first (one query with the customer and category)."""
    return (
        Case.objects.filter(visible_cases_q(customer))
        .select_related("customer", "category")
        .order_by("-created_at", "-id")
    )


def portal_case(customer: Customer, public_token: str) -> Case:
    """The case behind a portal URL, or 404 when this customer may not see it (or it does not exist)."""
    case = portal_cases(customer).filter(public_token=public_token).first()
    if case is None:
        raise Http404("No such case")
    return case


def may_see(customer: Customer, case: Case) -> bool:
    return portal_cases(customer).filter(pk=case.pk).exists()


@dataclass(frozen=True)
class PublicEntry:
    at: datetime
    kind: str  # "message" or "status"
    message: Message | None = None
    text: str = ""
    attachments: tuple[Attachment, ...] = ()


def public_timeline(case: Case) -> list[PublicEntry]:
    """The customer's view of the case: public messages with their attachments, and status changes."""
    messages = (
        Message.objects.filter(case=case, kind__in=PUBLIC_MESSAGE_KINDS)
        .select_related("author_user", "author_customer")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.filter(inline=False)))
        .order_by("created_at", "id")
    )
    events = CaseEvent.objects.filter(case=case, kind__in=PUBLIC_EVENT_KINDS).order_by("created_at", "id")
    entries = [
        PublicEntry(at=m.created_at, kind="message", message=m, attachments=tuple(m.attachments.all()))
        for m in messages
    ]
    for event in events:
        text = _event_text(event)
        if text:
            entries.append(PublicEntry(at=event.created_at, kind="status", text=text))
    # At the same instant the status line comes first ("Request received", then the request itself).
    entries.sort(key=lambda entry: (entry.at, 0 if entry.kind == "status" else 1))
    return entries


def _event_text(event: CaseEvent) -> str:
    if event.kind == EventKind.OPENED:
        return "Request received"
    if event.kind == EventKind.FOLLOW_UP_OPENED:
        reference = (event.new or {}).get("reference", "")
        return f"Continued in a new request {reference}".strip()
    old, new = CUSTOMER_STATUS.get(event.old, ""), CUSTOMER_STATUS.get(event.new, "")
    if not new or old == new:
        return ""
    return f"Status: {new}"


def public_attachment(case: Case, attachment_id: int) -> Attachment:
    """An attachment of a public message of the case (404 otherwise)."""
    attachment = (
        Attachment.objects.filter(
            pk=attachment_id, case=case, message__kind__in=PUBLIC_MESSAGE_KINDS, inline=False
        )
        .select_related("message")
        .first()
    )
    if attachment is None:
        raise Http404("No such attachment")
    return attachment
