"""Doctor checks of outgoing mail (see core/doctor.py).

* public replies with no mail queued for them: the recent ones (a day, `REPAIR_WITHIN`) are queued now,
  with a note on the case; older ones are only reported — a customer should not get a week-old answer
  out of the blue, an agent decides;
* mail that failed for good: reported (the failure is already on the case's timeline; the admin's
  "retry now" sends it again)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef

from casework.cases.doctor import doctor_note, references
from casework.cases.models import Message, MessageKind
from casework.cases.services.unit_of_work import active, unit_of_work
from casework.core.doctor import GRACE, register_check

from .models import Outbox, OutboxStatus
from .services import enqueue_reply_email

REPAIR_WITHIN = timedelta(days=1)


def _unsent_replies(now: datetime, limit: int) -> list[int]:
    queued = Outbox.objects.filter(message=OuterRef("pk"))
    replies = (
        Message.objects.filter(kind=MessageKind.REPLY, created_at__lt=now - GRACE)
        .exclude(case__customer__email="")
        .exclude(Exists(queued))
    )
    return list(replies.order_by("created_at", "id").values_list("pk", flat=True)[:limit])


def _queue(message_ids: list[int], now: datetime) -> list[int]:
    messages = list(Message.objects.filter(pk__in=message_ids).select_related("case", "case__customer"))
    recent = [m for m in messages if m.created_at >= now - REPAIR_WITHIN]
    if recent:
        with unit_of_work("doctor: reply mail"):
            work = active()
            work.lock_many([m.case_id for m in recent])
            for message in recent:
                enqueue_reply_email(message=message)
                doctor_note(
                    work,
                    message.case_id,
                    f"The public reply of {message.created_at:%d %b %H:%M} was never queued for email; "
                    "queued it now",
                    {"check": "replies-without-mail", "message": message.pk},
                )
    queued = {m.pk for m in recent}
    return [pk for pk in message_ids if pk not in queued]


def _message_cases(message_ids: list[int]) -> list[str]:
    rows = Message.objects.filter(pk__in=message_ids).values_list("pk", "case__reference")
    by_id = dict(rows)
    return [f"{by_id[pk]} (message {pk})" for pk in message_ids if pk in by_id]


def _failed_mail(now: datetime, limit: int) -> list[int]:
    rows = Outbox.objects.filter(status=OutboxStatus.FAILED, case__isnull=False)
    return list(rows.order_by("created_at", "id").values_list("case_id", flat=True)[:limit])


register_check(
    "replies-without-mail",
    f"public replies with no email queued (those under {REPAIR_WITHIN.days} day old are queued now)",
    find=_unsent_replies,
    repair=_queue,
    label=_message_cases,
)
register_check(
    "failed-mail",
    "mail that failed for good (on the case's timeline; retry from the outbox admin)",
    find=_failed_mail,
    label=references,
)
