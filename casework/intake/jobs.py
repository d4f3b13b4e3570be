"""Periodic IMAP poll of every enabled Mailbox, run by `casework worker`'s scheduler."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from casework.core.scheduler import register


def poll_mailboxes_job() -> list[dict]:
    from .mailboxes import poll_all_mailboxes

    return [result.as_json() for result in poll_all_mailboxes()]


register("imap-poll", timedelta(seconds=settings.CASEWORK["IMAP_POLL_SECONDS"]), poll_mailboxes_job)
