"""Delivering the outbox: claim due rows with a lease, send them through Django's email backend, retry, fail.

Sending happens only here (the outbox poller of every `casework worker`), never in the transaction that
decided to send: a rolled-back reply sends nothing, and a slow SMTP server never holds a database lock or
an agent's request. The guarantee, per channel, is in casework/notify/README.md; in short, for SMTP:

- A row is claimed by compare-and-swap (status, attempt count and due time in the WHERE clause) and then
  belongs to one worker until its lease expires. The worker renews the lease while the SMTP conversation
  lasts (`LeaseKeeper`), so a live worker's row is never taken over, however slow the server.
- A worker killed mid-send stops renewing; once the lease expires, any worker reclaims the row and sends it
  again (at-least-once: a reply is never lost). The row keeps its Message-ID, fixed before the first byte
  is sent, so the receiver and our own intake can recognise a duplicate; the reclaim is logged and counted.
- The moment the server accepted the mail, the hand-over is appended to a per-host journal (handover.py:
  one `write()` to an append-only file, then fsync) and only then is the row marked sent in its own
  statement. A reclaimed row whose hand-over the journal holds becomes `sent` without a second SMTP
  conversation (logged, and written on the message). So the window in which a kill causes a duplicate
  is the `write()` call, not the UPDATE, which on SQLite may wait for the write lock behind an import.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection, make_msgid
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from casework.cases import services as case_services
from casework.cases.models import EventKind
from casework.core.crashpoints import crash_point
from casework.core.leases import LeaseKeeper, process_holder_id

from . import handover
from .models import Channel, Outbox, OutboxStatus

logger = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)
DRAIN_BATCH = 50


class WorkerLost(Exception):
    """The row's worker died mid-send too many times (a mail that kills the process, a crash loop)."""


class NoRecipients(Exception):
    """The email backend had nobody to send the row to."""


def lease_length() -> timedelta:
    return timedelta(seconds=settings.CASEWORK["OUTBOX_LEASE_SECONDS"])


def claimable(now) -> Q:
    """Due for a first try or a retry, or left `sending` by a worker whose lease ran out."""
    return Q(status=OutboxStatus.PENDING, next_attempt_at__lte=now) | Q(
        status=OutboxStatus.SENDING, lease_expires_at__lt=now
    )


def outbox_has_due(now=None) -> bool:
    """The once-a-second question of the poller: two index range reads (outbox_due, outbox_lease)."""
    return Outbox.objects.filter(claimable(now or timezone.now())).exists()


def outbox_poll() -> bool:
    """The worker's outbox poller: drain if anything is due; True when a full batch suggests more."""
    if not outbox_has_due():
        return False
    return sum(outbox_drain().values()) >= DRAIN_BATCH


# --------------------------------------------------------------------------------------------------


def outbox_drain(*, limit: int = DRAIN_BATCH, holder: str | None = None) -> dict[str, int]:
    """Send what is claimable, one claimed row at a time; returns counts by result."""
    holder = holder or process_holder_id()
    candidates = list(
        Outbox.objects.filter(claimable(timezone.now()))
        .order_by("next_attempt_at", "id")
        .values("id", "status", "attempts", "claimed_by")[:limit]
    )
    counts: Counter[str] = Counter()
    if not candidates:
        return {}
    lease = lease_length()
    sending: dict[str, int | None] = {"pk": None}  # the row being sent right now (read by the keeper)

    def renew() -> bool:
        pk = sending["pk"]
        if pk is not None:
            Outbox.objects.filter(pk=pk, status=OutboxStatus.SENDING, claimed_by=holder).update(
                lease_expires_at=timezone.now() + lease
            )
        return True

    connection = None
    # A renewal three times per lease: two can fail (a database hiccup) before the lease could lapse.
    with LeaseKeeper(renew, every=lease.total_seconds() / 3, what=f"outbox rows of {holder}"):
        try:
            for candidate in candidates:
                row = _claim(candidate, holder, lease)
                if row is None:
                    continue
                sending["pk"] = row.pk
                # A reclaim: did the lost worker hand it over before it died?
                if candidate["status"] == OutboxStatus.SENDING:
                    if handed := _handed_over(row):
                        counts[_recovered(row, handed, lost=candidate["claimed_by"])] += 1
                        sending["pk"] = None
                        continue
                    _warn_resend(row, candidate["claimed_by"])
                if row.channel == Channel.SLACK:
                    counts[_deliver_slack(row, holder)] += 1
                else:
                    if connection is None:
                        connection = get_connection(fail_silently=False)
                    counts[_deliver(row, connection, holder)] += 1
                sending["pk"] = None
        finally:
            sending["pk"] = None
            if connection is not None:
                try:
                    connection.close()
                except Exception:
                    logger.debug("closing the SMTP connection failed", exc_info=True)
    return dict(counts)


