"""Writes the portal and the web form make. Case changes go through the door functions in
`cases.services` (a portal reply is the same customer message an email reply is, so triage, SLA and
notifications react to it the same way); mail goes through the outbox."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction

from casework.cases import services as case_services
from casework.cases.models import Case, Message, MessageKind
from casework.cases.services import Actor, NewAttachment
from casework.cases.services.unit_of_work import unit_of_work
from casework.cases.status import Channel, Status
from casework.core import clock
from casework.core.errors import InvalidTransition
from casework.notify import engine
from casework.people.models import Customer
from casework.people.services import normalise_email

from . import access, links, ratelimit
from .models import UsedLink

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)


def customer_actor(customer: Customer) -> Actor:
    return Actor(label=f"{customer.display_name} (customer, portal)")


# --------------------------------------------------------------------------------------------------
# sign-in
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkRequest:
    """The outcome of asking for a sign-in link. `sent` is deliberately not shown to the visitor (the
    page reads the same whether or not the address is known), only logged and tested."""

    limited: bool
    sent: bool


def request_magic_link(*, email: str, ip: str, case: Case | None = None) -> LinkRequest:
    """Mail a short-lived sign-in link to `email` if it belongs to a customer. Limited per address and
    per IP address (CASEWORK_PORTAL_LINKS_PER_*_HOUR); a limited request sends nothing."""
    address = normalise_email(email)
    limits = settings.CASEWORK
    if not ratelimit.allow(
        "portal-link-ip", ip or "?", limit=limits["PORTAL_LINKS_PER_IP_HOUR"], window=HOUR
    ):
        return LinkRequest(limited=True, sent=False)
    if not ratelimit.allow(
        "portal-link-address", address, limit=limits["PORTAL_LINKS_PER_ADDRESS_HOUR"], window=HOUR
    ):
        return LinkRequest(limited=True, sent=False)
    customer = Customer.objects.filter(email=address).first()
    if customer is None:
        return LinkRequest(limited=False, sent=False)
    if case is not None and not access.may_see(customer, case):
        case = None
    enqueue_magic_link(customer=customer, case=case)
    return LinkRequest(limited=False, sent=True)


def enqueue_magic_link(*, customer: Customer, case: Case | None = None) -> None:
    """Queue the `portal_magic_link` notification (notify engine: template editable in the admin,
    suppression list respected, Auto-Submitted header) in a write of its own. The case, when given,
    only decides where the link lands; the mail is not about the case (no timeline entry)."""
    url = links.magic_url(customer, case_id=case.pk if case else None)
    nonce = links.read_token(url.rstrip("/").rsplit("/", 1)[-1]).nonce
    with unit_of_work("portal sign-in link"):
        engine.send(
            "portal_magic_link",
            to_customer=customer,
            context={"link": url, "minutes": settings.CASEWORK["PORTAL_MAGIC_LINK_MINUTES"]},
            dedup_key=f"portal-link:{nonce}",
            fresh=True,
        )


def use_link(claim: links.LinkClaim) -> bool:
    """Mark a valid link used; False when it was used before (also by a concurrent request)."""
    try:
        with transaction.atomic():
            UsedLink.objects.create(
                nonce=claim.nonce, customer_id=claim.customer_id, kind=claim.kind, used_at=clock.now()
            )
    except IntegrityError:
        return False
    return True


# --------------------------------------------------------------------------------------------------
# case changes from the portal
# --------------------------------------------------------------------------------------------------


def portal_reply(
    *, customer: Customer, case: Case, body: str, attachments: Sequence[NewAttachment] = ()
) -> Message:
    """A customer's reply from the portal: the same door as an emailed reply (a closed case opens a
    linked follow-up, Awaiting Client resumes, Resolved reopens), attachments on the message, all in one
    write. Returns the message; `message.case` is where it landed."""
    with unit_of_work("portal reply"):
        message = case_services.case_add_message(
            case=case,
            kind=MessageKind.CUSTOMER,
            body=body,
            customer=customer,
            actor=customer_actor(customer),
            channel=Channel.WEB,
            meta={"via": "portal"},
        )
        for item in attachments:
            case_services.case_add_attachment(
                case=message.case,
                message=message,
                filename=item.filename,
                content=item.content,
                content_type=item.content_type,
                actor=customer_actor(customer),
            )
    return message


def can_close(case: Case) -> bool:
    return case.status != Status.CLOSED


def can_reopen(case: Case) -> bool:
    return case.status in (Status.RESOLVED, Status.CLOSED)


def portal_close(*, customer: Customer, case: Case) -> Case:
    """ "My request is settled": an open case being worked on is marked Resolved, a case nobody has
    started on is closed as withdrawn, a resolved case is closed. `by_customer` on the status event
    tells the CSAT stage not to ask the customer to rate their own closing."""
    actor = customer_actor(customer)
    data = {"by_customer": True, "via": "portal"}
    if case.status in (Status.IN_PROGRESS, Status.AWAITING_CLIENT):
        to, reason = Status.RESOLVED, "The customer marked the request as settled in the portal"
    elif case.status in (Status.NEW, Status.TRIAGED):
        to, reason = Status.CLOSED, "Withdrawn by the customer in the portal"
    elif case.status == Status.RESOLVED:
        to, reason = Status.CLOSED, "Closed by the customer in the portal"
    else:
        raise InvalidTransition(f"{case.reference} is already closed")
    return case_services.case_transition(case=case, to=to, actor=actor, reason=reason, data=data)


def portal_reopen(*, customer: Customer, case: Case, reason: str = "") -> Case:
    """Reopen a resolved case, or open a follow-up linked to a closed one; returns the case to show."""
    reason = (reason or "").strip()[:1000] or "Reopened by the customer in the portal"
    return case_services.case_reopen(case=case, actor=customer_actor(customer), reason=reason)


# --------------------------------------------------------------------------------------------------
# the public web form
# --------------------------------------------------------------------------------------------------


def webform_submit(
    *,
    name: str,
    email: str,
    subject: str,
    description: str,
    category: str = "",
    attachments: Sequence[NewAttachment] = (),
    ip: str = "",
    suggestion_session: str = "",
) -> Case:
    """Open a case from the public web form through the case-creation door (channel `web`). The message
    is marked `acknowledge: True` — a person passed the honeypot and time trap — so the acknowledgement
    gate (`intake.services.may_acknowledge`) treats it like a person's email. The form's deflection
    session (`suggestion_session`, the knowledge base's) is marked as sent anyway in the same write."""
    from casework.knowledge import services as knowledge_services
    from casework.knowledge.suggest import valid_session_token

    with unit_of_work("web form"):
        case = case_services.case_open_for_contact(
            customer_email=email,
            customer_name=name,
            subject=subject,
            description=description,
            category=category or None,
            channel=Channel.WEB,
            attachments=list(attachments),
            message_meta={"acknowledge": True, "via": "web_form", **({"ip": ip} if ip else {})},
        )
        token = valid_session_token(suggestion_session)
        if token:
            knowledge_services.suggestion_submitted(token=token, case=case)
    return case
