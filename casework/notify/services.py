"""Writes for the outbox: every mail casework sends is first a row here, written in the transaction
that decided to send it (the notify stage of the reaction pipeline, see reactions.py). The worker
delivers it (delivery.py): a rolled-back reply sends nothing, a committed one is never lost, and a slow
SMTP server never holds a database lock or an agent's request.
"""

from __future__ import annotations

import html
import logging
import re
import secrets
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.utils import timezone

from casework.cases import services as case_services
from casework.cases.models import Case, Direction, Message
from casework.cases.services.unit_of_work import active, current, door
from casework.intake.identity import message_id_domain, signing_key, support_address
from casework.intake.signing import make_message_id, make_reply_token

from .models import Outbox, OutboxStatus

logger = logging.getLogger(__name__)

REFERENCES_KEPT = 10
_SUBJECT_PREFIX = re.compile(r"^\s*(?:(?:re|fwd?|aw|sv|vs|antw|wg|tr)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def _bracketed(msgid: str) -> str:
    return f"<{msgid.strip('<> ')}>"


def outbox_enqueue(
    *,
    to: Iterable[str],
    subject: str,
    body_text: str,
    body_html: str = "",
    cc: Iterable[str] = (),
    headers: dict[str, str] | None = None,
    case: Case | None = None,
    message: Message | None = None,
    from_address: str = "",
    dedup_key: str | None = None,
    check_existing: bool = True,
) -> tuple[Outbox, bool]:
    """Queue one mail in the write in progress (or on its own); returns (row, created).

    `dedup_key` is the row's idempotency key (one is made up when none is given): a mail already queued
    under it is not queued again. `check_existing=False` skips that read when the caller knows the key
    is new (the reply to a message this very write added)."""
    dedup_key = dedup_key or f"mail:{uuid.uuid4().hex}"
    if check_existing and (existing := Outbox.objects.filter(dedup_key=dedup_key).first()):
        return existing, False
    headers = dict(headers or {})
    msgid = headers.get("Message-ID", "").strip("<> ") or None
    now = timezone.now()
    row = Outbox(
        dedup_key=dedup_key,
        from_address=from_address or settings.DEFAULT_FROM_EMAIL,
        to=[a for a in to if a],
        cc=[a for a in cc if a],
        subject=subject[:400],
        body_text=body_text,
        body_html=body_html,
        headers=headers,
        header_message_id=msgid,
        case=case,
        message=message,
        status=OutboxStatus.PENDING,
        next_attempt_at=now,
        created_at=now,
    )
    work = current()
    if work is not None:
        work.insert(row)
    else:
        row.save(force_insert=True)
    return row, True


# --------------------------------------------------------------------------------------------------
# replies to customers
# --------------------------------------------------------------------------------------------------


def reply_subject(case: Case, *, is_reply: bool) -> str:
    """`[CW-000123] <subject>`, with one "Re: " in front when answering the customer's mail."""
    subject = _SUBJECT_PREFIX.sub("", case.subject).replace(f"[{case.reference}]", "").strip()
    subject = f"[{case.reference}] {subject}".strip()
    return f"Re: {subject}" if is_reply else subject


def _footer(case: Case) -> str:
    token = make_reply_token(case.pk, signing_key())
    return f"\n\n-- \nCase {case.reference}: reply to this email to add to the case.\n{token}\n"


@door
def enqueue_reply_email(*, message: Message, check_existing: bool = True) -> Outbox | None:
    """Queue the email for a public agent reply: signed Message-ID (stored on the message so the
    customer's answer threads), In-Reply-To/References to the conversation, token in the footer."""
    case = active().lock(message.case)
    recipient = case.customer.email
    if not recipient:
        return None
    earlier = list(
        Message.objects.filter(case=case, message_id__isnull=False)
        .exclude(pk=message.pk)
        .order_by("created_at", "id")
        .values_list("message_id", "direction")
    )
    inbound = [mid for mid, direction in earlier if direction == Direction.INBOUND]
    msgid = make_message_id(
        case_id=case.pk,
        nonce=f"m{message.pk}x{secrets.token_hex(4)}",
        key=signing_key(),
        domain=message_id_domain(),
    )
    headers = {"Message-ID": _bracketed(msgid)}
    if (message.meta or {}).get("automatic"):
        # A rule's canned reply: RFC 3834, so the customer's auto-responder does not answer it.
        headers["Auto-Submitted"] = "auto-generated"
        headers["X-Auto-Response-Suppress"] = "All"
    if inbound:
        headers["In-Reply-To"] = _bracketed(inbound[-1])
    if earlier:
        headers["References"] = " ".join(_bracketed(mid) for mid, _ in earlier[-REFERENCES_KEPT:])
    footer = _footer(case)
    body_html = (
        "<div>" + html.escape(message.body).replace("\n", "<br>\n") + "</div>"
        '<p style="color:#777;font-size:small">'
        + html.escape(footer.strip("\n -")).replace("\n", "<br>")
        + "</p>"
    )
    row, created = outbox_enqueue(
        to=[recipient],
        cc=(message.meta or {}).get("cc", []),  # the composer's CC field (knowledge.services.reply_send)
        subject=reply_subject(case, is_reply=bool(inbound)),
        body_text=message.body + footer,
        body_html=body_html,
        headers=headers,
        case=case,
        message=message,
        from_address=support_address(),
        dedup_key=f"reply:{message.pk}",
        check_existing=check_existing,
    )
    if created:
        case_services.message_record_email(message=message, message_id=msgid, delivery="queued")
    return row


# --------------------------------------------------------------------------------------------------
# the suppression list
# --------------------------------------------------------------------------------------------------


def is_hard_bounce(status: str) -> bool:
    """RFC 3463: a 5.x.x status is permanent (no such user, domain gone); 4.x.x is worth another try."""
    return (status or "").strip().startswith("5")


def suppress_address(*, address: str, source: str, reason: str = "") -> bool:
    """Put an address on the suppression list (automated mail stops; agents' replies still go). Written
    in the caller's transaction (intake's bounce handling). True when it was not listed before."""
    from .models import Suppression

    address = (address or "").strip().lower()
    if "@" not in address:
        return False
    _, created = Suppression.objects.get_or_create(
        address=address, defaults={"source": source, "reason": reason[:500]}
    )
    return created