def _claim(candidate: dict, holder: str, lease: timedelta) -> Outbox | None:
    """Compare-and-swap: the row is ours only if nobody claimed, sent or rescheduled it since we read it
    (every claim bumps `attempts`, so the read count is a version number)."""
    now = timezone.now()
    reclaim = candidate["status"] == OutboxStatus.SENDING
    updates = {
        "status": OutboxStatus.SENDING,
        "claimed_by": holder,
        "claimed_at": now,
        "lease_expires_at": now + lease,
        "attempts": F("attempts") + 1,
    }
    if reclaim:
        updates["reclaims"] = F("reclaims") + 1
    won = (
        Outbox.objects.filter(claimable(now))
        .filter(pk=candidate["id"], status=candidate["status"], attempts=candidate["attempts"])
        .update(**updates)
    )
    if not won:
        return None
    row = Outbox.objects.get(pk=candidate["id"])
    if not row.header_message_id:
        _fix_message_id(row)
    return row


def _warn_resend(row: Outbox, lost: str) -> None:
    logger.warning(
        "outbox %s: reclaimed from %s after its lease expired (worker lost mid-send); the hand-over journal "
        "has no record of it, so sending again as attempt %s — a possible duplicate if that worker had "
        "handed it over (another host's worker, or killed before its journal write), with the same "
        "Message-ID <%s> so receivers can tell",
        row.pk,
        lost or "?",
        row.attempts,
        row.header_message_id,
    )


def _fix_message_id(row: Outbox) -> None:
    """A row queued without a Message-ID gets one, stored before the first send: a retry or a reclaim sends
    the same id (Django would otherwise make a new one per attempt, and duplicates could not be told)."""
    domain = parseaddr(row.from_address)[1].rpartition("@")[2] or None
    msgid = make_msgid(domain=domain).strip("<>")
    headers = {k: v for k, v in row.headers.items() if k.lower() != "message-id"}
    headers["Message-ID"] = f"<{msgid}>"
    Outbox.objects.filter(pk=row.pk, header_message_id__isnull=True).update(
        header_message_id=msgid, headers=headers
    )
    row.refresh_from_db(fields=["header_message_id", "headers"])


def _handed_over(row: Outbox) -> handover.Handover | None:
    """What this host's hand-over journal says about a reclaimed row (None: not handed over, or unknown)."""
    journal = handover.journal()
    if journal is None:
        return None
    try:
        return journal.find(outbox_id=row.pk, message_id=row.header_message_id or "", since=row.created_at)
    except OSError:
        logger.exception("outbox %s: reading the hand-over journal failed; sending again", row.pk)
        return None


def _prepare_journal() -> None:
    """Open today's journal file before the conversation, so the write after the 250 is only a write."""
    journal = handover.journal()
    if journal is not None:
        try:
            journal.prepare(timezone.now())
        except OSError:
            logger.exception("opening the hand-over journal in %s failed", journal.directory)


