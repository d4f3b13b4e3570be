"""Delivering the outbox: claim due rows, send them through Django's email backend, retry, fail.

Sending happens only here (the worker), never in the transaction that decided to send: a rolled-back
reply sends nothing, and a slow SMTP server never holds a database lock or an agent's request.
"""

from __future__ import annotations

import logging
import smtplib
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db.models import F
from django.utils import timezone

from casework.cases import services as case_services
from casework.cases.models import EventKind

from .models import Outbox, OutboxStatus

logger = logging.getLogger(__name__)

# A row left "sending" this long lost its worker mid-send; sending again risks a duplicate mail, which
# beats losing the reply (at-least-once, like every mail system).
STUCK_SENDING = timedelta(minutes=10)
MAX_BACKOFF = timedelta(hours=1)


# --------------------------------------------------------------------------------------------------


def outbox_drain(*, limit: int = 50) -> dict[str, int]:
    """Send what is due, one claimed row at a time; returns counts by result."""
    now = timezone.now()
    Outbox.objects.filter(status=OutboxStatus.SENDING, claimed_at__lt=now - STUCK_SENDING).update(
        status=OutboxStatus.PENDING, next_attempt_at=now
    )
    due = list(
        Outbox.objects.filter(status=OutboxStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    counts: Counter[str] = Counter()
    connection = None
    for row_id in due:
        # Compare-and-swap claim: two workers draining at once never send the same row twice.
        # The due time is part of the swap: a row another drain just failed and rescheduled is not due.
        claimed = Outbox.objects.filter(
            pk=row_id, status=OutboxStatus.PENDING, next_attempt_at__lte=now
        ).update(status=OutboxStatus.SENDING, claimed_at=timezone.now(), attempts=F("attempts") + 1)
        if not claimed:
            continue
        if connection is None:
            connection = get_connection(fail_silently=False)
        counts[_send(Outbox.objects.get(pk=row_id), connection)] += 1
    if connection is not None:
        try:
            connection.close()
        except Exception:
            logger.debug("closing the SMTP connection failed", exc_info=True)
    return dict(counts)


def _send(row: Outbox, connection) -> str:
    email = EmailMultiAlternatives(
        subject=row.subject,
        body=row.body_text,
        from_email=row.from_address,
        to=row.to,
        cc=row.cc,
        headers=row.headers,
        connection=connection,
    )
    if row.body_html:
        email.attach_alternative(row.body_html, "text/html")
    try:
        email.send()
    except Exception as exc:
        # The connection may be broken now; the next row opens a fresh one.
        try:
            connection.close()
        except Exception:
            logger.debug("closing a failed SMTP connection failed", exc_info=True)
        return _failed(row, exc)
    Outbox.objects.filter(pk=row.pk).update(status=OutboxStatus.SENT, sent_at=timezone.now(), last_error="")
    if row.message_id is not None:
        case_services.message_record_email(message=row.message, delivery="sent", detail=", ".join(row.to))
    return "sent"


def is_permanent(exc: BaseException) -> bool:
    """5xx answers will not change on retry; authentication errors do once an operator fixes them."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return False
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return False


def _failed(row: Outbox, exc: BaseException) -> str:
    error = f"{type(exc).__name__}: {exc}"[:1000]
    attempts = row.attempts
    permanent = is_permanent(exc)
    if not permanent and attempts < settings.CASEWORK["OUTBOX_MAX_ATTEMPTS"]:
        base = settings.CASEWORK["OUTBOX_BACKOFF_SECONDS"]
        delay = min(MAX_BACKOFF, timedelta(seconds=base * 2 ** (attempts - 1)))
        Outbox.objects.filter(pk=row.pk).update(
            status=OutboxStatus.PENDING, next_attempt_at=timezone.now() + delay, last_error=error
        )
        logger.warning("outbox %s: attempt %s failed, retry in %s: %s", row.pk, attempts, delay, error)
        return "retry"
    Outbox.objects.filter(pk=row.pk).update(status=OutboxStatus.FAILED, last_error=error)
    why = "permanent SMTP error" if permanent else f"gave up after {attempts} attempts"
    detail = f"{', '.join(row.to)}: {why}: {error}"
    data = {"outbox": row.pk, "attempts": attempts, "permanent": permanent}
    if row.message_id is not None:
        case_services.message_record_email(
            message=row.message, delivery="failed", detail=detail, actor="email", data=data
        )
    elif row.case_id:
        case_services.case_record_system_event(
            case=row.case,
            kind=EventKind.NOTE,
            actor="email",
            reason=f"Email could not be delivered: {detail}"[:1000],
            data={"delivery_failure": data},
        )
    return "failed"


def outbox_mark_bounced(*, message_id: str, detail: str) -> int:
    """A bounce came back for this mail: it is failed whatever the SMTP server said at the time."""
    return (
        Outbox.objects.filter(header_message_id=message_id.strip("<> "))
        .exclude(status=OutboxStatus.FAILED)
        .update(status=OutboxStatus.FAILED, last_error=f"bounced: {detail}"[:1000])
    )


def outbox_retry_now(*, rows: Iterable[Outbox]) -> int:
    """Admin action: put failed or waiting rows back at the front of the queue."""
    ids = [row.pk for row in rows]
    return (
        Outbox.objects.filter(pk__in=ids)
        .exclude(status__in=[OutboxStatus.SENT, OutboxStatus.SENDING])
        .update(status=OutboxStatus.PENDING, next_attempt_at=timezone.now(), last_error="")
    )
