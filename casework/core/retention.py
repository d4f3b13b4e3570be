"""Retention of transient rows: what casework keeps only while it is useful, purged daily by the scheduler
(`purge-transient`) or by hand with `casework purge-transient [--dry-run]` (counts what would go first).

- finished task rows (django-tasks-db): CASEWORK_KEEP_FINISHED_TASKS_DAYS (7)
- sent or failed outbox rows: CASEWORK_KEEP_SENT_OUTBOX_DAYS (30)
- released or discarded quarantine (raw mail), after it was resolved: CASEWORK_KEEP_QUARANTINE_DAYS (90)
- sign-in attempts, failures and logs (django-axes): CASEWORK_KEEP_LOGIN_LOG_DAYS (90)
- expired sessions and expired rate-limit windows: as soon as they expire

Held quarantine is never purged (nobody has decided about it yet); pending and sending outbox rows are never
touched. Cases, messages and their events are not transient: their retention is per category/organisation
policy work (see SECURITY.md, "not yet").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone


def _querysets(now: datetime) -> dict[str, Callable[[], QuerySet]]:
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django.contrib.sessions.models import Session
    from django_tasks_db.models import DBTaskResult

    from casework.intake.models import Quarantine, QuarantineState
    from casework.notify.models import Outbox, OutboxStatus

    from .models import RateCounter

    days = settings.CASEWORK

    def before(key: str) -> datetime:
        return now - timedelta(days=days[key])

    return {
        "finished_tasks": lambda: DBTaskResult.objects.filter(
            status__in=["SUCCESSFUL", "FAILED"], finished_at__lt=before("KEEP_FINISHED_TASKS_DAYS")
        ),
        "outbox": lambda: Outbox.objects.filter(
            status__in=[OutboxStatus.SENT, OutboxStatus.FAILED],
            created_at__lt=before("KEEP_SENT_OUTBOX_DAYS"),
        ),
        "quarantine": lambda: Quarantine.objects.exclude(state=QuarantineState.HELD).filter(
            resolved_at__lt=before("KEEP_QUARANTINE_DAYS")
        ),
        "sessions": lambda: Session.objects.filter(expire_date__lt=now),
        "login_attempts": lambda: AccessAttempt.objects.filter(
            attempt_time__lt=before("KEEP_LOGIN_LOG_DAYS")
        ),
        "login_failures": lambda: AccessFailureLog.objects.filter(
            attempt_time__lt=before("KEEP_LOGIN_LOG_DAYS")
        ),
        "login_log": lambda: AccessLog.objects.filter(attempt_time__lt=before("KEEP_LOGIN_LOG_DAYS")),
        "rate_windows": lambda: RateCounter.objects.filter(expires__lt=now),
    }


def purge_transient(*, now: datetime | None = None, dry_run: bool = False) -> dict[str, int]:
    """Rows per kind that were (or, with dry_run, would be) deleted. Each kind is its own transaction, so
    a failure in one leaves the others done."""
    now = now or timezone.now()
    counts: dict[str, int] = {}
    for kind, queryset in _querysets(now).items():
        qs = queryset()
        if dry_run:
            counts[kind] = qs.count()
            continue
        with transaction.atomic():
            # Rows only (no cascades to count): the deleted count of the model itself.
            counts[kind] = qs.delete()[1].get(qs.model._meta.label, 0)
    return counts