def _record_handover(row: Outbox, holder: str) -> None:
    """The server has it: say so where no database lock can make us wait, before the `sent` UPDATE."""
    journal = handover.journal()
    if journal is None:
        return
    try:
        journal.record(
            outbox_id=row.pk,
            message_id=row.header_message_id or "",
            holder=holder,
            attempt=row.attempts,
            now=timezone.now(),
        )
    except OSError:
        # Only the protection against a duplicate after a crash is lost, never the mail or its row.
        logger.exception("outbox %s: recording the hand-over in %s failed", row.pk, journal.directory)


def _mark_sent(row: Outbox, *, sent_at=None) -> None:
    Outbox.objects.filter(pk=row.pk).update(
        status=OutboxStatus.SENT, sent_at=sent_at or timezone.now(), last_error="", lease_expires_at=None
    )


def _recovered(row: Outbox, handed: handover.Handover, *, lost: str) -> str:
    """A reclaimed row the server already accepted (the worker died between the answer and its `sent`
    UPDATE): mark it sent as of the hand-over, without a second conversation, and say why."""
    _mark_sent(row, sent_at=handed.at)
    channel = "Slack" if row.channel == Channel.SLACK else "the SMTP server"
    why = (
        f"handed over to {channel} at {handed.at.isoformat()} by {handed.holder or lost or '?'} (attempt "
        f"{handed.attempt}), which was lost before it could mark the row sent; not sent again"
    )
    logger.warning("outbox %s: reclaimed, but the hand-over journal says it was %s", row.pk, why)
    if row.message_id is not None:
        try:
            case_services.message_record_email(
                message=row.message, delivery="sent", detail=f"{', '.join(row.to)}: {why}"
            )
        except Exception:
            logger.exception(
                "outbox %s: recovered, but recording it on message %s failed", row.pk, row.message_id
            )
    return "recovered"


def _deliver(row: Outbox, connection, holder: str = "") -> str:
    if row.reclaims and row.attempts > settings.CASEWORK["OUTBOX_MAX_ATTEMPTS"]:
        return _failed(row, WorkerLost(f"the worker sending it was lost {row.reclaims} time(s)"))
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
        _prepare_journal()
        # Opened here rather than inside send_messages, so one connection serves the whole batch.
        connection.open()
        # Connected, nothing handed over yet: a kill here must mean "not delivered, send after restart".
        crash_point("smtp_mid_send", str(row.pk))
        sent = connection.send_messages([email])
        if not sent:
            raise NoRecipients("the email backend sent nothing (no recipients?)")
    except Exception as exc:
        # The connection may be broken now; the next row opens a fresh one.
        try:
            connection.close()
        except Exception:
            logger.debug("closing a failed SMTP connection failed", exc_info=True)
        return _failed(row, exc)
    # Accepted by the server: say so at once, first in the journal (no lock to wait for: the duplicate
    # window is that write), then in one statement. The crash points bracket the journal write: a kill at
    # `smtp_accepted` is the residual window (a duplicate), at `smtp_handed_over` it is not.
    crash_point("smtp_accepted", str(row.pk))
    _record_handover(row, holder)
    crash_point("smtp_handed_over", str(row.pk))
    _mark_sent(row)
    if row.message_id is not None:
        try:
            case_services.message_record_email(message=row.message, delivery="sent", detail=", ".join(row.to))
        except Exception:
            # The mail is out and the row says so; only the message's delivery badge is stale.
            logger.exception("outbox %s: sent, but recording it on message %s failed", row.pk, row.message_id)
    return "sent"


class SlackRefused(Exception):
    """The webhook answered with an error status (`status` kept to tell permanent from transient)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.http_status = status


def _deliver_slack(row: Outbox, holder: str = "") -> str:
    """POST the row's payload to its incoming webhook. The lease, retries and hand-over journal are the
    same as mail's: right after a 2xx the journal line, then the row is marked sent in one statement."""
    if row.reclaims and row.attempts > settings.CASEWORK["OUTBOX_MAX_ATTEMPTS"]:
        return _failed(row, WorkerLost(f"the worker sending it was lost {row.reclaims} time(s)"))
    body = json.dumps(row.payload or {"text": row.body_text}).encode()
    request = urllib.request.Request(
        row.endpoint,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            # Slack ignores it; a receiver of our own can drop a duplicate delivery by it.
            "X-Casework-Idempotency-Key": row.dedup_key,
        },
    )
    _prepare_journal()
    try:
        crash_point("slack_mid_send", str(row.pk))
        with urllib.request.urlopen(request, timeout=settings.CASEWORK["SLACK_TIMEOUT"]) as response:
            response.read(1000)
    except urllib.error.HTTPError as exc:
        return _failed(row, SlackRefused(exc.code, exc.read(300).decode("utf-8", "replace")))
    except Exception as exc:  # network errors, timeouts: transient
        return _failed(row, exc)
    _record_handover(row, holder)
    _mark_sent(row)
    return "sent"


def is_permanent(exc: BaseException) -> bool:
    """5xx answers will not change on retry; authentication errors do once an operator fixes them.
    Slack: a 4xx (a revoked webhook, a bad payload) is permanent, except 429 (rate limited)."""
    if isinstance(exc, NoRecipients | WorkerLost):
        return True
    if isinstance(exc, SlackRefused):
        return 400 <= exc.http_status < 500 and exc.http_status != 429
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return False
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return False


def retry_delay(attempts: int) -> timedelta:
    base = settings.CASEWORK["OUTBOX_BACKOFF_SECONDS"]
    return min(MAX_BACKOFF, timedelta(seconds=base * 2 ** min(attempts - 1, 20)))


def _failed(row: Outbox, exc: BaseException) -> str:
    error = f"{type(exc).__name__}: {exc}"[:1000]
    attempts = row.attempts
    permanent = is_permanent(exc)
    if not permanent and attempts < settings.CASEWORK["OUTBOX_MAX_ATTEMPTS"]:
        delay = retry_delay(attempts)
        Outbox.objects.filter(pk=row.pk).update(
            status=OutboxStatus.PENDING,
            next_attempt_at=timezone.now() + delay,
            last_error=error,
            lease_expires_at=None,
        )
        logger.warning("outbox %s: attempt %s failed, retry in %s: %s", row.pk, attempts, delay, error)
        return "retry"
    why = "permanent SMTP error" if permanent else f"gave up after {attempts} attempts"
    where = "Slack" if row.channel == Channel.SLACK else ", ".join(row.to)
    detail = f"{where}: {why}: {error}"
    data = {"outbox": row.pk, "attempts": attempts, "permanent": permanent}
    logger.error("outbox %s: %s", row.pk, detail)
    # The row's final state and the note agents see commit together: a kill between them loses neither.
    with transaction.atomic():
        Outbox.objects.filter(pk=row.pk).update(
            status=OutboxStatus.FAILED, last_error=error, lease_expires_at=None
        )
        if row.message_id is not None:
            case_services.message_record_email(
                message=row.message, delivery="failed", detail=detail, actor="email", data=data
            )
        elif row.case_id:
            case_services.case_record_system_event(
                case=row.case,
                kind=EventKind.NOTE,
                actor="email",
                reason=f"{'Slack post' if row.channel == Channel.SLACK else 'Email'} could not be delivered: "
                f"{detail}"[:1000],
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
    """Admin action: put failed or waiting rows back at the front of the queue (never one being sent)."""
    ids = [row.pk for row in rows]
    return (
        Outbox.objects.filter(pk__in=ids)
        .exclude(status__in=[OutboxStatus.SENT, OutboxStatus.SENDING])
        .update(status=OutboxStatus.PENDING, next_attempt_at=timezone.now(), last_error="")
    )
